//! The HTML report in a real browser: Debian's headless Chromium opens the
//! page from disk with the network off (every request would go to a dead
//! proxy, and the page's own policy allows no connection) and its DOM is
//! read back after the page's script ran (`--dump-dom` with a virtual-time
//! budget). The page's script marks the `<html>` element: `data-status`
//! once everything is drawn, `data-js-errors` (every error is caught,
//! including a script the policy blocked), `data-charts` and
//! `data-rendered` (charts whose canvas holds pixels of their lines' colours).
//!
//! - a real short streaming run's report with a time series: every chart
//!   painted, the threshold, request, streaming and check tables present,
//!   no error; screenshots (desktop, phone) and a PDF print are saved under
//!   `target/browser-tests/` for a reviewer;
//! - a summary whose phase, endpoint, check and target strings are hostile
//!   (`</script>`, quotes, markup, emoji), rebuilt with `loadgen report`,
//!   then drawn with charts too (and phases named `__proto__`,
//!   `constructor`): the injected script did not run, the strings show as
//!   text, every chart is painted;
//! - a summary without a time series: the tables and the note, no chart.
//! - the live dashboard (`loadgen run --dashboard 127.0.0.1:0`, the binary
//!   against the fake chat backend): two snapshots during the run are drawn
//!   live with a growing request count, a page open at the end shows the
//!   final verdict, the process exits by itself; screenshots
//!   `dashboard-live.png` and `dashboard-final.png` taken through WebDriver
//!   (see `browser_support::webdriver` for why not `--screenshot`); a run
//!   killed without its final report: the page says the dashboard is gone
//!   after its bounded retries, never RUNNING forever;
//! - `loadgen web`: a bad form value gets the command line's message; a
//!   production target is refused, with the guard's reason shown in the
//!   page; one run at a time (409), Stop ends a run as interrupted; a short
//!   run's verdict shows in the page with its result files (`web.png`). The
//!   test posts the JSON the page's Start posts (`api/runs`);
//! - `loadgen web` as a person uses it: through WebDriver (Debian's
//!   chromedriver) the form is filled in and Start clicked, and the page
//!   shows the run's verdict and its six result files (`web-clicked.png`).
//!
//! The first case charts the run's own time series; the hostile case a
//! synthetic [`ChartData`] over the hostile phases.
//!
//! Without a Chromium binary the tests say so and pass, unless
//! `CHATBENCH_REQUIRE_BROWSER=1` (CI), where they fail.

#![allow(clippy::unwrap_used)]

mod browser_support;
mod common;

use browser_support::webdriver::Session;
use browser_support::{
    as_text, assert_clean, browse, browse_live, browse_live_for, chromedriver, chromium, dump_dom,
    fact, out_dir, root_attr, screenshot, spawn_dashboard_run, spawn_loadgen_serving,
};

use common::chat::{chat_server, Config};
use common::{loadgen_bin, run_plan, users_file};
use loadgen::chart::{ChartData, PhaseColumns, StreamColumns};
use loadgen::report::Report;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const HOSTILE: &str =
    "</script><script>document.documentElement.setAttribute('data-pwned','1')</script>";
const HOSTILE_ATTR: &str =
    "\"'><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">";

