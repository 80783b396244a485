//! What a comparison is made of: the tolerance bands and options it is
//! judged with, the compared metrics, the verdicts, the rows and the
//! [`Comparison`] itself (the `comparison` object of summary.json and
//! `loadgen compare --format json`). The judging lives in the parent module.

use crate::report::Report;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `schema` of a comparison (the `comparison` object of summary.json
/// and `loadgen compare --format json`).
pub const SCHEMA_ID: &str = "chatbench.loadgen.comparison/v1";

/// Default one-sided significance level.
pub const DEFAULT_ALPHA: f64 = 0.01;

/// Tolerance bands; `None` is `off` (never gates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerances {
    /// Relative band of medians (p50 of durations, TTFT, ITL), e.g. 0.05.
    pub p50: Option<f64>,
    /// Relative band of p95s.
    pub p95: Option<f64>,
    /// Relative band of p99s.
    pub p99: Option<f64>,
    /// Band of the error rate, in percentage points (0.5: 1.0% -> 1.5%).
    pub error_rate_points: Option<f64>,
    /// Relative band of the request rate.
    pub rate: Option<f64>,
    /// Latency changes smaller than this many milliseconds never count.
    pub floor_ms: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            p50: Some(0.05),
            p95: Some(0.10),
            p99: Some(0.10),
            error_rate_points: Some(0.5),
            rate: Some(0.05),
            floor_ms: 1.0,
        }
    }
}

impl Tolerances {
    /// Applies `--tolerance` values: `KEY=VALUE[,KEY=VALUE...]`, keys p50,
    /// p95, p99, rate (a percentage: `5%` or `5`), error_rate (points: `0.5`
    /// or `0.5%`), floor (a duration: `1ms`, `500us`, `0`); any band may be
    /// `off`.
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected KEY=VALUE, e.g. p95=10%"))?;
            let (key, value) = (key.trim(), value.trim());
            if key == "floor" {
                // loadgen's durations stop at ms; a floor may be finer.
                let micros = value
                    .strip_suffix("us")
                    .and_then(|n| n.trim().parse::<u64>().ok());
                let d = match (value, micros) {
                    ("0", _) => std::time::Duration::ZERO,
                    (_, Some(us)) => std::time::Duration::from_micros(us),
                    _ => crate::duration::parse_duration(value)
                        .map_err(|e| format!("floor={value}: {e}"))?,
                };
                self.floor_ms = d.as_secs_f64() * 1000.0;
                continue;
            }
            let band = if value == "off" {
                None
            } else {
                let number = value.strip_suffix('%').unwrap_or(value).trim();
                let v: f64 = number
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        format!("{key}={value}: expected a non-negative number or off")
                    })?;
                Some(v)
            };
            let percent = band.map(|v| v / 100.0);
            match key {
                "p50" => self.p50 = percent,
                "p95" => self.p95 = percent,
                "p99" => self.p99 = percent,
                "rate" => self.rate = percent,
                "error_rate" => self.error_rate_points = band,
                other => {
                    return Err(format!(
                        "unknown key {other:?}: expected p50, p95, p99, error_rate, rate or floor"
                    ))
                }
            }
        }
        Ok(())
    }

    /// One line, as the outputs show it.
    pub fn describe(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("off".into(), |v| format!("{}%", trim(v * 100.0)));
        format!(
            "p50 {}, p95 {}, p99 {}, error rate {}, rate {}, latency floor {} ms",
            pct(self.p50),
            pct(self.p95),
            pct(self.p99),
            self.error_rate_points
                .map_or("off".into(), |v| format!("{} points", trim(v))),
            pct(self.rate),
            trim(self.floor_ms),
        )
    }
}

/// A number without trailing zeros (5, 0.5, 12.5).
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How to compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Tolerance bands.
    pub tolerances: Tolerances,
    /// One-sided significance level.
    pub alpha: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerances: Tolerances::default(),
            alpha: DEFAULT_ALPHA,
        }
    }
}

/// Parses `--alpha`: a probability in (0, 0.5].
pub fn parse_alpha(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|a| *a > 0.0 && *a <= 0.5)
        .ok_or_else(|| format!("--alpha {text:?}: expected a probability in (0, 0.5], e.g. 0.01"))
}

/// What is compared in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests per second.
    Rate,
    /// Failures / requests, %.
    ErrorRate,
    /// Duration p50, ms.
    P50,
    /// Duration p95, ms.
    P95,
    /// Duration p99, ms.
    P99,
    /// TTFT p50, ms.
    TtftP50,
    /// TTFT p95, ms.
    TtftP95,
    /// TTFT p99, ms.
    TtftP99,
    /// ITL p50, ms.
    ItlP50,
    /// ITL p95, ms.
    ItlP95,
    /// ITL p99, ms.
    ItlP99,
}

