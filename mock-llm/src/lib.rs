//! `mock-llm`: an OpenAI-compatible mock LLM server, and the mock model it
//! shares with the backend.
//!
//! It stands in for OpenAI or Azure OpenAI when load-testing: replies and
//! their timing come from [`mockmodel::MockLlmConfig`] (the same model as the
//! backend's `mock` provider, which depends on this crate for it), keyed by
//! a hash of the request's messages, so a request gets the same reply
//! at low load. With a batch limit it saturates like a serving engine (one
//! [`mockmodel::Batch`] per server: requests wait for a slot or are refused
//! 429, decode slows as the batch fills), and `/metrics` serves vLLM's
//! metric names beside its own. Around it sit what
//! a real provider does to clients: Azure-style RPM/TPM budgets answered 429
//! with `Retry-After`, and injected faults (500s, 429 storms, hangs, error
//! events and cuts mid-stream). `/stats` counts it all, so tests can assert
//! how many attempts a client made.
//!
//! Layout:
//! - `mockmodel`: the seeded latency and content model and its `MOCK_LLM_*`
//!   variables, defined once for both programs.
//! - `config`: the server's flags over its variables (clap), parsed once;
//!   `layered` reads the variables for both.
//! - `wire`: request bodies read, OpenAI error bodies written.
//! - `limits`: the rolling-minute budgets.
//! - `vllm`: the `vllm:*` metrics (gauges and histograms with vLLM's buckets).
//! - `chat`, `embeddings`: the handlers.
//! - `signal`: the SIGTERM/SIGINT shutdown future, shared with the backend.
//!
//! Faults are drawn per admitted chat request from one ChaCha8 generator
//! seeded from `--seed`: a sequential client sees the same fault sequence on
//! every run; under concurrency only the arrival order varies which request
//! gets which draw, never the rates.

mod chat;
pub mod config;
mod embeddings;
mod layered;
pub mod limits;
pub mod mockmodel;
pub mod signal;
mod vllm;
mod wire;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Command, Config, ConfigError};
use limits::Budgets;
use mockmodel::Batch;

/// The server's shared state; cheap to clone.
#[derive(Clone)]
pub struct MockState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    budgets: Budgets,
    /// Running and waiting requests, for the whole server.
    batch: Batch,
    stats: Stats,
    vllm: vllm::Metrics,
    faults: Mutex<ChaCha8Rng>,
    /// Flips to `true` at shutdown, releasing hung requests so the graceful
    /// drain does not wait out a ten-minute hang.
    shutdown: watch::Sender<bool>,
}

impl std::ops::Deref for MockState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Which faults a request drew; the streaming ones apply to streams only.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    rate_429: bool,
    error_500: bool,
    hang: bool,
    midstream_error: bool,
    cut: bool,
}

impl MockState {
    pub fn new(config: Config) -> Self {
        // Offset from the content seed so fault draws and replies are not
        // correlated.
        let rng = ChaCha8Rng::seed_from_u64(config.llm.seed ^ 0x6d6f_636b_2d6c_6c6d);
        Self(Arc::new(Inner {
            budgets: Budgets::new(config.rpm, config.tpm),
            batch: Batch::new(config.llm.load.clone()),
            stats: Stats::default(),
            vllm: vllm::Metrics::default(),
            faults: Mutex::new(rng),
            shutdown: watch::channel(false).0,
            config,
        }))
    }

    /// The counters `/stats` serves, with the batch's current state.
    pub fn stats(&self) -> serde_json::Value {
        let mut v = self.stats.to_json();
        v["batch"] = json!({
            "running": self.batch.running(),
            "waiting": self.batch.waiting(),
        });
        v
    }

    /// Releases hung requests (answered 504) and refuses new hangs.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Every request draws all five, whatever applies, so the sequence of
    /// draws does not depend on the mix of streaming and whole requests.
    fn draw_faults(&self) -> Faults {
        let c = &self.config;
        let mut rng = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut hit = |rate: f64| rng.gen::<f64>() < rate;
        Faults {
            rate_429: hit(c.llm.rate_429),
            error_500: hit(c.llm.error_rate),
            hang: hit(c.hang_rate),
            midstream_error: hit(c.midstream_error_rate),
            cut: hit(c.cut_rate),
        }
    }

    /// Holds a request until the hang bound or shutdown, whichever is first.
    /// A client that gives up earlier drops the connection, and with it this
    /// future.
    async fn hang(&self) {
        let mut stop = self.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep(self.config.hang_for) => {}
            _ = stop.wait_for(|stopping| *stopping) => {}
        }
    }
}

