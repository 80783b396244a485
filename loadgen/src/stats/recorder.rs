//! Per-worker aggregation. The collector owns a few shards (about one per
//! runtime worker thread); each VU's [`Recorder`] folds its records into one
//! shard under a short uncontended lock. Readers never see a shard directly:
//! they get [`Collector::snapshot`], all shards merged with `Histogram::add`.
//!
//! The shards hold only what was recorded since the time series' last tick:
//! [`Collector::take_interval`] empties them into one interval aggregate and
//! adds that to the settled total. So the series costs the hot path nothing
//! (each record is still folded in once), and the total is exactly the sum
//! of the intervals.

use super::{Aggregate, Record};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Gauges sampled by the live view and the summary.
#[derive(Debug, Default)]
pub struct Gauges {
    /// VUs currently running an iteration loop.
    pub active_vus: AtomicU64,
    /// The most VUs seen running at once.
    pub max_active_vus: AtomicU64,
    /// The most VUs running at once since the time series' last tick.
    pub interval_max_vus: AtomicU64,
}

impl Gauges {
    /// A VU started.
    pub fn vu_started(&self) {
        let now = self.active_vus.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active_vus.fetch_max(now, Ordering::SeqCst);
        self.interval_max_vus.fetch_max(now, Ordering::SeqCst);
    }

    /// A VU ended (normally, gracefully or interrupted).
    pub fn vu_ended(&self) {
        self.active_vus.fetch_sub(1, Ordering::SeqCst);
    }

    /// Current active VUs.
    pub fn active(&self) -> u64 {
        self.active_vus.load(Ordering::SeqCst)
    }

    /// Peak active VUs.
    pub fn max(&self) -> u64 {
        self.max_active_vus.load(Ordering::SeqCst)
    }

    /// The most VUs active since the last call (or the start), and starts
    /// the next interval at the VUs active now: a point's VUs, so that a
    /// short spike shows and the last point is not read after every VU
    /// stopped.
    pub fn take_interval_max(&self) -> u64 {
        let now = self.active();
        self.interval_max_vus.swap(now, Ordering::SeqCst).max(now)
    }
}

/// Owns the shards; cheap to clone.
#[derive(Debug, Clone)]
pub struct Collector {
    shards: Arc<Vec<Mutex<Aggregate>>>,
    /// Everything already taken out of the shards by [`Collector::take_interval`].
    settled: Arc<Mutex<Aggregate>>,
    /// Gauges shared with the VUs.
    pub gauges: Arc<Gauges>,
}

impl Collector {
    /// A collector with `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| Mutex::new(Aggregate::default()))
            .collect();
        Collector {
            shards: Arc::new(shards),
            settled: Arc::new(Mutex::new(Aggregate::default())),
            gauges: Arc::new(Gauges::default()),
        }
    }

    /// One shard per available core, the runtime's worker count.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// A recorder for worker `worker` (VU id or connection index).
    pub fn recorder(&self, worker: usize) -> Recorder {
        Recorder {
            shards: Arc::clone(&self.shards),
            shard: worker % self.shards.len(),
        }
    }

    /// Everything recorded so far: the settled total and all shards merged.
    pub fn snapshot(&self) -> Aggregate {
        // The settled lock is held throughout, so a concurrent
        // `take_interval` cannot move records between the two while they
        // are read (nothing counted twice or missed).
        let settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        let mut merged = settled.clone();
        for shard in self.shards.iter() {
            // A poisoned shard still holds valid counts: a panic cannot
            // happen half-way through `record`, which only adds.
            let guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            merged.merge(&guard);
        }
        merged
    }

    /// Empties the shards: returns what they recorded since the last call
    /// (one interval of the time series) and adds it to the settled total.
    pub fn take_interval(&self) -> Aggregate {
        let mut settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        let mut interval: Option<Aggregate> = None;
        for shard in self.shards.iter() {
            // The replacement is built before the lock is taken, so a VU
            // waits only for the swap.
            let fresh = Aggregate::default();
            let taken = {
                let mut guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::replace(&mut *guard, fresh)
            };
            match interval.as_mut() {
                None => interval = Some(taken),
                Some(i) => i.merge(&taken),
            }
        }
        let interval = interval.unwrap_or_default();
        settled.merge(&interval);
        interval
    }
}

/// What a VU holds to emit records.
#[derive(Debug, Clone)]
pub struct Recorder {
    shards: Arc<Vec<Mutex<Aggregate>>>,
    shard: usize,
}

impl Recorder {
    /// Folds a record into this worker's shard.
    pub fn record(&self, record: Record) {
        if let Some(shard) = self.shards.get(self.shard) {
            let mut guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            guard.record(&record);
        }
    }
}
