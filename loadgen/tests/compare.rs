//! `loadgen compare` and `run --baseline` from the command line, against
//! the fake chat backend: a summary compared with itself passes (0), a
//! doctored copy whose chat histogram is 30% slower regresses (98) on chat
//! only, bad files are usage errors (2) naming the file, the Markdown and
//! JSON outputs have their documented shape, and `run --baseline` gates a
//! run at its end (a bad baseline before any load).

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{loadgen_bin, users_file, validate_summary};
use loadgen::export::{decode_histogram, encode_histogram};
use loadgen::stats::new_histogram;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fake backend with a 50 ms chat turn: well above the 1 ms floor, and
/// long enough that a busy machine's millisecond or two of scheduling delay
/// between two runs stays inside the 5% band (with 20 ms it once made the
/// same backend "regress" under a load average of 7).
async fn backend() -> String {
    let (addr, _) = chat_server(Config {
        chat_delay: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    format!("http://{addr}")
}

/// `loadgen run` for 2 s with 4 VUs and a short think, `extra` flags added
/// (10 points of 200 ms in the time series, for the per-interval test);
/// returns the exit code, stdout and stderr.
async fn run(base: &str, dir: &Path, out: &str, extra: &[&str]) -> common::Outcome {
    let users = users_file(dir, 4);
    let out = dir.join(out);
    let mut args = vec![
        "run",
        "-q",
        "--base-url",
        base,
        "--users-file",
        s(&users),
        "--vus",
        "4",
        "--duration",
        "2s",
        "--think",
        "10ms",
        "--interval",
        "200ms",
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    loadgen_bin(&refs, &[]).await
}

/// Every value of a base64 HDR histogram times `factor`.
fn scaled(text: &Value, factor: f64) -> Value {
    let h = decode_histogram(text.as_str().unwrap()).unwrap();
    let mut out = new_histogram();
    for bucket in h.iter_recorded() {
        let value = (bucket.value_iterated_to() as f64 * factor).round() as u64;
        out.record_n(value, bucket.count_at_value()).unwrap();
    }
    encode_histogram(&out).unwrap().into()
}

/// A copy of `summary` whose `endpoint` duration histograms (the series'
/// and every point's of the time series) hold every value times `factor`
/// (the doctored "slower" or "faster" run).
fn doctored(summary: &Path, endpoint: &str, factor: f64, to: &Path) -> PathBuf {
    let mut v = load(summary);
    let mut touched = 0;
    for series in v["series"].as_array_mut().unwrap() {
        if series["endpoint"] == endpoint {
            series["histograms"]["duration"] = scaled(&series["histograms"]["duration"], factor);
            touched += 1;
        }
    }
    for point in v["timeline"]["points"].as_array_mut().unwrap() {
        for e in point["requests"].as_array_mut().unwrap() {
            if e["endpoint"] == endpoint {
                e["duration"] = scaled(&e["duration"], factor);
            }
        }
    }
    assert!(touched > 0, "no {endpoint} series in {}", summary.display());
    std::fs::write(to, serde_json::to_string(&v).unwrap()).unwrap();
    to.to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_passes_a_summary_against_itself_and_fails_a_slower_chat_on_chat_only() {
    let base = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let done = run(&base, dir.path(), "base", &[]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let summary = dir.path().join("base/summary.json");

    let same = loadgen_bin(&["compare", s(&summary), s(&summary)], &[]).await;
    assert_eq!(same.code, 0, "{}\n{}", same.stdout, same.stderr);
    assert!(same.stdout.ends_with("no regression\n"), "{}", same.stdout);
    assert!(same.stdout.contains("chat"), "{}", same.stdout);

    let slower = doctored(&summary, "chat", 1.3, &dir.path().join("slower.json"));
    let worse = loadgen_bin(&["compare", s(&summary), s(&slower)], &[]).await;
    assert_eq!(worse.code, 98, "{}\n{}", worse.stdout, worse.stderr);
    let last = worse.stdout.lines().last().unwrap();
    assert!(last.starts_with("REGRESSED: chat/chat p50"), "{last}");
    let regressed: Vec<&str> = worse
        .stdout
        .lines()
        .filter(|l| l.ends_with("REGRESSION"))
        .collect();
    assert!(!regressed.is_empty());
    assert!(
        regressed.iter().all(|l| l.starts_with("chat ")),
        "only chat regressed: {regressed:#?}"
    );

    // The other way round, the doctored run is the baseline: an improvement.
    let better = loadgen_bin(&["compare", s(&slower), s(&summary)], &[]).await;
    assert_eq!(better.code, 0, "{}", better.stdout);
    assert!(better.stdout.contains("improvement"), "{}", better.stdout);

    // Markdown: a PR comment, the regressions bold and marked.
    let md = loadgen_bin(
        &["compare", "--format", "markdown", s(&summary), s(&slower)],
        &[],
    )
    .await;
    assert_eq!(md.code, 98);
    assert!(
        md.stdout.starts_with("### loadgen compare: ❌ **"),
        "{}",
        md.stdout
    );
    assert!(md
        .stdout
        .contains("| phase | endpoint | metric | base | new | change | p | verdict |"));
    assert!(
        md.stdout.contains("| **chat** | **chat** | **p50** |"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("❌ **regression**"));

    // JSON: the documented shape.
    let json = loadgen_bin(
        &[
            "compare",
            "--format",
            "json",
            "--tolerance",
            "p99=off",
            "--tolerance",
            "p50=20%,floor=2ms",
            "--alpha",
            "0.001",
            s(&summary),
            s(&slower),
        ],
        &[],
    )
    .await;
    assert_eq!(json.code, 98, "{}", json.stderr);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["schema"], "chatbench.loadgen.comparison/v1");
    assert_eq!(v["regressed"], true);
    assert_eq!(v["rate_gated"], false, "two runs: rates follow latencies");
    assert_eq!(v["alpha"], 0.001);
    assert_eq!(v["tolerances"]["p99"], Value::Null);
    assert_eq!(v["tolerances"]["p50"], 0.2);
    assert_eq!(v["tolerances"]["floor_ms"], 2.0);
    assert_eq!(v["base"]["label"], s(&summary));
    assert!(v["warnings"].as_array().unwrap().is_empty());
    for row in v["rows"].as_array().unwrap() {
        for key in [
            "phase",
            "endpoint",
            "metric",
            "unit",
            "base",
            "new",
            "change",
            "relative_change",
            "p_value",
            "samples",
            "verdict",
        ] {
            assert!(row.get(key).is_some(), "{key} in {row}");
        }
        let regression = row["verdict"] == "regression";
        assert_eq!(regression, row["endpoint"] == "chat" && regression, "{row}");
        if row["metric"] == "p99" {
            assert_eq!(row["verdict"], "n/a", "p99 is off: {row}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_refuses_bad_input_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"schema\": \"something else\"}").unwrap();
    for (a, b, named) in [
        (&missing, &garbage, &missing),
        (&garbage, &garbage, &garbage),
    ] {
        let done = loadgen_bin(&["compare", s(a), s(b)], &[]).await;
        assert_eq!(done.code, 2, "{}", done.stderr);
        assert!(
            done.stderr
                .contains(&format!("compare: {}", named.display())),
            "{}",
            done.stderr
        );
    }
    let done = loadgen_bin(
        &["compare", "--tolerance", "p42=1%", s(&garbage), s(&garbage)],
        &[],
    )
    .await;
    assert_eq!(done.code, 2);
    assert!(
        done.stderr.contains("unknown key \"p42\""),
        "{}",
        done.stderr
    );
    let done = loadgen_bin(&["compare", "--alpha", "2", s(&garbage), s(&garbage)], &[]).await;
    assert_eq!(done.code, 2);
    assert!(done.stderr.contains("--alpha"), "{}", done.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_baseline_compares_at_its_end_and_records_the_comparison() {
    let base = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let done = run(&base, dir.path(), "first", &[]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let first = dir.path().join("first/summary.json");

    // The same backend again: nothing regressed.
    let again = run(&base, dir.path(), "again", &["--baseline", s(&first)]).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let summary_at = again.stdout.find("result:").unwrap();
    let compare_at = again.stdout.find("loadgen compare").unwrap();
    assert!(
        summary_at < compare_at,
        "the comparison follows the summary"
    );
    assert!(
        again.stdout.ends_with("no regression\n"),
        "{}",
        again.stdout
    );
    let v = load(&dir.path().join("again/summary.json"));
    validate_summary(&v);
    assert_eq!(v["comparison"]["regressed"], false);
    assert_eq!(v["comparison"]["new"]["label"], "this run");
    assert_eq!(v["exit_code"], 0);

    // Against a baseline whose chat was 30% faster, the run regressed (98),
    // and summary.json says so; `loadgen report` reads it back.
    let faster = doctored(&first, "chat", 0.7, &dir.path().join("faster.json"));
    let slow = run(&base, dir.path(), "slow", &["--baseline", s(&faster)]).await;
    assert_eq!(slow.code, 98, "{}\n{}", slow.stdout, slow.stderr);
    assert!(
        slow.stdout.contains("REGRESSED: chat/chat p50"),
        "{}",
        slow.stdout
    );
    let v = load(&dir.path().join("slow/summary.json"));
    validate_summary(&v);
    assert_eq!(
        (v["comparison"]["regressed"].clone(), v["exit_code"].clone()),
        (Value::Bool(true), Value::from(98))
    );
    let page = dir.path().join("page.html");
    let rebuilt = loadgen_bin(
        &[
            "report",
            s(&dir.path().join("slow/summary.json")),
            "--html",
            s(&page),
        ],
        &[],
    )
    .await;
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);

    // A failed threshold outranks the regression: 99. (On chat, whose
    // turns the test server holds for 50 ms: with loadgen's own client the
    // login and session requests can take under 1 ms at the median.)
    let both = run(
        &base,
        dir.path(),
        "both",
        &[
            "--baseline",
            s(&faster),
            "--threshold",
            "http_req_duration{phase:chat}: p(50)<1",
        ],
    )
    .await;
    assert_eq!(both.code, 99, "{}", both.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_bad_baseline_stops_the_run_before_any_load() {
    let (addr, seen) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    for file in [dir.path().join("missing.json"), garbage] {
        let done = run(&base, dir.path(), "out", &["--baseline", s(&file)]).await;
        assert_eq!(done.code, 2, "{}", done.stderr);
        assert!(
            done.stderr
                .contains(&format!("--baseline: {}", file.display())),
            "{}",
            done.stderr
        );
    }
    assert_eq!(seen.count("login"), 0, "nothing was sent");
    assert_eq!(seen.count("health"), 0, "not even the guard's check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_runs_compare_ttft_and_itl_and_a_run_that_did_not_stream_is_warned_about() {
    let base = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let done = run(&base, dir.path(), "streamed", &["--stream"]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let done = run(&base, dir.path(), "plain", &[]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let streamed = dir.path().join("streamed/summary.json");
    let plain = dir.path().join("plain/summary.json");

    let same = loadgen_bin(
        &["compare", "--format", "json", s(&streamed), s(&streamed)],
        &[],
    )
    .await;
    assert_eq!(same.code, 0, "{}", same.stderr);
    let v: Value = serde_json::from_str(&same.stdout).unwrap();
    let metrics: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["phase"] == "chat")
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    for m in [
        "ttft_p50", "ttft_p95", "ttft_p99", "itl_p50", "itl_p95", "itl_p99",
    ] {
        assert!(metrics.contains(&m), "{m} in {metrics:?}");
    }

    let mixed = loadgen_bin(&["compare", s(&streamed), s(&plain)], &[]).await;
    let warning = "the base run streamed and the new run did not stream";
    assert!(mixed.stderr.contains(warning), "{}", mixed.stderr);
    assert!(
        mixed.stdout.contains(&format!("warning: {warning}")),
        "{}",
        mixed.stdout
    );
    assert!(!mixed.stdout.contains("ttft_p50"), "{}", mixed.stdout);
    // The streamed run's chat_stream endpoint is not the plain run's chat.
    assert!(
        mixed
            .stdout
            .contains("only in the base run: chat/chat_stream (not compared)"),
        "{}",
        mixed.stdout
    );
    assert!(
        mixed
            .stdout
            .contains("only in the new run: chat/chat (not compared)"),
        "{}",
        mixed.stdout
    );
}
