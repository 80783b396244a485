//! Resolves the command line, the environment and a profile into one typed
//! [`Plan`], once, before anything is sent. Conflicting flags are refused
//! here with a message that says which flags and why; everything printed by
//! `--dry-run` is exactly what a run would do.
//!
//! This is the one module (besides [`crate::cli`] itself) that reads the
//! clap types: a plan holds only resolved, typed values ([`RunPlan`],
//! [`HitPlan`], [`MergePlan`], [`ReportPlan`], [`ComparePlan`]), and
//! [`crate::app`] and everything below it see nothing else. `run
//! --baseline` reads its baseline here ([`Baseline`]), so a bad file stops
//! the run before any load.

use crate::cli::{
    AuthArg, Command, CommonArgs, CompareArgs, CompareFormat, HitArgs, LatencyArg, LoginArg,
    MergeArgs, ReportArgs, RunArgs, ToleranceArgs,
};
use crate::duration::parse_duration;
use crate::engine::Schedule;
use crate::exit::Failure;
use crate::http::Target;
use crate::journey::spec::{AuthMode, LoginMode};
use crate::journey::JourneyPlan;
use crate::live::LiveMode;
use crate::merge::MergeOptions;
use crate::profile::{LatencyProfile, Profile};
use crate::scheduler::{self, Stage};
use crate::scrape::Endpoint;
use crate::threshold::{self, Threshold};
use clap::Parser as _;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// k6 default for `gracefulRampDown` and `gracefulStop`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Environment values clap does not read itself (the k6-era names).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `K6_LATENCY_PROFILE`.
    pub k6_latency_profile: Option<String>,
    /// `K6_ALLOW_NON_TEST_BACKEND` set to a true value.
    pub k6_allow_non_test: bool,
    /// Whether stderr is a terminal (live view style).
    pub stderr_is_tty: bool,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        let truthy = |v: String| matches!(v.trim(), "1" | "true" | "yes" | "on" | "TRUE" | "True");
        Env {
            k6_latency_profile: std::env::var("K6_LATENCY_PROFILE").ok(),
            k6_allow_non_test: std::env::var("K6_ALLOW_NON_TEST_BACKEND").is_ok_and(truthy),
            stderr_is_tty: std::io::stderr().is_terminal(),
        }
    }
}

/// Output settings shared by both commands.
#[derive(Debug, Clone)]
pub struct Output {
    /// Live progress style.
    pub live: LiveMode,
    /// Directory for summary.json, summary.txt, report.html (and the CSV files).
    pub out: Option<PathBuf>,
    /// Where to write the HTML report too (`--html`).
    pub html: Option<PathBuf>,
    /// Prefix of Locust's CSV files (`--csv`).
    pub csv: Option<PathBuf>,
    /// Length of one point of the time series (`--interval`).
    pub interval: Duration,
    /// Print the plan and exit.
    pub dry_run: bool,
}

/// The shortest `--interval`: finer points give rates of a handful of
/// requests and histograms too thin to have percentiles worth charting.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A resolved command: what [`crate::app::execute`] runs.
#[derive(Debug, Clone)]
pub enum Plan {
    /// `loadgen run`.
    Run(Box<RunPlan>),
    /// `loadgen hit`.
    Hit(Box<HitPlan>),
    /// `loadgen merge`.
    Merge(Box<MergePlan>),
    /// `loadgen report`.
    Report(ReportPlan),
    /// `loadgen web`.
    Web(WebPlan),
    /// `loadgen compare`.
    Compare(ComparePlan),
    /// `loadgen capacity`.
    Capacity(Box<crate::capacity::CapacityPlan>),
}

/// A resolved `loadgen compare` (the files are read when it runs).
#[derive(Debug, Clone)]
pub struct ComparePlan {
    /// The baseline's summary.json.
    pub base: PathBuf,
    /// The new run's summary.json.
    pub new: PathBuf,
    /// Output format.
    pub format: crate::compare::Format,
    /// Bands and significance level.
    pub options: crate::compare::Options,
}

