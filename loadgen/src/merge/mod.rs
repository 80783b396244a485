//! `loadgen merge`: several `summary.json` files (schema
//! `chatbench.loadgen.summary/v2`, or v1) read back into one [`Report`], so the
//! end-of-test summary, the thresholds and the export are the very code a
//! run uses.
//!
//! # The concurrency assumption
//!
//! The inputs are taken to be shards of one test that ran at the same time
//! against one target (the pods of `deploy/loadgen/`, each `run --segment`). So:
//!
//! - histograms are decoded and added (`Histogram::add`): merged
//!   percentiles are exactly those of one histogram fed every shard's
//!   samples; counters, bytes, checks, errors and stream counts are summed;
//! - VUs (`max`, `max_planned`) are summed: concurrent shards' VUs ran
//!   together;
//! - time series are merged by time: points aligned by their start offset
//!   from each shard's own start (after bringing all to the coarsest
//!   resolution among them), histograms added, VUs summed; when an input
//!   has no time series (a v1 summary), the merged one is empty;
//! - the duration is the longest input's, `started_at` the earliest and
//!   `finished_at` the latest, and every rate (req/s, iterations/s,
//!   threshold `rate` of counters) is the merged count over that duration;
//! - the scraped server series (`server`) are concatenated: every input's
//!   endpoints, each on its own shard's time axis, in input order (shards
//!   scraping one target each saw the whole target, so nothing is added).
//!
//! - shards of one test (`run --segment`) must not overlap (exit 2): see
//!   [`segments`]; thresholds are evaluated on the merged figures, never
//!   per shard (k6 evaluates per instance), so a p95 is the whole test's.
//!
//! Merging runs that did not overlap still gives exact counts and
//! percentiles, but rates and VUs that describe no real moment.
//!
//! # Bad inputs (exit 2, the message names the file)
//!
//! An unreadable file, one that is not JSON, a `schema` other than
//! [`SCHEMA_ID`](crate::export::SCHEMA_ID), a field missing or of the wrong type, a histogram that does
//! not decode or was recorded with other settings than loadgen's (3
//! significant figures, lowest discernible value 1: adding those would not
//! be exact), or a histogram whose count disagrees with its series.

mod read;
mod segments;

use read::bad;
pub use read::{read, Input};

use crate::engine::Ended;
use crate::exit::Failure;
use crate::profile::{LatencyProfile, Profile};
use crate::report::{AbortReason, Report};
use crate::server::ServerSeries;
use crate::stats::{Aggregate, Name, Timeline};
use crate::threshold::{self, Threshold};
use std::path::{Path, PathBuf};

/// What to evaluate on the merged figures (the default: the thresholds the
/// inputs recorded).
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Thresholds that replace the base ones with the same metric and
    /// selector, or are added (`--threshold`).
    pub overrides: Vec<Threshold>,
    /// Evaluate this profile's thresholds instead of the recorded ones.
    pub profile: Option<Profile>,
    /// Which latency thresholds of `profile` apply (default: the inputs'
    /// own, else mock).
    pub latency_profile: Option<LatencyProfile>,
}

