//! `loadgen capacity` against the real backend on a throwaway Postgres,
//! made to saturate early: one password hash at a time
//! (`HASH_CONCURRENCY=1`) and a login every iteration with no think time,
//! so the login's latency grows with the VUs and a tight auth limit breaks
//! inside the ladder. The search must find the knee in bounded time, name
//! the threshold that broke, and write capacity.json and capacity.html.

mod common;

use clap::Parser;
use loadgen::capacity::{self, Outcome};
use loadgen::cli::{Cli, Command};
use loadgen::plan::{self, Env};
use std::time::{Duration, Instant};

/// With one hash at a time a login waits for the VUs ahead of it, so its
/// p95 grows with the VUs: this limit is about sixteen queued logins on a
/// quiet machine (some 15 ms a hash) and a handful on a busy one, inside
/// the ladder (1 to 64 VUs, doubling) either way.
const AUTH_LIMIT: &str = "http_req_duration{phase:auth}: p(95)<250";

/// The hash queue must hold every VU's login: at its default (32 per
/// hashing thread) 40 VUs overflow it, logins fail fast with 503, and the
/// error cap breaks instead of the latency limit this test is about.
const HASH_QUEUE_MAX: &str = "256";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capacity_search_finds_the_knee_where_the_login_latency_breaks_its_limit() {
    let app = common::backend(&[
        ("HASH_CONCURRENCY", "1"),
        ("HASH_QUEUE_MAX", HASH_QUEUE_MAX),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, 64, dir.path()).await;
    let out = dir.path().join("out");
    let argv = [
        "loadgen",
        "capacity",
        "-q",
        &app.base_url,
        "--users-file",
        users.to_str().unwrap(),
        "--steps",
        "1,2,4,8,16,32,64",
        "--settle",
        "1s",
        "--hold",
        "3s",
        "--bisect",
        "2",
        "--think",
        "0s",
        "--threshold",
        AUTH_LIMIT,
        "--no-scrape",
        "--out",
        out.to_str().unwrap(),
    ];
    let plan = match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Capacity(a) => plan::resolve_capacity(&a, &Env::default()).expect("plan resolves"),
        _ => unreachable!("a capacity command"),
    };
    // Bounded up front: 7 ladder steps + 2 bisections, each 1 s + 3 s plus
    // 11 s for the guard's check and the stop.
    assert_eq!(plan.max_duration, Duration::from_secs(9 * 15));
    let started = Instant::now();
    let report = capacity::run(&plan, None).await.expect("the search runs");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "the search took {took:?}");
    print!("{}", capacity::render(&report));
    // What `loadgen capacity --out DIR` writes after the search.
    let written = capacity::write(&out, &report).expect("files written");
    assert_eq!(written.len(), 2);

    let knee = report.knee.expect("a knee");
    let bad = report.first_failed.expect("a load that failed");
    assert_eq!(report.outcome, Outcome::Knee);
    assert_eq!(report.exit_code, 0);
    assert!(
        knee >= 1.0 && knee < bad && bad <= 64.0,
        "knee {knee}, bad {bad}"
    );
    // Bisected: the knee and the first failure are neighbours or closer
    // than one ladder rung.
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.kind == capacity::StepKind::Bisect)
            || bad - knee <= 1.0
    );
    let auth = report
        .broken
        .iter()
        .find(|b| b.threshold == AUTH_LIMIT)
        .expect("the auth limit broke");
    assert_eq!(auth.load, bad, "{:?}", report.broken);
    assert!(auth.actual.is_some_and(|a| a >= 250.0), "{auth:?}");
    // Every step at or below the knee held and had traffic and goodput;
    // every step judged above it failed.
    for s in &report.steps {
        assert!(!s.interrupted);
        assert_eq!(s.held, s.load <= knee, "step {} at {}", s.index, s.load);
        assert!(s.figures.requests > 0 && s.figures.requests_per_s > 0.0);
        assert!(
            (s.figures.window_s - 3.0).abs() < 0.5,
            "window {}",
            s.figures.window_s
        );
        if s.held {
            assert!(s.figures.goodput.good_requests > 0);
            assert!(s.figures.goodput.ratio <= 1.0);
        }
        let phases: Vec<&str> = s.figures.phases.iter().map(|p| p.phase.as_str()).collect();
        assert!(
            phases.contains(&"auth") && phases.contains(&"chat"),
            "{phases:?}"
        );
    }

    // The files: the JSON says the same, under its schema name.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capacity.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "chatbench.loadgen.capacity/v1");
    assert_eq!(json["knee"].as_f64(), Some(knee));
    assert_eq!(json["outcome"], "knee");
    assert_eq!(json["unit"], "VUs");
    assert_eq!(json["steps"].as_array().unwrap().len(), report.steps.len());
    let step = &json["steps"][0];
    for field in [
        "load",
        "requests_per_s",
        "iterations_per_s",
        "error_rate",
        "latency",
        "phases",
        "goodput",
        "verdicts",
    ] {
        assert!(!step[field].is_null(), "steps[0].{field} in {step}");
    }
    assert!(json["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "http_req_failed: rate<0.01"));
    let html = std::fs::read_to_string(out.join("capacity.html")).unwrap();
    assert!(
        html.contains("chatbench.loadgen.capacity/v1") && html.contains("Content-Security-Policy")
    );
    assert!(!html.contains("src=\"http"), "nothing fetched");
    app.shutdown().await.unwrap();
}
