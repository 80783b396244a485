//! `model_saturated`: the LLM serving engine's batch was full and requests
//! queued for a place in it (`vllm:num_requests_waiting` on a scraped vLLM
//! or mock-llm, or the backend's in-process mock's
//! `chatbot_mock_llm_requests_waiting`). The wait is inside every chat
//! turn's time to first token: the model, not the backend, is the limit.
//! Reads whichever scraped endpoint exports the gauge, not only the
//! backend's.

use super::util::{count, max, values};
use crate::report::Report;
use crate::server::{series, Finding, Severity};

/// A queue this deep (one request waiting) counts at that scrape;
/// [`super::util::Count::sustained`] decides whether it was more than a blip.
pub const MODEL_QUEUE_MIN: f64 = 1.0;

/// Queued in at least this share of the scrapes is critical (the model
/// was saturated for most of the run), below it a warning.
pub const MODEL_CRITICAL_SHARE: f64 = 0.5;

/// A sustained queue in front of the model's batch, on any endpoint.
pub fn model_saturated(report: &Report) -> Option<Finding> {
    let server = report.server.as_ref()?;
    server.targets.iter().find_map(|t| {
        let c = count(t, series::MODEL_WAITING, |w| w >= MODEL_QUEUE_MIN);
        if !c.sustained() {
            return None;
        }
        let peak = max(t, series::MODEL_WAITING)?;
        // The batch's size while requests waited: what it holds when full.
        let waiting_at: Vec<u64> = values(t, series::MODEL_WAITING)
            .into_iter()
            .filter(|(_, w)| *w >= MODEL_QUEUE_MIN)
            .map(|(at, _)| at)
            .collect();
        let running = values(t, series::MODEL_RUNNING)
            .into_iter()
            .filter(|(at, _)| waiting_at.contains(at))
            .map(|(_, r)| r)
            .reduce(f64::max)
            .map(|r| format!(" while {r:.0} ran in its batch"))
            .unwrap_or_default();
        let share = c.hits as f64 / c.of as f64;
        Some(Finding {
            rule: "model_saturated".into(),
            severity: if share >= MODEL_CRITICAL_SHARE {
                Severity::Critical
            } else {
                Severity::Warning
            },
            evidence: format!(
                "the model's queue held up to {peak:.0} requests{running}, with requests waiting in {} of {} scrapes ({})",
                c.hits, c.of, t.url
            ),
            advice: "the LLM serving engine's batch is full: chat turns wait for a place in it, so \
                     TTFT grows by whole reply times while the inter-token latency plateaus; add \
                     model replicas or GPUs (or raise max-num-seqs if memory allows), cap the \
                     backend's concurrent chats, or shorten prompts and replies \
                     (CHAT_HISTORY_MAX_MESSAGES, max_tokens)"
                .into(),
        })
    })
}
