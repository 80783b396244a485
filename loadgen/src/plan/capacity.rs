//! Resolves `loadgen capacity` into a [`CapacityPlan`]: `run`'s flags
//! (target, journey, users, thresholds, outputs) through [`resolve_run`],
//! so they mean and are checked exactly as in `run`, minus the shape flags
//! (the steps are the shape), plus the search's own.

use super::{duration_arg, resolve_run, usage, Env};
use crate::capacity::{self, CapacityPlan, Model, StepSettings, DEFAULT_ERROR_CAP};
use crate::cli::{ArrivalsArg, CapacityArgs};
use crate::exit::Failure;
use std::time::Duration;

/// The profile whose thresholds and journey a search uses by default: the
/// original k6 ramp script's ("does it hold 100 users").
pub const DEFAULT_PROFILE: &str = "ramp";

/// Resolves `loadgen capacity`.
pub fn resolve_capacity(args: &CapacityArgs, env: &Env) -> Result<CapacityPlan, Failure> {
    let r = &args.run;
    for (given, flag) in [
        (r.vus.is_some(), "--vus"),
        (r.duration.is_some(), "--duration"),
        (r.stages.is_some(), "--stages"),
        (r.rate.is_some(), "--rate"),
        (r.rate_stages.is_some(), "--rate-stages"),
        (r.graceful_ramp_down.is_some(), "--graceful-ramp-down"),
        (r.graceful_stop.is_some(), "--graceful-stop"),
        (r.dashboard.is_some(), "--dashboard"),
        (r.baseline.is_some(), "--baseline"),
        (r.common.csv.is_some(), "--csv"),
        // One search is one process: a knee of a shard means nothing.
        (r.segment.is_some(), "--segment"),
        (r.execution_segment.is_some(), "--execution-segment"),
        (r.start_at.is_some(), "--start-at"),
        (
            r.prometheus_rw
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty()),
            "--prometheus-rw",
        ),
    ] {
        if given {
            return Err(usage(format!(
                "capacity: {flag} is not a capacity option (the steps are the load shape: \
                 --start/--step/--max or --steps, --rate-steps for arrival rates, --hold, --settle)"
            )));
        }
    }
    let open = args.rate_steps;
    if !open && (r.pre_allocated_vus.is_some() || r.max_vus.is_some()) {
        return Err(usage(
            "--pre-allocated-vus and --max-vus are for --rate-steps (the open model)",
        ));
    }
    let mut run_args = r.clone();
    if let Some(url) = &args.url {
        run_args.base_url = url.clone();
    }
    if run_args.profile.is_none() && run_args.profile_file.is_none() {
        run_args.profile = Some(DEFAULT_PROFILE.into());
    }
    // The error cap, unless the user set one (an override of the same key
    // would otherwise keep both).
    let names_failed = r
        .common
        .thresholds
        .iter()
        .any(|t| crate::threshold::parse(t).is_ok_and(|t| t.key() == "http_req_failed"));
    if !names_failed {
        run_args
            .common
            .thresholds
            .insert(0, DEFAULT_ERROR_CAP.into());
    }
    run_args.pre_allocated_vus = None;
    run_args.max_vus = None;
    let mut run = resolve_run(&run_args, env)?;
    // recovery_time reads a spike's time series: a step has neither.
    let (keep, skip): (Vec<_>, Vec<_>) = std::mem::take(&mut run.thresholds)
        .into_iter()
        .partition(|t| t.metric != crate::threshold::Metric::Recovery);
    run.thresholds = keep;
    run.skipped_thresholds.extend(
        skip.iter()
            .map(|t| format!("{t} (a capacity step has no spike)")),
    );

    let parse_load = |flag: &str, v: &str| -> Result<f64, Failure> {
        let x = if open {
            crate::arrivals::parse_rate(v).map_err(|e| usage(format!("{flag}: {e}")))?
        } else {
            v.trim()
                .parse::<u32>()
                .map(f64::from)
                .map_err(|_| usage(format!("{flag} {v:?}: expected a whole number of VUs")))?
        };
        Ok(x)
    };
    let ladder = match &args.steps {
        Some(list) => {
            let loads = list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_load("--steps", s))
                .collect::<Result<Vec<f64>, Failure>>()?;
            capacity::explicit(&loads).map_err(usage)?
        }
        None => capacity::ladder(
            parse_load("--start", &args.start)?,
            parse_load("--step", &args.step)?,
            parse_load("--max", &args.max)?,
        )
        .map_err(usage)?,
    };
    let top = ladder.iter().copied().fold(0.0, f64::max);
    if !open && top > f64::from(crate::scheduler::MAX_VUS) {
        return Err(usage(format!(
            "capacity: {top} VUs is past {}, the most one loadgen runs",
            crate::scheduler::MAX_VUS
        )));
    }
    let steps = StepSettings {
        settle: duration_arg("--settle", &args.settle)?,
        hold: duration_arg("--hold", &args.hold)?,
    };
    if steps.hold < Duration::from_secs(1) {
        return Err(usage(
            "--hold must be at least 1s (a step needs requests to judge)",
        ));
    }
    let bound = capacity::bound(&run, ladder.len() + args.bisect as usize, steps);
    let max_duration = match &args.max_duration {
        Some(v) => {
            let d = duration_arg("--max-duration", v)?;
            if d < steps.settle + steps.hold + capacity::step_overhead(&run) {
                return Err(usage(format!(
                    "--max-duration {v} is shorter than one step (settle + hold + {}s for the guard and the stop)",
                    capacity::step_overhead(&run).as_secs()
                )));
            }
            d.min(bound)
        }
        None => bound,
    };
    let model = if open {
        Model::Open {
            pre_allocated_vus: r.pre_allocated_vus,
            max_vus: r.max_vus,
            poisson: r.arrivals == ArrivalsArg::Poisson,
        }
    } else {
        Model::Closed
    };
    Ok(CapacityPlan {
        quiet: run.output.live == crate::live::LiveMode::Off,
        dry_run: run.output.dry_run,
        out: run.output.out.clone(),
        html: run.output.html.clone(),
        run,
        model,
        ladder,
        bisect: args.bisect,
        steps,
        max_duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn resolve(args: &[&str]) -> Result<CapacityPlan, Failure> {
        let mut argv = vec![
            "loadgen",
            "capacity",
            "http://127.0.0.1:9",
            "--users-file",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../load-tests/users.json"),
        ];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Capacity(a)) => resolve_capacity(&a, &Env::default()),
            other => panic!("not a capacity command: {other:?}"),
        }
    }

    fn thresholds(p: &CapacityPlan) -> Vec<String> {
        p.run.thresholds.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_default_search_uses_the_ramp_profile_plus_a_one_percent_error_cap() {
        let p = resolve(&[]).unwrap();
        assert_eq!(p.run.profile, "ramp");
        assert_eq!(p.model, Model::Closed);
        assert_eq!(p.ladder.first(), Some(&5.0));
        assert_eq!(p.ladder.last(), Some(&200.0));
        let t = thresholds(&p);
        assert!(
            t.contains(&"http_req_failed: rate<0.01".to_string()),
            "{t:?}"
        );
        assert!(
            !t.contains(&"http_req_failed: rate<0.02".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"http_req_duration: p(95)<1200".to_string()),
            "{t:?}"
        );
        // Bounded up front: every step and bisection with its overhead.
        assert_eq!(p.max_duration, capacity::bound(&p.run, 42, p.steps));
    }

    #[test]
    fn an_error_threshold_of_the_user_replaces_the_cap_instead_of_joining_it() {
        let p = resolve(&["--threshold", "http_req_failed: rate<0.05"]).unwrap();
        let failed: Vec<String> = thresholds(&p)
            .into_iter()
            .filter(|t| t.starts_with("http_req_failed"))
            .collect();
        assert_eq!(failed, ["http_req_failed: rate<0.05"]);
    }

    #[test]
    fn rate_steps_take_rates_and_the_open_model_flags() {
        let p = resolve(&[
            "--rate-steps",
            "--steps",
            "0.5/s,2,180/m",
            "--max-vus",
            "40",
            "--arrivals",
            "poisson",
        ])
        .unwrap();
        assert_eq!(p.ladder, [0.5, 2.0, 3.0]);
        assert_eq!(
            p.model,
            Model::Open {
                pre_allocated_vus: None,
                max_vus: Some(40),
                poisson: true
            }
        );
        assert_eq!(p.model.unit(), "iterations/s");
    }

    #[test]
    fn shape_flags_and_impossible_ladders_are_refused_with_the_flag_named() {
        for (args, says) in [
            (&["--vus", "3"][..], "--vus"),
            (&["--rate", "3/s"][..], "--rate"),
            (&["--stages", "1s:3"][..], "--stages"),
            (&["--max-vus", "3"][..], "--rate-steps"),
            (&["--start", "0"][..], "--start"),
            (&["--start", "2.5"][..], "--start"),
            (&["--steps", "5,4"][..], "--steps"),
            (&["--hold", "0s"][..], "--hold"),
            (&["--max-duration", "5s"][..], "--max-duration"),
        ] {
            match resolve(args) {
                Err(Failure::Usage(m)) => assert!(m.contains(says), "{args:?}: {m}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }
}
