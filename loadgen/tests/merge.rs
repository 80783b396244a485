//! `loadgen merge` on the summary.json files of real short runs against the
//! test servers: merged counts are the inputs' sums, merged percentiles are
//! those of one histogram fed both inputs' samples (built here by decoding
//! the inputs and adding them), a file merged with itself doubles its counts
//! and keeps its percentiles, bad inputs exit 2 naming the file, the merged
//! summary validates against the schema, and thresholds are evaluated again
//! on the merged figures (0 / 99).

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{counting_server, hit_plan, loadgen_bin, run_plan, users_file, validate_summary};
use hdrhistogram::Histogram;
use loadgen::export::{decode_histogram, encode_histogram};
use loadgen::report::Report;
use loadgen::stats::Summary;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes a run's summary.json (and summary.txt) into `dir`, as `--out` does.
fn save(report: &Report, dir: &Path) -> PathBuf {
    let text = loadgen::summary::render(report);
    loadgen::export::write(dir, report, &text).unwrap()
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

/// Each series' duration histogram, keyed phase/endpoint/class.
fn series_histograms(summary: &Value) -> BTreeMap<String, Histogram<u64>> {
    summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let key = format!("{}/{}/{}", x["phase"], x["endpoint"], x["status_class"]);
            let h = decode_histogram(x["histograms"]["duration"].as_str().unwrap()).unwrap();
            (key, h)
        })
        .collect()
}

/// The expectation: the inputs' histograms decoded and added, per series.
fn added(inputs: &[&Value]) -> BTreeMap<String, Histogram<u64>> {
    let mut out: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for input in inputs {
        for (k, h) in series_histograms(input) {
            out.entry(k)
                .or_insert_with(|| Histogram::new(3).unwrap())
                .add(&h)
                .unwrap();
        }
    }
    out
}

fn all_of(series: &BTreeMap<String, Histogram<u64>>) -> Histogram<u64> {
    let mut all = Histogram::new(3).unwrap();
    for h in series.values() {
        all.add(h).unwrap();
    }
    all
}

