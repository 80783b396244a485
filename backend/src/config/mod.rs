//! Typed configuration, read once at start-up from the environment.
//!
//! Every variable has a default listed in `.env.example`; a value that does not
//! parse stops start-up with a message naming the variable, so a typo never
//! surfaces later as a panic on the first request. Float seconds must be
//! finite and fit a `Duration`, minutes times 60 must fit a `u64`: `nan`,
//! `inf` or a huge value is such a typo, refused by name, never a panic.
//! The `MOCK_LLM_*` model variables are read by
//! `mock_llm::mockmodel::ModelArgs`, their one definition. The original
//! FastAPI system's names are honoured (`SQLALCHEMY_POOL_SIZE`, `POSTGRES_*`, ...) so
//! its `.env` files keep working.
//!
//! This module holds the typed configuration and the one function that
//! reads it ([`Config::from_source`]); `env` is where variables come from
//! and their typed reads, `provider_deadline` the provider's time budget.

mod env;
mod provider_deadline;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mock_llm::mockmodel::ModelArgs;

use crate::llm::MockLlmConfig;
use env::Reader;
pub use env::{ProcessEnv, Source};
use provider_deadline::provider_deadline;
pub use provider_deadline::provider_deadline_margin;

/// The secret shipped in `.env.example`; refused outside `APP_ENV=test`.
pub const DEFAULT_SECRET_KEY: &str = "change-me-in-production";
/// Shortest secret accepted outside `APP_ENV=test` (256 bits of hex).
const MIN_SECRET_LEN: usize = 32;

/// A configuration error: which variable, and what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            message: message.into(),
        }
    }
}

/// A secret that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProviderKind {
    Mock,
    /// Any OpenAI-compatible `/chat/completions` (OpenAI, vLLM, Ollama, mock-llm).
    OpenAi,
    /// Azure OpenAI: deployment URL scheme, `api-key` header, `api-version`.
    Azure,
}

/// How live providers are reached and how hard they are tried.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub openai_base_url: String,
    pub openai_api_key: Option<Secret>,
    pub openai_model: String,
    pub azure_endpoint: Option<String>,
    pub azure_api_key: Option<Secret>,
    pub azure_deployment: Option<String>,
    pub azure_api_version: String,
    pub retry: crate::llm::retry::RetryPolicy,
    pub max_concurrency: usize,
    pub breaker: crate::llm::breaker::BreakerConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrieverKind {
    Mock,
    None,
    /// Full-text search over the `documents` table.
    Postgres,
}

/// Argon2id cost parameters (OWASP's minimum by default: m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub login_per_minute: u32,
    pub register_per_minute: u32,
    pub chat_per_minute: u32,
    /// Peers whose `X-Forwarded-For` is believed; everyone else is keyed by
    /// the socket address, so a client cannot pick its own bucket.
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: String,
    pub version: String,
    pub bind_addr: SocketAddr,
    pub database_url: Secret,
    pub db_pool_size: u32,
    pub db_acquire_timeout: Duration,
    pub run_migrations: bool,
    pub worker_threads: usize,
    pub secret_key: Secret,
    pub access_token_ttl: Duration,
    pub auth_cookie_secure: bool,
    pub auth_cookie_samesite: SameSite,
    pub csrf_enforce: bool,
    pub hash_concurrency: usize,
    /// Niceness of the hashing threads (0 = same priority as the rest).
    pub hash_thread_nice: i32,
    /// Password hashes that may wait for a hashing thread; past it a login
    /// or registration is a fast 503 with Retry-After (`HASH_QUEUE_MAX`,
    /// by default 32 per hashing thread).
    pub hash_queue_max: usize,
    pub argon2: Argon2Params,
    pub chat_history_max_messages: u32,
    pub llm_provider: LlmProviderKind,
    pub retriever: RetrieverKind,
    /// Per attempt, for live providers; per call for the mock.
    pub provider_timeout: Duration,
    /// The whole provider call's budget, every attempt, backoff and
    /// Retry-After wait included (`PROVIDER_DEADLINE_SECONDS`; by default
    /// the request timeout less its margin). Always shorter than the request
    /// timeout, so a provider that does not answer is the client's 504
    /// `provider_timeout`, not the generic `request_timeout`.
    pub provider_deadline: Duration,
    pub provider: ProviderSettings,
    pub mock_llm: MockLlmConfig,
    pub rate_limits: RateLimits,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Extra pause after each streamed token (the original's demo knob).
    pub stream_artificial_delay: Duration,
    /// How long a graceful shutdown lets in-flight requests finish
    /// (`SHUTDOWN_DRAIN_SECONDS`, 25 s: inside a pod's 30 s grace); open
    /// chat streams then end with a `shutting_down` error event.
    pub shutdown_drain: Duration,
}

