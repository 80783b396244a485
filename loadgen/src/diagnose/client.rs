//! `error_onset`: the client's side of the capacity knee, the first
//! interval from which requests kept failing, and how many VUs were running
//! then ("errors started at 340 VUs (t=42 s)").

use super::util::{pct, secs};
use crate::report::Report;
use crate::server::{Finding, Severity};
use crate::stats::timeline::Point;
use std::collections::BTreeMap;

/// An interval with at least this share of its requests failed is "in
/// error".
pub const ERROR_ONSET_RATE: f64 = 0.05;

/// ...when it had at least this many requests (a lone failed request of
/// two is no onset).
pub const ERROR_ONSET_MIN_REQUESTS: u64 = 10;

/// The onset must be confirmed: of it and the intervals right after it
/// (this many in all), at least [`ERROR_ONSET_CONFIRM`] are in error.
pub const ERROR_ONSET_WINDOW: usize = 3;

/// See [`ERROR_ONSET_WINDOW`]; so one bad interval (a blip, the last one)
/// never fires.
pub const ERROR_ONSET_CONFIRM: usize = 2;

fn failed(p: &Point) -> (u64, u64) {
    let n = p.total_requests();
    let f = p.requests.iter().map(|r| r.failures).sum();
    (f, n)
}

fn in_error(p: &Point) -> bool {
    let (f, n) = failed(p);
    n >= ERROR_ONSET_MIN_REQUESTS && f as f64 >= ERROR_ONSET_RATE * n as f64
}

/// The first interval from which errors persisted.
pub fn error_onset(report: &Report) -> Option<Finding> {
    let points = &report.timeline.points;
    let i = (0..points.len()).find(|&i| {
        let window = &points[i..(i + ERROR_ONSET_WINDOW).min(points.len())];
        in_error(&points[i])
            && window.len() >= ERROR_ONSET_CONFIRM
            && window.iter().filter(|p| in_error(p)).count() >= ERROR_ONSET_CONFIRM
    })?;
    let onset = &points[i];
    let (f0, n0) = failed(onset);
    let (mut f, mut n) = (0, 0);
    let mut by_endpoint: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in &points[i..] {
        let (a, b) = failed(p);
        f += a;
        n += b;
        for r in p.requests.iter().filter(|r| r.failures > 0) {
            *by_endpoint
                .entry((r.phase.clone(), r.endpoint.clone()))
                .or_default() += r.failures;
        }
    }
    let worst = by_endpoint
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|((phase, ep), k)| format!("; most failures: {phase} {ep} ({k})"))
        .unwrap_or_default();
    let rate = |f: u64, n: u64| pct(f as f64 / n.max(1) as f64);
    // No clean interval came before: the errors are not the load's doing.
    let from_start = !points[..i]
        .iter()
        .any(|p| p.total_requests() >= ERROR_ONSET_MIN_REQUESTS);
    let advice = if from_start {
        "errors from the first interval are no capacity knee: they happen at any load, so \
         fix what fails first (the endpoint above, the server's errors: provider, \
         configuration, accounts) and measure capacity after"
            .to_string()
    } else {
        format!(
            "that is the capacity knee: plan for fewer than {} VUs per replica at this \
             configuration, or add capacity where the server findings point (pool, CPU, \
             provider, hashing); a ramp (--profile ramp) finds the knee precisely",
            onset.vus
        )
    };
    Some(Finding {
        rule: "error_onset".into(),
        severity: Severity::Critical,
        evidence: format!(
            "errors started at {} VUs (t={}){}: {} of requests failed in that interval \
             ({f0} of {n0}) and {} from then to the end ({f} of {n}){worst}",
            onset.vus,
            secs(onset.start_ms),
            if from_start { ", from the start" } else { "" },
            rate(f0, n0),
            rate(f, n)
        ),
        advice,
    })
}
