//! The open model's plan (`--rate`, `--rate-stages`, `--pre-allocated-vus`,
//! `--max-vus`, `--arrivals`, or a profile's `rate`/`rate_stages`): which
//! flags go together, the defaults, and the [`Arrivals`] schedule.

use super::{duration_arg, usage};
use crate::arrivals::{Arrivals, RateStage};
use crate::cli::{ArrivalsArg, RunArgs};
use crate::exit::Failure;
use crate::profile::Profile;
use crate::scheduler;

/// The open model's shape from `--rate`/`--rate-stages`, or from the
/// profile's `rate`/`rate_stages`; `None` for the closed model.
pub(super) fn arrivals(args: &RunArgs, profile: &Profile) -> Result<Option<Arrivals>, Failure> {
    let cli_open = args.rate.is_some() || args.rate_stages.is_some();
    let profile_open = profile.rate.is_some() || !profile.rate_stages.is_empty();
    if !cli_open && !profile_open {
        if args.pre_allocated_vus.is_some() || args.max_vus.is_some() {
            return Err(usage(
                "--pre-allocated-vus and --max-vus are for the open model: add --rate or --rate-stages",
            ));
        }
        return Ok(None);
    }
    if args.rate.is_some() && args.rate_stages.is_some() {
        return Err(usage(
            "--rate and --rate-stages cannot be combined: one constant rate, or stages",
        ));
    }
    if args.vus.is_some() || args.stages.is_some() {
        return Err(usage(
            "--rate/--rate-stages (open model: iterations arrive at a rate) cannot be combined with \
             --vus or --stages (closed model: VUs loop); use --pre-allocated-vus/--max-vus for the VUs",
        ));
    }
    if cli_open && (args.profile.is_some() || args.profile_file.is_some()) {
        return Err(usage(
            "--rate/--rate-stages cannot be combined with --profile/--profile-file: the profile has \
             its own shape (put the rate in a --profile-file, as the built-in spike-open does)",
        ));
    }
    let (start_rate, stages) = if let Some(rate) = &args.rate {
        let r = crate::arrivals::parse_rate(rate).map_err(|e| usage(format!("--rate: {e}")))?;
        let d = args
            .duration
            .as_deref()
            .ok_or_else(|| usage("--rate needs --duration (e.g. --rate 10/s --duration 1m)"))?;
        let duration = duration_arg("--duration", d)?;
        (
            r,
            vec![RateStage {
                duration,
                target: r,
            }],
        )
    } else if let Some(spec) = &args.rate_stages {
        if args.duration.is_some() {
            return Err(usage(
                "--rate-stages cannot be combined with --duration: the stages give the length",
            ));
        }
        (
            0.0,
            crate::arrivals::parse_rate_stages(spec)
                .map_err(|e| usage(format!("--rate-stages: {e}")))?,
        )
    } else if let Some(rate) = &profile.rate {
        let bad = |e: String| usage(format!("profile {}: rate: {e}", profile.name));
        let r = crate::arrivals::parse_rate(rate).map_err(bad)?;
        let duration = profile
            .duration
            .map(|d| d.0)
            .ok_or_else(|| usage(format!("profile {}: rate needs duration", profile.name)))?;
        (
            r,
            vec![RateStage {
                duration,
                target: r,
            }],
        )
    } else {
        let stages = profile
            .rate_stages
            .iter()
            .map(|s| {
                crate::arrivals::parse_rate(&s.target)
                    .map(|target| RateStage {
                        duration: s.duration.0,
                        target,
                    })
                    .map_err(|e| usage(format!("profile {}: rate_stages: {e}", profile.name)))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        (0.0, stages)
    };
    let poisson = match (cli_open, profile.arrivals.as_deref()) {
        (false, Some("poisson")) => true,
        (false, Some("uniform") | None) => false,
        (false, Some(other)) => {
            return Err(usage(format!(
                "profile {}: arrivals {other:?} is not uniform or poisson",
                profile.name
            )))
        }
        (true, _) => args.arrivals == ArrivalsArg::Poisson,
    };
    let mut a = Arrivals {
        start_rate,
        stages,
        pre_allocated_vus: 0,
        max_vus: 0,
        poisson,
    };
    if a.expected() < 1.0 {
        return Err(usage(
            "the arrival rate never asks for an iteration (every rate is 0, or too short)",
        ));
    }
    let pre = args
        .pre_allocated_vus
        .or(profile.pre_allocated_vus)
        .unwrap_or_else(|| (a.peak_rate().ceil() as u32).max(1));
    let max = args
        .max_vus
        .or(profile.max_vus)
        .unwrap_or(pre.saturating_mul(10))
        .max(1);
    if max < pre {
        return Err(usage(format!(
            "--max-vus {max} is below --pre-allocated-vus {pre}"
        )));
    }
    if max > scheduler::MAX_VUS {
        return Err(usage(format!(
            "--max-vus {max} is past {}, the most one loadgen runs",
            scheduler::MAX_VUS
        )));
    }
    a.pre_allocated_vus = pre;
    a.max_vus = max;
    Ok(Some(a))
}
