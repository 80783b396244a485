//! Every rule on synthetic reports: a healthy run fires none, and each rule
//! is tested on both sides of its thresholds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::engine::Ended;
use crate::report::Mode;
use crate::server::{series as s, totals as tt, ServerSeries};
use crate::stats::timeline::Point;
use crate::stats::{Aggregate, Record, RequestRecord, Timeline};
use crate::threshold;
use std::sync::Arc;
use std::time::Duration;

const URL: &str = "http://127.0.0.1:8000/api/metrics";

fn request(phase: &str, endpoint: &str, status: u16, ms: u64) -> Record {
    Record::Request(RequestRecord {
        phase: Arc::from(phase),
        endpoint: Arc::from(endpoint),
        status: Some(status),
        error: None,
        duration: Duration::from_millis(ms),
        waiting: Duration::from_millis(ms),
        bytes_sent: 100,
        bytes_received: 100,
    })
}

/// One interval: its VUs and what ended in it.
struct Interval {
    vus: u64,
    records: Vec<Record>,
}

/// `n` chat turns around `ms` (±5%, deterministic), plus as many logins.
fn turns(n: usize, ms: u64, status: u16) -> Vec<Record> {
    (0..n)
        .flat_map(|i| {
            let jitter = ms * (i as u64 % 11) / 200;
            [
                request("chat", "chat", status, ms - ms / 40 + jitter),
                request("auth", "login", 200, 40 + i as u64 % 7),
            ]
        })
        .collect()
}

/// A report of `intervals` of `every_ms` each, thresholds evaluated.
fn report_of(intervals: Vec<Interval>, every_ms: u64, thresholds: &[&str]) -> Report {
    let mut timeline = Timeline::new(Duration::from_millis(every_ms));
    let mut aggregate = Aggregate::default();
    let mut vus_max = 0;
    for (i, iv) in intervals.iter().enumerate() {
        let mut a = Aggregate::default();
        for r in &iv.records {
            a.record(r);
        }
        aggregate.merge(&a);
        vus_max = vus_max.max(iv.vus);
        timeline
            .push(Point::from_interval(
                &a,
                i as u64 * every_ms,
                every_ms,
                iv.vus,
            ))
            .unwrap();
    }
    let duration = Duration::from_millis(every_ms * intervals.len() as u64);
    let verdicts = thresholds
        .iter()
        .map(|t| threshold::evaluate(&threshold::parse(t).unwrap(), &aggregate, duration))
        .collect();
    Report {
        mode: Mode::Run,
        target: "http://127.0.0.1:8000".into(),
        profile: Some("smoke".into()),
        latency_profile: Some(crate::profile::LatencyProfile::Mock),
        seed: Some(1),
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        duration,
        aggregate,
        timeline,
        vus_max_planned: u32::try_from(vus_max).unwrap(),
        vus_max,
        verdicts,
        skipped_thresholds: Vec::new(),
        ended: Ended::Completed,
        aborted: None,
        merged_from: Vec::new(),
        server: None,
        diagnosis: Vec::new(),
    }
}

/// 20 one-second intervals at 5 VUs of ~350 ms chat turns, no errors.
fn healthy_client() -> Report {
    let intervals = (0..20)
        .map(|_| Interval {
            vus: 5,
            records: turns(12, 350, 200),
        })
        .collect();
    report_of(
        intervals,
        1000,
        &["http_req_duration{phase:chat}: p(95)<25000"],
    )
}

