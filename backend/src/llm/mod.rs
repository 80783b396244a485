//! LLM providers behind one trait, chosen by `LLM_PROVIDER`.
//!
//! A provider turns a prompt (history, retrieved sources, the user's message)
//! into a completion. The chat turn never holds a pooled database connection
//! while a provider works; providers know nothing of the database.

pub mod breaker;
#[cfg(test)]
pub(crate) mod fuzz;
mod mock;
pub mod openai;
pub mod retry;
pub mod sse;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::Serialize;

pub use mock::MockLlm;

/// The longest reply a turn accepts from a provider (UTF-8 bytes): a long
/// answer is tens of KiB, so this is far past any real one, and a provider
/// sending more is refused (`ProviderError::TooLarge`: 502, nothing stored)
/// rather than assembled and stored without bound.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;
pub use mock_llm::mockmodel::{estimate_tokens, MockLlmConfig, MockSchedule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PromptMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct CompletionRequest {
    pub messages: Vec<PromptMessage>,
    /// Identifies the turn (session and position in it): the mock model's
    /// reply is a function of its seed and this key only, never of timing or
    /// concurrency, so runs are repeatable.
    pub turn_key: u64,
}

#[derive(Debug, Clone)]
pub struct Completion {
    pub content: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider rate limit (429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider error: {0}")]
    Upstream(String),
    #[error("provider timed out")]
    Timeout,
    /// The circuit breaker is open: the provider is not called at all.
    #[error("provider unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider's answer passed a size cap (`limit`: which one, as in
    /// `chatbot_provider_oversized_total`); it was not kept.
    #[error("provider answer too large ({limit})")]
    TooLarge { limit: &'static str },
}

impl ProviderError {
    /// The label used in `chatbot_provider_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Upstream(_) => "upstream",
            ProviderError::Timeout => "timeout",
            ProviderError::Unavailable { .. } => "circuit_open",
            ProviderError::TooLarge { .. } => "too_large",
        }
    }
}

/// What a streaming provider emits: tokens, and its own usage figures when
/// it reports them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Token(String),
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
}

/// A reply being streamed; dropping it cancels the provider call.
pub type TokenStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// Short name for metrics and logs (`mock`, `openai`, `azure`).
    fn name(&self) -> &'static str;
    /// An in-process model's batch now: (running, waiting). Remote
    /// providers have none to report.
    fn engine_load(&self) -> Option<(usize, usize)> {
        None
    }
    async fn complete(&self, req: CompletionRequest) -> Result<Completion, ProviderError>;
    /// Streams the reply. An error before the stream starts (a 429, a
    /// refused connection) is returned here; one during it is an item.
    /// The default answers in one piece, for providers that cannot stream.
    /// The longest a whole call may take, retries and waits included, when
    /// each attempt may take `per_attempt`.
    fn deadline(&self, per_attempt: Duration) -> Duration {
        per_attempt
    }

    async fn stream(&self, req: CompletionRequest) -> Result<TokenStream, ProviderError> {
        let c = self.complete(req).await?;
        let events = vec![
            Ok(StreamEvent::Token(c.content)),
            Ok(StreamEvent::Usage {
                prompt_tokens: c.prompt_tokens,
                completion_tokens: c.completion_tokens,
            }),
        ];
        Ok(Box::pin(futures::stream::iter(events)))
    }
}
