//! `loadgen capacity`: how many users does it hold?
//!
//! The search steps the load, VUs (closed model) or the arrival rate of
//! iterations (`--rate-steps`, open model), up a ladder; each step runs the
//! journey on the engine in this process for `--settle` (a warm-up left out
//! of its figures) then `--hold` (measured), and is judged by the threshold
//! set. The ladder stops at the first step that fails; `--bisect N` rounds
//! then halve the gap between the highest load that held and the lowest
//! that failed ([`search`]). The answer:
//!
//! - **the knee**: the highest load that held every threshold;
//! - for each threshold, the lowest load that broke it, and its value there;
//! - per step: load, requests/s and iterations/s, error rate, p50/p95/p99
//!   overall and per phase, TTFT p50/p95 when streaming, and goodput
//!   ([`figures`] defines it).
//!
//! Default thresholds: the profile's (default `ramp`, the original k6 ramp
//! script's, which is what "does it hold 100 users" meant there) with its
//! latency profile's latency limits, plus an error-rate cap,
//! [`DEFAULT_ERROR_CAP`], unless `--threshold` names `http_req_failed`
//! itself. `--threshold` overrides and adds as in `run`.
//!
//! Bounded: every step lasts `settle + hold`; the search has at most as many
//! steps as the ladder plus the bisection rounds, and `--max-duration`
//! (default: that bound, printed up front and by `--dry-run`) stops it
//! before a step that could not end in time. The guard is checked before the
//! first step (refusal: exit 3) and again before each step (a target no
//! longer `app_env: "test"` ends the search, exit 3; degraded or slow is a
//! finding). Ctrl-C or SIGTERM ends the search and still writes what it
//! measured (exit 105).

mod figures;
mod html;
mod report;
mod search;
mod step;
mod table;

pub use figures::{
    figures, good_requests, slo_limit, Figures, Goodput, Latency, PhaseLatency, StepVerdict, Ttft,
};
pub use report::{
    write, Broken, CapacityReport, Outcome, Settings, StepResult, JSON_SCHEMA, SCHEMA,
};
pub use search::{explicit, ladder, Search, StepKind};
pub use table::render;

use crate::app;
use crate::exit::{ExitCode, Failure};
use crate::guard::{self, Verdict};
use crate::journey::Journey;
use crate::plan::RunPlan;
use crate::report::AbortReason;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The error-rate cap added to the profile's thresholds.
pub const DEFAULT_ERROR_CAP: &str = "http_req_failed: rate<0.01";

/// `capacity --help` epilogue.
pub const HELP: &str = "\
Each step runs the journey for --settle (warm-up, not measured) then --hold
(measured); a step holds when every threshold holds on its hold window.
Thresholds: the profile's (default ramp) and its latency profile's, plus
`http_req_failed: rate<0.01` unless --threshold names http_req_failed;
--threshold overrides and adds as in `run`. The ladder stops at the first
failing step, then --bisect rounds narrow the knee (the highest load that
held every threshold). Goodput: requests/s that succeeded AND took no longer
than the tightest http_req_duration limit (p(N), med or max with < or <=)
of the threshold set that applies to their phase/endpoint.

Outputs: a table on stdout, progress on stderr; --out DIR writes
capacity.json (schema chatbench.loadgen.capacity/v1) and capacity.html
(self-contained: latency and goodput against load, the knee marked);
--html FILE writes the page there too.

Exit codes:
  0   a knee was found, or the highest step held
  99  even the first step failed its thresholds (no knee)
  105 interrupted (Ctrl-C, SIGTERM); what was measured is still written
  2   bad arguments, profile or threshold expression
  3   the guard refused the target (before or during the search)
  4   the target could not be reached
  1   any other (internal) error
  precedence 3 > 99 > 105 > 0";

/// How the load is stepped.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// VUs looping the journey.
    Closed,
    /// Iterations arriving at a rate.
    Open {
        /// `--pre-allocated-vus` (default: a second's arrivals).
        pre_allocated_vus: Option<u32>,
        /// `--max-vus` (default: ten times the pre-allocated).
        max_vus: Option<u32>,
        /// `--arrivals poisson`.
        poisson: bool,
    },
}

impl Model {
    /// The unit of a load.
    pub fn unit(&self) -> &'static str {
        match self {
            Model::Closed => "VUs",
            Model::Open { .. } => "iterations/s",
        }
    }
}