/// Refuses fewer than two inputs (merging one file would only copy it).
pub fn enough_inputs(files: &[PathBuf]) -> Result<(), Failure> {
    if files.len() < 2 {
        return Err(Failure::usage(
            "merge: give two or more summary.json files (the same file twice is allowed)",
        ));
    }
    Ok(())
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
            inputs.iter().find_map(|i| match &i.aborted {
                Some(AbortReason::Threshold(what)) => Some(AbortReason::Threshold(format!(
                    "{} (in {})",
                    what,
                    i.path.display()
                ))),
                _ => None,
            })
        })
        .or_else(|| {
            inputs
                .iter()
                .find(|i| i.aborted.is_some())
                .map(|_| AbortReason::Interrupted)
        });
    let planned: u64 = inputs.iter().map(|i| i.vus_max_planned).sum();
    let timeline = match inputs
        .iter()
        .map(|i| i.timeline.as_ref())
        .collect::<Option<Vec<&Timeline>>>()
    {
        Some(series) => Timeline::merge_concurrent(&series)
            .map_err(|e| Failure::usage(format!("merge: the timelines: {e}")))?,
        None => {
            if inputs.len() > 1 {
                eprintln!("loadgen: note: an input is a v1 summary (no timeline): the merged summary has an empty timeline");
            }
            Timeline::default()
        }
    };
    Ok(Report {
        mode: first.mode,
        target: distinct(inputs.iter().map(|i| i.target.as_str()), ", ").unwrap_or_default(),
        profile: distinct(inputs.iter().filter_map(|i| i.profile.as_deref()), "+"),
        latency_profile: agreed(inputs, |i| i.latency_profile).flatten(),
        seed: agreed(inputs, |i| i.seed).flatten(),
        segment: segments::union(inputs)?,
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
        timeline,
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
        // Each input's endpoints as they were: shards scraped the same
        // target at the same time, so there is nothing to add up.
        server: {
            let targets: Vec<_> = inputs
                .iter()
                .filter_map(|i| i.server.as_ref())
                .flat_map(|s| s.targets.iter().cloned())
                .collect();
            (!targets.is_empty()).then_some(ServerSeries { targets })
        },
        diagnosis: Vec::new(),
        comparison: None,
        // Each shard's notes, in time order (shards ran at the same time).
        health: {
            let mut notes: Vec<_> = inputs.iter().flat_map(|i| i.health.clone()).collect();
            notes.sort_by_key(|n| n.t_ms);
            notes
        },
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
    let latency = latency
        .or(report.latency_profile)
        .unwrap_or(LatencyProfile::Mock);
    base.extend(parse_list(
        profile.latency_thresholds.under(latency),
        &origin,
    )?);
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

/// `loadgen merge`: reads `files` (two or more), merges them and evaluates
/// the thresholds `options` choose; nothing is printed (but a note on
/// stderr when recorded thresholds disagree and the overrides decide).
pub fn merge_files(files: &[PathBuf], options: &MergeOptions) -> Result<Report, Failure> {
    enough_inputs(files)?;
    let inputs = files
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = combine(&inputs)?;
    let (kept, skipped) = thresholds(
        &inputs,
        &report,
        options.profile.as_ref(),
        options.latency_profile,
        options.overrides.clone(),
    )?;
    report.verdicts = kept
        .iter()
        .map(|t| threshold::evaluate_run(t, &report))
        .collect();
    report.skipped_thresholds = skipped;
    // The merged figures are diagnosed afresh (client-side rules: merged
    // shards carry no server series); the inputs' own findings described
    // one shard each.
    report.diagnosis = crate::diagnose::diagnose(&report);
    Ok(report)
}

/// One summary.json read back into the [`Report`] it was written from
/// (`loadgen report`): its recorded thresholds evaluated again on its
/// histograms, which gives the verdicts it recorded; a merged summary keeps
/// the list of files it was merged from. Errors name the file (exit 2).
pub fn report_from(path: &Path) -> Result<Report, Failure> {
    let input = read(path).map_err(|f| match f {
        Failure::Usage(m) => Failure::Usage(m.replacen("merge: ", "report: ", 1)),
        other => other,
    })?;
    let mut report = combine(std::slice::from_ref(&input))?;
    report.merged_from = input.merged_from.clone();
    // Read back as recorded: the diagnosis of the run that wrote it.
    report.diagnosis = input.diagnosis.clone();
    report.comparison = input.comparison.clone();
    let mut verdicts = Vec::new();
    for e in &input.thresholds {
        let t = threshold::parse(e).map_err(|why| {
            Failure::usage(format!(
                "report: {}: recorded threshold: {why}",
                path.display()
            ))
        })?;
        verdicts.push(threshold::evaluate_run(&t, &report));
    }
    report.verdicts = verdicts;
    report.skipped_thresholds = input.skipped_thresholds;
    Ok(report)
}