/// Counters, relaxed: they are read for reporting only.
#[derive(Default)]
struct Stats {
    chat_completions: AtomicU64,
    streams: AtomicU64,
    embeddings: AtomicU64,
    models: AtomicU64,
    bad_requests: AtomicU64,
    completed: AtomicU64,
    rate_limited_rpm: AtomicU64,
    rate_limited_tpm: AtomicU64,
    injected_429: AtomicU64,
    /// Refused because the batch and its queue were full.
    queue_full: AtomicU64,
    errors_500: AtomicU64,
    hangs: AtomicU64,
    midstream_errors: AtomicU64,
    cuts: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl Stats {
    fn bump(&self, counter: &AtomicU64) {
        self.add(counter, 1);
    }

    fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (rpm, tpm, injected, queue) = (
            get(&self.rate_limited_rpm),
            get(&self.rate_limited_tpm),
            get(&self.injected_429),
            get(&self.queue_full),
        );
        let (e500, hang, mid, cut) = (
            get(&self.errors_500),
            get(&self.hangs),
            get(&self.midstream_errors),
            get(&self.cuts),
        );
        json!({
            "requests": get(&self.chat_completions) + get(&self.embeddings) + get(&self.models),
            "chat_completions": get(&self.chat_completions),
            "streams": get(&self.streams),
            "embeddings": get(&self.embeddings),
            "models": get(&self.models),
            "bad_requests": get(&self.bad_requests),
            "completed": get(&self.completed),
            "rate_limited": {
                "total": rpm + tpm + injected + queue,
                "rpm": rpm,
                "tpm": tpm,
                "injected": injected,
                "queue_full": queue,
            },
            "faults": {
                "total": injected + e500 + hang + mid + cut,
                "rate_429": injected,
                "error_500": e500,
                "hang": hang,
                "midstream_error": mid,
                "cut": cut,
            },
            "tokens": {
                "prompt": get(&self.prompt_tokens),
                "completion": get(&self.completion_tokens),
            },
        })
    }
}

/// A counter family of `/metrics`: name, help, (labels, value) samples.
type Family<'a> = (&'a str, &'a str, Vec<(&'a str, u64)>);

impl Stats {
    /// The same counters in Prometheus's text format (`GET /metrics`), so
    /// a load generator can scrape the mock beside the backend.
    fn to_prometheus(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let families: [Family<'_>; 5] = [
            (
                "mock_llm_requests_total",
                "Requests by route",
                vec![
                    ("route=\"chat_completions\"", get(&self.chat_completions)),
                    ("route=\"embeddings\"", get(&self.embeddings)),
                    ("route=\"models\"", get(&self.models)),
                ],
            ),
            (
                "mock_llm_completed_total",
                "Chat completions answered in full",
                vec![("", get(&self.completed))],
            ),
            (
                "mock_llm_rate_limited_total",
                "Requests answered 429, by reason",
                vec![
                    ("reason=\"rpm\"", get(&self.rate_limited_rpm)),
                    ("reason=\"tpm\"", get(&self.rate_limited_tpm)),
                    ("reason=\"injected\"", get(&self.injected_429)),
                    ("reason=\"queue_full\"", get(&self.queue_full)),
                ],
            ),
            (
                "mock_llm_errors_total",
                "Failed requests other than 429s, by kind",
                vec![
                    ("kind=\"bad_request\"", get(&self.bad_requests)),
                    ("kind=\"error_500\"", get(&self.errors_500)),
                    ("kind=\"hang\"", get(&self.hangs)),
                    ("kind=\"midstream_error\"", get(&self.midstream_errors)),
                    ("kind=\"cut\"", get(&self.cuts)),
                ],
            ),
            (
                "mock_llm_tokens_total",
                "Tokens charged, by kind",
                vec![
                    ("kind=\"prompt\"", get(&self.prompt_tokens)),
                    ("kind=\"completion\"", get(&self.completion_tokens)),
                ],
            ),
        ];
        let mut out = String::new();
        for (name, help, samples) in families {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (labels, v) in samples {
                if labels.is_empty() {
                    out.push_str(&format!("{name} {v}\n"));
                } else {
                    out.push_str(&format!("{name}{{{labels}}} {v}\n"));
                }
            }
        }
        out
    }
}

/// The routes: OpenAI's under `/v1`, Azure's deployment paths as aliases,
/// `/stats` (JSON) and `/metrics` (the same counters for Prometheus).
pub fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::openai))
        .route("/v1/embeddings", post(embeddings::openai))
        .route("/v1/models", get(models))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(chat::azure),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(embeddings::azure),
        )
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .fallback(not_found)
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves; hung requests are then
/// released and in-flight streams allowed to finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = MockState::new(config);
    let app = router(state.clone());
    // Tokens are tiny writes: without TCP_NODELAY, Nagle's algorithm would
    // hold them back and distort the inter-token latencies.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.begin_shutdown();
        })
        .await
}

async fn models(State(state): State<MockState>) -> Json<serde_json::Value> {
    state.stats.bump(&state.stats.models);
    Json(json!({
        "object": "list",
        "data": [{
            "id": state.config.model,
            "object": "model",
            "created": 0,
            "owned_by": "chatbench",
        }],
    }))
}

async fn stats(State(state): State<MockState>) -> Json<serde_json::Value> {
    Json(state.stats())
}

async fn metrics(State(state): State<MockState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.stats.to_prometheus()
            + &state.vllm.render(
                &state.config.model,
                state.batch.running(),
                state.batch.waiting(),
            ),
    )
}

async fn not_found(method: Method, uri: Uri) -> Response {
    wire::error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        &format!("Unknown request URL: {method} {}.", uri.path()),
    )
    .into_response()
}
