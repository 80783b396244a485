//! `POST /v1/embeddings`: deterministic unit vectors seeded from each input.
//!
//! The same text always gets the same vector (for a given `--seed`), so a
//! retriever built on them is repeatable. Budgets and injected faults apply
//! to chat completions only: embeddings stand in for a separate deployment.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, Fnv};
use super::MockState;
use crate::mockmodel::estimate_tokens;

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    input: Value,
    #[serde(default)]
    model: Option<String>,
    /// `float` (the default) or `base64`, which the Python SDK asks for
    /// unless told otherwise: little-endian f32s, base64-encoded.
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

pub(super) async fn openai(State(state): State<MockState>, body: Bytes) -> Response {
    embed(state, None, body)
}

pub(super) async fn azure(
    State(state): State<MockState>,
    Path(deployment): Path<String>,
    body: Bytes,
) -> Response {
    embed(state, Some(deployment), body)
}

fn embed(state: MockState, deployment: Option<String>, body: Bytes) -> Response {
    let stats = &state.stats;
    stats.bump(&stats.embeddings);
    let req: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            stats.bump(&stats.bad_requests);
            return wire::bad_request(&format!("Invalid request body: {e}"));
        }
    };
    let inputs = match inputs(&req.input) {
        Ok(i) => i,
        Err(message) => {
            stats.bump(&stats.bad_requests);
            return wire::bad_request(message);
        }
    };
    let dim = req.dimensions.unwrap_or(state.config.embedding_dim);
    if !(1..=state.config.embedding_dim).contains(&dim) {
        stats.bump(&stats.bad_requests);
        return wire::bad_request(&format!(
            "'dimensions' must be between 1 and {}.",
            state.config.embedding_dim
        ));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            stats.bump(&stats.bad_requests);
            return wire::bad_request(&format!(
                "'{other}' is not a valid encoding_format: use 'float' or 'base64'."
            ));
        }
    };
    let model = deployment
        .or(req.model)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| state.config.model.clone());
    let mut prompt_tokens = 0u32;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            prompt_tokens = prompt_tokens.saturating_add(input.tokens);
            let v = vector(state.config.llm.seed, &input.key, dim);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    stats.add(&stats.prompt_tokens, u64::from(prompt_tokens));
    Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens },
    }))
    .into_response()
}

struct Input {
    /// What the vector is seeded from: the text, or the token ids' JSON.
    key: String,
    tokens: u32,
}

/// The forms OpenAI accepts: a string, a list of strings, a list of token
/// ids, or a list of such lists.
fn inputs(input: &Value) -> Result<Vec<Input>, &'static str> {
    let one = |v: &Value| -> Option<Input> {
        match v {
            Value::String(s) => Some(Input {
                key: s.clone(),
                tokens: estimate_tokens(s),
            }),
            Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_u64) => Some(Input {
                key: v.to_string(),
                tokens: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            }),
            _ => None,
        }
    };
    const BAD: &str = "'input' must be a string, a list of strings, or token ids.";
    match input {
        Value::String(_) => Ok(vec![one(input).ok_or(BAD)?]),
        Value::Array(items) if items.is_empty() => Err("'input' must not be empty."),
        Value::Array(items) if items.iter().all(Value::is_u64) => Ok(vec![one(input).ok_or(BAD)?]),
        Value::Array(items) => items.iter().map(|v| one(v).ok_or(BAD)).collect(),
        _ => Err(BAD),
    }
}

/// A unit vector that is a pure function of the seed and the input.
fn vector(seed: u64, key: &str, dim: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ Fnv::new().write(key.as_bytes()).finish());
    let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
