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
//!
//! This module builds the requests and drives a call to an answer or a
//! stream; its parts: `retries` (one call under the breaker, the cap, the
//! timeouts and the retry policy), `attempt_error` (a failed attempt
//! classified), `capped_body` (the body caps and their metrics) and `parse`
//! (stream frames and completion bodies read).

mod attempt_error;
mod capped_body;
mod parse;
mod retries;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Client;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::breaker::CircuitBreaker;
use super::retry::RetryPolicy;
use super::sse::SseDecoder;
use super::{
    estimate_tokens, Completion, CompletionRequest, LlmProvider, ProviderError, TokenStream,
    MAX_REPLY_BYTES,
};
use crate::config::{LlmProviderKind, ProviderSettings};
use crate::metrics::Metrics;

use attempt_error::{classify_status, transport_error, AttemptError};
use capped_body::read_capped;
pub use capped_body::{count_cut, MAX_COMPLETION_BODY, MAX_ERROR_BODY};
use parse::{parse_completion, Parsed};
pub use parse::{read_frame, Frame};

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
