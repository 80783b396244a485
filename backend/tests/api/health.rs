//! Health, liveness, metrics, stats and the OpenAPI document.

use backend::testing::spawn_app;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn health_reports_the_test_environment_and_a_working_database() {
    let app = app().await;
    for path in ["/api/health", "/health"] {
        let (s, v) = get_json(&app, path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["status"], "ok");
        assert_eq!(v["message"], "API is healthy");
        assert_eq!(v["app_env"], "test");
        assert_eq!(v["environment"], "test");
        assert_eq!(v["database"], "ok");
        assert!(v["version"].is_string());
    }
}

#[tokio::test]
async fn health_is_degraded_when_the_database_is_unreachable_but_liveness_holds() {
    // Nothing listens on port 1 of loopback: every connection is refused.
    let app = spawn_app(&[
        ("RUN_MIGRATIONS", "false"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
        ("DB_ACQUIRE_TIMEOUT_MS", "500"),
    ])
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let (s, v) = get_json(&app, "/api/health").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["app_env"], "test");
    assert!(
        started.elapsed().as_secs() < 3,
        "degraded must be answered quickly"
    );

    let (s, v) = get_json(&app, "/api/health/live").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");

    // A data route answers 503 with the error shape, not a hang or a 500.
    let (s, v) = post_json(
        &app,
        "/api/auth/login-json",
        serde_json::json!({"username": "a", "password": "bbbbbbbb"}),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "database_unavailable");
}

