//! `POST /v1/chat/completions`: admission (budgets, then injected faults),
//! then the shared mock model's reply, whole or streamed on its schedule.
//!
//! Every delay is measured from the moment the request arrived (deadlines, not
//! chained sleeps), so a slow poll never pushes the later tokens back.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt as _;
use serde_json::{json, Value};
use tokio::time::{sleep_until, Instant};

use super::limits::Limit;
use super::wire::{self, ChatRequest};
use super::MockState;
use crate::mockmodel::MockSchedule;

/// OpenAI's route: the model is the request's.
pub(super) async fn openai(State(state): State<MockState>, body: Bytes) -> Response {
    complete(state, None, body).await
}

/// Azure's route: the deployment names the model.
pub(super) async fn azure(
    State(state): State<MockState>,
    Path(deployment): Path<String>,
    body: Bytes,
) -> Response {
    complete(state, Some(deployment), body).await
}

async fn complete(state: MockState, deployment: Option<String>, body: Bytes) -> Response {
    let start = Instant::now();
    let stats = &state.stats;
    stats.bump(&stats.chat_completions);
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            stats.bump(&stats.bad_requests);
            return wire::bad_request(&format!("Invalid request body: {e}"));
        }
    };
    if let Err(message) = req.validate() {
        stats.bump(&stats.bad_requests);
        return wire::bad_request(&message);
    }
    let model = deployment
        .or_else(|| req.model.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| state.config.model.clone());
    let reply = Reply::plan(&state, &req);
    let prompt_tokens = req.prompt_tokens();

    // Azure charges the budget up front with what the reply may cost.
    let cost = u64::from(prompt_tokens) + u64::from(req.max_tokens().unwrap_or(reply.len()));
    if let Err(r) = state.budgets.try_admit(start.into_std(), cost) {
        let (counter, what) = match r.limit {
            Limit::Requests => (&stats.rate_limited_rpm, "request"),
            Limit::Tokens => (&stats.rate_limited_tpm, "token"),
        };
        stats.bump(counter);
        let secs = r.retry_after.as_millis().max(1).div_ceil(1000);
        return wire::rate_limited(
            r.retry_after,
            &format!(
                "mock-llm: exceeded the {what} rate limit of your deployment. \
                 Please retry after {secs} seconds."
            ),
        );
    }

    let faults = state.draw_faults();
    if faults.rate_429 {
        stats.bump(&stats.injected_429);
        return wire::rate_limited(
            Duration::from_secs(1),
            "mock-llm: injected rate limit (--rate-429). Please retry after 1 second.",
        );
    }
    if faults.error_500 {
        stats.bump(&stats.errors_500);
        // A failing call still costs time, as a real one does.
        sleep_until(start + reply.schedule.ttft).await;
        return wire::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that! \
             (mock-llm: injected, --error-rate)",
        );
    }
    if faults.hang {
        stats.bump(&stats.hangs);
        state.hang().await;
        return wire::error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            Some("timeout"),
            "mock-llm: injected hang ended (--hang-rate).",
        );
    }

    stats.add(&stats.prompt_tokens, u64::from(prompt_tokens));
    let head = Head {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: wire::unix_now(),
        model,
        prompt_tokens,
    };
    if req.streaming() {
        stats.bump(&stats.streams);
        let fault = if faults.midstream_error {
            stats.bump(&stats.midstream_errors);
            Some(StreamFault::ErrorEvent)
        } else if faults.cut {
            stats.bump(&stats.cuts);
            Some(StreamFault::Cut)
        } else {
            None
        };
        stream(
            state.clone(),
            start,
            head,
            reply,
            req.include_usage(),
            fault,
        )
    } else {
        sleep_until(start + reply.schedule.total()).await;
        stats.add(&stats.completion_tokens, u64::from(reply.len()));
        stats.bump(&stats.completed);
        Json(json!({
            "id": head.id,
            "object": "chat.completion",
            "created": head.created,
            "model": head.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.schedule.text(),
                    "refusal": null,
                },
                "logprobs": null,
                "finish_reason": reply.finish_reason,
            }],
            "usage": usage(prompt_tokens, reply.len()),
        }))
        .into_response()
    }
}

const SYSTEM_FINGERPRINT: &str = "fp_mock_llm";

/// The reply to one request: the model's schedule, cut to `max_tokens`.
struct Reply {
    schedule: MockSchedule,
    finish_reason: &'static str,
}

