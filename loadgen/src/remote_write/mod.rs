//! `--prometheus-rw URL`: loadgen's running totals pushed to a Prometheus
//! remote-write receiver (Prometheus with `--web.enable-remote-write-receiver`,
//! Mimir, Thanos, VictoriaMetrics, Grafana Cloud) every `--interval` and
//! once more at the end, on its own task: a slow or failing receiver never
//! slows the VUs, and a failed push is counted and told once, never fatal.
//! What is sent is in [`series`]; every series carries the `shard` label
//! (the execution segment, `1/4:2/4`; `0:1` for a whole test) and the `--tag`s, so many shards sum in
//! PromQL as `loadgen merge` sums their summaries.
//!
//! Counters are cumulative since the start, so a push that fails or is
//! skipped (the previous one still in flight) loses no count: the next one
//! carries it.

pub mod native;
pub mod proto;
pub mod series;

use crate::http::Client;
use crate::scrape::Endpoint;
use crate::stats::Collector;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use hyper::Method;
use prost::Message as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct Config {
    /// The receiver (`http://host:9090/api/v1/write`).
    pub endpoint: Endpoint,
    /// Labels on every series (`shard`, `--tag`s), sorted by name.
    pub labels: Vec<(String, String)>,
    /// Native histograms instead of classic buckets.
    pub native: bool,
}

/// How the pushes went, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub url: String,
    pub pushes: u64,
    pub failed: u64,
    pub series: usize,
    pub last_error: Option<String>,
}

/// A running writer; [`Running::finish`] makes the final push.
pub struct Running {
    task: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
    state: Arc<Mutex<State>>,
    config: Arc<Config>,
    collector: Collector,
    timeout: Duration,
}

struct State {
    client: Option<Client>,
    outcome: Outcome,
}

/// A receiver's answer to a push takes at most this.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts pushing every `interval`.
pub fn start(config: Config, collector: Collector, interval: Duration) -> Running {
    let config = Arc::new(config);
    let state = Arc::new(Mutex::new(State {
        client: Some(Client::new(
            Arc::clone(&config.endpoint.target),
            PUSH_TIMEOUT,
        )),
        outcome: Outcome {
            url: config.endpoint.url.clone(),
            ..Outcome::default()
        },
    }));
    let stop = Arc::new(tokio::sync::Notify::new());
    let task = {
        let (state, config, collector) =
            (Arc::clone(&state), Arc::clone(&config), collector.clone());
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            // Behind (a slow receiver): skip, the next push carries the counts.
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            ticker.tick().await;
            loop {
                // A push under way finishes before the stop is seen: the
                // final push needs the client back.
                tokio::select! {
                    _ = ticker.tick() => push(&state, &config, &collector).await,
                    _ = stop.notified() => break,
                }
            }
        })
    };
    Running {
        task,
        stop,
        state,
        config,
        collector,
        timeout: PUSH_TIMEOUT,
    }
}

impl Running {
    /// Stops the ticks and pushes the final totals.
    pub async fn finish(self) -> Outcome {
        self.stop.notify_one();
        let mut task = self.task;
        if tokio::time::timeout(self.timeout + Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        let _ = tokio::time::timeout(
            self.timeout + Duration::from_secs(1),
            push(&self.state, &self.config, &self.collector),
        )
        .await;
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.outcome.clone()
    }
}

async fn push(state: &Mutex<State>, config: &Config, collector: &Collector) {
    // One push at a time: the client is taken out for the push.
    let Some(mut client) = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .client
        .take()
    else {
        return;
    };
    let aggregate = collector.snapshot();
    let timestamp = chrono::Utc::now().timestamp_millis();
    let request = series::build(
        &series::Snapshot {
            aggregate: &aggregate,
            vus: collector.gauges.active(),
            vus_max: collector.gauges.max(),
            timestamp,
        },
        &config.labels,
        config.native,
    );
    let n = request.timeseries.len();
    let result = send(&mut client, &config.endpoint.path, &request).await;
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    s.client = Some(client);
    s.outcome.pushes += 1;
    s.outcome.series = n;
    if let Err(why) = result {
        if s.outcome.last_error.is_none() {
            eprintln!(
                "\nloadgen: warning: remote write to {} failed: {why} (counted; the run goes on)",
                s.outcome.url
            );
        }
        s.outcome.failed += 1;
        s.outcome.last_error = Some(why);
    }
}

async fn send(
    client: &mut Client,
    path: &str,
    request: &proto::WriteRequest,
) -> Result<(), String> {
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .map_err(|e| format!("snappy: {e}"))?;
    let headers = [
        (CONTENT_ENCODING, HeaderValue::from_static("snappy")),
        (
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        ),
        (
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        ),
        (
            USER_AGENT,
            HeaderValue::from_static(concat!("loadgen/", env!("CARGO_PKG_VERSION"))),
        ),
    ];
    let ex = client
        .send(Method::POST, path, &headers, Some(Bytes::from(body)), 4096)
        .await;
    let reply = ex.result.map_err(|kind| format!("no answer ({kind})"))?;
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&reply.body);
        Err(format!("answered {}: {}", reply.status, text.trim()))
    }
}
