//! `loadgen merge`: several `summary.json` files (schema
//! `chatbench.loadgen.summary/v1`) read back into one [`Report`], so the
//! end-of-test summary, the thresholds and the export are the very code a
//! run uses.
//!
//! # The concurrency assumption
//!
//! The inputs are taken to be shards of one test that ran at the same time
//! against one target (the pods of `deploy/loadgen-job.yaml`). So:
//!
//! - histograms are decoded and added (`Histogram::add`): merged
//!   percentiles are exactly those of one histogram fed every shard's
//!   samples; counters, bytes, checks, errors and stream counts are summed;
//! - VUs (`max`, `max_planned`) are summed: concurrent shards' VUs ran
//!   together;
//! - the duration is the longest input's, `started_at` the earliest and
//!   `finished_at` the latest, and every rate (req/s, iterations/s,
//!   threshold `rate` of counters) is the merged count over that duration.
//!
//! Merging runs that did not overlap still gives exact counts and
//! percentiles, but rates and VUs that describe no real moment.
//!
//! # Bad inputs (exit 2, the message names the file)
//!
//! An unreadable file, one that is not JSON, a `schema` other than
//! [`SCHEMA_ID`], a field missing or of the wrong type, a histogram that does
//! not decode or was recorded with other settings than loadgen's (3
//! significant figures, lowest discernible value 1: adding those would not
//! be exact), or a histogram whose count disagrees with its series.

use crate::cli::{LatencyProfile, MergeArgs};
use crate::engine::Ended;
use crate::exit::Failure;
use crate::export::{decode_histogram, SCHEMA_ID};
use crate::profile::Profile;
use crate::report::{AbortReason, Mode, Report};
use crate::stats::{
    new_histogram, Aggregate, CheckCounts, CheckKey, Name, RequestKey, RequestStats, StatusClass,
    StreamKey, StreamMetric, StreamStats, STREAM_ERROR_KINDS,
};
use crate::threshold::{self, Threshold};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The part of a v1 summary that merging reads (other fields are derived
/// from these and recomputed).
#[derive(Deserialize)]
struct FileSummary {
    mode: String,
    target: String,
    profile: Option<String>,
    latency_profile: Option<String>,
    seed: Option<u64>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    duration_seconds: f64,
    ended: String,
    aborted_reason: Option<String>,
    vus: FileVus,
    iterations: FileIterations,
    checks: FileChecks,
    errors: BTreeMap<String, u64>,
    series: Vec<FileSeries>,
    thresholds: Vec<FileThreshold>,
    skipped_thresholds: Vec<String>,
    #[serde(default)]
    streaming: Option<FileStreaming>,
}

#[derive(Deserialize)]
struct FileVus {
    max: u64,
    max_planned: u64,
}

#[derive(Deserialize)]
struct FileIterations {
    histogram: String,
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
}

fn bad(path: &Path, why: impl std::fmt::Display) -> Failure {
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
    match value.get("schema").and_then(Value::as_str) {
        Some(SCHEMA_ID) => {}
        Some(other) => {
            return Err(bad(
                path,
                format!("schema is {other:?}, expected {SCHEMA_ID:?}"),
            ))
        }
        None => {
            return Err(bad(
                path,
                format!("no \"schema\" field: not a loadgen summary ({SCHEMA_ID})"),
            ))
        }
    }
    let f: FileSummary = serde_json::from_value(value)
        .map_err(|e| bad(path, format!("not a valid {SCHEMA_ID} summary: {e}")))?;

    let mut aggregate = Aggregate {
        iterations: histogram(path, "iterations", &f.iterations.histogram)?,
        ..Aggregate::default()
    };
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
        Some("mock") => Some(LatencyProfile::Mock),
        Some("live") => Some(LatencyProfile::Live),
        Some(other) => return Err(bad(path, format!("unknown latency_profile {other:?}"))),
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
        Some(why) => match why.strip_prefix("guard: ") {
            Some(seen) => Some(AbortReason::Guard(seen.to_string())),
            None => return Err(bad(path, format!("unknown aborted_reason {why:?}"))),
        },
    };
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
    })
}

