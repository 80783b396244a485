//! The Grafana dashboard (`deploy/observe/grafana/dashboards/chatbench.json`)
//! queries only metrics that exist: every `loadgen_*` name is one loadgen
//! pushes by remote write, every `chatbot_*` / `process_*` name is in the
//! real backend's `/api/metrics` after a short run with faults (the
//! backend calling mock-llm, which answers errors and 429s that are
//! retried; a login rate limit), so that its labelled counters, which appear
//! only once counted, have samples.

mod common;

use std::collections::BTreeSet;

/// Metric names in a PromQL expression: identifiers with one of our
/// prefixes (label names and functions never have them).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if ["loadgen_", "chatbot_", "process_"]
                .iter()
                .any(|p| word.starts_with(p))
            {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

/// A histogram's series names end in these; the base name is what is sent.
fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_a_metric_loadgen_or_the_backend_emits() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/observe/grafana/dashboards/chatbench.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            let found = metric_names(t["expr"].as_str().unwrap());
            assert!(!found.is_empty(), "no metric in {}", t["expr"]);
            names.extend(found);
        }
    }

    use mock_llm::config::Config;
    use mock_llm::mockmodel::MockLlmConfig;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let llm = format!("http://{}/v1", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Config {
        llm: MockLlmConfig {
            tokens: 12,
            rate_429: 0.3,
            error_rate: 0.6,
            ..MockLlmConfig::instant(7)
        },
        ..Config::default()
    };
    let mock = tokio::spawn(mock_llm::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let app = common::backend(&[
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", &llm),
        ("OPENAI_API_KEY", "sk-e2e-test"),
        ("PROVIDER_MAX_RETRIES", "1"),
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "2"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, 2, dir.path()).await;
    common::run(&[
        "--base-url",
        &app.base_url,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "3s",
        "--think",
        "100ms",
        "--login",
        "once",
        "--stream",
    ])
    .await;
    // Two logins were the limit's: the next one is refused (and counted).
    let client = reqwest::Client::new();
    let refused = client
        .post(format!("{}/api/auth/login-json", app.base_url))
        .json(&serde_json::json!({"username": "nobody", "password": "nothing-at-all"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused, 429);
    let exposition = reqwest::get(format!("{}/api/metrics", app.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let backend: BTreeSet<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let pushed = loadgen::remote_write::series::METRIC_NAMES;
    let (mut loadgen_seen, mut backend_seen) = (0, 0);
    for name in &names {
        if name.starts_with("loadgen_") {
            assert!(
                pushed.contains(&base_name(name)),
                "the dashboard queries {name}, which loadgen never pushes"
            );
            loadgen_seen += 1;
        } else {
            assert!(
                backend.contains(name.as_str()),
                "the dashboard queries {name}, which the backend's /api/metrics lacks"
            );
            backend_seen += 1;
        }
    }
    // Both sides are on the dashboard.
    assert!(loadgen_seen >= 6 && backend_seen >= 8, "{names:?}");
    app.shutdown().await.unwrap();
    let _ = stop.send(());
    mock.await.unwrap().unwrap();
}
