//! Unit tests of threshold parsing and evaluation (kept apart from
//! `threshold/mod.rs` to keep that file readable).

use super::*;
use crate::stats::{Aggregate, Record, RequestRecord, StreamEnd, StreamRecord};
use std::time::Duration;

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
        ("chat_ttft: rate<1", "does not support"),
        ("chat_ttft{status:2xx}: p(95)<1", "not available"),
        ("chat_itl{kind:cut}: p(95)<1", "not available"),
        ("stream_errors: p(95)<1", "does not support"),
        (
            "stream_errors{kind:timeout}: count<1",
            "not a stream error kind",
        ),
        ("chat_ttlt: p(95)<1", "unknown metric"),
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
        lateness: None,
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

/// A 200 stream: headers at `ttfb` ms, tokens at `tokens` ms, ended at `e2e` ms.
fn stream(ttfb: u64, tokens: &[u64], e2e: u64, end: StreamEnd) -> Record {
    Record::Stream(Box::new(StreamRecord {
        request: RequestRecord {
            phase: "chat".into(),
            endpoint: "chat_stream".into(),
            status: Some(200),
            error: None,
            duration: Duration::from_millis(e2e),
            waiting: Duration::from_millis(ttfb),
            bytes_sent: 0,
            bytes_received: 0,
        },
        content_at: tokens.iter().map(|&ms| Duration::from_millis(ms)).collect(),
        end,
        completion_tokens: None,
    }))
}

#[test]
fn iteration_duration_and_lateness_are_time_trends() {
    let mut agg = Aggregate::default();
    for ms in 1..=100 {
        agg.record(&Record::Iteration {
            duration: Duration::from_millis(ms * 10),
            lateness: Some(Duration::from_millis(ms)),
        });
    }
    let run = Duration::from_secs(10);
    let value = |expr: &str| evaluate(&parse(expr).unwrap(), &agg, run);
    let v = value("iteration_lateness: p(95)<96");
    assert!(v.passed, "{v:?}");
    assert!(!value("iteration_lateness: p(95)<94").passed);
    assert!(value("iteration_duration: max<1.01s").passed);
    assert!(!value("iteration_duration: med<400").passed);
    // A trend has no rate, and no tags select among iterations.
    assert!(parse("iteration_lateness: rate<1").is_err());
    assert!(parse("iteration_duration{phase:chat}: p(95)<1").is_err());
    // The closed model records no lateness: no data never holds.
    let mut closed = Aggregate::default();
    closed.record(&Record::Iteration {
        duration: Duration::from_secs(1),
        lateness: None,
    });
    let v = evaluate(
        &parse("iteration_lateness: p(95)<1000").unwrap(),
        &closed,
        run,
    );
    assert_eq!((v.actual, v.passed), (None, false));
}

#[test]
fn streaming_metrics_parse_with_the_usual_selectors() {
    let t = parse("chat_ttft{phase:chat}: p(95)<800").unwrap();
    assert_eq!(t.metric, Metric::Stream(crate::stats::StreamMetric::Ttft));
    assert_eq!(t.to_string(), "chat_ttft{phase:chat}: p(95)<800");
    for name in [
        "chat_ttfb",
        "chat_itl",
        "chat_tpot",
        "chat_e2e",
        "chat_tokens_per_s",
    ] {
        let t = parse(&format!("{name}{{name:chat_stream}}: med>1")).unwrap();
        assert_eq!(t.metric.name(), name);
        assert_eq!(t.key(), format!("{name}{{endpoint:chat_stream}}"));
    }
    let t = parse("stream_errors{kind:cut}: count<1").unwrap();
    assert_eq!((t.metric, t.agg), (Metric::StreamErrors, Agg::Count));
    assert_eq!(parse("stream_errors: rate<0.01").unwrap().agg, Agg::Rate);
}

