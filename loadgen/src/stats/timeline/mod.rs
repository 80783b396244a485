//! The time series of a run: one [`Point`] per interval (default 1 s,
//! `--interval`), each with the most VUs active during it, per-(phase, endpoint) counts,
//! failures, bytes and HDR duration histogram, checks, and per-phase stream
//! histograms (TTFT, ITL, tokens/s).
//!
//! # Cost
//!
//! Nothing is added to the engine's hot path: the collector's shards
//! already hold what was recorded since the last tick, and each tick
//! ([`Sampler`]) takes them out, merges them into the run's total and turns
//! the interval into a point (see [`crate::stats::Collector::take_interval`]).
//!
//! # Bounded memory
//!
//! Points keep their histograms encoded ([`Hdr`]). Beyond [`MAX_POINTS`],
//! every point is merged with its neighbour (histograms added, lengths
//! added) and the series' resolution doubles; later intervals are then
//! folded into points of that resolution. So an 8-hour soak at 1 s keeps
//! 1,800 points of 16 s covering the whole run, all of one length (but the
//! last). Percentiles of a point or a phase come from adding histograms,
//! never from averaging percentiles.

mod chart;
mod hdr;
mod point;
mod sampler;
#[cfg(test)]
mod tests;

pub use hdr::Hdr;
pub use point::{CheckPoint, EndpointPoint, Point, StreamPoint};
pub use sampler::Sampler;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Most points kept before old ones are merged pairwise.
pub const MAX_POINTS: usize = 2000;

/// The default sampling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

fn default_cap() -> usize {
    MAX_POINTS
}

/// The series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// The sampling interval the run used, milliseconds.
    pub interval_ms: u64,
    /// The length of a point now: the interval times a power of two once
    /// old points were merged.
    pub resolution_ms: u64,
    /// Points in time order, not overlapping.
    pub points: Vec<Point>,
    #[serde(skip, default = "default_cap")]
    cap: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new(DEFAULT_INTERVAL)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Timeline {
    /// An empty series sampled every `interval` (at least 1 ms).
    pub fn new(interval: Duration) -> Timeline {
        Timeline::with_cap(interval, MAX_POINTS)
    }

    /// An empty series that merges pairwise beyond `cap` points (at least 2).
    pub fn with_cap(interval: Duration, cap: usize) -> Timeline {
        let ms = millis(interval);
        Timeline {
            interval_ms: ms,
            resolution_ms: ms,
            points: Vec::new(),
            cap: cap.max(2),
        }
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Requests over all points.
    pub fn total_requests(&self) -> u64 {
        self.points.iter().map(Point::total_requests).sum()
    }

    fn bucket(&self, start_ms: u64) -> u64 {
        start_ms / self.resolution_ms.max(1)
    }

    /// Appends the next interval's point: folded into the last point while
    /// that one is shorter than the resolution and in the same bucket;
    /// beyond the cap, old points are merged pairwise.
    pub fn push(&mut self, p: Point) -> Result<(), String> {
        let bucket = self.bucket(p.start_ms);
        let resolution = self.resolution_ms;
        let last_bucket = self.points.last().map(|l| self.bucket(l.start_ms));
        if let Some(last) = self.points.last_mut() {
            if last.length_ms < resolution && last_bucket == Some(bucket) {
                return last.absorb(&p);
            }
        }
        self.points.push(p);
        while self.points.len() > self.cap {
            self.regrid(self.resolution_ms.saturating_mul(2))?;
        }
        Ok(())
    }

    /// Folds the run's last, short stretch into the last point (so that a
    /// few milliseconds after the last tick do not make a point of their
    /// own, with rates divided by almost nothing), or appends it when there
    /// is no point yet.
    pub fn extend_last(&mut self, p: Point) -> Result<(), String> {
        match self.points.last_mut() {
            Some(last) => last.absorb(&p),
            None => {
                self.points.push(p);
                Ok(())
            }
        }
    }

    /// Regroups the points into buckets of `resolution_ms` (a coarser grid).
    fn regrid(&mut self, resolution_ms: u64) -> Result<(), String> {
        self.resolution_ms = resolution_ms.max(self.resolution_ms).max(1);
        let mut out: Vec<Point> = Vec::with_capacity(self.points.len() / 2 + 1);
        for p in std::mem::take(&mut self.points) {
            let b = self.bucket(p.start_ms);
            match out.last_mut() {
                Some(last) if self.bucket(last.start_ms) == b => last.absorb(&p)?,
                _ => out.push(p),
            }
        }
        self.points = out;
        Ok(())
    }

    /// Merges the series of shards that ran at the same time: each is first
    /// brought to the coarsest resolution among them, then points are
    /// aligned by their start offset (bucket of that resolution), their
    /// histograms added and their VUs summed.
    pub fn merge_concurrent(series: &[&Timeline]) -> Result<Timeline, String> {
        let interval_ms = series.iter().map(|t| t.interval_ms).max().unwrap_or(1000);
        let resolution_ms = series
            .iter()
            .map(|t| t.resolution_ms)
            .max()
            .unwrap_or(interval_ms);
        let mut merged = Timeline {
            interval_ms,
            resolution_ms,
            points: Vec::new(),
            cap: MAX_POINTS,
        };
        let mut by_bucket: BTreeMap<u64, Point> = BTreeMap::new();
        for t in series {
            let mut t = (*t).clone();
            t.regrid(resolution_ms)?;
            for p in t.points {
                match by_bucket.entry(merged.bucket(p.start_ms)) {
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().add_concurrent(&p)?
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(p);
                    }
                }
            }
        }
        merged.points = by_bucket.into_values().collect();
        while merged.points.len() > merged.cap {
            merged.regrid(merged.resolution_ms.saturating_mul(2))?;
        }
        Ok(merged)
    }

    /// Checks a series read from a file: a positive interval and
    /// resolution, points in order, of positive length, not overlapping.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_ms == 0 || self.resolution_ms < self.interval_ms {
            return Err(format!(
                "timeline: interval_ms {} and resolution_ms {} (the interval must be positive, \
                 the resolution at least the interval)",
                self.interval_ms, self.resolution_ms
            ));
        }
        let mut end = 0;
        for (i, p) in self.points.iter().enumerate() {
            if p.length_ms == 0 || p.start_ms < end {
                return Err(format!(
                    "timeline point {i}: starts at {} ms, lasts {} ms, after a point ending at {end} ms \
                     (points must be in order, not overlap, and last more than 0 ms)",
                    p.start_ms, p.length_ms
                ));
            }
            end = p.end_ms();
        }
        Ok(())
    }
}