/// A healthy backend's scrapes: 20, one a second, a 10-connection pool
/// lightly used, a mock provider that is 95% of each chat turn, no queue,
/// no 429s, no retries, a closed breaker, flat memory.
fn healthy_target() -> ScrapeTarget {
    let n = 20;
    let mut t = ScrapeTarget {
        url: URL.into(),
        scrapes: n,
        failures: 0,
        last_error: None,
        t_ms: (0..n).map(|i| i * 1000).collect(),
        ..ScrapeTarget::default()
    };
    let cycle = |v: &[f64]| -> Vec<f64> { (0..n).map(|i| v[i as usize % v.len()]).collect() };
    set(&mut t, s::DB_POOL_MAX, vec![10.0; n as usize]);
    set(&mut t, s::DB_POOL_SIZE, vec![4.0; n as usize]);
    set(&mut t, s::DB_POOL_CHECKED_OUT, cycle(&[0.0, 1.0, 2.0, 1.0]));
    set(&mut t, s::DB_POOL_USAGE_RATIO, cycle(&[0.0, 0.1, 0.2, 0.1]));
    set(&mut t, s::CPU_CORES, cycle(&[0.2, 0.3, 0.25]));
    set(&mut t, s::HOST_CPUS, vec![2.0; n as usize]);
    set(&mut t, s::HASH_QUEUE_DEPTH, vec![0.0; n as usize]);
    set(&mut t, s::HASH_IN_FLIGHT, cycle(&[0.0, 1.0]));
    set(&mut t, s::HASH_MEAN_MS, cycle(&[40.0, 45.0, 42.0]));
    set(&mut t, s::BREAKER_STATE, vec![0.0; n as usize]);
    set(&mut t, s::PROVIDER_429_PER_S, vec![0.0; n as usize]);
    set(&mut t, s::PROVIDER_RETRIES_PER_S, vec![0.0; n as usize]);
    set(&mut t, s::HISTORY_MESSAGES_MEAN, cycle(&[2.0, 3.0, 4.0]));
    set(&mut t, s::HISTORY_MAX_MESSAGES, vec![40.0; n as usize]);
    set(&mut t, s::RSS_MIB, cycle(&[60.0, 61.0, 60.5]));
    for (k, v) in [
        (tt::PROVIDER_CALLS, 240.0),
        (tt::PROVIDER_SECONDS, 240.0 * 0.333),
        (tt::CHAT_TURNS, 240.0),
        (tt::CHAT_SECONDS, 240.0 * 0.35),
        (tt::PROVIDER_ERRORS, 0.0),
        (tt::PROVIDER_429, 0.0),
        (tt::PROVIDER_RETRIES, 0.0),
        (tt::HASHES, 240.0),
        (tt::HASH_SECONDS, 240.0 * 0.042),
    ] {
        t.totals.insert(k.into(), v);
    }
    t
}

fn set(t: &mut ScrapeTarget, name: &str, v: Vec<f64>) {
    t.series
        .insert(name.into(), v.into_iter().map(Some).collect());
}

fn with_server(mut r: Report, t: ScrapeTarget) -> Report {
    r.server = Some(ServerSeries { targets: vec![t] });
    r
}

fn healthy() -> Report {
    with_server(healthy_client(), healthy_target())
}

fn rules(r: &Report) -> Vec<String> {
    diagnose(r).into_iter().map(|f| f.rule).collect()
}

fn finding(r: &Report, rule: &str) -> Finding {
    diagnose(r)
        .into_iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("{rule} did not fire: {:?}", diagnose(r)))
}

/// `values` for the first `k` scrapes of 20, `rest` for the others.
fn first(k: usize, value: f64, rest: f64) -> Vec<f64> {
    (0..20).map(|i| if i < k { value } else { rest }).collect()
}

#[test]
fn a_healthy_run_has_no_findings() {
    let r = healthy();
    assert_eq!(rules(&r), Vec::<String>::new());
    assert_eq!(rules_checked(&r), RULES.len());
    let mut r = r;
    r.diagnosis = diagnose(&r);
    assert_eq!(
        render(&r),
        format!("  diagnosis: no findings (11 rules checked; server metrics: {URL})\n")
    );
}

