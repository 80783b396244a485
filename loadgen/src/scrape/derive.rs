//! Readings ([`Reading`]) of one endpoint over the run turned into the
//! series and totals of [`ScrapeTarget`] (names in [`crate::server`]).
//!
//! - A gauge is its value at the scrape.
//! - A `_per_s` series is the counter's increase since the previous scrape
//!   over the seconds between the two answers; `None` at the first scrape.
//! - A `_mean_ms` series is a histogram's sum increase over its count
//!   increase (an exact mean); `None` where nothing was observed between
//!   the two scrapes.
//! - A counter that goes down was reset (the process restarted): its
//!   increase is then its new value, never a negative rate.
//! - A total is the counter's increase from the first scrape (taken before
//!   the load started) to the last, added up scrape by scrape with the same
//!   reset rule.
//!
//! Figures are kept to a millionth.

use super::parse::{Reading, SumCount};
use crate::server::{series, totals, ScrapeTarget};
use std::collections::BTreeMap;

/// One successful scrape: when it was answered and what it said.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    /// Milliseconds since the run started (0 for the scrape taken before).
    pub t_ms: u64,
    /// Seconds on a monotonic clock (only differences count), for rates.
    pub at_s: f64,
    /// The figures.
    pub reading: Reading,
}

/// A counter's increase from `prev` to `cur`, resets counted from zero.
fn increase(prev: f64, cur: f64) -> f64 {
    if cur >= prev {
        cur - prev
    } else {
        cur
    }
}

fn hist_increase(prev: SumCount, cur: SumCount) -> SumCount {
    if cur.count < prev.count || cur.sum < prev.sum {
        cur
    } else {
        SumCount {
            sum: cur.sum - prev.sum,
            count: cur.count - prev.count,
        }
    }
}

type Gauge = fn(&Reading) -> Option<f64>;
type Counter = fn(&Reading) -> Option<f64>;
type Hist = fn(&Reading) -> Option<SumCount>;

const GAUGES: &[(&str, Gauge)] = &[
    (series::DB_POOL_SIZE, |r| r.db_pool_size),
    (series::DB_POOL_CHECKED_OUT, |r| r.db_pool_checked_out),
    (series::DB_POOL_MAX, |r| r.db_pool_max),
    (series::DB_POOL_USAGE_RATIO, |r| {
        r.db_pool_usage_ratio
            .or_else(|| match (r.db_pool_checked_out, r.db_pool_max) {
                (Some(out), Some(max)) if max > 0.0 => Some(out / max),
                _ => None,
            })
    }),
    (series::HTTP_IN_FLIGHT, |r| r.http_in_flight),
    (series::BREAKER_STATE, |r| r.breaker_state),
    (series::HASH_QUEUE_DEPTH, |r| r.hash_queue_depth),
    (series::HASH_IN_FLIGHT, |r| r.hash_in_flight),
    (series::HISTORY_MAX_MESSAGES, |r| r.history_max),
    (series::HOST_CPUS, |r| r.host_cpus),
    (series::RSS_MIB, |r| {
        r.rss_bytes.map(|b| b / (1024.0 * 1024.0))
    }),
    (series::OPEN_FDS, |r| r.open_fds),
    (series::MODEL_RUNNING, |r| r.model_running),
    (series::MODEL_WAITING, |r| r.model_waiting),
];

const RATES: &[(&str, Counter)] = &[
    (series::PROVIDER_CALLS_PER_S, |r| r.provider_calls),
    (series::PROVIDER_ERRORS_PER_S, |r| r.provider_errors),
    (series::PROVIDER_429_PER_S, |r| r.provider_429),
    (series::PROVIDER_RETRIES_PER_S, |r| r.provider_retries),
    (series::RATE_LIMITED_PER_S, |r| r.rate_limited),
    (series::CPU_CORES, |r| r.cpu_seconds),
    (series::UPSTREAM_REQUESTS_PER_S, |r| r.upstream_requests),
    (series::UPSTREAM_429_PER_S, |r| r.upstream_429),
    (series::UPSTREAM_ERRORS_PER_S, |r| r.upstream_errors),
    (series::UPSTREAM_TOKENS_PER_S, |r| r.upstream_tokens),
];

/// Means of a histogram's increase, and the unit factor (seconds to ms).
const MEANS: &[(&str, Hist, f64)] = &[
    (series::CHAT_MEAN_MS, |r| r.chat, 1000.0),
    (series::PROVIDER_MEAN_MS, |r| r.provider_latency, 1000.0),
    (series::HASH_MEAN_MS, |r| r.hash, 1000.0),
    (series::HISTORY_MESSAGES_MEAN, |r| r.history, 1.0),
];

