//! `mock-llm` configuration: environment variables, overridden by flags.
//!
//! The latency and content knobs use the backend mock provider's names
//! (`MOCK_LLM_*`) so one `.env` describes both; the fault and budget knobs are
//! the server's own. Everything is parsed once, at start-up: a bad value is a
//! [`ConfigError`] naming the flag or variable it came from.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::llm::MockLlmConfig;

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

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8001)),
            model: "mock-llm".into(),
            llm: MockLlmConfig {
                seed: 42,
                ttft: Duration::from_millis(150),
                itl: Duration::from_millis(5),
                jitter: 0.2,
                tokens: 40,
                error_rate: 0.0,
                rate_429: 0.0,
            },
            rpm: None,
            tpm: None,
            hang_rate: 0.0,
            hang_for: MAX_HANG,
            midstream_error_rate: 0.0,
            cut_rate: 0.0,
            embedding_dim: 384,
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Config),
    Help,
}

/// A bad flag or variable: which one, and what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: String,
    pub message: String,
}

impl ConfigError {
    fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
        }
    }
}

/// Each setting: its flag, its environment variable, and a help line.
const OPTIONS: &[(&str, &str, &str)] = &[
    ("--bind", "BIND_ADDR", "listen address [127.0.0.1:8001]"),
    ("--model", "MOCK_LLM_MODEL", "model name served [mock-llm]"),
    ("--seed", "MOCK_LLM_SEED", "content/timing seed [42]"),
    (
        "--ttft-ms",
        "MOCK_LLM_TTFT_MS",
        "mean time to first token [150]",
    ),
    (
        "--itl-ms",
        "MOCK_LLM_ITL_MS",
        "mean inter-token latency [5]",
    ),
    ("--jitter", "MOCK_LLM_JITTER", "relative jitter, 0..1 [0.2]"),
    ("--tokens", "MOCK_LLM_TOKENS", "mean reply length [40]"),
    (
        "--rpm",
        "MOCK_LLM_RPM",
        "requests per minute, 0 = unlimited [0]",
    ),
    (
        "--tpm",
        "MOCK_LLM_TPM",
        "tokens per minute, 0 = unlimited [0]",
    ),
    (
        "--error-rate",
        "MOCK_LLM_ERROR_RATE",
        "share answered 500 [0]",
    ),
    ("--rate-429", "MOCK_LLM_429_RATE", "share answered 429 [0]"),
    (
        "--hang-rate",
        "MOCK_LLM_HANG_RATE",
        "share never answered [0]",
    ),
    (
        "--hang-ms",
        "MOCK_LLM_HANG_MS",
        "how long a hang lasts, <= 600000 [600000]",
    ),
    (
        "--midstream-error-rate",
        "MOCK_LLM_MIDSTREAM_ERROR_RATE",
        "share of streams with an error event halfway [0]",
    ),
    (
        "--cut-rate",
        "MOCK_LLM_CUT_RATE",
        "share of streams cut halfway [0]",
    ),
    (
        "--embedding-dim",
        "MOCK_LLM_EMBEDDING_DIM",
        "embedding vector length [384]",
    ),
];

