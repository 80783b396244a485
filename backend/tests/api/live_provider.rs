//! The live provider (`LLM_PROVIDER=openai`) against `mock-llm` and a flaky
//! stub: the OpenAI protocol both ways, retries that honour Retry-After, the
//! circuit breaker opening and recovering, and no half-written turns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode as AxumStatus;
use axum::response::IntoResponse;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// Starts mock-llm on a free loopback port; returns its `/v1` base URL.
async fn mock_llm(config: mock_llm::Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mock_llm::serve(listener, config, std::future::pending()));
    format!("http://{addr}")
}

fn quick_model(rate_429: f64) -> mock_llm::Config {
    let mut c = mock_llm::Config::default();
    c.llm.ttft = Duration::ZERO;
    c.llm.itl = Duration::ZERO;
    c.llm.tokens = 10;
    c.llm.rate_429 = rate_429;
    c
}

async fn mock_stats(base: &str) -> Value {
    client()
        .get(format!("{base}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_live_provider_speaks_the_openai_protocol_whole_and_streamed() {
    let llm = mock_llm(quick_model(0.0)).await;
    let base = format!("{llm}/v1");
    let app = openai_app(&base, &[("OPENAI_MODEL", "mock-llm")]).await;
    let who = user(&app, "live").await;
    let (s, v) = chat_as(&app, &who, "hello").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let whole = v["assistant_message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!whole.is_empty());
    assert_eq!(v["assistant_message"]["metadata"]["provider"], "openai");
    assert_eq!(v["assistant_message"]["metadata"]["model"], "mock-llm");
    assert!(
        v["assistant_message"]["metadata"]["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let r = post_as(
        &app,
        &who,
        "/api/chat/stream",
        json!({"content": "hello again"}),
    )
    .await;
    let body = r.text().await.unwrap();
    let events = sse_events(&body);
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done", "{events:?}");
    assert!(
        done["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "usage chunk read"
    );
    let sid = done["session_id"].as_i64().unwrap();
    let (_, session) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(session["messages"][1]["content"], streamed);
    assert_eq!(mock_stats(&llm).await["streams"], 1);
}

#[tokio::test]
async fn a_429_storm_is_retried_no_sooner_than_retry_after_then_answered_503() {
    let llm = mock_llm(quick_model(1.0)).await;
    let base = format!("{llm}/v1");
    let app = openai_app(
        &base,
        &[
            ("PROVIDER_MAX_RETRIES", "2"),
            ("PROVIDER_RETRY_BASE_MS", "10"),
            ("PROVIDER_CB_MIN_CALLS", "100"),
        ],
    )
    .await;
    let who = user(&app, "stormy").await;
    let started = Instant::now();
    let r = post_as(&app, &who, "/api/chat/chat", json!({"content": "hi"})).await;
    let elapsed = started.elapsed();
    assert!(r.headers().contains_key("retry-after"));
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "provider_rate_limited");
    let stats = mock_stats(&llm).await;
    assert_eq!(
        stats["chat_completions"], 3,
        "1 + PROVIDER_MAX_RETRIES attempts: {stats}"
    );
    // mock-llm answers Retry-After: 1 s; two waits of at least that.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(count(&app, "messages").await, 0, "no half-written turn");
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(r#"chatbot_provider_retries_total{provider="openai",reason="429"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"chatbot_provider_429_total{provider="openai"} 3"#),
        "{metrics}"
    );
}

/// A stub's 429, to be retried at once (`Retry-After: 0`).
fn slow_down() -> axum::response::Response {
    (
        AxumStatus::TOO_MANY_REQUESTS,
        [("retry-after", "0")],
        "{\"error\":{\"message\":\"slow down\"}}",
    )
        .into_response()
}

/// A stub's whole completion saying `content`.
fn stub_completion(content: &str) -> axum::response::Response {
    axum::Json(json!({
        "id": "x", "object": "chat.completion", "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    }))
    .into_response()
}

/// An OpenAI-compatible stub that answers 429 (Retry-After: 0) while
/// `failing` is set, and counts every call.
async fn flaky_upstream(failing: Arc<AtomicBool>, calls: Arc<AtomicUsize>) -> String {
    let handler = move || {
        let (failing, calls) = (Arc::clone(&failing), Arc::clone(&calls));
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                return slow_down();
            }
            stub_completion("recovered")
        }
    };
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    format!("http://{}/v1", serve_router(router).await)
}

/// No retries, and a breaker that opens on 2 failures in 4 calls for 1 s.
async fn breaker_app(base: &str) -> backend::testing::TestApp {
    openai_app(
        base,
        &[
            ("PROVIDER_MAX_RETRIES", "0"),
            ("PROVIDER_CB_WINDOW", "4"),
            ("PROVIDER_CB_MIN_CALLS", "4"),
            ("PROVIDER_CB_FAILURE_RATIO", "0.5"),
            ("PROVIDER_CB_OPEN_SECONDS", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_breaker_opens_under_a_storm_answers_fast_and_recovers() {
    let failing = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let base = flaky_upstream(Arc::clone(&failing), Arc::clone(&calls)).await;
    let app = breaker_app(&base).await;
    let who = user(&app, "breaker").await;
    let chat = || chat_as(&app, &who, "hi");
    for _ in 0..4 {
        let (s, v) = chat().await;
        assert_eq!(
            (s, v["code"].as_str().unwrap()),
            (StatusCode::SERVICE_UNAVAILABLE, "provider_rate_limited")
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Open: answered at once, the provider not called.
    let started = Instant::now();
    let (s, v) = chat().await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["code"], "provider_unavailable", "{v}");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(r#"chatbot_provider_circuit_state{provider="openai"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"chatbot_provider_circuit_opened_total{provider="openai"} 1"#),
        "{metrics}"
    );

    // The provider heals; after the open delay one trial call closes it.
    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = chat().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["assistant_message"]["content"], "recovered");
    let (s, _) = chat().await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        count(&app, "messages").await,
        4,
        "only the two answered turns were stored"
    );
}

#[tokio::test]
async fn azure_urls_headers_and_api_version_reach_the_deployment() {
    let llm = mock_llm(quick_model(0.0)).await;
    let app = app_with(&[
        ("LLM_PROVIDER", "azure"),
        ("AZURE_OPENAI_ENDPOINT", &llm),
        ("AZURE_OPENAI_API_KEY", "test-key"),
        ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o-mini"),
    ])
    .await;
    let who = user(&app, "azure").await;
    let (s, v) = chat_as(&app, &who, "hello azure").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["assistant_message"]["metadata"]["provider"], "azure");
    assert_eq!(
        mock_stats(&llm).await["chat_completions"],
        1,
        "served by the deployment route"
    );
}

#[tokio::test]
async fn a_429_storm_from_mock_llm_opens_the_breaker_and_spares_the_provider() {
    let llm = mock_llm(quick_model(1.0)).await;
    let base = format!("{llm}/v1");
    let app = openai_app(
        &base,
        &[
            ("PROVIDER_MAX_RETRIES", "0"),
            ("PROVIDER_CB_WINDOW", "3"),
            ("PROVIDER_CB_MIN_CALLS", "3"),
            ("PROVIDER_CB_OPEN_SECONDS", "30"),
        ],
    )
    .await;
    let who = user(&app, "storm_breaker").await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let (s, v) = chat_as(&app, &who, "hi").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        codes.push(v["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes[..3], ["provider_rate_limited"; 3]);
    assert_eq!(codes[3..], ["provider_unavailable"; 3]);
    assert_eq!(
        mock_stats(&llm).await["chat_completions"],
        3,
        "no calls while open"
    );
    assert_eq!(count(&app, "messages").await, 0);
}

/// One chat turn against a provider that accepts and never answers: the
/// status, the error body and how long the client waited.
async fn turn_against_a_hang(env: &[(&str, &str)]) -> (StatusCode, Value, Duration) {
    let mut c = quick_model(0.0);
    c.hang_rate = 1.0;
    let llm = mock_llm(c).await;
    let base = format!("{llm}/v1");
    let app = openai_app(&base, env).await;
    let who = user(&app, "hung").await;
    let started = Instant::now();
    let (s, v) = chat_as(&app, &who, "are you there?").await;
    let waited = started.elapsed();
    assert_eq!(count(&app, "messages").await, 0, "nothing stored");
    (s, v, waited)
}

/// The provider's whole budget (attempts, backoff and waits) used to be
/// PROVIDER_TIMEOUT_SECONDS × tries plus the waits (330 s by default), past
/// the request timeout (120 s): the client got the generic `request_timeout`
/// and the 504 `provider_timeout` was unreachable. The provider must give up
/// first, within its deadline + 0.5 s.
#[tokio::test]
async fn a_hanging_provider_is_a_provider_timeout_before_the_request_timeout() {
    // An explicit overall deadline: one attempt of 1 s, a retry cut at 1.5 s.
    let (s, v, waited) = turn_against_a_hang(&[
        ("PROVIDER_TIMEOUT_SECONDS", "1"),
        ("PROVIDER_DEADLINE_SECONDS", "1.5"),
        ("REQUEST_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["code"], "provider_timeout", "{v}");
    assert_eq!(
        v["detail"], "The language model did not answer in time; nothing was stored",
        "{v}"
    );
    assert!(waited < Duration::from_millis(1500 + 500), "{waited:?}");

    // The derived deadline: the request timeout less its margin (10%).
    let (s, v, waited) = turn_against_a_hang(&[
        ("PROVIDER_TIMEOUT_SECONDS", "1"),
        ("REQUEST_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["code"], "provider_timeout", "{v}");
    assert!(waited < Duration::from_millis(2700 + 500), "{waited:?}");
    assert!(
        waited < Duration::from_secs(3),
        "before the request timeout: {waited:?}"
    );
}

/// An upstream that answers 429 (mode 0), hangs (1) or answers (2).
async fn moody_upstream(mode: Arc<AtomicUsize>) -> String {
    let handler = move || {
        let mode = Arc::clone(&mode);
        async move {
            match mode.load(Ordering::SeqCst) {
                0 => slow_down(),
                1 => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    AxumStatus::GATEWAY_TIMEOUT.into_response()
                }
                _ => stub_completion("back"),
            }
        }
    };
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    format!("http://{}/v1", serve_router(router).await)
}

/// The half-open trial's client hangs up mid-call: the breaker used to stay
/// half-open with that trial "in flight" forever (503 to everyone until a
/// restart). Now the dropped trial counts as a failure and a later trial,
/// after PROVIDER_CB_OPEN_SECONDS, closes it.
#[tokio::test]
async fn a_trial_whose_client_hung_up_does_not_leave_the_breaker_stuck() {
    let mode = Arc::new(AtomicUsize::new(0));
    let base = moody_upstream(Arc::clone(&mode)).await;
    let app = breaker_app(&base).await;
    let who = user(&app, "hangup").await;
    let chat = || chat_as(&app, &who, "hi");
    for _ in 0..4 {
        let (s, _) = chat().await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (_, v) = chat().await;
    assert_eq!(v["code"], "provider_unavailable", "open: {v}");

    // Half-open: the trial hangs, and its client gives up.
    mode.store(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gone = impatient
        .post(format!("{}/api/chat/chat", app.base_url))
        .bearer_auth(&who.token)
        .json(&json!({"content": "still there?"}))
        .send()
        .await;
    assert!(gone.is_err(), "the client hung up: {gone:?}");

    // The provider heals; after the open delay a new trial is let through.
    mode.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (s, v) = chat().await;
    assert_eq!(s, StatusCode::OK, "a new trial after the open delay: {v}");
    assert_eq!(v["assistant_message"]["content"], "back");
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(r#"chatbot_provider_circuit_state{provider="openai"} 0"#),
        "closed again: {metrics}"
    );
    // Closed now, but it opened twice (the window, then the dropped trial):
    // what a scrape of the gauge alone would have missed.
    assert!(
        metrics.contains(r#"chatbot_provider_circuit_opened_total{provider="openai"} 2"#),
        "{metrics}"
    );
}