impl Metric {
    /// The name in outputs (`p95`, `ttft_p50`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rate => "rate",
            Metric::ErrorRate => "error_rate",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::TtftP50 => "ttft_p50",
            Metric::TtftP95 => "ttft_p95",
            Metric::TtftP99 => "ttft_p99",
            Metric::ItlP50 => "itl_p50",
            Metric::ItlP95 => "itl_p95",
            Metric::ItlP99 => "itl_p99",
        }
    }

    /// The unit of `base`, `new` and `change`.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Rate => "req/s",
            Metric::ErrorRate => "%",
            _ => "ms",
        }
    }

    /// The quantile of a latency metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::P50 | Metric::TtftP50 | Metric::ItlP50 => Some(0.50),
            Metric::P95 | Metric::TtftP95 | Metric::ItlP95 => Some(0.95),
            Metric::P99 | Metric::TtftP99 | Metric::ItlP99 => Some(0.99),
            Metric::Rate | Metric::ErrorRate => None,
        }
    }

    pub(super) fn band(self, t: &Tolerances) -> Option<f64> {
        match self {
            Metric::P50 | Metric::TtftP50 | Metric::ItlP50 => t.p50,
            Metric::P95 | Metric::TtftP95 | Metric::ItlP95 => t.p95,
            Metric::P99 | Metric::TtftP99 | Metric::ItlP99 => t.p99,
            Metric::Rate => t.rate,
            Metric::ErrorRate => t.error_rate_points,
        }
    }
}

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Worse beyond the band and beyond noise: gates.
    #[serde(rename = "regression")]
    Regression,
    /// Better beyond the band and beyond noise.
    #[serde(rename = "improvement")]
    Improvement,
    /// Inside the band, or not unlikely under noise.
    #[serde(rename = "within_noise")]
    WithinNoise,
    /// A side has no values (or the band is off).
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Verdict {
    /// As printed.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::WithinNoise => "within noise",
            Verdict::NotApplicable => "n/a",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Phase.
    pub phase: String,
    /// Endpoint (the stream series' endpoint for TTFT/ITL).
    pub endpoint: String,
    /// What is compared.
    pub metric: Metric,
    /// Unit of base, new and change: `req/s`, `%` or `ms`.
    pub unit: String,
    /// The base run's value.
    pub base: Option<f64>,
    /// The new run's value.
    pub new: Option<f64>,
    /// new - base, in `unit` (percentage points for the error rate).
    pub change: Option<f64>,
    /// change / base (`None` when base is 0 or a side is missing).
    pub relative_change: Option<f64>,
    /// One-sided p-value in the direction of the change (worse when it got
    /// worse, better otherwise).
    pub p_value: Option<f64>,
    /// Values behind base and new (requests, or histogram values).
    pub samples: [u64; 2],
    /// Verdict.
    pub verdict: Verdict,
}

/// A (phase, endpoint) only one run has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Phase.
    pub phase: String,
    /// Endpoint.
    pub endpoint: String,
}

/// What is known of one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The file it was read from, or `this run`.
    pub label: String,
    /// Target URL.
    pub target: String,
    /// Profile name.
    pub profile: Option<String>,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Run length, seconds.
    pub duration_seconds: f64,
    /// Most VUs the plan asked for.
    pub vus_max_planned: u32,
    /// Whether chat turns were streamed.
    pub streaming: bool,
}

impl Side {
    /// The side of `report`, named `label`.
    pub fn of(report: &Report, label: &str) -> Side {
        Side {
            label: label.to_string(),
            target: report.target.clone(),
            profile: report.profile.clone(),
            started_at: report.started_at,
            duration_seconds: report.duration.as_secs_f64(),
            vus_max_planned: report.vus_max_planned,
            streaming: !report.aggregate.streams.is_empty(),
        }
    }
}

/// The whole comparison: `loadgen compare --format json`, and summary.json's
/// `comparison` object after `run --baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`SCHEMA_ID`].
    pub schema: String,
    /// The baseline.
    pub base: Side,
    /// The run judged against it.
    pub new: Side,
    /// One-sided significance level.
    pub alpha: f64,
    /// Tolerance bands.
    pub tolerances: Tolerances,
    /// Why this comparison is weaker than it looks (runs that differ in
    /// more than the code); also printed on stderr.
    pub warnings: Vec<String>,
    /// Whether any row is a regression (exit 98).
    pub regressed: bool,
    /// Whether request rates gate: not when both are `loadgen run`s
    /// (closed model: a VU waits for each answer, so every endpoint's rate
    /// follows the journey's latencies, which are judged themselves); their
    /// rows then say n/a beside the change and its p-value.
    pub rate_gated: bool,
    /// Every compared figure, in (phase, endpoint, metric) order.
    pub rows: Vec<Row>,
    /// Endpoints only the base run has (not gated).
    pub only_in_base: Vec<Endpoint>,
    /// Endpoints only the new run has (not gated).
    pub only_in_new: Vec<Endpoint>,
}

impl Comparison {
    /// The rows that are regressions.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
    }
}
