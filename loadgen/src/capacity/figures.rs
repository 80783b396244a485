//! One step's figures, read from the aggregate of its hold window: the
//! throughput, error rate, latency percentiles (overall and per phase),
//! TTFT when streaming, the threshold verdicts, and goodput.
//!
//! **Goodput** (as LLM serving benchmarks define it: the rate of requests
//! that meet the SLO, not of all requests served) is, per second of the
//! hold window, the requests that
//!
//! 1. succeeded in the `http_req_failed` sense (a 2xx/3xx answer, and for a
//!    stream a `done` event), and
//! 2. took no longer than their SLO: the tightest `http_req_duration` limit
//!    of the threshold set that applies to the request (a threshold whose
//!    `phase`/`endpoint`/`status` selector matches it, with a `p(N)`,
//!    `med` or `max` aggregation and a `<` or `<=` limit). A request that no
//!    duration threshold applies to needs only to succeed.
//!
//! Counted from the HDR histograms, so exact to their 0.1% precision at
//! the limit. A failed stream is answered 2xx, so its duration is in the
//! success histogram: it is taken off the count within the limit (so the
//! goodput is never overstated). TTFT thresholds gate the knee but are not
//! joined to single requests here (the histograms do not pair a request's
//! TTFT with its duration).

use crate::stats::{Aggregate, RequestKey, Summary};
use crate::threshold::{self, Agg, Metric, Op, Threshold};
use serde::Serialize;
use std::time::Duration;

/// Percentiles of one series, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Requests in the series.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Latency {
    fn of(s: &Summary) -> Latency {
        Latency {
            count: s.count,
            p50_ms: ms(s.med),
            p95_ms: ms(s.p95),
            p99_ms: ms(s.p99),
        }
    }
}

/// One phase's latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseLatency {
    /// The phase (`auth`, `session`, `chat`, ...).
    pub phase: String,
    /// Its requests' durations.
    #[serde(flatten)]
    pub latency: Latency,
}

/// TTFT of the streamed chat turns, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ttft {
    /// Streams with a first token.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
}

/// Goodput (see the module's definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Goodput {
    /// Requests that succeeded within their SLO.
    pub good_requests: u64,
    /// Those per second of the hold window.
    pub per_s: f64,
    /// Their share of all requests of the window (0..=1; 0 with none).
    pub ratio: f64,
}

/// One threshold's outcome at a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepVerdict {
    /// The threshold, as written (k6 syntax).
    pub threshold: String,
    /// Its value at this step; `None` when its series got no data.
    pub actual: Option<f64>,
    /// Whether it held (no data never holds).
    pub passed: bool,
}

/// What one step measured in its hold window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Seconds measured (the hold window as it ran).
    pub window_s: f64,
    /// Requests completed in the window.
    pub requests: u64,
    /// Of them, failed (`http_req_failed`).
    pub failed: u64,
    /// `failed / requests` (0 with none).
    pub error_rate: f64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Iterations completed in the window.
    pub iterations: u64,
    /// Iterations per second.
    pub iterations_per_s: f64,
    /// Open model: arrivals that found no free VU.
    pub dropped_iterations: u64,
    /// All requests' durations.
    pub latency: Latency,
    /// Per phase, in phase-name order.
    pub phases: Vec<PhaseLatency>,
    /// Streamed turns' TTFT (`None` unless streaming).
    pub ttft: Option<Ttft>,
    /// Goodput.
    pub goodput: Goodput,
    /// Every threshold's verdict.
    pub verdicts: Vec<StepVerdict>,
}

