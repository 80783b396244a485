//! The tick that builds the time series while a run goes on: every
//! interval it takes what the collector's shards recorded since the last
//! tick ([`Collector::take_interval`]) and appends it as a point on a fixed
//! grid (`k * interval` from the start), so points of shards that ran at
//! the same time line up by their start offset.

use super::{Point, Timeline};
use crate::stats::Collector;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

struct State {
    timeline: Timeline,
    /// Index of the next interval on the grid.
    next: u64,
    /// Set by [`Sampler::finish`]: a tick that runs after it does nothing.
    closed: bool,
    /// The first error met (reported once, at the end).
    error: Option<String>,
}

/// A running sampler; [`Sampler::finish`] stops it and returns the series.
pub struct Sampler {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
    collector: Collector,
    interval_ms: u64,
}

fn tick(state: &Mutex<State>, collector: &Collector, interval_ms: u64) {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if s.closed {
        return;
    }
    let interval = collector.take_interval();
    let start = s.next * interval_ms;
    s.next += 1;
    let vus = collector.gauges.take_interval_max();
    let point = Point::from_interval(&interval, start, interval_ms, vus);
    if let Err(e) = s.timeline.push(point) {
        s.error.get_or_insert(e);
    }
}

impl Sampler {
    /// Starts ticking every `interval` from `start` (the engine's start).
    pub fn start(collector: Collector, interval: Duration, start: Instant) -> Sampler {
        let timeline = Timeline::new(interval);
        let interval_ms = timeline.interval_ms;
        let every = Duration::from_millis(interval_ms);
        let state = Arc::new(Mutex::new(State {
            timeline,
            next: 0,
            closed: false,
            error: None,
        }));
        let task = {
            let (state, collector) = (Arc::clone(&state), collector.clone());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(start + every, every);
                // A late tick is caught up at once, so that points stay on
                // the grid (a busy runtime shifts a few records into the
                // next point, never the grid).
                ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
                loop {
                    ticker.tick().await;
                    tick(&state, &collector, interval_ms);
                }
            })
        };
        Sampler {
            state,
            task,
            collector,
            interval_ms,
        }
    }

    /// The series so far (a copy), e.g. for a live view between ticks.
    pub fn current(&self) -> Timeline {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .timeline
            .clone()
    }

    /// Stops ticking and closes the series at `elapsed` (the run's length):
    /// what was recorded since the last tick becomes the last point, folded
    /// into the one before when it is shorter than half an interval. Every
    /// record is then in exactly one point.
    pub fn finish(self, elapsed: Duration) -> Timeline {
        self.task.abort();
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.closed = true;
        let interval = self.collector.take_interval();
        let start = s.next * self.interval_ms;
        let end = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let length = end.saturating_sub(start);
        let vus = self.collector.gauges.take_interval_max();
        let point = Point::from_interval(&interval, start, length.max(1), vus);
        let empty = point.requests.is_empty() && point.checks.is_empty();
        let result = if length * 2 < self.interval_ms && !s.timeline.points.is_empty() {
            s.timeline.extend_last(point)
        } else if length == 0 && empty {
            Ok(())
        } else {
            s.timeline.push(point)
        };
        if let Err(e) = result {
            s.error.get_or_insert(e);
        }
        if let Some(e) = s.error.take() {
            eprintln!("loadgen: warning: the time series is incomplete: {e}");
        }
        std::mem::take(&mut s.timeline)
    }
}
