//! The drain deadline of a graceful shutdown (`SHUTDOWN_DRAIN_SECONDS`).
//!
//! After the shutdown signal the server stops accepting and lets in-flight
//! requests finish, but an event stream can stay open for minutes, longer
//! than a pod's grace period (30 s by default in Kubernetes), after which
//! the process is killed mid-write. `Application::run_until` therefore
//! expires a [`Drain`] once the deadline passes: every open chat stream is
//! waiting on it, ends with an `error` event coded `shutting_down` (nothing
//! of its turn stored, so the client can retry elsewhere), and the server
//! stops a moment later.

use tokio::sync::watch;

/// Expired once, at the drain deadline; cheap to wait on from any task.
pub struct Drain(watch::Sender<bool>);

impl Default for Drain {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl Drain {
    /// Marks the deadline as passed and wakes every waiter.
    pub fn expire(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once the deadline has passed (at once if it already has).
    pub async fn expired(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in the app state, which outlives every stream
        // waiting here, so `wait_for` cannot fail while anyone listens.
        let _ = rx.wait_for(|passed| *passed).await;
    }
}
