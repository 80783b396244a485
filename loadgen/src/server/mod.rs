//! The server's side of a run: what loadgen read from the target's (and
//! any other) Prometheus endpoints while it loaded it, kept as time series
//! on the run's time axis, and the findings ([`Finding`]) that diagnosis
//! draws from both sides.
//!
//! This module holds the data only (what `summary.json` carries under
//! `server` and `diagnosis`); scraping and the rules live in their own
//! modules and fill it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every metrics endpoint read during the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSeries {
    /// One entry per endpoint, the target's own (`{base}/api/metrics`)
    /// first when it answered.
    pub targets: Vec<ScrapeTarget>,
}

/// One metrics endpoint and what it said over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTarget {
    /// The URL scraped.
    pub url: String,
    /// Scrapes attempted.
    pub scrapes: u64,
    /// Scrapes that failed (no answer, not 200, unparsable). Counted and
    /// shown, never fatal.
    pub failures: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When each successful scrape was answered, milliseconds since the
    /// run started (the time axis of [`crate::stats::Timeline`]).
    pub t_ms: Vec<u64>,
    /// Derived series (names in [`series`]), one value per entry of `t_ms`;
    /// `None` where the endpoint did not export what the series needs (or
    /// for a rate, at the first scrape).
    pub series: BTreeMap<String, Vec<Option<f64>>>,
    /// Counter increases over the whole run (last scrape minus the one
    /// taken before the load started), names in [`totals`].
    pub totals: BTreeMap<String, f64>,
}

/// One finding of the diagnosis: a named rule that fired, the numbers that
/// made it fire, and the knob to turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable rule id, e.g. `db_pool_saturated`.
    pub rule: String,
    /// How bad.
    pub severity: Severity,
    /// The figures behind it, in one sentence.
    pub evidence: String,
    /// What to change.
    pub advice: String,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the run was not hurt by it.
    Info,
    /// It cost latency or errors in this run.
    Warning,
    /// It broke the run (errors, an open breaker, a saturated resource).
    Critical,
}

