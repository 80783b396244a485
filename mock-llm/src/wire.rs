//! The OpenAI wire format as far as the mock needs it: the request bodies it
//! reads and the error bodies it writes.
//!
//! Requests are read leniently (unknown fields ignored, content as a string or
//! as parts), as the real API does, so any SDK's body is accepted; errors use
//! OpenAI's `{"error":{"message","type","param","code"}}` shape, which the
//! SDKs turn into their typed exceptions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::mockmodel::estimate_tokens;

/// An OpenAI-shaped error response.
pub fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    (status, Json(body)).into_response()
}

pub fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

/// A 429 as Azure sends it: `Retry-After` in whole seconds (at least 1, so a
/// client that honours it never spins) and `retry-after-ms` exactly, which
/// the OpenAI SDKs prefer when present.
pub fn rate_limited(retry_after: Duration, message: &str) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        Some("rate_limit_exceeded"),
        message,
    );
    let ms = retry_after.as_millis().max(1);
    let secs = ms.div_ceil(1000);
    let headers = resp.headers_mut();
    headers.insert("retry-after", HeaderValue::from(secs as u64));
    headers.insert("retry-after-ms", HeaderValue::from(ms as u64));
    resp
}

/// Seconds since the epoch, for `created`.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// FNV-1a: a hash that is stable across builds and platforms (unlike std's
/// `DefaultHasher`), so a request maps to the same reply everywhere.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    pub fn write(mut self, bytes: &[u8]) -> Self {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens`; either is honoured.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub seed: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    /// Absent or null for assistant messages that only carry tool calls.
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(default)]
    pub text: Option<String>,
}

impl ChatMessage {
    /// The message's text: the string, or its text parts joined.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(s)) => s.clone(),
            Some(Content::Parts(parts)) => parts.iter().filter_map(|p| p.text.as_deref()).collect(),
        }
    }
}

impl ChatRequest {
    /// The mock model's turn key: a stable hash of the conversation (and the
    /// request's `seed`), so the same request gets the same reply and timing
    /// whatever else the server is doing.
    pub fn turn_key(&self) -> u64 {
        let mut h = Fnv::new();
        for m in &self.messages {
            h = h.write(m.role.as_bytes()).write(&[0]);
            h = h.write(m.text().as_bytes()).write(&[0]);
        }
        if let Some(seed) = self.seed {
            h = h.write(b"seed").write(&seed.to_le_bytes());
        }
        h.finish()
    }

    /// The prompt's size as the backend's mock estimates it.
    pub fn prompt_tokens(&self) -> u32 {
        self.messages
            .iter()
            .map(|m| estimate_tokens(&m.text()))
            .fold(0u32, u32::saturating_add)
    }

    pub fn max_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    pub fn streaming(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// What the real API refuses with 400.
    pub fn validate(&self) -> Result<(), String> {
        if self.messages.is_empty() {
            return Err("'messages' must contain at least one message.".into());
        }
        if let Some(bad) = self.messages.iter().find(|m| {
            !matches!(
                m.role.as_str(),
                "system" | "developer" | "user" | "assistant" | "tool" | "function"
            )
        }) {
            return Err(format!("'{}' is not a valid message role.", bad.role));
        }
        if self.max_tokens() == Some(0) {
            return Err("'max_tokens' must be at least 1.".into());
        }
        Ok(())
    }
}
