//! Chat latency: `provider_dominates` (the provider's time is most of a
//! chat turn, and chat latency is a problem) and `long_tail_long_history`
//! (a long tail while turns carry nearly the most history allowed).
//!
//! # When "the provider dominates" is worth printing
//!
//! With any LLM, a healthy chat turn is mostly provider time (the mock's
//! default turn is ~0.35 s of provider and a few ms of our own). So the
//! share alone is no finding: a healthy smoke run must print none. The rule
//! fires when the provider is at least [`PROVIDER_SHARE`] of the server's
//! chat time **and** chat latency is a problem in one of these senses
//! ([`chat_problem`]):
//!
//! - a latency threshold on the chat phase failed (the user's own limit);
//! - chat p95 is above the slow level of the run's latency profile
//!   ([`SLOW_CHAT_P95_MOCK_MS`], [`SLOW_CHAT_P95_LIVE_MS`]);
//! - the tail is long: p99 at least [`TAIL_RATIO`] × p50 (and
//!   [`TAIL_MIN_GAP_MS`] apart, over [`TAIL_MIN_SAMPLES`] turns);
//! - chat p50 grew with load: at the highest VU level at least
//!   [`GROWTH_RATIO`] × (and [`GROWTH_MIN_MS`] above) the lowest level's.
//!
//! Then the knobs are the provider's: its timeout, retries, breaker, quota.

use super::util::{chat_by_vus, chat_histogram, max, median, ms, total, values, CHAT_PHASE};
use crate::profile::LatencyProfile;
use crate::report::Report;
use crate::server::{series, totals, Finding, ScrapeTarget, Severity};
use crate::stats::Summary;
use crate::threshold::Metric;

/// Provider seconds / chat seconds (server side) at or above this: the
/// provider is most of a chat turn.
pub const PROVIDER_SHARE: f64 = 0.75;

/// Chat p95 above this is slow under the `mock` latency profile (the
/// default mock turn takes ~0.35 s; four times that is no mock's normal).
pub const SLOW_CHAT_P95_MOCK_MS: f64 = 1500.0;

/// Chat p95 above this is slow under the `live` latency profile (a live
/// model answers a short prompt in a few seconds).
pub const SLOW_CHAT_P95_LIVE_MS: f64 = 10_000.0;

/// p99 at least this many times p50 is a long tail.
pub const TAIL_RATIO: f64 = 3.0;

/// ...and at least this far apart, so that a 2 ms p50 with a 7 ms p99 (an
/// instant mock on a busy machine) is no tail.
pub const TAIL_MIN_GAP_MS: f64 = 250.0;

/// ...over at least this many chat turns (fewer have no p99 to speak of).
pub const TAIL_MIN_SAMPLES: u64 = 100;

/// Chat p50 at the highest VU level at least this many times the lowest
/// level's is latency growing with load.
pub const GROWTH_RATIO: f64 = 1.5;

/// ...and at least this many ms higher.
pub const GROWTH_MIN_MS: f64 = 100.0;

/// Chat turns a VU level needs before its p50 is compared.
pub const GROWTH_MIN_SAMPLES: u64 = 20;

/// History messages sent with a turn at or above this share of
/// CHAT_HISTORY_MAX_MESSAGES is "near the limit".
pub const HISTORY_NEAR_MAX: f64 = 0.8;

/// The chat tail, when it is long (see [`TAIL_RATIO`]).
fn long_tail(s: &Summary) -> Option<String> {
    let (p50, p99) = (ms(s.med), ms(s.p99));
    (s.count >= TAIL_MIN_SAMPLES
        && p50 > 0.0
        && p99 >= TAIL_RATIO * p50
        && p99 - p50 >= TAIL_MIN_GAP_MS)
        .then(|| {
            format!(
                "chat p99 {p99:.0} ms is {:.1}× its p50 {p50:.0} ms",
                p99 / p50
            )
        })
}

