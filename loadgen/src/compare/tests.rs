//! Comparisons of synthetic reports: the band and the test together, the
//! floor, error rates, endpoints only one run has, warnings, `--tolerance`
//! parsing and the three output formats.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::stats::{Aggregate, Record, RequestRecord};
use std::sync::Arc;
use std::time::Duration;

fn request(phase: &str, endpoint: &str, status: u16, us: u64) -> Record {
    Record::Request(RequestRecord {
        phase: Arc::from(phase),
        endpoint: Arc::from(endpoint),
        status: Some(status),
        error: None,
        duration: Duration::from_micros(us),
        waiting: Duration::from_micros(us / 2),
        bytes_sent: 100,
        bytes_received: 1000,
    })
}

/// `n` requests spread evenly over `lo_ms..hi_ms` times `scale`, every
/// `fail_every`-th one a 500 (0: none).
fn spread(
    out: &mut Vec<Record>,
    (phase, endpoint): (&str, &str),
    n: u64,
    (lo_ms, hi_ms): (f64, f64),
    scale: f64,
    fail_every: u64,
) {
    for i in 0..n {
        let f = i as f64 / (n.max(2) - 1) as f64;
        let us = ((lo_ms + f * (hi_ms - lo_ms)) * scale * 1000.0).round() as u64;
        let status = if fail_every > 0 && i % fail_every == 0 {
            500
        } else {
            200
        };
        out.push(request(phase, endpoint, status, us));
    }
}

fn report(records: &[Record]) -> Report {
    let mut aggregate = Aggregate::default();
    for r in records {
        aggregate.record(r);
    }
    Report {
        latency_profile: None,
        ..Report::test_run(aggregate, Duration::from_secs(10))
    }
}

/// A run of a login (about 50 ms), a session (about 5 ms) and a chat
/// (about 350 ms) endpoint, `n` requests each; chat scaled by `chat`.
fn run(n: u64, chat: f64) -> Report {
    let mut r = Vec::new();
    spread(&mut r, ("auth", "login"), n, (40.0, 60.0), 1.0, 0);
    spread(&mut r, ("session", "create_session"), n, (4.0, 6.0), 1.0, 0);
    spread(&mut r, ("chat", "chat"), n, (280.0, 420.0), chat, 0);
    report(&r)
}

fn compared(base: &Report, new: &Report) -> Comparison {
    compare(base, "base.json", new, "new.json", &Options::default())
}

fn verdict_of(c: &Comparison, endpoint: &str, metric: Metric) -> Verdict {
    c.rows
        .iter()
        .find(|r| r.endpoint == endpoint && r.metric == metric)
        .unwrap_or_else(|| panic!("no row {endpoint} {}", metric.name()))
        .verdict
}

fn regressions(c: &Comparison) -> Vec<String> {
    c.regressions()
        .map(|r| format!("{}/{}", r.endpoint, r.metric.name()))
        .collect()
}

#[test]
fn a_run_compared_with_itself_has_nothing_to_report() {
    let r = run(2000, 1.0);
    let c = compared(&r, &r);
    assert!(!c.regressed);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.rows.iter().all(|r| r.change == Some(0.0)));
    // Rates are shown between runs, not judged (closed model).
    assert!(c.rows.iter().all(|r| r.verdict
        == if r.metric == Metric::Rate {
            Verdict::NotApplicable
        } else {
            Verdict::WithinNoise
        }));
    // rate, error rate, p50, p95, p99 for three endpoints.
    assert_eq!(c.rows.len(), 15);
}

#[test]
fn a_30_percent_slower_chat_with_thousands_of_samples_is_a_regression_of_chat_only() {
    let c = compared(&run(2000, 1.0), &run(2000, 1.3));
    assert!(c.regressed);
    assert_eq!(regressions(&c), ["chat/p50", "chat/p95", "chat/p99"]);
    let p50 = c
        .rows
        .iter()
        .find(|r| r.endpoint == "chat" && r.metric == Metric::P50);
    let rel = p50.and_then(|r| r.relative_change).unwrap();
    assert!((rel - 0.3).abs() < 0.01, "{rel}");
}

#[test]
fn a_30_percent_slower_chat_with_5_samples_is_not_significant() {
    let c = compared(&run(5, 1.0), &run(5, 1.3));
    assert!(!c.regressed, "{:?}", regressions(&c));
    assert_eq!(verdict_of(&c, "chat", Metric::P50), Verdict::WithinNoise);
}

#[test]
fn a_3_percent_shift_with_a_huge_sample_stays_within_the_band() {
    let c = compared(&run(100_000, 1.0), &run(100_000, 1.03));
    let row = c
        .rows
        .iter()
        .find(|r| r.endpoint == "chat" && r.metric == Metric::P50)
        .unwrap();
    assert!(row.p_value.unwrap() < 0.01, "significant: {row:?}");
    assert_eq!(row.verdict, Verdict::WithinNoise);
    assert!(!c.regressed);
}

