//! Runs a resolved [`Plan`]: guard, engine, live view, thresholds, summary,
//! exports (summary.json, the HTML report), exit code. Tests call [`run`] and [`hit`] directly to get the
//! [`Report`] (with the merged aggregate) without printing anything.
//!
//! Only typed plans come in: the command line stays in [`crate::cli`] and
//! [`crate::plan`].

use crate::dashboard::{Board, Dashboard};
use crate::engine::{self, Schedule};
use crate::exit::{ExitCode, Failure};
use crate::guard::{self, Verdict};
use crate::hit::Hit;
use crate::journey::Journey;
use crate::live::Live;
use crate::plan::{Baseline, HitPlan, Output, Plan, RunPlan};
use crate::report::{AbortReason, HealthNote, Mode, Report};
use crate::scheduler::Stage;
use crate::stats::timeline::Sampler;
use crate::stats::Collector;
use crate::threshold;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The most guard re-check notes a run keeps (the first ones: the onset).
const MAX_HEALTH_NOTES: usize = 1000;

/// Runs a resolved plan to its exit code, printing the summary (or, with
/// `--dry-run`, the plan) on stdout.
pub async fn execute(plan: Plan) -> Result<ExitCode, Failure> {
    match plan {
        Plan::Run(mut plan) => {
            if plan.output.dry_run {
                print!("{}", plan.describe());
                return Ok(ExitCode::Ok);
            }
            let output = plan.output.clone();
            let baseline = plan.baseline.take();
            let judged = |report: Report| with_baseline(report, baseline.as_ref());
            let report = match plan.dashboard {
                None => judged(run(*plan).await?),
                Some(addr) => {
                    let dashboard = Dashboard::start(addr).await.map_err(|e| {
                        Failure::Usage(format!("--dashboard {addr}: cannot listen there: {e}"))
                    })?;
                    // The address, with the port chosen when 0 was asked.
                    eprintln!("loadgen: dashboard on http://{}/", dashboard.addr());
                    let result = run_with(*plan, Some(dashboard.board()), None)
                        .await
                        .map(judged);
                    dashboard.close(result.as_ref().ok()).await;
                    result?
                }
            };
            finish(&report, &output)
        }
        Plan::Hit(plan) => {
            if plan.output.dry_run {
                print!("{}", plan.describe());
                return Ok(ExitCode::Ok);
            }
            let output = plan.output.clone();
            let report = hit(*plan).await;
            finish(&report, &output)
        }
        Plan::Merge(plan) => {
            let report = crate::merge::merge_files(&plan.files, &plan.options)?;
            finish(&report, &plan.output)
        }
        Plan::Web(plan) => crate::web::serve(plan).await,
        Plan::Capacity(plan) => crate::capacity::execute(*plan).await,
        Plan::Compare(plan) => {
            let base = crate::compare::read_summary(&plan.base, "compare")?;
            let new = crate::compare::read_summary(&plan.new, "compare")?;
            let c = crate::compare::compare(
                &base,
                &plan.base.display().to_string(),
                &new,
                &plan.new.display().to_string(),
                &plan.options,
            );
            for w in &c.warnings {
                eprintln!("loadgen: warning: {w}");
            }
            print!("{}", crate::compare::render(&c, plan.format));
            Ok(if c.regressed {
                ExitCode::Regressed
            } else {
                ExitCode::Ok
            })
        }
        Plan::Report(plan) => {
            let report = crate::merge::report_from(&plan.summary)?;
            write_html(&report, &plan.html)?;
            Ok(ExitCode::Ok)
        }
    }
}

/// `report` judged against `run --baseline`'s baseline, when there is one
/// (the comparison goes into the report: summary.json, the exit code).
pub fn with_baseline(mut report: Report, baseline: Option<&Baseline>) -> Report {
    if let Some(b) = baseline {
        report.comparison = Some(crate::compare::compare(
            &b.report,
            &b.path.display().to_string(),
            &report,
            "this run",
            &b.options,
        ));
    }
    report
}

