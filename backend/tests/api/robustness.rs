//! Malformed requests: every rejection is a JSON error with the right 4xx.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_requests_get_json_errors_with_the_right_status() {
    let app = app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let who = user(&app, "fuzz").await;
    let url = |p: &str| format!("{}{p}", app.base_url);
    let c = client();
    let cases = vec![
        (
            "no content type",
            c.post(url("/api/auth/register"))
                .body(r#"{"username":"a"}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "text content type",
            c.post(url("/api/auth/login-json"))
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "broken JSON",
            c.post(url("/api/auth/login-json"))
                .header("content-type", "application/json")
                .body("{\"username\":"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "JSON array",
            c.post(url("/api/auth/login-json")).json(&json!([1, 2])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "empty body",
            c.post(url("/api/auth/login-json"))
                .header("content-type", "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "oversized body",
            c.post(url("/api/auth/register"))
                .json(&json!({"username": "x".repeat(4096), "password": "p"})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "unknown route",
            c.get(url("/api/nope")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            c.put(url("/api/auth/register")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "no token",
            c.post(url("/api/chat/chat"))
                .json(&json!({"content": "hi"})),
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "bad path id",
            c.delete(url("/api/chat/sessions/-"))
                .bearer_auth(&who.token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "bad JSON on a chat turn",
            c.post(url("/api/chat/chat"))
                .bearer_auth(&who.token)
                .header("content-type", "application/json")
                .body("nope"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "form fields missing",
            c.post(url("/api/auth/token")).form(&[("username", "x")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
    ];
    for (name, rb, status, code) in cases {
        let r = rb.send().await.unwrap();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{name}: not JSON"
        );
        let (s, v) = json_of(r).await;
        assert_eq!(s, status, "{name}: {v}");
        assert_eq!(v["code"], code, "{name}: {v}");
        assert!(
            v["detail"].is_string() || v["detail"].is_array(),
            "{name}: {v}"
        );
    }
    assert_eq!(
        count(&app, "users").await,
        1,
        "nothing stored by bad requests"
    );
}

#[tokio::test]
async fn a_missing_field_names_itself_in_loc() {
    let app = app().await;
    let (s, v) = post_json(&app, "/api/auth/login-json", json!({"username": "a"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["detail"][0],
        json!({"loc": ["body", "password"], "msg": "Field required", "type": "missing"})
    );
}

/// Postgres cannot store NUL in a text column: every text field taken from a
/// request answers a 422 naming the field, never a 500, and nothing is stored.
#[tokio::test]
async fn nul_in_any_text_field_is_a_422_naming_the_field_never_a_500() {
    let app = app().await;
    let who = user(&app, "nul").await;
    let session = create_session(&app, &who, "kept").await;
    let url = |p: &str| format!("{}{p}", app.base_url);
    let c = client();
    let nul = "a\u{0}b";
    let cases = vec![
        (
            "chat message",
            c.post(url("/api/chat/chat"))
                .bearer_auth(&who.token)
                .json(&json!({"content": nul})),
            json!(["body", "content"]),
        ),
        (
            "session turn",
            c.post(url(&format!("/api/chat/sessions/{session}/messages")))
                .bearer_auth(&who.token)
                .json(&json!({"content": nul})),
            json!(["body", "content"]),
        ),
        (
            "streamed chat message",
            c.post(url("/api/chat/stream"))
                .bearer_auth(&who.token)
                .json(&json!({"content": nul})),
            json!(["body", "content"]),
        ),
        (
            "session title",
            c.post(url("/api/chat/sessions"))
                .bearer_auth(&who.token)
                .json(&json!({"title": nul})),
            json!(["body", "title"]),
        ),
        (
            "feedback comment",
            c.post(url("/api/chat/feedback"))
                .bearer_auth(&who.token)
                .json(&json!({"message_id": 1, "rating": 1, "comment": nul})),
            json!(["body", "comment"]),
        ),
        (
            "register username",
            c.post(url("/api/auth/register"))
                .json(&json!({"username": nul, "password": PASSWORD})),
            json!(["body", "username"]),
        ),
        (
            "register password",
            c.post(url("/api/auth/register"))
                .json(&json!({"username": "someone", "password": format!("{PASSWORD}\u{0}")})),
            json!(["body", "password"]),
        ),
        (
            "register email",
            c.post(url("/api/auth/register")).json(
                &json!({"username": "someone", "email": "a\u{0}@b.co", "password": PASSWORD}),
            ),
            json!(["body", "email"]),
        ),
        (
            "login-json username",
            c.post(url("/api/auth/login-json"))
                .json(&json!({"username": nul, "password": PASSWORD})),
            json!(["body", "username"]),
        ),
        (
            "login-json email",
            c.post(url("/api/auth/login-json"))
                .json(&json!({"email": nul, "password": PASSWORD})),
            json!(["body", "email"]),
        ),
        (
            "login form username",
            c.post(url("/api/auth/login"))
                .form(&[("username", nul), ("password", PASSWORD)]),
            json!(["body", "username"]),
        ),
        (
            "token form password",
            c.post(url("/api/auth/token"))
                .form(&[("username", "nul"), ("password", nul)]),
            json!(["body", "password"]),
        ),
        (
            "nested key",
            c.post(url("/api/chat/chat"))
                .bearer_auth(&who.token)
                .json(&json!({"content": "hi", "extra": {"k\u{0}": "v"}})),
            json!(["body", "extra", "k\u{0}"]),
        ),
    ];
    for (name, rb, loc) in cases {
        let r = rb.send().await.unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {v}");
        assert_eq!(v["code"], "validation_error", "{name}: {v}");
        assert_eq!(v["detail"][0]["loc"], loc, "{name}: {v}");
        assert_eq!(v["detail"][0]["type"], "string_nul", "{name}: {v}");
    }
    assert_eq!(count(&app, "users").await, 1, "no user stored");
    assert_eq!(count(&app, "messages").await, 0, "no message stored");
    assert_eq!(count(&app, "chat_sessions").await, 1, "no session stored");
}

/// A NUL in a query string is refused the same way.
#[tokio::test]
async fn nul_in_a_query_parameter_is_a_422() {
    let app = app().await;
    let who = user(&app, "nulq").await;
    let r = client()
        .get(format!("{}/api/chat/sessions?q=a%00b", app.base_url))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["query", "q"]), "{v}");
}
/// Anything but whitespace after the JSON value is malformed JSON: the same
/// 422 `json_invalid` as any other syntax error, and nothing stored.
#[tokio::test]
async fn trailing_garbage_after_the_json_body_is_refused() {
    let app = app().await;
    let c = client();
    for body in [
        r#"{"username":"trail","password":"correct-horse-battery"} xyz"#,
        r#"{"username":"trail","password":"correct-horse-battery"}{}"#,
        r#"{"username":"trail","password":"correct-horse-battery"},"#,
    ] {
        let r = c
            .post(format!("{}/api/auth/register", app.base_url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["code"], "validation_error", "{body}: {v}");
        assert_eq!(v["detail"][0]["type"], "json_invalid", "{body}: {v}");
    }
    // Trailing whitespace is still fine.
    let r = c
        .post(format!("{}/api/auth/register", app.base_url))
        .header("content-type", "application/json")
        .body("{\"username\":\"trail\",\"password\":\"correct-horse-battery\"} \n")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(count(&app, "users").await, 1);
}

fn in_progress(metrics: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("chatbot_http_requests_in_progress "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no in-progress gauge in {metrics}"))
}

/// A client that hangs up while its turn is being answered: the server drops
/// the request's future, and the in-flight gauge goes back to its idle value
/// (the scrape itself) rather than counting the abandoned request forever.
#[tokio::test]
async fn a_client_that_disconnects_mid_request_leaves_the_in_flight_gauge_idle() {
    let llm = ScriptedLlm::new(Duration::from_secs(60), None);
    let app = app_with_provider(&[], llm.clone()).await;
    let who = user(&app, "leaver").await;
    let idle = in_progress(&metrics_text(&app).await);
    let cut = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/api/chat/chat", app.base_url))
        .bearer_auth(&who.token)
        .json(&json!({"content": "hello?"}))
        .send()
        .await;
    assert!(cut.is_err(), "the client gave up: {cut:?}");
    assert_eq!(llm.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut now = in_progress(&metrics_text(&app).await);
    while now != idle && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = in_progress(&metrics_text(&app).await);
    }
    assert_eq!(now, idle, "in-flight gauge after the client left");
}

/// Methods outside the standard set share one label, so a client inventing
/// methods cannot add series to the HTTP metrics.
#[tokio::test]
async fn an_invented_method_adds_no_metric_label() {
    let app = app().await;
    let c = client();
    for m in ["BREW", "FROBNICATE", "X-ANYTHING"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        let r = c
            .request(method, format!("{}/api/health", app.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{m}: {}", r.status());
    }
    c.get(format!("{}/api/health", app.base_url))
        .send()
        .await
        .unwrap();
    let text = metrics_text(&app).await;
    let methods: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("chatbot_http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        methods,
        ["GET", "OTHER"].into_iter().collect(),
        "method labels: {text}"
    );
}

/// A provider whose reply (or model name) carries a NUL, as a live
/// OpenAI-compatible server may send in its JSON.
struct NulLlm;

#[async_trait::async_trait]
impl backend::llm::LlmProvider for NulLlm {
    fn name(&self) -> &'static str {
        "nul"
    }
    async fn complete(
        &self,
        _req: backend::llm::CompletionRequest,
    ) -> Result<backend::llm::Completion, backend::llm::ProviderError> {
        Ok(backend::llm::Completion {
            content: "before\u{0}after".into(),
            model: "model\u{0}x".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
        })
    }
}

/// The reply is text taken from the provider's JSON and written too: a NUL
/// in it is stored safely (as U+FFFD) rather than failing the turn with a
/// 500, plain and streamed.
#[tokio::test]
async fn a_provider_reply_with_nul_is_stored_safely_not_a_500() {
    let app = app_with_provider(&[], std::sync::Arc::new(NulLlm)).await;
    let who = user(&app, "nulreply").await;
    let (s, v) = chat_as(&app, &who, "hi").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["assistant_message"]["content"], "before\u{FFFD}after",
        "{v}"
    );
    let body = post_as(&app, &who, "/api/chat/stream", json!({"content": "again"}))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    assert!(
        events.iter().all(|e| e["type"] != "error"),
        "stream failed: {body}"
    );
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT content FROM messages WHERE role = 'assistant' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, ["before\u{FFFD}after", "before\u{FFFD}after"]);
}

/// The other text a `text` column cannot hold, a lone UTF-16 surrogate, is
/// malformed JSON for serde_json: a 422 too, never a 500.
#[tokio::test]
async fn a_lone_surrogate_in_a_text_field_is_a_422() {
    let app = app().await;
    let who = user(&app, "surrogate").await;
    for body in [r#"{"content":"a\ud800b"}"#, r#"{"content":"\udc00"}"#] {
        let r = client()
            .post(format!("{}/api/chat/chat", app.base_url))
            .bearer_auth(&who.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["code"], "validation_error", "{body}: {v}");
    }
    assert_eq!(count(&app, "messages").await, 0);
}

/// A request body is a JSON object. serde's derived structs also take an
/// array of the fields in order, so `[]` created a session and `["hi"]` was
/// a chat turn, although the document (and FastAPI) says object (found by
/// schemathesis). Arrays and scalars are a 422 `model_attributes_type`.
#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let app = app().await;
    let who = user(&app, "arr").await;
    for (path, body) in [
        ("/api/chat/sessions", json!([])),
        ("/api/chat/sessions", json!(["a title"])),
        ("/api/chat/chat", json!(["hi"])),
        ("/api/auth/register", json!(["someone", null, "password1"])),
    ] {
        let (s, v) = bearer(&app, &who, reqwest::Method::POST, path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}: {v}");
        assert_eq!(v["detail"][0]["type"], "model_attributes_type", "{v}");
        assert_eq!(v["detail"][0]["loc"], json!(["body"]), "{v}");
    }
    assert_eq!(count(&app, "chat_sessions").await, 0);
    assert_eq!(count(&app, "users").await, 1);
}
