//! `POST /api/chat/stream`: a chat turn whose reply arrives as server-sent
//! events: `{"type":"token","token"}` per token, then
//! `{"type":"done","session_id","message_id",...,"usage"}`, or
//! `{"type":"error","message"}`.
//!
//! The turn is stored (both messages, one statement) only when the provider's
//! stream completes. The event stream is the response body itself: when the
//! client goes away, hyper drops the body, which drops the provider stream
//! (cancelling the call) before anything is written. A provider failure
//! before the first token is an ordinary JSON error (502/503/504); one
//! mid-stream ends the stream with an error event, never a silent cut; so
//! does a reply growing past `llm::MAX_REPLY_BYTES` (code `too_large`,
//! counted in `chatbot_provider_oversized_total{limit="reply"}`), and so
//! does the shutdown's drain deadline (code `shutting_down`).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;

use super::provider_call::ProviderCall;
use super::turn::{self, usage_json};
use crate::auth::{ClientIp, CurrentUser};
use crate::error::ApiResult;
use crate::extract::Json;
use crate::llm::openai::count_cut;
use crate::llm::{estimate_tokens, Completion, ProviderError, StreamEvent, MAX_REPLY_BYTES};
use crate::rate_limit::Route;
use crate::state::AppState;

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct StreamBody {
    #[schema(schema_with = crate::http::openapi::rules::content)]
    content: String,
    /// The session to continue; absent or null creates one.
    #[serde(default, deserialize_with = "crate::extract::lax_int::opt_i64")]
    #[schema(schema_with = crate::http::openapi::rules::id_or_null)]
    session_id: Option<i64>,
}

fn event(value: serde_json::Value) -> Result<Event, Infallible> {
    Ok(Event::default().data(value.to_string()))
}

fn error_event(message: &str, code: &str) -> Result<Event, Infallible> {
    event(json!({"type": "error", "message": message, "code": code}))
}

/// A chat turn streamed as server-sent events.
#[utoipa::path(post, path = "/api/chat/stream", tag = "chat",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = StreamBody,
    responses(
        (status = 200, description = "`text/event-stream` of `data: {json}` frames: `{\"type\":\"token\",\"token\"}` per token, then `{\"type\":\"done\",\"session_id\",\"message_id\",\"user_message_id\",\"sources\",\"usage\"}`, or `{\"type\":\"error\",\"message\",\"code\"}` when the provider fails mid-reply (nothing stored)",
            body = String, content_type = "text/event-stream"),
        (status = 403, description = "`session_forbidden` (another user's session), or `csrf_missing` / `csrf_invalid`: a cookie-authenticated write without the matching X-CSRF-Token", body = crate::http::openapi::Error),
        (status = 404, description = "`session_not_found`", body = crate::http::openapi::Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`provider_error`: the language model failed, or `provider_reply_too_large`: its answer passed a size cap; nothing was stored", body = crate::http::openapi::Error),
        (status = 503, description = "`provider_unavailable` (circuit breaker open, upstream down), `provider_rate_limited`, or `database_unavailable`; nothing was stored", body = crate::http::openapi::Error, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "`provider_timeout`: the language model did not answer in time (or `request_timeout`); nothing was stored", body = crate::http::openapi::Error),
    ))]
pub async fn stream_chat(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Json(body): Json<StreamBody>,
) -> ApiResult<Response> {
    state.limits.check(Route::Chat, ip, &state.metrics)?;
    let prepared = turn::prepare(&state, &user, body.session_id, body.content).await?;
    let call = ProviderCall::start(&state);
    let timeout = state.config.provider_timeout;
    let mut tokens = match call
        .bounded(state.llm.stream(prepared.request.clone()))
        .await
    {
        Ok(t) => t,
        Err(e) => return Err(call.failed(e)),
    };

    let events = async_stream::stream! {
        let m = &state.metrics;
        let mut content = String::new();
        let mut streamed = 0u32;
        let mut usage: Option<(u32, u32)> = None;
        let mut first_token = true;
        loop {
            // The provider timeout bounds each wait: a stalled stream ends.
            // So does the shutdown's drain deadline (`crate::shutdown`):
            // dropping the provider stream cancels the call, nothing is
            // stored, and the client is told to retry.
            let next = tokio::select! {
                biased;
                () = state.drain.expired() => None,
                next = tokio::time::timeout(timeout, tokens.next()) => {
                    Some(next.unwrap_or(Some(Err(ProviderError::Timeout))))
                }
            };
            let Some(next) = next else {
                tracing::warn!("drain deadline passed mid-stream; nothing stored");
                yield error_event(
                    "The server is shutting down; nothing was stored, retry the message",
                    "shutting_down",
                );
                return;
            };
            match next {
                None => break,
                Some(Ok(StreamEvent::Token(t))) => {
                    if t.is_empty() {
                        continue;
                    }
                    if first_token {
                        m.first_token_latency.observe(call.elapsed().as_secs_f64());
                        first_token = false;
                    }
                    if content.len() + t.len() > MAX_REPLY_BYTES {
                        // Refused, not assembled without bound (nor stored).
                        count_cut(m, call.provider(), "reply", (content.len() + t.len()) as u64);
                        let e = ProviderError::TooLarge { limit: "reply" };
                        call.failed_mid_stream(&e);
                        yield error_event(
                            "The language model's reply was larger than this API accepts; nothing was stored",
                            e.kind(),
                        );
                        return;
                    }
                    content.push_str(&t);
                    streamed += 1;
                    yield event(json!({"type": "token", "token": t}));
                    let pause = state.config.stream_artificial_delay;
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                Some(Ok(StreamEvent::Usage { prompt_tokens, completion_tokens })) => {
                    usage = Some((prompt_tokens, completion_tokens));
                }
                Some(Err(e)) => {
                    call.failed_mid_stream(&e);
                    tracing::warn!(error = %e, "provider failed mid-stream; nothing stored");
                    yield error_event(
                        "The language model failed mid-reply; nothing was stored, retry the message",
                        e.kind(),
                    );
                    return;
                }
            }
        }
        call.succeeded();
        let (prompt_tokens, completion_tokens) = usage.unwrap_or_else(|| {
            let prompt = prepared.request.messages.iter().map(|p| estimate_tokens(&p.content)).sum();
            (prompt, streamed)
        });
        let completion = Completion {
            content,
            model: call.provider().to_owned(),
            prompt_tokens,
            completion_tokens,
        };
        let sources = prepared.sources.clone();
        match turn::store(&state, &user, prepared, &completion, call.elapsed()).await {
            Ok(t) => yield event(json!({
                "type": "done",
                "session_id": t.session_id,
                "message_id": t.assistant_message.id,
                "user_message_id": t.user_message.id,
                "sources": sources,
                "usage": usage_json(&completion),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "storing a streamed turn failed");
                yield error_event("The reply could not be stored; retry the message", "store_failed");
            }
        }
    };
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Ask reverse proxies (nginx) not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
