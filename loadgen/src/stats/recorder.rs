//! Per-worker aggregation. The collector owns a few shards (one per
//! runtime worker thread, plus spares); a [`Recorder`] folds each record
//! into the shard of the thread it is recorded on, under a short lock that
//! nobody else wants. The shard is picked at record time, not when the
//! recorder is made: tokio's work-stealing moves a VU's task between worker
//! threads, and a shard fixed per VU would then be shared by two threads.
//! Each thread is given its shard (round-robin) the first time it records,
//! so the first `shards` threads to record (the workers, in practice) get
//! one each. A lock that is found taken is counted
//! ([`Collector::contended`]), so the claim can be checked.
//!
//! Readers never see a shard directly: they get [`Collector::snapshot`], all
//! shards merged with `Histogram::add`. Neither a snapshot nor an interval
//! merges under a shard's lock: each shard is swapped for an empty one
//! (built before the lock is taken) and merged after, so a VU waits at most
//! for a `mem::replace`, never for a merge of histograms.
//!
//! The shards hold only what was recorded since the last swap: the records
//! swapped out are kept in `drained` until the time series' next tick,
//! when [`Collector::take_interval`] turns them into one interval aggregate
//! and adds that to the settled total. So the series costs the hot path
//! nothing (each record is still folded in once), and the total is exactly
//! the sum of the intervals.

use super::{Aggregate, Record};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

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
    shards: Arc<Shards>,
    /// What was swapped out of the shards, under one lock that VUs never take.
    state: Arc<Mutex<Taken>>,
    /// Gauges shared with the VUs.
    pub gauges: Arc<Gauges>,
}

/// The shards and their contention counter.
#[derive(Debug)]
struct Shards {
    shards: Vec<Mutex<Aggregate>>,
    /// Records that found their shard's lock taken (another thread
    /// recording into it, or a swap): 0 when recording is uncontended.
    contended: AtomicU64,
}

/// Records taken out of the shards.
#[derive(Debug, Default)]
struct Taken {
    /// Everything already handed out by [`Collector::take_interval`].
    settled: Aggregate,
    /// Swapped out of the shards since the last interval (by a snapshot).
    drained: Aggregate,
}

/// Threads are given shards round-robin, in the order they first record.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's number among the threads that recorded (its shard
    /// modulo the shard count).
    static THREAD_SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn thread_slot() -> usize {
    THREAD_SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            slot.set(Some(n));
            n
        })
    })
}

impl Collector {
    /// A collector with `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| Mutex::new(Aggregate::default()))
            .collect();
        Collector {
            shards: Arc::new(Shards {
                shards,
                contended: AtomicU64::new(0),
            }),
            state: Arc::new(Mutex::new(Taken::default())),
            gauges: Arc::new(Gauges::default()),
        }
    }

    /// One shard per available core (the runtime's worker count), plus as
    /// many spares: the main thread and the blocking pool record now and
    /// then, and thread numbers are process-wide, so a spare keeps a late
    /// thread off a worker's shard.
    pub fn per_core() -> Self {
        Self::new(2 * std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// A recorder (for VU or connection `worker`: the shard is the
    /// recording thread's, whoever holds the recorder).
    pub fn recorder(&self, worker: usize) -> Recorder {
        let _ = worker;
        Recorder {
            shards: Arc::clone(&self.shards),
        }
    }

    /// Records that found their shard's lock taken, since the start.
    pub fn contended(&self) -> u64 {
        self.shards.contended.load(Ordering::Relaxed)
    }

    /// Swaps every shard for an empty one and merges what they held into
    /// `taken.drained`, outside the shards' locks.
    fn drain(&self, taken: &mut Taken) {
        for shard in &self.shards.shards {
            // Built before the lock is taken, so a VU waits only for the swap.
            let fresh = Aggregate::default();
            let out = {
                // A poisoned shard still holds valid counts: a panic cannot
                // happen half-way through `record`, which only adds.
                let mut guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::replace(&mut *guard, fresh)
            };
            taken.drained.merge(&out);
        }
    }

    /// Everything recorded so far: the settled total, the drained records
    /// and the shards (swapped out and merged).
    pub fn snapshot(&self) -> Aggregate {
        // The state lock is held throughout, so a concurrent
        // `take_interval` cannot move records between the two while they
        // are read (nothing counted twice or missed); VUs never take it.
        let mut taken = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain(&mut taken);
        let mut merged = taken.settled.clone();
        merged.merge(&taken.drained);
        merged
    }

    /// Empties the shards: returns what was recorded since the last call
    /// (one interval of the time series) and adds it to the settled total.
    pub fn take_interval(&self) -> Aggregate {
        let mut taken = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain(&mut taken);
        let interval = std::mem::take(&mut taken.drained);
        taken.settled.merge(&interval);
        interval
    }
}

/// What a VU holds to emit records.
#[derive(Debug, Clone)]
pub struct Recorder {
    shards: Arc<Shards>,
}

impl Recorder {
    /// Folds a record into the recording thread's shard.
    pub fn record(&self, record: Record) {
        let shards = &self.shards.shards;
        let Some(shard) = shards.get(thread_slot() % shards.len().max(1)) else {
            return;
        };
        let mut guard = match shard.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.shards.contended.fetch_add(1, Ordering::Relaxed);
                shard.lock().unwrap_or_else(PoisonError::into_inner)
            }
        };
        guard.record(&record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::RequestRecord;
    use std::time::Duration;

    fn request() -> Record {
        Record::Request(RequestRecord {
            phase: "hit".into(),
            endpoint: "GET /".into(),
            status: Some(200),
            error: None,
            duration: Duration::from_millis(1),
            waiting: Duration::from_millis(1),
            bytes_sent: 1,
            bytes_received: 2,
        })
    }

    /// Many VU tasks on a work-stealing runtime, recording as fast as they
    /// can while snapshots are taken: nothing is lost, and no record found
    /// its shard taken by another recording thread (a snapshot's swap may
    /// be met, at most once per shard per snapshot).
    #[test]
    fn recording_from_many_tasks_is_uncontended_and_complete() {
        let workers = 2;
        let collector = Collector::new(2 * workers + 2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .unwrap();
        let snapshots = 20u64;
        runtime.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|vu| {
                    let r = collector.recorder(vu);
                    tokio::spawn(async move {
                        for _ in 0..2_000 {
                            r.record(request());
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for _ in 0..snapshots {
                let _ = collector.snapshot();
                tokio::task::yield_now().await;
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(collector.snapshot().total_requests(), 64 * 2_000);
        let shards = collector.shards.shards.len() as u64;
        assert!(
            collector.contended() <= (snapshots + 1) * shards,
            "{} contended records",
            collector.contended()
        );
    }
}
