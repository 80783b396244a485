//! Runs one step of the search on the engine, in this process: the load
//! for `settle + hold`, then every VU stopped at once. The settle time's
//! records are taken out of the collector when it ends and thrown away,
//! so the step's figures are the hold window's only: requests that
//! completed in it (a request still in flight when the hold ends is
//! interrupted and not counted, as k6 does at a run's end).

use super::{Model, StepSettings};
use crate::arrivals::{Arrivals, RateStage};
use crate::engine::{self, Ended, Schedule, Workload};
use crate::scheduler::Stage;
use crate::stats::{Aggregate, Collector};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What a step recorded in its hold window.
#[derive(Debug)]
pub struct Measured {
    /// The hold window's records.
    pub aggregate: Aggregate,
    /// How long the window lasted (the hold, or less if interrupted).
    pub window: Duration,
    /// Ended early (Ctrl-C, SIGTERM, the guard): not a verdict on the load.
    pub interrupted: bool,
}

/// The engine's shape for one step at `load`.
pub fn schedule(model: &Model, load: f64, s: &StepSettings, seed: u64) -> Schedule {
    let length = s.settle + s.hold;
    let (start_vus, arrivals) = match model {
        Model::Closed => (load as u32, None),
        Model::Open {
            pre_allocated_vus,
            max_vus,
            poisson,
        } => {
            // k6's defaults scaled to the step: a second's arrivals ready,
            // ten times that at most.
            let pre = pre_allocated_vus.unwrap_or_else(|| (load.ceil() as u32).max(1));
            let max = max_vus.unwrap_or(pre.saturating_mul(10)).max(pre);
            (
                pre,
                Some(Arrivals {
                    start_rate: load,
                    stages: vec![RateStage {
                        duration: length,
                        target: load,
                    }],
                    pre_allocated_vus: pre,
                    max_vus: max,
                    poisson: *poisson,
                }),
            )
        }
    };
    Schedule {
        // Refused by the plan: a capacity search runs whole.
        segment: None,
        start_vus,
        stages: vec![Stage {
            duration: length,
            target: start_vus,
        }],
        // The step's end is the window's end: nothing runs past it, so the
        // next step starts on an idle target and each step is bounded.
        graceful_ramp_down: Duration::ZERO,
        graceful_stop: Duration::ZERO,
        drain: Duration::ZERO,
        arrivals,
        seed,
    }
}

/// Runs `workload` on `schedule`, throwing away the first `settle`.
pub async fn run<W: Workload>(
    workload: Arc<W>,
    schedule: &Schedule,
    settle: Duration,
    abort: watch::Receiver<bool>,
) -> Measured {
    let collector = Collector::per_core();
    let start = Instant::now();
    let engine = engine::run(workload, schedule, &collector, abort);
    tokio::pin!(engine);
    let mut window_start = None;
    let ended = loop {
        tokio::select! {
            ended = &mut engine => break ended,
            _ = tokio::time::sleep_until(start + settle), if window_start.is_none() => {
                // Settled: what was recorded so far is the warm-up's.
                drop(collector.take_interval());
                window_start = Some(Instant::now());
            }
        }
    };
    let aggregate = match window_start {
        Some(_) => collector.take_interval(),
        None => Aggregate::default(),
    };
    Measured {
        aggregate,
        window: window_start.map_or(Duration::ZERO, |w| w.elapsed()),
        interrupted: ended == Ended::Aborted,
    }
}
