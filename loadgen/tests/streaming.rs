//! Streamed chat turns against the fake backend's `/api/chat/stream`, which
//! sends a keep-alive comment and an empty token at once, then the first
//! real token at 60 ms and one every 20 ms (8 tokens), then `done`.
//!
//! Tolerance: the medians must sit within 2 ms of the schedule (the issue's
//! bar). The server
//! hits its absolute deadlines to tens of µs when it gets the CPU (it spins
//! the last 2 ms: tokio's timer alone fires up to ~2 ms late); the client's
//! TTFT also holds the request's way in (~0.4 ms on loopback); HDR rounds by
//! at most 0.1%. Unloaded, the medians land within 0.5 ms. The rest of the
//! 2 ms is for this shared 2-core machine, where compilers and parallel
//! tests delay a wake-up now and then: that moves the tail, rarely the
//! median of ~12 TTFTs and ~80 gaps, so tails are not asserted against the
//! schedule.

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config, Ending, StreamScript};
use common::{loadgen_bin, run_plan, users_file, validate_summary};
use loadgen::report::Report;
use loadgen::stats::{StreamStats, Summary};
use serde_json::Value;

const TTFT_MS: f64 = 60.0;
const ITL_MS: f64 = 20.0;
const TOKENS: u64 = 8;
const TOLERANCE_MS: f64 = 2.0;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn streaming_plan(base: &str, users: &std::path::Path, extra: &[&str]) -> loadgen::plan::RunPlan {
    let mut argv = vec![
        "--base-url",
        base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "1500ms",
        "--think",
        "50ms",
        "--login",
        "once",
        "--stream",
    ];
    argv.extend_from_slice(extra);
    run_plan(&argv)
}

fn streams(report: &Report) -> StreamStats {
    report.aggregate.streams_where(|k| &*k.phase == "chat")
}