#[test]
fn without_server_metrics_only_client_rules_run_and_the_output_says_so() {
    let r = healthy_client();
    assert_eq!(rules_checked(&r), 2);
    assert!(diagnose(&r).is_empty());
    assert!(render(&r).contains("(2 rules checked; server metrics: none)"));
    // A target without the backend's pool gauge (another exporter) is no
    // server target either.
    let mut other = healthy_target();
    other.series.remove(s::DB_POOL_MAX);
    let r = with_server(healthy_client(), other);
    assert!(server_target(&r).is_none());
    assert_eq!(rules_checked(&r), 2);
}

#[test]
fn db_pool_saturated_fires_when_sustained_with_its_usage_figure() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_MAX, vec![2.0; 20]);
    set(&mut t, s::DB_POOL_CHECKED_OUT, first(14, 2.0, 1.0));
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let f = finding(&with_server(healthy_client(), t), "db_pool_saturated");
    assert_eq!(
        f.evidence,
        "pool usage ratio 1.00 (2 of 2 connections checked out) at its peak, above 0.85 in 14 of 20 scrapes"
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("DB_POOL_SIZE") && f.advice.contains("max_connections"));
}

#[test]
fn db_pool_saturated_ignores_a_blip_and_a_ratio_at_the_limit() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(2, 1.0, 0.2));
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
    let mut t = healthy_target();
    set(
        &mut t,
        s::DB_POOL_USAGE_RATIO,
        vec![POOL_RATIO_AT_LIMIT; 20],
    );
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
    // Five of twenty (25%): sustained, a warning.
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(5, 0.9, 0.2));
    let f = finding(&with_server(healthy_client(), t), "db_pool_saturated");
    assert_eq!(f.severity, Severity::Warning);
    // Without the ratio series, checked out / max stands in.
    let mut t = healthy_target();
    t.series.remove(s::DB_POOL_USAGE_RATIO);
    set(&mut t, s::DB_POOL_CHECKED_OUT, first(6, 10.0, 1.0));
    assert!(rules(&with_server(healthy_client(), t)).contains(&"db_pool_saturated".into()));
}

const POOL_RATIO_AT_LIMIT: f64 = pool::POOL_SATURATED_RATIO;

#[test]
fn cpu_saturated_needs_busy_cpus_and_an_idle_pool() {
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, first(10, 1.9, 0.4));
    let f = finding(&with_server(healthy_client(), t.clone()), "cpu_saturated");
    assert!(
        f.evidence.starts_with("the process used 1.90 of 2 CPUs"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("in 10 of 20 scrapes"), "{}", f.evidence);
    assert!(f.advice.contains("WORKER_THREADS") && f.advice.contains("replicas"));
    // The pool busy: not this rule.
    set(&mut t, s::DB_POOL_USAGE_RATIO, vec![0.9; 20]);
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"cpu_saturated".into()));
    // Busy hashing (hashes queued at those scrapes): hash_backlog's, not this.
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, first(10, 1.9, 0.4));
    set(&mut t, s::HASH_QUEUE_DEPTH, first(10, 8.0, 0.0));
    let r = rules(&with_server(healthy_client(), t));
    assert!(!r.contains(&"cpu_saturated".into()), "{r:?}");
    assert!(r.contains(&"hash_backlog".into()), "{r:?}");
    // Below 85% of the CPUs.
    let mut t = healthy_target();
    set(&mut t, s::CPU_CORES, vec![1.6; 20]);
    assert!(!rules(&with_server(healthy_client(), t)).contains(&"cpu_saturated".into()));
}

fn slow_client(ms: u64) -> Report {
    let intervals = (0..20)
        .map(|_| Interval {
            vus: 5,
            records: turns(12, ms, 200),
        })
        .collect();
    report_of(intervals, 1000, &[])
}

