//! The model's `MOCK_LLM_*` variables (and `mock-llm`'s flags for them),
//! defined once by [`ModelArgs`]: the server flattens it into its command
//! line, the backend reads the variables through [`ModelArgs::from_vars`].
//!
//! A named profile (`MOCK_LLM_PROFILE`, `--profile`) fills in the values the
//! flags and variables leave unset; see [`super::profile`].

use std::time::Duration;

use clap::{Args, CommandFactory as _, FromArgMatches as _};

use super::latency::LoadModel;
use super::{profile, MockLlmConfig};
use crate::layered::Failure;

/// The model's knobs: flags for `mock-llm`, variables for both programs.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ModelArgs {
    /// Named deployment profile (`mock-llm --list-profiles`); explicit flags and variables override its values
    #[arg(long, env = "MOCK_LLM_PROFILE", value_parser = profile::parse_name)]
    pub profile: Option<String>,
    /// Content and timing seed
    #[arg(long, env = "MOCK_LLM_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Mean time to first token, in milliseconds (with prefill: the fixed overhead)
    #[arg(long = "ttft-ms", env = "MOCK_LLM_TTFT_MS", default_value_t = 150)]
    pub ttft_ms: u64,
    /// Mean inter-token latency at batch 1, in milliseconds
    #[arg(long = "itl-ms", env = "MOCK_LLM_ITL_MS", default_value_t = 5)]
    pub itl_ms: u64,
    /// Relative jitter on every delay and on the reply length, 0..1
    #[arg(long, env = "MOCK_LLM_JITTER", default_value_t = 0.2, value_parser = rate)]
    pub jitter: f64,
    /// Mean reply length in tokens, > 0
    #[arg(long, env = "MOCK_LLM_TOKENS", default_value_t = 40, value_parser = positive)]
    pub tokens: u32,
    /// Spread of reply lengths: coefficient of variation of a log-normal around --tokens, 0..4; 0 = the jitter's uniform band
    #[arg(long = "tokens-spread", env = "MOCK_LLM_TOKENS_SPREAD", default_value_t = 0.0, value_parser = spread)]
    pub tokens_spread: f64,
    /// Share of requests answered 500 (the backend's mock: failed calls), 0..1
    #[arg(long = "error-rate", env = "MOCK_LLM_ERROR_RATE", default_value_t = 0.0, value_parser = rate)]
    pub error_rate: f64,
    /// Share of requests answered 429, 0..1
    #[arg(long = "rate-429", env = "MOCK_LLM_429_RATE", default_value_t = 0.0, value_parser = rate)]
    pub rate_429: f64,
    /// Prefill time per prompt token, in microseconds, added to the time to first token
    #[arg(
        long = "prefill-us-per-token",
        env = "MOCK_LLM_PREFILL_US_PER_TOKEN",
        default_value_t = 0
    )]
    pub prefill_us_per_token: u64,
    /// Batch limit (vLLM's max-num-seqs): sequences decoding at once, 0 = unlimited
    #[arg(
        long = "max-num-seqs",
        env = "MOCK_LLM_MAX_NUM_SEQS",
        default_value_t = 0
    )]
    pub max_num_seqs: u32,
    /// Requests that may wait for a batch slot; beyond, 429 with Retry-After
    #[arg(
        long = "max-waiting",
        env = "MOCK_LLM_MAX_WAITING",
        default_value_t = 1000
    )]
    pub max_waiting: u32,
    /// Inter-token latency multiplier at a full batch (llm-d's time-factor-under-load), >= 1
    #[arg(
        long = "load-factor",
        env = "MOCK_LLM_LOAD_FACTOR",
        default_value_t = 1.0,
        value_parser = at_least_one
    )]
    pub load_factor: f64,
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
    /// unset), over the profile they name, into the model's configuration.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<MockLlmConfig, VarError> {
        let failed = |var: String, message: String| VarError { var, message };
        let matches =
            profile::parse(ModelOnly::command(), Vec::new(), &lookup).map_err(|f| match f {
                Failure::Var { var, message } => failed(var, message),
                // No flags are given, so nothing else can fail; say so if it does.
                other => failed("MOCK_LLM_*".into(), format!("{other:?}")),
            })?;
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
            tokens_spread: a.tokens_spread,
            error_rate: a.error_rate,
            rate_429: a.rate_429,
            load: LoadModel {
                prefill_per_token: Duration::from_micros(a.prefill_us_per_token),
                max_num_seqs: a.max_num_seqs,
                max_waiting: a.max_waiting,
                load_factor: a.load_factor,
            },
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

