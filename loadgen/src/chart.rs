//! What a run's charts plot: the time series of a run, reduced to columns
//! on one time axis (the shape uPlot draws: one `x` column, one column per
//! line), per phase so that each phase gets its own latency lines.
//!
//! It is the only thing the HTML report and the live dashboard read of the
//! time series: the timeline (with its per-interval HDR histograms) turns
//! into a [`ChartData`], so the page stays small (an 8-hour run embeds a few
//! hundred kilobytes, not the histograms) and has nothing to compute.
//! Percentiles here come from per-interval HDR histograms, never from
//! averaging percentiles.

use serde::{Deserialize, Serialize};

/// Columns on one time axis; every column has `t.len()` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartData {
    /// End of each interval, seconds since the run started.
    pub t: Vec<f64>,
    /// The most VUs active during each interval (at its end every VU of a
    /// finished run has stopped, so the end would read 0).
    pub vus: Vec<u64>,
    /// Per phase, in the summary's phase order (`auth`, `session`, `chat`, ...).
    pub phases: Vec<PhaseColumns>,
    /// Per phase that streamed (empty unless the run used `--stream`).
    pub streams: Vec<StreamColumns>,
    /// Per scraped metrics endpoint (empty when nothing was scraped): the
    /// server's series, drawn under the client charts on the same x range.
    #[serde(default)]
    pub server: Vec<ServerColumns>,
}

/// One scraped endpoint's series on its own time axis (its scrapes'
/// answer times, seconds since the run started: the client columns' clock),
/// with the scrape status the page shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerColumns {
    pub url: String,
    pub scrapes: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    /// Seconds since the run started, one per successful scrape.
    pub t: Vec<f64>,
    /// Columns by series name ([`crate::server::series`]), each `t.len()`
    /// long; a series the endpoint never exported is absent.
    pub series: std::collections::BTreeMap<String, Vec<Option<f64>>>,
}

/// One phase's request rate, failure rate and latency over time. A latency
/// is `None` in an interval with no request of the phase (a gap in the
/// line, not a zero).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseColumns {
    pub phase: String,
    pub requests_per_s: Vec<f64>,
    pub failures_per_s: Vec<f64>,
    pub p50_ms: Vec<Option<f64>>,
    pub p95_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
}

/// One streaming phase's token-level figures over time (DESIGN.md's
/// definitions of TTFT and ITL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamColumns {
    pub phase: String,
    pub ttft_p50_ms: Vec<Option<f64>>,
    pub ttft_p95_ms: Vec<Option<f64>>,
    pub itl_p50_ms: Vec<Option<f64>>,
    pub itl_p95_ms: Vec<Option<f64>>,
    pub tokens_per_s_p50: Vec<Option<f64>>,
}
