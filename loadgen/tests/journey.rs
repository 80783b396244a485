//! The chat journey against a fake backend that enforces cookie + CSRF (or
//! bearer): the default journey logs in at every iteration, each VU with its
//! own account (`--login once` logs in once per VU), the server's counts
//! equal loadgen's, a 401 triggers a new login, the optional steps hit their
//! endpoints, and summary.json validates against its JSON Schema with
//! histograms that decode to the recorded counts.

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config, Seen};
use common::{loadgen_bin, run_plan, users_file, validate_summary as validate};
use loadgen::report::Report;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn requests(report: &Report, endpoint: &str) -> u64 {
    report
        .aggregate
        .requests
        .iter()
        .filter(|(k, _)| &*k.endpoint == endpoint)
        .map(|(_, s)| s.count())
        .sum()
}

fn all_checks_passed(report: &Report) -> bool {
    report.aggregate.checks.values().all(|c| c.fails == 0) && !report.aggregate.checks.is_empty()
}

/// Three VUs for 800 ms (100 ms think) on the default fake chat server,
/// with five accounts and `extra` options; the report and what the server saw.
async fn three_vus_on_the_default_server(extra: &[&str]) -> (Report, Arc<Seen>) {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 5);
    let base = format!("http://{addr}");
    let mut args = vec![
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "3",
        "--duration",
        "800ms",
        "--think",
        "100ms",
    ];
    args.extend_from_slice(extra);
    let report = loadgen::app::run(run_plan(&args)).await.unwrap();
    (report, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_login_once_a_vu_logs_in_a_single_time() {
    let (report, seen) = three_vus_on_the_default_server(&["--login", "once"]).await;
    assert!(all_checks_passed(&report), "{:?}", report.aggregate.checks);
    assert_eq!(seen.count("login"), 3);
    assert!(report.aggregate.iterations.len() >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_journey_logs_in_every_iteration_and_chats_with_cookie_and_csrf() {
    let (report, seen) = three_vus_on_the_default_server(&[]).await;
    assert!(all_checks_passed(&report), "{:?}", report.aggregate.checks);
    assert!(
        seen.refused.lock().unwrap().is_empty(),
        "{:?}",
        seen.refused.lock().unwrap()
    );
    // A login per iteration, as the original k6 journey does, each VU with
    // its own account (VU i -> users[i % n]).
    let logins: BTreeSet<String> = seen.logins.lock().unwrap().iter().cloned().collect();
    assert_eq!(seen.count("login"), report.aggregate.iterations.len());
    assert_eq!(logins, ["user0", "user1", "user2"].map(String::from).into());
    // The server's counts are loadgen's counts, endpoint by endpoint.
    for endpoint in ["login", "create_session", "chat"] {
        assert_eq!(
            requests(&report, endpoint),
            seen.count(endpoint),
            "{endpoint}"
        );
    }
    let iterations = report.aggregate.iterations.len();
    assert!(iterations >= 6, "iterations {iterations}");
    assert_eq!(seen.count("create_session"), iterations);
    assert_eq!(seen.count("chat"), iterations);
    assert_eq!(
        seen.chats_with_session
            .load(std::sync::atomic::Ordering::SeqCst),
        iterations
    );
    let phases: Vec<String> = report
        .aggregate
        .phases()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(phases, ["auth", "chat", "session"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_auth_sends_the_token_from_the_login_body_and_no_csrf_header() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "400ms",
        "--think",
        "50ms",
        "--auth",
        "bearer",
    ]);
    let report = loadgen::app::run(plan).await.unwrap();
    assert!(all_checks_passed(&report), "{:?}", report.aggregate.checks);
    assert!(seen.count("chat") >= 2);
    assert_eq!(
        seen.bearer_with_csrf
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(seen.refused.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_drops_the_credentials_and_the_next_iteration_logs_in_again() {
    // A token is good for 3 authenticated requests: iteration 1 uses 2
    // (session + chat), iteration 2 gets a 401 on its chat.
    let cfg = Config {
        token_max_uses: Some(3),
        ..Config::default()
    };
    let (addr, seen) = chat_server(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 1);
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "1",
        "--duration",
        "500ms",
        "--think",
        "20ms",
    ]);
    let report = loadgen::app::run(plan).await.unwrap();
    assert!(seen.count("login") >= 2, "logins {}", seen.count("login"));
    let refused = seen.refused.lock().unwrap().clone();
    assert!(refused.keys().all(|k| k.ends_with(" 401")), "{refused:?}");
    let unauthorized: u64 = refused.values().sum();
    // Every 401 the server sent is a failed request in loadgen's books.
    assert_eq!(report.aggregate.failed_requests(), unauthorized);
    assert_eq!(requests(&report, "login"), seen.count("login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_listing_history_and_other_steps_hit_their_endpoints() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "500ms",
        "--think",
        "50ms",
        "--turns",
        "3",
        "--tags",
        "all",
        "--other-probability",
        "1",
        // Only the journey's own GETs are counted below.
        "--no-scrape",
    ]);
    let report = loadgen::app::run(plan).await.unwrap();
    assert!(all_checks_passed(&report), "{:?}", report.aggregate.checks);
    let iterations = report.aggregate.iterations.len();
    assert!(iterations >= 2);
    assert_eq!(seen.count("create_session"), iterations);
    assert_eq!(seen.count("chat"), 3 * iterations);
    assert_eq!(seen.count("list_sessions"), iterations);
    assert_eq!(seen.count("get_session"), iterations);
    let other = seen.count("health_probe") + seen.count("stats") + seen.count("metrics");
    assert_eq!(other, iterations);
    assert_eq!(requests(&report, "chat"), seen.count("chat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_volume_user_mix_chats_more_turns_per_session() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 1);
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "1",
        "--duration",
        "300ms",
        "--think",
        "40ms",
        "--user-mix",
        "normal:0,high-volume:1",
    ]);
    let report = loadgen::app::run(plan).await.unwrap();
    assert!(all_checks_passed(&report));
    // high-volume: four turns per session (and a quarter of the think time).
    assert_eq!(seen.count("chat"), 4 * seen.count("create_session"));
}

fn decoded_total(summary: &Value) -> u64 {
    summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let h =
                loadgen::export::decode_histogram(s["histograms"]["duration"].as_str().unwrap())
                    .unwrap();
            assert_eq!(h.len(), s["count"].as_u64().unwrap());
            h.len()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_of_a_run_validates_against_its_schema_and_its_histograms_decode() {
    let (addr, seen) = chat_server(Config {
        chat_delay: Duration::from_millis(20),
        ..Config::default()
    })
    .await;
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
            "500ms",
            "--think",
            "50ms",
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
            "--seed",
            "7",
            "--threshold",
            "http_req_duration{phase:chat}: p(95)<1",
            "--threshold",
            "checks{phase:chat}: rate>0.9",
        ],
        &[],
    )
    .await;
    assert_eq!(
        out.code, 99,
        "the 1 ms chat threshold cannot hold against a 20 ms server: {out:?}"
    );
    for expected in [
        "checks",
        "http_req_duration",
        "{ phase:chat }",
        "http_req_failed",
        "http_reqs",
        "iterations",
        "data_received",
        "data_sent",
        "vus",
        "create_session",
        "✗ http_req_duration{phase:chat}: p(95)<1",
        "✓ checks{phase:chat}: rate>0.9",
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
    validate(&summary);
    assert_eq!(summary["schema"], "chatbench.loadgen.summary/v2");
    assert_eq!(summary["exit_code"], 99);
    assert_eq!(summary["seed"], 7);
    let total = summary["http_reqs"]["count"].as_u64().unwrap();
    assert_eq!(decoded_total(&summary), total);
    assert_eq!(
        total,
        seen.count("login") + seen.count("create_session") + seen.count("chat")
    );
    let chat_p95 = summary["thresholds"][0]["actual"].as_f64().unwrap();
    assert!(chat_p95 >= 20.0, "chat p95 {chat_p95} ms");
    assert!(out_dir.join("summary.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_of_a_hit_validates_against_its_schema() {
    let (addr, _) = common::counting_server(common::Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/work");
    let out = loadgen_bin(
        &[
            "hit",
            &url,
            "-c",
            "2",
            "-n",
            "40",
            "-q",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    validate(&summary);
    assert_eq!(summary["mode"], "hit");
    assert_eq!(summary["ended"], "exhausted");
    assert_eq!(summary["http_reqs"]["count"], 40);
    assert_eq!(decoded_total(&summary), 40);
    assert_eq!(summary["endpoints"][0]["endpoint"], "GET /work");
}
