//! Every rule on synthetic reports: a healthy run fires none, and each rule
//! is tested on both sides of its thresholds (server rules in `server.rs`,
//! client and drift rules in `client.rs`, the outputs in `output.rs`). This
//! file has the builders: reports of intervals, a healthy target's scrapes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::server::{series as s, totals as tt, ServerSeries};
use crate::stats::timeline::Point;
use crate::stats::{Aggregate, Record, RequestRecord, Timeline};
use crate::threshold;
use std::sync::Arc;
use std::time::Duration;

mod client;
mod output;
mod server;

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
        timeline,
        vus_max_planned: u32::try_from(vus_max).unwrap(),
        vus_max,
        verdicts,
        ..Report::test_run(aggregate, duration)
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
fn a_healthy_run_has_no_findings() {
    let r = healthy();
    assert_eq!(rules(&r), Vec::<String>::new());
    assert_eq!(rules_checked(&r), RULES.len());
    let mut r = r;
    r.diagnosis = diagnose(&r);
    assert_eq!(
        render(&r),
        format!("  diagnosis: no findings (13 rules checked; server metrics: {URL})\n")
    );
}

#[test]
fn without_server_metrics_only_client_rules_run_and_the_output_says_so() {
    let r = healthy_client();
    assert_eq!(rules_checked(&r), 4);
    assert!(diagnose(&r).is_empty());
    assert!(render(&r).contains("(4 rules checked; server metrics: none)"));
    // A target without the backend's pool gauge (another exporter) is no
    // server target either.
    let mut other = healthy_target();
    other.series.remove(s::DB_POOL_MAX);
    let r = with_server(healthy_client(), other);
    assert!(server_target(&r).is_none());
    assert_eq!(rules_checked(&r), 4);
}