/// Each step's timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSettings {
    /// Warm-up, not measured.
    pub settle: Duration,
    /// Measured.
    pub hold: Duration,
}

/// A resolved `loadgen capacity`.
#[derive(Debug, Clone)]
pub struct CapacityPlan {
    /// Target, journey, thresholds, seed, guard: `run`'s plan (its
    /// schedule is unused: the steps are the shape).
    pub run: RunPlan,
    /// VUs or arrival rate.
    pub model: Model,
    /// The ladder's loads.
    pub ladder: Vec<f64>,
    /// Bisection rounds.
    pub bisect: u32,
    /// Settle and hold.
    pub steps: StepSettings,
    /// The whole search's bound.
    pub max_duration: Duration,
    /// `--out DIR`.
    pub out: Option<PathBuf>,
    /// `--html FILE`.
    pub html: Option<PathBuf>,
    /// No progress on stderr.
    pub quiet: bool,
    /// Print the plan and exit.
    pub dry_run: bool,
}

/// Time allowed per step beyond settle and hold: the guard's check before
/// it and stopping its VUs.
pub fn step_overhead(plan: &RunPlan) -> Duration {
    plan.journey.timeout.min(Duration::from_secs(10)) + Duration::from_secs(1)
}

/// The most the search can take: every step of the ladder and every
/// bisection round, each with its overhead.
pub fn bound(plan: &RunPlan, steps: usize, s: StepSettings) -> Duration {
    (s.settle + s.hold + step_overhead(plan)) * u32::try_from(steps).unwrap_or(u32::MAX)
}

impl CapacityPlan {
    /// What `--dry-run` prints.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let r = &self.run;
        let fmt = crate::duration::format_duration;
        let _ = writeln!(out, "loadgen capacity plan (dry run: nothing sent)");
        let _ = writeln!(out, "  target:           {}", r.target.display());
        let _ = writeln!(
            out,
            "  profile:          {} (thresholds and journey)",
            r.profile
        );
        let _ = writeln!(out, "  latency profile:  {}", r.latency_profile.name());
        let _ = writeln!(
            out,
            "  model:            {} ({})",
            match self.model {
                Model::Closed => "closed: VUs loop the journey",
                Model::Open { .. } => "open: iterations arrive at a rate",
            },
            self.model.unit()
        );
        let ladder: Vec<String> = self.ladder.iter().map(|l| num(*l)).collect();
        let _ = writeln!(out, "  ladder:           {}", ladder.join(", "));
        let _ = writeln!(
            out,
            "  each step:        {} settle (not measured) + {} hold (measured)",
            fmt(self.steps.settle),
            fmt(self.steps.hold)
        );
        let _ = writeln!(out, "  bisection:        {} rounds", self.bisect);
        let _ = writeln!(
            out,
            "  bound:            at most {} steps, {} in all (--max-duration)",
            self.ladder.len() + self.bisect as usize,
            fmt(self.max_duration)
        );
        let _ = writeln!(out, "  stream:           {}", r.journey.stream);
        let _ = writeln!(out, "  seed:             {}", r.seed);
        let _ = writeln!(out, "  thresholds (every step):");
        for t in &r.thresholds {
            let _ = writeln!(out, "    {t}");
        }
        for s in &r.skipped_thresholds {
            let _ = writeln!(out, "    skipped: {s}");
        }
        out
    }
}

/// A load as printed: whole numbers without decimals.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Runs `loadgen capacity` to its exit code: the search, the table on
/// stdout, the files.
pub async fn execute(plan: CapacityPlan) -> Result<ExitCode, Failure> {
    if plan.dry_run {
        print!("{}", plan.describe());
        return Ok(ExitCode::Ok);
    }
    let report = run(&plan, None).await?;
    print!("{}", table::render(&report));
    let internal = |e: String| Failure::Internal(anyhow::anyhow!(e));
    if let Some(dir) = &plan.out {
        for path in report::write(dir, &report).map_err(internal)? {
            eprintln!("loadgen: wrote {}", path.display());
        }
    }
    if let Some(path) = &plan.html {
        html::write(path, &report).map_err(internal)?;
        eprintln!("loadgen: wrote {}", path.display());
    }
    Ok(report.exit())
}

/// The page of a finished search (`capacity.html`).
pub fn page(report: &CapacityReport) -> String {
    html::page(report)
}

