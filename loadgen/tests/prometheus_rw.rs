//! `--prometheus-rw` against a real Prometheus (Debian's `prometheus`,
//! started on loopback with its remote-write receiver and native
//! histograms on): two shards of one test (`--segment 1/2` and `2/2`),
//! told apart by their `shard` label, push their totals; PromQL sums over
//! the shards equal the shards' own totals, with classic and with native
//! histograms. Skips when no `prometheus` binary exists,
//! unless CHATBENCH_REQUIRE_PROMETHEUS=1 (CI), which makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{run_plan, users_file};
use hyper::Method;
use loadgen::http::{Client, Target};
use serde_json::Value;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Prometheus {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start() -> Option<Prometheus> {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        if std::process::Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var("CHATBENCH_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
                "CHATBENCH_REQUIRE_PROMETHEUS=1 but no {bin} binary (apt-get install prometheus)"
            );
            eprintln!("skipped: no {bin} binary (apt-get install prometheus)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=native-histograms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if p.get("/-/ready").await.is_some_and(|(s, _)| s == 200) {
                return Some(p);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus did not get ready within 30 s");
    }

    async fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let target = Arc::new(Target::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap());
        let mut c = Client::new(target, Duration::from_secs(5));
        let ex = c.send(Method::GET, path, &[], None, 1 << 20).await;
        ex.result.ok().map(|r| (r.status, r.body.to_vec()))
    }

    /// A PromQL instant query's single value.
    async fn value(&self, query: &str) -> f64 {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let (status, body) = self.get(&format!("/api/v1/query?query={q}")).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "{query}: {v}");
        let text = v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: no value in {v}"));
        text.parse().unwrap()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }
}

async fn two_runs(prom: &Prometheus, native: bool, testid: &str) -> (u64, u64, u64) {
    let (addr, _) = chat_server(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 6);
    let base = format!("http://{addr}");
    let url = prom.url();
    let plan = |segment: &'static str| {
        let mut argv = vec![
            "--base-url",
            &base,
            "--users-file",
            users.to_str().unwrap(),
            "--vus",
            "6",
            "--duration",
            "2s",
            "--think",
            "50ms",
            "--interval",
            "500ms",
            "--prometheus-rw",
            &url,
            "--segment",
            segment,
        ];
        argv.extend(["--tag", testid]);
        if native {
            argv.push("--prometheus-rw-native");
        }
        run_plan(&argv)
    };
    let (a, b) = tokio::join!(
        loadgen::app::run(plan("1/2")),
        loadgen::app::run(plan("2/2"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let reqs = a.aggregate.total_requests() + b.aggregate.total_requests();
    let iterations = a.aggregate.iterations.len() + b.aggregate.iterations.len();
    let (ca, cb) = (
        a.aggregate.checks_where(|_| true),
        b.aggregate.checks_where(|_| true),
    );
    (reqs, iterations, ca.passes + cb.passes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_sums_over_runs_equal_their_own_totals() {
    let Some(prom) = Prometheus::start().await else {
        return;
    };
    for (native, testid) in [(false, "testid=classic"), (true, "testid=native")] {
        let (reqs, iterations, passes) = two_runs(&prom, native, testid).await;
        assert!(reqs > 20, "too few requests: {reqs}");
        let id = testid.trim_start_matches("testid=");
        let sel = format!("{{testid=\"{id}\"}}");
        assert_eq!(
            prom.value(&format!("sum(loadgen_http_reqs_total{sel})"))
                .await,
            reqs as f64,
            "{testid}"
        );
        assert_eq!(
            prom.value(&format!("sum(loadgen_iterations_total{sel})"))
                .await,
            iterations as f64
        );
        assert_eq!(
            prom.value(&format!(
                "sum(loadgen_checks_total{{testid=\"{id}\",result=\"pass\"}})"
            ))
            .await,
            passes as f64
        );
        assert_eq!(
            prom.value(&format!("count(count by (shard) (loadgen_vus{sel}))"))
                .await,
            2.0
        );
        assert_eq!(
            prom.value(&format!("sum(loadgen_vus_max{sel})")).await,
            6.0,
            "the shards' VUs add up to the test's"
        );
        // Every request is in the latency histograms, once.
        let counted = if native {
            format!("sum(histogram_count(loadgen_http_req_duration_seconds{sel}))")
        } else {
            format!("sum(loadgen_http_req_duration_seconds_count{sel})")
        };
        assert_eq!(prom.value(&counted).await, reqs as f64, "{counted}");
        // A quantile over both runs is a latency, not nonsense.
        let p95 = if native {
            format!("histogram_quantile(0.95, sum(loadgen_http_req_duration_seconds{sel}))")
        } else {
            format!("histogram_quantile(0.95, sum by (le) (loadgen_http_req_duration_seconds_bucket{sel}))")
        };
        let p95 = prom.value(&p95).await;
        assert!(p95 > 0.0 && p95 < 1.0, "p95 {p95} s");
    }
    drop(prom.child);
}
