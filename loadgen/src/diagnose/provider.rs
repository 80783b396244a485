//! The provider's own troubles, as the backend counted them:
//! `provider_429` (a quota), `provider_retries` (retries that inflate the
//! tail) and `breaker_opened` (the circuit breaker shed the provider).
//! Any of them present is worth knowing, so these fire at the first one;
//! how many decides the severity.

use super::util::{chat_histogram, count, ms, total, values};
use crate::report::Report;
use crate::server::{series, totals, Finding, ScrapeTarget, Severity};
use crate::stats::Summary;

/// 429s on at least this share of provider calls is critical: the quota,
/// not the service, sets the throughput.
pub const PROVIDER_429_CRITICAL_SHARE: f64 = 0.1;

/// Retries on fewer than this share of calls are informational (the odd
/// transient error, retried as designed); more is a warning.
pub const RETRIES_WARNING_SHARE: f64 = 0.01;

/// The breaker's gauge at or above this was not closed (1 half-open, 2 open).
pub const BREAKER_NOT_CLOSED: f64 = 1.0;

/// The count of `total_name`, else the sum of the `_per_s` series over the
/// scrape intervals.
fn counted(t: &ScrapeTarget, total_name: &str, per_s: &str) -> f64 {
    if let Some(n) = total(t, total_name) {
        return n;
    }
    let v = values(t, per_s);
    v.windows(2)
        .map(|w| w[1].1 * (w[1].0.saturating_sub(w[0].0)) as f64 / 1000.0)
        .sum()
}

/// "of 1,234 calls (5.0%)", when the calls are known.
fn of_calls(n: f64, calls: Option<f64>) -> (String, Option<f64>) {
    match calls.filter(|c| *c > 0.0) {
        Some(c) => (
            format!(" of {c:.0} provider calls ({:.1}%)", 100.0 * n / c),
            Some(n / c),
        ),
        None => (String::new(), None),
    }
}

/// Any provider 429.
pub fn provider_429(_: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let n = counted(t, totals::PROVIDER_429, series::PROVIDER_429_PER_S);
    if n < 1.0 {
        return None;
    }
    let (text, share) = of_calls(n, total(t, totals::PROVIDER_CALLS));
    Some(Finding {
        rule: "provider_429".into(),
        severity: if share.is_some_and(|s| s >= PROVIDER_429_CRITICAL_SHARE) {
            Severity::Critical
        } else {
            Severity::Warning
        },
        evidence: format!("the provider answered 429 (rate limited) {n:.0} times{text}"),
        advice: "a provider quota (requests or tokens per minute) was hit: raise the quota or \
                 spread load over deployments, lower the load, and keep PROVIDER_MAX_RETRIES \
                 small (retries honour Retry-After and add to the tail)"
            .into(),
    })
}

/// Any provider retry.
pub fn provider_retries(report: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let n = counted(t, totals::PROVIDER_RETRIES, series::PROVIDER_RETRIES_PER_S);
    if n < 1.0 {
        return None;
    }
    let (text, share) = of_calls(n, total(t, totals::PROVIDER_CALLS));
    let s = Summary::of(&chat_histogram(report));
    let tail = if s.count > 0 {
        format!("; chat p50 {:.0} ms, p99 {:.0} ms", ms(s.med), ms(s.p99))
    } else {
        String::new()
    };
    Some(Finding {
        rule: "provider_retries".into(),
        severity: if share.is_some_and(|s| s < RETRIES_WARNING_SHARE) {
            Severity::Info
        } else {
            Severity::Warning
        },
        evidence: format!("the backend retried provider calls {n:.0} times{text}{tail}"),
        advice: "each retry adds a whole provider call to the turn's time and inflates the tail: \
                 cap PROVIDER_MAX_RETRIES, bound the whole call with PROVIDER_DEADLINE_SECONDS \
                 (retries and waits included; PROVIDER_TIMEOUT_SECONDS per attempt) within \
                 the client's patience, and find why calls fail (429s: the quota)"
            .into(),
    })
}

/// The circuit breaker left the closed state: seen by the state gauge at a
/// scrape, or by its opening counter (a breaker that opened and closed
/// again between two scrapes).
pub fn breaker_opened(_: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let v = values(t, series::BREAKER_STATE);
    let first = v.iter().find(|(_, s)| *s >= BREAKER_NOT_CLOSED);
    let openings = total(t, totals::BREAKER_OPENED).filter(|n| *n > 0.0);
    if first.is_none() && openings.is_none() {
        return None;
    }
    let c = count(t, series::BREAKER_STATE, |s| s >= BREAKER_NOT_CLOSED);
    let open = count(t, series::BREAKER_STATE, |s| s >= 2.0);
    let errors = total(t, totals::PROVIDER_ERRORS)
        .filter(|e| *e > 0.0)
        .map(|e| format!("; {e:.0} provider errors in the run"))
        .unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(n) = openings {
        parts.push(format!(
            "the provider's circuit breaker opened {n:.0} time{}",
            if n == 1.0 { "" } else { "s" }
        ));
    }
    if let Some(first) = first {
        parts.push(format!(
            "{}not closed in {} of {} scrapes ({} open), first at t={}",
            if parts.is_empty() {
                "the provider's circuit breaker was "
            } else {
                "it was "
            },
            c.hits,
            c.of,
            open.hits,
            super::util::secs(first.0)
        ));
    } else {
        parts.push("closed again at every scrape".into());
    }
    Some(Finding {
        rule: "breaker_opened".into(),
        severity: Severity::Critical,
        evidence: format!("{}{errors}", parts.join("; ")),
        advice: "the provider failed often enough that chat turns were refused (503) without \
                 calling it: fix the provider's errors or quota first; PROVIDER_CB_FAILURE_RATIO, \
                 PROVIDER_CB_WINDOW, PROVIDER_CB_MIN_CALLS and PROVIDER_CB_OPEN_SECONDS set how \
                 eagerly it opens and how long it stays open"
            .into(),
    })
}