/// Runs the search (guard first) and returns what it measured; prints
/// progress on stderr unless quiet. `stop` turning true ends it as Ctrl-C
/// does (tests use it).
pub async fn run(
    plan: &CapacityPlan,
    stop: Option<watch::Receiver<bool>>,
) -> Result<CapacityReport, Failure> {
    app::check_guard(&plan.run).await?;
    let (abort_tx, abort_rx) = watch::channel(false);
    let abort_tx = Arc::new(abort_tx);
    let reason: Arc<Mutex<Option<AbortReason>>> = Arc::new(Mutex::new(None));
    let mut side = vec![app::interrupt_task(
        Arc::clone(&abort_tx),
        Arc::clone(&reason),
    )];
    if let Some(mut stop) = stop {
        let (tx, why) = (Arc::clone(&abort_tx), Arc::clone(&reason));
        side.push(tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                why.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(AbortReason::Interrupted);
                tx.send_replace(true);
            }
        }));
    }
    let mut report = CapacityReport::new(plan);
    let progress = |line: String| {
        if !plan.quiet {
            eprintln!("{line}");
        }
    };
    progress(format!(
        "loadgen: capacity search on {}: up to {} steps of {} + {} (bound {})",
        plan.run.target.display(),
        plan.ladder.len() + plan.bisect as usize,
        crate::duration::format_duration(plan.steps.settle),
        crate::duration::format_duration(plan.steps.hold),
        crate::duration::format_duration(plan.max_duration)
    ));
    let t0 = tokio::time::Instant::now();
    let mut search = Search::new(
        plan.ladder.clone(),
        plan.bisect,
        plan.model == Model::Closed,
    );
    let health = plan.run.journey.paths.health.clone();
    let gt = plan.run.journey.timeout.min(Duration::from_secs(10));
    let mut outcome = None;
    while let Some((load, kind)) = search.next() {
        if *abort_rx.borrow() {
            outcome = Some(Outcome::Interrupted);
            break;
        }
        let need = plan.steps.settle + plan.steps.hold + step_overhead(&plan.run);
        if t0.elapsed() + need > plan.max_duration {
            progress(format!(
                "loadgen: capacity: --max-duration reached before {} {}",
                num(load),
                plan.model.unit()
            ));
            outcome = Some(Outcome::MaxDuration);
            break;
        }
        if !report.steps.is_empty() && !plan.run.allow_non_test {
            match guard::check(Arc::clone(&plan.run.target), &health, gt).await {
                Verdict::NotTest(seen) => {
                    progress(format!(
                        "loadgen: guard re-check refused the target, stopping: {seen}"
                    ));
                    outcome = Some(Outcome::GuardRefused);
                    break;
                }
                Verdict::Degraded(seen) | Verdict::Unreachable(seen) => {
                    progress(format!("loadgen: guard re-check: {seen}; continuing"));
                    report.health.push(format!("before {}: {seen}", num(load)));
                }
                Verdict::Test => {}
            }
        }
        let index = report.steps.len() + 1;
        progress(format!(
            "loadgen: step {index} ({}): {} {} ...",
            match kind {
                StepKind::Ladder => "ladder",
                StepKind::Bisect => "bisect",
            },
            num(load),
            plan.model.unit()
        ));
        let seed = plan.run.seed.wrapping_add(index as u64);
        let schedule = step::schedule(&plan.model, load, &plan.steps, seed);
        let workload = Arc::new(Journey::new(
            Arc::clone(&plan.run.target),
            plan.run.journey.clone(),
            seed,
        ));
        let measured = step::run(workload, &schedule, plan.steps.settle, abort_rx.clone()).await;
        let f = figures(&measured.aggregate, measured.window, &plan.run.thresholds);
        let held = !measured.interrupted && f.held();
        progress(format!(
            "loadgen:   {}",
            table::progress_line(&f, held, measured.interrupted)
        ));
        report.steps.push(StepResult {
            index,
            load,
            kind,
            held,
            interrupted: measured.interrupted,
            figures: f,
        });
        if measured.interrupted {
            outcome = Some(Outcome::Interrupted);
            break;
        }
        search.record(load, held);
    }
    for t in side {
        t.abort();
    }
    let interrupted = matches!(
        *reason.lock().unwrap_or_else(PoisonError::into_inner),
        Some(AbortReason::Interrupted)
    );
    report.finish(&search, outcome, interrupted);
    Ok(report)
}
