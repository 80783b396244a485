//! `loadgen run`'s command line resolved into a [`RunPlan`]: the shape
//! (closed or open model, a profile or flags), the journey, thresholds,
//! guard, scrapes, remote write, segment and outputs; conflicts refused
//! with the flag named. (Moved out of `plan/mod.rs`, unchanged.)

use super::*;

/// Checks the flag combinations that cannot mean anything sensible.
fn refuse_conflicts(args: &RunArgs) -> Result<(), Failure> {
    let constant = args.vus.is_some() || args.duration.is_some();
    let profile = args.profile.is_some() || args.profile_file.is_some();
    if args.profile.is_some() && args.profile_file.is_some() {
        return Err(usage(
            "--profile and --profile-file cannot be combined: pick one profile",
        ));
    }
    if args.stages.is_some() && constant {
        return Err(usage(
            "--stages cannot be combined with --vus/--duration: stages already give the VUs and the length",
        ));
    }
    if args.stages.is_some() && profile {
        return Err(usage(
            "--stages cannot be combined with --profile/--profile-file: the profile has its own stages \
             (put yours in a --profile-file, or use --stages without a profile)",
        ));
    }
    if constant && profile {
        return Err(usage(
            "--vus/--duration cannot be combined with --profile/--profile-file: the profile has its own shape \
             (use --vus/--duration without a profile, or a --profile-file)",
        ));
    }
    if args.vus.is_some() && args.duration.is_none() {
        return Err(usage(
            "--vus needs --duration (e.g. --vus 10 --duration 1m)",
        ));
    }
    Ok(())
}

fn latency_profile(args: &RunArgs, env: &Env) -> Result<LatencyProfile, Failure> {
    if let Some(p) = args.latency_profile {
        return Ok(latency_arg(p));
    }
    match env.k6_latency_profile.as_deref().map(str::trim) {
        None | Some("") => Ok(LatencyProfile::Mock),
        Some(name) => LatencyProfile::from_name(name).ok_or_else(|| {
            usage(format!(
                "K6_LATENCY_PROFILE={name:?}: expected mock or live"
            ))
        }),
    }
}

fn schedule(args: &RunArgs, profile: &Profile) -> Result<Schedule, Failure> {
    if let Some(a) = open::arrivals(args, profile)? {
        let grace = args
            .graceful_stop
            .as_deref()
            .map(|v| duration_arg("--graceful-stop", v))
            .transpose()?
            .unwrap_or(DEFAULT_GRACE);
        return Ok(Schedule {
            // What the live view and the report plan for: the VUs it may
            // start, over the schedule's length.
            start_vus: a.pre_allocated_vus,
            stages: vec![Stage {
                duration: a.duration(),
                target: a.max_vus,
            }],
            graceful_ramp_down: DEFAULT_GRACE,
            graceful_stop: grace,
            drain: Duration::ZERO,
            arrivals: Some(a),
            seed: 0,
            segment: None,
        });
    }
    let (start_vus, stages) = if let Some(spec) = &args.stages {
        (
            0,
            scheduler::parse_stages(spec).map_err(|e| usage(format!("--stages: {e}")))?,
        )
    } else if let Some(d) = &args.duration {
        let vus = args.vus.unwrap_or(1);
        let d = duration_arg("--duration", d)?;
        (
            vus,
            vec![Stage {
                duration: d,
                target: vus,
            }],
        )
    } else if let (Some(vus), Some(d)) = (profile.vus, profile.duration) {
        (
            vus,
            vec![Stage {
                duration: d.0,
                target: vus,
            }],
        )
    } else {
        (0, profile.stages.clone())
    };
    if scheduler::max_vus(start_vus, &stages) == 0 {
        return Err(usage(
            "the load shape never starts a VU (every target is 0)",
        ));
    }
    if scheduler::max_vus(start_vus, &stages) > scheduler::MAX_VUS {
        return Err(usage(format!(
            "the load shape asks for {} VUs, past {}, the most one loadgen runs (split the load over several loadgen processes and \
             add their summaries with `loadgen merge`)",
            scheduler::max_vus(start_vus, &stages),
            scheduler::MAX_VUS
        )));
    }
    let grace = |flag: &str, cli: &Option<String>, file: Option<crate::duration::HumanDuration>| {
        cli.as_deref()
            .map(|v| duration_arg(flag, v))
            .transpose()
            .map(|d| d.or(file.map(|h| h.0)).unwrap_or(DEFAULT_GRACE))
    };
    Ok(Schedule {
        start_vus,
        stages,
        graceful_ramp_down: grace(
            "--graceful-ramp-down",
            &args.graceful_ramp_down,
            profile.graceful_ramp_down,
        )?,
        graceful_stop: grace(
            "--graceful-stop",
            &args.graceful_stop,
            profile.graceful_stop,
        )?,
        drain: Duration::ZERO,
        arrivals: None,
        seed: 0,
        segment: None,
    })
}