/// A coefficient of variation: a finite number in [0, 4].
fn spread(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=4.0).contains(&v) {
        return Err("must be between 0 and 4".into());
    }
    Ok(v)
}

/// A multiplier that never speeds a model up: a finite number >= 1 (and
/// at most 100, past any measured engine).
fn at_least_one(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if !(1.0..=100.0).contains(&v) {
        return Err("must be between 1 and 100".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                tokens_spread: 0.0,
                error_rate: 0.0,
                rate_429: 0.0,
                load: LoadModel::default(),
            }
        );
        assert!(c.load.is_off(), "the defaults must not depend on load");
    }

    #[test]
    fn variables_are_read_and_an_empty_one_is_unset() {
        let c = from_pairs(&[
            ("MOCK_LLM_SEED", "7"),
            ("MOCK_LLM_TTFT_MS", " 20 "),
            ("MOCK_LLM_ITL_MS", ""),
            ("MOCK_LLM_JITTER", "   "),
            ("MOCK_LLM_429_RATE", "0.5"),
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "250"),
            ("MOCK_LLM_MAX_NUM_SEQS", "8"),
            ("MOCK_LLM_MAX_WAITING", "0"),
            ("MOCK_LLM_LOAD_FACTOR", "2.5"),
        ])
        .unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.ttft, Duration::from_millis(20));
        assert_eq!(c.itl, Duration::from_millis(5));
        assert_eq!(c.jitter, 0.2);
        assert_eq!(c.rate_429, 0.5);
        assert_eq!(
            c.load,
            LoadModel {
                prefill_per_token: Duration::from_micros(250),
                max_num_seqs: 8,
                max_waiting: 0,
                load_factor: 2.5,
            }
        );
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
            ("MOCK_LLM_PREFILL_US_PER_TOKEN", "-3"),
            ("MOCK_LLM_MAX_NUM_SEQS", "many"),
            ("MOCK_LLM_MAX_WAITING", "-1"),
            ("MOCK_LLM_LOAD_FACTOR", "0.5"),
            ("MOCK_LLM_LOAD_FACTOR", "NaN"),
            ("MOCK_LLM_TOKENS_SPREAD", "5"),
            ("MOCK_LLM_PROFILE", "gpt-9"),
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
    fn an_unknown_profile_lists_the_valid_names() {
        let e = from_pairs(&[("MOCK_LLM_PROFILE", "gpt-9")]).unwrap_err();
        for p in profile::PROFILES {
            assert!(e.message.contains(p.name), "{e}");
        }
    }

    #[test]
    fn a_profile_fills_in_what_the_variables_leave_unset() {
        let c = from_pairs(&[("MOCK_LLM_PROFILE", "8b-h100")]).unwrap();
        assert_eq!(c.ttft, Duration::from_millis(30));
        assert_eq!(c.itl, Duration::from_millis(12));
        assert_eq!(c.load.prefill_per_token, Duration::from_micros(200));
        assert_eq!(c.load.max_num_seqs, 32);
        assert_eq!(c.load.load_factor, 2.0);
        // An explicit variable wins over the profile; an empty one does not.
        let c = from_pairs(&[
            ("MOCK_LLM_PROFILE", "8b-h100"),
            ("MOCK_LLM_ITL_MS", "3"),
            ("MOCK_LLM_MAX_NUM_SEQS", ""),
        ])
        .unwrap();
        assert_eq!(c.itl, Duration::from_millis(3));
        assert_eq!(c.load.max_num_seqs, 32);
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
                "MOCK_LLM_LOAD_FACTOR",
                "MOCK_LLM_MAX_NUM_SEQS",
                "MOCK_LLM_MAX_WAITING",
                "MOCK_LLM_PREFILL_US_PER_TOKEN",
                "MOCK_LLM_PROFILE",
                "MOCK_LLM_SEED",
                "MOCK_LLM_TOKENS",
                "MOCK_LLM_TOKENS_SPREAD",
                "MOCK_LLM_TTFT_MS",
            ]
        );
    }
}
