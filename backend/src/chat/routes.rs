//! `/api/chat/*`: sessions, turns, feedback and sources.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::turn::{self, owned_session, TurnOutcome};
use crate::auth::{ClientIp, CurrentUser};
use crate::db::{messages, sessions};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::rate_limit::Route;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;
const MAX_TITLE_CHARS: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/chat/sessions",
            post(create_session).get(list_sessions),
        )
        .route(
            "/api/chat/sessions/{session_id}",
            get(get_session).delete(delete_session),
        )
        .route(
            "/api/chat/sessions/{session_id}/messages",
            post(session_turn),
        )
        .route("/api/chat/chat", post(chat))
        .route("/api/chat/stream", post(super::stream::stream_chat))
        .route("/api/chat/feedback", post(feedback))
        .route("/api/chat/messages/{message_id}/sources", get(sources))
}

#[derive(Deserialize)]
struct NewSession {
    #[serde(default)]
    title: Option<String>,
}

async fn create_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<NewSession>,
) -> ApiResult<Json<sessions::Session>> {
    let title = body
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "New chat".into());
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::field(
            "title",
            format!("Title must be at most {MAX_TITLE_CHARS} characters"),
            "string_too_long",
        ));
    }
    Ok(Json(sessions::create(&state.pool, user.id, &title).await?))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<i64>,
    /// Keyset cursor: the `id` of the last session of the previous page.
    #[serde(default)]
    cursor: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

/// A bare array, as the original returns; the next page's cursor is in
/// `X-Next-Cursor` when there may be more.
async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<(HeaderMap, Json<Vec<sessions::Session>>)> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::Validation(vec![crate::error::FieldError {
            loc: vec![json!("query"), json!("limit")],
            msg: format!("limit must be between 1 and {MAX_PAGE}"),
            kind: "value_error".into(),
        }]));
    }
    let offset = page.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::Validation(vec![crate::error::FieldError {
            loc: vec![json!("query"), json!("offset")],
            msg: "offset must not be negative".into(),
            kind: "value_error".into(),
        }]));
    }
    let rows = sessions::list(&state.pool, user.id, limit, page.cursor, offset).await?;
    let mut headers = HeaderMap::new();
    if i64::try_from(rows.len()).unwrap_or(0) == limit {
        if let Some(last) = rows.last() {
            headers.insert("x-next-cursor", HeaderValue::from(last.id));
        }
    }
    Ok((headers, Json(rows)))
}

async fn get_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.pool.acquire().await?;
    let session = owned_session(&mut conn, &user, id).await?;
    let messages = messages::history(&mut conn, id, 0).await?;
    let mut body = serde_json::to_value(&session).map_err(anyhow::Error::from)?;
    body["messages"] = serde_json::to_value(messages).map_err(anyhow::Error::from)?;
    Ok(Json(body))
}

async fn delete_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    {
        let mut conn = state.pool.acquire().await?;
        owned_session(&mut conn, &user, id).await?;
    }
    if !sessions::delete(&state.pool, id).await? {
        return Err(ApiError::not_found(
            "session_not_found",
            "Chat session not found",
        ));
    }
    Ok(Json(
        json!({"message": "Chat session deleted", "id": id, "status": "success"}),
    ))
}

#[derive(Deserialize)]
struct TurnBody {
    content: String,
    #[serde(default)]
    session_id: Option<i64>,
}

fn turn_json(t: TurnOutcome) -> Json<Value> {
    Json(json!({
        "session_id": t.session_id,
        "user_message": t.user_message,
        "assistant_message": t.assistant_message,
    }))
}

async fn chat(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Json(body): Json<TurnBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Route::Chat, ip, &state.metrics)?;
    Ok(turn_json(
        turn::run(&state, &user, body.session_id, body.content).await?,
    ))
}

#[derive(Deserialize)]
struct SessionTurnBody {
    content: String,
}

async fn session_turn(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<SessionTurnBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Route::Chat, ip, &state.metrics)?;
    Ok(turn_json(
        turn::run(&state, &user, Some(id), body.content).await?,
    ))
}

#[derive(Deserialize)]
struct FeedbackBody {
    message_id: i64,
    /// -1 (thumbs down) or 1 (thumbs up), or a 1–5 score.
    rating: i16,
    #[serde(default)]
    comment: Option<String>,
}

async fn feedback(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<FeedbackBody>,
) -> ApiResult<Json<Value>> {
    if !(-1..=5).contains(&body.rating) || body.rating == 0 {
        return Err(ApiError::field(
            "rating",
            "rating must be -1, 1, or a score from 1 to 5",
            "value_error",
        ));
    }
    if body
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return Err(ApiError::field(
            "comment",
            "comment must be at most 2000 characters",
            "string_too_long",
        ));
    }
    let (message, owner) = message_for(&state, &user, body.message_id).await?;
    debug_assert_eq!(owner, user.id);
    let id = messages::upsert_feedback(
        &state.pool,
        message.id,
        user.id,
        body.rating,
        body.comment.as_deref(),
    )
    .await?;
    Ok(Json(json!({
        "id": id,
        "message_id": message.id,
        "rating": body.rating,
        "status": "success",
    })))
}

/// A message the caller owns: 404 when missing, 403 when someone else's.
async fn message_for(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> ApiResult<(messages::Message, i64)> {
    let (message, owner) = messages::get_with_owner(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("message_not_found", "Message not found"))?;
    if owner != user.id {
        return Err(ApiError::forbidden(
            "message_forbidden",
            "Not allowed to access this message",
        ));
    }
    Ok((message, owner))
}

async fn sources(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let (message, _) = message_for(&state, &user, id).await?;
    let sources = message
        .metadata
        .get("sources")
        .cloned()
        .unwrap_or_else(|| json!([]));
    Ok(Json(json!({"message_id": message.id, "sources": sources})))
}