/// The value every input has, if they all have the same.
fn agreed<T: PartialEq>(inputs: &[Input], f: impl Fn(&Input) -> T) -> Option<T> {
    let mut values = inputs.iter().map(f);
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

/// Distinct values in input order, joined with `sep`; `None` when there are none.
fn distinct<'a>(values: impl Iterator<Item = &'a str>, sep: &str) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    (!seen.is_empty()).then(|| seen.join(sep))
}

/// Merges the inputs into one report (no thresholds evaluated yet), on the
/// concurrency assumption in the module documentation.
pub fn combine(inputs: &[Input]) -> Result<Report, Failure> {
    let first = inputs
        .first()
        .ok_or_else(|| Failure::usage("merge: no input"))?;
    if let Some(other) = inputs.iter().find(|i| i.mode != first.mode) {
        return Err(bad(
            &other.path,
            format!(
                "a {:?} summary cannot be merged with {} (a {:?} summary)",
                other.mode,
                first.path.display(),
                first.mode
            ),
        ));
    }
    let mut aggregate = Aggregate::default();
    for i in inputs {
        aggregate.merge(&i.aggregate);
    }
    let ended = if inputs.iter().any(|i| i.ended == Ended::Aborted) {
        Ended::Aborted
    } else if inputs.iter().all(|i| i.ended == Ended::Exhausted) {
        Ended::Exhausted
    } else {
        Ended::Completed
    };
    let aborted = inputs
        .iter()
        .find_map(|i| match &i.aborted {
            Some(AbortReason::Guard(why)) => Some(AbortReason::Guard(format!(
                "{} (in {})",
                why,
                i.path.display()
            ))),
            _ => None,
        })
        .or_else(|| {
            inputs
                .iter()
                .find(|i| i.aborted.is_some())
                .map(|_| AbortReason::Interrupted)
        });
    let planned: u64 = inputs.iter().map(|i| i.vus_max_planned).sum();
    Ok(Report {
        mode: first.mode,
        target: distinct(inputs.iter().map(|i| i.target.as_str()), ", ").unwrap_or_default(),
        profile: distinct(inputs.iter().filter_map(|i| i.profile.as_deref()), "+"),
        latency_profile: agreed(inputs, |i| i.latency_profile).flatten(),
        seed: agreed(inputs, |i| i.seed).flatten(),
        started_at: inputs
            .iter()
            .map(|i| i.started_at)
            .min()
            .unwrap_or(first.started_at),
        finished_at: inputs
            .iter()
            .map(|i| i.finished_at)
            .max()
            .unwrap_or(first.finished_at),
        duration: inputs.iter().map(|i| i.duration).max().unwrap_or_default(),
        aggregate,
        vus_max_planned: u32::try_from(planned).unwrap_or(u32::MAX),
        vus_max: inputs.iter().map(|i| i.vus_max).sum(),
        verdicts: Vec::new(),
        skipped_thresholds: Vec::new(),
        ended,
        aborted,
        merged_from: inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect(),
    })
}

fn parse_list(list: &[String], origin: &str) -> Result<Vec<Threshold>, Failure> {
    list.iter()
        .map(|t| threshold::parse(t).map_err(|e| Failure::usage(format!("{origin}: {e}"))))
        .collect()
}