#[test]
fn provider_dominates_fires_only_when_chat_latency_is_a_problem() {
    // A healthy mock run: 95% provider, but fast: nothing (the healthy test).
    // Slow: p95 above the mock's slow level.
    let f = finding(
        &with_server(slow_client(2000), healthy_target()),
        "provider_dominates",
    );
    assert!(f.evidence.starts_with("provider calls took 95% of the server's chat time (a provider call 333 ms, a chat turn 350 ms on average), and chat p95 is 20"), "{}", f.evidence);
    assert!(f
        .evidence
        .contains("above the 1500 ms a mock provider should take"));
    assert!(f.advice.contains("PROVIDER_TIMEOUT_SECONDS") && f.advice.contains("PROVIDER_CB_"));
    // Just under the slow level: no problem, no finding.
    assert!(diagnose(&with_server(slow_client(1300), healthy_target())).is_empty());
    // Under a live latency profile 2 s is normal.
    let mut live = slow_client(2000);
    live.latency_profile = Some(crate::profile::LatencyProfile::Live);
    assert!(diagnose(&with_server(live, healthy_target())).is_empty());
    // Without totals, the medians of the per-interval means stand in.
    let mut t = healthy_target();
    t.totals.clear();
    set(&mut t, s::PROVIDER_MEAN_MS, vec![1950.0; 20]);
    set(&mut t, s::CHAT_MEAN_MS, vec![2000.0; 20]);
    let f = finding(&with_server(slow_client(2000), t), "provider_dominates");
    assert!(f.evidence.starts_with("provider calls took 98% of the server's chat time (a provider call 1950 ms, a chat turn 2000 ms on average)"), "{}", f.evidence);
    // Slow, but the provider is only half the chat time: not the provider.
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_SECONDS.into(), 240.0 * 0.175);
    assert!(!rules(&with_server(slow_client(2000), t)).contains(&"provider_dominates".into()));
}

#[test]
fn provider_dominates_counts_a_failed_chat_threshold_and_growth_under_load() {
    let intervals = (0..20)
        .map(|_| Interval {
            vus: 5,
            records: turns(12, 350, 200),
        })
        .collect();
    let r = report_of(
        intervals,
        1000,
        &["http_req_duration{phase:chat}: p(95)<300"],
    );
    let f = finding(&with_server(r, healthy_target()), "provider_dominates");
    assert!(
        f.evidence
            .contains("the threshold http_req_duration{phase:chat}: p(95)<300 failed"),
        "{}",
        f.evidence
    );
    // A ramp whose chat p50 goes from 350 ms at 1 VU to 700 ms at 20.
    let ramp = |top: u64| {
        (0..20)
            .map(|i| Interval {
                vus: if i < 10 { 1 } else { 20 },
                records: turns(12, if i < 10 { 350 } else { top }, 200),
            })
            .collect()
    };
    let f = finding(
        &with_server(report_of(ramp(700), 1000, &[]), healthy_target()),
        "provider_dominates",
    );
    assert!(
        f.evidence
            .contains("chat p50 grew from 349 ms at 1 VUs to 697 ms at 20 VUs"),
        "{}",
        f.evidence
    );
    // 1.3× is within what load may cost.
    assert!(diagnose(&with_server(
        report_of(ramp(455), 1000, &[]),
        healthy_target()
    ))
    .is_empty());
}

#[test]
fn provider_429_and_retries_fire_on_any() {
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_429.into(), 30.0);
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 30.0);
    let r = with_server(healthy_client(), t);
    let f = finding(&r, "provider_429");
    assert_eq!(
        f.evidence,
        "the provider answered 429 (rate limited) 30 times of 240 provider calls (12.5%)"
    );
    assert_eq!(f.severity, Severity::Critical);
    let f = finding(&r, "provider_retries");
    assert!(
        f.evidence.starts_with(
            "the backend retried provider calls 30 times of 240 provider calls (12.5%); chat p50"
        ),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Warning);
    // One 429 in 240: a warning; one retry in 240 (0.4%): information.
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_429.into(), 1.0);
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 1.0);
    let r = with_server(healthy_client(), t);
    assert_eq!(finding(&r, "provider_429").severity, Severity::Warning);
    assert_eq!(finding(&r, "provider_retries").severity, Severity::Info);
    // Without totals, the per-second series are summed.
    let mut t = healthy_target();
    t.totals.clear();
    set(&mut t, s::PROVIDER_429_PER_S, first(3, 2.0, 0.0));
    let f = finding(&with_server(healthy_client(), t), "provider_429");
    assert_eq!(
        f.evidence,
        "the provider answered 429 (rate limited) 4 times"
    );
}

