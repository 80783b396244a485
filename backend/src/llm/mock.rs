//! The `mock` provider (`LLM_PROVIDER=mock`): the mock model, in process.
//!
//! The model itself (seeded reply content and timing, prefill, the batch
//! and its queue, its `MOCK_LLM_*` variables) is `mock_llm::mockmodel`,
//! shared with the `mock-llm` OpenAI-compatible server so both answer alike.
//! A reply's tokens and its timing at batch 1 are a pure function of
//! `MOCK_LLM_SEED`, the turn key and the prompt's length, so a run is
//! repeatable at low load. One [`Batch`] per provider, so per backend
//! process: with `MOCK_LLM_MAX_NUM_SEQS` set, turns beyond it wait (the wait
//! is part of the time to first token), beyond `MOCK_LLM_MAX_WAITING` they
//! are refused as a provider 429, and decode slows as the batch fills. A
//! turn's slot is held by its call or its token stream, so a client that
//! goes away frees it. Injected faults (errors, 429s) are drawn afresh per
//! call, so that a client retrying a failed turn can succeed, as with a real
//! provider.

use std::time::Duration;

use async_trait::async_trait;
use mock_llm::mockmodel::{Batch, Slot};
use rand::Rng;
use tokio::time::{sleep_until, Instant};

use super::{
    estimate_tokens, Completion, CompletionRequest, LlmProvider, MockLlmConfig, MockSchedule,
    ProviderError, StreamEvent, TokenStream,
};

pub struct MockLlm {
    config: MockLlmConfig,
    batch: Batch,
}

impl MockLlm {
    pub fn new(config: MockLlmConfig) -> Self {
        let batch = Batch::new(config.load.clone());
        Self { config, batch }
    }

    /// Draws this call's injected faults: (fails, rate limited).
    fn draw_faults(&self) -> (bool, bool) {
        let mut rng = rand::thread_rng();
        (
            rng.gen_bool(self.config.error_rate),
            rng.gen_bool(self.config.rate_429),
        )
    }

    /// A batch slot, and when the schedule starts: at `start` when a slot
    /// was free, at the end of the wait otherwise; a 429 when the queue is
    /// full.
    async fn admit(&self, start: Instant) -> Result<(Slot, Instant), ProviderError> {
        let ticket = self
            .batch
            .try_enqueue()
            .map_err(|_| ProviderError::RateLimited {
                retry_after: Some(self.config.queue_retry_after()),
            })?;
        let queued = ticket.is_queued();
        let slot = ticket.slot().await;
        Ok((slot, if queued { Instant::now() } else { start }))
    }
}

fn prompt_tokens(req: &CompletionRequest) -> u32 {
    req.messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .fold(0u32, u32::saturating_add)
}

#[async_trait]
impl LlmProvider for MockLlm {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn engine_load(&self) -> Option<(usize, usize)> {
        Some((self.batch.running(), self.batch.waiting()))
    }

