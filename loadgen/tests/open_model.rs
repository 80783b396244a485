//! The open model for journeys (`--rate`, `--rate-stages`): iterations
//! arrive on a schedule, whatever the target's latency; an arrival that
//! finds no free VU starts one (up to `--max-vus`), else it is a dropped
//! iteration, so intended = completed + dropped, always.

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{loadgen_bin, run_plan, users_file};
use std::time::Duration;

fn count(report: &loadgen::report::Report, endpoint: &str) -> u64 {
    let (d, _) = report.aggregate.merged_where(|k| &*k.endpoint == endpoint);
    d.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constant_rate_starts_exactly_the_scheduled_iterations() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 8);
    let base = format!("http://{addr}");
    let plan = run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--rate",
        "20/s",
        "--duration",
        "2s",
        "--pre-allocated-vus",
        "2",
        "--max-vus",
        "8",
    ]);
    let report = loadgen::app::run(plan).await.unwrap();
    // 20/s for 2 s, the first at t = 0: 40 arrivals, all served.
    assert_eq!(report.aggregate.iterations.len(), 40);
    assert_eq!(report.aggregate.dropped_iterations, 0);
    for endpoint in ["login", "create_session", "chat"] {
        assert_eq!(count(&report, endpoint), 40, "{endpoint}");
    }
    assert_eq!(seen.count("chat"), 40);
    // Each iteration's start past its scheduled start is recorded; on an
    // idle 2-core machine it is a timer's and a wake-up's delay.
    let late = &report.aggregate.lateness;
    assert_eq!(late.len(), 40);
    assert!(late.max() < 250_000, "lateness max {} µs", late.max());
    // No think time in the open model: the rate paces the iterations.
    assert!(
        report.duration < Duration::from_millis(2600),
        "{:?}",
        report.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_that_find_no_free_vu_are_dropped_and_accounted_for() {
    // 300 ms chat turns, 20 arrivals/s, at most 2 VUs: about 6 iterations
    // a second can start; the rest of the 40 are dropped.
    let cfg = Config {
        chat_delay: Duration::from_millis(300),
        ..Config::default()
    };
    let (addr, _) = chat_server(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 4);
    let out = dir.path().join("out");
    let base = format!("http://{addr}");
    let out_text = out.to_str().unwrap().to_string();
    let args = [
        "run",
        "-q",
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--rate",
        "20/s",
        "--duration",
        "2s",
        "--pre-allocated-vus",
        "1",
        "--max-vus",
        "2",
        "--threshold",
        "dropped_iterations: count==0",
        "--out",
        &out_text,
    ];
    let o = loadgen_bin(&args, &[]).await;
    assert_eq!(o.code, 99, "the dropped_iterations threshold fails: {o:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let done = summary["iterations"]["count"].as_u64().unwrap();
    let dropped = summary["dropped_iterations"]["count"].as_u64().unwrap();
    assert!((8..=16).contains(&done), "completed {done}");
    assert_eq!(done + dropped, 40, "completed {done} + dropped {dropped}");
    assert!(o.stdout.contains("dropped_iterations"), "{}", o.stdout);
    // Every started iteration has its lateness; none for the dropped ones.
    assert_eq!(summary["iterations"]["lateness_us"]["count"], done);
    assert!(summary["iterations"]["lateness_histogram"].is_string());
    assert!(o.stdout.contains("iteration_lateness"), "{}", o.stdout);
    assert_eq!(summary["vus"]["max"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_flags_refuse_what_means_nothing() {
    for (flags, says) in [
        (&["--rate", "10/s"][..], "--rate needs --duration"),
        (
            &["--rate", "10/s", "--duration", "5s", "--vus", "3"][..],
            "cannot be combined",
        ),
        (
            &[
                "--rate",
                "10/s",
                "--rate-stages",
                "5s:10/s",
                "--duration",
                "5s",
            ][..],
            "cannot be combined",
        ),
        (
            &["--max-vus", "3", "--vus", "2", "--duration", "5s"][..],
            "open model",
        ),
        (&["--rate", "10/x", "--duration", "5s"][..], "not s, m or h"),
        (
            &[
                "--rate",
                "10/s",
                "--duration",
                "5s",
                "--pre-allocated-vus",
                "5",
                "--max-vus",
                "2",
            ][..],
            "below",
        ),
        (&["--rate-stages", "5s:0/s"][..], "never asks"),
    ] {
        let mut args = vec!["run", "--base-url", "http://127.0.0.1:9"];
        args.extend_from_slice(flags);
        let o = loadgen_bin(&args, &[]).await;
        assert_eq!(o.code, 2, "{flags:?}: {o:?}");
        assert!(o.stderr.contains(says), "{flags:?}: {}", o.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spike_open_profile_holds_an_arrival_rate() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 4);
    let o = loadgen_bin(
        &[
            "run",
            "--profile",
            "spike-open",
            "--users-file",
            users.to_str().unwrap(),
            "--dry-run",
        ],
        &[],
    )
    .await;
    assert_eq!(o.code, 0, "{o:?}");
    for line in [
        "model:            open",
        "3. 10s -> 50/s",
        "4375 expected",
        "50 pre-allocated, at most 500",
        "recovery_time: max<60000",
    ] {
        assert!(o.stdout.contains(line), "no {line:?} in {}", o.stdout);
    }
}
