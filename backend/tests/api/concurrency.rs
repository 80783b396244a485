//! Races: one username registered 20 times at once, 20 turns on one session
//! at once, provider work that must not hold pool connections, and a
//! graceful shutdown with a turn in flight.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_username_yield_exactly_one_account() {
    let app = app().await;
    let attempts = (0..20).map(|_| {
        post_json(
            &app,
            "/api/auth/register",
            json!({"username": "racer", "password": PASSWORD}),
        )
    });
    let results = join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for (s, v) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["detail"], "Username already registered");
    }
    assert_eq!(count(&app, "users").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_turns_on_one_session_are_numbered_without_gaps() {
    let app = app_with(&[("MOCK_LLM_TTFT_MS", "20"), ("MOCK_LLM_JITTER", "0.9")]).await;
    let who = user(&app, "busy").await;
    let sid = create_session(&app, &who, "crowded").await;
    let path = format!("/api/chat/sessions/{sid}/messages");
    let turns = (0..20).map(|i| {
        bearer(
            &app,
            &who,
            Method::POST,
            &path,
            Some(json!({"content": format!("question {i}")})),
        )
    });
    for (s, v) in join_all(turns).await {
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let rows: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT seq, role, content FROM messages WHERE session_id = $1 ORDER BY seq",
    )
    .bind(sid)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 40);
    for (i, pair) in rows.chunks(2).enumerate() {
        assert_eq!(pair[0].0, 2 * i as i32, "no gaps");
        assert_eq!(pair[1].0, 2 * i as i32 + 1);
        assert_eq!(pair[0].1, "user");
        assert_eq!(
            pair[1].1, "assistant",
            "each question is followed by its own reply"
        );
    }
    let next: i32 = sqlx::query_scalar("SELECT next_seq FROM chat_sessions WHERE id = $1")
        .bind(sid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(next, 40);
}

#[tokio::test]
async fn no_pool_connection_is_held_while_the_provider_works() {
    // One connection, a 250 ms acquire timeout, a 400 ms provider: if a turn
    // held its connection through the provider call, the others would time
    // out waiting for it.
    let llm = ScriptedLlm::new(Duration::from_millis(400), None);
    let app = app_with_provider(
        &[("DB_POOL_SIZE", "1"), ("DB_ACQUIRE_TIMEOUT_MS", "250")],
        llm.clone(),
    )
    .await;
    let who = user(&app, "patient").await;
    let sid = create_session(&app, &who, "s").await;
    let path = format!("/api/chat/sessions/{sid}/messages");
    let turns = (0..8).map(|i| {
        bearer(
            &app,
            &who,
            Method::POST,
            &path,
            Some(json!({"content": format!("q{i}")})),
        )
    });
    for (s, v) in join_all(turns).await {
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(count(&app, "messages").await, 16);
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_quickly_instead_of_hanging() {
    let app = app_with(&[("DB_POOL_SIZE", "1"), ("DB_ACQUIRE_TIMEOUT_MS", "300")]).await;
    let who = user(&app, "starved").await;
    let held = app.pool.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let r = post_as(&app, &who, "/api/chat/sessions", json!({"title": "t"})).await;
    assert_eq!(r.headers()["retry-after"], "1");
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "database_unavailable");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    let (s, _) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/sessions",
        Some(json!({"title": "t"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "recovers once a connection is free");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_turn_finish() {
    let app = app_with_provider(&[], ScriptedLlm::new(Duration::from_millis(500), None)).await;
    let who = user(&app, "last").await;
    let url = format!("{}/api/chat/chat", app.base_url);
    let token = who.token.clone();
    let in_flight = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"content": "hi"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let addr = app.addr;
    // The database outlives the app here: what the drained turn stored is
    // read after the stop.
    let (stopped, database) = app.shutdown_keeping_database().await;
    stopped.unwrap();
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The app's pool is closed by now: count with a connection of our own.
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    assert_eq!(
        count_in(&pool, "messages").await,
        2,
        "the drained turn was stored whole"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
