//! A request's timeout on a timer that lives as long as its connection:
//! both clients (`hit`'s in `wire/mod.rs`, the journey's in `http.rs`)
//! bound each request this way, each with its own slack (their call sites
//! say why).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Runs `fut` until it ends or `deadline` passes (`None`); the deadline
/// counts as passed once `now + slack` reaches it. The timer is only moved
/// when it fires before the deadline, so a request costs no timer
/// registration: a connection's deadlines only move forward, and a timer
/// armed for an earlier request fires at most once per timeout period.
/// (`slack` is only read when the timer fires.)
pub(crate) async fn with_deadline<F: Future>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    slack: Duration,
    fut: F,
) -> Option<F::Output> {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    let mut fut = std::pin::pin!(fut);
    poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() + slack >= deadline {
                return Poll::Ready(None);
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer_at(at: Instant) -> Pin<Box<Sleep>> {
        Box::pin(tokio::time::sleep_until(at))
    }

    #[tokio::test]
    async fn a_future_that_ends_in_time_gives_its_output() {
        let mut timer = timer_at(Instant::now() + Duration::from_secs(3600));
        let deadline = Instant::now() + Duration::from_secs(60);
        let out = with_deadline(&mut timer, deadline, Duration::ZERO, async { 7 }).await;
        assert_eq!(out, Some(7));
        assert_eq!(timer.deadline(), deadline, "an idle timer is pulled in");
    }

    #[tokio::test]
    async fn a_future_past_its_exact_deadline_is_cut_never_before_it() {
        let deadline = Instant::now() + Duration::from_millis(30);
        // A timer armed for an earlier request fires early: re-armed, not cut.
        let mut timer = timer_at(Instant::now() + Duration::from_millis(5));
        let out = with_deadline(
            &mut timer,
            deadline,
            Duration::ZERO,
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(out, None);
        assert!(Instant::now() >= deadline);
        assert_eq!(timer.deadline(), deadline);
    }

    #[tokio::test]
    async fn with_slack_the_deadline_passes_that_much_early_at_most() {
        let slack = Duration::from_millis(1);
        let deadline = Instant::now() + Duration::from_millis(30);
        let mut timer = timer_at(Instant::now() + Duration::from_millis(5));
        let out = with_deadline(&mut timer, deadline, slack, std::future::pending::<()>()).await;
        assert_eq!(out, None);
        assert!(Instant::now() + slack >= deadline);
    }
}