fn sorted(v: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = v.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// The thresholds to evaluate on the merged report, and those skipped.
///
/// With a profile: its thresholds (latency ones for `latency`, else the
/// inputs' latency profile, else mock), minus those the inputs have no data
/// for at all (a phase none recorded, streaming metrics when nothing was
/// streamed), as `run` skips thresholds of steps it does not run. Without
/// one: the thresholds the inputs recorded, which must agree unless
/// `overrides` are given (then only those are evaluated). `overrides`
/// replace the base thresholds with the same metric and selector.
fn thresholds(
    inputs: &[Input],
    report: &Report,
    profile: Option<&Profile>,
    latency: Option<LatencyProfile>,
    overrides: Vec<Threshold>,
) -> Result<(Vec<Threshold>, Vec<String>), Failure> {
    let Some(profile) = profile else {
        let first = inputs
            .first()
            .ok_or_else(|| Failure::usage("merge: no input"))?;
        let differing = inputs.iter().find(|i| {
            sorted(&i.thresholds) != sorted(&first.thresholds)
                || sorted(&i.skipped_thresholds) != sorted(&first.skipped_thresholds)
        });
        if let Some(other) = differing {
            if overrides.is_empty() {
                return Err(Failure::usage(format!(
                    "merge: {} and {} recorded different thresholds ({:?} and {:?}): \
                     choose the ones to evaluate with --profile or --threshold",
                    first.path.display(),
                    other.path.display(),
                    first.thresholds,
                    other.thresholds
                )));
            }
            eprintln!(
                "loadgen: note: the inputs recorded different thresholds; evaluating only --threshold"
            );
            return Ok((overrides, Vec::new()));
        }
        let mut base = Vec::new();
        for e in &first.thresholds {
            base.push(
                threshold::parse(e)
                    .map_err(|why| bad(&first.path, format!("recorded threshold: {why}")))?,
            );
        }
        let kept = threshold::merge_overrides(base, overrides);
        return Ok((kept, first.skipped_thresholds.clone()));
    };
    let origin = format!("profile {}", profile.name);
    let mut base = parse_list(&profile.thresholds, &origin)?;
    let latency_list = match latency
        .or(report.latency_profile)
        .unwrap_or(LatencyProfile::Mock)
    {
        LatencyProfile::Mock => &profile.latency_thresholds.mock,
        LatencyProfile::Live => &profile.latency_thresholds.live,
    };
    base.extend(parse_list(latency_list, &origin)?);
    let all = threshold::merge_overrides(base, overrides);
    let a = &report.aggregate;
    let phases: Vec<Name> = a
        .phases()
        .into_iter()
        .chain(a.checks.keys().map(|k| k.phase.clone()))
        .collect();
    let streamed = !a.streams.is_empty();
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for t in all {
        match t.tag("phase") {
            Some(p) if !phases.iter().any(|x| &**x == p) => {
                skipped.push(format!("{t} (no input recorded phase {p})"));
            }
            _ if t.metric.is_streaming() && !streamed => {
                skipped.push(format!("{t} (no input streamed chat turns)"));
            }
            _ => kept.push(t),
        }
    }
    Ok((kept, skipped))
}

/// `loadgen merge`: reads `args.files`, merges them and evaluates the
/// thresholds; nothing is printed (but a note on stderr when recorded
/// thresholds disagree and `--threshold` decides).
pub fn merge_files(args: &MergeArgs) -> Result<Report, Failure> {
    if args.files.len() < 2 {
        return Err(Failure::usage(
            "merge: give two or more summary.json files (the same file twice is allowed)",
        ));
    }
    let overrides = parse_list(&args.thresholds, "--threshold")?;
    let profile = match (&args.profile, &args.profile_file) {
        (Some(name), _) => Some(Profile::builtin(name).map_err(Failure::usage)?),
        (None, Some(path)) => Some(Profile::load(path).map_err(Failure::usage)?),
        (None, None) => None,
    };
    let inputs = args
        .files
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = combine(&inputs)?;
    let (kept, skipped) = thresholds(
        &inputs,
        &report,
        profile.as_ref(),
        args.latency_profile,
        overrides,
    )?;
    report.verdicts = kept
        .iter()
        .map(|t| threshold::evaluate(t, &report.aggregate, report.duration))
        .collect();
    report.skipped_thresholds = skipped;
    Ok(report)
}
