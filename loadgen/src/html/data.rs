//! What the report page shows, as one serializable value built from a
//! [`Report`] (and the run's [`ChartData`]): the page's script renders it,
//! so the page and a future live view read the same JSON and the page
//! itself computes nothing. Times are milliseconds, as Locust shows them;
//! every percentile comes from the report's HDR histograms.

use crate::chart::{ChartData, PhaseColumns, ServerColumns, StreamColumns};
use crate::engine::Ended;
use crate::report::{AbortReason, Report};
use crate::server::Finding;
use crate::stats::{Aggregate, RequestKey, StreamMetric, StreamStats, TOKENS_PER_S_SCALE};
use crate::threshold::{Agg, Metric, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Identifies the page's data layout (read by the page's script).
pub const DATA_SCHEMA: &str = "chatbench.loadgen.report/v1";

/// The percentiles of the request table, as Locust's stats columns.
pub const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct PageData {
    pub schema: &'static str,
    pub verdict: VerdictInfo,
    pub run: RunInfo,
    pub totals: Totals,
    pub thresholds: Vec<ThresholdRow>,
    pub skipped_thresholds: Vec<String>,
    pub checks: Vec<CheckRow>,
    /// Column labels of [`StatRow::percentiles_ms`].
    pub percentiles: Vec<String>,
    /// Per phase (a phase row, then its endpoints), then the `Aggregated` row.
    pub requests: Vec<StatRow>,
    /// Per streaming phase; empty unless the run streamed.
    pub streaming: Vec<StreamRow>,
    /// Requests that got no response, by kind.
    pub errors: Vec<(String, u64)>,
    /// The time series, or `None` (a v1 summary has none).
    pub charts: Option<ChartData>,
    /// The diagnosis: findings, rules checked, the server metrics read.
    pub diagnosis: DiagnosisInfo,
    /// `run --baseline`'s comparison with its baseline, if the run had one.
    pub comparison: Option<crate::compare::Comparison>,
}

/// The "Diagnosis" section.
#[derive(Debug, Serialize)]
pub struct DiagnosisInfo {
    /// Worst first; empty when no rule fired.
    pub findings: Vec<Finding>,
    /// How many rules were checked.
    pub rules_checked: usize,
    /// The metrics endpoint the server rules read, if any.
    pub server: Option<String>,
}

/// The banner.
#[derive(Debug, Serialize)]
pub struct VerdictInfo {
    /// `passed`, `failed` (a threshold) or `aborted`; `running` in the
    /// live dashboard's updates before the end.
    pub status: &'static str,
    pub exit_code: i32,
    /// Why the run was aborted, when it was.
    pub reason: Option<String>,
    /// `completed`, `exhausted` or `aborted` (how the engine ended);
    /// `running` in the live dashboard's updates before the end.
    pub ended: &'static str,
}

/// Target, profile, plan, seed, times.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub mode: &'static str,
    pub target: String,
    pub profile: Option<String>,
    pub latency_profile: Option<String>,
    /// A string: a u64 seed does not survive a JavaScript number.
    pub seed: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub vus_max: u64,
    pub vus_max_planned: u32,
    pub merged_from: Vec<String>,
    pub tool_version: &'static str,
}

/// Whole-run figures.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub failures: u64,
    pub requests_per_s: f64,
    pub iterations: u64,
    pub iterations_per_s: f64,
    /// Open model: arrivals that found no free VU (k6's dropped_iterations).
    pub dropped_iterations: u64,
    /// Open model: iteration start past its scheduled start, p95 and max,
    /// milliseconds (`None` in the closed model).
    pub lateness_p95_ms: Option<f64>,
    pub lateness_max_ms: Option<f64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
}

/// One threshold with its measured value.
#[derive(Debug, Serialize)]
pub struct ThresholdRow {
    pub expression: String,
    /// `None` when the selected series had no data (which fails).
    pub actual: Option<f64>,
    /// `ms`, `fraction`, `/s`, `tokens/s` or `` (a count).
    pub unit: &'static str,
    pub passed: bool,
}