#[test]
fn a_faster_run_is_an_improvement_never_a_regression() {
    let c = compared(&run(2000, 1.3), &run(2000, 1.0));
    assert!(!c.regressed);
    for m in [Metric::P50, Metric::P95, Metric::P99] {
        assert_eq!(verdict_of(&c, "chat", m), Verdict::Improvement);
    }
}

#[test]
fn latency_changes_under_the_floor_never_count() {
    // 5 ms -> 6.5 ms would be +30%, far beyond noise with 2000 samples,
    // and 1.5 ms is above the 1 ms floor; raise the floor to 2 ms and it
    // no longer counts.
    let mut b = Vec::new();
    let mut n = Vec::new();
    spread(
        &mut b,
        ("session", "create_session"),
        2000,
        (4.0, 6.0),
        1.0,
        0,
    );
    spread(
        &mut n,
        ("session", "create_session"),
        2000,
        (4.0, 6.0),
        1.3,
        0,
    );
    let (b, n) = (report(&b), report(&n));
    assert!(compared(&b, &n).regressed);
    let mut o = Options::default();
    o.tolerances.apply("floor=2ms").unwrap();
    assert!(!compare(&b, "b", &n, "n", &o).regressed);
}

#[test]
fn error_rates_gate_on_points_and_significance() {
    let with_errors = |every: u64| {
        let mut r = Vec::new();
        spread(&mut r, ("chat", "chat"), 4000, (280.0, 420.0), 1.0, every);
        report(&r)
    };
    // 0% -> 2%: a regression.
    let c = compared(&with_errors(0), &with_errors(50));
    assert_eq!(
        verdict_of(&c, "chat", Metric::ErrorRate),
        Verdict::Regression
    );
    // 0% -> 0.25%: under the 0.5-point band.
    let c = compared(&with_errors(0), &with_errors(400));
    assert_eq!(
        verdict_of(&c, "chat", Metric::ErrorRate),
        Verdict::WithinNoise
    );
    // 2% -> 0%: an improvement.
    let c = compared(&with_errors(50), &with_errors(0));
    assert_eq!(
        verdict_of(&c, "chat", Metric::ErrorRate),
        Verdict::Improvement
    );
}

#[test]
fn a_lower_request_rate_is_a_regression_of_a_hit_never_of_a_run() {
    let mut base = run(2000, 1.0);
    let mut slower = run(2000, 1.0);
    slower.duration = Duration::from_secs(12);
    // Between runs (closed model) the rate is shown, not gated.
    let c = compared(&base, &slower);
    assert!(!c.rate_gated);
    let rate = c.rows.iter().find(|r| r.metric == Metric::Rate).unwrap();
    assert_eq!(rate.verdict, Verdict::NotApplicable);
    assert!(rate.p_value.unwrap() < 1e-6 && rate.relative_change.unwrap() < -0.1);
    assert!(render(&c, Format::Table).contains("rates do not gate between runs"));
    // Between hits, throughput is the measure.
    base.mode = Mode::Hit;
    slower.mode = Mode::Hit;
    let c = compared(&base, &slower);
    assert!(c.rate_gated);
    assert_eq!(verdict_of(&c, "chat", Metric::Rate), Verdict::Regression);
    assert!(
        c.warnings.iter().any(|w| w.contains("lasted")),
        "{:?}",
        c.warnings
    );
    let mut o = Options::default();
    o.tolerances.apply("rate=off").unwrap();
    let c = compare(&base, "b", &slower, "n", &o);
    assert_eq!(verdict_of(&c, "chat", Metric::Rate), Verdict::NotApplicable);
    assert!(!c.regressed);
}

#[test]
fn endpoints_of_one_run_only_are_listed_not_gated() {
    let base = run(100, 1.0);
    let mut records = Vec::new();
    spread(&mut records, ("chat", "chat"), 100, (280.0, 420.0), 1.0, 0);
    spread(&mut records, ("other", "metrics"), 100, (1.0, 2.0), 1.0, 1);
    let new = report(&records);
    let c = compared(&base, &new);
    let names = |l: &[Endpoint]| -> Vec<String> {
        l.iter()
            .map(|e| format!("{}/{}", e.phase, e.endpoint))
            .collect()
    };
    assert_eq!(
        names(&c.only_in_base),
        ["auth/login", "session/create_session"]
    );
    assert_eq!(names(&c.only_in_new), ["other/metrics"]);
    assert!(!c.regressed);
    assert!(c.rows.iter().all(|r| r.endpoint == "chat"));
}

#[test]
fn runs_of_different_shapes_are_compared_with_warnings() {
    let base = run(100, 1.0);
    let mut new = run(100, 1.0);
    new.profile = Some("ramp".into());
    new.vus_max_planned = 50;
    new.target = "http://other:8000".into();
    let w = compared(&base, &new).warnings.join("\n");
    for needle in ["profiles differ", "up to 5 vs 50 VUs", "targets differ"] {
        assert!(w.contains(needle), "{needle} in {w}");
    }
}

