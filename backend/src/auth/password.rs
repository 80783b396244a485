//! Password hashing with argon2id, off the async workers.
//!
//! Hashing is deliberately expensive (tens of milliseconds of CPU and 19 MiB
//! of memory per hash). Running it on the async workers would stall every
//! other request during a login storm, which is what made the original
//! collapse. So every hash runs on the blocking pool, and a semaphore caps how
//! many run at once (`HASH_CONCURRENCY`, one per core by default): excess
//! logins wait their turn in a queue whose depth is exported as a metric,
//! while health checks and chat turns keep their workers.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Params;

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    permits: Semaphore,
    /// A hash of a random password, verified against when the user does not
    /// exist, so that an unknown user costs exactly one hash too.
    dummy_hash: String,
    waiting: AtomicI64,
    running: AtomicI64,
}

/// Queue figures for the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub struct HashingLoad {
    pub waiting: i64,
    pub running: i64,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params, concurrency: usize) -> anyhow::Result<Self> {
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
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                permits: Semaphore::new(concurrency.max(1)),
                dummy_hash,
                waiting: AtomicI64::new(0),
                running: AtomicI64::new(0),
            }),
        })
    }

    pub fn load(&self) -> HashingLoad {
        HashingLoad {
            waiting: self.inner.waiting.load(Ordering::Relaxed),
            running: self.inner.running.load(Ordering::Relaxed),
        }
    }

    /// Hashes a password into a PHC string (parameters and salt included).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move |inner| {
            let salt = SaltString::generate(&mut OsRng);
            inner
                .argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is no user (always `false` then, after the same work).
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        self.run(move |inner| {
            let exists = stored.is_some();
            let phc = stored.unwrap_or_else(|| inner.dummy_hash.clone());
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            let ok = inner
                .argon2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && exists)
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    {
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.inner.permits.acquire().await;
        self.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit.context("password hasher is shut down")?;
        self.inner.running.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let result = tokio::task::spawn_blocking(move || work(&inner))
            .await
            .context("hashing task panicked");
        self.inner.running.fetch_sub(1, Ordering::Relaxed);
        result?
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