/// One check series.
#[derive(Debug, Serialize)]
pub struct CheckRow {
    pub phase: String,
    pub name: String,
    pub passes: u64,
    pub fails: u64,
}

/// One row of the request table: Locust's columns.
#[derive(Debug, Serialize)]
pub struct StatRow {
    /// `phase` (all endpoints of a phase), `endpoint` or `total`.
    pub kind: &'static str,
    pub phase: String,
    pub endpoint: String,
    pub requests: u64,
    pub failures: u64,
    pub median_ms: Option<f64>,
    pub average_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Bytes received per request (headers included).
    pub average_size: Option<f64>,
    pub requests_per_s: f64,
    pub failures_per_s: f64,
    /// At [`PERCENTILES`], in order.
    pub percentiles_ms: Vec<Option<f64>>,
}

/// One streaming phase: p50 / p95 / p99 of each token-level metric.
#[derive(Debug, Serialize)]
pub struct StreamRow {
    pub phase: String,
    pub streams: u64,
    pub tokens: u64,
    pub failed: u64,
    /// `ttfb`, `ttft`, `itl`, `tpot`, `e2e` in ms, `tokens_per_s` in tokens/s.
    pub metrics: Vec<StreamFigures>,
}

/// One metric of a [`StreamRow`].
#[derive(Debug, Serialize)]
pub struct StreamFigures {
    pub metric: &'static str,
    pub unit: &'static str,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// Rounds to `digits` decimals so the embedded JSON stays short (an 8-hour
/// run's 2,000 points times every column).
fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

fn ms(us: f64) -> f64 {
    round(us / 1000.0, 3)
}

fn quantile_ms(h: &Histogram<u64>, p: f64) -> Option<f64> {
    (!h.is_empty()).then(|| ms(h.value_at_quantile(p / 100.0) as f64))
}

fn stat_row(
    report: &Report,
    kind: &'static str,
    phase: &str,
    endpoint: &str,
    keep: impl Fn(&RequestKey) -> bool,
) -> StatRow {
    let a = &report.aggregate;
    let (d, _) = a.merged_where(&keep);
    let selected = a.requests.iter().filter(|(k, _)| keep(k));
    let failures: u64 = selected.clone().map(|(k, s)| s.failures(k.class)).sum();
    let received: u64 = selected.map(|(_, s)| s.bytes_received).sum();
    let n = d.len();
    let some = |f: &dyn Fn(&Histogram<u64>) -> f64| (n > 0).then(|| ms(f(&d)));
    StatRow {
        kind,
        phase: phase.to_string(),
        endpoint: endpoint.to_string(),
        requests: n,
        failures,
        median_ms: some(&|h| h.value_at_quantile(0.5) as f64),
        average_ms: some(&|h| h.mean()),
        min_ms: some(&|h| h.min() as f64),
        max_ms: some(&|h| h.max() as f64),
        average_size: (n > 0).then(|| round(received as f64 / n as f64, 1)),
        requests_per_s: round(n as f64 / report.secs(), 3),
        failures_per_s: round(failures as f64 / report.secs(), 3),
        percentiles_ms: PERCENTILES.iter().map(|p| quantile_ms(&d, *p)).collect(),
    }
}

fn request_rows(report: &Report) -> Vec<StatRow> {
    let mut rows = Vec::new();
    for phase in report.aggregate.phases() {
        rows.push(stat_row(report, "phase", &phase, "", |k| k.phase == phase));
        for row in report.endpoint_rows().iter().filter(|r| r.phase == phase) {
            let endpoint = row.endpoint.clone();
            rows.push(stat_row(report, "endpoint", &phase, &endpoint, |k| {
                k.phase == phase && k.endpoint == endpoint
            }));
        }
    }
    rows.push(stat_row(report, "total", "", "Aggregated", |_| true));
    rows
}

fn stream_row(phase: &str, s: &StreamStats) -> StreamRow {
    let metrics = StreamMetric::ALL
        .into_iter()
        .map(|m| {
            let h = s.histogram(m);
            // Tokens/s is recorded in milli-tokens/s; the rest in µs.
            let at = |p: f64| {
                (!h.is_empty()).then(|| {
                    let v = h.value_at_quantile(p / 100.0) as f64;
                    if m.is_rate() {
                        round(v / TOKENS_PER_S_SCALE as f64, 2)
                    } else {
                        ms(v)
                    }
                })
            };
            StreamFigures {
                metric: m.key(),
                unit: if m.is_rate() { "tokens/s" } else { "ms" },
                p50: at(50.0),
                p95: at(95.0),
                p99: at(99.0),
            }
        })
        .collect();
    StreamRow {
        phase: phase.to_string(),
        streams: s.streams,
        tokens: s.tokens,
        failed: s.failed(),
        metrics,
    }
}

/// The unit a threshold's actual value is in (as `threshold::evaluate`
/// computes it).
fn threshold_unit(metric: Metric, agg: Agg) -> &'static str {
    match (metric, agg) {
        (_, Agg::Count) => "",
        (Metric::Failed | Metric::Checks | Metric::StreamErrors, Agg::Rate) => "fraction",
        (Metric::Reqs | Metric::Iterations | Metric::Dropped, _) => "/s",
        (Metric::Stream(m), _) if m.is_rate() => "tokens/s",
        _ => "ms",
    }
}

