//! A circuit breaker for the LLM provider.
//!
//! Closed: calls go through and their outcomes fill a sliding window. When
//! the window holds at least `min_calls` outcomes and the failure ratio
//! reaches `failure_ratio`, it opens: calls fail fast (503) without touching
//! the provider, so a struggling provider is not hammered by retries and
//! clients get an answer at once. After `open_for` it half-opens: one trial
//! call goes through; success closes it, failure opens it again.
//!
//! Admission is a guard ([`Admitted`]): a trial whose caller is dropped
//! before it reports (the client went away, the request timed out) counts
//! as a failed trial when the guard drops, so the breaker opens again and a
//! later trial is admitted after `open_for` instead of it staying half-open
//! with a trial "in flight" forever.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub failure_ratio: f64,
    pub window: usize,
    pub min_calls: usize,
    pub open_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    /// The value of `chatbot_provider_circuit_state`.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    /// Counts every transition to open (`chatbot_provider_circuit_opened_total`):
    /// the state gauge alone misses a breaker that opened and closed again
    /// between two scrapes.
    opened: Option<prometheus::IntCounter>,
}

struct Inner {
    state: BreakerState,
    outcomes: VecDeque<bool>,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// Permission to call; report the outcome with [`CircuitBreaker::record`].
/// Dropped without a report, a trial counts as a failure (a closed-state
/// call counts as nothing: a client leaving says nothing of the provider).
#[must_use = "report the outcome with CircuitBreaker::record"]
pub struct Admitted<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    reported: bool,
}

impl std::fmt::Debug for Admitted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("trial", &self.trial)
            .finish()
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.reported && self.trial {
            self.breaker.finish(true, false);
        }
    }
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                outcomes: VecDeque::with_capacity(config.window),
                opened_at: None,
                trial_in_flight: false,
            }),
            opened: None,
        }
    }

    /// Counts each opening on `counter`.
    pub fn counting_opens(mut self, counter: prometheus::IntCounter) -> Self {
        self.opened = Some(counter);
        self
    }

    fn open(&self, g: &mut Inner) {
        g.state = BreakerState::Open;
        g.opened_at = Some(Instant::now());
        if let Some(c) = &self.opened {
            c.inc();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a few plain fields: a panic elsewhere cannot leave it
        // half-updated in a way that matters, so a poisoned lock is reused.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// `Some` when a call may go out now; `None` while open (or while the
    /// half-open trial call is still running). The `Duration` is how long
    /// until the next trial, for `Retry-After`.
    pub fn admit(&self) -> Result<Admitted<'_>, Duration> {
        let mut g = self.lock();
        match g.state {
            BreakerState::Closed => Ok(self.admitted(false)),
            BreakerState::Open => {
                let since = g.opened_at.map_or(Duration::ZERO, |t| t.elapsed());
                if since >= self.config.open_for {
                    g.state = BreakerState::HalfOpen;
                    g.trial_in_flight = true;
                    Ok(self.admitted(true))
                } else {
                    Err(self.config.open_for - since)
                }
            }
            BreakerState::HalfOpen => {
                if g.trial_in_flight {
                    Err(Duration::from_secs(1))
                } else {
                    g.trial_in_flight = true;
                    Ok(self.admitted(true))
                }
            }
        }
    }

    fn admitted(&self, trial: bool) -> Admitted<'_> {
        Admitted {
            breaker: self,
            trial,
            reported: false,
        }
    }

    /// Reports the outcome of an admitted call.
    pub fn record(&self, mut admitted: Admitted<'_>, success: bool) {
        admitted.reported = true;
        self.finish(admitted.trial, success);
    }

    fn finish(&self, trial: bool, success: bool) {
        let mut g = self.lock();
        if trial {
            g.trial_in_flight = false;
            if success {
                g.state = BreakerState::Closed;
                g.outcomes.clear();
                g.opened_at = None;
            } else {
                self.open(&mut g);
            }
            return;
        }
        if g.state != BreakerState::Closed {
            return;
        }
        if g.outcomes.len() == self.config.window {
            g.outcomes.pop_front();
        }
        g.outcomes.push_back(success);
        let failures = g.outcomes.iter().filter(|ok| !**ok).count();
        if g.outcomes.len() >= self.config.min_calls
            && failures as f64 / g.outcomes.len() as f64 >= self.config.failure_ratio
        {
            self.open(&mut g);
            g.outcomes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_ratio: 0.5,
            window: 10,
            min_calls: 4,
            open_for,
        })
    }

    #[test]
    fn opens_on_the_failure_ratio_and_fails_fast() {
        let b = breaker(Duration::from_secs(60));
        for ok in [true, false, true, false] {
            let a = b.admit().unwrap();
            b.record(a, ok);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit().is_err());
    }

    #[test]
    fn needs_enough_calls_before_judging() {
        let b = breaker(Duration::from_secs(60));
        for _ in 0..3 {
            let a = b.admit().unwrap();
            b.record(a, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_opens_after_the_delay_and_one_trial_decides() {
        let b = breaker(Duration::from_millis(20));
        for _ in 0..4 {
            let a = b.admit().unwrap();
            b.record(a, false);
        }
        assert!(b.admit().is_err());
        std::thread::sleep(Duration::from_millis(30));
        let trial = b.admit().unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_err(), "one trial at a time");
        b.record(trial, false);
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(30));
        let trial = b.admit().unwrap();
        b.record(trial, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    /// A trial whose caller is dropped (client gone, request timed out)
    /// used to leave the breaker half-open with a trial "in flight" forever:
    /// every later call got 503 until a restart.
    #[test]
    fn a_dropped_trial_counts_as_a_failure_and_a_later_trial_is_admitted() {
        let b = breaker(Duration::from_millis(20));
        for _ in 0..4 {
            let a = b.admit().unwrap();
            b.record(a, false);
        }
        std::thread::sleep(Duration::from_millis(30));
        let trial = b.admit().unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        drop(trial);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a dropped trial is a failure"
        );
        assert!(b.admit().is_err(), "open again for open_for");
        std::thread::sleep(Duration::from_millis(30));
        let trial = b.admit().expect("a new trial after open_for");
        b.record(trial, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
