//! The engine: starts, retires and stops VUs on the scheduler's steps
//! (closed model, k6 `ramping-vus` semantics). What a VU does is a
//! [`Workload`]; the engine only owns lifetimes:
//!
//! - a stage that lowers the count asks the highest-numbered VUs to stop
//!   after their current iteration and interrupts them if they are still
//!   busy after `graceful_ramp_down`;
//! - at the end of the stages every VU is asked to stop the same way and is
//!   interrupted after `graceful_stop`;
//! - an abort (guard refusal, Ctrl-C) interrupts every VU at once.
//!
//! An interrupted request is not recorded (as k6), so no number is made up.
//! VU ids are reused lowest-first, so VU `i` keeps account `users[i % n]`.
//!
//! The open model (`Schedule::arrivals`, k6's `ramping-arrival-rate`): the
//! engine hands each due arrival ([`crate::arrivals`]) to an idle VU, which
//! gets it from [`Vu::next_iteration`] as the iteration's scheduled start;
//! with none idle it starts a VU (up to `max_vus`), and past that the
//! arrival is recorded as dropped (`dropped_iterations`). Idle VUs queue
//! their own one-shot channel, so an arrival goes to exactly one VU.

use crate::arrivals::Arrivals;
use crate::scheduler::{self, Stage};
use crate::stats::{Collector, Gauges, Record, Recorder};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a VU is handed: its id, where to record, and the stop signal.
pub struct Vu {
    /// 0-based VU id.
    pub id: u32,
    recorder: Recorder,
    stop: watch::Receiver<bool>,
    /// Open model: where this VU asks for its next arrival.
    open: Option<OpenSlot>,
}

/// A VU's link to the open model's dispatcher.
struct OpenSlot {
    /// The arrival the VU was started for.
    first: Option<Instant>,
    /// Where an idle VU leaves the channel its next arrival comes on.
    idle: mpsc::UnboundedSender<oneshot::Sender<Instant>>,
    /// The active-VU gauge counts busy VUs only: `vus` in the open model is
    /// the iterations running, as k6's `vus` (the allocated ones are
    /// `max_vus`), so a spike's end shows in the time series.
    gauges: Arc<Gauges>,
    counted: Arc<AtomicBool>,
}

impl Vu {
    /// True once the VU has been asked to stop after its current iteration.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Emits a record.
    pub fn record(&self, record: Record) {
        self.recorder.record(record);
    }

    /// A handle on this VU's recorder, for what must be recorded even when
    /// the VU's task is interrupted (from a drop guard).
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// Whether iterations start on an arrival schedule (open model).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The scheduled start of this VU's next iteration, or `None` when it
    /// is to stop. Closed model: now, unless stopping. Open model: the next
    /// arrival handed to it (waiting idle until one comes).
    pub async fn next_iteration(&mut self) -> Option<Instant> {
        if self.stopping() {
            return None;
        }
        let Some(open) = self.open.as_mut() else {
            return Some(Instant::now());
        };
        if let Some(first) = open.first.take() {
            return Some(first);
        }
        let (tx, rx) = oneshot::channel();
        open.idle.send(tx).ok()?;
        if open.counted.swap(false, Ordering::SeqCst) {
            open.gauges.vu_ended();
        }
        let at = tokio::select! {
            at = rx => at.ok(),
            _ = self.stop.wait_for(|s| *s) => None,
        }?;
        if !open.counted.swap(true, Ordering::SeqCst) {
            open.gauges.vu_started();
        }
        Some(at)
    }

    /// Sleeps `d` (think time); returns false if asked to stop meanwhile.
    pub async fn pause(&mut self, d: Duration) -> bool {
        if self.stopping() {
            return false;
        }
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stop.wait_for(|s| *s) => false,
        }
    }
}

/// What each VU does.
pub trait Workload: Send + Sync + 'static {
    /// Runs VU `vu` until [`Vu::stopping`] (or the workload runs out).
    fn run_vu(self: Arc<Self>, vu: Vu) -> impl Future<Output = ()> + Send + 'static;

    /// True when the workload has nothing left to do (`hit -n`); the engine
    /// then lets the VUs finish on their own instead of waiting for the stages.
    fn exhausted(&self) -> bool {
        false
    }
}

/// The load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// VUs at the start.
    pub start_vus: u32,
    /// Stages.
    pub stages: Vec<Stage>,
    /// Grace for VUs retired by a lower stage.
    pub graceful_ramp_down: Duration,
    /// Grace for VUs at the end of the run.
    pub graceful_stop: Duration,
    /// How long VUs may take to finish once the workload is exhausted.
    pub drain: Duration,
    /// Open model: iterations start on this arrival schedule instead of
    /// VUs looping (`start_vus` and `stages` are then unused).
    pub arrivals: Option<Arrivals>,
    /// Seeds the arrival times (Poisson).
    pub seed: u64,
    /// `--segment`: the stages, rates and VU bounds above are the whole
    /// test's, and this process runs the shard's share of them.
    pub segment: Option<Arc<crate::segment::Shard>>,
}