#[test]
fn tolerances_parse_lists_and_repeated_keys() {
    let mut t = Tolerances::default();
    t.apply("p50=5%,p95=10%,p99=10%,error_rate=0.5,rate=5%")
        .unwrap();
    assert_eq!(t, Tolerances::default());
    t.apply("p95=20").unwrap();
    t.apply("error_rate=1%, floor=500us").unwrap();
    assert_eq!(t.p95, Some(0.2));
    assert_eq!(t.error_rate_points, Some(1.0));
    assert!((t.floor_ms - 0.5).abs() < 1e-12);
    t.apply("p99=off,floor=0").unwrap();
    assert_eq!((t.p99, t.floor_ms), (None, 0.0));
    for (bad, why) in [
        ("p50", "expected KEY=VALUE"),
        ("p42=5%", "unknown key"),
        ("p50=-1", "non-negative"),
        ("p50=fast", "non-negative"),
        ("floor=soon", "floor=soon"),
    ] {
        let e = Tolerances::default().apply(bad).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert_eq!(parse_alpha("0.05"), Ok(0.05));
    assert!(parse_alpha("0").is_err() && parse_alpha("0.9").is_err() && parse_alpha("x").is_err());
}

#[test]
fn the_outputs_name_the_regressions() {
    let c = compared(&run(2000, 1.0), &run(2000, 1.3));
    let table = render(&c, Format::Table);
    assert!(
        table.contains("REGRESSED: chat/chat p50, chat/chat p95, chat/chat p99"),
        "{table}"
    );
    assert!(table.contains("REGRESSION"));
    let md = render(&c, Format::Markdown);
    assert!(
        md.starts_with("### loadgen compare: ❌ **3 regressions**"),
        "{md}"
    );
    assert!(md.contains("| **chat** | **chat** | **p50** |"), "{md}");
    assert!(md.contains("| auth | login | p50 |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render(&c, Format::Json)).unwrap();
    assert_eq!(json["schema"], SCHEMA_ID);
    assert_eq!(json["regressed"], true);
    assert_eq!(json["alpha"], 0.01);
    assert_eq!(json["tolerances"]["p95"], 0.1);
    let chat = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["endpoint"] == "chat" && r["metric"] == "p50")
        .unwrap();
    assert_eq!(chat["verdict"], "regression");
    assert_eq!(chat["unit"], "ms");
    // The JSON reads back into the same comparison (summary.json keeps it).
    let back: Comparison = serde_json::from_value(json).unwrap();
    assert_eq!(back.regressions().count(), 3);
    assert_eq!(
        (back.rows.len(), back.base.label.as_str()),
        (15, "base.json")
    );
    let same = compared(&run(100, 1.0), &run(100, 1.0));
    assert!(render(&same, Format::Table).ends_with("no regression\n"));
    assert!(render(&same, Format::Markdown).starts_with("### loadgen compare: ✅ no regression"));
}

/// A run of `intervals` one-second intervals of 200 login requests each
/// (40-60 ms), the intervals in `slow` scaled by `factor`; with its time
/// series.
fn timed(intervals: u64, slow: &[u64], factor: f64) -> Report {
    let mut all = Vec::new();
    let mut points = Vec::new();
    for i in 0..intervals {
        let mut records = Vec::new();
        let scale = if slow.contains(&i) { factor } else { 1.0 };
        spread(&mut records, ("auth", "login"), 200, (40.0, 60.0), scale, 0);
        let mut interval = Aggregate::default();
        records.iter().for_each(|r| interval.record(r));
        points.push(crate::stats::timeline::Point::from_interval(
            &interval,
            i * 1000,
            1000,
            4,
        ));
        all.extend(records);
    }
    let mut r = report(&all);
    r.duration = Duration::from_secs(intervals);
    r.timeline = crate::stats::Timeline::new(Duration::from_secs(1));
    r.timeline.points = points;
    r
}

#[test]
fn a_burst_in_a_few_intervals_is_noise_a_shift_in_all_of_them_is_not() {
    let base = timed(10, &[], 1.0);
    // A noisy neighbour made two seconds of ten three times slower: per
    // request that is 400 slow logins, overwhelming; per interval it is
    // two intervals of ten.
    let burst = timed(10, &[3, 4], 3.0);
    let c = compared(&base, &burst);
    assert!(!c.regressed, "{:?}", regressions(&c));
    let p95 = c.rows.iter().find(|r| r.metric == Metric::P95).unwrap();
    assert!(p95.relative_change.unwrap() > 1.0, "{p95:?}");
    assert_eq!(p95.verdict, Verdict::WithinNoise);
    // Without the time series (a v1 summary) only the per-request test
    // remains, and it calls the burst a regression.
    let mut flat = burst.clone();
    flat.timeline = crate::stats::Timeline::default();
    assert!(compared(&base, &flat).regressed);
    // Every interval 30% slower: a regression either way.
    let all = timed(10, &(0..10).collect::<Vec<_>>(), 1.3);
    assert_eq!(
        regressions(&compared(&base, &all)),
        ["login/p50", "login/p95", "login/p99"]
    );
}
