//! `POST /api/chat/stream`: token events, a done event, the turn stored only
//! when the stream completes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn stream(app: &backend::testing::TestApp, who: &Login, body: Value) -> reqwest::Response {
    post_as(app, who, "/api/chat/stream", body).await
}

#[tokio::test]
async fn a_streamed_turn_sends_each_token_then_done_and_stores_the_whole_turn() {
    let app = app_with(&[
        ("MOCK_LLM_TOKENS", "12"),
        ("MOCK_LLM_ITL_MS", "2"),
        ("MOCK_LLM_JITTER", "0"),
    ])
    .await;
    let who = user(&app, "streamer").await;
    let r = stream(&app, &who, json!({"content": "Tell me about pools"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let evs = sse_events(&r.text().await.unwrap());
    let tokens: Vec<&str> = evs
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 12);
    let done = evs.last().unwrap();
    assert_eq!(done["type"], "done", "{evs:?}");
    assert_eq!(done["usage"]["completion_tokens"], 12);
    assert_eq!(done["sources"].as_array().unwrap().len(), 2);
    let sid = done["session_id"].as_i64().unwrap();
    let (_, session) = bearer(
        &app,
        &who,
        reqwest::Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    let msgs = session["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["content"], "Tell me about pools");
    assert_eq!(
        msgs[1]["content"],
        tokens.concat(),
        "the stored reply is what was streamed"
    );
    assert_eq!(msgs[1]["id"], done["message_id"]);

    // The same turn through the non-streaming route gives the same reply.
    let again = user(&app, "streamer2").await;
    let (_, v) = bearer(
        &app,
        &again,
        reqwest::Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "Tell me about pools"})),
    )
    .await;
    assert_eq!(v["assistant_message"]["content"], tokens.concat());

    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains("chatbot_chat_first_token_latency_seconds_count 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_stores_nothing() {
    // 40 tokens 40 ms apart: a 1.6 s reply.
    let app = app_with(&[("MOCK_LLM_TOKENS", "40"), ("MOCK_LLM_ITL_MS", "40")]).await;
    let who = user(&app, "leaver").await;
    let mut r = stream(&app, &who, json!({"content": "long answer please"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"token\""));
    drop(r);
    // Wait past the time the whole reply would have taken.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count(&app, "messages").await, 0);
    assert_eq!(count(&app, "chat_sessions").await, 0);
}

#[tokio::test]
async fn a_provider_failure_mid_stream_ends_with_an_error_event_and_stores_nothing() {
    let app = app_with(&[
        ("MOCK_LLM_ERROR_RATE", "1.0"),
        ("MOCK_LLM_TOKENS", "10"),
        ("MOCK_LLM_JITTER", "0"),
    ])
    .await;
    let who = user(&app, "unlucky").await;
    let r = stream(&app, &who, json!({"content": "hi"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let evs = sse_events(&r.text().await.unwrap());
    assert_eq!(
        evs.iter().filter(|e| e["type"] == "token").count(),
        5,
        "half the tokens"
    );
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "error", "{evs:?}");
    assert!(last["message"]
        .as_str()
        .unwrap()
        .contains("nothing was stored"));
    assert!(evs.iter().all(|e| e["type"] != "done"));
    assert_eq!(count(&app, "messages").await, 0);
}

#[tokio::test]
async fn a_rate_limited_provider_is_a_json_503_before_any_event() {
    let app = app_with(&[("MOCK_LLM_429_RATE", "1.0")]).await;
    let who = user(&app, "throttled").await;
    let r = stream(&app, &who, json!({"content": "hi"})).await;
    assert!(r.headers().contains_key("retry-after"));
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["code"], "provider_rate_limited");
    assert_eq!(count(&app, "messages").await, 0);
}

#[tokio::test]
async fn streaming_checks_ownership_and_input_like_any_turn() {
    let app = app().await;
    let owner = user(&app, "owner_s").await;
    let other = user(&app, "other_s").await;
    let sid = create_session(&app, &owner, "mine").await;
    let (s, v) =
        json_of(stream(&app, &other, json!({"content": "hi", "session_id": sid})).await).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = json_of(stream(&app, &owner, json!({"content": "  "})).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let r = client()
        .post(format!("{}/api/chat/stream", app.base_url))
        .header("cookie", &owner.cookie)
        .json(&json!({"content": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "cookie writes need the CSRF header"
    );
}
