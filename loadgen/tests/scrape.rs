//! Scraping during `loadgen run`, against real sockets: a metrics endpoint
//! whose text changes with every scrape (so each point can be told apart),
//! one that is down (counted, never fatal), `--no-scrape`, the target's own
//! `/api/metrics` kept when it answers metrics and dropped (with a note)
//! when it does not, and `summary.json`'s `server` read back by `loadgen
//! report` and concatenated by `loadgen merge`.

#![allow(clippy::unwrap_used)]

mod common;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use common::chat::{chat_server, Config};
use common::metrics::metrics_server;
use common::{dead_port, health_body, loadgen_bin, run_plan, serve, users_file, validate_summary};
use loadgen::server::{series, totals, ScrapeTarget};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn run_args<'a>(base: &'a str, users: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--base-url",
        base,
        "--users-file",
        users,
        "--vus",
        "2",
        "--duration",
        "1s",
        "--think",
        "50ms",
        "--interval",
        "200ms",
    ];
    v.extend_from_slice(extra);
    v
}

fn col(t: &ScrapeTarget, name: &str) -> Vec<Option<f64>> {
    t.series
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", t.series.keys()))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scrape_is_a_point_on_the_timelines_clock_with_its_rates_and_totals() {
    let (addr, _) = chat_server(Config::default()).await;
    let (url, served) = metrics_server().await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 4);
    let base = format!("http://{addr}");
    let report = loadgen::app::run(run_plan(&run_args(
        &base,
        users.to_str().unwrap(),
        &["--scrape", &url],
    )))
    .await
    .unwrap();
    let server = report.server.as_ref().expect("server series");
    // The fake chat backend's /api/metrics answers "ok", not metrics: the
    // default endpoint was dropped, the named one kept.
    assert_eq!(server.targets.len(), 1);
    let t = &server.targets[0];
    assert_eq!(t.url, url);
    assert_eq!((t.failures, t.last_error.as_deref()), (0, None));
    let n = t.t_ms.len();
    // 1 s at 200 ms: the baseline, about 5 ticks, the last scrape.
    assert!((5..=8).contains(&n), "{:?}", t.t_ms);
    assert_eq!(t.scrapes, n as u64);
    // The baseline is at the origin; the k-th tick is answered after
    // k·200 ms from the start the timeline counts from; the last scrape
    // comes once the load stopped.
    assert_eq!(t.t_ms[0], 0);
    for k in 1..n - 1 {
        assert!(t.t_ms[k] >= 200 * k as u64, "{:?}", t.t_ms);
        assert!(t.t_ms[k] > t.t_ms[k - 1], "{:?}", t.t_ms);
    }
    let duration_ms = report.duration.as_millis() as u64;
    assert!(
        t.t_ms[n - 1] >= duration_ms,
        "{:?} vs {duration_ms}",
        t.t_ms
    );
    let last_point = report.timeline.points.last().unwrap().end_ms();
    assert!(last_point <= t.t_ms[n - 1], "{last_point} {:?}", t.t_ms);

    // Every scrape's answer, in order (the last may replace a tick that
    // came less than half an interval before it).
    let out = col(t, series::DB_POOL_CHECKED_OUT);
    let ks: Vec<u64> = out.iter().map(|v| v.unwrap() as u64).collect();
    assert_eq!(ks[0], 0);
    assert!(ks.windows(2).all(|w| w[1] > w[0]), "{ks:?}");
    assert_eq!(ks[..n - 1], (0..n as u64 - 1).collect::<Vec<_>>()[..]);
    let last_k = ks[n - 1];
    // Every answer the endpoint gave is a point, but for at most one: a
    // tick the last scrape replaced, or one cut short when the load ended.
    let served = served.load(Ordering::SeqCst);
    assert_eq!(served, last_k + 1);
    assert!(
        served == n as u64 || served == n as u64 + 1,
        "{served} {ks:?}"
    );
    assert_eq!(
        col(t, series::DB_POOL_USAGE_RATIO),
        ks.iter().map(|k| Some(*k as f64 / 8.0)).collect::<Vec<_>>()
    );
    assert_eq!(col(t, series::RSS_MIB), vec![Some(64.0); n]);
    // Each mean is exactly 200 ms; rates are the increase over the time
    // between the answers (10 calls, 0.25 CPU s per step).
    let mean = col(t, series::PROVIDER_MEAN_MS);
    assert_eq!(mean[0], None);
    for v in &mean[1..] {
        assert!((v.unwrap() - 200.0).abs() < 1e-9, "{mean:?}");
    }
    let (calls, cores) = (
        col(t, series::PROVIDER_CALLS_PER_S),
        col(t, series::CPU_CORES),
    );
    assert_eq!((calls[0], cores[0]), (None, None));
    // The baseline was answered just before the start, where `t_ms` says
    // 0: its step is longer than `t_ms` shows, so it is checked from step 2
    // on (and bounded above at step 1).
    for i in 1..n {
        let dt = (t.t_ms[i] - t.t_ms[i - 1]) as f64 / 1000.0;
        if i == 1 {
            assert!(
                calls[1].unwrap() * dt <= 10.0 * ks[1] as f64 + 0.1,
                "{calls:?}"
            );
            continue;
        }
        let steps = (ks[i] - ks[i - 1]) as f64;
        let calls_in_step = calls[i].unwrap() * dt;
        assert!(
            (calls_in_step - 10.0 * steps).abs() < 0.1 * steps,
            "step {i}: {calls:?} over {:?}",
            t.t_ms
        );
        let cpu_in_step = cores[i].unwrap() * dt;
        assert!(
            (cpu_in_step - 0.25 * steps).abs() < 0.01 * steps,
            "{cores:?}"
        );
    }
    assert_eq!(t.totals[totals::PROVIDER_CALLS], 10.0 * last_k as f64);
    assert!((t.totals[totals::PROVIDER_SECONDS] - 2.0 * last_k as f64).abs() < 1e-9);
    assert!((t.totals[totals::CPU_SECONDS] - 0.25 * last_k as f64).abs() < 1e-9);
    // A backend-only series the endpoint does not export: absent.
    assert!(!t.series.contains_key(series::HASH_QUEUE_DEPTH));

    // The chart columns carry it on the same clock (seconds).
    let charts = report.chart_data();
    assert_eq!(charts.server.len(), 1);
    assert_eq!(charts.server[0].t[0], 0.0);
    assert_eq!(charts.server[0].t[n - 1], t.t_ms[n - 1] as f64 / 1000.0);
    assert_eq!(charts.server[0].series[series::DB_POOL_CHECKED_OUT], out);

    // summary.json carries it, validates, and reads back as it was; a merge
    // concatenates its inputs' endpoints.
    let results = dir.path().join("out");
    loadgen::app::write_results(&report, &results).unwrap();
    let summary = results.join("summary.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    validate_summary(&json);
    assert_eq!(json["server"]["targets"][0]["url"], url);
    let back = loadgen::merge::report_from(&summary).unwrap();
    assert_eq!(back.server.as_ref(), Some(server));
    let merged = loadgen::merge::merge_files(
        &[summary.clone(), summary],
        &loadgen::merge::MergeOptions::default(),
    )
    .unwrap();
    let targets = &merged.server.unwrap().targets;
    assert_eq!(targets.len(), 2);
    assert_eq!((&targets[0], &targets[1]), (t, t));
    // The terminal block names it.
    let text = loadgen::summary::render(&report);
    assert!(
        text.contains(&format!("server: {url}   scrapes: {n} ok, 0 failed")),
        "{text}"
    );
    assert!(text.contains("rss peak 64.0 MiB"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_target_that_is_down_is_counted_and_the_run_goes_on() {
    let (addr, seen) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 4);
    let base = format!("http://{addr}");
    let dead = format!("http://127.0.0.1:{}/metrics", dead_port().await);
    let out_dir = dir.path().join("out");
    let args = run_args(
        &base,
        users.to_str().unwrap(),
        &["--scrape", &dead, "--out", out_dir.to_str().unwrap(), "-q"],
    );
    let mut argv = vec!["run"];
    argv.extend(args);
    let out = loadgen_bin(&argv, &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(seen.count("chat") > 0);
    // The default endpoint answered "ok", not metrics: one note.
    let note = format!("loadgen: note: no metrics at {base}/api/metrics (no Prometheus samples in the answer); server-side series and rules off");
    assert!(out.stderr.contains(&note), "{}", out.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    validate_summary(&json);
    let targets = json["server"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    let t: ScrapeTarget = serde_json::from_value(targets[0].clone()).unwrap();
    assert_eq!(t.url, dead);
    assert!(t.scrapes >= 5, "{t:?}");
    assert_eq!(t.failures, t.scrapes);
    assert_eq!(t.last_error.as_deref(), Some("connection failed"));
    assert!(t.t_ms.is_empty() && t.series.is_empty() && t.totals.is_empty());
    assert!(
        out.stdout.contains(&format!(
            "server: {dead}   scrapes: 0 ok, {} failed (last error: connection failed)",
            t.failures
        )),
        "{}",
        out.stdout
    );
}

/// A target whose own `/api/metrics` answers metrics (its `other` step and
/// the scrapes read the same endpoint).
async fn backend_with_metrics() -> (String, Arc<AtomicU64>) {
    let scraped = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(health_body(Some("test"))) }),
        )
        .route(
            "/api/metrics",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                n.fetch_add(1, Ordering::SeqCst);
                "chatbot_db_pool_max 5\nchatbot_db_pool_checked_out 1\nchatbot_host_cpus 2\n"
            }),
        )
        .with_state(Arc::clone(&scraped));
    (format!("http://{}", serve(router).await), scraped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_targets_own_metrics_are_scraped_unless_no_scrape_says_otherwise() {
    let (base, scraped) = backend_with_metrics().await;
    let (url, served) = metrics_server().await;
    let shape = [
        "--base-url",
        &base,
        "--tags",
        "other",
        "--vus",
        "1",
        "--duration",
        "600ms",
        "--think",
        "1s",
        "--interval",
        "200ms",
    ];
    let mut with_extra = shape.to_vec();
    with_extra.extend(["--scrape", &url]);
    let report = loadgen::app::run(run_plan(&with_extra)).await.unwrap();
    let targets = &report.server.unwrap().targets;
    // The target's own first, then the named one.
    let urls: Vec<&str> = targets.iter().map(|t| t.url.as_str()).collect();
    assert_eq!(urls, [format!("{base}/api/metrics").as_str(), url.as_str()]);
    let own = &targets[0];
    assert_eq!(own.failures, 0);
    assert_eq!(
        col(own, series::DB_POOL_USAGE_RATIO),
        vec![Some(0.2); own.t_ms.len()]
    );
    assert_eq!(col(own, series::HOST_CPUS), vec![Some(2.0); own.t_ms.len()]);
    assert!(own.t_ms.len() >= 3, "{:?}", own.t_ms);

    let (before, before_named) = (
        scraped.load(Ordering::SeqCst),
        served.load(Ordering::SeqCst),
    );
    let mut none = shape.to_vec();
    none.extend(["--other-probability", "0", "--no-scrape"]);
    let report = loadgen::app::run(run_plan(&none)).await.unwrap();
    assert_eq!(report.server, None);
    assert_eq!(
        scraped.load(Ordering::SeqCst),
        before,
        "--no-scrape read the target's metrics"
    );
    assert_eq!(served.load(Ordering::SeqCst), before_named);
}

#[test]
fn dry_run_names_the_scrape_targets_and_no_scrape_conflicts_with_scrape() {
    let plan = run_plan(&[
        "--base-url",
        "http://127.0.0.1:9/base",
        "--tags",
        "other",
        "--scrape",
        "http://127.0.0.1:9100/metrics",
    ]);
    let text = plan.describe();
    assert!(
        text.contains(
            "  scrape:\n    GET http://127.0.0.1:9/base/api/metrics every 1s (kept if it answers with metrics before the load)\n    GET http://127.0.0.1:9100/metrics every 1s\n"
        ),
        "{text}"
    );
    let none = run_plan(&["--tags", "other", "--no-scrape"]);
    assert!(none.scrape.is_empty());
    assert!(none
        .describe()
        .contains("  scrape:\n    (none: --no-scrape)\n"));
    let both = <loadgen::cli::Cli as clap::Parser>::try_parse_from([
        "loadgen",
        "run",
        "--no-scrape",
        "--scrape",
        "http://127.0.0.1:9100/metrics",
    ]);
    let err = both.unwrap_err().to_string();
    assert!(err.contains("cannot be used with"), "{err}");
    // A URL loadgen cannot read is refused before anything is sent (exit 2).
    let cli = <loadgen::cli::Cli as clap::Parser>::try_parse_from([
        "loadgen",
        "run",
        "--tags",
        "other",
        "--scrape",
        "https://127.0.0.1:9100/metrics",
    ])
    .unwrap();
    let loadgen::cli::Command::Run(args) = cli.command else {
        unreachable!()
    };
    match loadgen::plan::resolve_run(&args, &loadgen::plan::Env::default()) {
        Err(loadgen::exit::Failure::Usage(m)) => {
            assert!(
                m.starts_with("--scrape: ") && m.contains("only http://"),
                "{m}"
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}