#[test]
fn breaker_opened_fires_on_any_scrape_not_closed() {
    let mut t = healthy_target();
    let mut v = vec![0.0; 20];
    v[12] = 2.0;
    v[13] = 2.0;
    v[14] = 1.0;
    set(&mut t, s::BREAKER_STATE, v);
    t.totals.insert(tt::PROVIDER_ERRORS.into(), 25.0);
    let f = finding(&with_server(healthy_client(), t), "breaker_opened");
    assert_eq!(
        f.evidence,
        "the provider's circuit breaker was not closed in 3 of 20 scrapes (2 open), first at t=12 s; 25 provider errors in the run"
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("PROVIDER_CB_OPEN_SECONDS"));
}

#[test]
fn hash_backlog_fires_on_a_sustained_queue_or_a_slowdown() {
    let mut t = healthy_target();
    set(&mut t, s::HASH_QUEUE_DEPTH, first(10, 6.0, 0.0));
    let f = finding(&with_server(healthy_client(), t), "hash_backlog");
    assert!(
        f.evidence
            .starts_with("hash queue depth up to 6 (median 6 when queued) in 10 of 20 scrapes"),
        "{}",
        f.evidence
    );
    assert!(f.advice.contains("HASH_CONCURRENCY") && f.advice.contains("ARGON2_"));
    // A blip in the queue, hashes at their own cost: nothing.
    let mut t = healthy_target();
    set(&mut t, s::HASH_QUEUE_DEPTH, first(2, 3.0, 0.0));
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
    // The gauge never caught a queue, but hashes took 5× the quietest
    // interval's time.
    let mut t = healthy_target();
    t.totals.insert(tt::HASH_SECONDS.into(), 240.0 * 0.2);
    let f = finding(&with_server(healthy_client(), t), "hash_backlog");
    assert!(f.evidence.contains("a hash took 200 ms on average, queueing included, against 40 ms in the quietest interval (240 hashes)"), "{}", f.evidence);
    // 2.5×: not yet.
    let mut t = healthy_target();
    t.totals.insert(tt::HASH_SECONDS.into(), 240.0 * 0.1);
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
}

/// A ramp: interval i at 10 × (i + 1) VUs, failing `fail_of_12` chat turns
/// of 12 in the intervals `bad` selects.
fn ramp(bad: impl Fn(usize) -> bool, fail_of_12: usize) -> Report {
    let intervals = (0..20)
        .map(|i| {
            let mut records = turns(12 - if bad(i) { fail_of_12 } else { 0 }, 350, 200);
            if bad(i) {
                records.extend(turns(fail_of_12, 350, 503).into_iter().step_by(2));
            }
            Interval {
                vus: 10 * (i as u64 + 1),
                records,
            }
        })
        .collect();
    report_of(intervals, 1000, &[])
}

#[test]
fn error_onset_names_the_vus_and_time_errors_started_at() {
    let f = finding(&ramp(|i| i >= 12, 3), "error_onset");
    assert!(
        f.evidence.starts_with("errors started at 130 VUs (t=12 s): 14.3% of requests failed in that interval (3 of 21) and 14.3% from then to the end (24 of 168); most failures: chat chat (24)"),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("fewer than 130 VUs"));
    // Client-side: it fires without server metrics too.
    assert!(rules(&ramp(|i| i >= 12, 3)).contains(&"error_onset".into()));
}

