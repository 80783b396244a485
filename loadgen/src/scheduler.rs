//! Stages to VU steps, with k6 `ramping-vus` semantics: within a stage the VU
//! count moves linearly from the previous target to the stage's target, and
//! the integer count is rounded toward the previous target (VU `i` starts
//! when the line reaches `i`). The plan is computed up front as exact step
//! times, so what runs is what `--dry-run` prints and what the tests check.

use std::time::Duration;

/// One stage: reach `target` VUs linearly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    /// How long the stage lasts.
    #[serde(with = "human")]
    pub duration: Duration,
    /// VUs at the end of the stage.
    pub target: u32,
}

mod human {
    use crate::duration::{format_duration, parse_duration};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// The most VUs one loadgen process runs: each is a task with its own
/// connection (and a step of the plan per VU change), so a larger target is
/// a typo or a job for several loadgen processes (their summaries added
/// with `loadgen merge`), refused before anything is built.
pub const MAX_VUS: u32 = 1_000_000;

/// Parses `--stages 30s:20,1m:50,30s:0`.
pub fn parse_stages(spec: &str) -> Result<Vec<Stage>, String> {
    let stages =
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|part| {
                let (d, t) = part.trim().split_once(':').ok_or_else(|| {
                    format!("stage {part:?} is not DURATION:TARGET (e.g. 30s:20)")
                })?;
                let duration = crate::duration::parse_duration(d)?;
                let target = t
                    .trim()
                    .parse()
                    .map_err(|_| format!("stage {part:?}: target {t:?} is not a VU count"))?;
                if target > MAX_VUS {
                    return Err(format!(
                        "stage {part:?}: target {target} is past {MAX_VUS} VUs, the most one \
                         loadgen runs (split the load over several loadgen processes and \
                         add their summaries with `loadgen merge`)"
                    ));
                }
                Ok(Stage { duration, target })
            })
            .collect::<Result<Vec<_>, String>>()?;
    if stages.is_empty() {
        return Err(format!("--stages {spec:?} has no stage"));
    }
    Ok(stages)
}

/// A change of the VU count at an offset from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Offset from the start.
    pub at: Duration,
    /// VUs wanted from then on.
    pub vus: u32,
}

/// The steps of a stage list starting from `start_vus`. The first step is
/// always at 0; steps are in time order; one per unit change of the count.
pub fn steps(start_vus: u32, stages: &[Stage]) -> Vec<Step> {
    let mut out = vec![Step {
        at: Duration::ZERO,
        vus: start_vus,
    }];
    let (mut offset, mut current) = (Duration::ZERO, start_vus);
    for stage in stages {
        let (from, to, d) = (current, stage.target, stage.duration);
        let span = u64::from(from.abs_diff(to));
        if span > 0 {
            for k in 1..=span {
                // k/span of the way through the stage the line reaches the
                // k-th integer away from `from`.
                let at = offset + mul_div(d, k, span);
                let vus = if to > from {
                    from + k as u32
                } else {
                    from - k as u32
                };
                out.push(Step { at, vus });
            }
        }
        offset += d;
        current = to;
    }
    out
}

fn mul_div(d: Duration, num: u64, den: u64) -> Duration {
    let nanos = d.as_nanos() * u128::from(num) / u128::from(den.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Total length of the stages.
pub fn total_duration(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// The most VUs the plan ever asks for.
pub fn max_vus(start_vus: u32, stages: &[Stage]) -> u32 {
    stages.iter().map(|s| s.target).fold(start_vus, u32::max)
}

/// The VU count the plan wants at offset `t`.
pub fn vus_at(start_vus: u32, stages: &[Stage], t: Duration) -> u32 {
    steps(start_vus, stages)
        .iter()
        .take_while(|s| s.at <= t)
        .last()
        .map_or(start_vus, |s| s.vus)
}

/// Index (0-based) of the stage running at offset `t`; the last one past the end.
pub fn stage_at(stages: &[Stage], t: Duration) -> usize {
    let mut end = Duration::ZERO;
    for (i, s) in stages.iter().enumerate() {
        end += s.duration;
        if t < end {
            return i;
        }
    }
    stages.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_ramp_up_starts_one_vu_each_time_the_line_reaches_the_next_integer() {
        let plan = steps(
            0,
            &[Stage {
                duration: secs(10),
                target: 5,
            }],
        );
        let got: Vec<(u64, u32)> = plan.iter().map(|s| (s.at.as_secs(), s.vus)).collect();
        assert_eq!(got, [(0, 0), (2, 1), (4, 2), (6, 3), (8, 4), (10, 5)]);
    }

    #[test]
    fn a_ramp_down_retires_vus_rounded_toward_the_previous_target() {
        let stages = [
            Stage {
                duration: secs(0),
                target: 4,
            },
            Stage {
                duration: secs(4),
                target: 4,
            },
            Stage {
                duration: secs(4),
                target: 0,
            },
        ];
        assert_eq!(vus_at(0, &stages, Duration::ZERO), 4);
        assert_eq!(vus_at(0, &stages, secs(4)), 4);
        assert_eq!(vus_at(0, &stages, Duration::from_millis(4_999)), 4);
        assert_eq!(vus_at(0, &stages, secs(5)), 3);
        assert_eq!(vus_at(0, &stages, Duration::from_millis(7_999)), 1);
        assert_eq!(vus_at(0, &stages, secs(8)), 0);
        assert_eq!(total_duration(&stages), secs(8));
    }

    #[test]
    fn the_ramp_profile_shape_reaches_100_holds_and_returns_to_zero() {
        let stages = parse_stages("2m:30,5m:100,3m:100,2m:0").unwrap();
        assert_eq!(max_vus(0, &stages), 100);
        assert_eq!(total_duration(&stages), secs(12 * 60));
        assert_eq!(vus_at(0, &stages, secs(60)), 15);
        assert_eq!(vus_at(0, &stages, secs(120)), 30);
        assert_eq!(vus_at(0, &stages, secs(120 + 150)), 65);
        assert_eq!(vus_at(0, &stages, secs(8 * 60)), 100);
        assert_eq!(vus_at(0, &stages, secs(11 * 60)), 50);
        assert_eq!(vus_at(0, &stages, secs(12 * 60)), 0);
        assert_eq!(stage_at(&stages, secs(0)), 0);
        assert_eq!(stage_at(&stages, secs(121)), 1);
        assert_eq!(stage_at(&stages, secs(99_999)), 3);
        let plan = steps(0, &stages);
        assert!(plan.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(plan.windows(2).all(|w| w[0].vus.abs_diff(w[1].vus) <= 1));
    }

    #[test]
    fn stage_specs_that_do_not_parse_are_refused_with_the_reason() {
        for (spec, expected) in [
            ("30s", "DURATION:TARGET"),
            ("30s:x", "not a VU count"),
            ("30:5", "unit"),
            ("", "no stage"),
        ] {
            let err = parse_stages(spec).unwrap_err();
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }
}
