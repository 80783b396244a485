//! Metrics as vLLM exports them, so dashboards and alerts built for a vLLM
//! deployment read the mock unchanged: the running and waiting gauges, and
//! the latency histograms with vLLM's own bucket bounds (vLLM
//! `v1/metrics/loggers.py`), labelled `model_name` as vLLM labels them.
//!
//! Histograms count in fixed buckets with atomics: an observation is a few
//! relaxed adds, never a lock on the token path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// vLLM's `vllm:time_to_first_token_seconds` buckets.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's `vllm:inter_token_latency_seconds` buckets.
const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's request-latency buckets (`vllm:e2e_request_latency_seconds`,
/// `vllm:request_queue_time_seconds`).
const REQUEST_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// A Prometheus histogram over fixed bounds.
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for +Inf.
    counts: Vec<AtomicU64>,
    /// The sum, in nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        let mut total = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| format!("{b:?}"));
            out.push_str(&format!("{name}_bucket{{{labels},le=\"{le}\"}} {total}\n"));
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        out.push_str(&format!("{name}_sum{{{labels}}} {sum}\n"));
        out.push_str(&format!("{name}_count{{{labels}}} {total}\n"));
    }
}

/// The serving engine's metrics, fed by the chat handler.
pub struct Metrics {
    pub ttft: Histogram,
    pub itl: Histogram,
    pub e2e: Histogram,
    pub queue: Histogram,
    pub prompt_tokens: AtomicU64,
    pub generation_tokens: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(REQUEST_BUCKETS),
            queue: Histogram::new(REQUEST_BUCKETS),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn add_prompt(&self, tokens: u32) {
        self.prompt_tokens
            .fetch_add(u64::from(tokens), Ordering::Relaxed);
    }

    pub fn add_generated(&self, tokens: u32) {
        self.generation_tokens
            .fetch_add(u64::from(tokens), Ordering::Relaxed);
    }

    /// The `vllm:*` families in Prometheus's text format, with the batch's
    /// current `running` and `waiting` counts.
    pub fn render(&self, model: &str, running: usize, waiting: usize) -> String {
        let model = model.replace('\\', "\\\\").replace('"', "\\\"");
        let labels = format!("model_name=\"{model}\"");
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, v: String, kind: &str| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {v}\n"
            ));
        };
        gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            running.to_string(),
            "gauge",
        );
        gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            waiting.to_string(),
            "gauge",
        );
        gauge(
            "vllm:prompt_tokens_total",
            "Number of prefill tokens processed.",
            self.prompt_tokens.load(Ordering::Relaxed).to_string(),
            "counter",
        );
        gauge(
            "vllm:generation_tokens_total",
            "Number of generation tokens processed.",
            self.generation_tokens.load(Ordering::Relaxed).to_string(),
            "counter",
        );
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &labels,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            &labels,
        );
        self.queue.render(
            &mut out,
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            &labels,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_sum_and_count_add_up() {
        let m = Metrics::default();
        m.ttft.observe(Duration::from_millis(30));
        m.ttft.observe(Duration::from_millis(40));
        m.ttft.observe(Duration::from_secs(3000));
        let text = m.render("m", 2, 1);
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{needle}: {text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let ttft = "vllm:time_to_first_token_seconds";
        assert_eq!(
            line(&format!("{ttft}_bucket{{model_name=\"m\",le=\"0.02\"}}")),
            "0"
        );
        // A value on a bound counts in that bucket (le: less or equal).
        assert_eq!(
            line(&format!("{ttft}_bucket{{model_name=\"m\",le=\"0.04\"}}")),
            "2"
        );
        assert_eq!(
            line(&format!("{ttft}_bucket{{model_name=\"m\",le=\"2560.0\"}}")),
            "2"
        );
        assert_eq!(
            line(&format!("{ttft}_bucket{{model_name=\"m\",le=\"+Inf\"}}")),
            "3"
        );
        assert_eq!(line(&format!("{ttft}_count")), "3");
        assert_eq!(line(&format!("{ttft}_sum")), "3000.07");
        assert_eq!(line("vllm:num_requests_running"), "2");
        assert_eq!(line("vllm:num_requests_waiting"), "1");
    }
}