/// A synthetic time series over the report's own phases (for a summary
/// whose names were rewritten): `points` half-second intervals.
fn charts_for(report: &Report, points: usize) -> ChartData {
    let secs = report.duration.as_secs_f64();
    let t: Vec<f64> = (1..=points)
        .map(|i| secs * i as f64 / points as f64)
        .collect();
    let wave = |i: usize, k: f64| 1.0 + ((i as f64) / 3.0 + k).sin().abs();
    let phases = report.aggregate.phases();
    ChartData {
        vus: (0..points).map(|i| 1 + (i % 2) as u64).collect(),
        phases: phases
            .iter()
            .enumerate()
            .map(|(k, p)| PhaseColumns {
                phase: p.to_string(),
                requests_per_s: (0..points).map(|i| 10.0 * wave(i, k as f64)).collect(),
                failures_per_s: (0..points).map(|i| (i % 3) as f64 / 2.0).collect(),
                p50_ms: (0..points).map(|i| Some(5.0 * wave(i, 0.0))).collect(),
                p95_ms: (0..points).map(|i| Some(9.0 * wave(i, 0.3))).collect(),
                p99_ms: (0..points)
                    .map(|i| (i != 2).then(|| 14.0 * wave(i, 0.6)))
                    .collect(),
            })
            .collect(),
        streams: report
            .aggregate
            .stream_phases()
            .iter()
            .map(|p| StreamColumns {
                phase: p.to_string(),
                ttft_p50_ms: (0..points).map(|i| Some(60.0 * wave(i, 0.1))).collect(),
                ttft_p95_ms: (0..points).map(|i| Some(70.0 * wave(i, 0.2))).collect(),
                itl_p50_ms: (0..points).map(|i| Some(20.0 * wave(i, 0.4))).collect(),
                itl_p95_ms: (0..points).map(|i| Some(25.0 * wave(i, 0.5))).collect(),
                tokens_per_s_p50: (0..points).map(|i| Some(45.0 * wave(i, 0.7))).collect(),
            })
            .collect(),
        server: Vec::new(),
        t,
    }
}

