//! `POST /v1/chat/completions`: admission (budgets, injected faults, then
//! the batch: a slot, a place in the queue, or 429), then the shared mock
//! model's reply, whole or streamed on its schedule.
//!
//! Every delay is a deadline, not a chained sleep, so a slow poll never pushes
//! the later tokens back: the first token is due the time to first token
//! after the request got its batch slot (after its arrival when it got one
//! at once), each later one its gap after the one before, the gap stretched
//! by the batch's size when it is due. The slot is held by the response body:
//! a client that drops the stream frees it.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::time::{sleep_until, Instant};

use super::limits::Limit;
use super::wire::{self, ChatRequest};
use super::MockState;
use crate::mockmodel::{MockSchedule, Slot};

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

    let ticket = match state.batch.try_enqueue() {
        Ok(t) => t,
        Err(full) => {
            stats.bump(&stats.queue_full);
            let retry = state.config.llm.queue_retry_after();
            return wire::rate_limited(
                retry,
                &format!(
                    "mock-llm: the server is saturated ({} running, {} waiting, \
                     --max-num-seqs/--max-waiting). Please retry after {} seconds.",
                    full.running,
                    full.waiting,
                    retry.as_millis().max(1).div_ceil(1000)
                ),
            );
        }
    };
    // The queue wait is part of the time to first token; with a slot free
    // at arrival the schedule runs from the arrival, as it always did.
    let queued = ticket.is_queued();
    let slot = ticket.slot().await;
    let t0 = if queued { Instant::now() } else { start };
    state
        .vllm
        .queue
        .observe(t0.saturating_duration_since(start));

    stats.add(&stats.prompt_tokens, u64::from(prompt_tokens));
    state.vllm.add_prompt(prompt_tokens);
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
            Pace::new(start, t0, slot),
            head,
            reply,
            req.include_usage(),
            fault,
        )
    } else {
        let mut pace = Pace::new(start, t0, slot);
        pace.due = t0 + reply.schedule.ttft;
        sleep_until(pace.due).await;
        pace.token(&state);
        for gap in &reply.schedule.gaps {
            pace.due += pace.stretch(*gap);
            sleep_until(pace.due).await;
            pace.token(&state);
        }
        pace.done(&state);
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
        let mut schedule = state
            .config
            .llm
            .schedule_for(req.turn_key(), req.prompt_tokens());
        let mut finish_reason = "stop";
        if let Some(max) = req.max_tokens().map(|m| m as usize) {
            if schedule.truncate(max) {
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

/// When a frame is due.
#[derive(Clone, Copy)]
enum At {
    /// At the start of the schedule (the role chunk).
    Start,
    /// The time to first token after the start.
    First,
    /// This gap (at batch 1) after the frame before, stretched by the load.
    Gap(Duration),
    /// With the frame before.
    Same,
}

enum Frame {
    Data(Bytes),
    /// A chunk with content: it counts for TTFT and ITL.
    Token(Bytes),
    /// The `[DONE]` frame: sending it completes the request.
    Done(Bytes),
    Cut,
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn stream(
    state: MockState,
    pace: Pace,
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
    let gaps = &reply.schedule.gaps;
    let ttft = reply.schedule.ttft;
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
        At::Start,
        Frame::Data(chunk(json!({ "role": "assistant", "content": "" }), None)),
    ));
    // Token i is due a gap after token i - 1; the first, the TTFT after t0.
    let step = |i: usize| match i.checked_sub(1).and_then(|g| gaps.get(g)) {
        Some(gap) => At::Gap(*gap),
        None => At::First,
    };
    for (i, token) in tokens.iter().enumerate().take(sent) {
        frames.push((
            step(i),
            Frame::Token(chunk(json!({ "content": token }), None)),
        ));
    }
    // A fault comes when the next token would have; the end with the last.
    let end = if fault.is_some() {
        step(sent)
    } else {
        At::Same
    };
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
            let end = At::Same;
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

    let frames = frames.into_iter();
    let body = futures::stream::unfold((frames, pace), move |(mut frames, mut pace)| {
        let state = state.clone();
        async move {
            let (at, frame) = frames.next()?;
            pace.due = match at {
                At::Start => pace.t0,
                At::First => pace.t0 + ttft,
                At::Gap(gap) => pace.due + pace.stretch(gap),
                At::Same => pace.due,
            };
            sleep_until(pace.due).await;
            let item = match frame {
                Frame::Data(b) => Ok(b),
                Frame::Token(b) => {
                    pace.token(&state);
                    Ok(b)
                }
                Frame::Done(b) => {
                    pace.done(&state);
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
            };
            Some((item, (frames, pace)))
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

/// One reply's progress through its schedule: its batch slot, the deadline
/// of the last frame, and what the vLLM metrics observe.
struct Pace {
    /// When the request arrived.
    start: Instant,
    /// When the schedule starts: the arrival, or the end of the queue wait.
    t0: Instant,
    /// The deadline of the frame last sent.
    due: Instant,
    /// Held until the reply is done (or the body dropped).
    slot: Option<Slot>,
    last_token: Option<Instant>,
}

impl Pace {
    fn new(start: Instant, t0: Instant, slot: Slot) -> Self {
        Self {
            start,
            t0,
            due: t0,
            slot: Some(slot),
            last_token: None,
        }
    }

    fn stretch(&self, gap: Duration) -> Duration {
        self.slot.as_ref().map_or(gap, |s| s.stretch(gap))
    }

    /// A token went out now.
    fn token(&mut self, state: &MockState) {
        let now = Instant::now();
        match self.last_token {
            None => state.vllm.ttft.observe(now - self.start),
            Some(last) => state.vllm.itl.observe(now - last),
        }
        state.vllm.add_generated(1);
        self.last_token = Some(now);
    }

    /// The reply is complete: the slot is free from now.
    fn done(&mut self, state: &MockState) {
        state.vllm.e2e.observe(self.start.elapsed());
        self.slot = None;
    }
}
