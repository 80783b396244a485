//! The open model's clock: when iterations are due (`--rate`,
//! `--rate-stages`, `--arrivals uniform|poisson`).
//!
//! The rate is piecewise linear, as k6's `ramping-arrival-rate`: it starts
//! at `start_rate` and each stage moves it linearly to its target over its
//! duration. The expected number of arrivals by time `t` is the integral
//! of the rate, `N(t)`; arrival `k` is due where `N(t)` reaches `c_k`:
//! `c_k = k` for uniform arrivals (the first at t = 0, as k6), and for
//! Poisson arrivals `c_k` is a sum of `k + 1` unit exponential draws, a
//! non-homogeneous Poisson process by time change, so a ramp stays a
//! Poisson process at every rate. Seeded: the same seed gives the same
//! schedule.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// One stage of the arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// The rate at its end, iterations per second.
    pub target: f64,
}

/// An open-model load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrivals {
    /// Iterations per second at the start.
    pub start_rate: f64,
    /// The stages (a constant rate is one stage at that rate).
    pub stages: Vec<RateStage>,
    /// VUs started before the first arrival.
    pub pre_allocated_vus: u32,
    /// The most VUs: an arrival that finds none free and this many running
    /// is dropped (`dropped_iterations`).
    pub max_vus: u32,
    /// Poisson (exponential gaps) instead of evenly spaced arrivals.
    pub poisson: bool,
}

impl Arrivals {
    /// The whole schedule's length.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest rate anywhere in the schedule.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start_rate, f64::max)
    }

    /// The arrivals expected over the whole schedule (`N` at its end).
    pub fn expected(&self) -> f64 {
        let mut from = self.start_rate;
        let mut n = 0.0;
        for s in &self.stages {
            n += (from + s.target) / 2.0 * s.duration.as_secs_f64();
            from = s.target;
        }
        n
    }

    /// The due times, as offsets from the start, in order, seeded.
    pub fn times(&self, seed: u64) -> Times<'_> {
        Times {
            arrivals: self,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6F70_656E_6D6F_6465),
            k: 0,
            c: 0.0,
            stage: 0,
            stage_start: 0.0,
            count_at_stage_start: 0.0,
            rate_at_stage_start: self.start_rate,
        }
    }
}

/// The due times of an [`Arrivals`] schedule.
pub struct Times<'a> {
    arrivals: &'a Arrivals,
    rng: ChaCha8Rng,
    k: u64,
    /// `c_k`: the cumulative count the next arrival is due at.
    c: f64,
    stage: usize,
    stage_start: f64,
    count_at_stage_start: f64,
    rate_at_stage_start: f64,
}

impl Iterator for Times<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.c = if self.arrivals.poisson {
            // A unit exponential draw: -ln(U), U in (0, 1].
            let u: f64 = 1.0 - self.rng.gen::<f64>();
            self.c + -u.ln()
        } else {
            self.k as f64
        };
        self.k += 1;
        loop {
            let stage = self.arrivals.stages.get(self.stage)?;
            let d = stage.duration.as_secs_f64();
            let (r0, r1) = (self.rate_at_stage_start, stage.target);
            let in_stage = (r0 + r1) / 2.0 * d;
            let need = self.c - self.count_at_stage_start;
            if need < in_stage {
                let tau = solve(r0, r1, d, need)?;
                return Some(Duration::from_secs_f64(self.stage_start + tau));
            }
            self.stage += 1;
            self.stage_start += d;
            self.count_at_stage_start += in_stage;
            self.rate_at_stage_start = r1;
        }
    }
}

/// The time `tau` into a stage (rate `r0` to `r1` over `d` s) at which the
/// stage's count reaches `need`: `r0 tau + (r1 - r0) tau^2 / (2 d) = need`.
fn solve(r0: f64, r1: f64, d: f64, need: f64) -> Option<f64> {
    if d <= 0.0 {
        return None;
    }
    let a = (r1 - r0) / d;
    let tau = if a.abs() < 1e-12 {
        if r0 <= 0.0 {
            return None;
        }
        need / r0
    } else {
        let disc = r0 * r0 + 2.0 * a * need;
        (-r0 + disc.max(0.0).sqrt()) / a
    };
    (tau.is_finite() && tau >= 0.0).then_some(tau.min(d))
}

