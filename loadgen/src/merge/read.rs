//! Reading one `summary.json` back into an [`Input`]: the fields merging
//! needs, histograms decoded and checked against their series' counts. A v2
//! summary's timeline is read too (its point counts checked against the
//! series); a v1 summary has none.

use crate::compare::Comparison;
use crate::engine::Ended;
use crate::exit::Failure;
use crate::export::{decode_histogram, SCHEMA_ID, SCHEMA_V1_ID};
use crate::profile::LatencyProfile;
use crate::report::HealthNote;
use crate::report::{AbortReason, Mode};
use crate::server::Finding;
use crate::server::ServerSeries;
use crate::stats::{
    new_histogram, Aggregate, CheckCounts, CheckKey, Name, RequestKey, RequestStats, StatusClass,
    StreamKey, StreamMetric, StreamStats, Timeline, Truncation, STREAM_ERROR_KINDS,
};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The part of a summary that merging reads (other fields are derived
/// from these and recomputed).
#[derive(Deserialize)]
struct FileSummary {
    mode: String,
    target: String,
    profile: Option<String>,
    latency_profile: Option<String>,
    seed: Option<u64>,
    /// Absent for a whole run (no `--segment`).
    #[serde(default)]
    segment: Option<crate::segment::SegmentInfo>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    duration_seconds: f64,
    ended: String,
    aborted_reason: Option<String>,
    vus: FileVus,
    iterations: FileIterations,
    checks: FileChecks,
    errors: BTreeMap<String, u64>,
    /// Absent in summaries written before the memory caps.
    #[serde(default)]
    truncated: FileTruncated,
    /// Absent in summaries written before it was counted.
    #[serde(default)]
    dropped_iterations: FileDropped,
    series: Vec<FileSeries>,
    thresholds: Vec<FileThreshold>,
    skipped_thresholds: Vec<String>,
    #[serde(default)]
    streaming: Option<FileStreaming>,
    /// Required in v2, absent in v1.
    #[serde(default)]
    timeline: Option<Timeline>,
    #[serde(default)]
    merged_from: Option<FileMergedFrom>,
    /// The run's findings (absent before diagnosis existed, and in `hit`s).
    #[serde(default)]
    diagnosis: Vec<Finding>,
    /// Optional: what the run scraped.
    #[serde(default)]
    server: Option<ServerSeries>,
    /// `run --baseline`'s comparison, kept as read (checked below).
    #[serde(default)]
    comparison: Option<Value>,
    /// Guard re-checks that found the target not healthy (absent before
    /// they were recorded, and when there were none).
    #[serde(default)]
    health: Vec<HealthNote>,
}

#[derive(Deserialize, Default)]
struct FileDropped {
    count: u64,
}

#[derive(Deserialize, Default)]
struct FileTruncated {
    responses: u64,
    bytes: u64,
}

#[derive(Deserialize)]
struct FileMergedFrom {
    files: Vec<String>,
}

#[derive(Deserialize)]
struct FileVus {
    max: u64,
    max_planned: u64,
}

#[derive(Deserialize)]
struct FileIterations {
    histogram: String,
    /// Open model only.
    #[serde(default)]
    lateness_histogram: Option<String>,
}

#[derive(Deserialize)]
struct FileChecks {
    series: Vec<FileCheck>,
}

#[derive(Deserialize)]
struct FileCheck {
    phase: String,
    name: String,
    passes: u64,
    fails: u64,
}

#[derive(Deserialize)]
struct FileSeries {
    phase: String,
    endpoint: String,
    status_class: String,
    count: u64,
    bytes_sent: u64,
    bytes_received: u64,
    #[serde(default)]
    stream_failures: u64,
    histograms: FileSeriesHistograms,
}

#[derive(Deserialize)]
struct FileSeriesHistograms {
    duration: String,
    waiting: String,
}

#[derive(Deserialize)]
struct FileThreshold {
    expression: String,
}

#[derive(Deserialize)]
struct FileStreaming {
    series: Vec<FileStreamSeries>,
}

#[derive(Deserialize)]
struct FileStreamSeries {
    phase: String,
    endpoint: String,
    streams: u64,
    tokens: u64,
    completion_tokens: u64,
    stream_errors: FileStreamErrors,
    histograms: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct FileStreamErrors {
    by_kind: BTreeMap<String, u64>,
}

/// One summary.json read back.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it was read from.
    pub path: PathBuf,
    /// `run` or `hit`.
    pub mode: Mode,
    /// Target URL.
    pub target: String,
    /// Profile name.
    pub profile: Option<String>,
    /// Latency profile.
    pub latency_profile: Option<LatencyProfile>,
    /// Seed.
    pub seed: Option<u64>,
    /// The shard's segment (`None`: a whole run).
    pub segment: Option<crate::segment::SegmentInfo>,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end.
    pub finished_at: DateTime<Utc>,
    /// Run length.
    pub duration: Duration,
    /// How the run ended.
    pub ended: Ended,
    /// Why it was aborted, if it was.
    pub aborted: Option<AbortReason>,
    /// Most VUs seen at once.
    pub vus_max: u64,
    /// Most VUs planned.
    pub vus_max_planned: u64,
    /// Every series, histograms decoded.
    pub aggregate: Aggregate,
    /// Threshold expressions the run evaluated.
    pub thresholds: Vec<String>,
    /// Thresholds the run skipped, with why.
    pub skipped_thresholds: Vec<String>,
    /// The time series (`None` for a v1 summary).
    pub timeline: Option<Timeline>,
    /// The files this summary was itself merged from (empty for a run's).
    pub merged_from: Vec<String>,
    /// The findings the summary recorded (empty when none, or none recorded).
    pub diagnosis: Vec<Finding>,
    /// What the run scraped, if anything.
    pub server: Option<ServerSeries>,
    /// `run --baseline`'s comparison, if the run had one.
    pub comparison: Option<Comparison>,
    /// Guard re-checks that found the target not healthy.
    pub health: Vec<HealthNote>,
}

pub(super) fn bad(path: &Path, why: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("merge: {}: {why}", path.display()))
}