/// The default `HASH_QUEUE_MAX` per hashing thread: at some 40-100 ms a
/// hash, a full queue is one to three seconds of waiting, past which a
/// client is better told to come back than kept in line.
const HASH_QUEUE_PER_THREAD: usize = 32;

fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The `ARGON2_*` parameters alone (the seed tool hashes like the backend
/// without needing the rest of its configuration).
pub fn argon2_from_source(src: &dyn Source) -> Result<Argon2Params, ConfigError> {
    let r = Reader(src);
    let d = Argon2Params::default();
    Ok(Argon2Params {
        memory_kib: r.positive(&["ARGON2_MEMORY_KIB"], d.memory_kib)?,
        iterations: r.positive(&["ARGON2_ITERATIONS"], d.iterations)?,
        parallelism: r.positive(&["ARGON2_PARALLELISM"], d.parallelism)?,
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader(src);
        let app_env = r
            .raw("APP_ENV")
            .unwrap_or_else(|| "development".into())
            .to_ascii_lowercase();
        let is_test = app_env == "test";

        let secret_key = r
            .raw("SECRET_KEY")
            .unwrap_or_else(|| DEFAULT_SECRET_KEY.into());
        if !is_test && (secret_key == DEFAULT_SECRET_KEY || secret_key.len() < MIN_SECRET_LEN) {
            return Err(ConfigError::new(
                "SECRET_KEY",
                format!(
                    "APP_ENV={app_env} needs a secret of at least {MIN_SECRET_LEN} characters \
                     that is not the shipped default (generate one with `openssl rand -hex 32`)"
                ),
            ));
        }

        let samesite = match r
            .raw("AUTH_COOKIE_SAMESITE")
            .unwrap_or_else(|| "lax".into())
            .to_ascii_lowercase()
            .as_str()
        {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            other => {
                return Err(ConfigError::new(
                    "AUTH_COOKIE_SAMESITE",
                    format!("expected lax, strict or none, got {other:?}"),
                ))
            }
        };
        let cookie_secure = r.bool("AUTH_COOKIE_SECURE", false)?;
        if samesite == SameSite::None && !cookie_secure {
            return Err(ConfigError::new(
                "AUTH_COOKIE_SAMESITE",
                "SameSite=None requires AUTH_COOKIE_SECURE=true (browsers drop the cookie otherwise)",
            ));
        }

        let llm_provider = match r
            .raw("LLM_PROVIDER")
            .unwrap_or_else(|| "mock".into())
            .to_ascii_lowercase()
            .as_str()
        {
            "mock" => LlmProviderKind::Mock,
            "openai" => LlmProviderKind::OpenAi,
            "azure" => LlmProviderKind::Azure,
            other => {
                return Err(ConfigError::new(
                    "LLM_PROVIDER",
                    format!("unsupported provider {other:?} (supported: mock, openai, azure)"),
                ))
            }
        };
        let provider = ProviderSettings {
            openai_base_url: r
                .raw("OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into())
                .trim_end_matches('/')
                .to_owned(),
            openai_api_key: r.raw("OPENAI_API_KEY").map(Secret::new),
            openai_model: r
                .raw("OPENAI_MODEL")
                .unwrap_or_else(|| "gpt-4o-mini".into()),
            azure_endpoint: r
                .raw("AZURE_OPENAI_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_owned()),
            azure_api_key: r.raw("AZURE_OPENAI_API_KEY").map(Secret::new),
            azure_deployment: r.raw("AZURE_OPENAI_DEPLOYMENT"),
            azure_api_version: r
                .raw("AZURE_OPENAI_API_VERSION")
                .unwrap_or_else(|| "2024-06-01".into()),
            retry: crate::llm::retry::RetryPolicy {
                max_retries: r.parse(&["PROVIDER_MAX_RETRIES"], 3u32)?,
                base: Duration::from_millis(r.positive(&["PROVIDER_RETRY_BASE_MS"], 250u64)?),
                max_backoff: Duration::from_millis(
                    r.positive(&["PROVIDER_RETRY_MAX_MS"], 8000u64)?,
                ),
                retry_after_cap: r.secs(&["PROVIDER_RETRY_AFTER_CAP_SECONDS"], 30.0)?,
            },
            max_concurrency: r.positive(&["PROVIDER_MAX_CONCURRENCY"], 64usize)?,
            breaker: crate::llm::breaker::BreakerConfig {
                failure_ratio: {
                    let v = r.rate("PROVIDER_CB_FAILURE_RATIO", 0.5)?;
                    if v == 0.0 {
                        return Err(ConfigError::new(
                            "PROVIDER_CB_FAILURE_RATIO",
                            "must be greater than zero",
                        ));
                    }
                    v
                },
                window: r.positive(&["PROVIDER_CB_WINDOW"], 20usize)?,
                min_calls: r.positive(&["PROVIDER_CB_MIN_CALLS"], 10usize)?,
                open_for: r.secs(&["PROVIDER_CB_OPEN_SECONDS"], 10.0)?,
            },
        };
        if llm_provider == LlmProviderKind::Azure {
            for (var, present) in [
                ("AZURE_OPENAI_ENDPOINT", provider.azure_endpoint.is_some()),
                ("AZURE_OPENAI_API_KEY", provider.azure_api_key.is_some()),
                (
                    "AZURE_OPENAI_DEPLOYMENT",
                    provider.azure_deployment.is_some(),
                ),
            ] {
                if !present {
                    return Err(ConfigError::new(var, "required with LLM_PROVIDER=azure"));
                }
            }
        }
        let rag_force_mock = r.bool("RAG_FORCE_MOCK", false)?;
        let retriever = match r
            .raw("RETRIEVER_PROVIDER")
            .unwrap_or_else(|| "mock".into())
            .to_ascii_lowercase()
            .as_str()
        {
            _ if rag_force_mock => RetrieverKind::Mock,
            "mock" => RetrieverKind::Mock,
            "none" | "off" => RetrieverKind::None,
            "postgres" => RetrieverKind::Postgres,
            other => {
                return Err(ConfigError::new(
                    "RETRIEVER_PROVIDER",
                    format!("unsupported retriever {other:?} (supported: mock, none, postgres)"),
                ))
            }
        };

        let trusted_proxies = match r.raw("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>().map_err(|e| {
                        ConfigError::new("TRUSTED_PROXIES", format!("{s:?} is not an IP: {e}"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let database_url = match r.raw("DATABASE_URL") {
            Some(url) => url,
            None => {
                let user = r.raw("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
                let password = r.raw("POSTGRES_PASSWORD").unwrap_or_default();
                let host = r
                    .raw("POSTGRES_HOST")
                    .or_else(|| r.raw("POSTGRES_SERVER"))
                    .unwrap_or_else(|| "localhost".into());
                let port: u16 = r.parse(&["POSTGRES_PORT"], 5432)?;
                let db = r.raw("POSTGRES_DB").unwrap_or_else(|| "chatbot".into());
                if password.is_empty() {
                    format!("postgres://{user}@{host}:{port}/{db}")
                } else {
                    format!("postgres://{user}:{password}@{host}:{port}/{db}")
                }
            }
        };

        // The `MOCK_LLM_*` variables are defined (name, default, validation)
        // once, by the mock model, which the `mock-llm` server reads too.
        let mock_llm = ModelArgs::from_vars(|k| src.get(k))
            .map_err(|e| ConfigError::new(&e.var, e.message))?;

        let hash_concurrency: usize = r.positive(&["HASH_CONCURRENCY"], available_cores())?;
        let request_timeout = r.secs(&["REQUEST_TIMEOUT_SECONDS"], 120.0)?;
        let provider_timeout = r.secs(&["PROVIDER_TIMEOUT_SECONDS"], 60.0)?;
        let provider_deadline = provider_deadline(
            request_timeout,
            provider_timeout,
            match r.raw("PROVIDER_DEADLINE_SECONDS") {
                None => None,
                Some(v) => Some(v.parse::<f64>().map_err(|e| {
                    ConfigError::new(
                        "PROVIDER_DEADLINE_SECONDS",
                        format!("cannot parse {v:?}: {e}"),
                    )
                })?),
            },
        )?;

        Ok(Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            bind_addr: r.parse(&["BIND_ADDR"], SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            database_url: Secret::new(database_url),
            db_pool_size: r.positive(&["DB_POOL_SIZE", "SQLALCHEMY_POOL_SIZE"], 20u32)?,
            db_acquire_timeout: Duration::from_millis(
                r.positive(&["DB_ACQUIRE_TIMEOUT_MS"], 3000u64)?,
            ),
            run_migrations: r.bool("RUN_MIGRATIONS", true)?,
            worker_threads: r.positive(&["WORKER_THREADS"], available_cores())?,
            secret_key: Secret::new(secret_key),
            access_token_ttl: r.minutes("ACCESS_TOKEN_EXPIRE_MINUTES", 240)?,
            auth_cookie_secure: cookie_secure,
            auth_cookie_samesite: samesite,
            csrf_enforce: r.bool("CSRF_ENFORCE", true)?,
            hash_concurrency,
            hash_thread_nice: {
                let n: i32 = r.parse(&["HASH_THREAD_NICE"], 10)?;
                if !(0..=19).contains(&n) {
                    return Err(ConfigError::new(
                        "HASH_THREAD_NICE",
                        "must be between 0 and 19",
                    ));
                }
                n
            },
            hash_queue_max: r.positive(
                &["HASH_QUEUE_MAX"],
                HASH_QUEUE_PER_THREAD.saturating_mul(hash_concurrency),
            )?,
            argon2: argon2_from_source(src)?,
            chat_history_max_messages: r.parse(&["CHAT_HISTORY_MAX_MESSAGES"], 40u32)?,
            llm_provider,
            retriever,
            provider_timeout,
            provider_deadline,
            provider,
            mock_llm,
            rate_limits: RateLimits {
                enabled: r.bool("RATE_LIMIT_ENABLED", !is_test)?,
                login_per_minute: r.positive(&["RATE_LIMIT_LOGIN_PER_MINUTE"], 20u32)?,
                register_per_minute: r.positive(&["RATE_LIMIT_REGISTER_PER_MINUTE"], 10u32)?,
                chat_per_minute: r.positive(&["RATE_LIMIT_CHAT_PER_MINUTE"], 60u32)?,
                trusted_proxies,
            },
            request_timeout,
            max_body_bytes: r.positive(&["MAX_BODY_BYTES"], 64 * 1024usize)?,
            stream_artificial_delay: Duration::from_millis(
                r.parse(&["STREAM_ARTIFICIAL_DELAY_MS"], 0u64)?,
            ),
            shutdown_drain: r.secs(&["SHUTDOWN_DRAIN_SECONDS"], 25.0)?,
            app_env,
        })
    }

    pub fn is_test(&self) -> bool {
        self.app_env == "test"
    }
}

#[cfg(test)]
mod tests;
