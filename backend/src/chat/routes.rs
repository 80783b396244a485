//! `/api/chat/*`: sessions, turns, feedback and sources.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::turn::{self, owned_session, TurnOutcome};
use crate::auth::{ClientIp, CurrentUser};
use crate::db::{messages, sessions};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IntParam, Json, Path, Query};
use crate::http::openapi::rules;
use crate::rate_limit::Route;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;
const MAX_TITLE_CHARS: usize = rules::MAX_TITLE_CHARS;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(get_session, delete_session))
        .routes(routes!(session_turn))
        .routes(routes!(chat))
        .routes(routes!(super::stream::stream_chat))
        .routes(routes!(feedback))
        .routes(routes!(sources))
}

#[derive(Deserialize, ToSchema)]
pub struct NewSession {
    #[serde(default)]
    #[schema(schema_with = rules::title)]
    title: Option<String>,
}

/// A session with its messages, oldest first.
#[derive(Serialize, ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    session: sessions::Session,
    messages: Vec<messages::Message>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    message: &'static str,
    id: i64,
    status: &'static str,
}

/// A stored turn: the user's message and the assistant's reply.
#[derive(Serialize, ToSchema)]
pub struct TurnResponse {
    session_id: i64,
    user_message: messages::Message,
    assistant_message: messages::Message,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackSaved {
    id: i64,
    message_id: i64,
    rating: i16,
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Sources {
    message_id: i64,
    /// The sources the reply cited (`source`, `title`, `snippet`, `score`,
    /// `document_id`).
    #[schema(value_type = Vec<Object>)]
    sources: Value,
}

/// Creates a session.
#[utoipa::path(post, path = "/api/chat/sessions", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = NewSession,
    responses(
        (status = 200, description = "The new session", body = sessions::Session),
        (status = 403, description = "`csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Page size, 1 to 100 (default 20).
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<IntParam>,
    /// Keyset cursor: the `id` of the last session of the previous page.
    #[serde(default)]
    #[param(value_type = Option<i64>)]
    cursor: Option<IntParam>,
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<IntParam>,
}

/// A bare array, as the original returns; the next page's cursor is in
/// `X-Next-Cursor` when there may be more.
#[utoipa::path(get, path = "/api/chat/sessions", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(Page),
    responses(
        (status = 200, description = "The caller's sessions, newest first", body = Vec<sessions::Session>,
            headers(("X-Next-Cursor" = i64, description = "The cursor of the next page, when there may be one"))),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<(HeaderMap, Json<Vec<sessions::Session>>)> {
    let limit = page.limit.map_or(DEFAULT_PAGE, |l| l.0);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::Validation(vec![crate::error::FieldError {
            loc: vec![json!("query"), json!("limit")],
            msg: format!("limit must be between 1 and {MAX_PAGE}"),
            kind: "value_error".into(),
        }]));
    }
    let offset = page.offset.map_or(0, |o| o.0);
    if offset < 0 {
        return Err(ApiError::Validation(vec![crate::error::FieldError {
            loc: vec![json!("query"), json!("offset")],
            msg: "offset must not be negative".into(),
            kind: "value_error".into(),
        }]));
    }
    let rows = sessions::list(
        &state.pool,
        user.id,
        limit,
        page.cursor.map(|c| c.0),
        offset,
    )
    .await?;
    let mut headers = HeaderMap::new();
    if i64::try_from(rows.len()).unwrap_or(0) == limit {
        if let Some(last) = rows.last() {
            headers.insert("x-next-cursor", HeaderValue::from(last.id));
        }
    }
    Ok((headers, Json(rows)))
}

/// A session with its messages.
#[utoipa::path(get, path = "/api/chat/sessions/{session_id}", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("session_id" = i64, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session and its messages", body = SessionDetail),
        (status = 403, description = "`session_forbidden`: another user's session", body = crate::http::openapi::Error),
        (status = 404, description = "`session_not_found`", body = crate::http::openapi::Error),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn get_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(IntParam(id)): Path<IntParam>,
) -> ApiResult<Json<SessionDetail>> {
    let mut conn = state.pool.acquire().await?;
    let session = owned_session(&mut conn, &user, id).await?;
    let messages = messages::history(&mut conn, id, 0).await?;
    Ok(Json(SessionDetail { session, messages }))
}

/// Deletes a session and its messages.
#[utoipa::path(delete, path = "/api/chat/sessions/{session_id}", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    params(("session_id" = i64, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 403, description = "`session_forbidden` (another user's session), or `csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 404, description = "`session_not_found`", body = crate::http::openapi::Error),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn delete_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(IntParam(id)): Path<IntParam>,
) -> ApiResult<Json<Deleted>> {
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
    Ok(Json(Deleted {
        message: "Chat session deleted",
        id,
        status: "success",
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct TurnBody {
    #[schema(schema_with = rules::content)]
    content: String,
    /// The session to continue; absent or null creates one.
    #[serde(default, deserialize_with = "crate::extract::lax_int::opt_i64")]
    #[schema(schema_with = rules::id_or_null)]
    session_id: Option<i64>,
}

fn turn_json(t: TurnOutcome) -> Json<TurnResponse> {
    Json(TurnResponse {
        session_id: t.session_id,
        user_message: t.user_message,
        assistant_message: t.assistant_message,
    })
}

/// A chat turn; no `session_id` creates a session.
#[utoipa::path(post, path = "/api/chat/chat", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = TurnBody,
    responses(
        (status = 200, description = "The stored turn", body = TurnResponse),
        (status = 403, description = "`session_forbidden` (another user's session), or `csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 404, description = "`session_not_found`", body = crate::http::openapi::Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`provider_error`: the language model failed, or `provider_reply_too_large`: its answer passed a size cap; nothing was stored", body = crate::http::openapi::Error),
        (status = 503, description = "`provider_unavailable` (circuit breaker open, upstream down), `provider_rate_limited`, or `database_unavailable`; nothing was stored", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "`provider_timeout`: the language model did not answer in time (or `request_timeout`); nothing was stored", body = crate::http::openapi::Error),
    ))]
async fn chat(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Json(body): Json<TurnBody>,
) -> ApiResult<Json<TurnResponse>> {
    state.limits.check(Route::Chat, ip, &state.metrics)?;
    Ok(turn_json(
        turn::run(&state, &user, body.session_id, body.content).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SessionTurnBody {
    #[schema(schema_with = rules::content)]
    content: String,
}

/// A chat turn in a session.
#[utoipa::path(post, path = "/api/chat/sessions/{session_id}/messages", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    params(("session_id" = i64, Path, description = "The session's id")),
    request_body = SessionTurnBody,
    responses(
        (status = 200, description = "The stored turn", body = TurnResponse),
        (status = 403, description = "`session_forbidden` (another user's session), or `csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 404, description = "`session_not_found`", body = crate::http::openapi::Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`provider_error`: the language model failed, or `provider_reply_too_large`: its answer passed a size cap; nothing was stored", body = crate::http::openapi::Error),
        (status = 503, description = "`provider_unavailable` (circuit breaker open, upstream down), `provider_rate_limited`, or `database_unavailable`; nothing was stored", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "`provider_timeout`: the language model did not answer in time (or `request_timeout`); nothing was stored", body = crate::http::openapi::Error),
    ))]
async fn session_turn(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(IntParam(id)): Path<IntParam>,
    Json(body): Json<SessionTurnBody>,
) -> ApiResult<Json<TurnResponse>> {
    state.limits.check(Route::Chat, ip, &state.metrics)?;
    Ok(turn_json(
        turn::run(&state, &user, Some(id), body.content).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct FeedbackBody {
    #[serde(deserialize_with = "crate::extract::lax_int::i64")]
    #[schema(schema_with = rules::id)]
    message_id: i64,
    /// -1 (thumbs down) or 1 (thumbs up), or a 1–5 score.
    #[serde(deserialize_with = "crate::extract::lax_int::i16")]
    #[schema(schema_with = rules::rating)]
    rating: i16,
    #[serde(default)]
    #[schema(schema_with = rules::comment)]
    comment: Option<String>,
}

/// Rates a message (one rating per user and message; a new one replaces it).
#[utoipa::path(post, path = "/api/chat/feedback", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "Saved", body = FeedbackSaved),
        (status = 403, description = "`message_forbidden` (another user's message), or `csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 404, description = "`message_not_found`", body = crate::http::openapi::Error),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn feedback(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<FeedbackBody>,
) -> ApiResult<Json<FeedbackSaved>> {
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
    Ok(Json(FeedbackSaved {
        id,
        message_id: message.id,
        rating: body.rating,
        status: "success",
    }))
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

/// The sources a message cited.
#[utoipa::path(get, path = "/api/chat/messages/{message_id}/sources", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    params(("message_id" = i64, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The sources", body = Sources),
        (status = 403, description = "`message_forbidden`: another user's message", body = crate::http::openapi::Error),
        (status = 404, description = "`message_not_found`", body = crate::http::openapi::Error),
        (status = 503, description = "`database_unavailable`", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn sources(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(IntParam(id)): Path<IntParam>,
) -> ApiResult<Json<Sources>> {
    let (message, _) = message_for(&state, &user, id).await?;
    let sources = message
        .metadata
        .get("sources")
        .cloned()
        .unwrap_or_else(|| json!([]));
    Ok(Json(Sources {
        message_id: message.id,
        sources,
    }))
}
