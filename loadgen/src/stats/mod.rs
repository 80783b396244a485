//! Statistics: the plain records the engine emits, their per-worker
//! aggregation into HDR histograms, and the merged view everything else reads.
//!
//! Durations are recorded in microseconds into `Histogram<u64>` with three
//! significant figures (auto-resizing), so a percentile is exact to 0.1% of
//! its value whatever the run length; nothing is rounded into buckets, no
//! sample list grows with the run, and percentiles are never averaged.
//! [`timeline`] keeps the same per interval (the run's time series).

mod aggregate;
mod recorder;
mod stream;
pub mod timeline;

pub use aggregate::{
    add_into, new_histogram, Aggregate, CheckCounts, CheckKey, RequestKey, RequestStats, Summary,
    Truncation,
};
pub use recorder::{Collector, Gauges, Recorder};
pub use stream::{
    StreamEnd, StreamKey, StreamMetric, StreamRecord, StreamStats, STREAM_ERROR_KINDS,
    TOKENS_PER_S_SCALE,
};
pub use timeline::Timeline;

use std::sync::Arc;
use std::time::Duration;

/// A phase or endpoint name, shared cheaply between records.
pub type Name = Arc<str>;

/// Status classes a request is keyed by; `Error` means no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    /// 1xx
    Informational,
    /// 2xx
    Success,
    /// 3xx (redirects are never followed, so they are recorded as they came)
    Redirect,
    /// 4xx
    ClientError,
    /// 5xx
    ServerError,
    /// no response: connect error, timeout, protocol error
    Error,
}

impl StatusClass {
    /// The class of an HTTP status code.
    pub fn of(status: u16) -> Self {
        match status {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirect,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Error,
        }
    }

    /// `2xx`, `4xx`, `err`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Error => "err",
        }
    }

    /// Parses the names produced by [`StatusClass::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "1xx" => StatusClass::Informational,
            "2xx" => StatusClass::Success,
            "3xx" => StatusClass::Redirect,
            "4xx" => StatusClass::ClientError,
            "5xx" => StatusClass::ServerError,
            "err" => StatusClass::Error,
            _ => return None,
        })
    }

    /// Failed in the sense of k6's `http_req_failed`: no response, or a
    /// status outside 200..=399.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            StatusClass::ClientError
                | StatusClass::ServerError
                | StatusClass::Error
                | StatusClass::Informational
        )
    }
}

/// One finished (or failed) HTTP request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Journey phase: `auth`, `session`, `chat`, `other`, `hit`.
    pub phase: Name,
    /// Endpoint name within the phase: `login`, `create_session`, ...
    pub endpoint: Name,
    /// The status code, or `None` when no response came.
    pub status: Option<u16>,
    /// Why no response came (`connect`, `timeout`, `io`), when none did.
    pub error: Option<&'static str>,
    /// From the request being handed to the connection to the end of the body.
    pub duration: Duration,
    /// From the request being handed to the connection to the response headers.
    pub waiting: Duration,
    /// Bytes written to the socket for this request.
    pub bytes_sent: u64,
    /// Bytes read from the socket for this request.
    pub bytes_received: u64,
}

impl RequestRecord {
    /// The status class this record is keyed by.
    pub fn class(&self) -> StatusClass {
        self.status.map_or(StatusClass::Error, StatusClass::of)
    }

    /// Moves the origin of its timings `by` earlier: an open-model
    /// iteration's first request counts from the iteration's scheduled
    /// start, so a late start shows in its latency instead of vanishing.
    pub fn count_from_earlier(&mut self, by: Duration) {
        self.duration += by;
        self.waiting += by;
    }
}

/// What the engine emits: plain values, aggregated elsewhere.
#[derive(Debug, Clone)]
pub enum Record {
    /// An HTTP request.
    Request(RequestRecord),
    /// A streamed (SSE) request: the request itself plus its token timings
    /// (boxed, so the common variants stay small).
    Stream(Box<StreamRecord>),
    /// A k6-style check.
    Check {
        /// Phase the check belongs to.
        phase: Name,
        /// Human name of the check, e.g. `status is 200`.
        name: Name,
        /// Whether it held.
        passed: bool,
    },
    /// A response whose body (or stream) passed a memory cap: its bytes
    /// past the cap were read and dropped, not kept.
    Truncated {
        /// Bytes dropped.
        bytes: u64,
    },
    /// Iterations (or `hit --rate` sends) the arrival schedule asked for
    /// that could not start before the end: no free VU or connection
    /// (k6's `dropped_iterations`).
    Dropped {
        /// How many.
        count: u64,
    },
    /// A VU finished one iteration of its journey.
    Iteration {
        /// Wall time of the iteration, think time included (open model:
        /// from its scheduled start).
        duration: Duration,
        /// Open model: how long after its scheduled start the iteration
        /// began (the arrival timer's and the VU's wake-up delay); `None`
        /// in the closed model, where an iteration starts when the last ends.
        lateness: Option<Duration>,
    },
}

/// Converts a duration to whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
