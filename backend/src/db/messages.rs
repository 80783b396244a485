//! The messages and message_feedback tables.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Message {
    pub id: i64,
    pub session_id: i64,
    #[serde(skip)]
    pub seq: i32,
    pub role: String,
    pub content: String,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, session_id, seq, role, content, metadata, created_at";

/// The last `limit` messages of a session in conversation order
/// (`limit` 0 = all of them).
pub async fn history(
    conn: &mut PgConnection,
    session_id: i64,
    limit: u32,
) -> Result<Vec<Message>, sqlx::Error> {
    let limit = if limit == 0 {
        None
    } else {
        Some(i64::from(limit))
    };
    sqlx::query_as(&format!(
        "SELECT * FROM (
             SELECT {COLUMNS} FROM messages WHERE session_id = $1
             ORDER BY seq DESC LIMIT $2
         ) last ORDER BY seq"
    ))
    .bind(session_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub metadata: serde_json::Value,
}

pub async fn insert(
    tx: &mut PgConnection,
    session_id: i64,
    seq: i32,
    m: &NewMessage<'_>,
) -> Result<Message, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO messages (session_id, seq, role, content, prompt_tokens, completion_tokens, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(session_id)
    .bind(seq)
    .bind(m.role)
    .bind(m.content)
    .bind(m.prompt_tokens)
    .bind(m.completion_tokens)
    .bind(&m.metadata)
    .fetch_one(tx)
    .await
}

/// A message with the id of the user owning its session.
pub async fn get_with_owner(pool: &PgPool, id: i64) -> Result<Option<(Message, i64)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        message: Message,
        owner: i64,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT m.id, m.session_id, m.seq, m.role, m.content, m.metadata, m.created_at,
                s.user_id AS owner
         FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.message, r.owner)))
}

/// Records (or replaces) a user's rating of a message; returns its id.
pub async fn upsert_feedback(
    pool: &PgPool,
    message_id: i64,
    user_id: i64,
    rating: i16,
    comment: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO message_feedback (message_id, user_id, rating, comment)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT message_feedback_message_user_key
         DO UPDATE SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, created_at = now()
         RETURNING id",
    )
    .bind(message_id)
    .bind(user_id)
    .bind(rating)
    .bind(comment)
    .fetch_one(pool)
    .await
}

/// Row counts for `/api/stats`.
pub async fn counts(pool: &PgPool) -> Result<(i64, i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM chat_sessions),
                (SELECT count(*) FROM messages), (SELECT count(*) FROM message_feedback)",
    )
    .fetch_one(pool)
    .await
}