/// `run --baseline`: the baseline, read while planning (so a bad file stops
/// the run before any load), and how to compare with it.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The file, as given.
    pub path: PathBuf,
    /// Its report.
    pub report: Box<crate::report::Report>,
    /// Bands and significance level.
    pub options: crate::compare::Options,
}

/// A resolved `loadgen web`.
#[derive(Debug, Clone)]
pub struct WebPlan {
    /// Where the page is served.
    pub addr: SocketAddr,
    /// The target the form starts with.
    pub base_url: String,
    /// Users fixture of the runs.
    pub users_file: PathBuf,
    /// The environment the runs are resolved with.
    pub env: Env,
}

/// What `loadgen web`'s form sends to start a run: `loadgen run`'s flags,
/// as text (empty: not given).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RunForm {
    /// `--base-url`.
    pub target: String,
    /// `--profile`.
    pub profile: String,
    /// `--vus`.
    pub vus: String,
    /// `--duration`.
    pub duration: String,
    /// `--stages`.
    pub stages: String,
    /// `--stream`.
    pub stream: bool,
    /// `--allow-non-test-backend`: the page's deliberate checkbox.
    pub allow_non_test_backend: bool,
}

/// Resolves a run started from `loadgen web`'s form exactly as the same
/// `loadgen run` command line (same parser, same checks, same messages),
/// quiet on the terminal.
pub fn resolve_form(
    form: &RunForm,
    users_file: &std::path::Path,
    env: &Env,
) -> Result<RunPlan, Failure> {
    let users = users_file.to_string_lossy();
    let mut argv: Vec<&str> = vec!["loadgen", "run", "-q", "--users-file", &users];
    let target = form.target.trim();
    if target.is_empty() {
        return Err(usage(
            "target: a base URL is required, e.g. http://127.0.0.1:8000",
        ));
    }
    argv.extend(["--base-url", target]);
    for (flag, value) in [
        ("--profile", &form.profile),
        ("--vus", &form.vus),
        ("--duration", &form.duration),
        ("--stages", &form.stages),
    ] {
        if !value.trim().is_empty() {
            argv.extend([flag, value.trim()]);
        }
    }
    if form.stream {
        argv.push("--stream");
    }
    if form.allow_non_test_backend {
        argv.push("--allow-non-test-backend");
    }
    let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| {
        // clap's first line says what was wrong; the rest is usage help
        // for a terminal.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        usage(first.trim_start_matches("error: ").to_string())
    })?;
    match cli.command {
        Command::Run(args) => resolve_run(&args, env),
        _ => Err(usage("not a run")),
    }
}

/// A resolved `loadgen report`.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// The summary.json to read (when the plan runs).
    pub summary: PathBuf,
    /// Where the page goes.
    pub html: PathBuf,
}

/// A resolved `loadgen merge`.
#[derive(Debug, Clone)]
pub struct MergePlan {
    /// The summary.json files, in the order given.
    pub files: Vec<PathBuf>,
    /// Thresholds and profile to evaluate on the merged figures.
    pub options: MergeOptions,
    /// Output settings (no live view, no dry run).
    pub output: Output,
}

/// A resolved `loadgen run`.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Where the load goes.
    pub target: Arc<Target>,
    /// Profile name (`custom` for --vus/--duration or --stages).
    pub profile: String,
    /// Which latency thresholds apply.
    pub latency_profile: LatencyProfile,
    /// The load shape.
    pub schedule: Schedule,
    /// Thresholds in force.
    pub thresholds: Vec<Threshold>,
    /// Thresholds dropped because their phase has no selected step, with why.
    pub skipped_thresholds: Vec<String>,
    /// The journey.
    pub journey: JourneyPlan,
    /// Seed of every random choice.
    pub seed: u64,
    /// Skip the `app_env` requirement.
    pub allow_non_test: bool,
    /// Guard re-check interval.
    pub guard_interval: Duration,
    /// Where the live dashboard listens (`--dashboard`), if anywhere.
    pub dashboard: Option<SocketAddr>,
    /// Prometheus endpoints scraped during the run (`--scrape`, and the
    /// target's own unless `--no-scrape`); empty: none.
    pub scrape: Vec<Endpoint>,
    /// The baseline to compare the run with at its end (`--baseline`).
    pub baseline: Option<Baseline>,
    /// Where the run's metrics are pushed (`--prometheus-rw`), if anywhere.
    pub remote_write: Option<crate::remote_write::Config>,
    /// `--start-at`: the load starts at this wall-clock time (after the
    /// guard), so shards line up.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Output settings.
    pub output: Output,
}

