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
    pub content: &'a str,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub metadata: serde_json::Value,
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

/// One message of a turn's history: only what the prompt needs.
#[derive(Debug, Clone, FromRow)]
pub struct HistoryItem {
    pub seq: i32,
    pub role: String,
    pub content: String,
}

/// The session's owner and its last `limit` messages (0 = all), in
/// conversation order, in one round trip. `None` when the session does not
/// exist.
pub async fn turn_context(
    conn: &mut PgConnection,
    session_id: i64,
    limit: u32,
) -> Result<Option<(i64, Vec<HistoryItem>)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        owner: i64,
        seq: Option<i32>,
        role: Option<String>,
        content: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(&turn_context_sql(limit))
        .bind(session_id)
        .fetch_all(conn)
        .await?;
    let Some(owner) = rows.first().map(|r| r.owner) else {
        return Ok(None);
    };
    let mut history: Vec<HistoryItem> = rows
        .into_iter()
        .filter_map(|r| {
            Some(HistoryItem {
                seq: r.seq?,
                role: r.role?,
                content: r.content?,
            })
        })
        .collect();
    history.sort_by_key(|m| m.seq);
    Ok(Some((owner, history)))
}

/// Reads the turn's context (`$1` the session id). The history limit is a
/// literal, not a parameter: with `LIMIT $2` Postgres switches the prepared
/// statement to a generic plan that does not know the limit is small, and
/// stops walking the (session_id, seq) index backwards.
pub fn turn_context_sql(limit: u32) -> String {
    let limit = if limit == 0 {
        "ALL".to_owned()
    } else {
        limit.to_string()
    };
    format!(
        "SELECT s.user_id AS owner, m.seq, m.role, m.content
         FROM chat_sessions s
         LEFT JOIN LATERAL (
             SELECT seq, role, content FROM messages
             WHERE session_id = s.id ORDER BY seq DESC LIMIT {limit}
         ) m ON true
         WHERE s.id = $1"
    )
}

/// Where a turn goes: an existing session, or a new one for a user.
pub enum TurnTarget<'a> {
    Existing(i64),
    New { user_id: i64, title: &'a str },
}

/// Numbers and writes a turn's two messages in one statement (so in one
/// transaction): the session row is updated, or created, and both messages
/// inserted, or nothing is. The `UPDATE` takes the session's row lock, so
/// concurrent turns on one session get consecutive numbers without gaps.
/// `None` when the session no longer exists.
pub async fn write_turn(
    conn: &mut PgConnection,
    target: TurnTarget<'_>,
    user: &NewMessage<'_>,
    assistant: &NewMessage<'_>,
) -> Result<Option<(Message, Message)>, sqlx::Error> {
    let (sql, first) = match target {
        TurnTarget::Existing(id) => (WRITE_TURN_EXISTING_SQL, id),
        TurnTarget::New { user_id, .. } => (WRITE_TURN_NEW_SQL, user_id),
    };
    let title = match target {
        TurnTarget::New { title, .. } => Some(title),
        TurnTarget::Existing(_) => None,
    };
    let mut rows: Vec<Message> = sqlx::query_as(sql)
        .bind(first)
        .bind(user.content)
        .bind(user.prompt_tokens)
        .bind(user.completion_tokens)
        .bind(&user.metadata)
        .bind(assistant.content)
        .bind(assistant.prompt_tokens)
        .bind(assistant.completion_tokens)
        .bind(&assistant.metadata)
        .bind(title)
        .fetch_all(conn)
        .await?;
    rows.sort_by_key(|m| m.seq);
    let mut it = rows.into_iter();
    Ok(match (it.next(), it.next()) {
        (Some(u), Some(a)) => Some((u, a)),
        _ => None,
    })
}

/// `$1` session id; `$2..$5` the user message, `$6..$9` the reply; `$10` unused.
pub const WRITE_TURN_EXISTING_SQL: &str = "WITH s AS (
         UPDATE chat_sessions SET next_seq = next_seq + 2, updated_at = now()
         WHERE id = $1 AND $10::text IS NULL RETURNING id, next_seq - 2 AS seq
     )
     INSERT INTO messages (session_id, seq, role, content, prompt_tokens, completion_tokens, metadata)
     SELECT s.id, s.seq + v.off, v.role, v.content, v.pt, v.ct, v.md
     FROM s, (VALUES (0, 'user', $2::text, $3::int, $4::int, $5::jsonb),
                     (1, 'assistant', $6::text, $7::int, $8::int, $9::jsonb)) AS v (off, role, content, pt, ct, md)
     RETURNING id, session_id, seq, role, content, metadata, created_at";

/// `$1` user id, `$10` the new session's title; messages as above.
pub const WRITE_TURN_NEW_SQL: &str = "WITH s AS (
         INSERT INTO chat_sessions (user_id, title, next_seq) VALUES ($1, $10::text, 2)
         RETURNING id, 0 AS seq
     )
     INSERT INTO messages (session_id, seq, role, content, prompt_tokens, completion_tokens, metadata)
     SELECT s.id, s.seq + v.off, v.role, v.content, v.pt, v.ct, v.md
     FROM s, (VALUES (0, 'user', $2::text, $3::int, $4::int, $5::jsonb),
                     (1, 'assistant', $6::text, $7::int, $8::int, $9::jsonb)) AS v (off, role, content, pt, ct, md)
     RETURNING id, session_id, seq, role, content, metadata, created_at";