fn threshold_row(v: &Verdict) -> ThresholdRow {
    ThresholdRow {
        expression: v.threshold.to_string(),
        actual: v.actual.filter(|a| a.is_finite()).map(|a| round(a, 6)),
        unit: threshold_unit(v.threshold.metric, v.threshold.agg),
        passed: v.passed,
    }
}

fn verdict(report: &Report) -> VerdictInfo {
    let ended = match report.ended {
        Ended::Completed => "completed",
        Ended::Exhausted => "exhausted",
        Ended::Aborted => "aborted",
    };
    let reason = match &report.aborted {
        Some(AbortReason::Guard(why)) => Some(format!("guard: {why}")),
        Some(AbortReason::Interrupted) => Some("interrupted".to_string()),
        Some(AbortReason::Threshold(what)) => Some(format!("threshold: {what}")),
        None => None,
    };
    let status = if reason.is_some() || report.ended == Ended::Aborted {
        "aborted"
    } else if report.verdicts.iter().any(|v| !v.passed)
        || report.comparison.as_ref().is_some_and(|c| c.regressed)
    {
        "failed"
    } else {
        "passed"
    };
    VerdictInfo {
        status,
        exit_code: report.exit_code().code(),
        reason,
        ended,
    }
}

fn totals(report: &Report) -> Totals {
    let a: &Aggregate = &report.aggregate;
    let (sent, received) = a.bytes();
    let checks = a.checks_where(|_| true);
    Totals {
        requests: a.total_requests(),
        failures: a.failed_requests(),
        requests_per_s: round(a.total_requests() as f64 / report.secs(), 3),
        iterations: a.iterations.len(),
        iterations_per_s: round(a.iterations.len() as f64 / report.secs(), 3),
        dropped_iterations: a.dropped_iterations,
        lateness_p95_ms: (!a.lateness.is_empty())
            .then(|| round(a.lateness.value_at_quantile(0.95) as f64 / 1000.0, 3)),
        lateness_max_ms: (!a.lateness.is_empty())
            .then(|| round(a.lateness.max() as f64 / 1000.0, 3)),
        bytes_sent: sent,
        bytes_received: received,
        checks_passed: checks.passes,
        checks_failed: checks.fails,
    }
}

fn round_all(v: &[f64], digits: i32) -> Vec<f64> {
    v.iter().map(|x| round(*x, digits)).collect()
}

