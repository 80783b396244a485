//! The client-side rules (error onset, latency drift) and memory drift,
//! which share the long-steady-run window.

use super::*;

#[test]
fn error_onset_names_the_vus_and_time_errors_started_at() {
    let f = finding(&ramp(|i| i >= 12, 3), "error_onset");
    assert!(
        f.evidence.starts_with("errors started at 130 VUs (t=12 s): 14.3% of requests failed in that interval (3 of 21) and 14.3% from then to the end (24 of 168); most failures: chat chat (24)"),
        "{}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.advice.contains("fewer than 130 VUs"));
    // Errors from the first interval: no knee, and the advice says so.
    let f = finding(&ramp(|_| true, 3), "error_onset");
    assert!(
        f.evidence
            .starts_with("errors started at 10 VUs (t=0 s), from the start: 14.3%"),
        "{}",
        f.evidence
    );
    assert!(f
        .advice
        .starts_with("errors from the first interval are no capacity knee"));
    // Client-side: it fires without server metrics too.
    assert!(rules(&ramp(|i| i >= 12, 3)).contains(&"error_onset".into()));
}

#[test]
fn error_onset_ignores_lone_bad_intervals_and_low_rates() {
    // One bad interval, then clean ones.
    assert!(diagnose(&ramp(|i| i == 7, 3)).is_empty());
    // Only the last interval.
    assert!(diagnose(&ramp(|i| i == 19, 3)).is_empty());
    // Every other interval bad: confirmed (two of three).
    assert!(rules(&ramp(|i| i >= 10 && i % 2 == 0, 3)).contains(&"error_onset".into()));
    // One failure in 23 requests (4.3%): below the level.
    assert!(diagnose(&ramp(|i| i >= 5, 1)).is_empty());
}

/// `n` one-minute intervals at 50 VUs, chat p50 from `from` to `to` ms.
fn soak(n: usize, every_ms: u64, from: u64, to: u64) -> Report {
    let intervals = (0..n)
        .map(|i| Interval {
            vus: 50,
            records: turns(20, from + (to - from) * i as u64 / (n as u64 - 1), 200),
        })
        .collect();
    report_of(intervals, every_ms, &[])
}

#[test]
fn latency_drift_fires_on_a_long_steady_run_only() {
    let f = finding(&soak(30, 60_000, 100, 200), "latency_drift");
    assert!(
        f.evidence
            .starts_with("at 50 VUs, chat chat p50 rose from 11"),
        "{}",
        f.evidence
    );
    assert!(
        f.evidence.contains("over 30 min (Theil–Sen slope +3."),
        "{}",
        f.evidence
    );
    // Flat: nothing.
    assert!(diagnose(&soak(30, 60_000, 100, 104)).is_empty());
    // The same rise in 30 s: too short to say anything about a leak.
    assert!(diagnose(&soak(30, 1000, 100, 200)).is_empty());
    // A ramp (VUs changing every interval) is no steady stretch.
    let mut r = soak(30, 60_000, 100, 200);
    for (i, p) in r.timeline.points.iter_mut().enumerate() {
        p.vus = i as u64 + 1;
    }
    assert!(diagnose(&r).is_empty());
}

fn soak_target(points: usize, every_ms: u64, rss: impl Fn(usize) -> f64) -> ScrapeTarget {
    let mut t = healthy_target();
    t.t_ms = (0..points as u64).map(|i| i * every_ms).collect();
    for v in t.series.values_mut() {
        let first = v.first().copied().flatten();
        *v = vec![first; points];
    }
    set(&mut t, s::RSS_MIB, (0..points).map(rss).collect());
    t
}

#[test]
fn memory_drift_fires_on_a_steady_rise_over_a_long_run() {
    let flat = soak(30, 60_000, 100, 100);
    let t = soak_target(60, 30_000, |i| 100.0 + 2.0 * i as f64);
    let f = finding(&with_server(flat.clone(), t), "memory_drift");
    assert!(f.evidence.starts_with("at 50 VUs, resident memory rose from 119 MiB (first third) to 199 MiB (last third) over 30 min (Theil–Sen slope +4.00 MiB/min)"), "{}", f.evidence);
    // 10 MiB over the run: under the floor.
    let t = soak_target(60, 30_000, |i| 100.0 + i as f64 / 6.0);
    assert!(diagnose(&with_server(flat.clone(), t)).is_empty());
    // The same rise in a short run: nothing.
    let short = soak(30, 1000, 100, 100);
    let t = soak_target(60, 500, |i| 100.0 + 2.0 * i as f64);
    assert!(diagnose(&with_server(short, t)).is_empty());
}

#[test]
fn target_unhealthy_names_the_onset_and_counts_each_kind() {
    use crate::report::HealthNote;
    let note = |t_ms, kind: &str, detail: &str| HealthNote {
        t_ms,
        kind: kind.into(),
        detail: detail.into(),
    };
    let mut r = healthy_client();
    assert!(!rules(&r).contains(&"target_unhealthy".into()));
    r.health = vec![
        note(
            12_000,
            "unreachable",
            "target unreachable: GET u: no answer within the timeout",
        ),
        note(
            14_000,
            "degraded",
            "GET u answered 503 with status=\"degraded\", app_env=\"test\"",
        ),
        note(
            16_000,
            "degraded",
            "GET u answered 503 with status=\"degraded\", app_env=\"test\"",
        ),
    ];
    let f = finding(&r, "target_unhealthy");
    assert_eq!(
        f.evidence,
        "the target's health check said it was degraded at 2 re-checks and did not answer in time at 1 re-check (from t=12 s to t=16 s); first: target unreachable: GET u: no answer within the timeout"
    );
    assert_eq!(f.severity, Severity::Critical);
    // Timeouts only: a warning.
    r.health.truncate(1);
    let f = finding(&r, "target_unhealthy");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.evidence
            .contains("did not answer in time at 1 re-check (from t=12 s)"),
        "{}",
        f.evidence
    );
}