/// Why chat latency is a problem in this run, if it is (the module
/// documentation lists the senses).
pub fn chat_problem(report: &Report) -> Option<String> {
    if let Some(v) = report.verdicts.iter().find(|v| {
        !v.passed
            && v.threshold.tag("phase") == Some(CHAT_PHASE)
            && matches!(
                v.threshold.metric,
                Metric::Duration | Metric::Waiting | Metric::Stream(_)
            )
    }) {
        let actual = v
            .actual
            .map(|a| format!(" (actual {a:.0})"))
            .unwrap_or_default();
        return Some(format!("the threshold {} failed{actual}", v.threshold));
    }
    let s = Summary::of(&chat_histogram(report));
    if s.count == 0 {
        return None;
    }
    let slow = match report.latency_profile {
        Some(LatencyProfile::Live) => SLOW_CHAT_P95_LIVE_MS,
        _ => SLOW_CHAT_P95_MOCK_MS,
    };
    if ms(s.p95) > slow {
        let profile = report.latency_profile.map_or("mock", |l| l.name());
        return Some(format!(
            "chat p95 is {:.0} ms, above the {slow:.0} ms a {profile} provider should take",
            ms(s.p95)
        ));
    }
    if let Some(tail) = long_tail(&s) {
        return Some(tail);
    }
    let levels: Vec<(u64, Summary)> = chat_by_vus(report)
        .iter()
        .map(|(vus, h)| (*vus, Summary::of(h)))
        .filter(|(_, s)| s.count >= GROWTH_MIN_SAMPLES)
        .collect();
    if let (Some((lo_vus, lo)), Some((hi_vus, hi))) = (levels.first(), levels.last()) {
        let (a, b) = (ms(lo.med), ms(hi.med));
        if hi_vus > lo_vus && a > 0.0 && b >= GROWTH_RATIO * a && b - a >= GROWTH_MIN_MS {
            return Some(format!(
                "chat p50 grew from {a:.0} ms at {lo_vus} VUs to {b:.0} ms at {hi_vus} VUs"
            ));
        }
    }
    None
}

/// The provider is most of the chat time and chat latency is a problem.
pub fn provider_dominates(report: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let (share, means) = provider_share(t)?;
    if share < PROVIDER_SHARE {
        return None;
    }
    let problem = chat_problem(report)?;
    Some(Finding {
        rule: "provider_dominates".into(),
        severity: Severity::Warning,
        evidence: format!(
            "provider calls took {:.0}% of the server's chat time{means}, and {problem}",
            100.0 * share.min(1.0)
        ),
        advice: "the LLM provider sets chat latency, not this service: bound it with \
                 PROVIDER_TIMEOUT_SECONDS (per attempt) and PROVIDER_DEADLINE_SECONDS (whole \
                 call), keep PROVIDER_MAX_RETRIES low so retries do not \
                 stack up, let the breaker (PROVIDER_CB_*) shed a failing provider, and check \
                 the provider's quota and region; more replicas or pool would not help"
            .into(),
    })
}

/// Provider time / chat time on the server, with the means as text: from
/// the run's totals, else from the medians of the per-interval means.
fn provider_share(t: &ScrapeTarget) -> Option<(f64, String)> {
    let text =
        |p: f64, c: f64| format!(" (a provider call {p:.0} ms, a chat turn {c:.0} ms on average)");
    if let (Some(provider_s), Some(chat_s)) = (
        total(t, totals::PROVIDER_SECONDS),
        total(t, totals::CHAT_SECONDS).filter(|c| *c > 0.0),
    ) {
        let calls = total(t, totals::PROVIDER_CALLS).filter(|c| *c > 0.0);
        let turns = total(t, totals::CHAT_TURNS).filter(|c| *c > 0.0);
        let means = match (calls, turns) {
            (Some(c), Some(n)) => text(1000.0 * provider_s / c, 1000.0 * chat_s / n),
            _ => String::new(),
        };
        return Some((provider_s / chat_s, means));
    }
    let m = |name: &str| {
        median(
            &values(t, name)
                .into_iter()
                .map(|(_, x)| x)
                .collect::<Vec<_>>(),
        )
    };
    let (p, c) = (m(series::PROVIDER_MEAN_MS)?, m(series::CHAT_MEAN_MS)?);
    (c > 0.0).then(|| (p / c, text(p, c)))
}

/// A long chat tail while turns carry nearly CHAT_HISTORY_MAX_MESSAGES.
pub fn long_tail_long_history(report: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let limit = max(t, series::HISTORY_MAX_MESSAGES).filter(|m| *m > 0.0)?;
    let history = max(t, series::HISTORY_MESSAGES_MEAN)?;
    if history < HISTORY_NEAR_MAX * limit {
        return None;
    }
    let tail = long_tail(&Summary::of(&chat_histogram(report)))?;
    Some(Finding {
        rule: "long_tail_long_history".into(),
        severity: Severity::Warning,
        evidence: format!(
            "{tail}, while turns carried up to {history:.1} history messages on average \
             (CHAT_HISTORY_MAX_MESSAGES is {limit:.0})"
        ),
        advice: "long conversations make long prompts: lower CHAT_HISTORY_MAX_MESSAGES (fewer \
                 tokens to the provider, a smaller context read) or summarise old turns"
            .into(),
    })
}
