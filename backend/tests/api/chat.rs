//! Chat turns: replies, history, sources, feedback and provider failures.

use std::time::Duration;

use backend::llm::ProviderError;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn chat_without_a_session_creates_one_and_continues_it_with_session_id() {
    let app = app().await;
    let who = user(&app, "rob").await;
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "How do I size a DB pool?"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let sid = v["session_id"].as_i64().unwrap();
    let a = &v["assistant_message"];
    assert_eq!(a["role"], "assistant");
    assert!(!a["content"].as_str().unwrap().is_empty());
    assert!(a["id"].as_i64().is_some());
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        a["metadata"]["sources"].as_array().unwrap().len(),
        2,
        "mock retriever gives two"
    );
    assert_eq!(v["user_message"]["content"], "How do I size a DB pool?");
    let (_, session) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(session["title"], "How do I size a DB pool?");

    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "and then?", "session_id": sid})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["session_id"], sid);
    assert_eq!(count(&app, "chat_sessions").await, 1);
    assert_eq!(count(&app, "messages").await, 4);
}

#[tokio::test]
async fn the_mock_reply_is_the_same_for_the_same_seed_session_and_turn() {
    let run = || async {
        let app = app().await;
        let who = user(&app, "sam").await;
        let sid = create_session(&app, &who, "s").await;
        let mut replies = Vec::new();
        for q in ["one", "two"] {
            let (_, v) = bearer(
                &app,
                &who,
                Method::POST,
                &format!("/api/chat/sessions/{sid}/messages"),
                Some(json!({"content": q})),
            )
            .await;
            replies.push(
                v["assistant_message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        replies
    };
    let first = run().await;
    assert_eq!(first, run().await);
    assert_ne!(first[0], first[1]);
}

#[tokio::test]
async fn history_sent_to_the_provider_is_capped_by_chat_history_max_messages() {
    let llm = ScriptedLlm::new(Duration::ZERO, None);
    let app = app_with_provider(&[("CHAT_HISTORY_MAX_MESSAGES", "4")], llm.clone()).await;
    let who = user(&app, "tina").await;
    let sid = create_session(&app, &who, "long").await;
    for i in 0..5 {
        let (s, _) = bearer(
            &app,
            &who,
            Method::POST,
            &format!("/api/chat/sessions/{sid}/messages"),
            Some(json!({"content": format!("q{i}")})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    // system + history (0, 2, 4, 4, 4) + the new message
    assert_eq!(*llm.prompt_lengths.lock().unwrap(), [2, 4, 6, 6, 6]);
}

#[tokio::test]
async fn a_failed_provider_call_stores_nothing_and_says_so() {
    let cases = [
        (
            ProviderError::Upstream("boom".into()),
            StatusCode::BAD_GATEWAY,
            "provider_error",
        ),
        (
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_rate_limited",
        ),
        (
            ProviderError::Timeout,
            StatusCode::GATEWAY_TIMEOUT,
            "provider_timeout",
        ),
    ];
    for (err, status, code) in cases {
        let app = app_with_provider(&[], ScriptedLlm::new(Duration::ZERO, Some(err))).await;
        let who = user(&app, "uma").await;
        let sid = create_session(&app, &who, "kept").await;
        for body in [
            json!({"content": "hi"}),
            json!({"content": "hi", "session_id": sid}),
        ] {
            let r = post_as(&app, &who, "/api/chat/chat", body).await;
            if code == "provider_rate_limited" {
                assert_eq!(r.headers()["retry-after"], "7");
            }
            let (s, v) = json_of(r).await;
            assert_eq!(s, status, "{v}");
            assert_eq!(v["code"], code);
        }
        assert_eq!(count(&app, "messages").await, 0, "{code}: no half turn");
        assert_eq!(
            count(&app, "chat_sessions").await,
            1,
            "{code}: no session created"
        );
    }
}

#[tokio::test]
async fn a_provider_slower_than_its_timeout_is_a_504() {
    let app = app_with_provider(
        &[("PROVIDER_TIMEOUT_SECONDS", "0.2")],
        ScriptedLlm::new(Duration::from_secs(5), None),
    )
    .await;
    let who = user(&app, "vic").await;
    let started = std::time::Instant::now();
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(count(&app, "messages").await, 0);
}

#[tokio::test]
async fn the_mock_providers_injected_errors_are_clean_failures() {
    let app = app_with(&[("MOCK_LLM_ERROR_RATE", "1.0")]).await;
    let who = user(&app, "wendy").await;
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    let app = app_with(&[("MOCK_LLM_429_RATE", "1.0")]).await;
    let who = user(&app, "wendy").await;
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(count(&app, "messages").await, 0);
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(r#"chatbot_provider_errors_total{kind="rate_limited",provider="mock"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn blank_or_oversized_messages_are_rejected() {
    let app = app().await;
    let who = user(&app, "xena").await;
    for (body, kind) in [
        (json!({"content": "   "}), "string_too_short"),
        (json!({"content": "a".repeat(16_001)}), "string_too_long"),
        (json!({}), "missing"),
        (json!({"content": "hi", "session_id": "one"}), "type_error"),
    ] {
        let (s, v) = bearer(
            &app,
            &who,
            Method::POST,
            "/api/chat/chat",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(v["detail"][0]["type"], kind, "{v}");
    }
    assert_eq!(count(&app, "messages").await, 0);
}

#[tokio::test]
async fn feedback_and_sources_belong_to_the_messages_owner() {
    let app = app().await;
    let who = user(&app, "yara").await;
    let other = user(&app, "zed").await;
    let (_, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "hi"})),
    )
    .await;
    let mid = v["assistant_message"]["id"].as_i64().unwrap();
    let (s, v) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/messages/{mid}/sources"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["sources"].as_array().unwrap().len(), 2);
    let (s, _) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid, "rating": 1, "comment": "good"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid, "rating": -1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let rating: i16 = sqlx::query_scalar("SELECT rating FROM message_feedback")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rating, -1, "a second rating replaces the first");
    let (s, _) = bearer(
        &app,
        &other,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid, "rating": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = bearer(
        &app,
        &other,
        Method::GET,
        &format!("/api/chat/messages/{mid}/sources"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": 999999, "rating": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid, "rating": 9})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "rating"]));
}

/// JSON Schema's `integer` (the OpenAPI document's) and pydantic both take
/// `3.0` as the integer 3; serde's `i64` refused it with a 422 that the
/// document said could not happen (found by schemathesis). `3.5` is still
/// refused.
#[tokio::test]
async fn whole_floats_are_accepted_as_integer_ids() {
    let app = app().await;
    let who = user(&app, "flo").await;
    let sid = create_session(&app, &who, "t").await;
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/chat",
        Some(json!({"content": "hi", "session_id": sid as f64})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["session_id"], sid);
    let mid = v["assistant_message"]["id"].as_i64().unwrap();
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid as f64, "rating": 5.0})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rating"], 5);
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/feedback",
        Some(json!({"message_id": mid, "rating": 2.5})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "rating"]));
    assert_eq!(v["detail"][0]["type"], "type_error");
    // Path and query integers as a client formats a whole float.
    for path in [
        format!("/api/chat/sessions/{sid}.0"),
        format!("/api/chat/messages/{mid}.00/sources"),
        "/api/chat/sessions?limit=2.0&offset=0.0".to_owned(),
    ] {
        let (s, v) = bearer(&app, &who, Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    for path in [
        format!("/api/chat/sessions/{sid}.5"),
        "/api/chat/sessions?limit=1e1".to_owned(),
    ] {
        let (s, v) = bearer(&app, &who, Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
    }
}