/// A distribution object of summary.json against the figures of `h`:
/// count and percentiles exactly, the mean to float rounding (its sum runs
/// over buckets whose layout depends on how far the histogram was resized).
fn assert_distribution(d: &Value, h: &Histogram<u64>, what: &str) {
    let e = Summary::of(h);
    let want = json!({"count": e.count, "min": e.min, "med": e.med,
        "max": e.max, "p90": e.p90, "p95": e.p95, "p99": e.p99});
    let mut got = d.clone();
    let avg = got.as_object_mut().unwrap().remove("avg").unwrap();
    assert_eq!(got, want, "{what}");
    let avg = avg.as_f64().unwrap();
    assert!(
        (avg - e.avg).abs() <= 1e-9 * e.avg,
        "{what}: avg {avg} vs {}",
        e.avg
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_run_shards_merge_into_their_sums_and_one_histograms_percentiles() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 4);
    let base = format!("http://{addr}");
    let shard = |seed: &'static str, vus: &'static str| {
        run_plan(&[
            "--base-url",
            &base,
            "--users-file",
            s(&users),
            "--vus",
            vus,
            "--duration",
            "600ms",
            "--think",
            "20ms",
            "--seed",
            seed,
            "--threshold",
            "http_reqs: count>0",
        ])
    };
    let (a, b) = tokio::join!(
        loadgen::app::run(shard("1", "2")),
        loadgen::app::run(shard("2", "1"))
    );
    let (pa, pb) = (
        save(&a.unwrap(), &dir.path().join("a")),
        save(&b.unwrap(), &dir.path().join("b")),
    );
    let (ja, jb) = (load(&pa), load(&pb));
    let out_dir = dir.path().join("merged");
    let out = loadgen_bin(&["merge", s(&pa), s(&pb), "--out", s(&out_dir)], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for expected in [
        "merged: 2 summaries",
        "http_req_duration",
        "{ phase:chat }",
        "http_reqs",
        "create_session",
        "✓ http_reqs: count>0",
    ] {
        assert!(out.stdout.contains(expected), "{expected}:\n{}", out.stdout);
    }
    let m = load(&out_dir.join("summary.json"));
    validate_summary(&m);
    assert!(out_dir.join("summary.txt").exists());
    assert_eq!(
        m["merged_from"]["files"],
        json!([s(&pa), s(&pb)]),
        "{}",
        m["merged_from"]
    );

    // Counters are the sums.
    for path in [
        "/http_reqs/count",
        "/http_req_failed/failed",
        "/http_req_failed/total",
        "/iterations/count",
        "/data/sent_bytes",
        "/data/received_bytes",
        "/checks/passes",
        "/checks/fails",
        "/vus/max",
        "/vus/max_planned",
    ] {
        assert_eq!(
            u(&m.pointer(path).unwrap().clone()),
            u(ja.pointer(path).unwrap()) + u(jb.pointer(path).unwrap()),
            "{path}"
        );
    }
    assert!(u(&m["http_reqs"]["count"]) > 10, "{}", m["http_reqs"]);
    // Duration the longest; req/s from the merged count over it.
    let secs = m["duration_seconds"].as_f64().unwrap();
    let longest = ja["duration_seconds"]
        .as_f64()
        .unwrap()
        .max(jb["duration_seconds"].as_f64().unwrap());
    assert_eq!(secs, longest);
    let rate = m["http_reqs"]["rate"].as_f64().unwrap();
    let want = u(&m["http_reqs"]["count"]) as f64 / secs;
    assert!((rate - want).abs() <= 1e-9 * want, "{rate} vs {want}");

    // Histograms: every series equals the inputs' added; the percentiles
    // are those of one histogram fed both runs' samples.
    let expected = added(&[&ja, &jb]);
    let merged = series_histograms(&m);
    assert_eq!(
        merged.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (k, h) in &expected {
        assert_eq!(&merged[k], h, "series {k}");
    }
    assert_distribution(
        &m["http_req_duration_us"],
        &all_of(&expected),
        "http_req_duration_us",
    );
    let mut iterations = decode_histogram(ja["iterations"]["histogram"].as_str().unwrap()).unwrap();
    iterations
        .add(decode_histogram(jb["iterations"]["histogram"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_distribution(&m["iterations"]["duration_us"], &iterations, "iterations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_summary_merged_with_itself_doubles_its_counts_and_keeps_its_percentiles() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 2);
    let base = format!("http://{addr}");
    let report = loadgen::app::run(run_plan(&[
        "--base-url",
        &base,
        "--users-file",
        s(&users),
        "--vus",
        "2",
        "--duration",
        "700ms",
        "--think",
        "20ms",
        "--login",
        "once",
        "--stream",
    ]))
    .await
    .unwrap();
    let p = save(&report, &dir.path().join("a"));
    let one = load(&p);
    assert!(one["streaming"].is_object(), "the run streamed");
    let merged = loadgen::merge::merge_files(
        &[p.clone(), p.clone()],
        &loadgen::merge::MergeOptions::default(),
    )
    .unwrap();
    let two = loadgen::export::to_json(&merged).unwrap();
    validate_summary(&two);

    for path in [
        "/http_reqs/count",
        "/iterations/count",
        "/checks/passes",
        "/data/received_bytes",
        "/vus/max",
        "/streaming/streams",
        "/streaming/tokens",
        "/streaming/completion_tokens",
        "/streaming/stream_errors/count",
    ] {
        assert_eq!(
            u(two.pointer(path).unwrap()),
            2 * u(one.pointer(path).unwrap()),
            "{path}"
        );
    }
    assert_eq!(two["duration_seconds"], one["duration_seconds"]);
    // Everything but the count is unchanged (the mean to float rounding).
    let same_but_count = |d: &Value| {
        let mut d = d.clone();
        d["count"] = json!(0);
        let avg = d["avg"].as_f64().unwrap();
        d["avg"] = json!(format!("{avg:.6e}"));
        d
    };
    for path in [
        "/http_req_duration_us",
        "/http_req_waiting_us",
        "/iterations/duration_us",
        "/streaming/ttfb_us",
        "/streaming/ttft_us",
        "/streaming/itl_us",
        "/streaming/tpot_us",
        "/streaming/e2e_us",
        "/streaming/tokens_per_s_milli",
    ] {
        let (a, b) = (one.pointer(path).unwrap(), two.pointer(path).unwrap());
        assert_eq!(u(&b["count"]), 2 * u(&a["count"]), "{path}");
        assert_eq!(same_but_count(a), same_but_count(b), "{path}");
    }
    assert!(u(&one["streaming"]["ttft_us"]["count"]) > 0);
    // The stream series' histograms are the input's, each count doubled.
    let (s1, s2) = (
        &one["streaming"]["series"][0],
        &two["streaming"]["series"][0],
    );
    for m in ["ttfb", "ttft", "itl", "tpot", "e2e", "tokens_per_s"] {
        let h1 = decode_histogram(s1["histograms"][m].as_str().unwrap()).unwrap();
        let h2 = decode_histogram(s2["histograms"][m].as_str().unwrap()).unwrap();
        let mut doubled = h1.clone();
        doubled.add(&h1).unwrap();
        assert_eq!(h2, doubled, "{m}");
    }
}

/// A small hit run's summary.json, with `extra` flags.
async fn hit_summary(url: &str, dir: &Path, n: &str, extra: &[&str]) -> PathBuf {
    let mut argv = vec![url, "-c", "2", "-n", n];
    argv.extend_from_slice(extra);
    let report = loadgen::app::hit(hit_plan(&argv)).await;
    save(&report, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_exit_2_with_a_message_naming_the_file() {
    let (addr, _) = counting_server(common::Behaviour::default()).await;
    let url = format!("http://{addr}/work");
    let dir = tempfile::tempdir().unwrap();
    let good = hit_summary(&url, &dir.path().join("good"), "20", &[]).await;
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut v = load(&good);
    v["schema"] = json!("chatbench.loadgen.summary/v9");
    let wrong_schema = write("wrong-schema.json", v.to_string());
    let mut coarse = Histogram::<u64>::new(2).unwrap();
    coarse.record(1234).unwrap();
    let mut v = load(&good);
    v["series"][0]["histograms"]["duration"] = json!(encode_histogram(&coarse).unwrap());
    let other_settings = write("other-settings.json", v.to_string());
    let not_json = write("not-json.json", "{ nope".into());
    let missing = dir.path().join("missing.json");
    let cases: [(&Path, &str); 4] = [
        (&missing, "cannot read"),
        (&wrong_schema, "schema is \"chatbench.loadgen.summary/v9\""),
        (&other_settings, "mismatched histogram settings"),
        (&not_json, "not JSON"),
    ];
    for (bad, why) in cases {
        let out = loadgen_bin(&["merge", s(&good), s(bad)], &[]).await;
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(
            out.stderr.contains(s(bad)) && out.stderr.contains(why),
            "{bad:?} should be named with {why:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "nothing merged: {}", out.stdout);
    }
    let out = loadgen_bin(&["merge", s(&good)], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("two or more"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_are_evaluated_again_on_the_merged_figures() {
    let (addr, _) = counting_server(common::Behaviour::default()).await;
    let url = format!("http://{addr}/work");
    let dir = tempfile::tempdir().unwrap();
    // 30 + 50 requests; the recorded threshold fails on the first shard
    // alone and holds on the merged 80.
    let recorded = ["--threshold", "http_reqs: count>=40"];
    let a = hit_summary(&url, &dir.path().join("a"), "30", &recorded).await;
    let b = hit_summary(&url, &dir.path().join("b"), "50", &recorded).await;
    assert_eq!(load(&a)["exit_code"], 99);
    let out_dir = dir.path().join("m");
    let out = loadgen_bin(&["merge", s(&a), s(&b), "--out", s(&out_dir)], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("✓ http_reqs: count>=40"),
        "{}",
        out.stdout
    );
    let m = load(&out_dir.join("summary.json"));
    validate_summary(&m);
    assert_eq!(m["http_reqs"]["count"], 80);
    assert_eq!(m["thresholds"][0]["actual"], 80.0);
    assert_eq!(m["exit_code"], 0);

    // --threshold replaces the recorded one with the same metric.
    let out = loadgen_bin(
        &["merge", s(&a), s(&b), "--threshold", "http_reqs: count>80"],
        &[],
    )
    .await;
    assert_eq!(out.code, 99, "{out:?}");
    assert!(
        out.stdout.contains("✗ http_reqs: count>80"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("count>=40"), "{}", out.stdout);

    // Inputs that recorded different thresholds need a choice.
    let c = hit_summary(&url, &dir.path().join("c"), "10", &[]).await;
    let out = loadgen_bin(&["merge", s(&a), s(&c)], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("recorded different thresholds") && out.stderr.contains(s(&c)),
        "{}",
        out.stderr
    );
    let out = loadgen_bin(
        &["merge", s(&a), s(&c), "--threshold", "http_reqs: count==40"],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");

    // --profile: its thresholds, those for phases no input recorded skipped.
    let out = loadgen_bin(&["merge", s(&a), s(&c), "--profile", "smoke"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("✓ http_req_failed: rate<0.15")
            && out.stdout.contains("skipped: checks{phase:auth}"),
        "{}",
        out.stdout
    );
}

/// Requests per point start of a summary's timeline.
fn point_counts(summary: &Value) -> BTreeMap<u64, u64> {
    summary["timeline"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = p["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| u(&r["count"]))
                .sum();
            (u(&p["start_ms"]), n)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelines_merge_by_start_offset_and_a_v1_summary_still_merges_without_one() {
    let (addr, _) = counting_server(common::Behaviour {
        delay: std::time::Duration::from_millis(1),
        ..common::Behaviour::default()
    })
    .await;
    let url = format!("http://{addr}/work");
    let dir = tempfile::tempdir().unwrap();
    let shard = |name: &str, connections: &'static str| {
        let (url, out) = (url.clone(), dir.path().join(name));
        async move {
            let argv = [
                &url,
                "-c",
                connections,
                "-d",
                "700ms",
                "--interval",
                "200ms",
            ];
            save(&loadgen::app::hit(hit_plan(&argv)).await, &out)
        }
    };
    let (a, b) = (shard("a", "1").await, shard("b", "3").await);
    let (va, vb) = (load(&a), load(&b));
    let out = dir.path().join("merged");
    let merged = loadgen_bin(&["merge", s(&a), s(&b), "--out", s(&out)], &[]).await;
    assert_eq!(merged.code, 0, "{merged:?}");
    let m = load(&out.join("summary.json"));
    validate_summary(&m);
    // Points aligned by start offset: per start, the shards' counts added,
    // their VUs summed (both ran every whole interval).
    let (ca, cb) = (point_counts(&va), point_counts(&vb));
    let mut want = ca.clone();
    for (start, n) in &cb {
        *want.entry(*start).or_default() += n;
    }
    assert_eq!(point_counts(&m), want);
    let total: u64 = want.values().sum();
    assert_eq!(total, u(&m["http_reqs"]["count"]));
    assert_eq!(m["timeline"]["points"][0]["vus"], 4);
    // The merged summary's CSV history has the merged points.
    let (_, history) = {
        let text = std::fs::read_to_string(out.join("loadgen_stats_history.csv")).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        (h, rows)
    };
    assert_eq!(history.len(), 2 * want.len());

    // A v1 summary (the same file without its timeline, nor the later
    // `truncated`, `dropped_iterations`, `health` and `recovery`) is still
    // read; the merged summary then has an empty timeline, and says why.
    let mut v1 = va.clone();
    for later in [
        "timeline",
        "truncated",
        "dropped_iterations",
        "health",
        "recovery",
    ] {
        v1.as_object_mut().unwrap().remove(later);
    }
    v1["schema"] = json!("chatbench.loadgen.summary/v1");
    let v1_schema: Value = serde_json::from_str(loadgen::export::SCHEMA_V1).unwrap();
    assert!(jsonschema::validator_for(&v1_schema).unwrap().is_valid(&v1));
    let v1_path = dir.path().join("v1.json");
    std::fs::write(&v1_path, v1.to_string()).unwrap();
    let out = dir.path().join("merged-v1");
    let merged = loadgen_bin(&["merge", s(&v1_path), s(&b), "--out", s(&out)], &[]).await;
    assert_eq!(merged.code, 0, "{merged:?}");
    assert!(merged.stderr.contains("v1 summary"), "{}", merged.stderr);
    let m = load(&out.join("summary.json"));
    validate_summary(&m);
    assert_eq!(m["timeline"]["points"], json!([]));
    assert_eq!(
        u(&m["http_reqs"]["count"]),
        u(&va["http_reqs"]["count"]) + u(&vb["http_reqs"]["count"])
    );

    // A timeline that disagrees with its series is refused, naming the file.
    let mut cut = va.clone();
    cut["timeline"]["points"].as_array_mut().unwrap().pop();
    let cut_path = dir.path().join("cut.json");
    std::fs::write(&cut_path, cut.to_string()).unwrap();
    let out = loadgen_bin(&["merge", s(&cut_path), s(&b)], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(s(&cut_path)) && out.stderr.contains("timeline"),
        "{}",
        out.stderr
    );
}
