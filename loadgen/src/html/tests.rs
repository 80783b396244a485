//! The page's text: escaping of hostile strings, the data the page embeds
//! (Locust's columns from the HDR histograms, the verdict), the policy that
//! lets only our scripts run, and the size of an 8-hour run's page.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::chart::{PhaseColumns, StreamColumns};
use crate::engine::Ended;
use crate::stats::{Aggregate, Record, RequestRecord};
use crate::threshold;
use std::sync::Arc;
use std::time::Duration;

const HOSTILE: &str =
    "</script><script>document.documentElement.setAttribute('data-pwned','1')</script>";

fn request(phase: &str, endpoint: &str, status: u16, ms: u64) -> Record {
    Record::Request(RequestRecord {
        phase: Arc::from(phase),
        endpoint: Arc::from(endpoint),
        status: Some(status),
        error: None,
        duration: Duration::from_millis(ms),
        waiting: Duration::from_millis(ms / 2),
        bytes_sent: 100,
        bytes_received: 1000,
    })
}

fn report(records: &[Record], thresholds: &[&str]) -> Report {
    let mut aggregate = Aggregate::default();
    for r in records {
        aggregate.record(r);
    }
    let duration = Duration::from_secs(10);
    let verdicts = thresholds
        .iter()
        .map(|t| threshold::evaluate(&threshold::parse(t).unwrap(), &aggregate, duration))
        .collect();
    Report {
        seed: Some(u64::MAX),
        verdicts,
        ..Report::test_run(aggregate, duration)
    }
}

/// Within HDR's precision (3 significant figures: 0.1%) of `expected` ms.
fn about(actual: Option<f64>, expected: f64) {
    let a = actual.unwrap_or_else(|| panic!("no value where {expected} was expected"));
    assert!(
        (a - expected).abs() <= expected * 0.001 + 0.001,
        "{a} is not {expected} within 0.1%"
    );
}

/// The JSON embedded in a page, as the page's script reads it.
fn embedded(page: &str) -> serde_json::Value {
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = page.find(open).unwrap() + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

/// A time series of `points` intervals and `phases` phases (one streaming),
/// with figures of realistic length (fractions of ms and of req/s).
pub(crate) fn synthetic(points: usize, phases: usize) -> ChartData {
    let t: Vec<f64> = (0..points).map(|i| (i as f64 + 1.0) * 14.4).collect();
    let wave =
        |i: usize, k: f64| 50.0 + 40.0 * ((i as f64) / 37.0 + k).sin() + (i % 7) as f64 / 3.0;
    ChartData {
        vus: (0..points).map(|i| (i % 100) as u64).collect(),
        phases: (0..phases)
            .map(|p| PhaseColumns {
                phase: format!("phase{p}"),
                requests_per_s: (0..points).map(|i| wave(i, p as f64) * 1.234_567).collect(),
                failures_per_s: (0..points).map(|i| wave(i, 1.0) / 97.0).collect(),
                p50_ms: (0..points).map(|i| Some(wave(i, 0.5) * 3.172_59)).collect(),
                p95_ms: (0..points).map(|i| Some(wave(i, 0.7) * 9.876_54)).collect(),
                p99_ms: (0..points)
                    .map(|i| (i % 50 != 0).then(|| wave(i, 0.9) * 19.123_4))
                    .collect(),
            })
            .collect(),
        streams: vec![StreamColumns {
            phase: "phase0".into(),
            ttft_p50_ms: (0..points).map(|i| Some(wave(i, 0.1) * 2.5)).collect(),
            ttft_p95_ms: (0..points).map(|i| Some(wave(i, 0.2) * 4.5)).collect(),
            itl_p50_ms: (0..points).map(|i| Some(wave(i, 0.3) / 2.3)).collect(),
            itl_p95_ms: (0..points).map(|i| Some(wave(i, 0.4) / 1.7)).collect(),
            tokens_per_s_p50: (0..points).map(|i| Some(wave(i, 0.6) * 1.11)).collect(),
        }],
        server: Vec::new(),
        t,
    }
}

#[test]
fn escaped_json_has_no_markup_and_parses_back_to_the_same_value() {
    let hostile = format!("{HOSTILE} \"quoted\" 'single' & <!-- 🚀 \u{2028}\u{2029} ok");
    let json = serde_json::to_string(&serde_json::json!({ "name": hostile })).unwrap();
    let escaped = escape_json(&json);
    for bad in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
        assert!(!escaped.contains(bad), "{bad:?} left in {escaped}");
    }
    let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
    assert_eq!(back["name"], hostile);
}

