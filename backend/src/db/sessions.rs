//! The chat_sessions table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Session {
    pub id: i64,
    #[serde(skip)]
    pub user_id: i64,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, title, created_at, updated_at";

pub async fn create(pool: &PgPool, user_id: i64, title: &str) -> Result<Session, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO chat_sessions (user_id, title) VALUES ($1, $2) RETURNING {COLUMNS}"
    ))
    .bind(user_id)
    .bind(title)
    .fetch_one(pool)
    .await
}

pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A user's sessions, newest first. `before` is a keyset cursor (the last id
/// of the previous page); `offset` is honoured for clients that page by count.
pub async fn list(
    pool: &PgPool,
    user_id: i64,
    limit: i64,
    before: Option<i64>,
    offset: i64,
) -> Result<Vec<Session>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_sessions
         WHERE user_id = $1 AND ($2::BIGINT IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(user_id)
    .bind(before)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

pub async fn delete(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM chat_sessions WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
}
