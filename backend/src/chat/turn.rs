//! One chat turn, the backend's hot path.
//!
//! 1. Load the session (ownership) and its last `CHAT_HISTORY_MAX_MESSAGES`
//!    messages on one pooled connection, then give the connection back.
//! 2. Retrieve sources and call the LLM provider with no connection held:
//!    a provider that takes seconds must not starve the pool, which is what
//!    made the original time out under load.
//! 3. One short transaction numbers and writes the user message and the
//!    reply together, so a turn is stored whole or not at all; a failed
//!    provider call has written nothing, and the client can simply retry.

use std::time::Instant;

use serde_json::json;

use super::provider_call::ProviderCall;
use crate::auth::CurrentUser;
use crate::db::messages::{self, HistoryItem, Message, NewMessage, TurnTarget};
use crate::db::sessions;
use crate::error::{ApiError, ApiResult};
use crate::llm::{Completion, CompletionRequest, PromptMessage, Role};
use crate::retriever::Source;
use crate::state::AppState;

/// How many sources the retriever is asked for.
const SOURCES_PER_TURN: usize = 3;
/// Longest accepted user message, in characters.
pub const MAX_CONTENT_CHARS: usize = 16_000;
const SYSTEM_PROMPT: &str = "You are a helpful assistant for people who run and scale chatbots. \
Answer concisely and cite the provided sources when they are relevant.";

pub struct TurnOutcome {
    pub session_id: i64,
    pub user_message: Message,
    pub assistant_message: Message,
}

/// Checks a message's content: non-blank and not too long.
pub fn validate_content(content: &str) -> ApiResult<()> {
    if content.trim().is_empty() {
        return Err(ApiError::field(
            "content",
            "Message content must not be empty",
            "string_too_short",
        ));
    }
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(ApiError::field(
            "content",
            format!("Message content must be at most {MAX_CONTENT_CHARS} characters"),
            "string_too_long",
        ));
    }
    Ok(())
}

fn session_not_found() -> ApiError {
    ApiError::not_found("session_not_found", "Chat session not found")
}

fn session_forbidden() -> ApiError {
    ApiError::forbidden(
        "session_forbidden",
        "Not allowed to access this chat session",
    )
}