/// The `--help` text.
pub fn usage() -> String {
    let mut s = String::from(
        "mock-llm: an OpenAI-compatible mock LLM server\n\n\
         usage: mock-llm [--flag value | --flag=value]...\n\n\
         Each flag overrides its environment variable:\n",
    );
    for (flag, env, help) in OPTIONS {
        s.push_str(&format!("  {flag:<24} {env:<31} {help}\n"));
    }
    s
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
        let mut flags: HashMap<&'static str, String> = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(Command::Help);
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let Some((flag, _, _)) = OPTIONS.iter().find(|(f, _, _)| *f == name) else {
                return Err(ConfigError::new(
                    arg,
                    "unknown argument (see --help for the flags)",
                ));
            };
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| ConfigError::new(*flag, "expects a value"))?,
            };
            flags.insert(flag, value);
        }
        let r = Reader { flags, env };
        let d = Config::default();
        let rpm: u32 = r.get("--rpm", 0)?;
        let tpm: u32 = r.get("--tpm", 0)?;
        let hang_ms: u64 = r.get("--hang-ms", d.hang_for.as_millis() as u64)?;
        if Duration::from_millis(hang_ms) > MAX_HANG {
            return Err(r.error("--hang-ms", "must be at most 600000 (10 minutes)"));
        }
        let model: String = r.get("--model", d.model.clone())?;
        if model.trim().is_empty() {
            return Err(r.error("--model", "must not be empty"));
        }
        let embedding_dim: usize = r.get("--embedding-dim", d.embedding_dim)?;
        if !(1..=8192).contains(&embedding_dim) {
            return Err(r.error("--embedding-dim", "must be between 1 and 8192"));
        }
        Ok(Command::Run(Config {
            bind: r.get("--bind", d.bind)?,
            model,
            llm: MockLlmConfig {
                seed: r.get("--seed", d.llm.seed)?,
                ttft: Duration::from_millis(r.get("--ttft-ms", d.llm.ttft.as_millis() as u64)?),
                itl: Duration::from_millis(r.get("--itl-ms", d.llm.itl.as_millis() as u64)?),
                jitter: r.rate("--jitter", d.llm.jitter)?,
                tokens: r.positive("--tokens", d.llm.tokens)?,
                error_rate: r.rate("--error-rate", 0.0)?,
                rate_429: r.rate("--rate-429", 0.0)?,
            },
            rpm: (rpm > 0).then_some(rpm),
            tpm: (tpm > 0).then_some(tpm),
            hang_rate: r.rate("--hang-rate", 0.0)?,
            hang_for: Duration::from_millis(hang_ms),
            midstream_error_rate: r.rate("--midstream-error-rate", 0.0)?,
            cut_rate: r.rate("--cut-rate", 0.0)?,
            embedding_dim,
        }))
    }
}

struct Reader<'a> {
    flags: HashMap<&'static str, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn env_name(flag: &str) -> &'static str {
        OPTIONS
            .iter()
            .find(|(f, _, _)| *f == flag)
            .map_or("?", |(_, e, _)| *e)
    }

    /// The raw value and the name it came under (the flag, or the variable).
    fn raw(&self, flag: &str) -> Option<(String, String)> {
        if let Some(v) = self.flags.get(flag) {
            return Some((flag.to_owned(), v.clone()));
        }
        let var = Self::env_name(flag);
        // An empty variable (`VAR=` in compose) means "unset", as in the backend.
        (self.env)(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (var.to_owned(), v))
    }

    /// The name to blame for `flag`'s value: the flag if given, else its variable.
    fn error(&self, flag: &str, message: &str) -> ConfigError {
        let name = self.raw(flag).map_or_else(|| flag.to_owned(), |(n, _)| n);
        ConfigError::new(name, message)
    }

    fn get<T: FromStr>(&self, flag: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.raw(flag) {
            None => Ok(default),
            Some((name, v)) => v
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("cannot parse {v:?}: {e}"))),
        }
    }

    fn rate(&self, flag: &str, default: f64) -> Result<f64, ConfigError> {
        let v: f64 = self.get(flag, default)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(self.error(flag, "must be between 0 and 1"));
        }
        Ok(v)
    }

    fn positive(&self, flag: &str, default: u32) -> Result<u32, ConfigError> {
        let v: u32 = self.get(flag, default)?;
        if v == 0 {
            return Err(self.error(flag, "must be greater than zero"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let args = args.iter().map(|a| (*a).to_owned());
        match Config::parse(args, &|k| env.get(k).cloned())? {
            Command::Run(c) => Ok(c),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn nothing_set_gives_the_documented_defaults() {
        assert_eq!(parse(&[], &[]).unwrap(), Config::default());
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
    fn bad_values_name_where_they_came_from() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (&["--jitter", "1.5"], &[], "--jitter"),
            (&[], &[("MOCK_LLM_JITTER", "2")], "MOCK_LLM_JITTER"),
            (&["--tokens", "0"], &[], "--tokens"),
            (&["--ttft-ms", "fast"], &[], "--ttft-ms"),
            (&["--bind", "nowhere"], &[], "--bind"),
            (&["--hang-ms", "600001"], &[], "--hang-ms"),
            (&["--frobnicate", "1"], &[], "--frobnicate"),
            (&["--rpm"], &[], "--rpm"),
        ];
        for (args, env, name) in cases {
            let e = parse(args, env).unwrap_err();
            assert_eq!(e.name, *name, "{args:?} {env:?}: {e}");
        }
    }
}
