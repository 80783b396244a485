//! The chat_sessions table. Statements checked at compile time against the
//! migrations (offline data in `.sqlx/`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: i64,
    #[serde(skip)]
    pub user_id: i64,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn create(pool: &PgPool, user_id: i64, title: &str) -> Result<Session, sqlx::Error> {
    sqlx::query_as!(
        Session,
        "INSERT INTO chat_sessions (user_id, title) VALUES ($1, $2)
         RETURNING id, user_id, title, created_at, updated_at",
        user_id,
        title,
    )
    .fetch_one(pool)
    .await
}

pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as!(
        Session,
        "SELECT id, user_id, title, created_at, updated_at FROM chat_sessions WHERE id = $1",
        id,
    )
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
    sqlx::query_as!(
        Session,
        "SELECT id, user_id, title, created_at, updated_at FROM chat_sessions
         WHERE user_id = $1 AND ($2::BIGINT IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3 OFFSET $4",
        user_id,
        before,
        limit,
        offset,
    )
    .fetch_all(pool)
    .await
}

pub async fn delete(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM chat_sessions WHERE id = $1", id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
}
