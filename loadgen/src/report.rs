//! The outcome of a run, built from the merged aggregate once the engine has
//! stopped; the summary, the thresholds verdicts, summary.json, the CSV
//! files and the charts ([`Report::chart_data`]) read it.

use crate::chart::{ChartData, ServerColumns};
use crate::compare::Comparison;
use crate::engine::Ended;
use crate::exit::ExitCode;
use crate::profile::LatencyProfile;
use crate::server::{Finding, ServerSeries};
use crate::stats::{Aggregate, Name, Summary, Timeline};
use crate::threshold::Verdict;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Which command produced the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `loadgen run`
    Run,
    /// `loadgen hit`
    Hit,
}

/// Why a run was aborted from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// The guard re-check found a target that is no longer a test backend.
    Guard(String),
    /// Ctrl-C, SIGTERM, or `loadgen web`'s Stop.
    Interrupted,
    /// An `abortOnFail` threshold failed during the run (what failed, when).
    Threshold(String),
}

/// A guard re-check during the run that found the target not healthy but
/// still a test backend, so the run went on (see [`crate::guard`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthNote {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// `degraded` (it answered, not `ok`), `unreachable` (no answer in
    /// time) or `restarted` (its uptime went back).
    pub kind: String,
    /// What it answered, or why there was no answer.
    pub detail: String,
}

/// Everything known at the end of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Command.
    pub mode: Mode,
    /// Target URL.
    pub target: String,
    /// Profile name (run only).
    pub profile: Option<String>,
    /// Latency profile (run only).
    pub latency_profile: Option<LatencyProfile>,
    /// Seed (run only).
    pub seed: Option<u64>,
    /// The execution segment of a shard's run (`--segment`), or the union
    /// of the shards' of a merge; `None` for a whole run.
    pub segment: Option<crate::segment::SegmentInfo>,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end.
    pub finished_at: DateTime<Utc>,
    /// Monotonic run length.
    pub duration: Duration,
    /// The merged aggregate.
    pub aggregate: Aggregate,
    /// The time series (per-interval points; empty when merged from a v1
    /// summary, which has none).
    pub timeline: Timeline,
    /// Most VUs the plan asked for.
    pub vus_max_planned: u32,
    /// Most VUs seen running at once.
    pub vus_max: u64,
    /// Threshold verdicts.
    pub verdicts: Vec<Verdict>,
    /// Thresholds not evaluated, with why.
    pub skipped_thresholds: Vec<String>,
    /// How the engine ended.
    pub ended: Ended,
    /// Why it was aborted, if it was.
    pub aborted: Option<AbortReason>,
    /// The summary.json files this report was merged from (`loadgen
    /// merge`); empty for a run or hit.
    pub merged_from: Vec<String>,
    /// What the metrics endpoints said during the run (`None` when nothing
    /// was scraped: `hit`, `--no-scrape`, or no endpoint answered).
    pub server: Option<ServerSeries>,
    /// Findings of the diagnosis (empty: none fired).
    pub diagnosis: Vec<Finding>,
    /// The comparison with `run --baseline`'s baseline (`None`: no baseline).
    pub comparison: Option<Comparison>,
    /// Guard re-checks that found the target degraded or unreachable (the
    /// run went on); empty when every re-check found it healthy.
    pub health: Vec<HealthNote>,
}

/// One row of the per-endpoint table (all status classes together).
#[derive(Debug, Clone)]
pub struct EndpointRow {
    /// Phase.
    pub phase: Name,
    /// Endpoint name.
    pub endpoint: Name,
    /// Requests.
    pub requests: u64,
    /// Failed requests (4xx, 5xx, no response, failed streams).
    pub failures: u64,
    /// Requests per second over the run.
    pub rate: f64,
    /// Duration distribution, microseconds.
    pub duration: Summary,
}

#[cfg(test)]
impl Report {
    /// A finished `run` of `aggregate` over `duration` for unit tests: the
    /// smoke profile on 127.0.0.1:8000, 5 VUs, no time series, verdicts,
    /// server series, findings or baseline. Tests override what they check
    /// with struct update syntax (`Report { seed, ..Report::test_run(..) }`),
    /// so a new field is added here once.
    pub(crate) fn test_run(aggregate: Aggregate, duration: Duration) -> Report {
        let now = chrono::Utc::now();
        Report {
            mode: Mode::Run,
            target: "http://127.0.0.1:8000".into(),
            profile: Some("smoke".into()),
            latency_profile: Some(LatencyProfile::Mock),
            seed: Some(1),
            segment: None,
            started_at: now,
            finished_at: now,
            duration,
            aggregate,
            timeline: Timeline::default(),
            vus_max_planned: 5,
            vus_max: 5,
            verdicts: Vec::new(),
            skipped_thresholds: Vec::new(),
            ended: Ended::Completed,
            aborted: None,
            merged_from: Vec::new(),
            server: None,
            diagnosis: Vec::new(),
            comparison: None,
            health: Vec::new(),
        }
    }
}

impl Report {
    /// The exit code: guard refusal during the run (3) wins, then failed
    /// thresholds (99), then an interruption (105: a partial run never
    /// passes as a whole one), then a regression against the baseline (98),
    /// else 0.
    pub fn exit_code(&self) -> ExitCode {
        if matches!(self.aborted, Some(AbortReason::Guard(_))) {
            ExitCode::GuardRefused
        } else if self.verdicts.iter().any(|v| !v.passed)
            || matches!(self.aborted, Some(AbortReason::Threshold(_)))
        {
            ExitCode::ThresholdsFailed
        } else if self.aborted == Some(AbortReason::Interrupted) {
            ExitCode::Interrupted
        } else if self.comparison.as_ref().is_some_and(|c| c.regressed) {
            ExitCode::Regressed
        } else {
            ExitCode::Ok
        }
    }

    /// What the HTML report and the dashboard chart: the time series
    /// reduced to columns (see [`Timeline::chart_data`]), and the scraped
    /// server series beside them.
    pub fn chart_data(&self) -> ChartData {
        let mut charts = self.timeline.chart_data();
        charts.server = self
            .server
            .iter()
            .flat_map(|s| s.targets.iter())
            .map(|t| ServerColumns {
                url: t.url.clone(),
                scrapes: t.scrapes,
                failures: t.failures,
                last_error: t.last_error.clone(),
                t: t.t_ms.iter().map(|ms| *ms as f64 / 1000.0).collect(),
                series: t.series.clone(),
            })
            .collect();
        charts
    }

    /// Seconds, never zero (rates divide by it).
    pub fn secs(&self) -> f64 {
        self.duration.as_secs_f64().max(1e-9)
    }

    /// Per-endpoint rows in (phase, endpoint) order.
    pub fn endpoint_rows(&self) -> Vec<EndpointRow> {
        let agg = &self.aggregate;
        let mut keys: Vec<(Name, Name)> = agg
            .requests
            .keys()
            .map(|k| (k.phase.clone(), k.endpoint.clone()))
            .collect();
        keys.dedup();
        keys.into_iter()
            .map(|(phase, endpoint)| {
                let (d, _) = agg.merged_where(|k| k.phase == phase && k.endpoint == endpoint);
                let failures = agg
                    .requests
                    .iter()
                    .filter(|(k, _)| k.phase == phase && k.endpoint == endpoint)
                    .map(|(k, s)| s.failures(k.class))
                    .sum();
                EndpointRow {
                    requests: d.len(),
                    rate: d.len() as f64 / self.secs(),
                    duration: Summary::of(&d),
                    failures,
                    phase,
                    endpoint,
                }
            })
            .collect()
    }
}
