//! Azure-style request and token budgets over a rolling 60-second window.
//!
//! A request is admitted only if, counting it, the last minute holds at most
//! `rpm` requests and `tpm` tokens; a refused request costs nothing, and its
//! `Retry-After` is the time until enough of the window has expired for it to
//! fit. Time is passed in, so the arithmetic is tested without sleeping.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Requests,
    Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub limit: Limit,
    /// How long until the request would fit.
    pub retry_after: Duration,
}

pub struct Budgets {
    rpm: Option<u32>,
    tpm: Option<u32>,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Admitted requests, oldest first: when, and the tokens charged.
    admitted: VecDeque<(Instant, u64)>,
    /// Sum of the tokens in `admitted`.
    tokens: u64,
}

impl Budgets {
    pub fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        Self {
            rpm,
            tpm,
            window: Mutex::new(Window::default()),
        }
    }

    /// Admits a request costing `tokens` at `now`, or says how long to wait.
    pub fn try_admit(&self, now: Instant, tokens: u64) -> Result<(), Rejection> {
        if self.rpm.is_none() && self.tpm.is_none() {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update of
        // plain numbers; the window is still usable.
        let mut w = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(&(at, t)) = w.admitted.front() {
            if now.saturating_duration_since(at) < WINDOW {
                break;
            }
            w.admitted.pop_front();
            w.tokens -= t;
        }
        // A request larger than the whole budget is charged the whole budget,
        // so it can still pass on an empty window instead of never.
        let cost = self.tpm.map_or(tokens, |tpm| tokens.min(u64::from(tpm)));
        let expiry = |at: Instant| (at + WINDOW).saturating_duration_since(now);
        let mut rejection: Option<Rejection> = None;
        if let Some(rpm) = self.rpm {
            let rpm = rpm as usize;
            if w.admitted.len() >= rpm {
                // The request fits once all but `rpm - 1` entries have expired.
                let (at, _) = w.admitted[w.admitted.len() - rpm];
                rejection = Some(Rejection {
                    limit: Limit::Requests,
                    retry_after: expiry(at),
                });
            }
        }
        if let Some(tpm) = self.tpm {
            let tpm = u64::from(tpm);
            if w.tokens + cost > tpm {
                let mut left = w.tokens;
                let mut wait = Duration::ZERO;
                for &(at, t) in &w.admitted {
                    left -= t;
                    wait = expiry(at);
                    if left + cost <= tpm {
                        break;
                    }
                }
                if rejection.is_none_or(|r| r.retry_after < wait) {
                    rejection = Some(Rejection {
                        limit: Limit::Tokens,
                        retry_after: wait,
                    });
                }
            }
        }
        if let Some(r) = rejection {
            return Err(r);
        }
        w.admitted.push_back((now, cost));
        w.tokens += cost;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_budget_refuses_until_the_oldest_request_leaves_the_window() {
        let b = Budgets::new(Some(2), None);
        let t0 = Instant::now();
        b.try_admit(t0, 1).unwrap();
        b.try_admit(t0 + Duration::from_secs(10), 1).unwrap();
        let r = b.try_admit(t0 + Duration::from_secs(20), 1).unwrap_err();
        assert_eq!(r.limit, Limit::Requests);
        assert_eq!(r.retry_after, Duration::from_secs(40));
        b.try_admit(t0 + Duration::from_secs(60), 1).unwrap();
    }

    #[test]
    fn the_token_budget_waits_for_enough_tokens_to_expire() {
        let b = Budgets::new(None, Some(100));
        let t0 = Instant::now();
        b.try_admit(t0, 30).unwrap();
        b.try_admit(t0 + Duration::from_secs(5), 60).unwrap();
        // 90 in the window: 20 more needs the first request (30 tokens) gone.
        let r = b.try_admit(t0 + Duration::from_secs(10), 20).unwrap_err();
        assert_eq!(r.limit, Limit::Tokens);
        assert_eq!(r.retry_after, Duration::from_secs(50));
        // 10 more fits now.
        b.try_admit(t0 + Duration::from_secs(10), 10).unwrap();
    }

    #[test]
    fn a_request_larger_than_the_budget_passes_on_an_empty_window() {
        let b = Budgets::new(None, Some(100));
        let t0 = Instant::now();
        b.try_admit(t0, 500).unwrap();
        assert!(b.try_admit(t0, 1).is_err());
    }

    #[test]
    fn no_budgets_admit_everything() {
        let b = Budgets::new(None, None);
        for _ in 0..1000 {
            b.try_admit(Instant::now(), 1_000_000).unwrap();
        }
    }
}