impl Reply {
    fn plan(state: &MockState, req: &ChatRequest) -> Self {
        let mut schedule = state.config.llm.schedule(req.turn_key());
        let mut finish_reason = "stop";
        if let Some(max) = req.max_tokens().map(|m| m as usize) {
            if max < schedule.tokens.len() {
                schedule.tokens.truncate(max);
                schedule.gaps.truncate(max.saturating_sub(1));
                finish_reason = "length";
            }
        }
        Self {
            schedule,
            finish_reason,
        }
    }

    fn len(&self) -> u32 {
        u32::try_from(self.schedule.tokens.len()).unwrap_or(u32::MAX)
    }
}

/// What every chunk of one completion repeats.
struct Head {
    id: String,
    created: u64,
    model: String,
    prompt_tokens: u32,
}

fn usage(prompt: u32, completion: u32) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt.saturating_add(completion),
    })
}

#[derive(Clone, Copy)]
enum StreamFault {
    /// An `{"error":..}` event after half the tokens, then the end of the body.
    ErrorEvent,
    /// The connection dropped after half the tokens (no `[DONE]`, no final
    /// chunk of the chunked encoding), as a network cut looks to a client.
    Cut,
}

enum Frame {
    Data(Bytes),
    /// The `[DONE]` frame: sending it completes the request.
    Done(Bytes),
    Cut,
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn stream(
    state: MockState,
    start: Instant,
    head: Head,
    reply: Reply,
    include_usage: bool,
    fault: Option<StreamFault>,
) -> Response {
    let chunk = |delta: Value, finish_reason: Option<&str>| {
        let mut c = json!({
            "id": head.id,
            "object": "chat.completion.chunk",
            "created": head.created,
            "model": head.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        // With include_usage OpenAI sends `"usage": null` on every chunk but the last.
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse(&c)
    };
    let tokens = &reply.schedule.tokens;
    // When each token is due, from the request's arrival.
    let due: Vec<Duration> = std::iter::once(reply.schedule.ttft)
        .chain(reply.schedule.gaps.iter().copied())
        .scan(Duration::ZERO, |at, d| {
            *at += d;
            Some(*at)
        })
        .collect();
    let sent = if fault.is_some() {
        tokens.len() / 2
    } else {
        tokens.len()
    };
    state.stats.add(&state.stats.completion_tokens, sent as u64);

    let mut frames = Vec::with_capacity(sent + 4);
    // The role chunk goes out at once, as OpenAI's does; TTFT counts from
    // the first chunk with content.
    frames.push((
        Duration::ZERO,
        Frame::Data(chunk(json!({ "role": "assistant", "content": "" }), None)),
    ));
    for (token, at) in tokens.iter().zip(&due).take(sent) {
        frames.push((*at, Frame::Data(chunk(json!({ "content": token }), None))));
    }
    let end = due.get(sent).or(due.last()).copied().unwrap_or_default();
    match fault {
        Some(StreamFault::ErrorEvent) => frames.push((
            end,
            Frame::Data(sse(&json!({
                "error": {
                    "message": "The server had an error while processing your request. \
                                (mock-llm: injected, --midstream-error-rate)",
                    "type": "server_error",
                    "param": null,
                    "code": "internal_error",
                }
            }))),
        )),
        Some(StreamFault::Cut) => frames.push((end, Frame::Cut)),
        None => {
            frames.push((
                end,
                Frame::Data(chunk(json!({}), Some(reply.finish_reason))),
            ));
            if include_usage {
                let c = json!({
                    "id": head.id,
                    "object": "chat.completion.chunk",
                    "created": head.created,
                    "model": head.model,
                    "system_fingerprint": SYSTEM_FINGERPRINT,
                    "choices": [],
                    "usage": usage(head.prompt_tokens, reply.len()),
                });
                frames.push((end, Frame::Data(sse(&c))));
            }
            frames.push((end, Frame::Done(Bytes::from_static(b"data: [DONE]\n\n"))));
        }
    }

    let body = futures::stream::iter(frames).then(move |(at, frame)| {
        let state = state.clone();
        async move {
            sleep_until(start + at).await;
            match frame {
                Frame::Data(b) => Ok(b),
                Frame::Done(b) => {
                    state.stats.bump(&state.stats.completed);
                    Ok(b)
                }
                // An error from the body makes hyper drop the connection
                // without ending the chunked encoding. It would drop its
                // unflushed buffer too: yielding once lets it flush the tokens
                // already "sent" before the cut.
                Frame::Cut => {
                    tokio::task::yield_now().await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "mock-llm: injected stream cut (--cut-rate)",
                    ))
                }
            }
        }
    });
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
