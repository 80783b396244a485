//! Reading what an OpenAI-compatible endpoint answers: one stream frame
//! (a chat completion chunk, `[DONE]` or an error object) and a
//! non-streamed completion body.

use serde_json::Value;

use crate::llm::{ProviderError, StreamEvent};

/// One frame of an OpenAI stream, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `[DONE]`: the stream completed.
    Done,
    /// Zero or more events (content, usage).
    Events(Vec<StreamEvent>),
    /// The stream failed: an unreadable frame or an error object.
    Failed(ProviderError),
}

/// Reads one SSE event's data as an OpenAI chat completion chunk.
pub fn read_frame(data: &str) -> Frame {
    let data = data.trim();
    if data == "[DONE]" {
        return Frame::Done;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return Frame::Failed(ProviderError::Upstream("unreadable stream frame".into()));
    };
    if let Some(err) = v.get("error") {
        return Frame::Failed(ProviderError::Upstream(format!("error mid-stream: {err}")));
    }
    let mut events = Vec::new();
    if let Some(t) = v
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        if !t.is_empty() {
            events.push(StreamEvent::Token(t.to_owned()));
        }
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        let count = |name: &str| {
            u.get(name)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        if let (Some(prompt_tokens), Some(completion_tokens)) =
            (count("prompt_tokens"), count("completion_tokens"))
        {
            events.push(StreamEvent::Usage {
                prompt_tokens,
                completion_tokens,
            });
        }
    }
    Frame::Events(events)
}

/// What a non-streaming completion body says.
pub(super) struct Parsed {
    pub(super) content: String,
    /// (prompt, completion) tokens, when reported.
    pub(super) usage: Option<(u32, u32)>,
    pub(super) model: Option<String>,
}

/// Reads `choices[0].message.content`, `usage` and `model`.
pub(super) fn parse_completion(body: &Value) -> Option<Parsed> {
    let content = body
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)?
        .to_owned();
    let usage = body.get("usage").and_then(|u| {
        Some((
            u32::try_from(u.get("prompt_tokens")?.as_u64()?).ok()?,
            u32::try_from(u.get("completion_tokens")?.as_u64()?).ok()?,
        ))
    });
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    Some(Parsed {
        content,
        usage,
        model,
    })
}
