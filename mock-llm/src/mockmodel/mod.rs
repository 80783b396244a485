//! The mock LLM's model: seeded reply content and timing, how the timing
//! depends on the prompt and the load, and the `MOCK_LLM_*` variables that
//! configure it.
//!
//! One model drives both the backend's in-process `mock` provider and the
//! `mock-llm` server. A reply's tokens and its timing at batch 1 (time to
//! first token, each inter-token gap) are a pure function of
//! `MOCK_LLM_SEED`, the turn key and the prompt's length, so a run is
//! repeatable at low load. Under load a serving engine's latency depends on
//! what else it runs: the [`Batch`] (one per process) makes requests beyond
//! `max_num_seqs` wait and refuses them beyond the queue, and stretches the
//! gaps as the batch fills ([`LoadModel`]). The defaults switch all of that
//! off: today's fixed schedule, whatever the concurrency.
//!
//! Layout: `args` (the variables and flags, one definition for both
//! programs), `profile` (named, calibrated values for them), `latency`
//! (prefill and the load factor), `batch` (running and waiting requests).

mod args;
pub mod batch;
pub mod latency;
pub mod profile;

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) use args::rate;
pub use args::{ModelArgs, VarError};
pub use batch::{Batch, QueueFull, Slot, Ticket};
pub use latency::LoadModel;

/// A rough token count (about four characters a token for English text),
/// used where a provider reports no usage.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

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
    /// Reply lengths' coefficient of variation (log-normal around `tokens`);
    /// 0: the jitter's uniform band, as before.
    pub tokens_spread: f64,
    pub error_rate: f64,
    pub rate_429: f64,
    /// Prefill, batch limit, queue and load factor; off by default.
    pub load: LoadModel,
}

impl Default for MockLlmConfig {
    /// The documented defaults: [`ModelArgs`]'s, read with no variable set.
    fn default() -> Self {
        #[allow(clippy::expect_used)] // constant input, checked by a test
        ModelArgs::from_vars(|_| None).expect("the documented defaults are valid")
    }
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
            tokens_spread: 0.0,
            error_rate: 0.0,
            rate_429: 0.0,
            load: LoadModel::default(),
        }
    }

    /// What a request refused by a full queue is told to wait: one mean
    /// request at a full batch, when a slot has surely come free.
    pub fn queue_retry_after(&self) -> Duration {
        let decode = self
            .itl
            .mul_f64(f64::from(self.tokens) * self.load.load_factor);
        self.ttft + decode
    }

    /// The reply and its timing for one turn, with no prompt to prefill.
    pub fn schedule(&self, turn_key: u64) -> MockSchedule {
        self.schedule_for(turn_key, 0)
    }

    /// The reply and its timing at batch 1 for one turn whose prompt is
    /// `prompt_tokens` long (as the mock reports it in `usage`): the time to
    /// first token is the overhead plus the prefill, jittered together. The
    /// draws are the same whatever the prompt, so without prefill this is
    /// exactly the schedule of a model that has none.
    pub fn schedule_for(&self, turn_key: u64, prompt_tokens: u32) -> MockSchedule {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ turn_key.rotate_left(17));
        // Drawn first, and only when asked for, so that without a spread the
        // draws are exactly the old ones.
        let spread_length = (self.tokens_spread > 0.0)
            .then(|| reply_length(&mut rng, self.tokens, self.tokens_spread));
        let jitter = self.jitter;
        let mut jittered = |base: f64| -> f64 {
            if jitter == 0.0 {
                base
            } else {
                (base * (1.0 + jitter * rng.gen_range(-1.0..=1.0))).max(0.0)
            }
        };
        let n = match spread_length {
            Some(n) => n,
            None => (jittered(f64::from(self.tokens)).round() as u32).max(1),
        };
        let ttft = self.ttft + self.load.prefill(prompt_tokens);
        let ttft = Duration::from_secs_f64(jittered(ttft.as_secs_f64()));
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