fn name(s: &str) -> Name {
    Name::from(s)
}

/// The `&'static str` for an error kind: the known ones are constants; an
/// unknown kind (a newer loadgen's) is leaked once, which is bounded by the
/// size of the inputs of this one-shot command.
fn kind(known: &[&'static str], k: &str) -> &'static str {
    known
        .iter()
        .copied()
        .find(|x| *x == k)
        .unwrap_or_else(|| Box::leak(k.to_string().into_boxed_str()))
}

/// Error kinds of requests that got no response (see [`crate::http`]).
const REQUEST_ERROR_KINDS: [&str; 4] = ["connect", "timeout", "io", "request"];

/// Decodes one histogram and checks it was recorded as loadgen records.
fn histogram(path: &Path, what: &str, text: &str) -> Result<Histogram<u64>, Failure> {
    let mut h = decode_histogram(text).map_err(|e| bad(path, format!("{what}: {e}")))?;
    let reference = new_histogram();
    if h.sigfig() != reference.sigfig() || h.low() != reference.low() {
        return Err(bad(
            path,
            format!(
                "{what}: mismatched histogram settings: {} significant figures and lowest \
                 discernible value {}, where loadgen records {} and {}; such histograms \
                 cannot be merged exactly",
                h.sigfig(),
                h.low(),
                reference.sigfig(),
                reference.low()
            ),
        ));
    }
    h.auto(true);
    Ok(h)
}

/// Reads one summary.json; every error names the file (exit 2).
pub fn read(path: &Path) -> Result<Input, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read it: {e}")))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| bad(path, format!("not JSON: {e}")))?;
    let v2 = match value.get("schema").and_then(Value::as_str) {
        Some(SCHEMA_ID) => true,
        Some(SCHEMA_V1_ID) => false,
        Some(other) => {
            return Err(bad(
                path,
                format!("schema is {other:?}, expected {SCHEMA_ID:?} (or {SCHEMA_V1_ID:?})"),
            ))
        }
        None => {
            return Err(bad(
                path,
                format!("no \"schema\" field: not a loadgen summary ({SCHEMA_ID})"),
            ))
        }
    };
    let f: FileSummary = serde_json::from_value(value)
        .map_err(|e| bad(path, format!("not a valid {SCHEMA_ID} summary: {e}")))?;

    let mut aggregate = Aggregate {
        iterations: histogram(path, "iterations", &f.iterations.histogram)?,
        ..Aggregate::default()
    };
    if let Some(late) = &f.iterations.lateness_histogram {
        aggregate.lateness = histogram(path, "iteration lateness", late)?;
    }
    for s in &f.series {
        let what = format!("series {}/{}/{}", s.phase, s.endpoint, s.status_class);
        let class = StatusClass::parse(&s.status_class)
            .ok_or_else(|| bad(path, format!("{what}: unknown status class")))?;
        let stats = RequestStats {
            duration: histogram(path, &format!("{what} duration"), &s.histograms.duration)?,
            waiting: histogram(path, &format!("{what} waiting"), &s.histograms.waiting)?,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            stream_failures: s.stream_failures,
        };
        if stats.duration.len() != s.count || stats.waiting.len() != s.count {
            return Err(bad(
                path,
                format!(
                    "{what}: count is {} but its histograms hold {} and {} values",
                    s.count,
                    stats.duration.len(),
                    stats.waiting.len()
                ),
            ));
        }
        let key = RequestKey {
            phase: name(&s.phase),
            endpoint: name(&s.endpoint),
            class,
        };
        if aggregate.requests.insert(key, stats).is_some() {
            return Err(bad(path, format!("{what} is listed twice")));
        }
    }
    for c in &f.checks.series {
        let key = CheckKey {
            phase: name(&c.phase),
            name: name(&c.name),
        };
        let counts = CheckCounts {
            passes: c.passes,
            fails: c.fails,
        };
        if aggregate.checks.insert(key, counts).is_some() {
            return Err(bad(
                path,
                format!("check {}: {} is listed twice", c.phase, c.name),
            ));
        }
    }
    for (k, n) in &f.errors {
        *aggregate
            .errors
            .entry(kind(&REQUEST_ERROR_KINDS, k))
            .or_default() += n;
    }
    aggregate.dropped_iterations = f.dropped_iterations.count;
    aggregate.truncated = Truncation {
        responses: f.truncated.responses,
        bytes: f.truncated.bytes,
    };
    for s in f.streaming.iter().flat_map(|st| &st.series) {
        let what = format!("streaming series {}/{}", s.phase, s.endpoint);
        let mut stats = StreamStats {
            streams: s.streams,
            tokens: s.tokens,
            completion_tokens: s.completion_tokens,
            ..StreamStats::default()
        };
        for m in StreamMetric::ALL {
            let text = s
                .histograms
                .get(m.key())
                .ok_or_else(|| bad(path, format!("{what}: no {} histogram", m.key())))?;
            let h = histogram(path, &format!("{what} {}", m.key()), text)?;
            *stats.histogram_mut(m) = h;
        }
        for (k, n) in &s.stream_errors.by_kind {
            if *n > 0 {
                *stats
                    .errors
                    .entry(kind(&STREAM_ERROR_KINDS, k))
                    .or_default() += n;
            }
        }
        let key = StreamKey {
            phase: name(&s.phase),
            endpoint: name(&s.endpoint),
        };
        if aggregate.streams.insert(key, stats).is_some() {
            return Err(bad(path, format!("{what} is listed twice")));
        }
    }

    let mode = match f.mode.as_str() {
        "run" => Mode::Run,
        "hit" => Mode::Hit,
        other => return Err(bad(path, format!("unknown mode {other:?}"))),
    };
    let latency_profile = match f.latency_profile.as_deref() {
        None => None,
        Some(name) => match LatencyProfile::from_name(name) {
            Some(l) => Some(l),
            None => return Err(bad(path, format!("unknown latency_profile {name:?}"))),
        },
    };
    let ended = match f.ended.as_str() {
        "completed" => Ended::Completed,
        "exhausted" => Ended::Exhausted,
        "aborted" => Ended::Aborted,
        other => return Err(bad(path, format!("unknown ended {other:?}"))),
    };
    let aborted = match f.aborted_reason.as_deref() {
        None => None,
        Some("interrupted") => Some(AbortReason::Interrupted),
        Some(why) => match (why.strip_prefix("guard: "), why.strip_prefix("threshold: ")) {
            (Some(seen), _) => Some(AbortReason::Guard(seen.to_string())),
            (_, Some(what)) => Some(AbortReason::Threshold(what.to_string())),
            _ => return Err(bad(path, format!("unknown aborted_reason {why:?}"))),
        },
    };
    if v2 && f.timeline.is_none() {
        return Err(bad(path, format!("a {SCHEMA_ID} summary needs a timeline")));
    }
    if let Some(t) = &f.timeline {
        check_timeline(t, &aggregate).map_err(|why| bad(path, why))?;
    }
    let duration = Duration::try_from_secs_f64(f.duration_seconds).map_err(|e| {
        bad(
            path,
            format!("duration_seconds {}: {e}", f.duration_seconds),
        )
    })?;
    Ok(Input {
        path: path.to_path_buf(),
        mode,
        target: f.target,
        profile: f.profile,
        latency_profile,
        seed: f.seed,
        segment: f.segment,
        started_at: f.started_at,
        finished_at: f.finished_at,
        duration,
        ended,
        aborted,
        vus_max: f.vus.max,
        vus_max_planned: f.vus.max_planned,
        aggregate,
        thresholds: f.thresholds.into_iter().map(|t| t.expression).collect(),
        skipped_thresholds: f.skipped_thresholds,
        timeline: f.timeline,
        merged_from: f.merged_from.map(|m| m.files).unwrap_or_default(),
        diagnosis: f.diagnosis,
        server: f.server,
        health: f.health,
        comparison: f
            .comparison
            .map(|c| {
                serde_json::from_value(c).map_err(|e| {
                    bad(
                        path,
                        format!("comparison: not a {}: {e}", crate::compare::SCHEMA_ID),
                    )
                })
            })
            .transpose()?,
    })
}

/// A timeline must be well-formed and account for every request of the
/// series, endpoint by endpoint (a summary edited by hand, or cut, would
/// otherwise chart numbers its totals disagree with).
fn check_timeline(t: &Timeline, a: &Aggregate) -> Result<(), String> {
    t.validate()?;
    let mut in_points: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for p in &t.points {
        for r in &p.requests {
            *in_points.entry((&r.phase, &r.endpoint)).or_default() += r.count;
        }
    }
    let mut in_series: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (k, s) in &a.requests {
        *in_series.entry((&k.phase, &k.endpoint)).or_default() += s.count();
    }
    if !t.points.is_empty() && in_points != in_series {
        return Err(format!(
            "the timeline's request counts per (phase, endpoint) {in_points:?} differ from the series' {in_series:?}"
        ));
    }
    Ok(())
}
