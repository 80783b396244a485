//! Small robust statistics the rules share: "sustained" counts over
//! scrapes, medians, thirds of a series, the Theil–Sen slope, and the
//! client's chat histograms (overall, per timeline point, per VU level).

use crate::report::Report;
use crate::server::ScrapeTarget;
use crate::stats::timeline::Point;
use crate::stats::{add_into, new_histogram};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// A condition is sustained when it holds in at least this many scrapes...
pub const SUSTAINED_MIN_SCRAPES: usize = 3;

/// ...and in at least this share of the scrapes that had the series. One
/// scrape that caught a blip never fires; a run that ramps up and spends
/// its last quarter saturated does.
pub const SUSTAINED_SHARE: f64 = 0.25;

/// The journey phase whose requests are chat turns.
pub const CHAT_PHASE: &str = "chat";

/// How many values of a series met a condition.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    /// Scrapes where it held.
    pub hits: usize,
    /// Scrapes that had a value.
    pub of: usize,
}

impl Count {
    /// Held often enough to be more than a blip (see [`SUSTAINED_SHARE`]).
    pub fn sustained(&self) -> bool {
        self.hits >= SUSTAINED_MIN_SCRAPES && self.hits as f64 >= SUSTAINED_SHARE * self.of as f64
    }
}

/// The values a target has for series `name`, with their times (ms).
pub fn values(t: &ScrapeTarget, name: &str) -> Vec<(u64, f64)> {
    let Some(v) = t.series.get(name) else {
        return Vec::new();
    };
    t.t_ms
        .iter()
        .zip(v)
        .filter_map(|(t, v)| v.filter(|x| x.is_finite()).map(|x| (*t, x)))
        .collect()
}

/// Counts the values of series `name` for which `pred` holds.
pub fn count(t: &ScrapeTarget, name: &str, pred: impl Fn(f64) -> bool) -> Count {
    let v = values(t, name);
    Count {
        hits: v.iter().filter(|(_, x)| pred(*x)).count(),
        of: v.len(),
    }
}

/// The largest value of series `name`.
pub fn max(t: &ScrapeTarget, name: &str) -> Option<f64> {
    values(t, name).into_iter().map(|(_, x)| x).reduce(f64::max)
}

/// A run total, when the target had it.
pub fn total(t: &ScrapeTarget, name: &str) -> Option<f64> {
    t.totals.get(name).copied().filter(|x| x.is_finite())
}

/// The median (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The first and the last third of `v` (in order); `None` below 3 values.
pub fn thirds<T>(v: &[T]) -> Option<(&[T], &[T])> {
    let k = v.len() / 3;
    (k > 0).then(|| (&v[..k], &v[v.len() - k..]))
}

/// Most pairs the Theil–Sen slope looks at: beyond it the points are
/// thinned evenly (2,000 points would make two million pairs).
const THEIL_SEN_MAX_POINTS: usize = 400;

/// The Theil–Sen slope of `(x, y)`: the median of the slopes of all pairs
/// with distinct x. Robust: up to ~29% of outliers do not move it.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let step = points.len().div_ceil(THEIL_SEN_MAX_POINTS).max(1);
    let p: Vec<(f64, f64)> = points.iter().step_by(step).copied().collect();
    let mut slopes = Vec::new();
    for (i, a) in p.iter().enumerate() {
        for b in &p[i + 1..] {
            let dx = b.0 - a.0;
            if dx.abs() > f64::EPSILON {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    median(&slopes)
}

/// All chat-phase requests of the run (µs).
pub fn chat_histogram(report: &Report) -> Histogram<u64> {
    report.aggregate.merged_where(|k| &*k.phase == CHAT_PHASE).0
}

/// The requests of one timeline point that `keep(phase, endpoint)`
/// selects, added (µs). A histogram that does not decode counts as empty.
pub fn point_histogram(p: &Point, keep: impl Fn(&str, &str) -> bool) -> Histogram<u64> {
    let mut h = new_histogram();
    for r in p.requests.iter().filter(|r| keep(&r.phase, &r.endpoint)) {
        if let Ok(d) = r.duration.decode() {
            add_into(&mut h, &d);
        }
    }
    h
}

/// Chat-phase durations per VU level of the timeline (points added by
/// their VU count).
pub fn chat_by_vus(report: &Report) -> BTreeMap<u64, Histogram<u64>> {
    let mut levels: BTreeMap<u64, Histogram<u64>> = BTreeMap::new();
    for p in &report.timeline.points {
        let h = point_histogram(p, |phase, _| phase == CHAT_PHASE);
        if !h.is_empty() {
            add_into(levels.entry(p.vus).or_insert_with(new_histogram), &h);
        }
    }
    levels
}

/// Milliseconds of a µs value, as a figure.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Seconds, for "t=42 s".
pub fn secs(t_ms: u64) -> String {
    let s = t_ms as f64 / 1000.0;
    if s < 100.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} s ({:.1} min)", s, s / 60.0)
    }
}

/// A percentage with one decimal.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}
