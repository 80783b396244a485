//! The built binary's contract: the guard refuses non-test targets (exit 3)
//! and unreachable ones (exit 4), the override lets a run through, the
//! periodic re-check aborts a run whose target stops being a test backend,
//! bad arguments exit 2, failed thresholds 99, and `--help` documents it all.

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config, Seen};
use common::{dead_port, loadgen_bin, users_file, Outcome};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The fake chat backend set up as `cfg`: its base URL and what it saw.
async fn fake_backend(cfg: Config) -> (String, Arc<Seen>) {
    let (addr, seen) = chat_server(cfg).await;
    (format!("http://{addr}"), seen)
}

/// A short run of the other step only (no users needed): one VU, 300 ms.
fn short_run(base: &str) -> Vec<&str> {
    vec![
        "run",
        "--base-url",
        base,
        "--vus",
        "1",
        "--duration",
        "300ms",
        "--tags",
        "other",
        "--other-probability",
        "1",
        "--think",
        "50ms",
        "-q",
    ]
}

/// [`short_run`] lasting `duration` instead.
fn run_for<'a>(base: &'a str, duration: &'a str) -> Vec<&'a str> {
    let mut args = short_run(base);
    assert_eq!(args[5], "--duration");
    args[6] = duration;
    args
}

/// [`run_for`] `duration`, the guard re-checking every 200 ms.
fn guarded_run<'a>(base: &'a str, duration: &'a str) -> Vec<&'a str> {
    let mut args = run_for(base, duration);
    args.extend(["--guard-interval", "200ms"]);
    args
}

/// The summary.json a run wrote into `out_dir`.
fn read_summary(out_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap()).unwrap()
}

/// A 2-second [`guarded_run`] against the fake backend set up as `cfg`,
/// its outputs written into a fresh temporary directory.
struct GuardedRun {
    out: Outcome,
    /// The whole run, process start to exit.
    took: Duration,
    /// Holds the outputs (`out/`) until dropped.
    dir: TempDir,
}

impl GuardedRun {
    async fn start(cfg: Config) -> GuardedRun {
        let (base, _) = fake_backend(cfg).await;
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("out");
        let mut args = guarded_run(&base, "2s");
        args.extend(["--out", out_dir.to_str().unwrap()]);
        let started = Instant::now();
        let out = loadgen_bin(&args, &[]).await;
        GuardedRun {
            out,
            took: started.elapsed(),
            dir,
        }
    }