fn round_opt(v: &[Option<f64>], digits: i32) -> Vec<Option<f64>> {
    v.iter()
        .map(|x| x.filter(|x| x.is_finite()).map(|x| round(x, digits)))
        .collect()
}

/// The chart columns with their figures rounded (3 decimals of seconds,
/// 2 of ms and of rates): what a reader can see, at a third of the size.
fn rounded(c: &ChartData) -> ChartData {
    ChartData {
        t: round_all(&c.t, 3),
        vus: c.vus.clone(),
        phases: c
            .phases
            .iter()
            .map(|p| PhaseColumns {
                phase: p.phase.clone(),
                requests_per_s: round_all(&p.requests_per_s, 2),
                failures_per_s: round_all(&p.failures_per_s, 2),
                p50_ms: round_opt(&p.p50_ms, 2),
                p95_ms: round_opt(&p.p95_ms, 2),
                p99_ms: round_opt(&p.p99_ms, 2),
            })
            .collect(),
        streams: c
            .streams
            .iter()
            .map(|s| StreamColumns {
                phase: s.phase.clone(),
                ttft_p50_ms: round_opt(&s.ttft_p50_ms, 2),
                ttft_p95_ms: round_opt(&s.ttft_p95_ms, 2),
                itl_p50_ms: round_opt(&s.itl_p50_ms, 2),
                itl_p95_ms: round_opt(&s.itl_p95_ms, 2),
                tokens_per_s_p50: round_opt(&s.tokens_per_s_p50, 2),
            })
            .collect(),
        server: c
            .server
            .iter()
            .map(|s| ServerColumns {
                t: round_all(&s.t, 3),
                series: s
                    .series
                    .iter()
                    .map(|(k, v)| (k.clone(), round_opt(v, 3)))
                    .collect(),
                ..s.clone()
            })
            .collect(),
    }
}

/// Builds the page's data; `charts` with no points means "no time series".
pub fn build(report: &Report, charts: &ChartData) -> PageData {
    let a = &report.aggregate;
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    PageData {
        schema: DATA_SCHEMA,
        verdict: verdict(report),
        run: RunInfo {
            mode: match report.mode {
                crate::report::Mode::Run => "run",
                crate::report::Mode::Hit => "hit",
            },
            target: report.target.clone(),
            profile: report.profile.clone(),
            latency_profile: report.latency_profile.map(|l| l.name().to_string()),
            seed: report.seed.map(|s| s.to_string()),
            started_at: time(&report.started_at),
            finished_at: time(&report.finished_at),
            duration_s: round(report.duration.as_secs_f64(), 3),
            vus_max: report.vus_max,
            vus_max_planned: report.vus_max_planned,
            merged_from: report.merged_from.clone(),
            tool_version: env!("CARGO_PKG_VERSION"),
        },
        totals: totals(report),
        thresholds: report.verdicts.iter().map(threshold_row).collect(),
        skipped_thresholds: report.skipped_thresholds.clone(),
        checks: a
            .checks
            .iter()
            .map(|(k, c)| CheckRow {
                phase: k.phase.to_string(),
                name: k.name.to_string(),
                passes: c.passes,
                fails: c.fails,
            })
            .collect(),
        percentiles: PERCENTILES.iter().map(|p| format!("{p}%")).collect(),
        requests: request_rows(report),
        streaming: a
            .stream_phases()
            .iter()
            .map(|p| stream_row(p, &a.streams_where(|k| k.phase == *p)))
            .collect(),
        errors: a.errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        charts: (!charts.t.is_empty()).then(|| rounded(charts)),
        diagnosis: DiagnosisInfo {
            findings: report.diagnosis.clone(),
            rules_checked: crate::diagnose::rules_checked(report),
            server: crate::diagnose::server_target(report).map(|t| t.url.clone()),
        },
        comparison: report.comparison.clone(),
    }
}