/// A resolved `loadgen hit`.
#[derive(Debug, Clone)]
pub struct HitPlan {
    /// The URL as given.
    pub url: String,
    /// Target of the URL.
    pub target: Arc<Target>,
    /// Path and query to GET.
    pub path: String,
    /// Connections (VUs).
    pub connections: u32,
    /// Run length (a 24 h cap when only -n is given).
    pub duration: Duration,
    /// Total requests, when -n is given.
    pub requests: Option<u64>,
    /// Open model: requests per second in total.
    pub rate: Option<f64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Thresholds in force.
    pub thresholds: Vec<Threshold>,
    /// Output settings.
    pub output: Output,
}

fn usage(m: impl Into<String>) -> Failure {
    Failure::usage(m)
}

fn duration_arg(flag: &str, v: &str) -> Result<Duration, Failure> {
    parse_duration(v).map_err(|e| usage(format!("{flag}: {e}")))
}

fn parse_thresholds(list: &[String], origin: &str) -> Result<Vec<Threshold>, Failure> {
    list.iter()
        .map(|t| threshold::parse(t).map_err(|e| usage(format!("{origin}: {e}"))))
        .collect()
}

fn output(common: &CommonArgs, env: &Env) -> Result<Output, Failure> {
    let progress = duration_arg("--progress-interval", &common.progress_interval)?;
    let live = match (common.quiet, env.stderr_is_tty) {
        (true, _) => LiveMode::Off,
        (false, true) => LiveMode::Tty,
        (false, false) => LiveMode::Plain(progress.max(Duration::from_millis(100))),
    };
    let interval = duration_arg("--interval", &common.interval)?;
    if interval < MIN_INTERVAL {
        return Err(usage(format!(
            "--interval {}: must be at least 100ms",
            common.interval
        )));
    }
    Ok(Output {
        live,
        out: common.out.clone(),
        csv: common.csv.clone(),
        interval,
        html: common.html.clone(),
        dry_run: common.dry_run,
    })
}

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