/// Writes the run's result files into `dir` (what `--out` writes):
/// summary.json and summary.txt, the Locust CSV trio, report.html.
pub fn write_results(report: &Report, dir: &std::path::Path) -> Result<(), Failure> {
    let internal = |e: String| Failure::Internal(anyhow::anyhow!(e));
    let text = crate::summary::render(report);
    crate::export::write(dir, report, &text).map_err(internal)?;
    crate::locust_csv::write(&dir.join(crate::locust_csv::OUT_PREFIX), report).map_err(internal)?;
    crate::html::write(&dir.join("report.html"), report).map_err(internal)
}

fn finish(report: &Report, output: &Output) -> Result<ExitCode, Failure> {
    let text = crate::summary::render(report);
    print!("{text}");
    if let Some(c) = &report.comparison {
        for w in &c.warnings {
            eprintln!("loadgen: warning: baseline: {w}");
        }
        print!(
            "\n{}",
            crate::compare::render(c, crate::compare::Format::Table)
        );
    }
    let internal = |e: String| Failure::Internal(anyhow::anyhow!(e));
    if let Some(dir) = &output.out {
        let path = crate::export::write(dir, report, &text).map_err(internal)?;
        eprintln!("loadgen: wrote {}", path.display());
        crate::locust_csv::write(&dir.join(crate::locust_csv::OUT_PREFIX), report)
            .map_err(internal)?;
        write_html(report, &dir.join("report.html"))?;
    }
    if let Some(prefix) = &output.csv {
        for path in crate::locust_csv::write(prefix, report).map_err(internal)? {
            eprintln!("loadgen: wrote {}", path.display());
        }
    }
    if let Some(path) = &output.html {
        write_html(report, path)?;
    }
    Ok(report.exit_code())
}

/// Writes the HTML report to `path` (its directory created if needed).
fn write_html(report: &Report, path: &std::path::Path) -> Result<(), Failure> {
    crate::html::write(path, report).map_err(|e| Failure::Internal(anyhow::anyhow!(e)))?;
    eprintln!("loadgen: wrote {}", path.display());
    Ok(())
}

fn guard_timeout(request_timeout: Duration) -> Duration {
    request_timeout.min(Duration::from_secs(10))
}

/// Runs the guard, then the journey; returns the report (nothing printed
/// but the live view and guard warnings on stderr).
pub async fn run(plan: RunPlan) -> Result<Report, Failure> {
    run_with(plan, None, None).await
}

/// The guard's first check, as a run does it: a target that does not say
/// `app_env: "test"` is refused (unless the plan overrides the guard).
/// Returns the answer, whose identity the re-checks compare theirs with.
pub async fn check_guard(plan: &RunPlan) -> Result<guard::Answer, Failure> {
    let health = &plan.journey.paths.health;
    let gt = guard_timeout(plan.journey.timeout);
    let answer = guard::probe(Arc::clone(&plan.target), health, gt).await;
    match &answer.verdict {
        Verdict::Test => Ok(answer),
        // Provably a test backend, though not healthy: loading it is safe,
        // and what it does under load is the point.
        Verdict::Degraded(what) => {
            eprintln!("loadgen: warning: the target is degraded ({what}); loading it anyway: it says it is a test backend");
            Ok(answer)
        }
        Verdict::Unreachable(why) => Err(Failure::Unreachable(why.clone())),
        Verdict::NotTest(why) if plan.allow_non_test => {
            eprintln!("loadgen: warning: {why}; going ahead because the guard was overridden");
            Ok(answer)
        }
        Verdict::NotTest(why) => Err(Failure::GuardRefused(guard::refusal(why))),
    }
}

