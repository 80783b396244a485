//! Prometheus metrics, under the original system's names.
//!
//! Request counts and latency are labelled by the matched route template
//! (`/api/chat/sessions/{session_id}`), never the raw path, so label
//! cardinality stays bounded whatever clients send. Pool and hashing gauges
//! are read at scrape time rather than maintained on every request.
//!
//! Besides the chatbot's own metrics, the registry carries the process's
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds`, read at scrape time by [`crate::process_metrics`]) and
//! `chatbot_host_cpus`, so a load generator scraping this endpoint can tell
//! a saturated CPU (CPU seconds per second near the CPU count) from a
//! saturated pool.

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// History sizes sent to the provider: a turn's context is capped by
/// CHAT_HISTORY_MAX_MESSAGES (40 by default; 0 = unlimited).
const HISTORY_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];

/// Latency buckets from 1 ms to 60 s: chat turns with a live LLM take seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub http_in_flight: IntGauge,
    pub db_pool_size: IntGauge,
    pub db_pool_checked_out: IntGauge,
    pub db_pool_checked_in: IntGauge,
    pub db_pool_usage_ratio: Gauge,
    pub db_pool_max: IntGauge,
    pub provider_calls: IntCounterVec,
    pub provider_latency: HistogramVec,
    pub provider_errors: IntCounterVec,
    pub provider_429: IntCounterVec,
    pub provider_retries: IntCounterVec,
    pub provider_breaker_state: IntGaugeVec,
    pub provider_breaker_opened: IntCounterVec,
    pub provider_oversized: IntCounterVec,
    pub provider_bytes_cut: IntCounterVec,
    pub first_token_latency: Histogram,
    pub hash_queue_depth: IntGauge,
    pub hash_in_flight: IntGauge,
    /// The in-process mock model's batch (`LLM_PROVIDER=mock`), as vLLM's
    /// `num_requests_running` / `num_requests_waiting`.
    pub mock_llm_running: IntGauge,
    pub mock_llm_waiting: IntGauge,
    pub hash_latency: Histogram,
    pub rate_limited: IntCounterVec,
    pub host_cpus: IntGauge,
    pub chat_history_messages: Histogram,
    pub chat_history_max_messages: IntGauge,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // Names are static and unique, so registration cannot collide.
    if let Err(e) = r.register(Box::new(c.clone())) {
        tracing::error!(error = %e, "metric registration failed");
    }
    c
}

fn register_process_collector(r: &Registry) {
    let registered =
        crate::process_metrics::ProcessCollector::new().and_then(|pc| r.register(Box::new(pc)));
    if let Err(e) = registered {
        tracing::error!(error = %e, "process metrics registration failed");
    }
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let hist = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        Ok(Self {
            http_requests: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_http_requests_total",
                        "HTTP requests by method, route and status",
                    ),
                    &["method", "path", "status_code"],
                )?,
            ),
            http_latency: reg(
                &r,
                HistogramVec::new(
                    hist(
                        "chatbot_http_request_latency_seconds",
                        "HTTP request latency by method and route",
                    ),
                    &["method", "path"],
                )?,
            ),
            http_in_flight: reg(
                &r,
                IntGauge::new("chatbot_http_requests_in_progress", "Requests being served")?,
            ),
            db_pool_size: reg(
                &r,
                IntGauge::new("chatbot_db_pool_size", "Open connections in the pool")?,
            ),
            db_pool_checked_out: reg(
                &r,
                IntGauge::new("chatbot_db_pool_checked_out", "Connections in use")?,
            ),
            db_pool_checked_in: reg(
                &r,
                IntGauge::new("chatbot_db_pool_checked_in", "Idle connections")?,
            ),
            db_pool_usage_ratio: reg(
                &r,
                Gauge::new(
                    "chatbot_db_pool_usage_ratio",
                    "Connections in use / pool maximum",
                )?,
            ),
            db_pool_max: reg(
                &r,
                IntGauge::new("chatbot_db_pool_max", "Pool maximum (DB_POOL_SIZE)")?,
            ),
            provider_calls: reg(
                &r,
                IntCounterVec::new(
                    Opts::new("chatbot_provider_calls_total", "LLM provider calls"),
                    &["provider"],
                )?,
            ),
            provider_latency: reg(
                &r,
                HistogramVec::new(
                    hist(
                        "chatbot_provider_latency_seconds",
                        "LLM provider call latency",
                    ),
                    &["provider"],
                )?,
            ),
            provider_errors: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_errors_total",
                        "LLM provider errors by kind",
                    ),
                    &["provider", "kind"],
                )?,
            ),
            provider_429: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_429_total",
                        "429 answers from the LLM provider",
                    ),
                    &["provider"],
                )?,
            ),
            provider_retries: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_retries_total",
                        "LLM provider retries by reason",
                    ),
                    &["provider", "reason"],
                )?,
            ),
            provider_breaker_state: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "chatbot_provider_circuit_state",
                        "Circuit breaker: 0 closed, 1 half-open, 2 open",
                    ),
                    &["provider"],
                )?,
            ),
            provider_breaker_opened: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_circuit_opened_total",
                        "Times the circuit breaker opened (from closed, or a failed half-open trial)",
                    ),
                    &["provider"],
                )?,
            ),
            provider_oversized: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_oversized_total",
                        "Provider answers past a size cap, by cap (completion_body, error_body, \
                         sse_line, sse_event, reply): refused with 502 or an error event, \
                         except error_body, whose excess is only left unread",
                    ),
                    &["provider", "limit"],
                )?,
            ),
            provider_bytes_cut: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_provider_bytes_cut_total",
                        "Bytes of provider answers read and then discarded at a size cap",
                    ),
                    &["provider"],
                )?,
            ),
            first_token_latency: reg(
                &r,
                Histogram::with_opts(hist(
                    "chatbot_chat_first_token_latency_seconds",
                    "Time to the first streamed token",
                ))?,
            ),
            hash_queue_depth: reg(
                &r,
                IntGauge::new(
                    "chatbot_password_hash_queue_depth",
                    "Password hashes waiting for a slot",
                )?,
            ),
            hash_in_flight: reg(
                &r,
                IntGauge::new("chatbot_password_hash_in_flight", "Password hashes running")?,
            ),
            mock_llm_running: reg(
                &r,
                IntGauge::new(
                    "chatbot_mock_llm_requests_running",
                    "The in-process mock model's requests in its batch (vllm:num_requests_running)",
                )?,
            ),
            mock_llm_waiting: reg(
                &r,
                IntGauge::new(
                    "chatbot_mock_llm_requests_waiting",
                    "The in-process mock model's requests waiting for a batch slot \
                     (vllm:num_requests_waiting)",
                )?,
            ),
            hash_latency: reg(
                &r,
                Histogram::with_opts(hist(
                    "chatbot_password_hash_seconds",
                    "Password hash or verify time, queueing included",
                ))?,
            ),
            rate_limited: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "chatbot_rate_limited_total",
                        "Requests answered 429 by the rate limiter",
                    ),
                    &["route"],
                )?,
            ),
            host_cpus: reg(&r, {
                let g = IntGauge::new("chatbot_host_cpus", "CPUs this process may use")?;
                // Fixed for the process's life (cgroup quota and affinity
                // included), so set once rather than at every scrape.
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                g.set(i64::try_from(cpus).unwrap_or(i64::MAX));
                g
            }),
            chat_history_messages: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "chatbot_chat_history_messages",
                        "History messages sent to the provider with a chat turn",
                    )
                    .buckets(HISTORY_BUCKETS.to_vec()),
                )?,
            ),
            chat_history_max_messages: reg(
                &r,
                IntGauge::new(
                    "chatbot_chat_history_max_messages",
                    "CHAT_HISTORY_MAX_MESSAGES (0 = unlimited)",
                )?,
            ),
            registry: {
                register_process_collector(&r);
                r
            },
        })
    }

    pub fn observe_http(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[method, path, &status.to_string()])
            .inc();
        self.http_latency
            .with_label_values(&[method, path])
            .observe(elapsed.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