    fn summary(&self) -> Value {
        read_summary(&self.dir.path().join("out"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_a_production_target_before_sending_any_load() {
    let cfg = Config {
        app_env: Some("production".into()),
        ..Config::default()
    };
    let (base, seen) = fake_backend(cfg).await;
    let out = loadgen_bin(&short_run(&base), &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("app_env=\"production\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--allow-non-test-backend"),
        "{}",
        out.stderr
    );
    let counts = seen.counts.lock().unwrap().clone();
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        ["health"],
        "only the guard's probe: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_a_target_whose_health_has_no_app_env() {
    let cfg = Config {
        app_env: None,
        ..Config::default()
    };
    let (base, _) = fake_backend(cfg).await;
    let out = loadgen_bin(&short_run(&base), &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("app_env=missing"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_override_flag_and_both_environment_names_let_a_non_test_target_be_loaded() {
    let cfg = Config {
        app_env: Some("production".into()),
        ..Config::default()
    };
    let (base, seen) = fake_backend(cfg).await;
    let mut with_flag = short_run(&base);
    with_flag.push("--allow-non-test-backend");
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: [Case<'_>; 3] = [
        (with_flag, vec![]),
        (
            short_run(&base),
            vec![("LOADGEN_ALLOW_NON_TEST_BACKEND", "1")],
        ),
        (short_run(&base), vec![("K6_ALLOW_NON_TEST_BACKEND", "1")]),
    ];
    for (args, env) in cases {
        let before = seen.count("health_probe") + seen.count("stats") + seen.count("metrics");
        let out = loadgen_bin(&args, &env).await;
        assert_eq!(out.code, 0, "{env:?}: {out:?}");
        assert!(
            out.stderr.contains("guard was overridden"),
            "{}",
            out.stderr
        );
        let after = seen.count("health_probe") + seen.count("stats") + seen.count("metrics");
        assert!(after > before, "{env:?}: no load was sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_its_own_error_with_exit_code_4() {
    let port = dead_port().await;
    let base = format!("http://127.0.0.1:{port}");
    let out = loadgen_bin(&short_run(&base), &[]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("target unreachable"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // Overriding the guard does not make an unreachable target loadable.
    let out = loadgen_bin(
        &short_run(&base),
        &[("LOADGEN_ALLOW_NON_TEST_BACKEND", "1")],
    )
    .await;
    assert_eq!(out.code, 4, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_being_test_during_the_run_aborts_it_with_exit_code_3() {
    let cfg = Config {
        production_after_health_calls: Some(1),
        ..Config::default()
    };
    let (base, _) = fake_backend(cfg).await;
    let args = guarded_run(&base, "20s");
    let started = Instant::now();
    let out = loadgen_bin(&args, &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the run was not aborted: {:?}",
        started.elapsed()
    );
    assert!(
        out.stderr.contains("guard re-check refused"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("ABORTED"), "{}", out.stdout);
}

/// Another deployment answering at the same URL (here: another version,
/// still `app_env: "test"`) aborts the run as a non-test one does; the same
/// deployment restarted is noted and the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_deployment_aborts_the_run_and_a_restart_is_only_noted() {
    let cfg = Config {
        version_after_health_calls: Some(2),
        ..Config::default()
    };
    let (base, _) = fake_backend(cfg).await;
    let args = guarded_run(&base, "20s");
    let started = Instant::now();
    let out = loadgen_bin(&args, &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "not aborted");
    assert!(
        out.stderr
            .contains(r#"another deployment answers at /api/health (version "1.0.0" -> "2.0.0")"#),
        "{}",
        out.stderr
    );

    let cfg = Config {
        restart_at_health_call: Some(4),
        ..Config::default()
    };
    let run = GuardedRun::start(cfg).await;
    let out = &run.out;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("the target restarted"),
        "{}",
        out.stderr
    );
    let summary = run.summary();
    let kinds: Vec<&str> = summary["health"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["restarted"], "{summary}");
    assert!(
        out.stdout.contains("found it restarted at 1 re-check"),
        "{}",
        out.stdout
    );
}

/// A test backend that says it is degraded (503, `app_env: "test"`) in the
/// middle of the run is what a stress run is there to see: the run goes on
/// to its end, the re-checks are in summary.json's `health` and the
/// diagnosis names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_backend_degraded_during_the_run_is_noted_and_the_run_goes_on() {
    let cfg = Config {
        // The first check (before the load) is healthy; re-checks 1 to 3
        // (health answers 2..5) are a 503 degraded.
        degraded_health_calls: Some(2..5),
        ..Config::default()
    };
    let run = GuardedRun::start(cfg).await;
    let out = &run.out;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        run.took >= Duration::from_secs(2),
        "the run did not go to its end"
    );
    assert!(!out.stdout.contains("ABORTED"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("answered 503 with status=\"degraded\", app_env=\"test\"; continuing"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("healthy again"), "{}", out.stderr);
    let summary = run.summary();
    let health = summary["health"].as_array().unwrap();
    assert_eq!(health.len(), 3, "{health:?}");
    assert!(health.iter().all(|n| n["kind"] == "degraded"));
    assert!(summary["aborted_reason"].is_null(), "{summary}");
    let rules: Vec<&str> = summary["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"target_unhealthy"), "{rules:?}");
    assert!(
        out.stdout.contains("said it was degraded at 3 re-checks"),
        "{}",
        out.stdout
    );
}

/// SIGTERM (a pod being stopped, a CI job cancelled) ends the run early
/// with every output written, as Ctrl-C does; an interrupted run exits 105
/// even when its thresholds held on the partial data, 99 when one failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_run_with_its_outputs_and_exit_code_105_or_99() {
    let (base, _) = fake_backend(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    for (threshold, expected) in [
        ("http_req_duration: p(95)<60000", 105),
        ("http_req_duration: p(95)<0", 99),
    ] {
        let out_dir = dir.path().join(format!("out-{expected}"));
        let mut args = run_for(&base, "60s");
        args.extend(["--threshold", threshold, "--out"]);
        args.push(out_dir.to_str().unwrap());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .env_remove("BASE_URL")
            .env_remove("LOADGEN_ALLOW_NON_TEST_BACKEND")
            .env_remove("K6_ALLOW_NON_TEST_BACKEND")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
            .await
            .expect("loadgen did not end within 15 s of SIGTERM")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = read_summary(&out_dir);
        assert_eq!(summary["aborted_reason"], "interrupted", "{summary}");
        assert_eq!(summary["exit_code"], expected);
        assert!(summary["http_reqs"]["count"].as_u64().unwrap() > 0);
        assert!(out_dir.join("report.html").is_file());
        if expected == 105 {
            assert!(stdout.contains("interrupted before its end"), "{stdout}");
        }
    }
}

/// k6's abortOnFail: a marked threshold that fails during the run ends it
/// at the next interval (after its delayAbortEval), exit 99, with every
/// output written and the reason in summary.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_on_fail_threshold_ends_the_run_early_with_exit_99() {
    let (base, _) = fake_backend(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    for (suffix, at_least, at_most) in [
        ("abortOnFail", Duration::ZERO, Duration::from_secs(4)),
        (
            "abortOnFail delayAbortEval=2s",
            Duration::from_secs(2),
            Duration::from_secs(6),
        ),
    ] {
        let out_dir = dir.path().join(suffix.replace([' ', '='], "-"));
        let threshold = format!("http_req_duration: p(95)<0.001 {suffix}");
        let mut args = run_for(&base, "30s");
        args.extend(["--interval", "500ms", "--threshold", &threshold, "--out"]);
        args.push(out_dir.to_str().unwrap());
        let started = Instant::now();
        let out = loadgen_bin(&args, &[]).await;
        let took = started.elapsed();
        assert_eq!(out.code, 99, "{out:?}");
        assert!(took >= at_least && took < at_most, "{suffix}: {took:?}");
        assert!(
            out.stderr.contains("failed at t=") && out.stderr.contains("abortOnFail"),
            "{}",
            out.stderr
        );
        assert!(
            out.stdout
                .contains("ABORTED: an abortOnFail threshold failed"),
            "{}",
            out.stdout
        );
        let summary = read_summary(&out_dir);
        let reason = summary["aborted_reason"].as_str().unwrap();
        assert!(
            reason.starts_with("threshold: http_req_duration: p(95)<0.001 abortOnFail"),
            "{reason}"
        );
        assert_eq!(summary["exit_code"], 99);
    }
    // A held abortOnFail threshold changes nothing.
    let mut args = short_run(&base);
    args.extend(["--threshold", "http_req_failed: rate<0.5 abortOnFail"]);
    let out = loadgen_bin(&args, &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_with_a_message_naming_the_problem() {
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "run",
                "--stages",
                "30s:20",
                "--vus",
                "5",
                "--duration",
                "1m",
            ],
            "--stages cannot be combined with --vus/--duration",
        ),
        (
            &["run", "--stages", "30s:20", "--profile", "ramp"],
            "--stages cannot be combined with --profile",
        ),
        (
            &[
                "run",
                "--profile",
                "smoke",
                "--threshold",
                "http_req_duration: p95<1",
            ],
            "unknown aggregation",
        ),
        (&["run", "--profile", "nope"], "unknown profile"),
        (&["hit", "https://127.0.0.1:1/"], "only http://"),
        (&["run", "--bogus-flag"], "--bogus-flag"),
        (
            &["hit", "http://127.0.0.1:1/", "--interval", "50ms"],
            "--interval 50ms: must be at least 100ms",
        ),
        (&["run", "--interval", "soon"], "--interval"),
    ];
    for (args, expected) in cases {
        let out = loadgen_bin(args, &[]).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_resolved_plan_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 3);
    let port = dead_port().await;
    let base = format!("http://127.0.0.1:{port}");
    let out = loadgen_bin(
        &[
            "run",
            "--profile",
            "ramp",
            "--base-url",
            &base,
            "--users-file",
            users.to_str().unwrap(),
            "--dry-run",
            "--threshold",
            "http_req_duration{phase:auth}: p(95)<500",
        ],
        &[("K6_LATENCY_PROFILE", "live")],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    for expected in [
        &base as &str,
        "profile:          ramp",
        "latency profile:  live",
        "2m -> 30 VUs",
        "5m -> 100 VUs",
        "max VUs:          100",
        "graceful ramp-down: 30s",
        "3 accounts",
        "http_req_duration{phase:auth}: p(95)<500",
        "http_req_duration{phase:chat}: p(95)<45000",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected} missing:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("p(95)<8000"),
        "the override must replace the profile's auth threshold"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["run", "--help"][..],
        &["hit", "--help"][..],
    ] {
        let out = loadgen_bin(args, &[]).await;
        assert_eq!(out.code, 0, "{out:?}");
        for code in [
            "99",
            "105 the run was interrupted",
            "the guard refused",
            "could not be reached",
            "bad arguments",
        ] {
            assert!(out.stdout.contains(code), "{args:?} help lacks {code}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_threshold_exits_99_and_a_held_one_exits_0() {
    let (base, _) = fake_backend(Config::default()).await;
    let mut failing = short_run(&base);
    failing.extend(["--threshold", "http_reqs: count>100000"]);
    let out = loadgen_bin(&failing, &[]).await;
    assert_eq!(out.code, 99, "{out:?}");
    assert!(
        out.stdout.contains("✗ http_reqs: count>100000"),
        "{}",
        out.stdout
    );
    let mut holding = short_run(&base);
    holding.extend([
        "--threshold",
        "http_reqs: count>0",
        "--threshold",
        "http_req_failed: rate<0.01",
    ]);
    let out = loadgen_bin(&holding, &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("✓ http_reqs: count>0"),
        "{}",
        out.stdout
    );
}
