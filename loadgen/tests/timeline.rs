//! The time series and Locust's CSV files from real short runs against the
//! test servers: one point per interval on a fixed grid whose counts add up
//! to the summary's totals (per endpoint, and the checks), summary.json v2
//! carries it and validates, the charts' columns have one entry per point,
//! and `--csv` / `--out` write Locust's three files with its exact headers
//! and counts equal to summary.json's.

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{counting_server, hit_plan, loadgen_bin, run_plan, users_file, validate_summary};
use loadgen::report::Report;
use loadgen::stats::Timeline;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Points a run of `duration` gives at `interval_ms`: one per whole
/// interval, plus the tail when it is at least half an interval (a shorter
/// tail is folded into the last point).
fn expected_points(duration: Duration, interval_ms: u64) -> usize {
    let ms = duration.as_millis() as u64;
    let (full, tail) = (ms / interval_ms, ms % interval_ms);
    if full > 0 && tail * 2 < interval_ms {
        full as usize
    } else {
        full as usize + 1
    }
}

fn assert_on_the_grid(t: &Timeline, duration: Duration, interval_ms: u64) {
    assert_eq!(t.interval_ms, interval_ms);
    assert_eq!(
        t.points.len(),
        expected_points(duration, interval_ms),
        "one point per interval over {duration:?}"
    );
    let last = t.points.len() - 1;
    for (i, p) in t.points.iter().enumerate() {
        assert_eq!(p.start_ms, i as u64 * interval_ms, "point {i}");
        if i < last {
            assert_eq!(p.length_ms, interval_ms, "point {i}");
        }
    }
    let end = t.points[last].end_ms();
    let ms = duration.as_millis() as u64;
    assert!(
        end.abs_diff(ms) <= 1,
        "the last point ends at {end} ms, the run at {ms} ms"
    );
}

/// Requests per (phase, endpoint).
type Counts = BTreeMap<(String, String), u64>;