/// [`run`], publishing the run so far to `board` every interval (the
/// caller publishes the final report, see [`Dashboard::close`]); `stop`
/// turning true ends the run early, as Ctrl-C does (reported as
/// interrupted).
pub async fn run_with(
    plan: RunPlan,
    board: Option<&Board>,
    stop: Option<watch::Receiver<bool>>,
) -> Result<Report, Failure> {
    let first = check_guard(&plan).await?;
    let health = plan.journey.paths.health.clone();
    let gt = guard_timeout(plan.journey.timeout);
    if let Some(note) = plan.shared_accounts_note() {
        eprintln!("loadgen: note: {note}");
    }
    let (abort_tx, abort_rx) = watch::channel(false);
    let abort_tx = Arc::new(abort_tx);
    let reason: Arc<Mutex<Option<AbortReason>>> = Arc::new(Mutex::new(None));
    let mut side_tasks = vec![interrupt_task(Arc::clone(&abort_tx), Arc::clone(&reason))];
    if let Some(mut stop) = stop {
        let (tx, why) = (Arc::clone(&abort_tx), Arc::clone(&reason));
        side_tasks.push(tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                why.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(AbortReason::Interrupted);
                tx.send_replace(true);
            }
        }));
    }
    let health_notes: Arc<Mutex<Vec<HealthNote>>> = Arc::default();
    if !plan.allow_non_test {
        let (target, tx, why, notes) = (
            Arc::clone(&plan.target),
            Arc::clone(&abort_tx),
            Arc::clone(&reason),
            Arc::clone(&health_notes),
        );
        let every = plan.guard_interval;
        side_tasks.push(tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            let mut ticker = tokio::time::interval_at(t0 + every, every);
            // Told on stderr when the state changes, not at every re-check.
            let mut last_kind = "ok";
            let mut last_uptime = first.uptime_seconds;
            loop {
                ticker.tick().await;
                let answer = guard::probe(Arc::clone(&target), &health, gt).await;
                let changed = match (&first.identity, &answer.identity) {
                    (Some(was), Some(is)) => was.changed_in(is),
                    _ => None,
                };
                let restarted = match (last_uptime, answer.uptime_seconds) {
                    (Some(was), Some(is)) => is < was,
                    _ => false,
                };
                if answer.uptime_seconds.is_some() {
                    last_uptime = answer.uptime_seconds;
                }
                let verdict = match changed {
                    Some(changes) => Verdict::NotTest(format!(
                        "another deployment answers at {health} ({changes})"
                    )),
                    None => answer.verdict,
                };
                if restarted {
                    // The same deployment, restarted (a crash, a rollout):
                    // its figures around now are part of the result.
                    eprintln!("\nloadgen: guard re-check: the target restarted (its uptime went back); continuing");
                    let mut notes = notes.lock().unwrap_or_else(PoisonError::into_inner);
                    if notes.len() < MAX_HEALTH_NOTES {
                        notes.push(HealthNote {
                            t_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                            kind: "restarted".to_string(),
                            detail: "its uptime_seconds went back: the process restarted"
                                .to_string(),
                        });
                    }
                }
                let (kind, detail) = match verdict {
                    Verdict::Test => ("ok", String::new()),
                    Verdict::NotTest(seen) => {
                        eprintln!("\nloadgen: guard re-check refused the target, aborting: {seen}");
                        *why.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(AbortReason::Guard(seen));
                        tx.send_replace(true);
                        break;
                    }
                    // A test backend collapsing under load, or too busy to
                    // answer its health check in time: a finding of the
                    // test, not a reason to stop it.
                    Verdict::Degraded(seen) => ("degraded", seen),
                    Verdict::Unreachable(seen) => ("unreachable", seen),
                };
                if kind != last_kind {
                    match kind {
                        "ok" => eprintln!("\nloadgen: guard re-check: the target is healthy again"),
                        _ => eprintln!("\nloadgen: guard re-check: {detail}; continuing"),
                    }
                    last_kind = kind;
                }
                if kind != "ok" {
                    let mut notes = notes.lock().unwrap_or_else(PoisonError::into_inner);
                    // Bounded: a day-long run re-checking every second keeps
                    // its first notes (the onset) and a count of the rest.
                    if notes.len() < MAX_HEALTH_NOTES {
                        notes.push(HealthNote {
                            t_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                            kind: kind.to_string(),
                            detail,
                        });
                    }
                }
            }
        }));
    }
    if let Some(at) = plan.start_at {
        hold_until(at, abort_rx.clone()).await;
    }
    let workload = Arc::new(Journey::new(
        Arc::clone(&plan.target),
        plan.journey.clone(),
        plan.seed,
    ));
    // What the plan adds to the engine's figures, for the live updates and
    // the final report alike.
    let describe = |report: &mut Report| {
        report.target = plan.target.display();
        report.profile = Some(plan.profile.clone());
        report.latency_profile = Some(plan.latency_profile);
        report.seed = Some(plan.seed);
        report.segment = plan.schedule.segment.as_ref().map(|s| s.info());
        report.verdicts = plan
            .thresholds
            .iter()
            .map(|t| threshold::evaluate_run(t, report))
            .collect();
        report.skipped_thresholds = plan.skipped_thresholds.clone();
    };
    let feed = board.map(|board| Feed {
        board,
        describe: &describe,
    });
    // The baseline scrape, just before the load (after the guard: an
    // endpoint of a refused target is never read).
    let scrape = crate::scrape::prepare(plan.scrape.clone(), plan.output.interval).await;
    let abort_on_fail =
        threshold::AbortOnFail::new(&plan.thresholds, Arc::clone(&abort_tx), Arc::clone(&reason));
    let mut report = drive(
        workload,
        &plan.schedule,
        &plan.output,
        abort_rx,
        Mode::Run,
        Ticks {
            feed,
            abort_on_fail,
            remote_write: plan.remote_write.clone(),
        },
        scrape,
    )
    .await;
    for t in side_tasks {
        t.abort();
    }
    report.aborted = reason.lock().unwrap_or_else(PoisonError::into_inner).take();
    report.health =
        std::mem::take(&mut *health_notes.lock().unwrap_or_else(PoisonError::into_inner));
    describe(&mut report);
    // Last: the rules read the verdicts and the server's series. The
    // dashboard's final update is this report, so it shows them too.
    report.diagnosis = crate::diagnose::diagnose(&report);
    Ok(report)
}

