//! The diagnosis against the real backend: a healthy run gives no findings,
//! and each configuration that should trigger a rule does, with its
//! figures. Load stays short (≤ 8 s a run).
//!
//! The server-side rules read `Report.server`, which the scrape of the
//! target's `/api/metrics` fills; the client-side ones (healthy, error
//! onset) need nothing from the server. Figures measured by reading
//! `/api/metrics` during these very runs (2-core machine):
//! DB_POOL_SIZE=2 with 40 VUs logging in once: pool usage 1.00 (2 of 2) in
//! 6-7 of 8-10 scrapes; HASH_CONCURRENCY=1 with 20 VUs logging in every
//! iteration: queue depth 18-19 in 8 of 8 load scrapes, a hash 725 ms
//! queued against 463 ms; MOCK_LLM_TTFT_MS=2000: chat p50 2.0 s, p95
//! 2.2-2.4 s, provider 100% of chat time; a 30% 429 rate from mock-llm:
//! 23-27 429s in ~60 provider calls, chat p95 3.0 s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use loadgen::report::Report;
use loadgen::server::Finding;

/// The finding of `rule`, or a failure listing what fired instead.
fn finding<'a>(report: &'a Report, rule: &str) -> &'a Finding {
    report
        .diagnosis
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| {
            panic!(
                "{rule} did not fire; findings: {:#?}; server metrics: {}",
                report.diagnosis,
                if report.server.is_some() {
                    "present"
                } else {
                    "absent"
                }
            )
        })
}

/// Runs `args` (plus the users) against a backend configured with `env`.
async fn run_against(env: &[(&str, &str)], users: usize, args: &[&str]) -> Report {
    let app = common::backend(env).await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, users, dir.path()).await;
    let mut all = vec![
        "--base-url",
        app.base_url.as_str(),
        "--users-file",
        users.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let report = common::run(&all).await;
    app.shutdown().await.unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_short_run_has_no_findings() {
    let report = run_against(&[], 3, &["--stages", "3s:3,4s:3"]).await;
    assert!(
        report.diagnosis.is_empty(),
        "findings on a healthy run: {:#?}",
        report.diagnosis
    );
    let text = loadgen::summary::render(&report);
    let line = text
        .lines()
        .find(|l| l.contains("diagnosis:"))
        .expect("the summary prints the diagnosis");
    assert!(line.contains("diagnosis: no findings ("), "{line}");
    // With the scrape, the backend's endpoint is named and all rules ran;
    // without it, the client-side ones.
    match loadgen::diagnose::server_target(&report) {
        Some(t) => assert!(
            line.ends_with(&format!("server metrics: {})", t.url)),
            "{line}"
        ),
        None => assert!(
            line.ends_with("rules checked; server metrics: none)"),
            "{line}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failing_half_its_calls_shows_when_errors_started() {
    // Client side only: this runs with or without the server's series.
    let report = run_against(
        &[("MOCK_LLM_ERROR_RATE", "0.5")],
        4,
        &["--vus", "4", "--duration", "5s", "--think", "0s"],
    )
    .await;
    let f = finding(&report, "error_onset");
    eprintln!("error_onset: {}", f.evidence);
    assert!(
        f.evidence.starts_with("errors started at "),
        "{}",
        f.evidence
    );
    assert!(
        f.evidence.contains("most failures: chat chat"),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, loadgen::server::Severity::Critical);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_connection_pool_is_named_with_its_usage_figure() {
    let report = run_against(
        &[("DB_POOL_SIZE", "2")],
        10,
        &[
            "--vus",
            "40",
            "--duration",
            "8s",
            "--think",
            "0s",
            "--login",
            "once",
        ],
    )
    .await;
    let f = finding(&report, "db_pool_saturated");
    assert!(
        f.evidence
            .starts_with("pool usage ratio 1.00 (2 of 2 connections checked out)"),
        "{}",
        f.evidence
    );
    assert!(f.advice.contains("DB_POOL_SIZE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_dominates_chat_latency() {
    let report = run_against(
        &[("MOCK_LLM_TTFT_MS", "2000")],
        3,
        &["--vus", "3", "--duration", "8s", "--think", "0s"],
    )
    .await;
    let f = finding(&report, "provider_dominates");
    assert!(f.evidence.contains("chat p95 is"), "{}", f.evidence);
    assert!(f.advice.contains("PROVIDER_TIMEOUT_SECONDS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_429s_from_mock_llm_are_named() {
    use mock_llm::config::Config;
    use mock_llm::mockmodel::MockLlmConfig;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Config {
        llm: MockLlmConfig {
            tokens: 12,
            rate_429: 0.3,
            ..MockLlmConfig::instant(7)
        },
        ..Config::default()
    };
    let mock = tokio::spawn(mock_llm::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let report = run_against(
        &[
            ("LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", &base),
            ("OPENAI_API_KEY", "sk-e2e-test"),
        ],
        3,
        &["--vus", "3", "--duration", "8s", "--think", "0s"],
    )
    .await;
    let _ = stop.send(());
    mock.await.unwrap().unwrap();
    let f = finding(&report, "provider_429");
    assert!(
        f.evidence
            .starts_with("the provider answered 429 (rate limited)"),
        "{}",
        f.evidence
    );
    assert!(f.advice.contains("quota"));
    finding(&report, "provider_retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_on_one_hashing_slot_is_a_hash_backlog() {
    let report = run_against(
        &[("HASH_CONCURRENCY", "1")],
        10,
        &["--vus", "20", "--duration", "8s", "--think", "0s"],
    )
    .await;
    let f = finding(&report, "hash_backlog");
    assert!(
        f.evidence.starts_with("hash queue depth up to "),
        "{}",
        f.evidence
    );
    assert!(f.advice.contains("HASH_CONCURRENCY"));
}
