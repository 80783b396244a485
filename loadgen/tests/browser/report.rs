//! The HTML report from disk: a real run's report with every chart and
//! table, a hostile summary rebuilt with `loadgen report` (its strings show
//! as text, no injected script runs), a summary without a time series.

use crate::common::chat::{chat_server, Config};
use crate::common::{self, loadgen_bin, run_plan, users_file};
use crate::support::{
    as_text, assert_clean, browse, chromium, dump_dom, out_dir, root_attr, screenshot,
};
use loadgen::chart::{ChartData, PhaseColumns, StreamColumns};
use loadgen::report::Report;
use serde_json::Value;
use std::path::Path;

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
