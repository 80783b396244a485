//! Graceful shutdown's drain deadline (`SHUTDOWN_DRAIN_SECONDS`): an event
//! stream still open when it passes ends with an `error` event coded
//! `shutting_down`, nothing half-written is stored, and the server stops
//! within the deadline plus a small margin (a pod's grace period is fixed).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_stream_held_past_the_drain_deadline_ends_with_an_error_event_and_shutdown_completes() {
    // 200 tokens 200 ms apart: a 40 s reply, far past the 1 s deadline.
    let app = app_with(&[
        ("SHUTDOWN_DRAIN_SECONDS", "1"),
        ("MOCK_LLM_TOKENS", "200"),
        ("MOCK_LLM_ITL_MS", "200"),
        ("MOCK_LLM_JITTER", "0"),
    ])
    .await;
    let who = user(&app, "drained").await;
    let mut r = client()
        .post(format!("{}/api/chat/stream", app.base_url))
        .bearer_auth(&who.token)
        .json(&json!({"content": "a long answer, please"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The stream is open and mid-reply once a token has arrived.
    let mut body = String::new();
    while !body.contains(r#""type":"token""#) {
        let chunk = r.chunk().await.unwrap().expect("a token before the end");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let reader = tokio::spawn(async move {
        while let Some(chunk) = r.chunk().await? {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        Ok::<_, reqwest::Error>(body)
    });

    let started = Instant::now();
    let (stopped, database) =
        tokio::time::timeout(Duration::from_secs(5), app.shutdown_keeping_database())
            .await
            .expect("shutdown completes near the 1 s drain deadline, not when the reply ends");
    let took = started.elapsed();
    stopped.unwrap();
    assert!(
        took >= Duration::from_millis(900),
        "the open stream was given the drain time: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "shutdown within the deadline + margin: {took:?}"
    );

    let body = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .expect("the stream ended with the shutdown")
        .unwrap()
        .unwrap();
    let events = sse_events(&body);
    assert!(
        events.iter().any(|e| e["type"] == "token"),
        "tokens came first: {events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{events:?}");
    assert_eq!(last["code"], "shutting_down", "{last}");
    assert!(
        last["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{last}"
    );
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    assert_eq!(
        count_in(&pool, "messages").await,
        0,
        "a turn cut by the deadline stores nothing"
    );
}
