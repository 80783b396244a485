//! `mock-llm` configuration: flags over environment variables, from clap.
//!
//! The latency and content knobs are the model's ([`ModelArgs`], the
//! `MOCK_LLM_*` names the backend's mock provider reads too, so one `.env`
//! describes both); the fault and budget knobs are the server's own. Each is
//! defined once, below: flag, variable, default and validation; `--help`
//! lists them all. Everything is parsed once, at start-up: a bad value is a
//! [`ConfigError`] naming the flag or variable it came from.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _, Parser};

use crate::layered::Failure;
use crate::mockmodel::{profile, rate, MockLlmConfig, ModelArgs};

/// A hang is held at most this long, so an injected fault never outlives a
/// forgotten client.
pub const MAX_HANG: Duration = Duration::from_secs(600);

/// Everything `mock-llm` serves with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: SocketAddr,
    /// Listed by `/v1/models`; answered as `model` when a request names none.
    pub model: String,
    /// Reply content and timing, plus the 5xx (`error_rate`) and injected-429
    /// (`rate_429`) fault rates.
    pub llm: MockLlmConfig,
    /// Requests per rolling minute; `None` is unlimited.
    pub rpm: Option<u32>,
    /// Tokens (prompt estimate + `max_tokens` or reply length) per rolling
    /// minute; `None` is unlimited.
    pub tpm: Option<u32>,
    /// Share of requests that are accepted and never answered.
    pub hang_rate: f64,
    /// How long a hung request is held before it is answered 504; at most
    /// [`MAX_HANG`].
    pub hang_for: Duration,
    /// Share of streams that send an error event after half their tokens.
    pub midstream_error_rate: f64,
    /// Share of streams whose connection is dropped after half their tokens.
    pub cut_rate: f64,
    /// Length of the vectors `/v1/embeddings` returns (unless the request asks
    /// for fewer `dimensions`).
    pub embedding_dim: usize,
}

/// The command line: every flag with its variable and default.
#[derive(Debug, Parser)]
#[command(
    name = "mock-llm",
    about = "An OpenAI-compatible mock LLM server",
    long_about = "An OpenAI-compatible mock LLM server. Each flag overrides its \
                  environment variable; an empty variable counts as unset. \
                  Exit codes: 0 after a clean shutdown, 2 for a bad flag or \
                  variable, 1 when the address cannot be bound."
)]
struct Cli {
    /// Print the named profiles (--profile) with their values, and exit
    #[arg(long = "list-profiles")]
    list_profiles: bool,
    /// Listen address
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8001")]
    bind: SocketAddr,
    /// Model name served
    #[arg(long, env = "MOCK_LLM_MODEL", default_value = "mock-llm", value_parser = non_empty)]
    model: String,
    #[command(flatten)]
    llm: ModelArgs,
    /// Requests per minute, 0 = unlimited
    #[arg(long, env = "MOCK_LLM_RPM", default_value_t = 0)]
    rpm: u32,
    /// Tokens per minute, 0 = unlimited
    #[arg(long, env = "MOCK_LLM_TPM", default_value_t = 0)]
    tpm: u32,
    /// Share of requests never answered, 0..1
    #[arg(long = "hang-rate", env = "MOCK_LLM_HANG_RATE", default_value_t = 0.0, value_parser = rate)]
    hang_rate: f64,
    /// How long a hang lasts, in milliseconds, <= 600000
    #[arg(
        long = "hang-ms",
        env = "MOCK_LLM_HANG_MS",
        default_value_t = 600_000,
        value_parser = clap::value_parser!(u64).range(..=MAX_HANG.as_millis() as u64)
    )]
    hang_ms: u64,
    /// Share of streams with an error event halfway, 0..1
    #[arg(
        long = "midstream-error-rate",
        env = "MOCK_LLM_MIDSTREAM_ERROR_RATE",
        default_value_t = 0.0,
        value_parser = rate
    )]
    midstream_error_rate: f64,
    /// Share of streams cut halfway, 0..1
    #[arg(long = "cut-rate", env = "MOCK_LLM_CUT_RATE", default_value_t = 0.0, value_parser = rate)]
    cut_rate: f64,
    /// Embedding vector length, 1..8192
    #[arg(
        long = "embedding-dim",
        env = "MOCK_LLM_EMBEDDING_DIM",
        default_value_t = 384,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8192)
    )]
    embedding_dim: usize,
}

fn non_empty(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s.to_owned())
}

impl From<Cli> for Config {
    fn from(c: Cli) -> Self {
        Self {
            bind: c.bind,
            model: c.model,
            llm: c.llm.into(),
            rpm: (c.rpm > 0).then_some(c.rpm),
            tpm: (c.tpm > 0).then_some(c.tpm),
            hang_rate: c.hang_rate,
            hang_for: Duration::from_millis(c.hang_ms),
            midstream_error_rate: c.midstream_error_rate,
            cut_rate: c.cut_rate,
            embedding_dim: c.embedding_dim,
        }
    }
}

