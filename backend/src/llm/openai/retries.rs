//! One provider call under the circuit breaker, the concurrency cap, the
//! per-attempt timeout, the whole call's deadline and the retry policy.

use crate::llm::breaker::Admitted;
use crate::llm::ProviderError;

use super::attempt_error::AttemptError;
use super::OpenAiProvider;

impl OpenAiProvider {
    fn set_breaker_gauge(&self) {
        self.metrics
            .provider_breaker_state
            .with_label_values(&[self.name])
            .set(self.breaker.state().gauge());
    }

    /// Runs `attempt` under the breaker, the concurrency cap and the retry
    /// policy; returns its first success or the last failure.
    pub(super) async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, ProviderError>
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
