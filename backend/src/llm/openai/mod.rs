//! Live providers: any OpenAI-compatible `/chat/completions` endpoint
//! (`LLM_PROVIDER=openai`: OpenAI, vLLM, Ollama, chatbench's `mock-llm`) and
//! Azure OpenAI (`LLM_PROVIDER=azure`: deployment URLs, `api-key` header,
//! `api-version`).
//!
//! Every attempt has its own timeout (`PROVIDER_TIMEOUT_SECONDS`), and the
//! whole call (attempts, backoff, waits) its deadline
//! (`PROVIDER_DEADLINE_SECONDS`, shorter than the request timeout): an
//! attempt is cut at the deadline and a wait that would end past it is not
//! started, so the client gets the provider's error, not `request_timeout`.
//! Connection errors, timeouts, 408, 429 and 5xx are retried up to
//! `PROVIDER_MAX_RETRIES` times with full-jitter exponential backoff, never
//! sooner than the provider's `retry-after-ms` / `Retry-After`; a provider
//! asking for a longer wait than `PROVIDER_RETRY_AFTER_CAP_SECONDS` is not
//! waited for: the client gets a 503 with that Retry-After at once. A
//! circuit breaker answers 503 fast while the provider keeps failing, and a
//! semaphore caps concurrent calls (`PROVIDER_MAX_CONCURRENCY`). Every retry
//! is logged with its reason and wait, and counted in the metrics.
//!
//! Nothing a provider sends is held without bound: a completion body is read
//! up to [`MAX_COMPLETION_BODY`], an error body up to [`MAX_ERROR_BODY`] (the
//! rest left unread), a stream through [`super::sse`]'s capped decoder, and
//! a reply up to [`super::MAX_REPLY_BYTES`]. An answer past a cap is refused
//! (`ProviderError::TooLarge`: 502 `provider_reply_too_large`, or an error
//! event mid-stream; never retried, never stored) and counted in
//! `chatbot_provider_oversized_total{limit}` and `chatbot_provider_bytes_cut_total`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::breaker::{Admitted, CircuitBreaker};
use super::retry::{retry_after, RetryPolicy};
use super::sse::SseDecoder;
use super::{
    estimate_tokens, Completion, CompletionRequest, LlmProvider, ProviderError, StreamEvent,
    TokenStream, MAX_REPLY_BYTES,
};
use crate::config::{LlmProviderKind, ProviderSettings};
use crate::metrics::Metrics;

/// The most of a non-streamed completion body read: a reply at
/// [`MAX_REPLY_BYTES`] fits even with every character `\u`-escaped.
pub const MAX_COMPLETION_BODY: usize = 16 * 1024 * 1024;
/// The most of an error body read: only its first 200 characters are
/// logged, the rest is left unread.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// A body read up to a cap.
struct Capped {
    /// The first `cap` bytes at most.
    kept: Vec<u8>,
    /// Bytes read past the cap (reading stopped there); `None`: the body
    /// ended within the cap.
    over: Option<u64>,
}

/// Reads `r`'s body up to `cap` bytes; stops at the first chunk past it.
async fn read_capped(r: &mut reqwest::Response, cap: usize) -> Result<Capped, reqwest::Error> {
    let mut kept = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        let take = cap.saturating_sub(kept.len()).min(chunk.len());
        kept.extend_from_slice(chunk.get(..take).unwrap_or_default());
        if take < chunk.len() {
            return Ok(Capped {
                kept,
                over: Some((chunk.len() - take) as u64),
            });
        }
    }
    Ok(Capped { kept, over: None })
}

/// One frame of an OpenAI stream, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `[DONE]`: the stream completed.
    Done,
    /// Zero or more events (content, usage).
    Events(Vec<StreamEvent>),
    /// The stream failed: an unreadable frame or an error object.
    Failed(ProviderError),
}

/// Reads one SSE event's data as an OpenAI chat completion chunk.
pub fn read_frame(data: &str) -> Frame {
    let data = data.trim();
    if data == "[DONE]" {
        return Frame::Done;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return Frame::Failed(ProviderError::Upstream("unreadable stream frame".into()));
    };
    if let Some(err) = v.get("error") {
        return Frame::Failed(ProviderError::Upstream(format!("error mid-stream: {err}")));
    }
    let mut events = Vec::new();
    if let Some(t) = v
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        if !t.is_empty() {
            events.push(StreamEvent::Token(t.to_owned()));
        }
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        let count = |name: &str| {
            u.get(name)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        if let (Some(prompt_tokens), Some(completion_tokens)) =
            (count("prompt_tokens"), count("completion_tokens"))
        {
            events.push(StreamEvent::Usage {
                prompt_tokens,
                completion_tokens,
            });
        }
    }
    Frame::Events(events)
}

