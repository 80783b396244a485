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

fn latency_arg(arg: LatencyArg) -> LatencyProfile {
    match arg {
        LatencyArg::Mock => LatencyProfile::Mock,
        LatencyArg::Live => LatencyProfile::Live,
    }
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
mod run;
mod segment;
mod steps;

pub use capacity::resolve_capacity;
pub use run::resolve_run;
pub use steps::resolve_steps;
use steps::user_types;

#[cfg(test)]
mod tests;
