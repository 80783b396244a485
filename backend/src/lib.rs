//! chatbench's reference chatbot API.
//!
//! Layout:
//! - `config`: typed configuration from the environment, read once.
//! - `error`, `extract`: the error wire format and extractors that use it.
//! - `auth`: argon2id hashing off the async workers, JWT + CSRF, `/api/auth`.
//! - `chat`: sessions and the chat turn (`chat::turn`, the hot path).
//! - `llm`, `retriever`: providers behind traits, mock implementations.
//! - `db`: SQL in small named functions; `MIGRATOR` for the shared migrations.
//! - `http`: middleware, health/metrics/stats, the OpenAPI document;
//!   `metrics` (the Prometheus registry) and `process_metrics` (CPU, memory
//!   and descriptors of the process, in the usual `process_*` names).
//! - `testing` (feature `test-support`, tests only): a fresh database per
//!   test and the app spawned on port 0.
//!
//! The mock model (`MOCK_LLM_*`) lives in the `mock-llm` crate's `mockmodel`,
//! shared with the `mock-llm` server; throwaway clusters in the `pgtemp` crate.
//!
//! `Application::build` connects, migrates and binds; `run_until` serves
//! until the shutdown future resolves, letting in-flight requests finish
//! for at most `SHUTDOWN_DRAIN_SECONDS` (`shutdown`: open chat streams end
//! with an error event at that deadline).

pub mod auth;
pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod llm;
pub mod metrics;
pub mod process_metrics;
pub mod rate_limit;
pub mod retriever;
pub mod shutdown;
pub mod state;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;

use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenService;
use crate::config::{Config, LlmProviderKind, RetrieverKind};
use crate::llm::{LlmProvider, MockLlm};
use crate::metrics::Metrics;
use crate::rate_limit::Limiters;
use crate::retriever::{MockRetriever, NoRetriever, Retriever};
use crate::state::{AppState, Inner};

/// Replacements for the configured components (tests inject failing or
/// instrumented providers this way).
#[derive(Default)]
pub struct Overrides {
    pub llm: Option<Arc<dyn LlmProvider>>,
    pub retriever: Option<Arc<dyn Retriever>>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

/// Builds the router around a state: routes, then middleware (outermost
/// last): body limit, timeout, panics, JSON error fallback, HTTP metrics,
/// the request span and its log line, then the request id: an invalid
/// incoming one dropped, a UUID made when there is none, and the id copied
/// onto every response.
pub fn router(state: AppState) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    use tower::util::MapRequestLayer;
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    let max_body = state.config.max_body_bytes;
    // Every route comes with its OpenAPI operation (`http::openapi::api`).
    let (routes, _document) = http::openapi::api().split_for_parts();
    routes
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(state.clone(), http::middleware::timeout))
        .layer(CatchPanicLayer::custom(http::middleware::panic_response))
        .layer(from_fn(http::middleware::json_errors))
        .layer(from_fn_with_state(state.clone(), http::middleware::observe))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http::middleware::request_span)
                .on_request(())
                .on_response(http::middleware::log_response)
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(MapRequestLayer::new(
            http::middleware::drop_invalid_request_id,
        ))
        .with_state(state)
}

/// Connects to the database, retrying for a while: in compose the API may
/// start a moment before Postgres accepts connections.
async fn wait_for_database(pool: &sqlx::PgPool, patience: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        match db::ping(pool).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not ready, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        let pool = db::pool(
            config.database_url.expose(),
            config.db_pool_size,
            config.db_acquire_timeout,
        )
        .context("DATABASE_URL is not a valid Postgres URL")?;
        if config.run_migrations {
            wait_for_database(&pool, Duration::from_secs(30)).await?;
            db::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
        }
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("binding BIND_ADDR={}", config.bind_addr))?;
        let metrics = Metrics::new().context("registering metrics")?;
        metrics
            .chat_history_max_messages
            .set(i64::from(config.chat_history_max_messages));
        let llm: Arc<dyn LlmProvider> = match overrides.llm {
            Some(l) => l,
            None => match config.llm_provider {
                LlmProviderKind::Mock => Arc::new(MockLlm::new(config.mock_llm.clone())),
                kind @ (LlmProviderKind::OpenAi | LlmProviderKind::Azure) => {
                    Arc::new(llm::openai::OpenAiProvider::new(
                        kind,
                        &config.provider,
                        config.provider_timeout,
                        config.provider_deadline,
                        metrics.clone(),
                    )?)
                }
            },
        };
        let retriever: Arc<dyn Retriever> = match overrides.retriever {
            Some(r) => r,
            None => match config.retriever {
                RetrieverKind::Mock => Arc::new(MockRetriever),
                RetrieverKind::None => Arc::new(NoRetriever),
                RetrieverKind::Postgres => {
                    Arc::new(retriever::postgres::PgRetriever::new(pool.clone()))
                }
            },
        };
        let state = AppState::new(Inner {
            hasher: PasswordHasher::with_limits(
                config.argon2,
                config.hash_concurrency,
                config.hash_thread_nice,
                config.hash_queue_max,
            )?,
            tokens: TokenService::new(config.secret_key.expose(), config.access_token_ttl),
            metrics,
            limits: Limiters::new(&config.rate_limits),
            started: Instant::now(),
            drain: shutdown::Drain::default(),
            llm,
            retriever,
            pool,
            config,
        });
        Ok(Self {
            router: router(state.clone()),
            listener,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish, for at most the drain deadline
    /// (`SHUTDOWN_DRAIN_SECONDS`): then open chat streams are told to end
    /// (an `error` event, `shutting_down`), given [`STREAM_END_GRACE`] to
    /// write it, and whatever is still open is abandoned. Finally closes
    /// the pool, bounded the same way.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let drain_for = state.config.shutdown_drain;
        let (signalled, heard) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signalled.send(());
        })
        .into_future();
        tokio::pin!(serve);
        // Armed only once the signal is heard; a serve that ends on its own
        // (an accept error) never waits for it.
        let deadline = async move {
            if heard.await.is_err() {
                return std::future::pending().await;
            }
            tokio::time::sleep(drain_for).await;
        };
        tokio::select! {
            served = &mut serve => served?,
            () = deadline => {
                tracing::warn!(
                    drain_seconds = drain_for.as_secs_f64(),
                    "drain deadline passed: ending open streams"
                );
                state.drain.expire();
                match tokio::time::timeout(STREAM_END_GRACE, &mut serve).await {
                    Ok(served) => served?,
                    Err(_) => tracing::warn!(
                        "connections still open after the drain deadline: abandoned"
                    ),
                }
            }
        }
        // A request abandoned above may still hold a connection: closing
        // waits for it, so bound the wait too.
        let pool = state.pool.clone();
        if tokio::time::timeout(STREAM_END_GRACE, pool.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still checked out at exit");
        }
        Ok(())
    }
}

/// How long open streams get, after the drain deadline, to write their
/// `shutting_down` event and close; also the bound on closing the pool.
pub const STREAM_END_GRACE: Duration = Duration::from_millis(500);

/// The SIGTERM/SIGINT future `main` passes to `run_until`; defined once in
/// `mock-llm` (which the backend already depends on) and shared with the
/// mock server.
pub use mock_llm::signal::shutdown_signal;
