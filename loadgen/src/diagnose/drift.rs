//! Drift over a long steady run (a soak): `latency_drift` (an endpoint's
//! p50 in the last third of the steady stretch well above the first
//! third's) and `memory_drift` (the process's resident memory likewise),
//! both confirmed by a positive Theil–Sen slope, a trend robust to the odd
//! outlier interval. Only the longest stretch at one VU level counts, so a
//! ramp's rising latency is not read as a leak; a stretch shorter than
//! [`DRIFT_MIN_SPAN_MS`] never fires.

use super::util::{median, point_histogram, theil_sen, thirds, values};
use crate::report::Report;
use crate::server::{series, Finding, ScrapeTarget, Severity};
use crate::stats::timeline::Point;
use crate::stats::{add_into, new_histogram};
use std::collections::BTreeSet;

/// The steady stretch must last at least this long (10 minutes): shorter
/// runs say nothing about leaks.
pub const DRIFT_MIN_SPAN_MS: u64 = 10 * 60 * 1000;

/// ...with at least this many points (so that thirds have a few each).
pub const DRIFT_MIN_POINTS: usize = 12;

/// Last-third p50 at least this many times the first third's is drift.
pub const LATENCY_DRIFT_RATIO: f64 = 1.25;

/// ...and at least this many ms more (a 2 ms p50 becoming 3 ms is noise).
pub const LATENCY_DRIFT_MIN_MS: f64 = 10.0;

/// Requests each third of an endpoint needs.
pub const LATENCY_DRIFT_MIN_SAMPLES: u64 = 50;

/// Last-third median RSS at least this many times the first third's...
pub const MEMORY_DRIFT_RATIO: f64 = 1.2;

/// ...and at least this many MiB more.
pub const MEMORY_DRIFT_MIN_MIB: f64 = 16.0;

/// The longest run of consecutive points at one (non-zero) VU level.
pub fn steady(report: &Report) -> Option<&[Point]> {
    let p = &report.timeline.points;
    let mut best: Option<&[Point]> = None;
    let mut start = 0;
    for i in 1..=p.len() {
        if i == p.len() || p[i].vus != p[start].vus {
            let run = &p[start..i];
            if run.first().is_some_and(|x| x.vus > 0) && best.is_none_or(|b| span(run) > span(b)) {
                best = Some(run);
            }
            start = i;
        }
    }
    best.filter(|b| span(b) >= DRIFT_MIN_SPAN_MS && b.len() >= DRIFT_MIN_POINTS)
}

fn span(run: &[Point]) -> u64 {
    match (run.first(), run.last()) {
        (Some(a), Some(b)) => b.end_ms().saturating_sub(a.start_ms),
        _ => 0,
    }
}

fn minutes(ms: u64) -> f64 {
    ms as f64 / 60_000.0
}

/// An endpoint's p50 crept up across the steady stretch.
pub fn latency_drift(report: &Report) -> Option<Finding> {
    let run = steady(report)?;
    let (first, last) = thirds(run)?;
    let endpoints: BTreeSet<(String, String)> = run
        .iter()
        .flat_map(|p| {
            p.requests
                .iter()
                .map(|r| (r.phase.clone(), r.endpoint.clone()))
        })
        .collect();
    let mut worst: Option<(f64, String)> = None;
    for (phase, ep) in &endpoints {
        let keep = |ph: &str, e: &str| ph == phase && e == ep;
        let merged = |pts: &[Point]| {
            let mut h = new_histogram();
            for p in pts {
                add_into(&mut h, &point_histogram(p, keep));
            }
            h
        };
        let (a, b) = (merged(first), merged(last));
        if a.len() < LATENCY_DRIFT_MIN_SAMPLES || b.len() < LATENCY_DRIFT_MIN_SAMPLES {
            continue;
        }
        let (p_a, p_b) = (
            a.value_at_quantile(0.5) as f64 / 1000.0,
            b.value_at_quantile(0.5) as f64 / 1000.0,
        );
        if p_a <= 0.0 || p_b < LATENCY_DRIFT_RATIO * p_a || p_b - p_a < LATENCY_DRIFT_MIN_MS {
            continue;
        }
        let trend: Vec<(f64, f64)> = run
            .iter()
            .filter_map(|p| {
                let h = point_histogram(p, keep);
                (!h.is_empty()).then(|| {
                    (
                        minutes(p.start_ms),
                        h.value_at_quantile(0.5) as f64 / 1000.0,
                    )
                })
            })
            .collect();
        let Some(slope) = theil_sen(&trend).filter(|s| *s > 0.0) else {
            continue;
        };
        let ratio = p_b / p_a;
        if worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
            worst = Some((
                ratio,
                format!(
                    "at {} VUs, {phase} {ep} p50 rose from {p_a:.0} ms (first third) to {p_b:.0} ms \
                     (last third) over {:.0} min (Theil–Sen slope +{slope:.2} ms/min)",
                    run[0].vus,
                    minutes(span(run))
                ),
            ));
        }
    }
    let (_, evidence) = worst?;
    Some(Finding {
        rule: "latency_drift".into(),
        severity: Severity::Warning,
        evidence,
        advice: "latency that grows at a steady load is a leak or an accumulation: look at \
                 memory_drift and the server's series (pool, RSS, open fds), and at what grows \
                 with the run (longer sessions send more history: CHAT_HISTORY_MAX_MESSAGES \
                 bounds it; tables without an index slow down as they fill)"
            .into(),
    })
}

/// Resident memory crept up across the steady stretch.
pub fn memory_drift(report: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let run = steady(report)?;
    let (from, to) = (run.first()?.start_ms, run.last()?.end_ms());
    let rss: Vec<(u64, f64)> = values(t, series::RSS_MIB)
        .into_iter()
        .filter(|(at, _)| (from..=to).contains(at))
        .collect();
    if rss.len() < DRIFT_MIN_POINTS {
        return None;
    }
    let (first, last) = thirds(&rss)?;
    let m = |v: &[(u64, f64)]| median(&v.iter().map(|(_, x)| *x).collect::<Vec<_>>());
    let (a, b) = (m(first)?, m(last)?);
    if a <= 0.0 || b < MEMORY_DRIFT_RATIO * a || b - a < MEMORY_DRIFT_MIN_MIB {
        return None;
    }
    let trend: Vec<(f64, f64)> = rss.iter().map(|(at, x)| (minutes(*at), *x)).collect();
    let slope = theil_sen(&trend).filter(|s| *s > 0.0)?;
    Some(Finding {
        rule: "memory_drift".into(),
        severity: Severity::Warning,
        evidence: format!(
            "at {} VUs, resident memory rose from {a:.0} MiB (first third) to {b:.0} MiB (last \
             third) over {:.0} min (Theil–Sen slope +{slope:.2} MiB/min)",
            run[0].vus,
            minutes(span(run))
        ),
        advice: "memory that grows at a steady load is a leak or an unbounded cache: take a heap \
                 profile of a replica, check caches and per-session state; until fixed, recycle \
                 replicas before they reach their memory limit"
            .into(),
    })
}