impl Figures {
    /// Whether every threshold held.
    pub fn held(&self) -> bool {
        self.verdicts.iter().all(|v| v.passed)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The figures of `agg`, recorded over `window`, judged by `thresholds`.
pub fn figures(agg: &Aggregate, window: Duration, thresholds: &[Threshold]) -> Figures {
    let secs = window.as_secs_f64().max(1e-9);
    let requests = agg.total_requests();
    let failed = agg.failed_requests();
    let (all, _) = agg.merged_where(|_| true);
    let phases = agg
        .phases()
        .into_iter()
        .map(|phase| {
            let (h, _) = agg.merged_where(|k| k.phase == phase);
            PhaseLatency {
                phase: phase.to_string(),
                latency: Latency::of(&Summary::of(&h)),
            }
        })
        .collect();
    let streams = agg.streams_where(|_| true);
    let ttft = (streams.streams > 0).then(|| {
        let s = Summary::of(&streams.ttft);
        Ttft {
            count: s.count,
            p50_ms: ms(s.med),
            p95_ms: ms(s.p95),
        }
    });
    let good = good_requests(agg, thresholds);
    let iterations = agg.iterations.len();
    Figures {
        window_s: window.as_secs_f64(),
        requests,
        failed,
        error_rate: ratio(failed, requests),
        requests_per_s: requests as f64 / secs,
        iterations,
        iterations_per_s: iterations as f64 / secs,
        dropped_iterations: agg.dropped_iterations,
        latency: Latency::of(&Summary::of(&all)),
        phases,
        ttft,
        goodput: Goodput {
            good_requests: good,
            per_s: good as f64 / secs,
            ratio: ratio(good, requests),
        },
        verdicts: thresholds
            .iter()
            .map(|t| {
                let v = threshold::evaluate(t, agg, window);
                StepVerdict {
                    threshold: t.to_string(),
                    actual: v.actual,
                    passed: v.passed,
                }
            })
            .collect(),
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// Whether `t`'s selector picks the request series `k` (as the threshold
/// evaluation does).
fn selects(t: &Threshold, k: &RequestKey) -> bool {
    t.selector.iter().all(|(tag, v)| match tag.as_str() {
        "phase" => &*k.phase == v,
        "endpoint" => &*k.endpoint == v,
        "status" => k.class.as_str() == v,
        _ => false,
    })
}

/// The SLO of the requests of series `k`: the tightest per-request
/// duration limit, in microseconds, with whether the limit itself is
/// allowed (`<=`); `None` when no duration threshold applies.
pub fn slo_limit(thresholds: &[Threshold], k: &RequestKey) -> Option<(f64, bool)> {
    thresholds
        .iter()
        .filter(|t| t.metric == Metric::Duration && selects(t, k))
        .filter(|t| matches!(t.agg, Agg::P(_) | Agg::Med | Agg::Max))
        .filter_map(|t| match t.op {
            Op::Lt => Some((t.value * 1000.0, false)),
            Op::Le => Some((t.value * 1000.0, true)),
            _ => None,
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
}

/// Requests that succeeded within their SLO (the module's definition).
pub fn good_requests(agg: &Aggregate, thresholds: &[Threshold]) -> u64 {
    agg.requests
        .iter()
        .filter(|(k, _)| !k.class.is_failure())
        .map(|(k, s)| {
            let within = match slo_limit(thresholds, k) {
                None => s.count(),
                Some((limit_us, inclusive)) => {
                    let top = if inclusive {
                        limit_us.floor()
                    } else {
                        // The largest whole microsecond below the limit.
                        limit_us.ceil() - 1.0
                    };
                    if top < 0.0 {
                        0
                    } else {
                        // Each bucket stands for its middle value: exact
                        // to the histogram's 0.1% either way.
                        s.duration
                            .iter_recorded()
                            .filter(|v| {
                                s.duration.median_equivalent(v.value_iterated_to()) as f64 <= top
                            })
                            .map(|v| v.count_at_value())
                            .sum()
                    }
                }
            };
            within.saturating_sub(s.stream_failures)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Record, RequestRecord};

    fn req(phase: &str, status: Option<u16>, ms: u64) -> Record {
        Record::Request(RequestRecord {
            phase: phase.into(),
            endpoint: "e".into(),
            status,
            error: status.is_none().then_some("timeout"),
            duration: Duration::from_millis(ms),
            waiting: Duration::from_millis(ms),
            bytes_sent: 1,
            bytes_received: 1,
        })
    }

    fn thresholds(list: &[&str]) -> Vec<Threshold> {
        list.iter().map(|t| threshold::parse(t).unwrap()).collect()
    }

    #[test]
    fn goodput_counts_successes_within_their_phase_limit_per_second() {
        let mut agg = Aggregate::default();
        // auth: limit 100 ms; 3 within, 1 over, 1 failed (fast, still bad).
        for ms in [10, 50, 99, 150] {
            agg.record(&req("auth", Some(200), ms));
        }
        agg.record(&req("auth", Some(500), 5));
        // chat: limit 1000 ms from the global threshold; 2 within, 1 over.
        for ms in [200, 900, 1500] {
            agg.record(&req("chat", Some(200), ms));
        }
        // other: no duration threshold selects it... the global one does.
        let t = thresholds(&[
            "http_req_duration{phase:auth}: p(95)<100",
            "http_req_duration: p(99)<1000",
            "http_req_failed: rate<0.01",
        ]);
        let f = figures(&agg, Duration::from_secs(2), &t);
        assert_eq!(f.requests, 8);
        assert_eq!(f.failed, 1);
        assert_eq!(f.goodput.good_requests, 5);
        assert!((f.goodput.per_s - 2.5).abs() < 1e-9);
        assert!((f.goodput.ratio - 5.0 / 8.0).abs() < 1e-9);
        assert!(!f.held(), "p95 of auth over 100 ms and 12.5% errors");
    }

    #[test]
    fn a_request_no_duration_threshold_applies_to_needs_only_to_succeed() {
        let mut agg = Aggregate::default();
        agg.record(&req("chat", Some(200), 60_000));
        agg.record(&req("chat", None, 1));
        let t = thresholds(&["http_req_duration{phase:auth}: p(95)<100"]);
        assert_eq!(good_requests(&agg, &t), 1);
    }

    #[test]
    fn the_tightest_limit_wins_and_a_strict_limit_excludes_the_limit_itself() {
        let mut agg = Aggregate::default();
        for ms in [100, 200, 300] {
            agg.record(&req("auth", Some(200), ms));
        }
        let strict = thresholds(&[
            "http_req_duration: p(99)<1000",
            "http_req_duration{phase:auth}: p(95)<200",
        ]);
        assert_eq!(good_requests(&agg, &strict), 1);
        let inclusive = thresholds(&["http_req_duration{phase:auth}: max<=200"]);
        assert_eq!(good_requests(&agg, &inclusive), 2);
        // avg, min, count and `>` are not per-request limits.
        let none = thresholds(&["http_req_duration: avg<1", "http_req_duration: count>1"]);
        assert_eq!(good_requests(&agg, &none), 3);
    }

    #[test]
    fn figures_give_percentiles_per_phase_and_rates_over_the_window() {
        let mut agg = Aggregate::default();
        for ms in 1..=100 {
            agg.record(&req("chat", Some(200), ms));
        }
        agg.record(&Record::Iteration {
            duration: Duration::from_secs(1),
            lateness: None,
        });
        let f = figures(&agg, Duration::from_secs(10), &[]);
        assert!((f.requests_per_s - 10.0).abs() < 1e-9);
        assert!((f.iterations_per_s - 0.1).abs() < 1e-9);
        assert_eq!(f.phases.len(), 1);
        assert!((f.latency.p50_ms - 50.0).abs() < 0.1, "{:?}", f.latency);
        assert!((f.latency.p99_ms - 99.0).abs() < 0.1, "{:?}", f.latency);
        assert!(f.ttft.is_none());
        assert!(f.held(), "no thresholds: nothing to fail");
    }
}