#[test]
fn streaming_thresholds_read_milliseconds_tokens_per_second_and_error_fractions() {
    let mut agg = Aggregate::default();
    // TTFT 60 ms, tokens every 20 ms, done right after the fourth token.
    for _ in 0..9 {
        agg.record(&stream(5, &[60, 80, 100, 120], 120, StreamEnd::Done));
    }
    agg.record(&stream(5, &[60, 80], 90, StreamEnd::ErrorEvent));
    let run = Duration::from_secs(1);
    let value = |expr: &str| evaluate(&parse(expr).unwrap(), &agg, run);

    let ttft = value("chat_ttft{phase:chat}: p(95)<61");
    assert!(ttft.passed, "{ttft:?}");
    assert!((ttft.actual.unwrap() - 60.0).abs() < 0.1);
    assert!(!value("chat_ttft{phase:chat}: p(95)<59").passed);
    assert!((value("chat_itl: med<21").actual.unwrap() - 20.0).abs() < 0.1);
    assert!((value("chat_tpot: max<21").actual.unwrap() - 20.0).abs() < 0.1);
    assert!((value("chat_ttfb: avg<6").actual.unwrap() - 5.0).abs() < 0.01);
    assert!((value("chat_e2e: min<=90").actual.unwrap() - 90.0).abs() < 0.1);
    assert_eq!(value("chat_ttft: count==10").actual, Some(10.0));
    // 4 tokens over the 60 ms from the first token to the end.
    let tps = value("chat_tokens_per_s: med>60").actual.unwrap();
    assert!((tps - 66.67).abs() < 0.1, "{tps}");
    // http_req_duration of a streamed request is its E2E.
    assert_eq!(
        value("http_req_duration{endpoint:chat_stream}: max<1").actual,
        value("chat_e2e: max<1").actual
    );

    assert_eq!(value("stream_errors: count<1").actual, Some(1.0));
    assert!(!value("stream_errors: count<1").passed);
    assert_eq!(value("stream_errors: rate<0.2").actual, Some(0.1));
    assert_eq!(value("stream_errors{kind:cut}: count<1").actual, Some(0.0));
    assert!(value("stream_errors{kind:error_event}: count==1").passed);
    // The failed stream had status 200, yet counts as a failed request.
    assert_eq!(value("http_req_failed: rate<1").actual, Some(0.1));
    // No stream on another phase: no data, so the threshold fails.
    let v = value("chat_ttft{phase:auth}: p(95)<800");
    assert_eq!((v.actual, v.passed), (None, false));
    assert!(!value("stream_errors{phase:auth}: count<1").passed);
}

#[test]
fn abort_on_fail_and_its_delay_parse_and_print_back() {
    let t = parse("http_req_failed: rate<0.1 abortOnFail delayAbortEval=30s").unwrap();
    assert_eq!(t.abort_on_fail, Some(std::time::Duration::from_secs(30)));
    assert_eq!(t.value, 0.1);
    assert_eq!(
        t.to_string(),
        "http_req_failed: rate<0.1 abortOnFail delayAbortEval=30s"
    );
    assert_eq!(parse(&t.to_string()).unwrap(), t);
    let t = parse("http_req_duration{phase:chat}: p(95) < 800  abort-on-fail").unwrap();
    assert_eq!(t.abort_on_fail, Some(std::time::Duration::ZERO));
    assert_eq!(
        t.to_string(),
        "http_req_duration{phase:chat}: p(95)<800 abortOnFail"
    );
    let t = parse("http_req_duration: p(95)<800 delay=5s abortOnFail").unwrap();
    assert_eq!(t.abort_on_fail, Some(std::time::Duration::from_secs(5)));
    // Without the option: judged at the end only.
    assert_eq!(
        parse("http_req_duration: p(95)<800").unwrap().abort_on_fail,
        None
    );
    for (bad, says) in [
        (
            "http_req_failed: rate<0.1 delayAbortEval=30s",
            "needs abortOnFail",
        ),
        (
            "http_req_failed: rate<0.1 abortOnFail delay=soon",
            "delayAbortEval",
        ),
        ("http_req_failed: abortOnFail", "operator"),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