/// `--start-at`: waits for the common start (an abort meanwhile ends the
/// wait; the run then ends at once, as interrupted).
async fn hold_until(at: chrono::DateTime<chrono::Utc>, mut abort: watch::Receiver<bool>) {
    let (wait, note) = crate::segment::start::hold(at, chrono::Utc::now());
    if let Some(note) = note {
        eprintln!("loadgen: note: {note}");
        return;
    }
    eprintln!(
        "loadgen: holding {:.1} s until --start-at {}",
        wait.as_secs_f64(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = abort.wait_for(|a| *a) => {}
    }
}

/// Ctrl-C, or SIGTERM (a pod being stopped, `timeout`, a CI runner
/// cancelling): either ends the run early with every output written.
/// `false` when no signal can be listened for.
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = term.recv() => r.is_some(),
            },
            Err(_) => tokio::signal::ctrl_c().await.is_ok(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

pub(crate) fn interrupt_task(
    tx: Arc<watch::Sender<bool>>,
    reason: Arc<Mutex<Option<AbortReason>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if stop_signal().await {
            reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(AbortReason::Interrupted);
            tx.send_replace(true);
        }
    })
}

/// Runs `hit`; returns the report.
pub async fn hit(plan: HitPlan) -> Report {
    let schedule = Schedule {
        start_vus: plan.connections,
        stages: vec![Stage {
            duration: plan.duration,
            target: plan.connections,
        }],
        graceful_ramp_down: Duration::ZERO,
        // At the deadline in-flight requests are dropped (as wrk and oha).
        graceful_stop: Duration::ZERO,
        // With -n, the last requests are waited for so the count is exact.
        drain: plan.timeout + Duration::from_secs(1),
        arrivals: None,
        seed: 0,
        segment: None,
    };
    let (abort_tx, abort_rx) = watch::channel(false);
    let abort_tx = Arc::new(abort_tx);
    let reason = Arc::new(Mutex::new(None));
    let interrupt = interrupt_task(Arc::clone(&abort_tx), Arc::clone(&reason));
    let abort_on_fail =
        threshold::AbortOnFail::new(&plan.thresholds, abort_tx, Arc::clone(&reason));
    let workload = Arc::new(Hit::new(
        Arc::clone(&plan.target),
        plan.path.clone(),
        plan.timeout,
        plan.requests,
        plan.rate,
        plan.connections,
    ));
    let mut report = drive(
        workload,
        &schedule,
        &plan.output,
        abort_rx,
        Mode::Hit,
        Ticks {
            feed: None,
            abort_on_fail,
            remote_write: None,
        },
        None,
    )
    .await;
    interrupt.abort();
    report.aborted = reason.lock().unwrap_or_else(PoisonError::into_inner).take();
    report.target = plan.url.clone();
    report.verdicts = plan
        .thresholds
        .iter()
        .map(|t| threshold::evaluate_run(t, &report))
        .collect();
    report
}