/// A reply length from a log-normal distribution with mean `mean` and
/// coefficient of variation `cv` (chat replies are right-skewed: many short,
/// a few long), at least 1 and at most 8 x the mean.
fn reply_length(rng: &mut ChaCha8Rng, mean: u32, cv: f64) -> u32 {
    let sigma = (1.0 + cv * cv).ln().sqrt();
    // Box-Muller: one standard normal from two uniforms.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let mean = f64::from(mean);
    let n = mean * (sigma * z - sigma * sigma / 2.0).exp();
    n.round().clamp(1.0, mean * 8.0) as u32
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

    /// Cuts the reply to at most `max` tokens (a request's `max_tokens`);
    /// true when it was cut.
    pub fn truncate(&mut self, max: usize) -> bool {
        if max >= self.tokens.len() {
            return false;
        }
        self.tokens.truncate(max);
        self.gaps.truncate(max.saturating_sub(1));
        true
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
            tokens_spread: 0.0,
            error_rate: 0.0,
            rate_429: 0.0,
            load: LoadModel::default(),
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

    #[test]
    fn the_prompt_adds_its_prefill_to_the_first_token_only() {
        let c = MockLlmConfig {
            jitter: 0.0,
            load: LoadModel {
                prefill_per_token: Duration::from_micros(500),
                ..LoadModel::default()
            },
            ..config()
        };
        let short = c.schedule_for(1, 0);
        let long = c.schedule_for(1, 400);
        assert_eq!(long.ttft, short.ttft + Duration::from_millis(200));
        assert_eq!((long.gaps, long.tokens), (short.gaps, short.tokens));
    }

    #[test]
    fn a_spread_gives_right_skewed_lengths_around_the_mean_within_max_tokens() {
        let c = MockLlmConfig {
            tokens: 100,
            tokens_spread: 0.6,
            ..config()
        };
        let mut lengths: Vec<usize> = (0..4000).map(|k| c.schedule(k).tokens.len()).collect();
        let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
        assert!((92.0..=108.0).contains(&mean), "mean {mean}");
        lengths.sort_unstable();
        let (median, p95) = (lengths[2000], lengths[3800]);
        // Log-normal with CV 0.6: the median below the mean, a long tail.
        assert!((75..=95).contains(&median), "median {median}");
        assert!(p95 >= 190, "p95 {p95}");
        assert!(lengths[0] >= 1 && lengths[3999] <= 800);
        for k in 0..200 {
            let mut s = c.schedule(k);
            s.truncate(50);
            assert!(s.tokens.len() <= 50 && s.gaps.len() + 1 == s.tokens.len());
        }
    }

    #[test]
    fn without_prefill_the_prompt_changes_nothing() {
        let c = config();
        for key in 0..50 {
            assert_eq!(c.schedule_for(key, 5000), c.schedule(key));
        }
    }

    /// Today's schedule function, copied verbatim from before the load
    /// model existed: the defaults must reproduce it exactly.
    fn legacy_schedule(c: &MockLlmConfig, turn_key: u64) -> MockSchedule {
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed ^ turn_key.rotate_left(17));
        let jitter = c.jitter;
        let mut jittered = |base: f64| -> f64 {
            if jitter == 0.0 {
                base
            } else {
                (base * (1.0 + jitter * rng.gen_range(-1.0..=1.0))).max(0.0)
            }
        };
        let n = (jittered(f64::from(c.tokens)).round() as u32).max(1);
        let ttft = Duration::from_secs_f64(jittered(c.ttft.as_secs_f64()));
        let gaps = (1..n)
            .map(|_| Duration::from_secs_f64(jittered(c.itl.as_secs_f64())))
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

    #[test]
    fn the_default_model_reproduces_the_legacy_schedule_exactly() {
        let default = MockLlmConfig::default();
        let named =
            ModelArgs::from_vars(|k| (k == "MOCK_LLM_PROFILE").then(|| "default".into())).unwrap();
        assert_eq!(named, default);
        for c in [default, config()] {
            for key in 0..500 {
                let legacy = legacy_schedule(&c, key);
                assert_eq!(c.schedule(key), legacy);
                assert_eq!(c.schedule_for(key, 3000), legacy);
            }
        }
    }
}