/// Names of the derived series in [`ScrapeTarget::series`]. Gauges are the
/// value at the scrape; `_per_s` are counter increases over the time since
/// the previous scrape; `_mean_ms` are a histogram's sum/count increases
/// over the same stretch (exact means, no bucket interpolation).
pub mod series {
    /// Open connections in the backend's pool.
    pub const DB_POOL_SIZE: &str = "db_pool_size";
    /// Connections in use.
    pub const DB_POOL_CHECKED_OUT: &str = "db_pool_checked_out";
    /// The pool's maximum (DB_POOL_SIZE).
    pub const DB_POOL_MAX: &str = "db_pool_max";
    /// Connections in use / maximum.
    pub const DB_POOL_USAGE_RATIO: &str = "db_pool_usage_ratio";
    /// Requests being served.
    pub const HTTP_IN_FLIGHT: &str = "http_in_flight";
    /// Server-side mean time of chat turns (`/api/chat/chat` and
    /// `/api/chat/stream`), ms.
    pub const CHAT_MEAN_MS: &str = "chat_mean_ms";
    /// LLM provider calls per second.
    pub const PROVIDER_CALLS_PER_S: &str = "provider_calls_per_s";
    /// Mean provider call time, ms.
    pub const PROVIDER_MEAN_MS: &str = "provider_mean_ms";
    /// Provider errors per second (all kinds).
    pub const PROVIDER_ERRORS_PER_S: &str = "provider_errors_per_s";
    /// Provider 429 answers per second.
    pub const PROVIDER_429_PER_S: &str = "provider_429_per_s";
    /// Provider retries per second.
    pub const PROVIDER_RETRIES_PER_S: &str = "provider_retries_per_s";
    /// Circuit breaker: 0 closed, 1 half-open, 2 open (the worst provider).
    pub const BREAKER_STATE: &str = "breaker_state";
    /// Password hashes waiting for a slot.
    pub const HASH_QUEUE_DEPTH: &str = "hash_queue_depth";
    /// Password hashes running.
    pub const HASH_IN_FLIGHT: &str = "hash_in_flight";
    /// Mean hash/verify time, queueing included, ms.
    pub const HASH_MEAN_MS: &str = "hash_mean_ms";
    /// Mean history messages sent with a chat turn.
    pub const HISTORY_MESSAGES_MEAN: &str = "history_messages_mean";
    /// CHAT_HISTORY_MAX_MESSAGES.
    pub const HISTORY_MAX_MESSAGES: &str = "history_max_messages";
    /// Requests answered 429 by the backend's own rate limiter, per second.
    pub const RATE_LIMITED_PER_S: &str = "rate_limited_per_s";
    /// CPU used by the process, in cores (CPU seconds per second).
    pub const CPU_CORES: &str = "cpu_cores";
    /// CPUs the process may use.
    pub const HOST_CPUS: &str = "host_cpus";
    /// Resident memory, MiB.
    pub const RSS_MIB: &str = "rss_mib";
    /// Open file descriptors.
    pub const OPEN_FDS: &str = "open_fds";
    /// mock-llm's `/metrics` (`--scrape http://MOCK/metrics`): chat
    /// completions asked of the mock, per second.
    pub const UPSTREAM_REQUESTS_PER_S: &str = "upstream_requests_per_s";
    /// mock-llm: requests it answered 429 (RPM/TPM budgets, injected), per
    /// second.
    pub const UPSTREAM_429_PER_S: &str = "upstream_429_per_s";
    /// mock-llm: other failed requests (500s, hangs, stream faults, bad
    /// requests), per second.
    pub const UPSTREAM_ERRORS_PER_S: &str = "upstream_errors_per_s";
    /// mock-llm: completion tokens it sent, per second.
    pub const UPSTREAM_TOKENS_PER_S: &str = "upstream_tokens_per_s";
    /// A serving engine's requests in its batch (`vllm:num_requests_running`,
    /// or the backend's in-process mock's).
    pub const MODEL_RUNNING: &str = "model_running";
    /// ... and waiting for a place in it (`vllm:num_requests_waiting`).
    pub const MODEL_WAITING: &str = "model_waiting";
}

/// Names of the run totals in [`ScrapeTarget::totals`].
pub mod totals {
    /// Provider calls.
    pub const PROVIDER_CALLS: &str = "provider_calls";
    /// Provider errors (all kinds).
    pub const PROVIDER_ERRORS: &str = "provider_errors";
    /// Provider 429 answers.
    pub const PROVIDER_429: &str = "provider_429";
    /// Provider retries.
    pub const PROVIDER_RETRIES: &str = "provider_retries";
    /// Times the provider's circuit breaker opened (seen even when it
    /// opened and closed again between two scrapes).
    pub const BREAKER_OPENED: &str = "breaker_opened";
    /// Seconds spent in provider calls (histogram sum).
    pub const PROVIDER_SECONDS: &str = "provider_seconds";
    /// Chat turns served (histogram count of the chat routes).
    pub const CHAT_TURNS: &str = "chat_turns";
    /// Seconds spent serving chat turns (histogram sum of the chat routes).
    pub const CHAT_SECONDS: &str = "chat_seconds";
    /// Password hashes and verifies.
    pub const HASHES: &str = "hashes";
    /// Seconds spent in them, queueing included.
    pub const HASH_SECONDS: &str = "hash_seconds";
    /// CPU seconds used by the process.
    pub const CPU_SECONDS: &str = "cpu_seconds";
    /// Requests the backend's rate limiter answered 429.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// mock-llm: chat completions asked of it.
    pub const UPSTREAM_REQUESTS: &str = "upstream_requests";
    /// mock-llm: requests it answered 429.
    pub const UPSTREAM_429: &str = "upstream_429";
    /// mock-llm: other failed requests.
    pub const UPSTREAM_ERRORS: &str = "upstream_errors";
}
