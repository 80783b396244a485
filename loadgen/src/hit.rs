//! `loadgen hit URL`: one URL, `-c` connections, for `-d` or `-n` requests,
//! like wrk or oha, on the same engine, statistics and summary as `run`
//! (phase `hit`, endpoint `GET <path>`). For calibrating the bench itself,
//! so there is no guard; only `http://` URLs are accepted.
//!
//! Without `--rate` it is a closed model: each connection sends its next
//! request when the previous one is answered. With `--rate N` it is an open
//! model in wrk2's way: connection `i` of `c` is given send times
//! `start + (k + i/c) * c/N`, and latency is measured from the *scheduled*
//! send time, so a server that falls behind shows its queueing in the
//! percentiles instead of silently slowing the generator (no coordinated
//! omission). If `c` connections cannot carry `N`/s the achieved req/s in
//! the summary is lower than asked, and the latencies say why; the sends
//! that were due before the end but never made (their connection still
//! busy) are counted as `dropped_iterations`, so intended = made + dropped
//! (+ the requests in flight at the end, which are interrupted, as k6's).
//!
//! Requests go through [`crate::wire`], a lean HTTP/1.1 client made for this
//! one fixed GET (the journey uses [`crate::http`]): `hit` is what loadgen
//! is compared with wrk and oha on, so its per-request cost is kept down.

use crate::engine::{Vu, Workload};
use crate::http::Target;
use crate::stats::{Name, Record, Recorder, RequestRecord};
use crate::wire;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hit workload: each VU GETs the path in a loop on its own connection.
#[derive(Debug)]
pub struct Hit {
    target: Arc<Target>,
    /// The request bytes, built once and shared by every connection.
    request: Arc<[u8]>,
    timeout: Duration,
    /// Requests left to hand out (`-n`); `None` when only time bounds the run.
    remaining: Option<AtomicU64>,
    phase: Name,
    endpoint: Name,
    /// Open model: time between two sends on one connection.
    pace: Option<Duration>,
    connections: u32,
}

impl Hit {
    /// A workload for `GET path` on `target`, optionally `requests` in
    /// total, optionally paced to `rate` requests per second over
    /// `connections` connections.
    pub fn new(
        target: Arc<Target>,
        path: String,
        timeout: Duration,
        requests: Option<u64>,
        rate: Option<f64>,
        connections: u32,
    ) -> Self {
        let endpoint: Name = format!("GET {path}").into();
        let connections = connections.max(1);
        Hit {
            request: wire::get_request(&target, &path),
            target,
            timeout,
            remaining: requests.map(AtomicU64::new),
            phase: "hit".into(),
            endpoint,
            pace: rate
                .filter(|r| *r > 0.0 && r.is_finite())
                .map(|r| Duration::from_secs_f64(f64::from(connections) / r)),
            connections,
        }
    }

    /// Takes one request from the budget; false when it is spent.
    fn take(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(r) => r
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// The next send time of a paced connection; when the connection ends
/// (stopped, or interrupted at the deadline) the sends already due are
/// recorded as dropped.
struct Pace {
    next: Instant,
    every: Duration,
    recorder: Recorder,
    /// Only a run bounded by time owes its schedule; with `-n` the count is
    /// what is owed, and late sends are still made.
    counts_drops: bool,
}

impl Drop for Pace {
    fn drop(&mut self) {
        let now = Instant::now();
        if self.counts_drops && self.next <= now && !self.every.is_zero() {
            let behind = now.duration_since(self.next).as_nanos() / self.every.as_nanos();
            let count = u64::try_from(behind).unwrap_or(u64::MAX).saturating_add(1);
            self.recorder.record(Record::Dropped { count });
        }
    }
}

async fn run_vu(hit: Arc<Hit>, mut vu: Vu) {
    let mut client = wire::Client::new(
        Arc::clone(&hit.target),
        Arc::clone(&hit.request),
        hit.timeout,
    );
    // Open model: stagger the connections evenly over one pace interval.
    let mut next = hit.pace.map(|p| Pace {
        next: Instant::now()
            + p.mul_f64(f64::from(vu.id % hit.connections) / f64::from(hit.connections)),
        every: p,
        recorder: vu.recorder(),
        counts_drops: hit.remaining.is_none(),
    });
    while !vu.stopping() {
        let scheduled = match (next.as_mut(), hit.pace) {
            (Some(pace_state), Some(pace)) => {
                let at = &mut pace_state.next;
                let scheduled = *at;
                *at += pace;
                let now = Instant::now();
                if scheduled > now && !vu.pause(scheduled - now).await {
                    break;
                }
                Some(scheduled)
            }
            _ => None,
        };
        if !hit.take() {
            break;
        }
        // Open model: count from the scheduled send time, so time spent
        // queued behind a slow server is part of the latency. (The closed
        // model needs no extra clock reading.)
        let called = scheduled.map(|s| (s, Instant::now()));
        let ex = client.send().await;
        let lag = called.map_or(Duration::ZERO, |(s, called)| {
            called.saturating_duration_since(s) + ex.setup
        });
        vu.record(Record::Request(RequestRecord {
            phase: hit.phase.clone(),
            endpoint: hit.endpoint.clone(),
            status: ex.result.ok(),
            error: ex.result.err(),
            duration: ex.duration + lag,
            waiting: ex.waiting + lag,
            bytes_sent: ex.bytes_sent,
            bytes_received: ex.bytes_received,
        }));
        vu.record(Record::Iteration {
            duration: ex.duration + lag,
            lateness: called.map(|(s, called)| called.saturating_duration_since(s)),
        });
        if ex.result.is_err() && hit.pace.is_none() {
            // A refused connection fails in microseconds; do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Workload for Hit {
    fn run_vu(self: Arc<Self>, vu: Vu) -> impl Future<Output = ()> + Send + 'static {
        run_vu(self, vu)
    }

    fn exhausted(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|r| r.load(Ordering::SeqCst) == 0)
    }
}