#[tokio::test]
async fn metrics_use_the_original_names_with_route_templates() {
    let app = app().await;
    let who = user(&app, "metrics_user").await;
    let sid = create_session(&app, &who, "m").await;
    bearer(
        &app,
        &who,
        reqwest::Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    let text = client()
        .get(format!("{}/api/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"chatbot_http_requests_total{method="POST",path="/api/auth/login-json",status_code="200"} 1"#,
        r#"chatbot_http_requests_total{method="GET",path="/api/chat/sessions/{session_id}",status_code="200"} 1"#,
        "chatbot_http_request_latency_seconds_bucket",
        "chatbot_db_pool_size",
        "chatbot_db_pool_checked_out",
        "chatbot_db_pool_checked_in",
        "chatbot_db_pool_usage_ratio",
        "chatbot_password_hash_queue_depth",
        // The in-process mock model's batch, idle between turns.
        "chatbot_mock_llm_requests_running 0",
        "chatbot_mock_llm_requests_waiting 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let (s, v) = get_json(&app, "/api/metrics/db-pool").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["max_size"], app.config.db_pool_size);
}

/// The value of an unlabelled sample (`name value`) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_show_the_process_and_the_history_sent_with_each_turn() {
    let app = app_with(&[("CHAT_HISTORY_MAX_MESSAGES", "3"), ("MOCK_LLM_TOKENS", "4")]).await;
    let who = user(&app, "history_metrics").await;
    let sid = create_session(&app, &who, "h").await;
    let turn = |path: &'static str| {
        let who = &who;
        let app = &app;
        async move {
            let r = client()
                .post(format!("{}{path}", app.base_url))
                .bearer_auth(&who.token)
                .json(&serde_json::json!({"content": "hi", "session_id": sid}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            // Reads a streamed turn to its end, so it has been stored.
            r.text().await.unwrap();
        }
    };
    // Histories of 0, 2 and then 3 (4 stored, capped at 3) messages; the
    // last turn is streamed, so both kinds of turn are observed.
    turn("/api/chat/chat").await;
    turn("/api/chat/chat").await;
    turn("/api/chat/stream").await;
    let text = metrics_text(&app).await;
    assert_eq!(
        sample(&text, "chatbot_chat_history_messages_count"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "chatbot_chat_history_messages_sum"),
        Some(5.0),
        "{text}"
    );
    assert!(
        text.contains(r#"chatbot_chat_history_messages_bucket{le="2"} 2"#),
        "{text}"
    );
    assert_eq!(
        sample(&text, "chatbot_chat_history_max_messages"),
        Some(3.0)
    );
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(sample(&text, "chatbot_host_cpus"), Some(cpus));
    let cpu = sample(&text, "process_cpu_seconds_total").expect("process_cpu_seconds_total");
    assert!(cpu >= 0.0, "{cpu}");
    let rss =
        sample(&text, "process_resident_memory_bytes").expect("process_resident_memory_bytes");
    assert!(
        rss > 1_000_000.0,
        "a running backend holds more than 1 MB: {rss}"
    );
    let fds = sample(&text, "process_open_fds").expect("process_open_fds");
    assert!(fds >= 3.0, "{fds}");
}

#[tokio::test]
async fn stats_count_rows_and_provider_calls() {
    let app = app().await;
    let who = user(&app, "stats_user").await;
    let (s, _) = bearer(
        &app,
        &who,
        reqwest::Method::POST,
        "/api/chat/chat",
        Some(serde_json::json!({"content": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = get_json(&app, "/api/stats").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["users"], 1);
    assert_eq!(v["sessions"], 1);
    assert_eq!(v["messages"], 2);
    assert_eq!(v["provider"]["calls"], 1);
    assert_eq!(v["provider"]["errors"], 0);
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = app().await;
    let (s, v) = get_json(&app, "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    for &(path, method) in backend::http::openapi::ROUTES {
        assert!(
            v["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
        // ...and the route really exists (anything but a 404/405 from the router).
        let probe = path
            .replace("{session_id}", "1")
            .replace("{message_id}", "1");
        let r = client()
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{probe}", app.base_url),
            )
            .send()
            .await
            .unwrap();
        assert_ne!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if r.status() == StatusCode::NOT_FOUND {
            let (_, body) = json_of(r).await;
            assert_ne!(body["code"], "not_found", "{method} {path}: no such route");
        }
    }
    let mut refs = Vec::new();
    collect_refs(&v, &mut refs);
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            v["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_owned());
                } else {
                    collect_refs(x, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn request_ids_are_echoed_when_valid_and_made_otherwise() {
    let app = app().await;
    let r = client()
        .get(format!("{}/api/health/live", app.base_url))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    let r = client()
        .get(format!("{}/api/health/live", app.base_url))
        .header("x-request-id", "has spaces")
        .send()
        .await
        .unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(made, "has spaces");
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let r = client()
        .get(format!("{}/nope", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().contains_key("x-request-id"),
        "errors carry an id too"
    );
}

/// A retriever that takes its time: the provider's budget now always ends
/// before the request timeout, so the slow step that outlives the request
/// is the retrieval.
struct SlowRetriever;

#[async_trait::async_trait]
impl backend::retriever::Retriever for SlowRetriever {
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn retrieve(
        &self,
        _query: &str,
        _limit: usize,
    ) -> anyhow::Result<Vec<backend::retriever::Source>> {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_a_json_504_that_keeps_its_request_id() {
    let app = backend::testing::spawn_app_with(
        &[
            ("REQUEST_TIMEOUT_SECONDS", "0.3"),
            ("PROVIDER_TIMEOUT_SECONDS", "0.1"),
        ],
        backend::Overrides {
            retriever: Some(std::sync::Arc::new(SlowRetriever)),
            ..backend::Overrides::default()
        },
    )
    .await
    .expect("spawn app");
    let who = user(&app, "sloth").await;
    let started = std::time::Instant::now();
    let r = client()
        .post(format!("{}/api/chat/chat", app.base_url))
        .bearer_auth(&who.token)
        .header("x-request-id", "slow-turn-1")
        .json(&serde_json::json!({"content": "take your time"}))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(r.headers()["x-request-id"], "slow-turn-1");
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["code"], "request_timeout", "{v}");
    assert_eq!(
        v["detail"], "The request took longer than 0.3 s and was abandoned",
        "{v}"
    );
    assert_eq!(count(&app, "messages").await, 0);
}
