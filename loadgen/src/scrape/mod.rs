//! Scraping the target's (and any other) Prometheus endpoints while the
//! load runs, so the report shows the server's side on the run's time
//! axis ([`crate::server::ServerSeries`]).
//!
//! - [`prepare`] takes one scrape of every endpoint before the load starts:
//!   the baseline of the totals and of the first rates. The default
//!   endpoint (`{base}/api/metrics`, not named by the user) is kept only if
//!   that scrape answered 200 with Prometheus text; otherwise one note says
//!   so and it is dropped. Endpoints named with `--scrape` are always kept.
//! - [`Prepared::start`] scrapes every `--interval` on one task per
//!   endpoint, off the engine's path; each scrape is bounded by
//!   [`scrape_timeout`]; a failure is counted (`failures`, `last_error`),
//!   never fatal, and never delays the run.
//! - [`Running::finish`] takes a last scrape once the load has stopped. A
//!   last scrape less than half an interval after the previous one replaces
//!   it, so no rate is taken over a sliver of time (the timeline folds a
//!   short last point the same way).
//!
//! `t_ms` is measured from the same start instant as the timeline
//! ([`crate::stats::timeline::Sampler`]); the baseline, taken just before
//! it, is at 0. Requests go through [`crate::http::Client`] (one keep-alive
//! connection per endpoint).

pub mod derive;
pub mod parse;
pub mod text;

#[cfg(test)]
mod tests;

use crate::http::{Client, Target};
use crate::server::{ScrapeTarget, ServerSeries};
use derive::Scraped;
use hyper::Method;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// The target's own metrics path, scraped unless `--no-scrape`.
pub const DEFAULT_PATH: &str = "/api/metrics";

/// Most points kept per endpoint, as the timeline keeps
/// ([`crate::stats::timeline::MAX_POINTS`]).
pub const MAX_POINTS: usize = crate::stats::timeline::MAX_POINTS;

/// The longest a scrape may take.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(2);

/// One endpoint to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as shown (and recorded in summary.json).
    pub url: String,
    /// Host and port.
    pub target: Arc<Target>,
    /// Path and query to GET.
    pub path: String,
    /// Named by the user (`--scrape`): kept whatever its first scrape
    /// says. The default endpoint is not.
    pub explicit: bool,
}

impl Endpoint {
    /// An `http://` URL to scrape.
    pub fn parse(url: &str, explicit: bool) -> Result<Endpoint, String> {
        let target = Target::parse(url)?;
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        };
        Ok(Endpoint {
            url: url.to_string(),
            target: Arc::new(Target {
                base_path: String::new(),
                ..target
            }),
            path,
            explicit,
        })
    }

    /// The default endpoint of a target: `{base}/api/metrics`.
    pub fn default_for(target: &Target) -> Endpoint {
        Endpoint {
            url: format!("{}{DEFAULT_PATH}", target.display()),
            target: Arc::new(target.clone()),
            path: DEFAULT_PATH.to_string(),
            explicit: false,
        }
    }
}

/// Below the interval, at most [`MAX_TIMEOUT`]: a slow endpoint costs one
/// point, never a pile of overlapping scrapes.
pub fn scrape_timeout(interval: Duration) -> Duration {
    interval.mul_f64(0.8).min(MAX_TIMEOUT)
}

/// What one endpoint said so far.
#[derive(Debug)]
struct State {
    scrapes: u64,
    failures: u64,
    last_error: Option<String>,
    /// Successful scrapes, in order, with their answer instants.
    ok: Vec<(Instant, parse::Reading)>,
    /// Scrape every `stride`-th tick (doubled each time the points are
    /// thinned, so they stay evenly spread).
    stride: u64,
    /// Most points kept (see [`State::record`]).
    cap: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            scrapes: 0,
            failures: 0,
            last_error: None,
            ok: Vec::new(),
            stride: 1,
            cap: MAX_POINTS,
        }
    }
}

