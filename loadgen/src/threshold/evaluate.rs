//! Evaluating a [`Threshold`] on the merged aggregate: which series its
//! selector picks, and its aggregation of them in the threshold's unit
//! (milliseconds, fractions, tokens/s, counts).

use super::{Agg, Metric, Threshold};
use crate::stats::{Aggregate, CheckKey, RequestKey, StreamKey, Summary, TOKENS_PER_S_SCALE};
use hdrhistogram::Histogram;
use std::time::Duration;

/// The outcome of one threshold.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The threshold.
    pub threshold: Threshold,
    /// The measured value; `None` when the selected series had no data.
    pub actual: Option<f64>,
    /// Whether it held (no data never holds).
    pub passed: bool,
}

fn request_matches(t: &Threshold, k: &RequestKey) -> bool {
    t.selector.iter().all(|(tag, v)| match tag.as_str() {
        "phase" => &*k.phase == v,
        "endpoint" => &*k.endpoint == v,
        "status" => k.class.as_str() == v,
        _ => false,
    })
}

fn check_matches(t: &Threshold, k: &CheckKey) -> bool {
    t.selector.iter().all(|(tag, v)| match tag.as_str() {
        "phase" => &*k.phase == v,
        "check" => &*k.name == v,
        _ => false,
    })
}

fn stream_matches(t: &Threshold, k: &StreamKey) -> bool {
    t.selector.iter().all(|(tag, v)| match tag.as_str() {
        "phase" => &*k.phase == v,
        "endpoint" => &*k.endpoint == v,
        // Selects among the error counts, not among the series.
        "kind" => true,
        _ => false,
    })
}

fn ms(us: f64) -> f64 {
    us / 1000.0
}

/// A trend aggregation of `h`, whose values `unit` turns into the
/// threshold's unit; `None` for an empty histogram.
fn trend(h: &Histogram<u64>, agg: Agg, unit: impl Fn(f64) -> f64) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let s = Summary::of(h);
    Some(match agg {
        Agg::Avg => unit(s.avg),
        Agg::Min => unit(s.min as f64),
        Agg::Max => unit(s.max as f64),
        Agg::Med => unit(s.med as f64),
        Agg::P(p) => unit(h.value_at_quantile(p / 100.0) as f64),
        Agg::Count => s.count as f64,
        Agg::Rate => f64::NAN,
    })
}

/// Evaluates one threshold on a finished run: the aggregate, and the time
/// series for `recovery_time` (no spike, or no recovery within the run,
/// is no value: it fails).
pub fn evaluate_run(t: &Threshold, report: &crate::report::Report) -> Verdict {
    if t.metric != Metric::Recovery {
        return evaluate(t, &report.aggregate, report.duration);
    }
    let actual = crate::recovery::measure(&report.timeline)
        .and_then(|r| r.recovered_after_ms)
        .map(|ms| ms as f64);
    Verdict {
        threshold: t.clone(),
        actual,
        passed: actual.is_some_and(|a| t.op.holds(a, t.value)),
    }
}

/// Evaluates one threshold on the merged aggregate of a run lasting `elapsed`.
pub fn evaluate(t: &Threshold, agg: &Aggregate, elapsed: Duration) -> Verdict {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let actual = match t.metric {
        Metric::Duration | Metric::Waiting => {
            let (d, w) = agg.merged_where(|k| request_matches(t, k));
            let h = if t.metric == Metric::Duration { d } else { w };
            trend(&h, t.agg, ms)
        }
        Metric::Stream(m) => {
            let s = agg.streams_where(|k| stream_matches(t, k));
            let scale = TOKENS_PER_S_SCALE as f64;
            if m.is_rate() {
                trend(s.histogram(m), t.agg, |v| v / scale)
            } else {
                trend(s.histogram(m), t.agg, ms)
            }
        }
        Metric::StreamErrors => {
            let s = agg.streams_where(|k| stream_matches(t, k));
            let failed = match t.tag("kind") {
                Some(kind) => s.errors.get(kind).copied().unwrap_or(0),
                None => s.failed(),
            };
            (s.streams > 0).then(|| match t.agg {
                Agg::Rate => failed as f64 / s.streams as f64,
                _ => failed as f64,
            })
        }
        Metric::Failed | Metric::Reqs => {
            let (mut total, mut failed) = (0u64, 0u64);
            for (k, s) in &agg.requests {
                if request_matches(t, k) {
                    total += s.count();
                    failed += s.failures(k.class);
                }
            }
            match (t.metric, t.agg) {
                (Metric::Failed, _) => (total > 0).then(|| failed as f64 / total as f64),
                (_, Agg::Rate) => Some(total as f64 / secs),
                _ => Some(total as f64),
            }
        }
        Metric::Checks => {
            let c = agg.checks_where(|k| check_matches(t, k));
            let n = c.passes + c.fails;
            (n > 0).then(|| c.passes as f64 / n as f64)
        }
        Metric::IterationDuration => trend(&agg.iterations, t.agg, ms),
        Metric::IterationLateness => trend(&agg.lateness, t.agg, ms),
        Metric::Iterations => {
            let n = agg.iterations.len() as f64;
            Some(if t.agg == Agg::Rate { n / secs } else { n })
        }
        // Read from the time series: see `evaluate_run`.
        Metric::Recovery => None,
        Metric::Dropped => {
            let n = agg.dropped_iterations as f64;
            Some(if t.agg == Agg::Rate { n / secs } else { n })
        }
    };
    let passed = actual.is_some_and(|a| t.op.holds(a, t.value));
    Verdict {
        threshold: t.clone(),
        actual,
        passed,
    }
}