impl Schedule {
    /// The most VUs this process runs in the closed model (its share).
    pub fn max_vus(&self) -> u32 {
        crate::segment::share(
            self.segment.as_deref(),
            scheduler::max_vus(self.start_vus, &self.stages),
        )
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// All stages ran.
    Completed,
    /// The workload ran out first (`hit -n`).
    Exhausted,
    /// Aborted from outside (guard, Ctrl-C).
    Aborted,
}

struct VuHandle {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

/// Frees the VU's id and gauge when its task ends, however it ends.
struct Slot {
    id: u32,
    busy: Arc<Mutex<BTreeSet<u32>>>,
    gauges: Arc<Gauges>,
    /// Counted in the active-VU gauge now (an open-model VU waiting idle
    /// for its next arrival is not).
    counted: Arc<AtomicBool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        if self.counted.swap(false, Ordering::SeqCst) {
            self.gauges.vu_ended();
        }
    }
}

struct Pool<W: Workload> {
    workload: Arc<W>,
    collector: Collector,
    busy: Arc<Mutex<BTreeSet<u32>>>,
    active: BTreeMap<u32, VuHandle>,
    retiring: Vec<JoinHandle<()>>,
    retiring_aborts: Vec<tokio::task::AbortHandle>,
    /// Open model: handed to each VU started.
    idle: Option<mpsc::UnboundedSender<oneshot::Sender<Instant>>>,
}

impl<W: Workload> Pool<W> {
    fn spawn_one(&mut self) {
        self.spawn_for(None);
    }

    /// Starts a VU; in the open model with `first` as its first arrival.
    fn spawn_for(&mut self, first: Option<Instant>) {
        let id = {
            let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
            // The lowest free id. Without gaps (every ramp-up) that is the
            // count, found in O(log n): probing id by id made starting
            // 10,000 VUs quadratic (seconds of CPU before the last one ran).
            let id = match busy.last() {
                None => 0,
                Some(&last) if last as usize + 1 == busy.len() => last + 1,
                Some(_) => busy
                    .iter()
                    .zip(0u32..)
                    .find(|(taken, i)| **taken != *i)
                    .map_or(u32::MAX, |(_, i)| i),
            };
            busy.insert(id);
            id
        };
        let (stop, stop_rx) = watch::channel(false);
        let counted = Arc::new(AtomicBool::new(true));
        let vu = Vu {
            id,
            recorder: self.collector.recorder(id as usize),
            stop: stop_rx,
            open: self.idle.as_ref().map(|idle| OpenSlot {
                first,
                idle: idle.clone(),
                gauges: Arc::clone(&self.collector.gauges),
                counted: Arc::clone(&counted),
            }),
        };
        let slot = Slot {
            id,
            busy: Arc::clone(&self.busy),
            gauges: Arc::clone(&self.collector.gauges),
            counted,
        };
        self.collector.gauges.vu_started();
        let workload = Arc::clone(&self.workload);
        let join = tokio::spawn(async move {
            let _slot = slot;
            workload.run_vu(vu).await;
        });
        self.active.insert(id, VuHandle { stop, join });
    }

    /// Asks one VU to stop after its iteration; interrupts it after `grace`.
    fn retire(&mut self, id: u32, grace: Duration) {
        if let Some(VuHandle { stop, mut join }) = self.active.remove(&id) {
            let _ = stop.send(true);
            self.retiring_aborts.push(join.abort_handle());
            self.retiring.push(tokio::spawn(async move {
                if tokio::time::timeout(grace, &mut join).await.is_err() {
                    join.abort();
                    let _ = join.await;
                }
                drop(stop);
            }));
        }
    }

    fn set_vus(&mut self, n: u32, grace: Duration) {
        while self.active.len() < n as usize {
            self.spawn_one();
        }
        while self.active.len() > n as usize {
            match self.active.keys().next_back().copied() {
                Some(id) => self.retire(id, grace),
                None => break,
            }
        }
    }

    fn retire_all(&mut self, grace: Duration) {
        let ids: Vec<u32> = self.active.keys().copied().collect();
        for id in ids {
            self.retire(id, grace);
        }
    }

    async fn interrupt_all(&mut self) {
        for h in self.active.values() {
            h.join.abort();
        }
        for a in &self.retiring_aborts {
            a.abort();
        }
        for (_, h) in std::mem::take(&mut self.active) {
            let _ = h.join.await;
        }
        self.wait_retiring().await;
    }