const COUNTER_TOTALS: &[(&str, Counter)] = &[
    (totals::PROVIDER_CALLS, |r| r.provider_calls),
    (totals::PROVIDER_ERRORS, |r| r.provider_errors),
    (totals::PROVIDER_429, |r| r.provider_429),
    (totals::PROVIDER_RETRIES, |r| r.provider_retries),
    (totals::BREAKER_OPENED, |r| r.breaker_opened),
    (totals::CPU_SECONDS, |r| r.cpu_seconds),
    (totals::RATE_LIMITED, |r| r.rate_limited),
    (totals::UPSTREAM_REQUESTS, |r| r.upstream_requests),
    (totals::UPSTREAM_429, |r| r.upstream_429),
    (totals::UPSTREAM_ERRORS, |r| r.upstream_errors),
];

/// Totals of a histogram: (its sum's name, its count's name).
const HIST_TOTALS: &[(Option<&str>, Option<&str>, Hist)] = &[
    (Some(totals::PROVIDER_SECONDS), None, |r| r.provider_latency),
    (Some(totals::CHAT_SECONDS), Some(totals::CHAT_TURNS), |r| {
        r.chat
    }),
    (Some(totals::HASH_SECONDS), Some(totals::HASHES), |r| r.hash),
];

/// To a millionth: finer than any figure here means, and a value that
/// survives summary.json's text exactly (a decimal of few digits parses
/// back to the same double), so a summary read back equals the run's.
fn round6(x: f64) -> f64 {
    if x.is_finite() && x.abs() < 1e9 {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

/// Pairs of consecutive scrapes where both readings have a value.
fn steps<'a, T: Copy + 'a>(
    scraped: &'a [Scraped],
    pick: impl Fn(&Reading) -> Option<T> + 'a,
) -> impl Iterator<Item = (T, T)> + 'a {
    scraped
        .windows(2)
        .filter_map(move |w| Some((pick(&w[0].reading)?, pick(&w[1].reading)?)))
}

/// Fills `target`'s `t_ms`, `series` and `totals` from its successful
/// scrapes, in order.
pub fn fill(target: &mut ScrapeTarget, scraped: &[Scraped]) {
    target.t_ms = scraped.iter().map(|s| s.t_ms).collect();
    let mut out: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (name, pick) in GAUGES {
        out.insert(
            (*name).into(),
            scraped.iter().map(|s| pick(&s.reading)).collect(),
        );
    }
    for (name, pick) in RATES {
        let mut col = vec![None];
        col.extend(scraped.windows(2).map(|w| {
            let dt = w[1].at_s - w[0].at_s;
            let (a, b) = (pick(&w[0].reading)?, pick(&w[1].reading)?);
            (dt > 0.0).then(|| increase(a, b) / dt)
        }));
        col.truncate(scraped.len());
        out.insert((*name).into(), col);
    }
    for (name, pick, unit) in MEANS {
        let mut col = vec![None];
        col.extend(scraped.windows(2).map(|w| {
            let d = hist_increase(pick(&w[0].reading)?, pick(&w[1].reading)?);
            (d.count > 0.0).then(|| d.sum / d.count * unit)
        }));
        col.truncate(scraped.len());
        out.insert((*name).into(), col);
    }
    // A series the endpoint never exported is left out rather than kept as
    // a column of nulls.
    out.retain(|_, v| v.iter().any(Option::is_some));
    for v in out.values_mut().flat_map(|v| v.iter_mut()).flatten() {
        *v = round6(*v);
    }
    target.series = out;

    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for (name, pick) in COUNTER_TOTALS {
        let mut total = None;
        for (a, b) in steps(scraped, pick) {
            *total.get_or_insert(0.0) += increase(a, b);
        }
        if let Some(t) = total {
            sums.insert((*name).into(), t);
        }
    }
    for (sum_name, count_name, pick) in HIST_TOTALS {
        let mut total: Option<SumCount> = None;
        for (a, b) in steps(scraped, pick) {
            let d = hist_increase(a, b);
            let t = total.get_or_insert_with(SumCount::default);
            t.sum += d.sum;
            t.count += d.count;
        }
        if let Some(t) = total {
            if let Some(n) = sum_name {
                sums.insert((*n).into(), t.sum);
            }
            if let Some(n) = count_name {
                sums.insert((*n).into(), t.count);
            }
        }
    }
    target.totals = sums.into_iter().map(|(k, v)| (k, round6(v))).collect();
}
