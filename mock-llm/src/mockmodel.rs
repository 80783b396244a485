//! The mock LLM's model: seeded reply content and timing, and the
//! `MOCK_LLM_*` variables that configure it.
//!
//! One model drives both the backend's in-process `mock` provider and the
//! `mock-llm` server. A reply's tokens and its timing (time to first token,
//! each inter-token gap) are a pure function of `MOCK_LLM_SEED` and the turn
//! key, so a run is repeatable whatever the concurrency. The variables are
//! defined once, by [`ModelArgs`]: the server flattens it into its command
//! line, the backend reads them through [`ModelArgs::from_vars`].

use std::time::Duration;

use clap::{Args, CommandFactory as _, FromArgMatches as _};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::layered::{self, Failure};

/// The model's knobs: flags for `mock-llm`, variables for both programs.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ModelArgs {
    /// Content and timing seed
    #[arg(long, env = "MOCK_LLM_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Mean time to first token, in milliseconds
    #[arg(long = "ttft-ms", env = "MOCK_LLM_TTFT_MS", default_value_t = 150)]
    pub ttft_ms: u64,
    /// Mean inter-token latency, in milliseconds
    #[arg(long = "itl-ms", env = "MOCK_LLM_ITL_MS", default_value_t = 5)]
    pub itl_ms: u64,
    /// Relative jitter on every delay and on the reply length, 0..1
    #[arg(long, env = "MOCK_LLM_JITTER", default_value_t = 0.2, value_parser = rate)]
    pub jitter: f64,
    /// Mean reply length in tokens, > 0
    #[arg(long, env = "MOCK_LLM_TOKENS", default_value_t = 40, value_parser = positive)]
    pub tokens: u32,
    /// Share of requests answered 500 (the backend's mock: failed calls), 0..1
    #[arg(long = "error-rate", env = "MOCK_LLM_ERROR_RATE", default_value_t = 0.0, value_parser = rate)]
    pub error_rate: f64,
    /// Share of requests answered 429, 0..1
    #[arg(long = "rate-429", env = "MOCK_LLM_429_RATE", default_value_t = 0.0, value_parser = rate)]
    pub rate_429: f64,
}

/// A bad `MOCK_LLM_*` variable: its name and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct VarError {
    pub var: String,
    pub message: String,
}

/// Clap needs a top-level command to parse [`ModelArgs`] alone.
#[derive(Debug, clap::Parser)]
#[command(name = "mock-llm-model")]
struct ModelOnly {
    #[command(flatten)]
    model: ModelArgs,
}

impl ModelArgs {
    /// Reads the `MOCK_LLM_*` variables from `lookup` (an empty value is
    /// unset) into the model's configuration.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<MockLlmConfig, VarError> {
        let failed = |var: String, message: String| VarError { var, message };
        let matches = layered::parse(ModelOnly::command(), std::iter::empty(), &lookup).map_err(
            |f| match f {
                Failure::Var { var, message } => failed(var, message),
                // No flags are given, so nothing else can fail; say so if it does.
                other => failed("MOCK_LLM_*".into(), format!("{other:?}")),
            },
        )?;
        let args = ModelOnly::from_arg_matches(&matches)
            .map_err(|e| failed("MOCK_LLM_*".into(), e.to_string()))?;
        Ok(args.model.into())
    }

    /// The variables read, for checks that `.env.example` lists them.
    pub fn var_names() -> Vec<String> {
        ModelOnly::command()
            .get_arguments()
            .filter_map(|a| a.get_env()?.to_str().map(str::to_owned))
            .collect()
    }
}

impl From<ModelArgs> for MockLlmConfig {
    fn from(a: ModelArgs) -> Self {
        Self {
            seed: a.seed,
            ttft: Duration::from_millis(a.ttft_ms),
            itl: Duration::from_millis(a.itl_ms),
            jitter: a.jitter,
            tokens: a.tokens,
            error_rate: a.error_rate,
            rate_429: a.rate_429,
        }
    }
}

/// A share of requests: a number in [0, 1].
pub(crate) fn rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err("must be between 0 and 1".into());
    }
    Ok(v)
}

fn positive(s: &str) -> Result<u32, String> {
    let v: u32 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v == 0 {
        return Err("must be greater than zero".into());
    }
    Ok(v)
}

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
    pub error_rate: f64,
    pub rate_429: f64,
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

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<MockLlmConfig, VarError> {
        ModelArgs::from_vars(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn no_variable_gives_the_documented_defaults() {
        let c = from_pairs(&[]).unwrap();
        assert_eq!(c, MockLlmConfig::default());
        assert_eq!(
            c,
            MockLlmConfig {
                seed: 42,
                ttft: Duration::from_millis(150),
                itl: Duration::from_millis(5),
                jitter: 0.2,
                tokens: 40,
                error_rate: 0.0,
                rate_429: 0.0,
            }
        );
    }

    #[test]
    fn variables_are_read_and_an_empty_one_is_unset() {
        let c = from_pairs(&[
            ("MOCK_LLM_SEED", "7"),
            ("MOCK_LLM_TTFT_MS", " 20 "),
            ("MOCK_LLM_ITL_MS", ""),
            ("MOCK_LLM_JITTER", "   "),
            ("MOCK_LLM_429_RATE", "0.5"),
        ])
        .unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.ttft, Duration::from_millis(20));
        assert_eq!(c.itl, Duration::from_millis(5));
        assert_eq!(c.jitter, 0.2);
        assert_eq!(c.rate_429, 0.5);
    }

    #[test]
    fn a_bad_variable_is_named() {
        let cases = [
            ("MOCK_LLM_SEED", "-1"),
            ("MOCK_LLM_TTFT_MS", "fast"),
            ("MOCK_LLM_ITL_MS", "1.5"),
            ("MOCK_LLM_JITTER", "2"),
            ("MOCK_LLM_TOKENS", "0"),
            ("MOCK_LLM_ERROR_RATE", "-0.1"),
            ("MOCK_LLM_429_RATE", "NaN"),
        ];
        for (var, value) in cases {
            let e = from_pairs(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value}: {e}");
            assert!(e.to_string().starts_with(var), "{e}");
            assert!(!e.message.contains("--"), "blames a flag: {e}");
        }
        let e = from_pairs(&[("MOCK_LLM_JITTER", "2")]).unwrap_err();
        assert_eq!(e.message, "invalid value \"2\": must be between 0 and 1");
    }

    #[test]
    fn every_variable_is_listed() {
        let mut names = ModelArgs::var_names();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "MOCK_LLM_429_RATE",
                "MOCK_LLM_ERROR_RATE",
                "MOCK_LLM_ITL_MS",
                "MOCK_LLM_JITTER",
                "MOCK_LLM_SEED",
                "MOCK_LLM_TOKENS",
                "MOCK_LLM_TTFT_MS",
            ]
        );
    }
}
