//! Spike recovery: after a spike (the VU count at least [`SPIKE_RATIO`]
//! times the level before it, then back down), how long until the run's
//! latency and error rate are back to what they were before the spike.
//!
//! Read from the time series alone (so `merge` and `report` get it too):
//!
//! - the spike is the stretch of points whose VU count is above
//!   `peak / SPIKE_RATIO`; the level before it is the median VU count of
//!   the points before (at least one with traffic);
//! - the baseline is the last [`BASELINE_MS`] before the spike: its p95
//!   (all requests, merged HDR histograms) and its error rate;
//! - from the end of the spike on, windows of [`WINDOW_MS`] slide point by
//!   point; recovery is the start of the first window whose p95 is within
//!   [`P95_TOLERANCE`] of the baseline's (or [`P95_SLACK_MS`] above it,
//!   whichever is more: a 3 ms p95 is not 'broken' at 5 ms) and whose error
//!   rate is at most [`ERROR_TOLERANCE`] above the baseline's;
//!   `recovered_after_ms` counts from the spike's end (`None`: not within
//!   the run).
//!
//! A guide's criterion, "recovered within 1 minute", is the threshold
//! `recovery_time: max<60s`.

use crate::stats::timeline::{Point, Timeline};
use crate::stats::{add_into, new_histogram};
use hdrhistogram::Histogram;
use serde::Serialize;

/// The peak VU count at least this many times the level before it is a spike.
pub const SPIKE_RATIO: f64 = 2.0;

/// The baseline: this much of the run right before the spike.
pub const BASELINE_MS: u64 = 30_000;

/// Recovery is judged on windows this long.
pub const WINDOW_MS: u64 = 10_000;

/// A window's p95 within this fraction above the baseline's is recovered...
pub const P95_TOLERANCE: f64 = 0.25;

/// ...or within this many milliseconds above it, whichever is more.
pub const P95_SLACK_MS: f64 = 20.0;

/// A window's error rate at most this much (absolute) above the baseline's.
pub const ERROR_TOLERANCE: f64 = 0.01;

/// Windows (and the baseline) need at least this many requests to judge.
pub const MIN_REQUESTS: u64 = 10;

/// What the spike did and how long it took to recover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovery {
    /// VUs before the spike (median) and at its peak.
    pub base_vus: u64,
    pub peak_vus: u64,
    /// The spike, milliseconds since the run started.
    pub spike_start_ms: u64,
    pub spike_end_ms: u64,
    /// The baseline's p95 (ms) and error rate (fraction).
    pub base_p95_ms: f64,
    pub base_error_rate: f64,
    /// The spike's own p95 (ms) and error rate (`None`: too few requests).
    pub spike_p95_ms: Option<f64>,
    pub spike_error_rate: Option<f64>,
    /// From the spike's end to recovery; `None`: not within the run.
    pub recovered_after_ms: Option<u64>,
    /// How much of the run followed the spike.
    pub observed_after_ms: u64,
    /// The window the judgement used.
    pub window_ms: u64,
}

fn end_ms(p: &Point) -> u64 {
    p.start_ms + p.length_ms
}

/// p95 (ms) and error rate of `points` together; `None` below [`MIN_REQUESTS`].
fn judge(points: &[Point]) -> Option<(f64, f64)> {
    let mut h: Histogram<u64> = new_histogram();
    let (mut n, mut failed) = (0u64, 0u64);
    for p in points {
        for r in &p.requests {
            n += r.count;
            failed += r.failures;
            if let Ok(d) = r.duration.decode() {
                add_into(&mut h, &d);
            }
        }
    }
    (n >= MIN_REQUESTS && !h.is_empty()).then(|| {
        (
            h.value_at_quantile(0.95) as f64 / 1000.0,
            failed as f64 / n as f64,
        )
    })
}

