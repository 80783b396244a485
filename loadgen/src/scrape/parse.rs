//! One scrape's Prometheus text reduced to the figures loadgen charts
//! ([`Reading`]): the text is parsed by `prometheus-parse`, then the
//! chatbench backend's metrics (`chatbot_*`), mock-llm's (`mock_llm_*`)
//! and any exporter's process metrics (`process_*`) are picked out by name.
//!
//! Label sets are added together (every provider's calls, every retry
//! reason), except the circuit breaker, whose worst provider counts, and
//! the HTTP latency histogram, of which only the chat routes count. A
//! labelled `chatbot_*` counter or histogram that has seen nothing yet is
//! not exported at all by the backend, so on an endpoint that is the
//! backend (it exports `chatbot_*` metrics) an absent one reads 0; on any
//! other endpoint absent means unknown (`None`).

use prometheus_parse::{Sample, Scrape, Value};

/// The routes whose server-side time is a chat turn's.
pub const CHAT_ROUTES: [&str; 2] = ["/api/chat/chat", "/api/chat/stream"];

/// A histogram's running sum and count (exact means come from their
/// increases, no bucket interpolation).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SumCount {
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

/// What one scrape said, `None` where the endpoint did not export it.
/// Gauges are values at the scrape; counters and histograms are running
/// totals (the rates come from two readings, [`super::derive`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub db_pool_size: Option<f64>,
    pub db_pool_checked_out: Option<f64>,
    pub db_pool_max: Option<f64>,
    pub db_pool_usage_ratio: Option<f64>,
    pub http_in_flight: Option<f64>,
    pub chat: Option<SumCount>,
    pub provider_calls: Option<f64>,
    pub provider_latency: Option<SumCount>,
    pub provider_errors: Option<f64>,
    pub provider_429: Option<f64>,
    pub provider_retries: Option<f64>,
    pub breaker_state: Option<f64>,
    pub breaker_opened: Option<f64>,
    pub hash_queue_depth: Option<f64>,
    pub hash_in_flight: Option<f64>,
    pub hash: Option<SumCount>,
    pub history: Option<SumCount>,
    pub history_max: Option<f64>,
    pub rate_limited: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub host_cpus: Option<f64>,
    pub rss_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub upstream_requests: Option<f64>,
    pub upstream_429: Option<f64>,
    pub upstream_errors: Option<f64>,
    pub upstream_tokens: Option<f64>,
    /// A serving engine's batch: vLLM's `vllm:num_requests_running` (a
    /// real vLLM, or mock-llm), else the backend's in-process mock's.
    pub model_running: Option<f64>,
    /// ... and the requests waiting for a place in it.
    pub model_waiting: Option<f64>,
}

fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => {
            Some(*x).filter(|x| x.is_finite())
        }
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}

/// The samples of one scrape, looked up by name.
struct Samples(Vec<Sample>);

impl Samples {
    fn matching<'a>(
        &'a self,
        name: &'a str,
        keep: impl Fn(&Sample) -> bool + 'a,
    ) -> impl Iterator<Item = f64> + 'a {
        self.0
            .iter()
            .filter(move |s| s.metric == name && keep(s))
            .filter_map(|s| scalar(&s.value))
    }

    /// The sum over every label set, `None` when there is none.
    fn sum(&self, name: &str) -> Option<f64> {
        self.sum_where(name, |_| true)
    }

    fn sum_where(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> Option<f64> {
        self.matching(name, keep)
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    }

    fn max(&self, name: &str) -> Option<f64> {
        self.matching(name, |_| true)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            })
    }

    /// A histogram's `_sum` and `_count` over the label sets `keep` accepts.
    fn histogram(&self, name: &str, keep: impl Fn(&Sample) -> bool + Copy) -> Option<SumCount> {
        let sum = self.sum_where(&format!("{name}_sum"), keep)?;
        let count = self.sum_where(&format!("{name}_count"), keep)?;
        Some(SumCount { sum, count })
    }
}

