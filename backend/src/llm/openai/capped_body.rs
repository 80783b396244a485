//! The caps on what a provider sends outside a stream: a completion body
//! and an error body are read up to a size, the rest left unread, and an
//! answer past a cap is counted in the metrics.

use crate::metrics::Metrics;

/// The most of a non-streamed completion body read: a reply at
/// [`MAX_REPLY_BYTES`](crate::llm::MAX_REPLY_BYTES) fits even with every character `\u`-escaped.
pub const MAX_COMPLETION_BODY: usize = 16 * 1024 * 1024;
/// The most of an error body read: only its first 200 characters are
/// logged, the rest is left unread.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// A body read up to a cap.
pub(super) struct Capped {
    /// The first `cap` bytes at most.
    pub(super) kept: Vec<u8>,
    /// Bytes read past the cap (reading stopped there); `None`: the body
    /// ended within the cap.
    pub(super) over: Option<u64>,
}

/// Reads `r`'s body up to `cap` bytes; stops at the first chunk past it.
pub(super) async fn read_capped(
    r: &mut reqwest::Response,
    cap: usize,
) -> Result<Capped, reqwest::Error> {
    let mut kept = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        let take = cap.saturating_sub(kept.len()).min(chunk.len());
        kept.extend_from_slice(chunk.get(..take).unwrap_or_default());
        if take < chunk.len() {
            return Ok(Capped {
                kept,
                over: Some((chunk.len() - take) as u64),
            });
        }
    }
    Ok(Capped { kept, over: None })
}

/// Counts an answer past a cap (`chatbot_provider_oversized_total`) and the
/// bytes read of it that were dropped (`chatbot_provider_bytes_cut_total`).
pub fn count_cut(metrics: &Metrics, provider: &str, limit: &str, bytes: u64) {
    metrics
        .provider_oversized
        .with_label_values(&[provider, limit])
        .inc();
    metrics
        .provider_bytes_cut
        .with_label_values(&[provider])
        .inc_by(bytes);
}