fn latency_arg(arg: LatencyArg) -> LatencyProfile {
    match arg {
        LatencyArg::Mock => LatencyProfile::Mock,
        LatencyArg::Live => LatencyProfile::Live,
    }
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

/// Resolves a parsed command into its plan.
pub fn resolve(command: Command, env: &Env) -> Result<Plan, Failure> {
    Ok(match command {
        Command::Run(args) => Plan::Run(Box::new(resolve_run(&args, env)?)),
        Command::Hit(args) => Plan::Hit(Box::new(resolve_hit(&args, env)?)),
        Command::Merge(args) => Plan::Merge(Box::new(resolve_merge(args)?)),
        Command::Report(args) => Plan::Report(resolve_report(args)),
        Command::Compare(args) => Plan::Compare(resolve_compare(args)?),
        Command::Capacity(args) => Plan::Capacity(Box::new(resolve_capacity(&args, env)?)),
        Command::Web(args) => Plan::Web(WebPlan {
            addr: args.addr.parse().map_err(|_| {
                usage(format!(
                    "web {}: expected an address such as 127.0.0.1:8089",
                    args.addr
                ))
            })?,
            base_url: args.base_url,
            users_file: args.users_file,
            env: env.clone(),
        }),
    })
}

/// `--tolerance` and `--alpha` resolved.
fn compare_options(args: &ToleranceArgs) -> Result<crate::compare::Options, Failure> {
    let mut tolerances = crate::compare::Tolerances::default();
    for spec in &args.tolerances {
        tolerances
            .apply(spec)
            .map_err(|e| usage(format!("--tolerance {spec}: {e}")))?;
    }
    let alpha = crate::compare::parse_alpha(&args.alpha).map_err(usage)?;
    Ok(crate::compare::Options { tolerances, alpha })
}

/// Resolves `loadgen compare` (the summaries are read when the plan runs,
/// so a bad file is reported, exit 2, naming it).
pub fn resolve_compare(args: CompareArgs) -> Result<ComparePlan, Failure> {
    use crate::compare::Format;
    Ok(ComparePlan {
        options: compare_options(&args.tolerance)?,
        base: args.base,
        new: args.new,
        format: match args.format {
            CompareFormat::Table => Format::Table,
            CompareFormat::Markdown => Format::Markdown,
            CompareFormat::Json => Format::Json,
        },
    })
}

/// Resolves `loadgen report` (the summary is read when the plan runs, so a
/// bad file is reported, exit 2, naming it).
pub fn resolve_report(args: ReportArgs) -> ReportPlan {
    ReportPlan {
        summary: args.summary,
        html: args.html,
    }
}

/// Resolves `loadgen merge`: the input count first, then the thresholds,
/// then the profile (the input files are read when the plan runs).
pub fn resolve_merge(args: MergeArgs) -> Result<MergePlan, Failure> {
    crate::merge::enough_inputs(&args.files)?;
    let overrides = parse_thresholds(&args.thresholds, "--threshold")?;
    let profile = match (&args.profile, &args.profile_file) {
        (Some(name), _) => Some(Profile::builtin(name).map_err(usage)?),
        (None, Some(path)) => Some(Profile::load(path).map_err(usage)?),
        (None, None) => None,
    };
    Ok(MergePlan {
        files: args.files,
        options: MergeOptions {
            overrides,
            profile,
            latency_profile: args.latency_profile.map(latency_arg),
        },
        output: Output {
            live: LiveMode::Off,
            out: args.out,
            csv: args.csv,
            interval: crate::stats::timeline::DEFAULT_INTERVAL,
            html: None,
            dry_run: false,
        },
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

/// Resolves `loadgen hit`.
pub fn resolve_hit(args: &HitArgs, env: &Env) -> Result<HitPlan, Failure> {
    let target = Target::parse(&args.url).map_err(usage)?;
    let parsed = url::Url::parse(&args.url).map_err(|e| usage(format!("invalid URL: {e}")))?;
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    if args.connections == 0 {
        return Err(usage("-c/--connections must be at least 1"));
    }
    if args.requests == Some(0) {
        return Err(usage("-n/--requests must be at least 1"));
    }
    let duration = match (&args.duration, args.requests) {
        (Some(d), _) => duration_arg("--duration", d)?,
        (None, Some(_)) => Duration::from_secs(24 * 3600),
        (None, None) => Duration::from_secs(10),
    };
    let timeout = duration_arg("--timeout", &args.common.timeout)?;
    if timeout.is_zero() {
        return Err(usage("--timeout must be more than 0s"));
    }
    let rate = args
        .rate
        .as_deref()
        .map(|r| {
            let n = r.trim().trim_end_matches("/s").trim();
            n.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    usage(format!(
                        "--rate {r:?} is not a positive number of requests per second"
                    ))
                })
        })
        .transpose()?;
    Ok(HitPlan {
        url: args.url.clone(),
        target: Arc::new(Target {
            base_path: String::new(),
            ..target
        }),
        path,
        connections: args.connections,
        duration,
        requests: args.requests,
        rate,
        timeout,
        thresholds: parse_thresholds(&args.common.thresholds, "--threshold")?,
        output: output(&args.common, env)?,
    })
}

mod capacity;
mod describe;
mod open;
mod remote_write;
mod segment;
mod steps;

pub use capacity::resolve_capacity;
pub use steps::resolve_steps;
use steps::user_types;

#[cfg(test)]
mod tests;