/// Loads a session for `user`: 404 when missing, 403 when someone else's.
pub async fn owned_session(
    conn: &mut sqlx::PgConnection,
    user: &CurrentUser,
    id: i64,
) -> ApiResult<sessions::Session> {
    let s = sessions::get(conn, id)
        .await?
        .ok_or_else(session_not_found)?;
    if s.user_id != user.id {
        return Err(session_forbidden());
    }
    Ok(s)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn title_from(content: &str) -> String {
    let t: String = content.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut title: String = t.chars().take(60).collect();
    if t.chars().count() > 60 {
        title.push('…');
    }
    title
}

fn build_prompt(history: &[HistoryItem], sources: &[Source], content: &str) -> Vec<PromptMessage> {
    let mut system = SYSTEM_PROMPT.to_owned();
    for (i, s) in sources.iter().enumerate() {
        system.push_str(&format!("\n[{}] {}: {}", i + 1, s.title, s.snippet));
    }
    let mut prompt = vec![PromptMessage {
        role: Role::System,
        content: system,
    }];
    prompt.extend(history.iter().filter_map(|m| {
        Role::parse(&m.role).map(|role| PromptMessage {
            role,
            content: m.content.clone(),
        })
    }));
    prompt.push(PromptMessage {
        role: Role::User,
        content: content.to_owned(),
    });
    prompt
}

/// Calls the provider under its deadline, with the call's bookkeeping.
async fn call_provider(state: &AppState, req: CompletionRequest) -> ApiResult<Completion> {
    let call = ProviderCall::start(state);
    match call.bounded(state.llm.complete(req)).await {
        Ok(c) => {
            call.succeeded();
            Ok(c)
        }
        Err(e) => Err(call.failed(e)),
    }
}

/// Everything a turn needs before the provider is called.
pub struct Prepared {
    pub session_id: Option<i64>,
    pub content: String,
    pub request: CompletionRequest,
    pub sources: Vec<Source>,
    pub retrieval_error: Option<&'static str>,
}

/// Step 1 of a turn: checks the content, loads the session and its history
/// (one query, the connection given back at once) and retrieves sources.
pub async fn prepare(
    state: &AppState,
    user: &CurrentUser,
    session_id: Option<i64>,
    content: String,
) -> ApiResult<Prepared> {
    validate_content(&content)?;
    let history = match session_id {
        Some(id) => {
            let mut conn = state.pool.acquire().await?;
            let (owner, history) =
                messages::turn_context(&mut conn, id, state.config.chat_history_max_messages)
                    .await?
                    .ok_or_else(session_not_found)?;
            if owner != user.id {
                return Err(session_forbidden());
            }
            history
        }
        None => Vec::new(),
    };
    // Both the whole and the streamed turn pass here: the history's size is
    // what a long tail with long sessions is checked against.
    state
        .metrics
        .chat_history_messages
        .observe(history.len() as f64);
    let (sources, retrieval_error) =
        match state.retriever.retrieve(&content, SOURCES_PER_TURN).await {
            Ok(s) => (s, None),
            Err(e) => {
                tracing::warn!(error = ?e, "retrieval failed; answering without sources");
                (Vec::new(), Some("retrieval failed"))
            }
        };
    // The turn's identity for the mock model: the session, the position in
    // it as this request saw it, and the prompt.
    let position = history.last().map_or(0, |m| m.seq + 1);
    let turn_key = fnv1a(&[
        &session_id.unwrap_or(0).to_le_bytes(),
        &position.to_le_bytes(),
        content.as_bytes(),
    ]);
    let request = CompletionRequest {
        messages: build_prompt(&history, &sources, &content),
        turn_key,
    };
    Ok(Prepared {
        session_id,
        content,
        request,
        sources,
        retrieval_error,
    })
}

/// Text from the provider, made storable: Postgres refuses NUL in `text`
/// and `jsonb`, and a reply is not the client's input to refuse with a 422,
/// so a NUL is stored as U+FFFD (the client's own text never reaches here
/// with one: the extractors refuse it).
fn storable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Step 3 of a turn: writes the user message and the reply in one statement.
pub async fn store(
    state: &AppState,
    user: &CurrentUser,
    prepared: Prepared,
    completion: &Completion,
    latency: std::time::Duration,
) -> ApiResult<TurnOutcome> {
    let Prepared {
        session_id,
        content,
        sources,
        retrieval_error,
        ..
    } = prepared;
    let prompt_tokens = i32::try_from(completion.prompt_tokens).unwrap_or(i32::MAX);
    let completion_tokens = i32::try_from(completion.completion_tokens).unwrap_or(i32::MAX);
    let mut metadata = json!({
        "sources": sources,
        "model": storable(&completion.model),
        "provider": state.llm.name(),
        "retriever": state.retriever.name(),
        "usage": usage_json(completion),
        "latency_ms": latency.as_millis(),
    });
    if let Some(err) = retrieval_error {
        metadata["retrieval_error"] = json!(err);
    }
    let title = title_from(&content);
    let target = match session_id {
        Some(id) => TurnTarget::Existing(id),
        None => TurnTarget::New {
            user_id: user.id,
            title: &title,
        },
    };
    let mut conn = state.pool.acquire().await?;
    let (user_message, assistant_message) = messages::write_turn(
        &mut conn,
        target,
        &NewMessage {
            content: &content,
            prompt_tokens: Some(prompt_tokens),
            completion_tokens: None,
            metadata: json!({}),
        },
        &NewMessage {
            content: &storable(&completion.content),
            prompt_tokens: Some(prompt_tokens),
            completion_tokens: Some(completion_tokens),
            metadata,
        },
    )
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "session_not_found",
            "Chat session was deleted during the turn",
        )
    })?;
    drop(conn);
    Ok(TurnOutcome {
        session_id: user_message.session_id,
        user_message,
        assistant_message,
    })
}

pub fn usage_json(c: &Completion) -> serde_json::Value {
    json!({
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens.saturating_add(c.completion_tokens),
    })
}

/// Runs one turn. `session_id: None` creates a session, in the same
/// statement as the messages, so a failed turn leaves no empty session.
pub async fn run(
    state: &AppState,
    user: &CurrentUser,
    session_id: Option<i64>,
    content: String,
) -> ApiResult<TurnOutcome> {
    let prepared = prepare(state, user, session_id, content).await?;
    let started = Instant::now();
    let completion = call_provider(state, prepared.request.clone()).await?;
    store(state, user, prepared, &completion, started.elapsed()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_single_line_and_bounded() {
        assert_eq!(title_from("  hello\n  world "), "hello world");
        let long = "x".repeat(100);
        assert_eq!(title_from(&long).chars().count(), 61);
    }

    #[test]
    fn content_must_be_non_blank_and_bounded() {
        assert!(validate_content("hi").is_ok());
        assert!(validate_content("  \n").is_err());
        assert!(validate_content(&"a".repeat(MAX_CONTENT_CHARS + 1)).is_err());
    }
}
