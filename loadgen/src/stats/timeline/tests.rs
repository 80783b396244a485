//! The time series: bounded by pairwise merging without losing a request
//! or the run's length, per-phase percentiles from added histograms, shards
//! merged by time, and the collector's intervals adding up to its total.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::stats::aggregate::{add_into, new_histogram, record_value};
use crate::stats::{Aggregate, Collector, Record, RequestRecord};
use hdrhistogram::Histogram;
use std::time::Duration;

fn hist(values_ms: &[u64]) -> Histogram<u64> {
    let mut h = new_histogram();
    for v in values_ms {
        record_value(&mut h, v * 1000);
    }
    h
}

fn endpoint(phase: &str, name: &str, values_ms: &[u64], failures: u64) -> EndpointPoint {
    EndpointPoint {
        phase: phase.into(),
        endpoint: name.into(),
        count: values_ms.len() as u64,
        failures,
        bytes_sent: 10 * values_ms.len() as u64,
        bytes_received: 20 * values_ms.len() as u64,
        duration: Hdr::encode(&hist(values_ms)),
    }
}

fn point(start_ms: u64, length_ms: u64, vus: u64, requests: Vec<EndpointPoint>) -> Point {
    Point {
        start_ms,
        length_ms,
        vus,
        requests,
        checks: vec![CheckPoint {
            phase: "chat".into(),
            name: "ok".into(),
            passes: 1,
            fails: 0,
        }],
        streams: Vec::new(),
    }
}

fn all_durations(t: &Timeline) -> Histogram<u64> {
    let mut h = new_histogram();
    for p in &t.points {
        for r in &p.requests {
            add_into(&mut h, &r.duration.decode().unwrap());
        }
    }
    h
}

#[test]
fn beyond_the_cap_old_points_merge_pairwise_and_the_whole_run_stays_covered() {
    let mut t = Timeline::with_cap(Duration::from_secs(1), 8);
    let mut whole = new_histogram();
    for i in 0..100u64 {
        let ms = [i + 1, 2 * i + 1];
        add_into(&mut whole, &hist(&ms));
        t.push(point(
            i * 1000,
            1000,
            i,
            vec![endpoint("chat", "chat", &ms, 1)],
        ))
        .unwrap();
        assert!(t.points.len() <= 8, "{} points after {i}", t.points.len());
    }
    // 100 s at 1 s, capped at 8: 16 s points (the last one partial).
    assert_eq!(t.resolution_ms, 16_000);
    assert_eq!(t.points.len(), 7);
    assert_eq!(t.points.first().unwrap().start_ms, 0);
    assert_eq!(t.points.last().unwrap().end_ms(), 100_000);
    for (i, p) in t.points.iter().enumerate() {
        assert_eq!(p.start_ms, i as u64 * 16_000, "point {i} on the grid");
        if i + 1 < t.points.len() {
            assert_eq!(p.length_ms, 16_000, "point {i}");
        }
    }
    assert_eq!(t.points.last().unwrap().length_ms, 4_000);
    // Nothing lost: counts, failures, bytes, checks and the histograms add up.
    assert_eq!(t.total_requests(), 200);
    let sum = |f: fn(&Point) -> u64| t.points.iter().map(f).sum::<u64>();
    assert_eq!(sum(|p| p.requests.iter().map(|r| r.failures).sum()), 100);
    assert_eq!(
        sum(|p| p.requests.iter().map(|r| r.bytes_received).sum()),
        4000
    );
    assert_eq!(sum(|p| p.checks.iter().map(|c| c.passes).sum()), 100);
    assert_eq!(all_durations(&t), whole);
    // A merged point's VUs are the most of its parts.
    assert_eq!(t.points.first().unwrap().vus, 15);
    assert_eq!(t.points.last().unwrap().vus, 99);
}

#[test]
fn an_eight_hour_soak_keeps_a_full_length_series_under_the_cap() {
    let mut t = Timeline::new(Duration::from_secs(1));
    let one = vec![endpoint("chat", "chat", &[5], 0)];
    let seconds = 8 * 3600u64;
    for i in 0..seconds {
        t.push(point(i * 1000, 1000, 1, one.clone())).unwrap();
    }
    assert!(t.points.len() <= MAX_POINTS);
    assert_eq!(t.resolution_ms, 16_000);
    assert_eq!(t.points.len(), 1800);
    assert_eq!(t.points.last().unwrap().end_ms(), seconds * 1000);
    assert_eq!(t.total_requests(), seconds);
    assert!(t.points.iter().all(|p| p.length_ms == 16_000));
}