/// Where [`drive`] sends the run so far: the dashboard, and what the plan
/// adds to the engine's figures (target, thresholds, ...).
/// What `drive` does at every `--interval` tick besides sampling: publish
/// to a dashboard, judge `abortOnFail` thresholds.
struct Ticks<'a> {
    feed: Option<Feed<'a>>,
    abort_on_fail: Option<threshold::AbortOnFail>,
    /// `--prometheus-rw`: pushed on its own task, every interval.
    remote_write: Option<crate::remote_write::Config>,
}

struct Feed<'a> {
    board: &'a Board,
    describe: &'a (dyn Fn(&mut Report) + Sync),
}

async fn drive<W: engine::Workload>(
    workload: Arc<W>,
    schedule: &Schedule,
    output: &Output,
    abort: watch::Receiver<bool>,
    mode: Mode,
    ticks: Ticks<'_>,
    scrape: Option<crate::scrape::Prepared>,
) -> Report {
    let Ticks {
        feed,
        mut abort_on_fail,
        remote_write,
    } = ticks;
    let collector = Collector::per_core();
    let view = Live::start(output.live, collector.clone(), schedule.clone());
    let started_at = chrono::Utc::now();
    let t0 = tokio::time::Instant::now();
    let sampler = Sampler::start(collector.clone(), output.interval, t0);
    // Same origin as the timeline, so the server's series share its axis.
    let scraping = scrape.map(|s| s.start(t0));
    let pushing = remote_write
        .map(|config| crate::remote_write::start(config, collector.clone(), output.interval));
    let report = |timeline, ended| Report {
        mode,
        target: String::new(),
        profile: None,
        latency_profile: None,
        seed: None,
        segment: None,
        started_at,
        finished_at: chrono::Utc::now(),
        duration: t0.elapsed(),
        aggregate: collector.snapshot(),
        timeline,
        vus_max_planned: schedule.max_vus(),
        vus_max: collector.gauges.max(),
        verdicts: Vec::new(),
        skipped_thresholds: Vec::new(),
        ended,
        aborted: None,
        merged_from: Vec::new(),
        server: None,
        diagnosis: Vec::new(),
        comparison: None,
        health: Vec::new(),
    };
    let engine = engine::run(workload, schedule, &collector, abort);
    let ended = if feed.is_none() && abort_on_fail.is_none() {
        engine.await
    } else {
        let publish = || {
            if let Some(feed) = &feed {
                let mut now = report(sampler.current(), engine::Ended::Completed);
                now.server = scraping.as_ref().map(crate::scrape::Running::current);
                (feed.describe)(&mut now);
                feed.board.publish(&now, false);
            }
        };
        publish();
        tokio::pin!(engine);
        // Just after the sampler's tick, so that each update has the
        // point that tick closed.
        let every = output.interval;
        let mut ticker = tokio::time::interval_at(t0 + every + Duration::from_millis(20), every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ended = &mut engine => break ended,
                _ = ticker.tick() => {
                    publish();
                    if let Some(checks) = abort_on_fail.as_mut() {
                        checks.check(&collector, t0.elapsed());
                    }
                }
            }
        }
    };
    let duration = t0.elapsed();
    let timeline = sampler.finish(duration);
    view.finish();
    let mut report = report(timeline, ended);
    report.duration = duration;
    if let Some(s) = scraping {
        report.server = Some(s.finish().await);
    }
    if let Some(p) = pushing {
        let o = p.finish().await;
        eprintln!(
            "loadgen: remote write: {} pushes of {} series to {}, {} failed{}",
            o.pushes,
            o.series,
            o.url,
            o.failed,
            o.last_error
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default()
        );
    }
    report
}
