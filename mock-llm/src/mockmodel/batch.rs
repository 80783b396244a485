//! The batch: how many sequences decode at once, and the bounded queue of
//! requests waiting for a slot (vLLM's running and waiting requests).
//!
//! One [`Batch`] per process: per `mock-llm` server, per backend process for
//! the in-process mock. Admission is decided at arrival
//! ([`Batch::try_enqueue`]): a free slot runs at once, otherwise the request
//! waits if the queue has room, otherwise it is refused (429 with
//! `Retry-After`). Slots are handed out first come, first served (tokio's
//! semaphore is fair). Counts are kept by RAII guards, so a request dropped
//! while waiting or a stream dropped mid-reply frees its place at once.
//! Without a batch limit nothing waits; `running` is still counted, for the
//! metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::latency::LoadModel;

/// The batch state of one process; cheap to clone.
#[derive(Clone, Default)]
pub struct Batch(Arc<Inner>);

#[derive(Default)]
struct Inner {
    load: LoadModel,
    /// `None` without a batch limit.
    slots: Option<Arc<Semaphore>>,
    running: AtomicUsize,
    waiting: AtomicUsize,
}

/// The queue was full: the request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub running: usize,
    pub waiting: usize,
}

/// An admitted request, running or waiting for a slot; dropping it leaves
/// the queue.
pub struct Ticket {
    batch: Batch,
    state: TicketState,
}

enum TicketState {
    Ready(Slot),
    Queued(WaitGuard),
}

/// A batch slot, held while the request decodes.
pub struct Slot {
    batch: Batch,
    _permit: Option<OwnedSemaphorePermit>,
}

struct WaitGuard(Batch);

impl Batch {
    pub fn new(load: LoadModel) -> Self {
        let slots =
            (load.max_num_seqs > 0).then(|| Arc::new(Semaphore::new(load.max_num_seqs as usize)));
        Self(Arc::new(Inner {
            load,
            slots,
            running: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        }))
    }

    pub fn load(&self) -> &LoadModel {
        &self.0.load
    }

    /// Sequences decoding now.
    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::Relaxed)
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::Relaxed)
    }

    /// Admits a request at arrival: a slot now, a place in the queue, or
    /// a refusal when the queue is full.
    pub fn try_enqueue(&self) -> Result<Ticket, QueueFull> {
        let Some(slots) = &self.0.slots else {
            return Ok(self.ticket(TicketState::Ready(self.slot(None))));
        };
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            return Ok(self.ticket(TicketState::Ready(self.slot(Some(permit)))));
        }
        let max = self.0.load.max_waiting as usize;
        let taken = self
            .0
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < max).then_some(w + 1)
            });
        match taken {
            Ok(_) => Ok(self.ticket(TicketState::Queued(WaitGuard(self.clone())))),
            Err(waiting) => Err(QueueFull {
                running: self.running(),
                waiting,
            }),
        }
    }

    fn ticket(&self, state: TicketState) -> Ticket {
        Ticket {
            batch: self.clone(),
            state,
        }
    }

    fn slot(&self, permit: Option<OwnedSemaphorePermit>) -> Slot {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        Slot {
            batch: self.clone(),
            _permit: permit,
        }
    }
}

impl Ticket {
    /// True when the request must wait for a slot.
    pub fn is_queued(&self) -> bool {
        matches!(self.state, TicketState::Queued(_))
    }

    /// Waits for a batch slot (at once when one was free at arrival).
    pub async fn slot(self) -> Slot {
        match self.state {
            TicketState::Ready(slot) => slot,
            TicketState::Queued(wait) => {
                let permit = match &self.batch.0.slots {
                    // The semaphore is never closed; were it, run unbounded
                    // rather than fail a request.
                    Some(s) => Arc::clone(s).acquire_owned().await.ok(),
                    None => None,
                };
                // Counted running before it stops counting as waiting, so a
                // scrape never sees the request in neither.
                let slot = self.batch.slot(permit);
                drop(wait);
                slot
            }
        }
    }
}

impl Slot {
    /// The inter-token latency multiplier at the batch's current size.
    pub fn factor(&self) -> f64 {
        self.batch.0.load.factor(self.batch.running())
    }

    /// `gap` at the batch's current size.
    pub fn stretch(&self, gap: std::time::Duration) -> std::time::Duration {
        self.batch.0.load.stretch(gap, self.batch.running())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.batch.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.0 .0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn batch(max: u32, queue: u32) -> Batch {
        Batch::new(LoadModel {
            max_num_seqs: max,
            max_waiting: queue,
            load_factor: 2.0,
            ..LoadModel::default()
        })
    }

    #[tokio::test]
    async fn beyond_the_batch_requests_wait_and_beyond_the_queue_they_are_refused() {
        let b = batch(2, 1);
        let s1 = b.try_enqueue().unwrap().slot().await;
        let _s2 = b.try_enqueue().unwrap().slot().await;
        let queued = b.try_enqueue().unwrap();
        assert_eq!((b.running(), b.waiting()), (2, 1));
        assert_eq!(
            b.try_enqueue().err(),
            Some(QueueFull {
                running: 2,
                waiting: 1
            })
        );
        assert_eq!(s1.factor(), 2.0);
        let waiter = tokio::spawn(queued.slot());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(s1);
        let s3 = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((b.running(), b.waiting()), (2, 0));
        drop(s3);
        assert_eq!(b.running(), 1);
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_leaves_the_queue() {
        let b = batch(1, 1);
        let s1 = b.try_enqueue().unwrap().slot().await;
        let waiting = tokio::spawn(b.try_enqueue().unwrap().slot());
        tokio::task::yield_now().await;
        assert_eq!(b.waiting(), 1);
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(b.waiting(), 0);
        assert!(b.try_enqueue().is_ok());
        drop(s1);
        assert_eq!(b.running(), 0);
    }

    #[tokio::test]
    async fn without_a_batch_limit_nothing_waits_and_running_is_counted() {
        let b = Batch::new(LoadModel::default());
        let slots: Vec<Slot> = {
            let mut v = Vec::new();
            for _ in 0..100 {
                v.push(b.try_enqueue().unwrap().slot().await);
            }
            v
        };
        assert_eq!((b.running(), b.waiting()), (100, 0));
        assert_eq!(slots[0].factor(), 1.0);
        drop(slots);
        assert_eq!(b.running(), 0);
    }
}
