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

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::oneshot;

use crate::config::Argon2Params;

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

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
}

#[derive(Default)]
struct Load {
    waiting: AtomicI64,
    running: AtomicI64,
}

/// Queue figures for the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub struct HashingLoad {
    pub waiting: i64,
    pub running: i64,
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
    pub fn new(params: Argon2Params, threads: usize) -> anyhow::Result<Self> {
        Self::with_nice(params, threads, 0)
    }

    /// A hasher whose `threads` worker threads run at niceness `nice`.
    pub fn with_nice(params: Argon2Params, threads: usize, nice: i32) -> anyhow::Result<Self> {
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
                        job(&argon2);
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
            }),
        })
    }

    pub fn load(&self) -> HashingLoad {
        HashingLoad {
            waiting: self.inner.load.waiting.load(Ordering::Relaxed),
            running: self.inner.load.running.load(Ordering::Relaxed),
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
        self.inner.load.waiting.fetch_add(1, Ordering::Relaxed);
        let job: Job = Box::new(move |argon2| {
            let _ = tx.send(work(argon2));
        });
        if self.inner.jobs.send(job).is_err() {
            self.inner.load.waiting.fetch_sub(1, Ordering::Relaxed);
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
}
