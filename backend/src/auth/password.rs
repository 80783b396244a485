//! Password hashing with argon2id, off the async workers.
//!
//! Hashing is deliberately expensive (tens of milliseconds of CPU and 19 MiB
//! of memory per hash). Running it on the async workers would stall every
//! other request during a login storm, which is what made the original
//! collapse. So hashes run on a small pool of threads of their own
//! (`HASH_CONCURRENCY`, one per core by default) fed by a queue whose depth
//! is exported as a metric. Those threads run at a lower CPU priority
//! (`HASH_THREAD_NICE`): during a login storm they still use every idle
//! cycle, but a health check, a chat turn or Postgres itself is scheduled
//! ahead of them instead of waiting out their time slices.
//!
//! The queue is bounded (`HASH_QUEUE_MAX` in the backend): past it a login
//! or registration is shed at once ([`QueueFull`], a 503 with Retry-After)
//! rather than left to wait seconds in line. A queued job whose caller has
//! gone (the client disconnected, the request timed out) is skipped when
//! its turn comes, so a storm's abandoned logins cost no hash.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::oneshot;

use crate::config::Argon2Params;

/// A queued hash; returns whether it ran (false: its caller had gone).
type Job = Box<dyn FnOnce(&Argon2<'static>) -> bool + Send>;

/// The hashing queue is full: the caller should answer 503 and come back
/// after `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub retry_after_secs: u64,
}

impl std::fmt::Display for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the password hashing queue is full")
    }
}

impl std::error::Error for QueueFull {}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password, verified against when the user does not
    /// exist, so that an unknown user costs exactly one hash too.
    dummy_hash: String,
    load: Arc<Load>,
    /// The most jobs that may wait for a thread; more are shed.
    queue_max: i64,
}

#[derive(Default)]
struct Load {
    waiting: AtomicI64,
    running: AtomicI64,
    hashed: AtomicU64,
    skipped: AtomicU64,
    shed: AtomicU64,
}

/// Queue figures for the metrics and stats endpoints.
#[derive(Debug, Clone, Copy)]
pub struct HashingLoad {
    pub waiting: i64,
    pub running: i64,
    /// Hashes (or verifications) run since start.
    pub hashed: u64,
    /// Queued jobs skipped because their caller had gone.
    pub skipped: u64,
    /// Calls refused because the queue was full.
    pub shed: u64,
}

/// Lowers the calling thread's CPU priority (Linux nice values are per
/// thread). Raising niceness needs no privilege; failure is harmless.
#[allow(unsafe_code)]
fn lower_thread_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: nice(2) only changes the calling thread's scheduling weight.
    let _ = unsafe { libc::nice(nice) };
}

impl PasswordHasher {
    /// A hasher with an unbounded queue (the seed tool and benches hash in
    /// bulk and want every hash, however long the line).
    pub fn new(params: Argon2Params, threads: usize) -> anyhow::Result<Self> {
        Self::with_limits(params, threads, 0, usize::MAX)
    }

    /// A hasher whose `threads` worker threads run at niceness `nice`, with
    /// at most `queue_max` calls waiting for a thread.
    pub fn with_limits(
        params: Argon2Params,
        threads: usize,
        nice: i32,
        queue_max: usize,
    ) -> anyhow::Result<Self> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid ARGON2_* parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let salt = SaltString::generate(&mut OsRng);
        let random_password = uuid::Uuid::new_v4().to_string();
        let dummy_hash = argon2
            .hash_password(random_password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2 self-test failed: {e}"))?
            .to_string();
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let load = Arc::new(Load::default());
        for i in 0..threads.max(1) {
            let (rx, argon2, load) = (Arc::clone(&rx), argon2.clone(), Arc::clone(&load));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_thread_priority(nice);
                    loop {
                        // The lock is held only while taking a job, not
                        // while hashing; the loop ends when every hasher
                        // handle (and so the sender) is gone.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = job else { break };
                        load.waiting.fetch_sub(1, Ordering::Relaxed);
                        load.running.fetch_add(1, Ordering::Relaxed);
                        let counter = if job(&argon2) {
                            &load.hashed
                        } else {
                            &load.skipped
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        load.running.fetch_sub(1, Ordering::Relaxed);
                    }
                })
                .context("starting a hashing thread")?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                jobs: tx,
                dummy_hash,
                load,
                queue_max: i64::try_from(queue_max).unwrap_or(i64::MAX),
            }),
        })
    }

    pub fn load(&self) -> HashingLoad {
        let l = &self.inner.load;
        HashingLoad {
            waiting: l.waiting.load(Ordering::Relaxed),
            running: l.running.load(Ordering::Relaxed),
            hashed: l.hashed.load(Ordering::Relaxed),
            skipped: l.skipped.load(Ordering::Relaxed),
            shed: l.shed.load(Ordering::Relaxed),
        }
    }

    /// Hashes a password into a PHC string (parameters and salt included).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move |argon2| {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is no user (always `false` then, after the same work).
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let dummy = self.inner.dummy_hash.clone();
        self.run(move |argon2| {
            let exists = stored.is_some();
            let phc = stored.unwrap_or(dummy);
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            let ok = argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            Ok(ok && exists)
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> anyhow::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let load = &self.inner.load;
        let max = self.inner.queue_max;
        if load
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                (w < max).then_some(w + 1)
            })
            .is_err()
        {
            load.shed.fetch_add(1, Ordering::Relaxed);
            return Err(QueueFull {
                retry_after_secs: 1,
            }
            .into());
        }
        let job: Job = Box::new(move |argon2| {
            // The caller dropped its future (client gone, request timed
            // out): nobody would read the result, so spend no hash on it.
            if tx.is_closed() {
                return false;
            }
            let _ = tx.send(work(argon2));
            true
        });
        if self.inner.jobs.send(job).is_err() {
            load.waiting.fetch_sub(1, Ordering::Relaxed);
            anyhow::bail!("password hashing threads are gone");
        }
        rx.await.context("a hashing thread died")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = PasswordHasher::new(Argon2Params::default(), 2).unwrap();
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h
            .verify("correct horse".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!h.verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!h.verify("correct horse".into(), None).await.unwrap());
    }

    /// A login whose client left while it waited for a hashing slot used to
    /// be hashed anyway, spending a slot on nobody during a storm.
    #[tokio::test]
    async fn a_waiter_that_left_before_its_slot_is_never_hashed() {
        let h = PasswordHasher::new(Argon2Params::default(), 1).unwrap();
        // Hold the only slot until released.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move |_| {
                    let _ = held.recv();
                    Ok(())
                })
                .await
            })
        };
        while h.load().running < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Queued behind it, then abandoned (its client went away).
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&ran);
        let gone = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            h.run(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(gone.is_err(), "still queued when its client left");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // One thread, first come first served: once this one is answered the
        // abandoned job has had its turn.
        assert!(h.verify("pw".into(), None).await.is_ok());
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the abandoned job ran");
        // The thread counts a job just after answering it.
        for _ in 0..100 {
            if h.load().running == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let load = h.load();
        assert_eq!(load.waiting, 0);
        assert_eq!((load.hashed, load.skipped, load.shed), (2, 1, 0));
    }
}
