//! The database going away mid-request (found by `scripts/faults`): a
//! query ended by `pg_terminate_backend` or a fast shutdown (SQLSTATE
//! 57P01) is the database being unavailable, a 503 to retry, not a 500;
//! and the turn it interrupted stores nothing.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection as _;

use crate::helpers::*;

#[tokio::test]
async fn a_turn_whose_connection_is_terminated_mid_query_is_a_503_and_stores_nothing() {
    let app = app().await;
    let who = user(&app, "terminated").await;
    let session = create_session(&app, &who, "locked").await;

    // Hold the session's row lock, so the turn's write waits on it.
    let mut holder = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut tx = holder.begin().await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT id FROM chat_sessions WHERE id = $1 FOR UPDATE")
        .bind(session)
        .execute(&mut *tx)
        .await
        .unwrap();

    let turn = {
        let app_url = app.base_url.clone();
        let who = who.clone();
        tokio::spawn(async move {
            client()
                .post(format!("{app_url}/api/chat/chat"))
                .bearer_auth(&who.token)
                .json(&json!({"content": "hello", "session_id": session}))
                .send()
                .await
                .unwrap()
        })
    };

    let mut admin = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        if !pids.is_empty() || Instant::now() > until {
            break pids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!waiting.is_empty(), "the turn's write waits on the lock");
    // Every connection of the app, the waiting one included.
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
    )
    .bind(holder_pid)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!ended.is_empty());

    let (status, body) = json_of(turn.await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "database_unavailable", "{body}");
    tx.rollback().await.unwrap();
    assert_eq!(count_in_conn(&mut admin).await, 0, "nothing stored");

    // The pool does not ping before checkout (`db::pool`): each ended
    // connection it still holds costs one more 503 when used, and is
    // dropped; then turns are served again.
    let mut served = false;
    for _ in 0..=ended.len() {
        let (status, body) = bearer(
            &app,
            &who,
            Method::POST,
            "/api/chat/chat",
            Some(json!({"content": "again", "session_id": session})),
        )
        .await;
        if status == StatusCode::OK {
            served = true;
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    assert!(served, "the pool recovered from the ended connections");
}

async fn count_in_conn(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(conn)
        .await
        .unwrap()
}
