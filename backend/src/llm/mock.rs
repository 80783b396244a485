//! The `mock` provider (`LLM_PROVIDER=mock`): the mock model, in process.
//!
//! The model itself (seeded reply content and timing, its `MOCK_LLM_*`
//! variables) is `mock_llm::mockmodel`, shared with the `mock-llm`
//! OpenAI-compatible server so both answer alike. A reply's tokens and its
//! timing are a pure function of `MOCK_LLM_SEED` and the turn key, so a run
//! is repeatable whatever the concurrency. Injected faults (errors, 429s)
//! are drawn afresh per call, so that a client retrying a failed turn can
//! succeed, as with a real provider.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use super::{
    estimate_tokens, Completion, CompletionRequest, LlmProvider, MockLlmConfig, MockSchedule,
    ProviderError, StreamEvent, TokenStream,
};

pub struct MockLlm {
    config: MockLlmConfig,
}

impl MockLlm {
    pub fn new(config: MockLlmConfig) -> Self {
        Self { config }
    }

    /// Draws this call's injected faults: (fails, rate limited).
    fn draw_faults(&self) -> (bool, bool) {
        let mut rng = rand::thread_rng();
        (
            rng.gen_bool(self.config.error_rate),
            rng.gen_bool(self.config.rate_429),
        )
    }
}

fn prompt_tokens(req: &CompletionRequest) -> u32 {
    req.messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum()
}

#[async_trait]
impl LlmProvider for MockLlm {
    fn name(&self) -> &'static str {
        "mock"
    }

    async fn complete(&self, req: CompletionRequest) -> Result<Completion, ProviderError> {
        let schedule = self.config.schedule(req.turn_key);
        let (fail, limited) = self.draw_faults();
        if limited {
            tokio::time::sleep(self.config.ttft / 4).await;
            return Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        // A failing call still costs time, as a real one does.
        let delay = if fail {
            schedule.ttft
        } else {
            schedule.total()
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if fail {
            return Err(ProviderError::Upstream(
                "injected mock failure (MOCK_LLM_ERROR_RATE)".into(),
            ));
        }
        Ok(Completion {
            completion_tokens: u32::try_from(schedule.tokens.len()).unwrap_or(u32::MAX),
            content: schedule.text(),
            model: "mock".into(),
            prompt_tokens: prompt_tokens(&req),
        })
    }

    /// Tokens at the schedule's times. An injected failure cuts the stream
    /// after half the tokens with an error item, as a provider failing
    /// mid-reply does.
    async fn stream(&self, req: CompletionRequest) -> Result<TokenStream, ProviderError> {
        let schedule = self.config.schedule(req.turn_key);
        let (fail, limited) = self.draw_faults();
        if limited {
            tokio::time::sleep(self.config.ttft / 4).await;
            return Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        let fail_at = fail.then_some(schedule.tokens.len() / 2);
        let prompt_tokens = prompt_tokens(&req);
        let completion_tokens = u32::try_from(schedule.tokens.len()).unwrap_or(u32::MAX);
        let MockSchedule { ttft, gaps, tokens } = schedule;
        // Each token is due at a fixed offset from the start, so a late
        // wake-up (the timer's millisecond granularity, a busy worker) does
        // not push every later token back: the gaps keep the schedule.
        let start = tokio::time::Instant::now();
        Ok(Box::pin(async_stream::stream! {
            let mut due = start;
            for (i, token) in tokens.into_iter().enumerate() {
                due += if i == 0 { ttft } else { gaps[i - 1] };
                if due > tokio::time::Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                if fail_at == Some(i) {
                    yield Err(ProviderError::Upstream(
                        "injected mock failure mid-stream (MOCK_LLM_ERROR_RATE)".into(),
                    ));
                    return;
                }
                yield Ok(StreamEvent::Token(token));
            }
            yield Ok(StreamEvent::Usage { prompt_tokens, completion_tokens });
        }))
    }
}