/// Resolves `loadgen run`.
pub fn resolve_run(args: &RunArgs, env: &Env) -> Result<RunPlan, Failure> {
    refuse_conflicts(args)?;
    let constant_or_stages = args.vus.is_some() || args.duration.is_some() || args.stages.is_some();
    let profile = match (&args.profile, &args.profile_file) {
        (Some(name), _) => Profile::builtin(name).map_err(usage)?,
        (_, Some(path)) => Profile::load(path).map_err(usage)?,
        (None, None) if constant_or_stages => Profile {
            name: "custom".into(),
            ..Profile::parse(
                "name = \"custom\"\nvus = 1\nduration = \"1s\"",
                crate::profile::Format::Toml,
                "custom",
            )
            .map_err(usage)?
        },
        (None, None) => Profile::builtin("smoke").map_err(usage)?,
    };
    let schedule = schedule(args, &profile)?;
    let shard = segment::shard(args)?;
    let start_at = segment::start_at(args)?;
    let latency_profile = latency_profile(args, env)?;
    let target =
        Arc::new(Target::parse(&args.base_url).map_err(|e| usage(format!("--base-url: {e}")))?);

    let j = &profile.journey;
    let steps = resolve_steps(&j.steps, args.tags.as_deref(), args.exclude.as_deref())?;
    let turns = args.turns.unwrap_or(j.turns);
    if steps.chat && turns == 0 {
        return Err(usage("--turns must be at least 1 when the chat step runs"));
    }
    let think = args
        .think
        .as_deref()
        .map(|t| duration_arg("--think", t))
        .transpose()?
        .unwrap_or(j.think.0);
    let other_probability = args.other_probability.unwrap_or(j.other_probability);
    if !(0.0..=1.0).contains(&other_probability) {
        return Err(usage(format!(
            "--other-probability {other_probability} is outside 0..1"
        )));
    }
    let auth = match args.auth {
        Some(AuthArg::Cookie) => AuthMode::Cookie,
        Some(AuthArg::Bearer) => AuthMode::Bearer,
        None => j.auth,
    };
    let login = match args.login {
        Some(LoginArg::EveryIteration) => LoginMode::EveryIteration,
        Some(LoginArg::Once) => LoginMode::Once,
        None => j.login,
    };
    let csrf_header = hyper::header::HeaderName::from_bytes(j.fields.csrf_header.as_bytes())
        .map_err(|_| {
            usage(format!(
                "journey.fields.csrf_header {:?} is not a header name",
                j.fields.csrf_header
            ))
        })?;
    let timeout = duration_arg("--timeout", &args.common.timeout)?;
    if timeout.is_zero() {
        return Err(usage("--timeout must be more than 0s"));
    }
    let mut journey = JourneyPlan {
        users: Arc::new(Vec::new()),
        prompts: Arc::new(Vec::new()),
        steps,
        auth,
        login,
        stream: args.stream || j.stream,
        paths: j.paths.clone(),
        fields: j.fields.clone(),
        csrf_header,
        other_probability,
        user_types: user_types(&profile, args.user_mix.as_deref(), turns, think)?,
        timeout,
    };

    let mut base = parse_thresholds(&profile.thresholds, &format!("profile {}", profile.name))?;
    base.extend(parse_thresholds(
        profile.latency_thresholds.under(latency_profile),
        &format!("profile {}", profile.name),
    )?);
    let overrides = parse_thresholds(&args.common.thresholds, "--threshold")?;
    let all = threshold::merge_overrides(base, overrides);
    let phases = journey.steps.phases();
    let streaming = journey.stream && journey.steps.chat;
    let (thresholds, skipped): (Vec<Threshold>, Vec<Threshold>) = all.into_iter().partition(|t| {
        t.tag("phase").is_none_or(|p| phases.contains(&p))
            && (streaming || !t.metric.is_streaming())
    });
    let skipped_thresholds = skipped
        .iter()
        .map(|t| match t.tag("phase") {
            Some(p) if !phases.contains(&p) => {
                format!("{t} (no selected step is in phase {p})")
            }
            _ => format!("{t} (the chat step does not stream: use --stream)"),
        })
        .collect();

    let guard_interval = duration_arg("--guard-interval", &args.guard_interval)?;
    let output = output(&args.common, env)?;
    let scrape = scrape_endpoints(args, &target)?;
    // The shard's segment in k6's form (`1/4:2/4`); `0:1` is a whole test.
    let shard_label = shard
        .as_deref()
        .map_or_else(|| "0:1".to_string(), |s| s.label());
    let remote_write = remote_write::resolve(args, &shard_label)?;
    let compare_options = compare_options(&args.tolerance)?;
    // Files last, so a typo in a flag is reported before a missing fixture.
    if journey.steps.auth {
        let users = crate::users::load_users(&args.users_file).map_err(usage)?;
        journey.users = Arc::new(segment::users(shard.as_deref(), users)?);
    }
    if journey.steps.chat {
        journey.prompts =
            Arc::new(crate::users::load_prompts(args.prompts_file.as_deref()).map_err(usage)?);
    }
    // Read now, so a missing or bad baseline stops the run before any load.
    let baseline = args
        .baseline
        .as_ref()
        .map(|path| {
            crate::compare::read_summary(path, "--baseline").map(|report| Baseline {
                path: path.clone(),
                report: Box::new(report),
                options: compare_options,
            })
        })
        .transpose()?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let schedule = Schedule {
        seed,
        segment: shard,
        ..schedule
    };
    Ok(RunPlan {
        target,
        profile: profile.name.clone(),
        latency_profile,
        schedule,
        thresholds,
        skipped_thresholds,
        journey,
        seed,
        allow_non_test: args.allow_non_test_backend || env.k6_allow_non_test,
        guard_interval: guard_interval.max(Duration::from_millis(100)),
        dashboard: args.dashboard.as_deref().map(dashboard_addr).transpose()?,
        scrape,
        baseline,
        remote_write,
        start_at,
        output,
    })
}

/// The endpoints to scrape: the target's own `/api/metrics` first (kept
/// only if it answers, see [`crate::scrape`]), then every `--scrape` URL in
/// the order given; none with `--no-scrape`.
fn scrape_endpoints(args: &RunArgs, target: &Target) -> Result<Vec<Endpoint>, Failure> {
    if args.no_scrape {
        return Ok(Vec::new());
    }
    let mut out = vec![Endpoint::default_for(target)];
    for url in &args.scrape {
        let e = Endpoint::parse(url, true).map_err(|e| usage(format!("--scrape: {e}")))?;
        // The default named again is simply kept whatever it answers.
        out.retain(|d| d.url != e.url);
        out.push(e);
    }
    Ok(out)
}

/// The dashboard's address: `HOST:PORT` with an IP host (port 0 picks a
/// free port, printed when the run starts).
fn dashboard_addr(text: &str) -> Result<SocketAddr, Failure> {
    text.parse().map_err(|_| {
        usage(format!(
            "--dashboard {text}: expected an address such as 127.0.0.1:5665 or 0.0.0.0:5665"
        ))
    })
}
