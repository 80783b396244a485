//! A Prometheus endpoint for the scrape tests: its text changes with every
//! answer, so each scrape can be told apart in the series.

use super::serve;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A metrics endpoint whose `k`-th answer (from 0) says: 10·k provider
/// calls of 200 ms each, `k` connections checked out of 8, 0.25·k CPU
/// seconds, 64 MiB resident.
pub async fn metrics_server() -> (String, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                let k = n.fetch_add(1, Ordering::SeqCst);
                let calls = 10 * k;
                format!(
                    "# TYPE chatbot_db_pool_checked_out gauge\nchatbot_db_pool_checked_out {k}\n\
                     chatbot_db_pool_max 8\n\
                     # TYPE chatbot_provider_calls_total counter\n\
                     chatbot_provider_calls_total{{provider=\"mock\"}} {calls}\n\
                     # TYPE chatbot_provider_latency_seconds histogram\n\
                     chatbot_provider_latency_seconds_bucket{{provider=\"mock\",le=\"+Inf\"}} {calls}\n\
                     chatbot_provider_latency_seconds_sum{{provider=\"mock\"}} {}\n\
                     chatbot_provider_latency_seconds_count{{provider=\"mock\"}} {calls}\n\
                     process_cpu_seconds_total {}\nprocess_resident_memory_bytes 67108864\n",
                    0.2 * calls as f64,
                    0.25 * k as f64,
                )
            }),
        )
        .with_state(Arc::clone(&served));
    (format!("http://{}/metrics", serve(router).await), served)
}
