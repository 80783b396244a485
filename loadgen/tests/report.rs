//! The HTML report from the command line: `--html FILE` on `run` and `hit`,
//! `report.html` beside summary.json in `--out`, and `loadgen report
//! SUMMARY.json --html FILE` rebuilding the same page from a run's or a
//! merged summary. The page's embedded data is read back and compared with
//! summary.json (the browser tests look at the page itself).

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{counting_server, loadgen_bin, users_file, Behaviour};
use serde_json::Value;
use std::path::Path;

/// The JSON a page embeds, as its script reads it.
fn embedded(page: &Path) -> Value {
    let html = std::fs::read_to_string(page).unwrap();
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = html.find(open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The page's figures agree with summary.json's: totals, per-endpoint
/// counts, thresholds and their verdicts, exit code.
fn assert_matches_summary(page: &Value, summary: &Value) {
    assert_eq!(page["schema"], "chatbench.loadgen.report/v1");
    assert_eq!(page["totals"]["requests"], summary["http_reqs"]["count"]);
    assert_eq!(
        page["totals"]["failures"],
        summary["http_req_failed"]["failed"]
    );
    assert_eq!(page["verdict"]["exit_code"], summary["exit_code"]);
    assert_eq!(page["run"]["target"], summary["target"]);
    let rows: Vec<(String, String, u64)> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "endpoint")
        .map(|r| {
            (
                r["phase"].as_str().unwrap().to_string(),
                r["endpoint"].as_str().unwrap().to_string(),
                r["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, u64)> = summary["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["phase"].as_str().unwrap().to_string(),
                e["endpoint"].as_str().unwrap().to_string(),
                e["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    let verdicts = |v: &Value, key: &str| -> Vec<(String, bool)> {
        v["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t[key].as_str().unwrap().to_string(),
                    t["passed"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        verdicts(page, "expression"),
        verdicts(summary, "expression")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_report_html_in_out_and_where_html_says() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let out = dir.path().join("out");
    let html = dir.path().join("elsewhere/page.html");
    let base = format!("http://{addr}");
    let done = loadgen_bin(
        &[
            "run",
            "-q",
            "--base-url",
            &base,
            "--users-file",
            s(&users),
            "--vus",
            "2",
            "--duration",
            "1s",
            "--think",
            "50ms",
            "--out",
            s(&out),
            "--html",
            s(&html),
            "--threshold",
            "http_req_duration: p(95)<5000",
            "--threshold",
            "http_req_duration{phase:auth}: p(95)<0.001",
        ],
        &[],
    )
    .await;
    assert_eq!(
        done.code, 99,
        "the impossible threshold fails: {}",
        done.stderr
    );
    assert!(done.stderr.contains("report.html"), "{}", done.stderr);
    let summary = load(&out.join("summary.json"));
    for page in [out.join("report.html"), html] {
        let data = embedded(&page);
        assert_matches_summary(&data, &summary);
        assert_eq!(data["verdict"]["status"], "failed");
        // The charts' columns: one entry per point of the summary's timeline.
        let points = summary["timeline"]["points"].as_array().unwrap().len();
        assert!(points > 0);
        assert_eq!(data["charts"]["t"].as_array().unwrap().len(), points);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_report_rebuilds_the_page_of_a_run_and_of_a_merged_summary() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let base = format!("http://{addr}");
    let shard = dir.path().join("shard");
    let done = loadgen_bin(
        &[
            "run",
            "-q",
            "--base-url",
            &base,
            "--users-file",
            s(&users),
            "--vus",
            "1",
            "--duration",
            "800ms",
            "--think",
            "50ms",
            "--out",
            s(&shard),
            "--stream",
        ],
        &[],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let summary_path = shard.join("summary.json");
    let page = dir.path().join("rebuilt.html");
    let done = loadgen_bin(&["report", s(&summary_path), "--html", s(&page)], &[]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.is_empty(),
        "report prints no summary: {}",
        done.stdout
    );
    let data = embedded(&page);
    assert_matches_summary(&data, &load(&summary_path));
    assert_eq!(data["streaming"][0]["phase"], "chat");
    // The same figures as the page the run itself wrote.
    let original = embedded(&shard.join("report.html"));
    assert_eq!(data["requests"], original["requests"]);
    assert_eq!(data["thresholds"], original["thresholds"]);

    let merged = dir.path().join("merged");
    let done = loadgen_bin(
        &[
            "merge",
            s(&summary_path),
            s(&summary_path),
            "--out",
            s(&merged),
        ],
        &[],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let merged_summary = merged.join("summary.json");
    let page = dir.path().join("merged.html");
    let done = loadgen_bin(&["report", s(&merged_summary), "--html", s(&page)], &[]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let data = embedded(&page);
    assert_matches_summary(&data, &load(&merged_summary));
    assert_eq!(
        data["run"]["merged_from"],
        serde_json::json!([s(&summary_path), s(&summary_path)])
    );
    // merge --out writes the page too.
    assert_eq!(
        embedded(&merged.join("report.html"))["requests"],
        data["requests"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_writes_the_page_with_html() {
    let (addr, _) = counting_server(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("hit.html");
    let url = format!("http://{addr}/api/health");
    let done = loadgen_bin(
        &["hit", "-q", &url, "-c", "2", "-n", "20", "--html", s(&page)],
        &[],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let data = embedded(&page);
    assert_eq!(data["run"]["mode"], "hit");
    assert_eq!(data["totals"]["requests"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_report_refuses_a_bad_summary_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let not_json = dir.path().join("not-json.json");
    std::fs::write(&not_json, "{").unwrap();
    let missing = dir.path().join("missing.json");
    for input in [&not_json, &missing] {
        let done = loadgen_bin(&["report", s(input), "--html", s(&page)], &[]).await;
        assert_eq!(done.code, 2, "{}", done.stderr);
        assert!(done.stderr.contains(s(input)), "{}", done.stderr);
        assert!(done.stderr.contains("report:"), "{}", done.stderr);
        assert!(!page.exists());
    }
    let done = loadgen_bin(&["report", s(&not_json)], &[]).await;
    assert_eq!(done.code, 2, "--html is required: {}", done.stderr);
}
