//! `hash_backlog`: password hashes (argon2, off the async workers, at most
//! HASH_CONCURRENCY at once) queued for a slot, so logins waited on the
//! hashing pool: a login storm bound by argon2's cost.

use super::util::{count, max, median, total, values, Count};
use crate::report::Report;
use crate::server::{series, totals, Finding, ScrapeTarget, Severity};

/// A queue depth at or above this (one hash waiting) counts as a backlog
/// at that scrape; [`Count::sustained`] decides whether it was more than a
/// blip.
pub const HASH_QUEUE_MIN: f64 = 1.0;

/// The run's mean hash time (queueing included) at least this many times
/// the cheapest interval's mean is also a backlog: the hashes spent most
/// of their time waiting, even if the gauge was caught empty.
pub const HASH_SLOWDOWN: f64 = 3.0;

/// ...over at least this many hashes.
pub const HASH_MIN_COUNT: f64 = 20.0;

/// Hashes queued at several scrapes, or hashing far slower than unqueued.
pub fn hash_backlog(report: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let queued: Count = count(t, series::HASH_QUEUE_DEPTH, |d| d >= HASH_QUEUE_MIN);
    let hashes = total(t, totals::HASHES).unwrap_or(0.0);
    let mean_ms = total(t, totals::HASH_SECONDS)
        .filter(|_| hashes > 0.0)
        .map(|s| 1000.0 * s / hashes);
    // The cheapest interval approximates a hash's own cost (least queueing).
    let unqueued_ms = values(t, series::HASH_MEAN_MS)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| *m > 0.0)
        .reduce(f64::min);
    let slowdown = match (mean_ms, unqueued_ms) {
        (Some(m), Some(u)) if hashes >= HASH_MIN_COUNT => Some(m / u),
        _ => None,
    };
    if !queued.sustained() && !slowdown.is_some_and(|s| s >= HASH_SLOWDOWN) {
        return None;
    }
    let depths: Vec<f64> = values(t, series::HASH_QUEUE_DEPTH)
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| *d >= HASH_QUEUE_MIN)
        .collect();
    let mut parts = Vec::new();
    if let (Some(peak), Some(mid)) = (max(t, series::HASH_QUEUE_DEPTH), median(&depths)) {
        parts.push(format!(
            "hash queue depth up to {peak:.0} (median {mid:.0} when queued) in {} of {} scrapes",
            queued.hits, queued.of
        ));
    }
    if let (Some(m), Some(u)) = (mean_ms, unqueued_ms) {
        parts.push(format!(
            "a hash took {m:.0} ms on average, queueing included, against {u:.0} ms in the \
             quietest interval ({hashes:.0} hashes)"
        ));
    }
    let in_flight = max(t, series::HASH_IN_FLIGHT)
        .map(|f| format!("; at most {f:.0} ran at once"))
        .unwrap_or_default();
    let mut advice = "logins wait for the password-hashing pool (a login storm bound by \
                      argon2's cost): raise HASH_CONCURRENCY up to the cores, tune \
                      ARGON2_MEMORY_KIB / ARGON2_ITERATIONS within your security policy, add \
                      replicas"
        .to_string();
    if logs_in_every_iteration(report) {
        advice.push_str(
            ", or have clients log in once per user rather than every iteration \
             (loadgen --login once)",
        );
    }
    Some(Finding {
        rule: "hash_backlog".into(),
        severity: Severity::Warning,
        evidence: format!("{}{in_flight}", parts.join("; ")),
        advice,
    })
}

/// Whether the run's clients logged in about once per chat turn (loadgen's
/// default `--login every-iteration`), so that logging in once is advice
/// they can still take; a run that already logs in once per user (logins
/// far fewer than turns) is not told to.
fn logs_in_every_iteration(report: &Report) -> bool {
    let count = |endpoints: &[&str]| {
        let (d, _) = report
            .aggregate
            .merged_where(|k| endpoints.contains(&&*k.endpoint));
        d.len()
    };
    let (logins, turns) = (count(&["login"]), count(&["chat", "chat_stream"]));
    logins > 0 && 2 * logins >= turns
}