impl Default for Config {
    /// The documented defaults: the command line's, with nothing given.
    fn default() -> Self {
        #[allow(clippy::expect_used)] // constant input, checked by a test
        match Config::parse(std::iter::empty(), &|_| None).expect("the defaults are valid") {
            Command::Run(c) => c,
            Command::Help | Command::ListProfiles => unreachable!("no --help was given"),
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
// Built once per process: boxing the config would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Run(Config),
    Help,
    /// `--list-profiles`: print [`profile::list`].
    ListProfiles,
}

/// A bad flag or variable: which one, and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The flag (`--jitter`) or the variable (`MOCK_LLM_JITTER`).
    pub name: String,
    pub message: String,
    from_variable: bool,
}

impl std::fmt::Display for ConfigError {
    /// clap's message about a flag names the flag already.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from_variable {
            write!(f, "{}: {}", self.name, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// The `--help` text: every flag, its variable and its default.
pub fn usage() -> String {
    Cli::command().render_long_help().to_string()
}

impl Config {
    /// Reads the process's environment and command line.
    pub fn from_env_and_args() -> Result<Command, ConfigError> {
        Self::parse(std::env::args().skip(1), &|k| std::env::var(k).ok())
    }

    /// Parses flags (`args`, without the program name) over the environment
    /// (`env`); a flag wins over its variable, a variable over the default.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Command, ConfigError> {
        let args: Vec<String> = args.into_iter().collect();
        let matches = match profile::parse(Cli::command(), args, env) {
            Ok(m) => m,
            Err(Failure::Help) => return Ok(Command::Help),
            Err(Failure::Flag { flag, message }) => {
                return Err(ConfigError {
                    name: flag,
                    message,
                    from_variable: false,
                })
            }
            Err(Failure::Var { var, message }) => {
                return Err(ConfigError {
                    name: var,
                    message,
                    from_variable: true,
                })
            }
        };
        let cli = Cli::from_arg_matches(&matches).map_err(|e| ConfigError {
            name: "arguments".into(),
            message: e.to_string(),
            from_variable: false,
        })?;
        if cli.list_profiles {
            return Ok(Command::ListProfiles);
        }
        Ok(Command::Run(cli.into()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let args = args.iter().map(|a| (*a).to_owned());
        match Config::parse(args, &|k| env.get(k).cloned())? {
            Command::Run(c) => Ok(c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nothing_set_gives_the_documented_defaults() {
        let expected = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8001)),
            model: "mock-llm".into(),
            llm: MockLlmConfig {
                seed: 42,
                ttft: Duration::from_millis(150),
                itl: Duration::from_millis(5),
                jitter: 0.2,
                tokens: 40,
                tokens_spread: 0.0,
                error_rate: 0.0,
                rate_429: 0.0,
                load: crate::mockmodel::LoadModel::default(),
            },
            rpm: None,
            tpm: None,
            hang_rate: 0.0,
            hang_for: MAX_HANG,
            midstream_error_rate: 0.0,
            cut_rate: 0.0,
            embedding_dim: 384,
        };
        assert_eq!(parse(&[], &[]).unwrap(), expected);
        assert_eq!(Config::default(), expected);
    }

    #[test]
    fn a_flag_overrides_its_variable() {
        let c = parse(
            &["--ttft-ms", "50", "--rpm=10"],
            &[("MOCK_LLM_TTFT_MS", "900"), ("MOCK_LLM_ITL_MS", "7")],
        )
        .unwrap();
        assert_eq!(c.llm.ttft, Duration::from_millis(50));
        assert_eq!(c.llm.itl, Duration::from_millis(7));
        assert_eq!(c.rpm, Some(10));
        assert_eq!(c.tpm, None);
    }

    #[test]
    fn a_good_flag_overrides_a_bad_variable() {
        let c = parse(&["--jitter", "0.5"], &[("MOCK_LLM_JITTER", "2")]).unwrap();
        assert_eq!(c.llm.jitter, 0.5);
    }

    #[test]
    fn an_empty_variable_is_unset() {
        // `VAR=` in compose: clap alone would try to parse "".
        let c = parse(
            &[],
            &[
                ("MOCK_LLM_TTFT_MS", ""),
                ("MOCK_LLM_MODEL", " "),
                ("BIND_ADDR", ""),
                ("MOCK_LLM_HANG_MS", ""),
            ],
        )
        .unwrap();
        assert_eq!(c, parse(&[], &[]).unwrap());
    }

    #[test]
    fn bad_values_name_where_they_came_from() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (&["--jitter", "1.5"], &[], "--jitter"),
            (&[], &[("MOCK_LLM_JITTER", "2")], "MOCK_LLM_JITTER"),
            (&["--tokens", "0"], &[], "--tokens"),
            (&[], &[("MOCK_LLM_TOKENS", "0")], "MOCK_LLM_TOKENS"),
            (&["--ttft-ms", "fast"], &[], "--ttft-ms"),
            (&["--bind", "nowhere"], &[], "--bind"),
            (&[], &[("BIND_ADDR", "nowhere")], "BIND_ADDR"),
            (&["--hang-ms", "600001"], &[], "--hang-ms"),
            (&[], &[("MOCK_LLM_HANG_MS", "600001")], "MOCK_LLM_HANG_MS"),
            (&["--embedding-dim", "0"], &[], "--embedding-dim"),
            (&["--embedding-dim=8193"], &[], "--embedding-dim"),
            (
                &[],
                &[("MOCK_LLM_EMBEDDING_DIM", "9000")],
                "MOCK_LLM_EMBEDDING_DIM",
            ),
            (&["--model", " "], &[], "--model"),
            (&["--cut-rate", "-1"], &[], "--cut-rate"),
            (&[], &[("MOCK_LLM_HANG_RATE", "1.01")], "MOCK_LLM_HANG_RATE"),
            (&["--frobnicate", "1"], &[], "--frobnicate"),
            (&["--rpm"], &[], "--rpm"),
            (&["--profile", "gpt-9"], &[], "--profile"),
            (&[], &[("MOCK_LLM_PROFILE", "gpt-9")], "MOCK_LLM_PROFILE"),
            (&["--load-factor", "0.9"], &[], "--load-factor"),
        ];
        for (args, env, name) in cases {
            let e = parse(args, env).unwrap_err();
            assert_eq!(e.name, *name, "{args:?} {env:?}: {e}");
            assert!(e.to_string().contains(name), "{args:?} {env:?}: {e}");
        }
    }

    #[test]
    fn help_lists_every_flag_with_its_variable_and_default() {
        assert!(matches!(
            Config::parse(["--help".to_owned()], &|_| None),
            Ok(Command::Help)
        ));
        let help = usage();
        for (flag, var, default) in [
            ("--bind", "BIND_ADDR", "127.0.0.1:8001"),
            ("--model", "MOCK_LLM_MODEL", "mock-llm"),
            ("--seed", "MOCK_LLM_SEED", "42"),
            ("--ttft-ms", "MOCK_LLM_TTFT_MS", "150"),
            ("--itl-ms", "MOCK_LLM_ITL_MS", "5"),
            ("--jitter", "MOCK_LLM_JITTER", "0.2"),
            ("--tokens", "MOCK_LLM_TOKENS", "40"),
            ("--rpm", "MOCK_LLM_RPM", "0"),
            ("--tpm", "MOCK_LLM_TPM", "0"),
            ("--error-rate", "MOCK_LLM_ERROR_RATE", "0"),
            ("--rate-429", "MOCK_LLM_429_RATE", "0"),
            ("--hang-rate", "MOCK_LLM_HANG_RATE", "0"),
            ("--hang-ms", "MOCK_LLM_HANG_MS", "600000"),
            (
                "--midstream-error-rate",
                "MOCK_LLM_MIDSTREAM_ERROR_RATE",
                "0",
            ),
            ("--cut-rate", "MOCK_LLM_CUT_RATE", "0"),
            ("--embedding-dim", "MOCK_LLM_EMBEDDING_DIM", "384"),
            (
                "--prefill-us-per-token",
                "MOCK_LLM_PREFILL_US_PER_TOKEN",
                "0",
            ),
            ("--max-num-seqs", "MOCK_LLM_MAX_NUM_SEQS", "0"),
            ("--max-waiting", "MOCK_LLM_MAX_WAITING", "1000"),
            ("--load-factor", "MOCK_LLM_LOAD_FACTOR", "1"),
            ("--tokens-spread", "MOCK_LLM_TOKENS_SPREAD", "0"),
        ] {
            let at = help
                .find(&format!("{flag} "))
                .unwrap_or_else(|| panic!("{flag}: {help}"));
            let entry = &help[at..];
            let entry = &entry[..entry.find("\n\n").unwrap_or(entry.len())];
            assert!(entry.contains(&format!("[env: {var}")), "{entry}");
            assert!(entry.contains(&format!("[default: {default}]")), "{entry}");
        }
    }

    #[test]
    fn a_profile_is_a_layer_under_flags_and_variables() {
        let c = parse(&["--profile", "azure-gpt-4o-mini"], &[]).unwrap();
        assert_eq!((c.rpm, c.tpm), (Some(180), Some(30_000)));
        assert_eq!(c.llm.ttft, Duration::from_millis(400));
        let c = parse(
            &["--profile=8b-h100", "--itl-ms", "9"],
            &[("MOCK_LLM_ITL_MS", "1"), ("MOCK_LLM_TTFT_MS", "44")],
        )
        .unwrap();
        assert_eq!(c.llm.itl, Duration::from_millis(9));
        assert_eq!(c.llm.ttft, Duration::from_millis(44));
        assert_eq!(c.llm.load.max_num_seqs, 32);
        let c = parse(&[], &[("MOCK_LLM_PROFILE", "small-cpu")]).unwrap();
        assert_eq!(c.llm.load.max_num_seqs, 4);
        assert!(matches!(
            Config::parse(["--list-profiles".to_owned()], &|_| None),
            Ok(Command::ListProfiles)
        ));
    }
}