/// Parses Prometheus text; `Err` when it holds no sample at all (an HTML
/// page, an error text: not a metrics endpoint).
pub fn parse(text: &str) -> Result<Reading, String> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(colons_out(l))))
        .map_err(|e| format!("unreadable metrics text: {e}"))?;
    if scrape.samples.is_empty() {
        return Err("no Prometheus samples in the answer".into());
    }
    Ok(reading(&Samples(scrape.samples)))
}

/// `l` with `:` in its metric name turned into `_`: prometheus-parse
/// matches names as `\w+`, so it would drop vLLM's `vllm:num_requests_*`
/// lines (colons are legal in Prometheus names). Labels and values are left
/// alone; `vllm:x` is then read as `vllm_x`.
fn colons_out(l: &str) -> String {
    let (head, name_start) = if let Some(rest) = l.strip_prefix("# TYPE ") {
        ("# TYPE ", rest)
    } else if let Some(rest) = l.strip_prefix("# HELP ") {
        ("# HELP ", rest)
    } else if l.starts_with('#') {
        return l.to_owned();
    } else {
        ("", l)
    };
    let end = name_start
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(name_start.len());
    let (name, rest) = name_start.split_at(end);
    format!("{head}{}{rest}", name.replace(':', "_"))
}

fn reading(s: &Samples) -> Reading {
    let backend = s.0.iter().any(|x| x.metric.starts_with("chatbot_"));
    // See the module documentation: the backend leaves out a labelled
    // series until its first event.
    let zero_if_backend = |v: Option<f64>| v.or(backend.then_some(0.0));
    let hist_if_backend = |v: Option<SumCount>| v.or(backend.then_some(SumCount::default()));
    let chat_route = |x: &Sample| {
        x.labels
            .get("path")
            .is_some_and(|p| CHAT_ROUTES.contains(&p))
    };
    Reading {
        db_pool_size: s.sum("chatbot_db_pool_size"),
        db_pool_checked_out: s.sum("chatbot_db_pool_checked_out"),
        db_pool_max: s.sum("chatbot_db_pool_max"),
        db_pool_usage_ratio: s.max("chatbot_db_pool_usage_ratio"),
        http_in_flight: s.sum("chatbot_http_requests_in_progress"),
        chat: hist_if_backend(s.histogram("chatbot_http_request_latency_seconds", chat_route)),
        provider_calls: zero_if_backend(s.sum("chatbot_provider_calls_total")),
        provider_latency: hist_if_backend(
            s.histogram("chatbot_provider_latency_seconds", |_| true),
        ),
        provider_errors: zero_if_backend(s.sum("chatbot_provider_errors_total")),
        provider_429: zero_if_backend(s.sum("chatbot_provider_429_total")),
        provider_retries: zero_if_backend(s.sum("chatbot_provider_retries_total")),
        breaker_state: s.max("chatbot_provider_circuit_state"),
        breaker_opened: s.sum("chatbot_provider_circuit_opened_total"),
        hash_queue_depth: s.sum("chatbot_password_hash_queue_depth"),
        hash_in_flight: s.sum("chatbot_password_hash_in_flight"),
        hash: s.histogram("chatbot_password_hash_seconds", |_| true),
        history: s.histogram("chatbot_chat_history_messages", |_| true),
        history_max: s.max("chatbot_chat_history_max_messages"),
        rate_limited: zero_if_backend(s.sum("chatbot_rate_limited_total")),
        cpu_seconds: s.sum("process_cpu_seconds_total"),
        host_cpus: s.max("chatbot_host_cpus"),
        rss_bytes: s.sum("process_resident_memory_bytes"),
        open_fds: s.sum("process_open_fds"),
        upstream_requests: s.sum_where("mock_llm_requests_total", |x| {
            x.labels.get("route") == Some("chat_completions")
        }),
        upstream_429: s.sum("mock_llm_rate_limited_total"),
        upstream_errors: s.sum("mock_llm_errors_total"),
        upstream_tokens: s.sum_where("mock_llm_tokens_total", |x| {
            x.labels.get("kind") == Some("completion")
        }),
        model_running: s
            .sum("vllm_num_requests_running")
            .or_else(|| s.sum("chatbot_mock_llm_requests_running")),
        model_waiting: s
            .sum("vllm_num_requests_waiting")
            .or_else(|| s.sum("chatbot_mock_llm_requests_waiting")),
    }
}