    async fn wait_retiring(&mut self) {
        for r in std::mem::take(&mut self.retiring) {
            let _ = r.await;
        }
    }
}

/// Waits until `deadline`; returns early with `Some(ended)` on an abort or
/// an exhausted workload.
async fn wait_until<W: Workload>(
    deadline: Instant,
    workload: &W,
    abort: &mut watch::Receiver<bool>,
) -> Option<Ended> {
    loop {
        if *abort.borrow() {
            return Some(Ended::Aborted);
        }
        if workload.exhausted() {
            return Some(Ended::Exhausted);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Poll exhaustion every 20 ms; an abort wakes us at once.
        let next = deadline.min(now + Duration::from_millis(20));
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            changed = abort.changed() => {
                if changed.is_err() {
                    // The abort sender is gone: nobody can abort any more.
                    tokio::time::sleep_until(next).await;
                }
            }
        }
    }
}

/// Runs `workload` on `schedule`, recording into `collector`, until the
/// stages end, the workload is exhausted, or `abort` turns true.
pub async fn run<W: Workload>(
    workload: Arc<W>,
    schedule: &Schedule,
    collector: &Collector,
    mut abort: watch::Receiver<bool>,
) -> Ended {
    let start = Instant::now();
    let mut pool = Pool {
        workload: Arc::clone(&workload),
        collector: collector.clone(),
        busy: Arc::new(Mutex::new(BTreeSet::new())),
        active: BTreeMap::new(),
        retiring: Vec::new(),
        retiring_aborts: Vec::new(),
        idle: None,
    };
    if let Some(arrivals) = &schedule.arrivals {
        return run_open(pool, arrivals, schedule, collector, abort).await;
    }
    let mut steps = scheduler::steps(schedule.start_vus, &schedule.stages);
    if let Some(shard) = &schedule.segment {
        steps = shard.share_steps(steps);
    }
    let end = start + scheduler::total_duration(&schedule.stages);
    let mut ended = None;
    for step in steps {
        if let Some(e) = wait_until(start + step.at, &*workload, &mut abort).await {
            ended = Some(e);
            break;
        }
        pool.set_vus(step.vus, schedule.graceful_ramp_down);
    }
    if ended.is_none() {
        ended = wait_until(end, &*workload, &mut abort).await;
    }
    finish(pool, ended.unwrap_or(Ended::Completed), schedule, abort).await
}

/// Ends a run: interrupts every VU on an abort, else asks them to stop and
/// waits for them within the grace (an abort meanwhile still wins).
async fn finish<W: Workload>(
    mut pool: Pool<W>,
    ended: Ended,
    schedule: &Schedule,
    mut abort: watch::Receiver<bool>,
) -> Ended {
    match ended {
        Ended::Aborted => pool.interrupt_all().await,
        Ended::Exhausted | Ended::Completed => {
            let grace = if ended == Ended::Exhausted {
                schedule.drain
            } else {
                schedule.graceful_stop
            };
            pool.retire_all(grace);
            // Retiring VUs end by their own deadline; an abort still wins.
            let retiring = std::mem::take(&mut pool.retiring);
            let wait = async move {
                for r in retiring {
                    let _ = r.await;
                }
            };
            tokio::pin!(wait);
            tokio::select! {
                _ = &mut wait => {}
                // The watch's borrow ends inside the block, so that it is
                // not held across the await below (the run stays `Send`,
                // for `loadgen web`'s spawned runs).
                _ = async { drop(abort.wait_for(|a| *a).await) } => {
                    pool.interrupt_all().await;
                    return Ended::Aborted;
                }
            }
        }
    }
    ended
}

/// The open model: arrivals on `arrivals`' schedule, each handed to an idle
/// VU, else to a new one (up to `max_vus`), else dropped.
async fn run_open<W: Workload>(
    mut pool: Pool<W>,
    arrivals: &Arrivals,
    schedule: &Schedule,
    collector: &Collector,
    mut abort: watch::Receiver<bool>,
) -> Ended {
    let start = Instant::now();
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel::<oneshot::Sender<Instant>>();
    pool.idle = Some(idle_tx);
    // A shard's share of the VU bounds and of the arrivals (k6: arrival
    // `k` goes to the segment that owns index `k`).
    let shard = schedule.segment.as_deref();
    let max_vus = crate::segment::share(shard, arrivals.max_vus);
    let pre_allocated = crate::segment::share(shard, arrivals.pre_allocated_vus);
    for _ in 0..pre_allocated.min(max_vus) {
        pool.spawn_one();
    }
    let drops = collector.recorder(0);
    let end = start + arrivals.duration();
    let mut ended = None;
    let mine = arrivals
        .times(schedule.seed)
        .zip(0u64..)
        .filter(|(_, k)| shard.is_none_or(|s| s.owns(*k)));
    for (offset, _) in mine {
        let at = start + offset;
        if let Some(e) = wait_until(at, &*pool.workload, &mut abort).await {
            ended = Some(e);
            break;
        }
        // An idle VU, if one is waiting (a VU that stopped meanwhile left a
        // closed channel: try the next).
        let mut pending = Some(at);
        while let Some(at) = pending {
            match idle_rx.try_recv() {
                Ok(vu) => pending = vu.send(at).err(),
                Err(_) => break,
            }
        }
        if let Some(at) = pending {
            if pool.active.len() < max_vus as usize {
                pool.spawn_for(Some(at));
            } else {
                drops.record(Record::Dropped { count: 1 });
            }
        }
    }
    if ended.is_none() {
        ended = wait_until(end, &*pool.workload, &mut abort).await;
    }
    finish(pool, ended.unwrap_or(Ended::Completed), schedule, abort).await
}