fn check(report: &Report, name: &str) -> (u64, u64) {
    let c = report.aggregate.checks_where(|k| &*k.name == name);
    (c.passes, c.fails)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_turns_measure_ttft_itl_tpot_and_e2e_as_the_server_scheduled_them() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let plan = streaming_plan(
        &format!("http://{addr}"),
        &users,
        &[
            "--threshold",
            "chat_ttft{phase:chat}: p(50)<70",
            "--threshold",
            "chat_ttft{phase:chat}: p(50)<50",
            "--threshold",
            "stream_errors: count<1",
        ],
    );
    let report = loadgen::app::run(plan).await.unwrap();
    let s = streams(&report);
    assert!(s.streams >= 4, "only {} streams", s.streams);
    assert_eq!(s.streams, seen.count("chat_stream"));
    assert_eq!(seen.count("chat"), 0, "the JSON chat path is not used");
    // The keep-alive comment and the empty token are not content.
    assert_eq!(s.tokens, TOKENS * s.streams);
    assert_eq!(s.completion_tokens, TOKENS * s.streams);
    assert_eq!((s.failed(), report.aggregate.failed_requests()), (0, 0));
    assert_eq!(check(&report, "stream completed with done").1, 0);
    assert_eq!(check(&report, "assistant reply is not empty").1, 0);

    let sum = |h: &hdrhistogram::Histogram<u64>| Summary::of(h);
    let (ttfb, ttft, itl, tpot, e2e) = (
        sum(&s.ttfb),
        sum(&s.ttft),
        sum(&s.itl),
        sum(&s.tpot),
        sum(&s.e2e),
    );
    eprintln!(
        "streams {} | ttfb p50 {} ms | ttft p50 {} p95 {} ms | itl p50 {} p95 {} ms | tpot p50 {} ms | e2e p50 {} ms",
        s.streams,
        ms(ttfb.med),
        ms(ttft.med),
        ms(ttft.p95),
        ms(itl.med),
        ms(itl.p95),
        ms(tpot.med),
        ms(e2e.med)
    );
    let ttft_p50 = ms(ttft.med);
    assert!(
        (TTFT_MS - 0.1..=TTFT_MS + TOLERANCE_MS).contains(&ttft_p50),
        "TTFT p50 {ttft_p50} ms, scheduled {TTFT_MS} ms"
    );
    // Every gap is recorded: n - 1 per stream.
    assert_eq!(itl.count, (TOKENS - 1) * s.streams);
    let itl_p50 = ms(itl.med);
    assert!(
        (itl_p50 - ITL_MS).abs() <= TOLERANCE_MS,
        "ITL p50 {itl_p50} ms, scheduled {ITL_MS} ms"
    );
    // TPOT is the mean gap of each stream: its median is the ITL's.
    assert_eq!(tpot.count, s.streams);
    assert!(
        (ms(tpot.med) - ITL_MS).abs() <= TOLERANCE_MS,
        "TPOT p50 {} ms",
        ms(tpot.med)
    );
    // Headers come before the first token, the end after the last one.
    assert!(ttfb.max <= ttft.min, "TTFB {ttfb:?} TTFT {ttft:?}");
    let last_token_ms = TTFT_MS + (TOKENS - 1) as f64 * ITL_MS;
    assert!(
        (last_token_ms - 0.1..=last_token_ms + TOLERANCE_MS).contains(&ms(e2e.med)),
        "E2E p50 {} ms, last token scheduled at {last_token_ms} ms",
        ms(e2e.med)
    );
    // E2E is TTFT plus the (n - 1) gaps, request by request.
    // (0.2% slack: two HDR roundings of 0.1%.)
    let floor = ttft.min as f64 + (TOKENS - 1) as f64 * tpot.min as f64;
    assert!(e2e.min as f64 >= floor * 0.998, "E2E {e2e:?}");
    // 8 tokens over the 140 ms from the first token to done: ~57 tokens/s.
    let tps = sum(&s.tokens_per_s).med as f64 / 1000.0;
    let expected = TOKENS as f64 / ((TOKENS - 1) as f64 * ITL_MS / 1000.0);
    assert!(
        (tps - expected).abs() <= expected * 0.05,
        "tokens/s p50 {tps}, expected about {expected}"
    );
    // http_req_duration and http_req_waiting of the streamed request are
    // E2E and TTFB: one definition everywhere.
    let (d, w) = report
        .aggregate
        .merged_where(|k| &*k.endpoint == "chat_stream");
    assert_eq!(Summary::of(&d), Summary::of(&s.e2e));
    assert_eq!(Summary::of(&w), Summary::of(&s.ttfb));

    let verdicts: Vec<(String, bool)> = report
        .verdicts
        .iter()
        .map(|v| (v.threshold.to_string(), v.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("chat_ttft{phase:chat}: p(50)<70".to_string(), true),
            ("chat_ttft{phase:chat}: p(50)<50".to_string(), false),
            ("stream_errors: count<1".to_string(), true),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_event_mid_stream_is_a_stream_error_a_failed_request_and_a_failed_check() {
    let (addr, seen) = chat_server(Config {
        stream: StreamScript {
            failure: Some((2, Ending::ErrorEvent)),
            ..StreamScript::default()
        },
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let plan = streaming_plan(
        &format!("http://{addr}"),
        &users,
        &["--threshold", "stream_errors: rate<0.01"],
    );
    let report = loadgen::app::run(plan).await.unwrap();
    let s = streams(&report);
    let sent = seen.stream_endings.lock().unwrap().clone();
    let error_events = sent.get("error_event").copied().unwrap_or(0);
    assert!(error_events >= 1, "{sent:?}");
    assert_eq!(s.errors.get("error_event"), Some(&error_events));
    assert_eq!(s.errors.get("cut"), None);
    // A 200 whose stream failed still fails http_req_failed.
    assert_eq!(report.aggregate.failed_requests(), error_events);
    assert_eq!(check(&report, "stream completed with done").1, error_events);
    assert_eq!(
        check(&report, "assistant reply is not empty").1,
        error_events
    );
    assert_eq!(check(&report, "chat status is 200").1, 0);
    assert!(!report.verdicts[0].passed, "{:?}", report.verdicts);
    // The failed streams' tokens still time TTFT and ITL.
    assert_eq!(s.ttft.len(), s.streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_a_stream_error_whether_the_body_ends_or_the_connection_breaks() {
    for ending in [Ending::Eof, Ending::Abort] {
        let (addr, seen) = chat_server(Config {
            stream: StreamScript {
                failure: Some((2, ending)),
                ..StreamScript::default()
            },
            ..Config::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let users = users_file(dir.path(), 2);
        let plan = streaming_plan(&format!("http://{addr}"), &users, &[]);
        let report = loadgen::app::run(plan).await.unwrap();
        let s = streams(&report);
        let cut = seen
            .stream_endings
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| **k != "done")
            .map(|(_, n)| *n)
            .sum::<u64>();
        assert!(cut >= 1, "{ending:?}");
        assert_eq!(s.errors.get("cut"), Some(&cut), "{ending:?}");
        assert_eq!(s.streams, seen.count("chat_stream"), "{ending:?}");
        assert_eq!(report.aggregate.failed_requests(), cut, "{ending:?}");
        assert_eq!(
            check(&report, "stream completed with done").1,
            cut,
            "{ending:?}"
        );
        if ending == Ending::Abort {
            // A broken connection is also an `io` error of the request.
            assert_eq!(report.aggregate.errors.get("io"), Some(&cut));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_thresholds_are_skipped_with_the_reason_when_the_chat_does_not_stream() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 1);
    let plan = run_plan(&[
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "1",
        "--duration",
        "1s",
        "--threshold",
        "chat_ttft{phase:chat}: p(95)<800",
    ]);
    assert!(plan.thresholds.iter().all(|t| !t.metric.is_streaming()));
    assert_eq!(
        plan.skipped_thresholds,
        ["chat_ttft{phase:chat}: p(95)<800 (the chat step does not stream: use --stream)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_of_a_streaming_run_validates_and_carries_the_token_histograms() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let out_dir = dir.path().join("results");
    let base = format!("http://{addr}");
    let out = loadgen_bin(
        &[
            "run",
            "--base-url",
            &base,
            "--users-file",
            users.to_str().unwrap(),
            "--vus",
            "2",
            "--duration",
            "800ms",
            "--think",
            "50ms",
            "--stream",
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
            "--threshold",
            "chat_ttft: p(95)<10",
        ],
        &[],
    )
    .await;
    assert_eq!(
        out.code, 99,
        "a 10 ms TTFT cannot hold against 60 ms: {out:?}"
    );
    for expected in [
        "streaming (chat turns read as SSE)",
        "chat_ttft",
        "chat_itl",
        "chat_tpot",
        "chat_e2e",
        "chat_tokens_per_s",
        "stream_tokens",
        "stream_errors",
        "error_event=0 cut=0",
        "✗ chat_ttft: p(95)<10",
        "chat_stream",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected} missing in the summary:\n{}",
            out.stdout
        );
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    validate_summary(&summary);
    assert_eq!(summary["schema"], "chatbench.loadgen.summary/v2");
    let streaming = &summary["streaming"];
    let n = streaming["streams"].as_u64().unwrap();
    assert_eq!(n, seen.count("chat_stream"));
    assert_eq!(streaming["tokens"].as_u64().unwrap(), TOKENS * n);
    let series = &streaming["series"][0];
    assert_eq!(series["endpoint"], "chat_stream");
    for (key, count) in [
        ("ttft", n),
        ("ttfb", n),
        ("e2e", n),
        ("tpot", n),
        ("tokens_per_s", n),
        ("itl", (TOKENS - 1) * n),
    ] {
        let h =
            loadgen::export::decode_histogram(series["histograms"][key].as_str().unwrap()).unwrap();
        assert_eq!(h.len(), count, "{key}");
    }
    let ttft_p50 = streaming["ttft_us"]["med"].as_u64().unwrap();
    assert!(ms(ttft_p50) >= TTFT_MS - 0.1, "{ttft_p50}");
    assert_eq!(summary["thresholds"][0]["metric"], "chat_ttft");
    assert_eq!(summary["thresholds"][0]["passed"], false);
    // The timeline's per-interval stream histograms hold every stream.
    let mut in_points = (0, 0, 0, 0);
    for p in summary["timeline"]["points"].as_array().unwrap() {
        for s in p["streams"].as_array().unwrap() {
            assert_eq!(s["phase"], "chat");
            let len = |key: &str| {
                loadgen::export::decode_histogram(s[key].as_str().unwrap())
                    .unwrap()
                    .len()
            };
            in_points.0 += s["streams"].as_u64().unwrap();
            in_points.1 += len("ttft");
            in_points.2 += len("itl");
            in_points.3 += len("tokens_per_s");
        }
    }
    assert_eq!(in_points, (n, n, (TOKENS - 1) * n, n));
}