impl State {
    /// Counts a scrape. Beyond `cap` points (a long run), every other one
    /// is dropped (the baseline kept) and scrapes become half as frequent,
    /// as the timeline merges its points: a day-long run's summary stays a
    /// few megabytes. Rates then span the longer stretch between the
    /// points kept; a gauge's value between two kept points is not seen.
    fn record(&mut self, at: Instant, result: Result<parse::Reading, String>) {
        self.scrapes += 1;
        match result {
            Ok(r) => self.ok.push((at, r)),
            Err(e) => {
                self.failures += 1;
                self.last_error = Some(e);
            }
        }
        if self.ok.len() > self.cap {
            let mut i = 0;
            self.ok.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
    }

    fn target(&self, url: &str, t0: Instant) -> ScrapeTarget {
        let origin = self.ok.first().map_or(t0, |(at, _)| *at);
        let scraped: Vec<Scraped> = self
            .ok
            .iter()
            .map(|(at, reading)| Scraped {
                t_ms: u64::try_from(at.saturating_duration_since(t0).as_millis())
                    .unwrap_or(u64::MAX),
                at_s: at.saturating_duration_since(origin).as_secs_f64(),
                reading: reading.clone(),
            })
            .collect();
        let mut target = ScrapeTarget {
            url: url.to_string(),
            scrapes: self.scrapes,
            failures: self.failures,
            last_error: self.last_error.clone(),
            ..ScrapeTarget::default()
        };
        derive::fill(&mut target, &scraped);
        target
    }
}

struct Shared {
    endpoint: Endpoint,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most of one metrics answer read: a chatbot backend's exposition is
/// tens of KiB, a large exporter's a few MiB. A larger answer is a failed
/// scrape (counted, its reason in `last_error`), never kept.
pub const MAX_SCRAPE_BODY: usize = 16 * 1024 * 1024;

/// One scrape: the reading, or why there is none.
async fn scrape_once(client: &mut Client, path: &str) -> Result<parse::Reading, String> {
    let ex = client
        .send(Method::GET, path, &[], None, MAX_SCRAPE_BODY)
        .await;
    if ex.cut > 0 {
        return Err(format!(
            "the answer passed {} MiB (the scrape cap) and was not read",
            MAX_SCRAPE_BODY / (1024 * 1024)
        ));
    }
    let reply = ex.result.map_err(|kind| {
        match kind {
            "connect" => "connection failed",
            "timeout" => "no answer within the scrape timeout",
            _ => "the connection broke",
        }
        .to_string()
    })?;
    if reply.status != 200 {
        return Err(format!("answered {}", reply.status));
    }
    let text = std::str::from_utf8(&reply.body).map_err(|_| "the answer is not UTF-8 text")?;
    parse::parse(text)
}

/// Endpoints scraped once before the load; [`Prepared::start`] goes on.
pub struct Prepared {
    shared: Vec<Arc<Shared>>,
    interval: Duration,
    timeout: Duration,
}

/// Takes the baseline scrape of every endpoint (at once); drops the
/// default endpoint when it did not answer with metrics, with one note on
/// stderr. `None` when no endpoint is left.
pub async fn prepare(endpoints: Vec<Endpoint>, interval: Duration) -> Option<Prepared> {
    let timeout = scrape_timeout(interval);
    let tasks: Vec<_> = endpoints
        .into_iter()
        .map(|endpoint| {
            tokio::spawn(async move {
                let mut client = Client::new(Arc::clone(&endpoint.target), timeout);
                let result = scrape_once(&mut client, &endpoint.path).await;
                (endpoint, Instant::now(), result)
            })
        })
        .collect();
    let mut shared = Vec::new();
    for task in tasks {
        let Ok((endpoint, at, result)) = task.await else {
            continue;
        };
        if let (false, Err(why)) = (endpoint.explicit, &result) {
            eprintln!(
                "loadgen: note: no metrics at {} ({why}); server-side series and rules off",
                endpoint.url
            );
            continue;
        }
        let mut state = State::default();
        state.record(at, result);
        shared.push(Arc::new(Shared {
            endpoint,
            state: Mutex::new(state),
        }));
    }
    (!shared.is_empty()).then_some(Prepared {
        shared,
        interval,
        timeout,
    })
}

impl Prepared {
    /// Scrapes every interval from `t0` (the run's start instant, the
    /// timeline's origin) until [`Running::finish`].
    pub fn start(self, t0: Instant) -> Running {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = self
            .shared
            .iter()
            .map(|s| {
                let (s, mut stop, every, timeout) =
                    (Arc::clone(s), stop_rx.clone(), self.interval, self.timeout);
                tokio::spawn(async move {
                    let mut client = Client::new(Arc::clone(&s.endpoint.target), timeout);
                    let mut ticker = tokio::time::interval_at(t0 + every, every);
                    // A scrape that ran late shifts the next ones; it never
                    // fires a burst at a slow endpoint.
                    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    let mut tick: u64 = 0;
                    loop {
                        tokio::select! {
                            _ = stop.changed() => break,
                            _ = ticker.tick() => {}
                        }
                        tick += 1;
                        if tick % s.lock().stride != 0 {
                            continue;
                        }
                        tokio::select! {
                            result = scrape_once(&mut client, &s.endpoint.path) => {
                                s.lock().record(Instant::now(), result);
                            }
                            // The run ended mid-scrape: this one is not
                            // counted (the last scrape follows).
                            _ = stop.changed() => break,
                        }
                    }
                })
            })
            .collect();
        Running {
            shared: self.shared,
            tasks,
            stop: stop_tx,
            t0,
            interval: self.interval,
            timeout: self.timeout,
        }
    }
}

/// Endpoints being scraped.
pub struct Running {
    shared: Vec<Arc<Shared>>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    t0: Instant,
    interval: Duration,
    timeout: Duration,
}

impl Running {
    /// The series so far (the live dashboard's).
    pub fn current(&self) -> ServerSeries {
        ServerSeries {
            targets: self
                .shared
                .iter()
                .map(|s| s.lock().target(&s.endpoint.url, self.t0))
                .collect(),
        }
    }

    /// Stops the periodic scrapes, takes the last one of every endpoint
    /// (at once) and returns the series.
    pub async fn finish(mut self) -> ServerSeries {
        self.stop.send_replace(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let last: Vec<_> =
            self.shared
                .iter()
                .map(|s| {
                    let (s, timeout, half) = (Arc::clone(s), self.timeout, self.interval / 2);
                    tokio::spawn(async move {
                        let mut client = Client::new(Arc::clone(&s.endpoint.target), timeout);
                        let result = scrape_once(&mut client, &s.endpoint.path).await;
                        let at = Instant::now();
                        let mut state = s.lock();
                        let short = state.ok.len() >= 2
                            && state.ok.last().is_some_and(|(prev, _)| {
                                at.saturating_duration_since(*prev) < half
                            });
                        if short && result.is_ok() {
                            state.ok.pop();
                            state.scrapes -= 1;
                        }
                        state.record(at, result);
                    })
                })
                .collect();
        for t in last {
            let _ = t.await;
        }
        self.current()
    }
}
