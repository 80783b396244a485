//! k6's `abortOnFail` during a run: the thresholds marked so are judged at
//! every `--interval` tick on the run so far (once `delayAbortEval` has
//! passed), and the first that fails ends the run as Ctrl-C would, with
//! every output written and exit code 99. A threshold whose series has no
//! data yet is not judged during the run (k6 does the same): "no data" only
//! fails at the end.

use super::{evaluate, Threshold};
use crate::report::AbortReason;
use crate::stats::Collector;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The run's `abortOnFail` thresholds and how to stop the run.
pub struct AbortOnFail {
    checks: Vec<Threshold>,
    stop: Arc<watch::Sender<bool>>,
    reason: Arc<Mutex<Option<AbortReason>>>,
    fired: bool,
}

impl AbortOnFail {
    /// `None` when no threshold asks to abort.
    pub fn new(
        thresholds: &[Threshold],
        stop: Arc<watch::Sender<bool>>,
        reason: Arc<Mutex<Option<AbortReason>>>,
    ) -> Option<AbortOnFail> {
        let checks: Vec<Threshold> = thresholds
            .iter()
            .filter(|t| t.abort_on_fail.is_some())
            .cloned()
            .collect();
        (!checks.is_empty()).then_some(AbortOnFail {
            checks,
            stop,
            reason,
            fired: false,
        })
    }

    /// Judges the due thresholds on the run so far (`elapsed` into it);
    /// the first failure stops the run. Takes a snapshot only when one is due.
    pub fn check(&mut self, collector: &Collector, elapsed: Duration) {
        if self.fired {
            return;
        }
        let due: Vec<&Threshold> = self
            .checks
            .iter()
            .filter(|t| t.abort_on_fail.is_some_and(|delay| elapsed >= delay))
            .collect();
        if due.is_empty() {
            return;
        }
        let so_far = collector.snapshot();
        for t in due {
            let verdict = evaluate(t, &so_far, elapsed);
            let Some(actual) = verdict.actual else {
                continue;
            };
            if !verdict.passed {
                let what = format!(
                    "{} failed at t={:.1} s (actual {actual:.4})",
                    t,
                    elapsed.as_secs_f64(),
                );
                eprintln!("\nloadgen: {what}; aborting the run (abortOnFail)");
                self.reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(AbortReason::Threshold(what));
                self.stop.send_replace(true);
                self.fired = true;
                return;
            }
        }
    }
}