#[test]
fn phase_percentiles_come_from_the_phase_endpoints_histograms_added() {
    let mut t = Timeline::new(Duration::from_millis(500));
    // chat: 90 fast requests on one endpoint, 10 slow ones on another. The
    // added histogram's p50 is fast and its p95 slow; averaging the two
    // endpoints' percentiles would say neither.
    let fast = vec![10; 90];
    let slow = vec![1000; 10];
    t.push(point(
        0,
        500,
        3,
        vec![
            endpoint("auth", "login", &[4, 4], 0),
            endpoint("chat", "chat", &fast, 2),
            endpoint("chat", "chat_stream", &slow, 0),
        ],
    ))
    .unwrap();
    t.push(point(500, 500, 4, vec![endpoint("auth", "login", &[8], 1)]))
        .unwrap();
    let c = t.chart_data();
    assert_eq!(c.t, [0.5, 1.0]);
    assert_eq!(c.vus, [3, 4]);
    let phases: Vec<&str> = c.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["auth", "chat"]);
    let chat = &c.phases[1];
    assert_eq!(chat.requests_per_s, [200.0, 0.0]);
    assert_eq!(chat.failures_per_s, [4.0, 0.0]);
    let near = |v: Option<f64>, ms: f64| v.is_some_and(|v| (v - ms).abs() <= ms * 0.001);
    assert!(near(chat.p50_ms[0], 10.0), "{:?}", chat.p50_ms);
    assert!(near(chat.p95_ms[0], 1000.0), "{:?}", chat.p95_ms);
    assert!(near(chat.p99_ms[0], 1000.0), "{:?}", chat.p99_ms);
    // No chat request in the second point: a gap, not a zero.
    assert_eq!((chat.p50_ms[1], chat.p95_ms[1]), (None, None));
    let auth = &c.phases[0];
    assert_eq!(auth.requests_per_s, [4.0, 2.0]);
    assert!(near(auth.p50_ms[1], 8.0));
    assert!(c.streams.is_empty());
}

#[test]
fn stream_columns_chart_ttft_itl_and_tokens_per_second_per_phase() {
    let mut t = Timeline::new(Duration::from_secs(1));
    let mut p = point(0, 1000, 1, vec![endpoint("chat", "chat_stream", &[100], 0)]);
    let mut tps = new_histogram();
    record_value(&mut tps, 50_000);
    p.streams = vec![StreamPoint {
        phase: "chat".into(),
        streams: 1,
        tokens: 5,
        ttft: Hdr::encode(&hist(&[40])),
        itl: Hdr::encode(&hist(&[10, 10, 12])),
        tokens_per_s: Hdr::encode(&tps),
    }];
    t.push(p).unwrap();
    t.push(point(1000, 1000, 1, Vec::new())).unwrap();
    let s = &t.chart_data().streams;
    assert_eq!(s.len(), 1);
    let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() <= want * 0.001);
    assert!(near(s[0].ttft_p50_ms[0], 40.0));
    assert!(near(s[0].itl_p50_ms[0], 10.0));
    assert!(near(s[0].itl_p95_ms[0], 12.0));
    assert!(near(s[0].tokens_per_s_p50[0], 50.0));
    assert_eq!(s[0].ttft_p50_ms[1], None);
}

#[test]
fn concurrent_shards_merge_by_start_offset_with_vus_summed() {
    let mut a = Timeline::with_cap(Duration::from_secs(1), 4);
    let mut b = Timeline::new(Duration::from_secs(1));
    for i in 0..6u64 {
        a.push(point(
            i * 1000,
            1000,
            2,
            vec![endpoint("chat", "chat", &[10], 0)],
        ))
        .unwrap();
    }
    for i in 0..3u64 {
        b.push(point(
            i * 1000,
            1000,
            5,
            vec![endpoint("chat", "chat", &[20], 1)],
        ))
        .unwrap();
    }
    assert_eq!(a.resolution_ms, 2000);
    let m = Timeline::merge_concurrent(&[&a, &b]).unwrap();
    assert_eq!(m.resolution_ms, 2000);
    let starts: Vec<u64> = m.points.iter().map(|p| p.start_ms).collect();
    assert_eq!(starts, [0, 2000, 4000]);
    let counts: Vec<u64> = m.points.iter().map(Point::total_requests).collect();
    assert_eq!(counts, [4, 3, 2]);
    let vus: Vec<u64> = m.points.iter().map(|p| p.vus).collect();
    assert_eq!(vus, [7, 7, 2]);
    assert_eq!(m.total_requests(), a.total_requests() + b.total_requests());
    let mut both = all_durations(&a);
    add_into(&mut both, &all_durations(&b));
    assert_eq!(all_durations(&m), both);
    m.validate().unwrap();
}

#[test]
fn a_timeline_round_trips_through_json() {
    let mut t = Timeline::new(Duration::from_millis(250));
    t.push(point(
        0,
        250,
        1,
        vec![endpoint("hit", "GET /", &[1, 2, 3], 0)],
    ))
    .unwrap();
    let text = serde_json::to_string(&t).unwrap();
    assert!(text.contains("\"duration\":\"HISTE"), "{text}");
    let back: Timeline = serde_json::from_str(&text).unwrap();
    assert_eq!(back, t);
}

fn request(ms: u64) -> Record {
    Record::Request(RequestRecord {
        phase: "hit".into(),
        endpoint: "GET /".into(),
        status: Some(200),
        error: None,
        duration: Duration::from_millis(ms),
        waiting: Duration::from_millis(ms),
        bytes_sent: 1,
        bytes_received: 2,
    })
}

#[test]
fn the_collectors_intervals_add_up_to_its_snapshot() {
    let c = Collector::new(3);
    let mut intervals: Vec<Aggregate> = Vec::new();
    for round in 0..4u64 {
        for w in 0..7usize {
            c.recorder(w).record(request(round * 10 + w as u64 + 1));
        }
        // The snapshot sees what was settled and what is still in the shards.
        assert_eq!(c.snapshot().total_requests(), (round + 1) * 7);
        intervals.push(c.take_interval());
    }
    assert!(intervals.iter().all(|i| i.total_requests() == 7));
    let mut added = Aggregate::default();
    intervals.iter().for_each(|i| added.merge(i));
    let (a, _) = added.merged_where(|_| true);
    let (s, _) = c.snapshot().merged_where(|_| true);
    assert_eq!(a, s);
    assert_eq!(c.take_interval().total_requests(), 0);
}