#[test]
fn hostile_names_stay_data_and_cannot_close_the_data_block() {
    let mut r = report(
        &[
            request(HOSTILE, "\"><img src=x onerror=alert(1)>", 200, 10),
            request("chat", "émoji 🚀 & <b>bold</b>", 500, 20),
        ],
        &[],
    );
    r.target = format!("http://x/{HOSTILE}");
    let page = render(&r, &ChartData::default());
    // The template's own three scripts close; no string from the data does.
    assert_eq!(page.matches("</script>").count(), 3, "a closing tag leaked");
    assert!(!page.contains("data-pwned','1')</script>"));
    assert!(!page.contains("<img"));
    let data = embedded(&page);
    assert_eq!(data["run"]["target"], format!("http://x/{HOSTILE}"));
    let names: Vec<&str> = data["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["endpoint"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"émoji 🚀 & <b>bold</b>"), "{names:?}");
    assert!(
        names.contains(&"\"><img src=x onerror=alert(1)>"),
        "{names:?}"
    );
}

#[test]
fn the_policy_allows_exactly_the_two_inlined_scripts_and_no_connection() {
    let page = render(&report(&[], &[]), &ChartData::default());
    let policy = csp();
    assert!(page.contains(&policy));
    assert!(policy.contains("default-src 'none'"));
    assert!(!policy.contains("script-src 'unsafe-inline'"));
    assert_eq!(policy.matches("'sha256-").count(), 2);
    // The hashes are of the exact text between the tags.
    for script in [SCRIPT, UPLOT_JS] {
        assert!(page.contains(&format!("<script>{script}</script>")));
        assert!(policy.contains(&script_hash(script)));
    }
    // Nothing of ours points at the network; the policy blocks the rest.
    for (name, text) in [("template", TEMPLATE), ("css", CSS), ("script", SCRIPT)] {
        for pointer in [
            "src=",
            "href=",
            "url(",
            "fetch(",
            "XMLHttpRequest",
            "EventSource",
        ] {
            assert!(!text.contains(pointer), "{name} has {pointer}");
        }
    }
}

#[test]
fn only_the_live_page_has_the_live_script_and_may_connect_to_its_own_origin() {
    let data = to_json(&build(&report(&[], &[]), &ChartData::default()));
    let report_page = render_json(&data, None);
    assert!(!report_page.contains(LIVE_SCRIPT));
    assert!(!report_page.contains(" data-live=\""));
    assert!(!csp().contains("connect-src"));

    let live_page = render_live(&data, "/events");
    let policy = csp_live();
    assert!(live_page.contains(&policy));
    assert!(live_page.contains(&format!("<script>{LIVE_SCRIPT}</script>")));
    assert!(live_page.contains(" data-live=\"/events\""));
    assert!(policy.contains("connect-src 'self';"));
    assert!(policy.contains("default-src 'none'"));
    assert_eq!(policy.matches("'sha256-").count(), 3);
    assert!(policy.contains(&script_hash(LIVE_SCRIPT)));
    // The live path is ours; anything that would need escaping is dropped.
    assert!(!render_live(&data, "/x\" onload=\"y").contains("onload"));
}

#[test]
fn the_request_table_has_locusts_columns_from_the_histograms() {
    let records: Vec<Record> = (1..=100)
        .map(|ms| request("auth", "login", if ms % 10 == 0 { 500 } else { 200 }, ms))
        .chain((1..=10).map(|ms| request("chat", "chat", 200, ms * 100)))
        .collect();
    let data = build(&report(&records, &[]), &ChartData::default());
    let kinds: Vec<(&str, &str, &str)> = data
        .requests
        .iter()
        .map(|r| (r.kind, r.phase.as_str(), r.endpoint.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("phase", "auth", ""),
            ("endpoint", "auth", "login"),
            ("phase", "chat", ""),
            ("endpoint", "chat", "chat"),
            ("total", "", "Aggregated"),
        ]
    );
    let login = &data.requests[1];
    assert_eq!((login.requests, login.failures), (100, 10));
    about(login.median_ms, 50.0);
    about(login.min_ms, 1.0);
    about(login.max_ms, 100.0);
    assert_eq!(login.average_size, Some(1000.0));
    assert_eq!(login.requests_per_s, 10.0);
    assert_eq!(login.failures_per_s, 1.0);
    assert_eq!(login.percentiles_ms.len(), PERCENTILES.len());
    about(login.percentiles_ms[0], 50.0);
    about(login.percentiles_ms[5], 95.0);
    about(login.percentiles_ms[10], 100.0);
    let total = data.requests.last().unwrap();
    assert_eq!((total.requests, total.failures), (110, 10));
    about(total.max_ms, 1000.0);
    assert_eq!(data.percentiles[0], "50%");
    assert_eq!(data.percentiles[10], "100%");
}

#[test]
fn the_verdict_is_passed_failed_or_aborted_with_the_exit_code() {
    let records = [request("auth", "login", 200, 10)];
    let passed = build(
        &report(&records, &["http_req_duration: p(95)<500"]),
        &ChartData::default(),
    );
    assert_eq!(
        (passed.verdict.status, passed.verdict.exit_code),
        ("passed", 0)
    );
    assert_eq!(passed.thresholds[0].unit, "ms");
    about(passed.thresholds[0].actual, 10.0);

    let failed = build(
        &report(
            &records,
            &["http_req_duration: p(95)<5", "checks: rate>0.9"],
        ),
        &ChartData::default(),
    );
    assert_eq!(
        (failed.verdict.status, failed.verdict.exit_code),
        ("failed", 99)
    );
    assert_eq!(failed.thresholds[1].actual, None, "no checks: no data");

    let mut r = report(&records, &[]);
    r.aborted = Some(crate::report::AbortReason::Guard(
        "app_env production".into(),
    ));
    r.ended = Ended::Aborted;
    let aborted = build(&r, &ChartData::default());
    assert_eq!(
        (aborted.verdict.status, aborted.verdict.exit_code),
        ("aborted", 3)
    );
    assert_eq!(
        aborted.verdict.reason.as_deref(),
        Some("guard: app_env production")
    );
    assert_eq!(aborted.run.seed.as_deref(), Some("18446744073709551615"));
}

#[test]
fn without_points_the_page_has_no_charts() {
    let data = build(&report(&[], &[]), &ChartData::default());
    assert!(data.charts.is_none());
    let data = build(&report(&[], &[]), &synthetic(3, 1));
    assert_eq!(data.charts.unwrap().t, vec![14.4, 28.8, 43.2]);
}

#[test]
fn an_eight_hour_run_of_2000_points_and_4_phases_makes_a_page_under_1_mb() {
    let records: Vec<Record> = ["auth", "session", "chat", "other"]
        .iter()
        .flat_map(|p| (1..200).map(move |ms| request(p, "endpoint", 200, ms)))
        .collect();
    let page = render(&report(&records, &[]), &synthetic(2000, 4));
    let size = page.len();
    eprintln!("2,000 points, 4 phases, 1 streaming: {size} bytes");
    assert!(size < 1_000_000, "{size} bytes");
    let charts = embedded(&page)["charts"].clone();
    assert_eq!(charts["t"].as_array().unwrap().len(), 2000);
    assert_eq!(charts["phases"].as_array().unwrap().len(), 4);
}

#[test]
fn fill_expands_each_placeholder_once_and_never_inside_values() {
    let out = fill("a{{X}}b{{Y}}c{{UNKNOWN}}d{{", &[("X", "{{Y}}"), ("Y", "y")]);
    assert_eq!(out, "a{{Y}}byc{{UNKNOWN}}d{{");
}

#[test]
fn the_vendored_scripts_cannot_end_their_script_element_early() {
    for (name, text) in [("uPlot", UPLOT_JS), ("report.js", SCRIPT)] {
        assert!(
            !text.to_ascii_lowercase().contains("</script"),
            "{name} contains </script"
        );
        assert!(!text.contains("<!--"), "{name} contains <!--");
    }
}

#[test]
fn server_series_are_embedded_with_the_charts_rounded_and_as_data() {
    use crate::server::{series, ScrapeTarget, ServerSeries};
    let mut r = report(&[request("chat", "chat", 200, 5)], &[]);
    let url = format!("http://127.0.0.1:9/{HOSTILE}");
    r.server = Some(ServerSeries {
        targets: vec![ScrapeTarget {
            url: url.clone(),
            scrapes: 4,
            failures: 1,
            last_error: Some("answered 503".into()),
            t_ms: vec![0, 1001, 2002],
            series: [
                (
                    series::DB_POOL_USAGE_RATIO.to_string(),
                    vec![Some(0.0), Some(0.123_456), None],
                ),
                (
                    series::CPU_CORES.to_string(),
                    vec![None, Some(1.5), Some(2.0)],
                ),
            ]
            .into(),
            totals: Default::default(),
        }],
    });
    let mut charts = synthetic(3, 1);
    charts.server = r.chart_data().server;
    let page = render(&r, &charts);
    assert!(
        !page.contains(HOSTILE),
        "a URL from the command line became markup"
    );
    let server = &embedded(&page)["charts"]["server"][0];
    assert_eq!(server["url"], url);
    assert_eq!(server["scrapes"], 4);
    assert_eq!(server["failures"], 1);
    assert_eq!(server["last_error"], "answered 503");
    assert_eq!(server["t"], serde_json::json!([0.0, 1.001, 2.002]));
    assert_eq!(
        server["series"][series::DB_POOL_USAGE_RATIO],
        serde_json::json!([0.0, 0.123, null])
    );
    assert_eq!(
        server["series"][series::CPU_CORES],
        serde_json::json!([null, 1.5, 2.0])
    );
    // Without scrapes there is no server column at all.
    assert!(report(&[], &[]).chart_data().server.is_empty());
}

#[test]
fn the_page_charts_every_server_series() {
    use crate::server::series::*;
    for name in [
        DB_POOL_SIZE,
        DB_POOL_CHECKED_OUT,
        DB_POOL_MAX,
        DB_POOL_USAGE_RATIO,
        HTTP_IN_FLIGHT,
        CHAT_MEAN_MS,
        PROVIDER_CALLS_PER_S,
        PROVIDER_MEAN_MS,
        PROVIDER_ERRORS_PER_S,
        PROVIDER_429_PER_S,
        PROVIDER_RETRIES_PER_S,
        BREAKER_STATE,
        HASH_QUEUE_DEPTH,
        HASH_IN_FLIGHT,
        HASH_MEAN_MS,
        HISTORY_MESSAGES_MEAN,
        HISTORY_MAX_MESSAGES,
        RATE_LIMITED_PER_S,
        CPU_CORES,
        HOST_CPUS,
        RSS_MIB,
        OPEN_FDS,
        UPSTREAM_REQUESTS_PER_S,
        UPSTREAM_429_PER_S,
        UPSTREAM_ERRORS_PER_S,
        UPSTREAM_TOKENS_PER_S,
    ] {
        assert!(
            SCRIPT.contains(&format!("'{name}'")),
            "report.js does not chart {name}"
        );
    }
}

#[test]
fn a_runs_comparison_with_its_baseline_is_embedded_with_its_verdicts() {
    let fast: Vec<Record> = (0..400)
        .map(|i| request("chat", "chat", 200, 100 + i % 10))
        .collect();
    let slow: Vec<Record> = (0..400)
        .map(|i| request("chat", "chat", 200, 200 + i % 10))
        .collect();
    let base = report(&fast, &[]);
    let without = build(&base, &ChartData::default());
    assert!(without.comparison.is_none());

    let mut new = report(&slow, &[]);
    new.comparison = Some(crate::compare::compare(
        &base,
        "base.json",
        &new,
        "this run",
        &crate::compare::Options::default(),
    ));
    let data = build(&new, &ChartData::default());
    assert_eq!(data.verdict.exit_code, 98, "a regression shows as exit 98");
    let page = render(&new, &ChartData::default());
    assert!(page.contains("<section id=\"comparison\""));
    let c = &embedded(&page)["comparison"];
    assert_eq!(c["base"]["label"], "base.json");
    assert_eq!(c["regressed"], true);
    let p50 = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "p50")
        .unwrap();
    assert_eq!(p50["verdict"], "regression");
    about(p50["base"].as_f64(), 104.0);
    about(p50["new"].as_f64(), 204.0);
}
