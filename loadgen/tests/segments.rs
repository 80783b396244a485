//! `run --segment` through the binary against the test chat server: two
//! shards of one closed-model test write summaries that carry their segment
//! and validate against the schema, their VUs add up to the test's, `merge`
//! records the whole test (`0:1`) and evaluates thresholds on the merged
//! figures (a count each shard passes fails merged: exit 99), and a shard
//! given twice is refused (exit 2).

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{loadgen_bin, users_file, validate_summary};
use serde_json::Value;
use std::path::Path;

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_of_one_test_merge_into_the_whole_test_judged_globally() {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 6);
    let base = format!("http://{addr}");
    let shard = |i: usize| {
        let out = dir.path().join(format!("shard-{i}"));
        let seg = format!("{i}/2");
        let (base, users) = (base.clone(), users.clone());
        async move {
            let o = loadgen_bin(
                &[
                    "run",
                    "-q",
                    "--base-url",
                    &base,
                    "--users-file",
                    s(&users),
                    "--vus",
                    "5",
                    "--duration",
                    "600ms",
                    "--think",
                    "20ms",
                    "--no-scrape",
                    "--segment",
                    &seg,
                    "--out",
                    s(&out),
                ],
                &[],
            )
            .await;
            (o, out.join("summary.json"))
        }
    };
    let ((o1, p1), (o2, p2)) = tokio::join!(shard(1), shard(2));
    assert_eq!((o1.code, o2.code), (0, 0), "{o1:?}\n{o2:?}");
    let (j1, j2) = (load(&p1), load(&p2));
    for (j, index) in [(&j1, 1), (&j2, 2)] {
        validate_summary(j);
        assert_eq!(j["segment"]["segment"], ["0:1/2", "1/2:1"][index - 1]);
        assert_eq!(j["segment"]["index"], index);
        assert_eq!(j["segment"]["sequence"], "0,1/2,1");
    }
    assert!(
        o1.stdout
            .contains("segment: 0:1/2 of 0,1/2,1 (shard 1 of 2)"),
        "{}",
        o1.stdout
    );
    // 5 VUs: 3 + 2, exactly.
    let planned = |j: &Value| j["vus"]["max_planned"].as_u64().unwrap();
    assert_eq!((planned(&j1), planned(&j2)), (3, 2));
    let count = |j: &Value| j["http_reqs"]["count"].as_u64().unwrap();
    let (c1, c2) = (count(&j1), count(&j2));
    assert!(c1 > 0 && c2 > 0, "{c1} {c2}");

    // Thresholds on the merged figures: each shard has fewer requests than
    // the bound, the whole test more.
    let bound = format!("http_reqs: count<{}", c1.max(c2) + 1);
    let out = dir.path().join("merged");
    let m = loadgen_bin(
        &[
            "merge",
            s(&p1),
            s(&p2),
            "--out",
            s(&out),
            "--threshold",
            &bound,
        ],
        &[],
    )
    .await;
    assert_eq!(m.code, 99, "{m:?}");
    assert!(
        m.stdout
            .contains("segment: 0:1 (2 shards merged: the whole test)"),
        "{}",
        m.stdout
    );
    let merged = load(&out.join("summary.json"));
    validate_summary(&merged);
    assert_eq!(merged["segment"]["segment"], "0:1");
    assert_eq!(merged["segment"]["count"], 2);
    assert!(merged["segment"].get("index").is_none());
    assert_eq!(count(&merged), c1 + c2);
    assert_eq!(planned(&merged), 5);

    let twice = loadgen_bin(&["merge", s(&p1), s(&p1)], &[]).await;
    assert_eq!(twice.code, 2, "{twice:?}");
    assert!(twice.stderr.contains("overlaps"), "{}", twice.stderr);
}
