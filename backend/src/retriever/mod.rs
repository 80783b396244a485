//! Retrievers (RAG) behind one trait, chosen by `RETRIEVER_PROVIDER`.
//!
//! A retriever returns the few documents most relevant to the user's
//! message; the chat turn passes them to the provider and lists them as the
//! reply's sources.

pub mod postgres;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The document's id, when it comes from the documents table.
    pub document_id: Option<i64>,
    pub source: String,
    pub title: String,
    pub snippet: String,
    pub score: f64,
}

#[async_trait]
pub trait Retriever: Send + Sync {
    fn name(&self) -> &'static str;
    async fn retrieve(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Source>>;
}

/// Retrieves nothing (`RETRIEVER_PROVIDER=none`).
pub struct NoRetriever;

#[async_trait]
impl Retriever for NoRetriever {
    fn name(&self) -> &'static str {
        "none"
    }
    async fn retrieve(&self, _query: &str, _limit: usize) -> anyhow::Result<Vec<Source>> {
        Ok(Vec::new())
    }
}

/// A deterministic stand-in: the same query always yields the same sources,
/// picked from a small built-in list, without touching the database.
pub struct MockRetriever;

const MOCK_DOCS: &[(&str, &str, &str)] = &[
    (
        "mock/connection-pools.md",
        "Sizing connection pools",
        "Size the pool to the database's cores, not to the number of users.",
    ),
    (
        "mock/rate-limits.md",
        "Provider rate limits",
        "Retry 429 responses with backoff and honour Retry-After.",
    ),
    (
        "mock/streaming.md",
        "Streaming replies",
        "Time to first token matters more to users than total latency.",
    ),
    (
        "mock/autoscaling.md",
        "Autoscaling chat backends",
        "Scale on in-flight requests rather than CPU for LLM-bound services.",
    ),
    (
        "mock/caching.md",
        "Caching answers",
        "Cache retrieval results per normalised query to cut tail latency.",
    ),
    (
        "mock/load-testing.md",
        "Load testing chatbots",
        "Ramp virtual users gradually and watch p95 per phase.",
    ),
];

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[async_trait]
impl Retriever for MockRetriever {
    fn name(&self) -> &'static str {
        "mock"
    }
    async fn retrieve(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Source>> {
        let start = usize::try_from(fnv1a(query) % MOCK_DOCS.len() as u64).unwrap_or(0);
        Ok((0..limit.min(2))
            .map(|i| {
                let (source, title, snippet) = MOCK_DOCS[(start + i) % MOCK_DOCS.len()];
                Source {
                    document_id: None,
                    source: source.into(),
                    title: title.into(),
                    snippet: snippet.into(),
                    score: 1.0 / (i as f64 + 1.0),
                }
            })
            .collect())
    }
}