    async fn complete(&self, req: CompletionRequest) -> Result<Completion, ProviderError> {
        let start = Instant::now();
        let prompt_tokens = prompt_tokens(&req);
        let schedule = self.config.schedule_for(req.turn_key, prompt_tokens);
        let (fail, limited) = self.draw_faults();
        if limited {
            tokio::time::sleep(self.config.ttft / 4).await;
            return Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        let (slot, t0) = self.admit(start).await?;
        // A failing call still costs time, as a real one does.
        if fail {
            sleep_until(t0 + schedule.ttft).await;
            return Err(ProviderError::Upstream(
                "injected mock failure (MOCK_LLM_ERROR_RATE)".into(),
            ));
        }
        if self.batch.load().factor(usize::MAX) == 1.0 {
            // No load dependence: one sleep, the schedule's total.
            let total = schedule.total();
            if !total.is_zero() {
                sleep_until(t0 + total).await;
            }
        } else {
            // Each gap stretched by the batch's size when it is due.
            let mut due = t0 + schedule.ttft;
            sleep_until(due).await;
            for gap in &schedule.gaps {
                due += slot.stretch(*gap);
                sleep_until(due).await;
            }
        }
        drop(slot);
        Ok(Completion {
            completion_tokens: u32::try_from(schedule.tokens.len()).unwrap_or(u32::MAX),
            content: schedule.text(),
            model: "mock".into(),
            prompt_tokens,
        })
    }

    /// Tokens at the schedule's times. An injected failure cuts the stream
    /// after half the tokens with an error item, as a provider failing
    /// mid-reply does.
    async fn stream(&self, req: CompletionRequest) -> Result<TokenStream, ProviderError> {
        let start = Instant::now();
        let prompt_tokens = prompt_tokens(&req);
        let schedule = self.config.schedule_for(req.turn_key, prompt_tokens);
        let (fail, limited) = self.draw_faults();
        if limited {
            tokio::time::sleep(self.config.ttft / 4).await;
            return Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        let (slot, t0) = self.admit(start).await?;
        let fail_at = fail.then_some(schedule.tokens.len() / 2);
        let completion_tokens = u32::try_from(schedule.tokens.len()).unwrap_or(u32::MAX);
        let MockSchedule { ttft, gaps, tokens } = schedule;
        // Each token is due at a fixed offset from the one before (the first
        // from the start), so a late wake-up (the timer's millisecond
        // granularity, a busy worker) does not push every later token back:
        // the gaps keep the schedule. The slot lives as long as the stream.
        Ok(Box::pin(async_stream::stream! {
            let mut due = t0;
            for (i, token) in tokens.into_iter().enumerate() {
                due += if i == 0 { ttft } else { slot.stretch(gaps[i - 1]) };
                if due > Instant::now() {
                    sleep_until(due).await;
                }
                if fail_at == Some(i) {
                    yield Err(ProviderError::Upstream(
                        "injected mock failure mid-stream (MOCK_LLM_ERROR_RATE)".into(),
                    ));
                    return;
                }
                yield Ok(StreamEvent::Token(token));
            }
            drop(slot);
            yield Ok(StreamEvent::Usage { prompt_tokens, completion_tokens });
        }))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use mock_llm::mockmodel::LoadModel;

    use super::*;
    use crate::llm::{PromptMessage, Role};

    fn request(turn_key: u64, content: &str) -> CompletionRequest {
        CompletionRequest {
            messages: vec![PromptMessage {
                role: Role::User,
                content: content.to_owned(),
            }],
            turn_key,
        }
    }

    fn model(load: LoadModel) -> MockLlm {
        MockLlm::new(MockLlmConfig {
            ttft: Duration::from_millis(20),
            itl: Duration::from_millis(4),
            jitter: 0.0,
            tokens: 5,
            load,
            ..MockLlmConfig::instant(1)
        })
    }

    #[tokio::test]
    async fn a_longer_prompt_takes_longer_to_its_first_token() {
        let m = model(LoadModel {
            prefill_per_token: Duration::from_millis(1),
            ..LoadModel::default()
        });
        let mut took = Vec::new();
        for content in ["abcd".repeat(10), "abcd".repeat(210)] {
            let start = Instant::now();
            let mut s = m.stream(request(1, &content)).await.unwrap();
            s.next().await.unwrap().unwrap();
            took.push(start.elapsed());
        }
        // 20 ms + 10 and + 210 prompt tokens at 1 ms each.
        assert!(took[0] >= Duration::from_millis(30), "{took:?}");
        assert!(took[1] >= Duration::from_millis(230), "{took:?}");
        let extra = took[1] - took[0];
        assert!(
            extra >= Duration::from_millis(190) && extra <= Duration::from_millis(210),
            "200 prompt tokens at 1 ms added {extra:?}"
        );
    }

    #[tokio::test]
    async fn the_default_model_keeps_the_fixed_schedule_whatever_the_load() {
        let m = model(LoadModel::default());
        let start = Instant::now();
        let calls = (0..50).map(|k| m.complete(request(k, "a long enough prompt")));
        for c in futures::future::join_all(calls).await {
            assert_eq!(c.unwrap().completion_tokens, 5);
        }
        // Fifty at once take what one takes: 20 ms + 4 gaps of 4 ms.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(36) && took < Duration::from_millis(80),
            "{took:?}"
        );
        assert_eq!(m.engine_load(), Some((0, 0)));
    }

    #[tokio::test]
    async fn a_full_batch_and_queue_refuse_and_a_dropped_stream_frees_its_slot() {
        let m = model(LoadModel {
            max_num_seqs: 1,
            max_waiting: 0,
            load_factor: 2.0,
            ..LoadModel::default()
        });
        let held = m.stream(request(1, "first")).await.unwrap();
        assert_eq!(m.engine_load(), Some((1, 0)));
        let refused = m.stream(request(2, "second")).await.err();
        assert_eq!(
            refused,
            Some(ProviderError::RateLimited {
                // One mean request at a full batch: 20 ms + 5 x 4 ms x 2.
                retry_after: Some(Duration::from_millis(60)),
            })
        );
        drop(held);
        assert_eq!(m.engine_load(), Some((0, 0)));
        let c = m.complete(request(3, "third")).await.unwrap();
        assert_eq!(c.completion_tokens, 5);
    }
}