/// Parses a rate: `10/s`, `600/m`, `36000/h`, or a bare number (per second).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (n, per) = match t.split_once('/') {
        Some((n, unit)) => (
            n.trim(),
            match unit.trim() {
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                other => return Err(format!("rate {t:?}: unit {other:?} is not s, m or h")),
            },
        ),
        None => (t, 1.0),
    };
    let v: f64 = n
        .parse()
        .map_err(|_| format!("rate {t:?} is not a number per second (e.g. 10/s, 600/m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("rate {t:?} must be a finite number >= 0"));
    }
    Ok(v / per)
}

/// Parses `--rate-stages 30s:5/s,2m:20/s,30s:0/s`.
pub fn parse_rate_stages(spec: &str) -> Result<Vec<RateStage>, String> {
    let stages =
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|part| {
                let (d, r) = part.trim().split_once(':').ok_or_else(|| {
                    format!("stage {part:?} is not DURATION:RATE (e.g. 30s:10/s)")
                })?;
                Ok(RateStage {
                    duration: crate::duration::parse_duration(d)?,
                    target: parse_rate(r)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
    if stages.is_empty() {
        return Err("no stages".into());
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(rate: f64, secs: u64, poisson: bool) -> Arrivals {
        Arrivals {
            start_rate: rate,
            stages: vec![RateStage {
                duration: Duration::from_secs(secs),
                target: rate,
            }],
            pre_allocated_vus: 1,
            max_vus: 1,
            poisson,
        }
    }

    #[test]
    fn a_constant_rate_is_evenly_spaced_from_zero() {
        let a = constant(10.0, 2, false);
        let t: Vec<Duration> = a.times(1).collect();
        assert_eq!(t.len(), 20);
        assert_eq!(t[0], Duration::ZERO);
        assert_eq!(t[1], Duration::from_millis(100));
        assert_eq!(t[19], Duration::from_millis(1900));
        assert_eq!(a.expected(), 20.0);
    }

    #[test]
    fn a_ramp_follows_the_integral_of_its_rate() {
        // 0 -> 20/s over 10 s (100 arrivals), then 20/s for 5 s (100 more).
        let a = Arrivals {
            start_rate: 0.0,
            stages: vec![
                RateStage {
                    duration: Duration::from_secs(10),
                    target: 20.0,
                },
                RateStage {
                    duration: Duration::from_secs(5),
                    target: 20.0,
                },
            ],
            pre_allocated_vus: 1,
            max_vus: 1,
            poisson: false,
        };
        let t: Vec<f64> = a.times(1).map(|d| d.as_secs_f64()).collect();
        assert_eq!(a.expected(), 200.0);
        assert_eq!(t.len(), 200);
        // N(t) = t^2 on the ramp: the 25th arrival (c = 25) at 5 s.
        assert!((t[25] - 5.0).abs() < 1e-9, "{}", t[25]);
        // Sparse at the start, dense at the end.
        assert!(t[1] - t[0] > t[99] - t[98]);
        // Then every 50 ms.
        assert!((t[150] - 12.5).abs() < 1e-9, "{}", t[150]);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn poisson_arrivals_keep_the_mean_rate_and_vary_their_gaps() {
        let a = constant(100.0, 60, true);
        let t: Vec<f64> = a.times(7).map(|d| d.as_secs_f64()).collect();
        // 6,000 expected; a Poisson count's sd is sqrt(6000) ~ 77.
        assert!((5700..6300).contains(&t.len()), "{}", t.len());
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        // Exponential gaps: sd equals the mean (10 ms).
        assert!((mean - 0.01).abs() < 0.0005, "mean {mean}");
        assert!(
            (var.sqrt() / mean - 1.0).abs() < 0.1,
            "cv {}",
            var.sqrt() / mean
        );
        // Seeded: the same schedule again.
        assert_eq!(
            a.times(7).take(50).collect::<Vec<_>>(),
            a.times(7).take(50).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rates_and_rate_stages_parse_with_their_units() {
        assert_eq!(parse_rate("10/s").unwrap(), 10.0);
        assert_eq!(parse_rate("600/m").unwrap(), 10.0);
        assert_eq!(parse_rate("7").unwrap(), 7.0);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10/d").unwrap_err().contains("not s, m or h"));
        assert!(parse_rate("-1/s").is_err());
        let s = parse_rate_stages("30s:5/s,2m:20/s,30s:0").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1],
            RateStage {
                duration: Duration::from_secs(120),
                target: 20.0
            }
        );
        assert!(parse_rate_stages("30s").is_err());
        assert!(parse_rate_stages("").is_err());
    }
}
