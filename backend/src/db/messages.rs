//! The messages and message_feedback tables.
//!
//! Every statement is checked against the migrations at compile time
//! (`sqlx::query!` and friends, offline data in `.sqlx/`), except the turn's
//! context read, whose history limit must be a literal (see
//! [`turn_context_query`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: i64,
    pub session_id: i64,
    #[serde(skip)]
    pub seq: i32,
    /// `user` or `assistant`.
    #[schema(pattern = "^(user|assistant|system)$")]
    pub role: String,
    pub content: String,
    /// The assistant's `sources`, `model`, `usage`, latency, ...
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

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
    // `LIMIT NULL` is no limit.
    sqlx::query_as!(
        Message,
        "SELECT id, session_id, seq, role, content, metadata, created_at FROM (
             SELECT id, session_id, seq, role, content, metadata, created_at
             FROM messages WHERE session_id = $1
             ORDER BY seq DESC LIMIT $2
         ) last ORDER BY seq",
        session_id,
        limit,
    )
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
    let row = sqlx::query!(
        "SELECT m.id, m.session_id, m.seq, m.role, m.content, m.metadata, m.created_at,
                s.user_id AS owner
         FROM messages m JOIN chat_sessions s ON s.id = m.session_id WHERE m.id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let message = Message {
            id: r.id,
            session_id: r.session_id,
            seq: r.seq,
            role: r.role,
            content: r.content,
            metadata: r.metadata,
            created_at: r.created_at,
        };
        (message, r.owner)
    }))
}

/// Records (or replaces) a user's rating of a message; returns its id.
pub async fn upsert_feedback(
    pool: &PgPool,
    message_id: i64,
    user_id: i64,
    rating: i16,
    comment: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO message_feedback (message_id, user_id, rating, comment)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT message_feedback_message_user_key
         DO UPDATE SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, created_at = now()
         RETURNING id",
        message_id,
        user_id,
        rating,
        comment,
    )
    .fetch_one(pool)
    .await
}

/// Row counts for `/api/stats`.
pub async fn counts(pool: &PgPool) -> Result<(i64, i64, i64, i64), sqlx::Error> {
    // `count(*)` is never NULL; the `!` tells the macro so.
    let r = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM users) AS "users!",
                  (SELECT count(*) FROM chat_sessions) AS "sessions!",
                  (SELECT count(*) FROM messages) AS "messages!",
                  (SELECT count(*) FROM message_feedback) AS "feedback!""#,
    )
    .fetch_one(pool)
    .await?;
    Ok((r.users, r.sessions, r.messages, r.feedback))
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
    let rows: Vec<Row> = turn_context_query(session_id, limit)
        .build_query_as()
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
/// stops walking the (session_id, seq) index backwards (measured: 2227
/// instead of 3090 chat turns/s). A checked macro needs the whole text at
/// compile time, and the limit is configuration, so this one statement is
/// built at run time with `QueryBuilder` and is the only one the compile-time
/// check does not cover. The literal is a `u32` (`CHAT_HISTORY_MAX_MESSAGES`,
/// parsed at start-up), so it can carry nothing but digits, and a given limit
/// always yields the same text, which the connection's statement cache
/// prepares once. The API tests run it against real Postgres.
pub fn turn_context_query<'a>(session_id: i64, limit: u32) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(
        "SELECT s.user_id AS owner, m.seq, m.role, m.content
         FROM chat_sessions s
         LEFT JOIN LATERAL (
             SELECT seq, role, content FROM messages
             WHERE session_id = s.id ORDER BY seq DESC LIMIT ",
    );
    if limit == 0 {
        query.push("ALL");
    } else {
        query.push(limit);
    }
    query.push(
        "
         ) m ON true
         WHERE s.id = ",
    );
    query.push_bind(session_id);
    query
}

/// The text of [`turn_context_query`], for the pgbench script of
/// `benches/capacity.rs`.
pub fn turn_context_sql(limit: u32) -> String {
    turn_context_query(0, limit).into_sql()
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
    // One checked statement per target. Both number the messages the same
    // way: `$2..$5` the user message, `$6..$9` the reply; `$1` is the session
    // id (existing) or the user id (new, with `$10` the session's title).
    let mut rows: Vec<Message> = match target {
        TurnTarget::Existing(session_id) => {
            sqlx::query_file_as!(
                Message,
                "src/db/sql/write_turn_existing.sql",
                session_id,
                user.content,
                user.prompt_tokens,
                user.completion_tokens,
                &user.metadata,
                assistant.content,
                assistant.prompt_tokens,
                assistant.completion_tokens,
                &assistant.metadata,
            )
            .fetch_all(conn)
            .await?
        }
        TurnTarget::New { user_id, title } => {
            sqlx::query_file_as!(
                Message,
                "src/db/sql/write_turn_new.sql",
                user_id,
                user.content,
                user.prompt_tokens,
                user.completion_tokens,
                &user.metadata,
                assistant.content,
                assistant.prompt_tokens,
                assistant.completion_tokens,
                &assistant.metadata,
                title,
            )
            .fetch_all(conn)
            .await?
        }
    };
    rows.sort_by_key(|m| m.seq);
    let mut it = rows.into_iter();
    Ok(match (it.next(), it.next()) {
        (Some(u), Some(a)) => Some((u, a)),
        _ => None,
    })
}

/// Writes a turn into an existing session: `$1` the session id; `$2..$5`
/// the user message, `$6..$9` the reply. Public for the pgbench script of
/// `benches/capacity.rs`; [`write_turn`] runs the same file, checked.
pub const WRITE_TURN_EXISTING_SQL: &str = include_str!("sql/write_turn_existing.sql");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turn_context_limit_is_a_literal_not_a_parameter() {
        let sql = turn_context_sql(40);
        assert!(sql.contains("ORDER BY seq DESC LIMIT 40\n"), "{sql}");
        assert!(sql.ends_with("WHERE s.id = $1"), "{sql}");
        assert!(!sql.contains("$2"), "{sql}");
        assert!(turn_context_sql(0).contains("LIMIT ALL\n"));
    }
}
