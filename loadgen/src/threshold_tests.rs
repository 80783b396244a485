//! Unit tests of threshold parsing and evaluation (kept apart from
//! `threshold.rs` to keep that file readable).

use super::*;
use crate::stats::{Record, RequestRecord};

fn request(phase: &str, status: Option<u16>, ms: u64) -> Record {
    Record::Request(RequestRecord {
        phase: phase.into(),
        endpoint: format!("{phase}_ep").into(),
        status,
        error: status.is_none().then_some("timeout"),
        duration: Duration::from_millis(ms),
        waiting: Duration::from_millis(ms / 2),
        bytes_sent: 0,
        bytes_received: 0,
    })
}

fn check(phase: &str, passed: bool) -> Record {
    Record::Check {
        phase: phase.into(),
        name: "status is 200".into(),
        passed,
    }
}

#[test]
fn k6_expressions_parse_into_metric_selector_aggregation_and_limit() {
    let t = parse("http_req_duration{phase:auth}: p(95)<500").unwrap();
    assert_eq!(t.metric, Metric::Duration);
    assert_eq!(t.selector, vec![("phase".into(), "auth".into())]);
    assert_eq!(t.agg, Agg::P(95.0));
    assert_eq!(t.op, Op::Lt);
    assert_eq!(t.value, 500.0);
    assert_eq!(t.to_string(), "http_req_duration{phase:auth}: p(95)<500");

    let t = parse("  checks{ phase : chat } :rate >= 0.9 ").unwrap();
    assert_eq!(
        (t.metric, t.agg, t.op, t.value),
        (Metric::Checks, Agg::Rate, Op::Ge, 0.9)
    );
    let t = parse("http_reqs{name:login,status:2xx}: count==10").unwrap();
    assert_eq!(t.key(), "http_reqs{endpoint:login,status:2xx}");
    assert_eq!(parse("iterations: rate>1").unwrap().agg, Agg::Rate);
    assert_eq!(
        parse("http_req_waiting: p(99.9)<=2").unwrap().agg,
        Agg::P(99.9)
    );
}

#[test]
fn bad_expressions_are_refused_with_the_reason() {
    let cases = [
        ("http_req_duration p(95)<500", "expected 'metric"),
        ("latency: p(95)<500", "unknown metric"),
        ("http_req_duration{phase:auth: p(95)<500", "closing"),
        ("http_req_duration{phase}: p(95)<500", "not tag:value"),
        ("http_req_duration{user:x}: p(95)<500", "tag \"user\""),
        ("http_req_duration{status:200}: p(95)<500", "not a class"),
        ("http_req_duration: p(95)", "operator"),
        ("http_req_duration: p95<500", "unknown aggregation"),
        ("http_req_duration: p(101)<500", "outside"),
        ("http_req_duration: p(95)<fast", "not a number"),
        ("http_req_duration: p(95)=<5", "unknown operator"),
        ("http_req_failed: p(95)<1", "does not support"),
        ("checks: avg>0.9", "does not support"),
        ("http_req_duration: rate<1", "does not support"),
        ("iterations{phase:chat}: count>1", "not available"),
    ];
    for (input, expected) in cases {
        let err = parse(input).unwrap_err();
        assert!(err.contains(expected), "{input}: {err}");
    }
}

#[test]
fn evaluation_reads_percentiles_rates_and_counts_from_the_aggregate() {
    let mut agg = Aggregate::default();
    for ms in 1..=100 {
        agg.record(&request("auth", Some(200), ms));
    }
    agg.record(&request("chat", Some(500), 1000));
    agg.record(&request("chat", None, 2000));
    for i in 0..10 {
        agg.record(&check("chat", i != 0));
    }
    agg.record(&Record::Iteration {
        duration: Duration::from_secs(1),
    });
    let run = Duration::from_secs(2);
    let value = |expr: &str| evaluate(&parse(expr).unwrap(), &agg, run);

    let v = value("http_req_duration{phase:auth}: p(95)<96");
    assert!(v.passed, "{v:?}");
    assert!((v.actual.unwrap() - 95.0).abs() < 0.1);
    assert!(!value("http_req_duration{phase:auth}: p(95)<90").passed);
    assert!(
        (value("http_req_duration{phase:auth}: avg<100")
            .actual
            .unwrap()
            - 50.5)
            .abs()
            < 0.1
    );
    assert!(value("http_req_waiting{phase:auth}: max<=50.1").passed);
    let failed = value("http_req_failed: rate<0.01");
    assert!(!failed.passed);
    assert!((failed.actual.unwrap() - 2.0 / 102.0).abs() < 1e-9);
    assert!(value("http_req_failed{phase:auth}: rate==0").passed);
    assert!(value("http_req_failed{status:err}: rate==1").passed);
    assert!(value("checks{phase:chat}: rate>=0.9").passed);
    assert!(!value("checks{phase:chat}: rate>0.9").passed);
    assert_eq!(value("http_reqs: count>0").actual, Some(102.0));
    assert_eq!(value("http_reqs: rate>0").actual, Some(51.0));
    assert_eq!(value("iterations: count==1").actual, Some(1.0));
}

#[test]
fn a_threshold_on_a_series_without_data_fails_and_says_so() {
    let agg = Aggregate::default();
    for expr in [
        "http_req_duration{phase:chat}: p(95)<25000",
        "checks{phase:auth}: rate>0.95",
        "http_req_failed: rate<0.15",
    ] {
        let v = evaluate(&parse(expr).unwrap(), &agg, Duration::from_secs(1));
        assert_eq!((v.actual, v.passed), (None, false), "{expr}");
    }
}

#[test]
fn an_override_replaces_every_threshold_of_the_same_metric_and_selector() {
    let base = vec![
        parse("http_req_duration: p(95)<1200").unwrap(),
        parse("http_req_duration: p(99)<2500").unwrap(),
        parse("http_req_duration{phase:auth}: p(95)<8000").unwrap(),
    ];
    let merged = merge_overrides(
        base,
        vec![
            parse("http_req_duration{phase:auth}: p(95)<500").unwrap(),
            parse("http_reqs: count>1").unwrap(),
        ],
    );
    let shown: Vec<String> = merged.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "http_req_duration: p(95)<1200",
            "http_req_duration: p(99)<2500",
            "http_req_duration{phase:auth}: p(95)<500",
            "http_reqs: count>1"
        ]
    );
}