/// Requests per (phase, endpoint): in the points, and in the aggregate.
fn per_endpoint(r: &Report) -> (Counts, Counts) {
    let mut points = BTreeMap::new();
    for p in &r.timeline.points {
        for e in &p.requests {
            *points
                .entry((e.phase.clone(), e.endpoint.clone()))
                .or_default() += e.count;
        }
    }
    let mut totals = BTreeMap::new();
    for (k, s) in &r.aggregate.requests {
        *totals
            .entry((k.phase.to_string(), k.endpoint.to_string()))
            .or_default() += s.count();
    }
    (points, totals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_keeps_one_point_per_interval_whose_counts_add_up_to_the_totals() {
    let (addr, seen) = counting_server(common::Behaviour {
        delay: Duration::from_millis(2),
        ..common::Behaviour::default()
    })
    .await;
    let url = format!("http://{addr}/work");
    let report = loadgen::app::hit(hit_plan(&[
        &url,
        "-c",
        "2",
        "-d",
        "1200ms",
        "--interval",
        "200ms",
    ]))
    .await;
    let t = &report.timeline;
    assert_on_the_grid(t, report.duration, 200);
    let total = report.aggregate.total_requests();
    assert!(total > 0);
    assert_eq!(t.total_requests(), total);
    // Requests in flight at the deadline are dropped, not recorded: at
    // most one per connection.
    let arrived = seen.arrived.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        total <= arrived && arrived <= total + 2,
        "recorded {total}, server saw {arrived}"
    );
    let (points, totals) = per_endpoint(&report);
    assert_eq!(points, totals);
    // Both connections run in every interval (the last one too: a point's
    // VUs are the most active during it, not the none left at the end).
    assert!(
        t.points.iter().all(|p| p.vus == 2),
        "{:?}",
        t.points.iter().map(|p| p.vus).collect::<Vec<_>>()
    );
    let chart = report.chart_data();
    assert_eq!(chart.t.len(), t.points.len());
    assert_eq!(chart.phases.len(), 1);
    assert_eq!(chart.phases[0].phase, "hit");
    assert_eq!(chart.phases[0].p95_ms.len(), t.points.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_records_every_endpoint_and_check_in_its_points_and_summary_json_v2_carries_them() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 5);
    let base = format!("http://{addr}");
    let report = loadgen::app::run(run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "3",
        "--duration",
        "900ms",
        "--think",
        "50ms",
        "--interval",
        "250ms",
    ]))
    .await
    .unwrap();
    let t = &report.timeline;
    assert_on_the_grid(t, report.duration, 250);
    let (points, totals) = per_endpoint(&report);
    assert_eq!(points, totals);
    assert_eq!(
        points
            .keys()
            .map(|(p, _)| p.as_str())
            .collect::<std::collections::BTreeSet<_>>(),
        ["auth", "chat", "session"].into()
    );
    let mut checks: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for p in &t.points {
        for c in &p.checks {
            let e = checks.entry((c.phase.clone(), c.name.clone())).or_default();
            e.0 += c.passes;
            e.1 += c.fails;
        }
    }
    let want: BTreeMap<(String, String), (u64, u64)> = report
        .aggregate
        .checks
        .iter()
        .map(|(k, c)| {
            (
                (k.phase.to_string(), k.name.to_string()),
                (c.passes, c.fails),
            )
        })
        .collect();
    assert_eq!(checks, want);

    let summary = loadgen::export::to_json(&report).unwrap();
    validate_summary(&summary);
    assert_eq!(summary["schema"], "chatbench.loadgen.summary/v2");
    let json_points = summary["timeline"]["points"].as_array().unwrap();
    assert_eq!(json_points.len(), t.points.len());
    let json_total: u64 = json_points
        .iter()
        .flat_map(|p| p["requests"].as_array().unwrap())
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(json_total, summary["http_reqs"]["count"].as_u64().unwrap());
    let back: Timeline = serde_json::from_value(summary["timeline"].clone()).unwrap();
    assert_eq!(&back, t);

    let chart = report.chart_data();
    let phases: Vec<&str> = chart.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["auth", "chat", "session"]);
    assert!(chart
        .phases
        .iter()
        .all(|p| p.requests_per_s.len() == chart.t.len()));
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "{path:?}: Python's csv module ends lines with CRLF"
    );
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const STATS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
const HISTORY: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";
const FAILURES: &str = "Method,Name,Error,Occurrences";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_writes_locusts_three_files_with_its_headers_and_the_summarys_counts() {
    let (addr, _) = chat_server(Config {
        // Every 401 refusal the server makes is a failure to find in the CSV.
        token_max_uses: Some(3),
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 5);
    let base = format!("http://{addr}");
    let out_dir = dir.path().join("results");
    let prefix = dir.path().join("csv").join("smoke");
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
            "1s",
            "--think",
            "20ms",
            "--login",
            "once",
            "--tags",
            "auth,session,chat,history",
            "--interval",
            "200ms",
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
            "--csv",
            prefix.to_str().unwrap(),
            "--threshold",
            "http_req_failed: rate<1",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    validate_summary(&summary);
    let failed = summary["http_req_failed"]["failed"].as_u64().unwrap();
    assert!(failed > 0, "the server's 401s are failures: {summary}");

    for (stats, history, failures) in [
        (
            out_dir.join("loadgen_stats.csv"),
            out_dir.join("loadgen_stats_history.csv"),
            out_dir.join("loadgen_failures.csv"),
        ),
        (
            dir.path().join("csv/smoke_stats.csv"),
            dir.path().join("csv/smoke_stats_history.csv"),
            dir.path().join("csv/smoke_failures.csv"),
        ),
    ] {
        // stats: Locust's header, one row per endpoint with summary.json's
        // counts, then Aggregated with the totals.
        let (header, rows) = read_csv(&stats);
        assert_eq!(header.join(","), STATS);
        let endpoints = summary["endpoints"].as_array().unwrap();
        assert_eq!(rows.len(), endpoints.len() + 1);
        let by_name: BTreeMap<&str, &Vec<String>> =
            rows.iter().map(|r| (r[1].as_str(), r)).collect();
        for e in endpoints {
            let name = format!(
                "{} {}",
                e["phase"].as_str().unwrap(),
                e["endpoint"].as_str().unwrap()
            );
            let row = by_name
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{name} in {rows:?}"));
            assert_eq!(row[2], e["requests"].to_string(), "{name} requests");
            assert_eq!(row[3], e["failures"].to_string(), "{name} failures");
            assert!(["GET", "POST"].contains(&row[0].as_str()), "{row:?}");
        }
        let total = rows.last().unwrap();
        assert_eq!((total[0].as_str(), total[1].as_str()), ("", "Aggregated"));
        assert_eq!(total[2], summary["http_reqs"]["count"].to_string());
        assert_eq!(total[3], failed.to_string());
        assert!(
            total[11..].iter().all(|v| v.parse::<u64>().is_ok()),
            "{total:?}"
        );

        // history: per point, one row per endpoint seen so far, then Aggregated.
        let (header, rows) = read_csv(&history);
        assert_eq!(header.join(","), HISTORY);
        let points = summary["timeline"]["points"].as_array().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut expected = 0;
        for p in points {
            for r in p["requests"].as_array().unwrap() {
                seen.insert((r["phase"].to_string(), r["endpoint"].to_string()));
            }
            expected += seen.len() + 1;
        }
        assert_eq!(rows.len(), expected);
        let aggregated: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "Aggregated").collect();
        assert_eq!(aggregated.len(), points.len());
        let last = aggregated.last().unwrap();
        assert_eq!(last[17], summary["http_reqs"]["count"].to_string());
        assert_eq!(last[18], failed.to_string());
        assert!(last[4].ends_with(|c: char| c.is_ascii_digit()) && last[4].contains('.'));

        // failures: Locust's header; occurrences add up to the failed requests.
        let (header, rows) = read_csv(&failures);
        assert_eq!(header.join(","), FAILURES);
        let n: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
        assert_eq!(n, failed);
        assert!(rows.iter().all(|r| r[2].contains("4xx")), "{rows:?}");
    }
}
