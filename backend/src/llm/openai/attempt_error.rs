//! How a failed attempt is classified: the error the caller gets, whether
//! another attempt is worth it, the reason logged and counted, and the
//! provider's own Retry-After.

use std::time::Duration;

use reqwest::StatusCode;

use crate::llm::retry::retry_after;
use crate::llm::ProviderError;

/// Why an attempt failed, and whether another is worth it.
pub(super) struct AttemptError {
    pub(super) error: ProviderError,
    pub(super) retryable: bool,
    pub(super) reason: &'static str,
    pub(super) retry_after: Option<Duration>,
}

impl AttemptError {
    pub(super) fn fatal(error: ProviderError) -> Self {
        Self {
            error,
            retryable: false,
            reason: "fatal",
            retry_after: None,
        }
    }
}

pub(super) fn classify_status(
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

pub(super) fn transport_error(e: &reqwest::Error) -> AttemptError {
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
