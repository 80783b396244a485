//! One provider call's bookkeeping, shared by the whole turn (`turn`) and the
//! streamed one (`stream`): the call is counted, bounded by the provider's
//! deadline, timed once when it ends, and a failure is counted by kind and
//! mapped to the API's 502/503/504.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::llm::ProviderError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// A provider call in progress. `start` counts it; `succeeded`, `failed` or
/// `failed_mid_stream` ends it, observing its latency exactly once.
pub struct ProviderCall {
    metrics: Metrics,
    provider: &'static str,
    /// The longest the call may take before it answers (retries and their
    /// waits included, as the provider reckons them, capped by
    /// `PROVIDER_DEADLINE_SECONDS`).
    deadline: Duration,
    started: Instant,
}

impl ProviderCall {
    pub fn start(state: &AppState) -> Self {
        let provider = state.llm.name();
        state
            .metrics
            .provider_calls
            .with_label_values(&[provider])
            .inc();
        Self {
            metrics: state.metrics.clone(),
            provider,
            // The provider's own reckoning, never past the configured
            // deadline (which ends before the request timeout).
            deadline: state
                .llm
                .deadline(state.config.provider_timeout)
                .min(state.config.provider_deadline),
            started: Instant::now(),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Awaits the provider's answer (a completion, or a stream's opening)
    /// under the deadline; running past it is a `ProviderError::Timeout`.
    pub async fn bounded<T>(
        &self,
        answer: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        tokio::time::timeout(self.deadline, answer)
            .await
            .unwrap_or(Err(ProviderError::Timeout))
    }

    /// Ends a call that answered.
    pub fn succeeded(&self) {
        self.observe_latency();
    }

    /// Ends a call that failed before answering: counted by kind, and
    /// mapped to the error the client gets.
    pub fn failed(&self, e: ProviderError) -> ApiError {
        self.failed_mid_stream(&e);
        provider_error(e)
    }

    /// Ends a stream that broke after it started: counted by kind; the
    /// client is told by an error event, not a status.
    pub fn failed_mid_stream(&self, e: &ProviderError) {
        self.observe_latency();
        self.metrics
            .provider_errors
            .with_label_values(&[self.provider, e.kind()])
            .inc();
    }

    fn observe_latency(&self) {
        self.metrics
            .provider_latency
            .with_label_values(&[self.provider])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// What the client is told when the provider fails; nothing was stored.
pub fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::RateLimited { retry_after } => ApiError::Provider {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "provider_rate_limited",
            detail: "The language model is rate limited; nothing was stored, retry later".into(),
            retry_after_secs: Some(retry_after.map_or(1, |d| d.as_secs().max(1))),
        },
        ProviderError::Timeout => ApiError::Provider {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "provider_timeout",
            detail: "The language model did not answer in time; nothing was stored".into(),
            retry_after_secs: None,
        },
        ProviderError::Unavailable {
            reason,
            retry_after,
        } => ApiError::Provider {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "provider_unavailable",
            detail: format!(
                "The language model is unavailable ({reason}); nothing was stored, retry later"
            ),
            retry_after_secs: Some(retry_after.map_or(1, |d| d.as_secs().max(1))),
        },
        ProviderError::TooLarge { limit } => {
            tracing::warn!(limit, "provider answer past its size cap");
            ApiError::Provider {
                status: StatusCode::BAD_GATEWAY,
                code: "provider_reply_too_large",
                detail: "The language model's answer was larger than this API accepts; nothing was stored".into(),
                retry_after_secs: None,
            }
        }
        ProviderError::Upstream(cause) => {
            tracing::warn!(%cause, "provider upstream error");
            ApiError::Provider {
                status: StatusCode::BAD_GATEWAY,
                code: "provider_error",
                detail: "The language model failed to answer; nothing was stored".into(),
                retry_after_secs: None,
            }
        }
    }
}