/// The spike's recovery, when the run had a spike with traffic before and
/// after it.
pub fn measure(timeline: &Timeline) -> Option<Recovery> {
    let pts = &timeline.points;
    let peak = pts.iter().map(|p| p.vus).max()?;
    let above = |p: &Point| p.vus as f64 > peak as f64 / SPIKE_RATIO;
    let first = pts.iter().position(above)?;
    let last = pts.iter().rposition(above)?;
    let before: Vec<&Point> = pts[..first].iter().filter(|p| p.vus > 0).collect();
    let mut levels: Vec<u64> = before.iter().map(|p| p.vus).collect();
    levels.sort_unstable();
    let base_vus = *levels.get(levels.len() / 2)?;
    if (peak as f64) < SPIKE_RATIO * base_vus as f64 {
        return None;
    }
    let spike_start_ms = pts[first].start_ms;
    let base_from = spike_start_ms.saturating_sub(BASELINE_MS);
    let baseline: Vec<Point> = pts[..first]
        .iter()
        .filter(|p| p.start_ms >= base_from)
        .cloned()
        .collect();
    let (base_p95_ms, base_error_rate) = judge(&baseline)?;
    let spike_end_ms = end_ms(&pts[last]);
    let after = &pts[last + 1..];
    let run_end = pts.last().map_or(spike_end_ms, end_ms);
    let limit_p95 = (base_p95_ms * (1.0 + P95_TOLERANCE)).max(base_p95_ms + P95_SLACK_MS);
    let limit_err = base_error_rate + ERROR_TOLERANCE;
    let spike = judge(&pts[first..=last]);
    let mut recovered_after_ms = None;
    for k in 0..after.len() {
        let from = after[k].start_ms;
        let Some(len) = after[k..]
            .iter()
            .position(|p| end_ms(p) >= from + WINDOW_MS)
            .map(|i| i + 1)
        else {
            break; // less than a window left
        };
        let Some((p95, err)) = judge(&after[k..k + len]) else {
            continue;
        };
        if p95 <= limit_p95 && err <= limit_err {
            recovered_after_ms = Some(from.saturating_sub(spike_end_ms));
            break;
        }
    }
    Some(Recovery {
        base_vus,
        peak_vus: peak,
        spike_start_ms,
        spike_end_ms,
        base_p95_ms,
        base_error_rate,
        spike_p95_ms: spike.map(|s| s.0),
        spike_error_rate: spike.map(|s| s.1),
        recovered_after_ms,
        observed_after_ms: run_end.saturating_sub(spike_end_ms),
        window_ms: WINDOW_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::timeline::{EndpointPoint, Hdr};

    use std::time::Duration;

    /// One 1 s point at `vus` with 20 requests of `ms` each, `failed` of them failed.
    fn point(t_s: u64, vus: u64, ms: u64, failed: u64) -> Point {
        let mut h = new_histogram();
        for _ in 0..20 {
            h.record(ms * 1000).unwrap();
        }
        Point {
            start_ms: t_s * 1000,
            length_ms: 1000,
            vus,
            requests: vec![EndpointPoint {
                phase: "chat".into(),
                endpoint: "chat".into(),
                count: 20,
                failures: failed,
                bytes_sent: 0,
                bytes_received: 0,
                duration: Hdr::encode(&h),
            }],
            checks: Vec::new(),
            streams: Vec::new(),
        }
    }

    /// 30 s at 10 VUs (100 ms), a 20 s spike at 100 VUs (2 s, 4 of 20
    /// failed), then `bad` seconds at 1.5 s, then 100 ms to `end` seconds.
    fn spiky(bad: u64, end: u64) -> Timeline {
        let mut t = Timeline::new(Duration::from_secs(1));
        for s in 0..end {
            let p = match s {
                0..30 => point(s, 10, 100, 0),
                30..50 => point(s, 100, 2000, 4),
                s if s < 50 + bad => point(s, 10, 1500, 0),
                _ => point(s, 10, 100, 0),
            };
            t.push(p).unwrap();
        }
        t
    }

    #[test]
    fn recovery_counts_from_the_spikes_end_to_the_first_window_back_in_tolerance() {
        let r = measure(&spiky(12, 90)).unwrap();
        assert_eq!((r.base_vus, r.peak_vus), (10, 100));
        assert_eq!((r.spike_start_ms, r.spike_end_ms), (30_000, 50_000));
        assert!((r.base_p95_ms - 100.0).abs() < 1.0, "{}", r.base_p95_ms);
        assert_eq!(r.base_error_rate, 0.0);
        assert!((r.spike_p95_ms.unwrap() - 2000.0).abs() < 20.0);
        assert_eq!(r.spike_error_rate, Some(0.2));
        assert_eq!(r.recovered_after_ms, Some(12_000));
        assert_eq!(r.observed_after_ms, 40_000);
        let line = crate::summary::render_recovery(&r);
        assert!(
            line.starts_with("spike recovery: 10 -> 100 VUs (t=30-50 s); p95 100 ms and 0.0% errors before, 2.00 s and 20.0% errors during it; back within tolerance 12.0 s after it ended"),
            "{line}"
        );
    }

    #[test]
    fn a_run_that_never_recovers_says_so_and_a_run_without_a_spike_has_none() {
        let r = measure(&spiky(100, 90)).unwrap();
        assert_eq!(r.recovered_after_ms, None);
        assert!(crate::summary::render_recovery(&r)
            .contains("NOT back within tolerance in the 40 s observed"));
        // Steady 10 VUs: no spike.
        let mut t = Timeline::new(Duration::from_secs(1));
        for s in 0..60 {
            t.push(point(s, 10, 100, 0)).unwrap();
        }
        assert_eq!(measure(&t), None);
        // A ramp from nothing to its peak has no level before it.
        let mut t = Timeline::new(Duration::from_secs(1));
        for s in 0..60 {
            t.push(point(s, if s < 30 { 0 } else { 50 }, 100, 0))
                .unwrap();
        }
        assert_eq!(measure(&t), None);
    }

    #[test]
    fn recovery_time_thresholds_read_it() {
        use crate::threshold::{evaluate_run, parse};
        let run = |timeline| crate::report::Report {
            timeline,
            ..crate::report::Report::test_run(
                crate::stats::Aggregate::default(),
                Duration::from_secs(90),
            )
        };
        let recovered = run(spiky(12, 90));
        let never = run(spiky(100, 90));
        let t = parse("recovery_time: max<60s").unwrap();
        assert_eq!(t.value, 60_000.0);
        let v = evaluate_run(&t, &recovered);
        assert_eq!((v.actual, v.passed), (Some(12_000.0), true));
        let v = evaluate_run(&parse("recovery_time: max<10000").unwrap(), &recovered);
        assert!(!v.passed);
        let v = evaluate_run(&t, &never);
        assert_eq!((v.actual, v.passed), (None, false));
        assert!(parse("recovery_time: p(95)<60s").is_err());
        assert!(parse("http_req_failed: rate<1s")
            .unwrap_err()
            .contains("takes no unit"));
        assert_eq!(
            parse("http_req_duration: p(95)<800ms").unwrap().value,
            800.0
        );
    }
}
