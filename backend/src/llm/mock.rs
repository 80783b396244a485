//! The mock LLM: a seeded latency and content model.
//!
//! The same model drives the backend's `mock` provider and (later) the
//! `mock-llm` OpenAI-compatible server. A reply's tokens and its timing
//! (time to first token, each inter-token gap) are a pure function of
//! `MOCK_LLM_SEED` and the turn key, so a run is repeatable whatever the
//! concurrency. Injected faults (errors, 429s) are drawn afresh per call, so
//! that a client retrying a failed turn can succeed, as with a real provider.

use std::time::Duration;

use async_trait::async_trait;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    estimate_tokens, Completion, CompletionRequest, LlmProvider, ProviderError, StreamEvent,
    TokenStream,
};

#[derive(Debug, Clone, PartialEq)]
pub struct MockLlmConfig {
    pub seed: u64,
    /// Mean time to first token.
    pub ttft: Duration,
    /// Mean inter-token latency.
    pub itl: Duration,
    /// Relative jitter on every delay and on the reply length, in [0, 1].
    pub jitter: f64,
    /// Mean reply length in tokens.
    pub tokens: u32,
    pub error_rate: f64,
    pub rate_429: f64,
}

impl MockLlmConfig {
    /// A zero-latency model for tests and benchmarks of everything but the LLM.
    pub fn instant(seed: u64) -> Self {
        Self {
            seed,
            ttft: Duration::ZERO,
            itl: Duration::ZERO,
            jitter: 0.0,
            tokens: 16,
            error_rate: 0.0,
            rate_429: 0.0,
        }
    }

    /// The reply and its timing for one turn.
    pub fn schedule(&self, turn_key: u64) -> MockSchedule {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ turn_key.rotate_left(17));
        let jitter = self.jitter;
        let mut jittered = |base: f64| -> f64 {
            if jitter == 0.0 {
                base
            } else {
                (base * (1.0 + jitter * rng.gen_range(-1.0..=1.0))).max(0.0)
            }
        };
        let n = (jittered(f64::from(self.tokens)).round() as u32).max(1);
        let ttft = Duration::from_secs_f64(jittered(self.ttft.as_secs_f64()));
        let gaps = (1..n)
            .map(|_| Duration::from_secs_f64(jittered(self.itl.as_secs_f64())))
            .collect();
        let tokens = (0..n)
            .map(|i| {
                let word = VOCABULARY[rng.gen_range(0..VOCABULARY.len())];
                if i == 0 {
                    capitalise(word)
                } else if i + 1 == n {
                    format!(" {word}.")
                } else {
                    format!(" {word}")
                }
            })
            .collect();
        MockSchedule { ttft, gaps, tokens }
    }
}

/// One reply: its tokens, the delay before the first, and the gap before each
/// following one (`gaps.len() == tokens.len() - 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct MockSchedule {
    pub ttft: Duration,
    pub gaps: Vec<Duration>,
    pub tokens: Vec<String>,
}

impl MockSchedule {
    pub fn total(&self) -> Duration {
        self.ttft + self.gaps.iter().sum::<Duration>()
    }
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

const VOCABULARY: &[&str] = &[
    "the",
    "chatbot",
    "scales",
    "with",
    "load",
    "latency",
    "tokens",
    "session",
    "users",
    "request",
    "database",
    "pool",
    "stream",
    "answer",
    "context",
    "retrieval",
    "model",
    "throughput",
    "queue",
    "cache",
    "replica",
    "shard",
    "percentile",
    "budget",
    "retry",
    "timeout",
    "worker",
    "thread",
    "connection",
    "index",
    "query",
    "and",
    "of",
    "to",
    "is",
    "for",
    "a",
    "in",
    "under",
    "each",
];

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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MockLlmConfig {
        MockLlmConfig {
            seed: 7,
            ttft: Duration::from_millis(100),
            itl: Duration::from_millis(10),
            jitter: 0.3,
            tokens: 20,
            error_rate: 0.0,
            rate_429: 0.0,
        }
    }

    #[test]
    fn the_same_turn_gets_the_same_reply_and_timing() {
        let c = config();
        assert_eq!(c.schedule(42), c.schedule(42));
        assert_ne!(c.schedule(42).text(), c.schedule(43).text());
        let other_seed = MockLlmConfig {
            seed: 8,
            ..config()
        };
        assert_ne!(c.schedule(42).text(), other_seed.schedule(42).text());
    }

    #[test]
    fn timing_stays_within_the_jitter_band() {
        let c = config();
        for key in 0..200 {
            let s = c.schedule(key);
            assert_eq!(s.gaps.len() + 1, s.tokens.len());
            assert!((14..=26).contains(&s.tokens.len()), "{}", s.tokens.len());
            assert!(s.ttft >= Duration::from_millis(70) && s.ttft <= Duration::from_millis(130));
            for g in &s.gaps {
                assert!(*g >= Duration::from_millis(7) && *g <= Duration::from_millis(13));
            }
        }
    }

    #[test]
    fn zero_jitter_is_exact() {
        let c = MockLlmConfig {
            jitter: 0.0,
            ..config()
        };
        let s = c.schedule(1);
        assert_eq!(s.tokens.len(), 20);
        assert_eq!(s.total(), Duration::from_millis(100 + 19 * 10));
    }
}