/// A short streaming run against the fake chat backend (`extra`: more
/// flags).
async fn streaming_run(dir: &Path, extra: &[&str]) -> Report {
    let (addr, _) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let users = users_file(dir, 4);
    let mut argv = vec![
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "1500ms",
        "--interval",
        "250ms",
        "--think",
        "50ms",
        "--stream",
        "--seed",
        "7",
        "--threshold",
        "http_req_duration{phase:chat}: p(95)<5000",
        "--threshold",
        "chat_ttft: p(95)<5000",
    ];
    argv.extend_from_slice(extra);
    loadgen::app::run(run_plan(&argv)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_runs_report_draws_every_chart_and_table_offline() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // With a scraped endpoint: its pool, provider and process series are
    // charted under the client charts (7 charts of common::metrics's text:
    // pool connections and usage, provider time, calls/s and errors, CPU,
    // memory).
    let (metrics, _) = common::metrics::metrics_server().await;
    let report = streaming_run(dir.path(), &["--scrape", &metrics]).await;
    // The run's own time series: 250 ms points over 1.5 s.
    let charts = report.chart_data();
    assert!(charts.t.len() >= 4, "{} points", charts.t.len());
    assert_eq!(charts.server.len(), 1);
    let expected = 3 + charts.phases.len() + 2 * charts.streams.len() + 7;
    assert!(charts.streams.len() == 1, "the run streamed its chat turns");
    let out = out_dir();
    let page = out.join("report.html");
    std::fs::write(&page, loadgen::html::render(&report, &charts)).unwrap();

    let dom = dump_dom(&chromium, &page).await;
    assert_clean(&dom, "run report");
    assert_eq!(root_attr(&dom, "data-charts"), Some(expected.to_string()));
    assert_eq!(
        root_attr(&dom, "data-rendered"),
        Some(expected.to_string()),
        "a chart's canvas holds none of its lines' colours"
    );
    assert_eq!(dom.matches("<canvas").count(), expected);
    for text in [
        "<table class=\"streaming\"",
        "<table class=\"checks\"",
        "PASSED",
        "exit code 0",
        "http_req_duration{phase:chat}: p(95)&lt;5000",
        "Latency: chat",
        "TTFT and ITL: chat",
        "Aggregated",
        "99.99%",
        "DB pool usage ratio",
        "Process CPU",
        "Provider 429s, retries and errors",
        &format!(
            "Scraped {metrics}: {} ok, 0 failed",
            charts.server[0].t.len()
        ),
        "<h2 id=\"diagnosis-h\">Diagnosis</h2><p class=\"diag-none\">No findings (",
    ] {
        assert!(dom.contains(text), "the page has no {text:?}");
    }
    for phase in report.aggregate.phases() {
        assert!(
            dom.contains(&format!(">{phase}<")),
            "no row for phase {phase}"
        );
    }

    screenshot(&chromium, &page, &out.join("report.png"), 1280, 2600).await;
    // 500 px: the narrowest window headless Chromium lays out (a phone's
    // media query applies from 600 px down).
    screenshot(&chromium, &page, &out.join("report-phone.png"), 500, 3200).await;
    let pdf = out.join("report.pdf");
    browse(
        &chromium,
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    )
    .await;
    assert!(std::fs::metadata(&pdf).unwrap().len() > 10_000);
    eprintln!("screenshots and print in {}", out.display());

    // The same run with a finding: one card, its severity shown.
    let mut report = report;
    report.diagnosis = vec![loadgen::server::Finding {
        rule: "db_pool_saturated".into(),
        severity: loadgen::server::Severity::Critical,
        evidence: "pool usage ratio 1.00 (2 of 2 connections checked out) at its peak".into(),
        advice: "grow DB_POOL_SIZE".into(),
    }];
    let page = out.join("report-finding.html");
    std::fs::write(&page, loadgen::html::render(&report, &charts)).unwrap();
    let dom = dump_dom(&chromium, &page).await;
    assert_clean(&dom, "run report with a finding");
    for text in [
        "<div class=\"finding critical\"><div class=\"finding-head\"><span class=\"severity\">critical</span><code class=\"rule\">db_pool_saturated</code>",
        "pool usage ratio 1.00 (2 of 2 connections checked out) at its peak",
        "Advice: grow DB_POOL_SIZE",
    ] {
        assert!(dom.contains(text), "the page has no {text:?}");
    }
}

/// Saves `summary` as `json` and rebuilds its page at `page` with
/// `loadgen report`, as a user would from any summary.json.
async fn rebuild_page(summary: &Value, json: &Path, page: &Path) {
    std::fs::write(json, summary.to_string()).unwrap();
    let done = loadgen_bin(
        &[
            "report",
            json.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
}

/// Replaces every phase, endpoint, check name and the target of a
/// summary.json with hostile strings.
fn poison(summary: &mut Value) {
    summary["target"] = Value::String(format!("http://127.0.0.1/{HOSTILE}"));
    // The original name stays at the end, so names stay distinct.
    let mut rename = |v: &mut Value| {
        if let Some(p) = v.get("phase").and_then(Value::as_str) {
            v["phase"] = Value::String(format!("{HOSTILE} 🚀 \"{p}\""));
        }
        if let Some(e) = v.get("endpoint").and_then(Value::as_str) {
            v["endpoint"] = Value::String(format!("{HOSTILE_ATTR} émoji 🧪 {e}"));
        }
        if let Some(n) = v.get("name").and_then(Value::as_str) {
            v["name"] = Value::String(format!("{HOSTILE} check 'quoted' {n}"));
        }
    };
    for list in ["series", "endpoints"] {
        summary[list]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(&mut rename);
    }
    summary["checks"]["series"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(&mut rename);
    if let Some(s) = summary.get_mut("streaming") {
        s["series"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(&mut rename);
    }
    // The time series names the same phases and endpoints (loadgen checks
    // that its counts match the series'), so the charts draw them too.
    for point in summary["timeline"]["points"].as_array_mut().unwrap() {
        for list in ["requests", "checks", "streams"] {
            point[list]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .for_each(&mut rename);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_summary_renders_as_text_and_runs_no_injected_script() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = streaming_run(dir.path(), &[]).await;
    let text = loadgen::summary::render(&report);
    let written = loadgen::export::write(dir.path(), &report, &text).unwrap();
    let mut summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    poison(&mut summary);
    let hostile = dir.path().join("hostile.json");
    let page = out_dir().join("hostile.html");
    rebuild_page(&summary, &hostile, &page).await;

    let dom = dump_dom(&chromium, &page).await;
    assert_clean(&dom, "hostile report");
    for shown in [
        as_text(HOSTILE),
        as_text(HOSTILE_ATTR),
        "🚀".to_string(),
        "émoji 🧪".to_string(),
        as_text(&format!("{HOSTILE} check 'quoted'")),
        as_text(&format!("{HOSTILE} 🚀 \"chat\"")),
    ] {
        assert!(
            dom.contains(&shown),
            "the page does not show {shown:?} as text"
        );
    }
    assert!(
        !dom.contains("<img"),
        "markup from the data became an element"
    );
    screenshot(&chromium, &page, &out_dir().join("hostile.png"), 1280, 1600).await;

    // The same names as chart titles and legends, plus phases named like
    // JavaScript's object internals.
    let report = loadgen::merge::report_from(&hostile).unwrap();
    let mut charts = charts_for(&report, 12);
    for name in ["__proto__", "constructor"] {
        let mut extra = charts.phases[0].clone();
        extra.phase = name.to_string();
        charts.phases.push(extra);
    }
    let expected = 3 + charts.phases.len() + 2 * charts.streams.len();
    let page = out_dir().join("hostile-charts.html");
    std::fs::write(&page, loadgen::html::render(&report, &charts)).unwrap();
    let charted = dump_dom(&chromium, &page).await;
    assert_clean(&charted, "hostile report with charts");
    assert_eq!(
        root_attr(&charted, "data-rendered"),
        Some(expected.to_string())
    );
    assert!(charted.contains(&as_text(&format!("Latency: {HOSTILE}"))));
    assert!(
        !charted.contains("<img"),
        "markup from the data became an element"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_without_a_time_series_shows_its_tables_and_says_so() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = streaming_run(dir.path(), &[]).await;
    let text = loadgen::summary::render(&report);
    let written = loadgen::export::write(dir.path(), &report, &text).unwrap();
    // A v1 summary: the same figures, no timeline.
    let mut v1: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    v1.as_object_mut().unwrap().remove("timeline");
    v1["schema"] = Value::String("chatbench.loadgen.summary/v1".into());
    let page = out_dir().join("no-series.html");
    rebuild_page(&v1, &dir.path().join("v1.json"), &page).await;

    let dom = dump_dom(&chromium, &page).await;
    assert_clean(&dom, "report without a time series");
    assert_eq!(root_attr(&dom, "data-charts").as_deref(), Some("0"));
    assert!(dom.contains("No time series in this summary"));
    assert!(!dom.contains("<canvas"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_dashboard_updates_during_a_run_and_shows_the_verdict_at_the_end() {
    let Some(chromium) = chromium() else { return };
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let users = users_file(dir.path(), 4);
    let (mut child, url, mut lines) = spawn_dashboard_run(&[
        "-q",
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "15s",
        "--think",
        "50ms",
        "--interval",
        "500ms",
        "--seed",
        "7",
        "--threshold",
        "http_req_duration{phase:chat}: p(95)<5000",
    ])
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let rest = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        seen
    });

    // Pages opened now stay until the run ends and get the final report
    // and its verdict (opened early, so a slow browser cannot miss the end):
    // one dumped by Chromium's command line, one in a WebDriver session that
    // captures it for a reviewer at two updates and at the end (Chromium's
    // own --screenshot can hang on a page whose event stream stays open).
    let out = out_dir();
    let (live_png, final_png) = (
        out.join("dashboard-live.png"),
        out.join("dashboard-final.png"),
    );
    let finals = {
        let (chromium, url) = (chromium.clone(), url.clone());
        tokio::spawn(async move { browse_live(&chromium, &url, &["--dump-dom".to_string()]).await })
    };
    let shots = {
        let (chromium, url) = (chromium.clone(), url.clone());
        let (live_png, final_png) = (live_png.clone(), final_png.clone());
        tokio::spawn(async move {
            let browser = Session::start(&chromium, &chromedriver, 1280, 2000).await;
            browser.client.goto(&url).await.unwrap();
            let at_least_two = |v: Option<&str>| v.and_then(|n| n.parse::<u32>().ok()) >= Some(2);
            browser
                .wait_root_attr("data-updates", Duration::from_secs(30), at_least_two)
                .await;
            browser.screenshot(&live_png).await;
            browser
                .wait_root_attr("data-final", Duration::from_secs(40), |v| v == Some("1"))
                .await;
            let status = browser.root_attr("data-status").await;
            browser.screenshot(&final_png).await;
            browser.close().await;
            status
        })
    };

    // Two snapshots during the run (each page follows three updates, the
    // interval is 500 ms): both drawn live, more requests in the later one.
    let snapshot = format!("{url}?updates=3");
    let first = browse_live(&chromium, &snapshot, &["--dump-dom".into()]).await;
    let second = browse_live(&chromium, &snapshot, &["--dump-dom".into()]).await;
    for (dom, what) in [(&first, "first"), (&second, "second")] {
        assert_eq!(
            root_attr(dom, "data-js-errors").as_deref(),
            Some("0"),
            "{what}: {dom:.2000}"
        );
        assert_eq!(
            root_attr(dom, "data-status").as_deref(),
            Some("live"),
            "{what}"
        );
        assert_eq!(
            root_attr(dom, "data-final"),
            None,
            "{what}: the run was not over"
        );
        assert_eq!(
            root_attr(dom, "data-updates").as_deref(),
            Some("3"),
            "{what}"
        );
        assert!(
            dom.contains(
                "class=\"verdict running\" role=\"status\"><span class=\"word\">RUNNING</span>"
            ),
            "{what}: no running banner"
        );
        assert!(
            dom.contains("<table class=\"requests\""),
            "{what}: no request table"
        );
        assert_eq!(root_attr(dom, "data-pwned"), None);
    }
    let count = |dom: &str| -> u64 {
        let text = fact(dom, "Requests").expect("no Requests fact");
        text.split_whitespace()
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert!(
        count(&second) > count(&first),
        "the requests did not grow: {} then {}",
        count(&first),
        count(&second)
    );

    let last = finals.await.unwrap();
    assert_eq!(
        root_attr(&last, "data-final").as_deref(),
        Some("1"),
        "no final report: {last:.2000}"
    );
    assert_eq!(
        root_attr(&last, "data-updates").map(|n| n != "0"),
        Some(true)
    );
    assert_clean(&last, "final dashboard");
    for text in [
        "PASSED",
        "exit code 0",
        "http_req_duration{phase:chat}: p(95)&lt;5000",
    ] {
        assert!(last.contains(text), "the final page has no {text:?}");
    }
    assert!(
        last.contains(
            "class=\"verdict passed\" role=\"status\"><span class=\"word\">PASSED</span>"
        ),
        "the final banner is not the verdict"
    );

    // The run ended by itself, the dashboard with it.
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("loadgen did not exit after its run")
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {:?}", rest.await.unwrap());
    // The captured page reached the verdict too.
    assert_eq!(shots.await.unwrap().as_deref(), Some("done"));
    eprintln!(
        "dashboard screenshots: {} {}",
        live_png.display(),
        final_png.display()
    );
}

/// A run killed without its final report (SIGKILL: no chance to send it):
/// the open page does not go on saying RUNNING; it retries, then says the
/// dashboard is gone and stops retrying (reconnection delays run on
/// Chromium's virtual time, so the minute of retries takes moments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_killed_mid_run_is_reported_gone_and_no_longer_running() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let users = users_file(dir.path(), 2);
    let users = users.to_str().unwrap();
    let (mut child, url, _lines) = spawn_dashboard_run(&[
        "-q",
        "--base-url",
        &base,
        "--users-file",
        users,
        "--vus",
        "1",
        "--duration",
        "60s",
        "--think",
        "100ms",
        "--interval",
        "500ms",
    ])
    .await;
    let page = {
        let (chromium, url) = (chromium.clone(), url.clone());
        tokio::spawn(async move {
            browse_live_for(&chromium, &url, &["--dump-dom".to_string()], 300_000).await
        })
    };
    // The page follows the run a few seconds, then the run dies.
    tokio::time::sleep(Duration::from_secs(4)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let dom = page.await.unwrap();
    assert_eq!(
        root_attr(&dom, "data-connection").as_deref(),
        Some("lost"),
        "{dom:.1500}"
    );
    assert_eq!(root_attr(&dom, "data-final"), None);
    assert_eq!(root_attr(&dom, "data-js-errors").as_deref(), Some("0"));
    assert!(
        root_attr(&dom, "data-updates").is_some_and(|n| n != "0"),
        "the page never drew an update"
    );
    assert!(
        dom.contains("the dashboard stopped answering before the final report"),
        "the banner does not say the dashboard is gone"
    );
}

/// One HTTP/1.1 request to `addr` (the test's own tiny client: the crate's
/// clients are for loading targets); returns the status and the body.
async fn request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, body.to_string())
}

/// Waits until `loadgen web`'s status says `state`; returns the status.
async fn wait_for_state(addr: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = request(addr, "GET", "/api/status", "").await;
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        if status["state"] == state {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `loadgen web` on a free loopback port with `users` as its
/// accounts; returns the process (killed on drop) and the page's URL.
async fn spawn_web(users: &Path) -> (tokio::process::Child, String) {
    let users = users.to_str().unwrap();
    let (child, url, mut lines) = spawn_loadgen_serving(
        &["web", "--users-file", users, "127.0.0.1:0"],
        "loadgen: web UI on ",
    )
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_web_refuses_a_non_test_target_and_runs_stops_and_reports_a_test_one() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (test_target, _) = chat_server(Config::default()).await;
    let (production, _) = chat_server(Config {
        app_env: Some("production".into()),
        ..Config::default()
    })
    .await;
    let users = users_file(dir.path(), 4);
    let (mut child, url) = spawn_web(&users).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let form = |target: std::net::SocketAddr, duration: &str| {
        serde_json::json!({"target": format!("http://{target}"), "vus": "2", "duration": duration,
            "profile": "", "stages": "", "stream": false, "allow_non_test_backend": false})
        .to_string()
    };

    // A bad value: the run command line's message, as JSON.
    let (code, body) = request(
        &addr,
        "POST",
        "/api/runs",
        r#"{"target":"http://127.0.0.1:1","vus":"many"}"#,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid value 'many' for '--vus"), "{body}");

    // A production target: refused with the guard's reason, in the page too.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(production, "2s")).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("guard refused the target") && body.contains("production"),
        "{body}"
    );
    let page = browse_live(&chromium, &url, &["--dump-dom".into()]).await;
    assert_eq!(root_attr(&page, "data-js-errors").as_deref(), Some("0"));
    assert_eq!(
        root_attr(&page, "data-state").as_deref(),
        Some("idle"),
        "{page:.1500}"
    );
    let shown = root_attr(&page, "data-error").unwrap_or_default();
    assert!(shown.contains("guard refused the target"), "{shown}");
    assert!(page.contains("<div id=\"message\" role=\"alert\">guard refused the target"));

    // One run at a time; Stop ends it early, reported as interrupted.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "60s")).await;
    assert_eq!(code, 202, "{body}");
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "2s")).await;
    assert_eq!(code, 409, "{body}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, body) = request(&addr, "POST", "/api/stop", "").await;
    assert_eq!(code, 200, "{body}");
    let status = wait_for_state(&addr, "done").await;
    assert_eq!(status["verdict"], "aborted", "{status}");
    assert_eq!(status["exit_code"], 105, "interrupted: {status}");
    let (_, summary) = request(&addr, "GET", "/results/summary.json", "").await;
    assert!(summary.contains("interrupted"), "{summary:.600}");

    // A short run to its end: the page shows its verdict and the files.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "2s")).await;
    assert_eq!(code, 202, "{body}");
    let status = wait_for_state(&addr, "done").await;
    assert_eq!(status["verdict"], "passed", "{status}");
    assert_eq!(status["downloads"].as_array().unwrap().len(), 6, "{status}");
    let live = browse_live(&chromium, &format!("{url}live/"), &["--dump-dom".into()]).await;
    assert_eq!(
        root_attr(&live, "data-final").as_deref(),
        Some("1"),
        "{live:.1500}"
    );
    assert_eq!(root_attr(&live, "data-status").as_deref(), Some("done"));
    assert_eq!(root_attr(&live, "data-js-errors").as_deref(), Some("0"));
    assert!(
        live.contains("<table class=\"requests\""),
        "no request table"
    );
    assert!(live
        .contains("class=\"verdict passed\" role=\"status\"><span class=\"word\">PASSED</span>"));
    let page = browse_live(&chromium, &url, &["--dump-dom".into()]).await;
    assert_eq!(root_attr(&page, "data-js-errors").as_deref(), Some("0"));
    assert_eq!(root_attr(&page, "data-state").as_deref(), Some("done"));
    assert_eq!(root_attr(&page, "data-verdict").as_deref(), Some("passed"));
    assert!(page.contains("Done: passed (exit code 0)"));
    for name in ["summary.json", "report.html", "loadgen_stats.csv"] {
        assert!(
            page.contains(&format!("href=\"results/{name}\"")),
            "no link to {name}"
        );
    }
    let (code, csv) = request(&addr, "GET", "/results/loadgen_stats.csv", "").await;
    assert_eq!(code, 200);
    assert!(
        csv.starts_with("Type,Name,Request Count,Failure Count,"),
        "{csv:.200}"
    );
    let (code, _) = request(&addr, "GET", "/results/..%2FCargo.toml", "").await;
    assert_eq!(code, 404);

    let png = out_dir().join("web.png");
    browse_live(
        &chromium,
        &url,
        &[
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", png.display()),
        ],
    )
    .await;
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    child.kill().await.unwrap();
}

/// A person's way in: the page is opened in Chromium through WebDriver, the
/// form filled in and Start clicked, so the page's own script posts the run;
/// the page then shows the run's verdict and its result files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_start_in_loadgen_web_runs_a_short_run_and_the_page_shows_its_verdict() {
    use fantoccini::Locator;
    let Some(chromium) = chromium() else { return };
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (target, _) = chat_server(Config::default()).await;
    let users = users_file(dir.path(), 4);
    let (_web, url) = spawn_web(&users).await;

    let session = Session::start(&chromium, &chromedriver, 1280, 1600).await;
    let browser = &session.client;
    browser.goto(&url).await.unwrap();
    let field = browser
        .wait()
        .for_element(Locator::Id("target"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(&format!("http://{target}")).await.unwrap();
    for (name, value) in [("vus", "2"), ("duration", "2s")] {
        let input = browser
            .find(Locator::Css(&format!("input[name={name}]")))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser
        .find(Locator::Id("start-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The page follows the run to its end: bounded wait on its own state.
    session
        .wait_root_attr("data-state", Duration::from_secs(30), |v| v == Some("done"))
        .await;
    assert_eq!(
        session.root_attr("data-verdict").await.as_deref(),
        Some("passed")
    );
    assert_eq!(
        session.root_attr("data-js-errors").await.as_deref(),
        Some("0")
    );
    let state = browser
        .find(Locator::Id("state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains("Done: passed (exit code 0)"), "{state}");
    let links = browser
        .find_all(Locator::Css("#downloads a"))
        .await
        .unwrap();
    assert_eq!(links.len(), 6, "one link per result file");
    session.screenshot(&out_dir().join("web-clicked.png")).await;
    session.close().await;
}
