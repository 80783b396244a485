//! The provider's time budget: how much of the request timeout a provider
//! call may spend (every attempt, backoff and wait), and the check that
//! one attempt fits in it and it ends before the request timeout.

use std::time::Duration;

use super::ConfigError;

/// The request timeout's share kept back from the provider: 10%, at most
/// 5 s (120 s -> a 115 s provider deadline), so the provider's 504 is
/// written before the request timeout fires.
pub fn provider_deadline_margin(request_timeout: Duration) -> Duration {
    request_timeout.mul_f64(0.1).min(Duration::from_secs(5))
}

/// Orders the budgets: one provider attempt fits in the provider's whole
/// deadline, and that deadline ends before the request timeout. A
/// configuration that cannot is refused, naming the variables.
pub(super) fn provider_deadline(
    request_timeout: Duration,
    per_attempt: Duration,
    explicit: Option<f64>,
) -> Result<Duration, ConfigError> {
    let deadline = match explicit {
        None => request_timeout - provider_deadline_margin(request_timeout),
        Some(secs) => {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(ConfigError::new(
                    "PROVIDER_DEADLINE_SECONDS",
                    "must be a number of seconds greater than zero",
                ));
            }
            // Finite and positive, but possibly beyond what a Duration holds.
            let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
            if d >= request_timeout {
                return Err(ConfigError::new(
                    "PROVIDER_DEADLINE_SECONDS",
                    format!(
                        "({secs} s) must be shorter than REQUEST_TIMEOUT_SECONDS ({} s), \
                         or the request timeout answers before the provider's 504",
                        request_timeout.as_secs_f64()
                    ),
                ));
            }
            d
        }
    };
    if per_attempt > deadline {
        return Err(ConfigError::new(
            "PROVIDER_TIMEOUT_SECONDS",
            format!(
                "({} s per attempt) does not fit in the provider deadline of {} s \
                 (PROVIDER_DEADLINE_SECONDS, by default REQUEST_TIMEOUT_SECONDS less 10%, \
                 at most 5 s): lower it or raise REQUEST_TIMEOUT_SECONDS",
                per_attempt.as_secs_f64(),
                deadline.as_secs_f64()
            ),
        ));
    }
    Ok(deadline)
}
