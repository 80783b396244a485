//! The time series reduced to what the charts plot ([`ChartData`]): per
//! point and per phase, rates and p50/p95/p99 from the phase's endpoint
//! histograms added together (never averaged percentiles); per streaming
//! phase, TTFT and ITL p50/p95 and the median tokens/s.

use super::{Point, Timeline};
use crate::chart::{ChartData, PhaseColumns, StreamColumns};
use crate::stats::aggregate::{add_into, new_histogram};
use crate::stats::TOKENS_PER_S_SCALE;
use hdrhistogram::Histogram;
use std::collections::BTreeSet;

fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

fn per_s(n: u64, p: &Point) -> f64 {
    n as f64 * 1000.0 / p.length_ms.max(1) as f64
}

fn phase_columns(phase: &str, points: &[Point]) -> PhaseColumns {
    let mut c = PhaseColumns {
        phase: phase.to_string(),
        ..PhaseColumns::default()
    };
    for p in points {
        let mut h = new_histogram();
        let (mut n, mut failed) = (0, 0);
        for r in p.requests.iter().filter(|r| r.phase == phase) {
            n += r.count;
            failed += r.failures;
            // A histogram that does not decode leaves a gap, not a crash:
            // points built in this process always decode.
            if let Ok(d) = r.duration.decode() {
                add_into(&mut h, &d);
            }
        }
        c.requests_per_s.push(per_s(n, p));
        c.failures_per_s.push(per_s(failed, p));
        c.p50_ms.push(quantile_ms(&h, 0.50));
        c.p95_ms.push(quantile_ms(&h, 0.95));
        c.p99_ms.push(quantile_ms(&h, 0.99));
    }
    c
}

fn stream_columns(phase: &str, points: &[Point]) -> StreamColumns {
    let mut c = StreamColumns {
        phase: phase.to_string(),
        ..StreamColumns::default()
    };
    for p in points {
        let s = p.streams.iter().find(|s| s.phase == phase);
        let decoded = |pick: fn(&super::StreamPoint) -> &super::Hdr| {
            s.and_then(|s| pick(s).decode().ok())
                .unwrap_or_else(new_histogram)
        };
        let (ttft, itl, tps) = (
            decoded(|s| &s.ttft),
            decoded(|s| &s.itl),
            decoded(|s| &s.tokens_per_s),
        );
        c.ttft_p50_ms.push(quantile_ms(&ttft, 0.50));
        c.ttft_p95_ms.push(quantile_ms(&ttft, 0.95));
        c.itl_p50_ms.push(quantile_ms(&itl, 0.50));
        c.itl_p95_ms.push(quantile_ms(&itl, 0.95));
        c.tokens_per_s_p50.push(
            (!tps.is_empty())
                .then(|| tps.value_at_quantile(0.5) as f64 / TOKENS_PER_S_SCALE as f64),
        );
    }
    c
}

impl Timeline {
    /// What the HTML report and the live dashboard draw: one column per
    /// line on the points' time axis (the end of each point, seconds).
    /// Phases in the summary's order (sorted by name).
    pub fn chart_data(&self) -> ChartData {
        let phases: BTreeSet<&str> = self
            .points
            .iter()
            .flat_map(|p| p.requests.iter().map(|r| r.phase.as_str()))
            .collect();
        let stream_phases: BTreeSet<&str> = self
            .points
            .iter()
            .flat_map(|p| p.streams.iter().map(|s| s.phase.as_str()))
            .collect();
        ChartData {
            t: self
                .points
                .iter()
                .map(|p| p.end_ms() as f64 / 1000.0)
                .collect(),
            vus: self.points.iter().map(|p| p.vus).collect(),
            phases: phases
                .into_iter()
                .map(|ph| phase_columns(ph, &self.points))
                .collect(),
            streams: stream_phases
                .into_iter()
                .map(|ph| stream_columns(ph, &self.points))
                .collect(),
            // The scraped series are the report's, not the timeline's:
            // `Report::chart_data` adds them.
            server: Vec::new(),
        }
    }
}