#[test]
fn error_onset_ignores_lone_bad_intervals_and_low_rates() {
    // One bad interval, then clean ones.
    assert!(diagnose(&ramp(|i| i == 7, 3)).is_empty());
    // Only the last interval.
    assert!(diagnose(&ramp(|i| i == 19, 3)).is_empty());
    // Every other interval bad: confirmed (two of three).
    assert!(rules(&ramp(|i| i >= 10 && i % 2 == 0, 3)).contains(&"error_onset".into()));
    // One failure in 23 requests (4.3%): below the level.
    assert!(diagnose(&ramp(|i| i >= 5, 1)).is_empty());
}

/// `n` one-minute intervals at 50 VUs, chat p50 from `from` to `to` ms.
fn soak(n: usize, every_ms: u64, from: u64, to: u64) -> Report {
    let intervals = (0..n)
        .map(|i| Interval {
            vus: 50,
            records: turns(20, from + (to - from) * i as u64 / (n as u64 - 1), 200),
        })
        .collect();
    report_of(intervals, every_ms, &[])
}

#[test]
fn latency_drift_fires_on_a_long_steady_run_only() {
    let f = finding(&soak(30, 60_000, 100, 200), "latency_drift");
    assert!(
        f.evidence
            .starts_with("at 50 VUs, chat chat p50 rose from 11"),
        "{}",
        f.evidence
    );
    assert!(
        f.evidence.contains("over 30 min (Theil–Sen slope +3."),
        "{}",
        f.evidence
    );
    // Flat: nothing.
    assert!(diagnose(&soak(30, 60_000, 100, 104)).is_empty());
    // The same rise in 30 s: too short to say anything about a leak.
    assert!(diagnose(&soak(30, 1000, 100, 200)).is_empty());
    // A ramp (VUs changing every interval) is no steady stretch.
    let mut r = soak(30, 60_000, 100, 200);
    for (i, p) in r.timeline.points.iter_mut().enumerate() {
        p.vus = i as u64 + 1;
    }
    assert!(diagnose(&r).is_empty());
}

fn soak_target(points: usize, every_ms: u64, rss: impl Fn(usize) -> f64) -> ScrapeTarget {
    let mut t = healthy_target();
    t.t_ms = (0..points as u64).map(|i| i * every_ms).collect();
    for v in t.series.values_mut() {
        let first = v.first().copied().flatten();
        *v = vec![first; points];
    }
    set(&mut t, s::RSS_MIB, (0..points).map(rss).collect());
    t
}

#[test]
fn memory_drift_fires_on_a_steady_rise_over_a_long_run() {
    let flat = soak(30, 60_000, 100, 100);
    let t = soak_target(60, 30_000, |i| 100.0 + 2.0 * i as f64);
    let f = finding(&with_server(flat.clone(), t), "memory_drift");
    assert!(f.evidence.starts_with("at 50 VUs, resident memory rose from 119 MiB (first third) to 199 MiB (last third) over 30 min (Theil–Sen slope +4.00 MiB/min)"), "{}", f.evidence);
    // 10 MiB over the run: under the floor.
    let t = soak_target(60, 30_000, |i| 100.0 + i as f64 / 6.0);
    assert!(diagnose(&with_server(flat.clone(), t)).is_empty());
    // The same rise in a short run: nothing.
    let short = soak(30, 1000, 100, 100);
    let t = soak_target(60, 500, |i| 100.0 + 2.0 * i as f64);
    assert!(diagnose(&with_server(short, t)).is_empty());
}