/// Where requests go and how they authenticate.
#[derive(Debug, Clone)]
enum Endpoint {
    OpenAi {
        url: String,
        api_key: Option<String>,
        model: String,
    },
    Azure {
        url: String,
        api_key: String,
    },
}

pub struct OpenAiProvider {
    name: &'static str,
    client: Client,
    endpoint: Endpoint,
    per_attempt: Duration,
    /// The whole call's budget, retries and waits included.
    budget: Duration,
    retry: RetryPolicy,
    breaker: Arc<CircuitBreaker>,
    permits: Semaphore,
    metrics: Metrics,
}

/// Why an attempt failed, and whether another is worth it.
struct AttemptError {
    error: ProviderError,
    retryable: bool,
    reason: &'static str,
    retry_after: Option<Duration>,
}

impl AttemptError {
    fn fatal(error: ProviderError) -> Self {
        Self {
            error,
            retryable: false,
            reason: "fatal",
            retry_after: None,
        }
    }
}

fn classify_status(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> AttemptError {
    let ra = retry_after(headers);
    let snippet: String = body.chars().take(200).collect();
    match status.as_u16() {
        429 => AttemptError {
            error: ProviderError::RateLimited { retry_after: ra },
            retryable: true,
            reason: "429",
            retry_after: ra,
        },
        408 => AttemptError {
            error: ProviderError::Timeout,
            retryable: true,
            reason: "408",
            retry_after: ra,
        },
        500..=599 => AttemptError {
            error: ProviderError::Upstream(format!("{status}: {snippet}")),
            retryable: true,
            reason: "5xx",
            retry_after: ra,
        },
        _ => AttemptError::fatal(ProviderError::Upstream(format!("{status}: {snippet}"))),
    }
}

fn transport_error(e: &reqwest::Error) -> AttemptError {
    AttemptError {
        error: if e.is_timeout() {
            ProviderError::Timeout
        } else {
            ProviderError::Upstream(format!("connection: {e}"))
        },
        retryable: true,
        reason: if e.is_timeout() {
            "timeout"
        } else {
            "connection"
        },
        retry_after: None,
    }
}

impl OpenAiProvider {
    pub fn new(
        kind: LlmProviderKind,
        s: &ProviderSettings,
        per_attempt: Duration,
        budget: Duration,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let (name, endpoint) = match kind {
            LlmProviderKind::Azure => {
                let (Some(base), Some(deployment), Some(key)) =
                    (&s.azure_endpoint, &s.azure_deployment, &s.azure_api_key)
                else {
                    anyhow::bail!(
                        "LLM_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT, _DEPLOYMENT and _API_KEY"
                    );
                };
                (
                    "azure",
                    Endpoint::Azure {
                        url: format!(
                            "{base}/openai/deployments/{deployment}/chat/completions?api-version={}",
                            s.azure_api_version
                        ),
                        api_key: key.expose().to_owned(),
                    },
                )
            }
            _ => (
                "openai",
                Endpoint::OpenAi {
                    url: format!("{}/chat/completions", s.openai_base_url),
                    api_key: s.openai_api_key.as_ref().map(|k| k.expose().to_owned()),
                    model: s.openai_model.clone(),
                },
            ),
        };
        let client = Client::builder()
            .connect_timeout(per_attempt.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self {
            name,
            client,
            endpoint,
            per_attempt,
            budget,
            retry: s.retry,
            breaker: Arc::new(
                CircuitBreaker::new(s.breaker)
                    .counting_opens(metrics.provider_breaker_opened.with_label_values(&[name])),
            ),
            permits: Semaphore::new(s.max_concurrency),
            metrics,
        })
    }

    fn request(&self, req: &CompletionRequest, stream: bool) -> reqwest::RequestBuilder {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = json!({"messages": messages, "stream": stream});
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        match &self.endpoint {
            Endpoint::OpenAi {
                url,
                api_key,
                model,
            } => {
                body["model"] = json!(model);
                let rb = self.client.post(url).json(&body);
                match api_key {
                    Some(k) => rb.bearer_auth(k),
                    None => rb,
                }
            }
            Endpoint::Azure { url, api_key } => {
                self.client.post(url).header("api-key", api_key).json(&body)
            }
        }
    }

    /// Counts an answer past a cap and the bytes read of it that were dropped.
    fn count_cut(&self, limit: &'static str, bytes: u64) {
        count_cut(&self.metrics, self.name, limit, bytes);
    }

    /// An error body, read up to [`MAX_ERROR_BODY`], for the log.
    async fn error_body(&self, r: &mut reqwest::Response) -> Result<String, reqwest::Error> {
        let body = read_capped(r, MAX_ERROR_BODY).await?;
        if let Some(over) = body.over {
            self.count_cut("error_body", over);
        }
        Ok(String::from_utf8_lossy(&body.kept).into_owned())
    }

    fn set_breaker_gauge(&self) {
        self.metrics
            .provider_breaker_state
            .with_label_values(&[self.name])
            .set(self.breaker.state().gauge());
    }

    /// Runs `attempt` under the breaker, the concurrency cap and the retry
    /// policy; returns its first success or the last failure.
    async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AttemptError>>,
    {
        let until = tokio::time::Instant::now() + self.budget;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ProviderError::Upstream("provider is shutting down".into()))?;
        let mut tries = 0u32;
        loop {
            let remaining = until.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(ProviderError::Timeout);
            }
            let admitted: Admitted<'_> = match self.breaker.admit() {
                Ok(a) => a,
                Err(wait) => {
                    self.set_breaker_gauge();
                    return Err(ProviderError::Unavailable {
                        reason: "circuit breaker open after repeated provider failures".into(),
                        retry_after: Some(wait),
                    });
                }
            };
            // Cut at the deadline, so the breaker hears of the timeout
            // (a call dropped from outside would record nothing).
            let limit = self.per_attempt.min(remaining);
            let outcome = match tokio::time::timeout(limit, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(AttemptError {
                    error: ProviderError::Timeout,
                    retryable: true,
                    reason: "timeout",
                    retry_after: None,
                }),
            };
            let failed = outcome.as_ref().err();
            // A client error (4xx other than 408/429) is our request's fault,
            // not the provider's health: it does not count against it.
            let healthy = failed.is_none_or(|e| !e.retryable);
            self.breaker.record(admitted, healthy);
            self.set_breaker_gauge();
            let e = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if e.reason == "429" {
                self.metrics
                    .provider_429
                    .with_label_values(&[self.name])
                    .inc();
            }
            if !e.retryable || tries >= self.retry.max_retries {
                return Err(e.error);
            }
            if let Some(ra) = e.retry_after.filter(|ra| *ra > self.retry.retry_after_cap) {
                tracing::warn!(
                    provider = self.name,
                    retry_after_s = ra.as_secs_f64(),
                    "provider asks for a longer wait than the cap; giving up"
                );
                return Err(e.error);
            }
            let wait = self.retry.wait(tries, e.retry_after);
            if tokio::time::Instant::now() + wait >= until {
                tracing::warn!(
                    provider = self.name,
                    reason = e.reason,
                    wait_ms = wait.as_millis() as u64,
                    "no time left for another provider attempt; giving up"
                );
                return Err(e.error);
            }
            tries += 1;
            self.metrics
                .provider_retries
                .with_label_values(&[self.name, e.reason])
                .inc();
            tracing::warn!(
                provider = self.name,
                reason = e.reason,
                attempt = tries,
                wait_ms = wait.as_millis() as u64,
                error = %e.error,
                "retrying provider call"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// What a non-streaming completion body says.
struct Parsed {
    content: String,
    /// (prompt, completion) tokens, when reported.
    usage: Option<(u32, u32)>,
    model: Option<String>,
}

/// Reads `choices[0].message.content`, `usage` and `model`.
fn parse_completion(body: &Value) -> Option<Parsed> {
    let content = body
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)?
        .to_owned();
    let usage = body.get("usage").and_then(|u| {
        Some((
            u32::try_from(u.get("prompt_tokens")?.as_u64()?).ok()?,
            u32::try_from(u.get("completion_tokens")?.as_u64()?).ok()?,
        ))
    });
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    Some(Parsed {
        content,
        usage,
        model,
    })
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn deadline(&self, per_attempt: Duration) -> Duration {
        let tries = self.retry.max_retries + 1;
        let unbounded = per_attempt.saturating_mul(tries)
            + self
                .retry
                .retry_after_cap
                .max(self.retry.max_backoff)
                .saturating_mul(self.retry.max_retries);
        unbounded.min(self.budget)
    }

    async fn complete(&self, req: CompletionRequest) -> Result<Completion, ProviderError> {
        let Parsed {
            content,
            usage,
            model,
        } = self
            .with_retries(|| async {
                let mut r = self
                    .request(&req, false)
                    .send()
                    .await
                    .map_err(|e| transport_error(&e))?;
                let status = r.status();
                if !status.is_success() {
                    let headers = r.headers().clone();
                    let text = self
                        .error_body(&mut r)
                        .await
                        .map_err(|e| transport_error(&e))?;
                    return Err(classify_status(status, &headers, &text));
                }
                let body = read_capped(&mut r, MAX_COMPLETION_BODY)
                    .await
                    .map_err(|e| transport_error(&e))?;
                if let Some(over) = body.over {
                    self.count_cut("completion_body", body.kept.len() as u64 + over);
                    return Err(AttemptError::fatal(ProviderError::TooLarge {
                        limit: "completion_body",
                    }));
                }
                let body: Value = serde_json::from_slice(&body.kept).map_err(|e| {
                    AttemptError::fatal(ProviderError::Upstream(format!(
                        "unreadable completion: {e}"
                    )))
                })?;
                let parsed = parse_completion(&body).ok_or_else(|| {
                    AttemptError::fatal(ProviderError::Upstream(
                        "completion without choices[0].message.content".into(),
                    ))
                })?;
                if parsed.content.len() > MAX_REPLY_BYTES {
                    self.count_cut("reply", parsed.content.len() as u64);
                    return Err(AttemptError::fatal(ProviderError::TooLarge {
                        limit: "reply",
                    }));
                }
                Ok(parsed)
            })
            .await?;
        let prompt_estimate = req
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum();
        let (prompt_tokens, completion_tokens) =
            usage.unwrap_or((prompt_estimate, estimate_tokens(&content)));
        Ok(Completion {
            model: model.unwrap_or_else(|| self.name.to_owned()),
            content,
            prompt_tokens,
            completion_tokens,
        })
    }

    /// Retries happen only before the stream starts (until a 200 arrives);
    /// once tokens flow, a failure is reported mid-stream, never replayed.
    async fn stream(&self, req: CompletionRequest) -> Result<TokenStream, ProviderError> {
        let mut response = self
            .with_retries(|| async {
                let mut r = self
                    .request(&req, true)
                    .send()
                    .await
                    .map_err(|e| transport_error(&e))?;
                if r.status().is_success() {
                    return Ok(r);
                }
                let status = r.status();
                let headers = r.headers().clone();
                let text = self.error_body(&mut r).await.unwrap_or_default();
                Err(classify_status(status, &headers, &text))
            })
            .await?;
        let (metrics, provider) = (self.metrics.clone(), self.name);
        // The decoder reassembles lines and UTF-8 characters that the
        // network splits across chunks (a character cut in two used to come
        // out as two U+FFFD), holding at most its caps.
        Ok(Box::pin(async_stream::stream! {
            let mut decoder = SseDecoder::default();
            let mut frames = Vec::new();
            loop {
                let chunk = match response.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        yield Err(ProviderError::Upstream(format!("stream broke: {e}")));
                        return;
                    }
                };
                if let Err(e) = decoder.feed(&chunk, &mut frames) {
                    match e.limit() {
                        Some(limit) => {
                            count_cut(&metrics, provider, limit, decoder.buffered() as u64 + chunk.len() as u64);
                            yield Err(ProviderError::TooLarge { limit });
                        }
                        None => yield Err(ProviderError::Upstream(format!("unreadable stream: {e:?}"))),
                    }
                    return;
                }
                for data in frames.drain(..) {
                    match read_frame(&data) {
                        Frame::Done => return,
                        Frame::Failed(e) => {
                            yield Err(e);
                            return;
                        }
                        Frame::Events(events) => {
                            for event in events {
                                yield Ok(event);
                            }
                        }
                    }
                }
            }
            yield Err(ProviderError::Upstream("stream ended without [DONE]".into()));
        }))
    }
}

/// Counts an answer past a cap (`chatbot_provider_oversized_total`) and the
/// bytes read of it that were dropped (`chatbot_provider_bytes_cut_total`).
pub fn count_cut(metrics: &Metrics, provider: &str, limit: &str, bytes: u64) {
    metrics
        .provider_oversized
        .with_label_values(&[provider, limit])
        .inc();
    metrics
        .provider_bytes_cut
        .with_label_values(&[provider])
        .inc_by(bytes);
}