#[test]
fn long_tail_long_history_needs_both() {
    // 96% of turns ~200 ms, 4% at 3 s.
    let tail = || {
        let intervals = (0..20)
            .map(|i| {
                let mut records = turns(12, 200, 200);
                if i % 2 == 0 {
                    records.extend(turns(1, 3000, 200).into_iter().take(1));
                }
                Interval { vus: 5, records }
            })
            .collect();
        report_of(intervals, 1000, &[])
    };
    let mut t = healthy_target();
    set(&mut t, s::HISTORY_MESSAGES_MEAN, vec![36.0; 20]);
    let f = finding(&with_server(tail(), t.clone()), "long_tail_long_history");
    assert!(
        f.evidence
            .starts_with("chat p99 2927 ms is 14.6× its p50 200 ms"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("turns carried up to 36.0 history messages on average (CHAT_HISTORY_MAX_MESSAGES is 40)"), "{}", f.evidence);
    assert!(f.advice.contains("CHAT_HISTORY_MAX_MESSAGES"));
    // Short histories: the tail is somebody else's.
    assert!(
        !rules(&with_server(tail(), healthy_target())).contains(&"long_tail_long_history".into())
    );
    // Long histories, no tail.
    assert!(diagnose(&with_server(healthy_client(), t)).is_empty());
}

#[test]
fn findings_are_worst_first_and_render_one_block_each() {
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 1.0);
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(ramp(|i| i >= 12, 3), t);
    r.diagnosis = diagnose(&r);
    let order: Vec<&str> = r.diagnosis.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        order,
        ["error_onset", "db_pool_saturated", "provider_retries"]
    );
    let text = render(&r);
    assert!(text.starts_with(&format!("  diagnosis: 3 findings (11 rules checked; server metrics: {URL})\n    [critical] error_onset\n      evidence: errors started at 130 VUs")), "{text}");
    assert!(
        text.contains("    [info] provider_retries\n      evidence: "),
        "{text}"
    );
}

#[test]
fn theil_sen_shrugs_off_outliers() {
    let mut p: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
    p[10].1 = 1000.0;
    p[20].1 = -1000.0;
    let slope = util::theil_sen(&p).unwrap();
    assert!((slope - 2.0).abs() < 1e-9, "{slope}");
    assert_eq!(util::median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
    assert_eq!(util::theil_sen(&[(1.0, 1.0)]), None);
}

#[test]
fn summary_json_carries_the_findings_and_reading_it_back_keeps_them() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(healthy_client(), t);
    r.diagnosis = diagnose(&r);
    let json = crate::export::to_json(&r).unwrap();
    let schema: serde_json::Value = serde_json::from_str(crate::export::SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&json),
        "{:?}",
        validator.iter_errors(&json).next()
    );
    assert_eq!(json["diagnosis"][0]["rule"], "db_pool_saturated");
    assert_eq!(json["diagnosis"][0]["severity"], "critical");
    let dir = tempfile::tempdir().unwrap();
    let path = crate::export::write(dir.path(), &r, "").unwrap();
    let back = crate::merge::report_from(&path).unwrap();
    assert_eq!(back.diagnosis, r.diagnosis);
    // A healthy run's summary says so with an empty list.
    let h = healthy_client();
    assert_eq!(
        crate::export::to_json(&h).unwrap()["diagnosis"],
        serde_json::json!([])
    );
}

#[test]
fn merge_diagnoses_the_merged_figures_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for name in ["a", "b"] {
        let mut r = ramp(|i| i >= 12, 3);
        // Recorded findings are not what merge reports: it re-diagnoses.
        r.diagnosis = vec![Finding {
            rule: "stale".into(),
            severity: Severity::Info,
            evidence: String::new(),
            advice: String::new(),
        }];
        paths.push(crate::export::write(&dir.path().join(name), &r, "").unwrap());
    }
    let merged = crate::merge::merge_files(&paths, &crate::merge::MergeOptions::default()).unwrap();
    let rules: Vec<&str> = merged.diagnosis.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["error_onset"]);
    assert!(merged.diagnosis[0]
        .evidence
        .starts_with("errors started at 260 VUs (t=12 s)"));
}

#[test]
fn the_page_shows_a_diagnosis_section() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(healthy_client(), t);
    r.diagnosis = diagnose(&r);
    let page = crate::html::page(&r);
    assert!(page.contains("<section id=\"diagnosis\""));
    let data = crate::html::build(&r, &r.chart_data());
    assert_eq!(data.diagnosis.findings, r.diagnosis);
    assert_eq!(data.diagnosis.rules_checked, 11);
    assert_eq!(data.diagnosis.server.as_deref(), Some(URL));
}
