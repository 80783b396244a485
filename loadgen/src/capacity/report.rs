//! What a capacity search found: the knee, the load at which each threshold
//! first broke, and every step's figures; written as `capacity.json`
//! (schema [`SCHEMA`], `loadgen/schema/capacity-v1.schema.json`) and
//! `capacity.html`, printed by [`super::table`].

use super::figures::Figures;
use super::search::{Search, StepKind};
use super::{CapacityPlan, Model};
use crate::exit::ExitCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The versioned name of capacity.json's schema.
pub const SCHEMA: &str = "chatbench.loadgen.capacity/v1";

/// capacity.json's JSON Schema (`loadgen/schema/capacity-v1.schema.json`).
pub const JSON_SCHEMA: &str = include_str!("../../schema/capacity-v1.schema.json");

/// The definition of goodput the JSON carries (see [`super::figures`]).
pub const GOODPUT_DEFINITION: &str = "requests per second of the hold window that succeeded \
(http_req_failed false) and took no longer than the tightest http_req_duration limit \
(p(N), med or max with < or <=) of the threshold set that selects them by phase, endpoint \
or status; requests no duration threshold selects need only succeed";

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A step failed after one that held: the knee is between them.
    Knee,
    /// Every step of the ladder held: the knee is at least its top.
    MaxHeld,
    /// The first step failed: no knee.
    FirstStepFailed,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The guard re-check found a target that is no longer a test backend.
    GuardRefused,
    /// `--max-duration` came before the search's end.
    MaxDuration,
}

/// One step as run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// 1-based, in the order run.
    pub index: usize,
    /// VUs or iterations/s.
    pub load: f64,
    /// Ladder or bisection.
    pub kind: StepKind,
    /// Every threshold held (and the step was not interrupted).
    pub held: bool,
    /// Ended early: its figures are partial and judge nothing.
    pub interrupted: bool,
    /// What it measured.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The lowest load at which a threshold failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Broken {
    /// The threshold.
    pub threshold: String,
    /// The load.
    pub load: f64,
    /// Its value there (`None`: no data, which fails).
    pub actual: Option<f64>,
}

/// The search's settings, as run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The ladder's loads.
    pub ladder: Vec<f64>,
    /// Warm-up per step, seconds.
    pub settle_s: f64,
    /// Measured time per step, seconds.
    pub hold_s: f64,
    /// Bisection rounds.
    pub bisect: u32,
    /// The search's bound, seconds.
    pub max_duration_s: f64,
}

/// Everything the search found (capacity.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Target URL.
    pub target: String,
    /// Profile of the journey and thresholds.
    pub profile: String,
    /// `mock` or `live`.
    pub latency_profile: &'static str,
    /// `closed` or `open`.
    pub model: &'static str,
    /// `VUs` or `iterations/s`.
    pub unit: &'static str,
    /// Chat turns streamed (TTFT figures).
    pub stream: bool,
    /// Seed of the run (each step's is seed + its index).
    pub seed: u64,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end.
    pub finished_at: DateTime<Utc>,
    /// Settings.
    pub settings: Settings,
    /// The threshold set every step is judged by.
    pub thresholds: Vec<String>,
    /// Thresholds left out, with why.
    pub skipped_thresholds: Vec<String>,
    /// What goodput counts.
    pub goodput_definition: &'static str,
    /// The highest load that held every threshold (`None`: none did).
    pub knee: Option<f64>,
    /// The lowest load that failed (`None`: none did).
    pub first_failed: Option<f64>,
    /// How the search ended.
    pub outcome: Outcome,
    /// The exit code.
    pub exit_code: i32,
    /// Per threshold that failed somewhere: the lowest load it failed at.
    pub broken: Vec<Broken>,
    /// Guard re-checks that found the target degraded or slow.
    pub health: Vec<String>,
    /// Every step, in the order run.
    pub steps: Vec<StepResult>,
}

impl CapacityReport {
    /// An empty report for `plan`.
    pub fn new(plan: &CapacityPlan) -> CapacityReport {
        let r = &plan.run;
        let now = Utc::now();
        CapacityReport {
            schema: SCHEMA,
            target: r.target.display(),
            profile: r.profile.clone(),
            latency_profile: r.latency_profile.name(),
            model: match plan.model {
                Model::Closed => "closed",
                Model::Open { .. } => "open",
            },
            unit: plan.model.unit(),
            stream: r.journey.stream && r.journey.steps.chat,
            seed: r.seed,
            started_at: now,
            finished_at: now,
            settings: Settings {
                ladder: plan.ladder.clone(),
                settle_s: plan.steps.settle.as_secs_f64(),
                hold_s: plan.steps.hold.as_secs_f64(),
                bisect: plan.bisect,
                max_duration_s: plan.max_duration.as_secs_f64(),
            },
            thresholds: r.thresholds.iter().map(ToString::to_string).collect(),
            skipped_thresholds: r.skipped_thresholds.clone(),
            goodput_definition: GOODPUT_DEFINITION,
            knee: None,
            first_failed: None,
            outcome: Outcome::FirstStepFailed,
            exit_code: 0,
            broken: Vec::new(),
            health: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Fills the answer from the search's state once it stopped
    /// (`stopped`: why, if it stopped before its end).
    pub fn finish(&mut self, search: &Search, stopped: Option<Outcome>, interrupted: bool) {
        self.finished_at = Utc::now();
        self.knee = search.knee();
        self.first_failed = search.first_failed();
        self.outcome = match (stopped, interrupted) {
            (Some(Outcome::GuardRefused), _) => Outcome::GuardRefused,
            (_, true) | (Some(Outcome::Interrupted), _) => Outcome::Interrupted,
            (Some(o), _) => o,
            (None, _) => match (self.knee, self.first_failed) {
                (None, _) => Outcome::FirstStepFailed,
                (Some(_), None) => Outcome::MaxHeld,
                (Some(_), Some(_)) => Outcome::Knee,
            },
        };
        self.broken = broken(&self.steps, &self.thresholds);
        self.exit_code = self.exit().code();
    }

    /// The exit code: 3 > 99 > 105 > 0.
    pub fn exit(&self) -> ExitCode {
        let judged = self.steps.iter().any(|s| !s.interrupted);
        if self.outcome == Outcome::GuardRefused {
            ExitCode::GuardRefused
        } else if judged && self.knee.is_none() && self.first_failed.is_some() {
            ExitCode::ThresholdsFailed
        } else if self.outcome == Outcome::Interrupted {
            ExitCode::Interrupted
        } else {
            ExitCode::Ok
        }
    }
}

/// Per threshold, the lowest load of a judged step that failed it.
fn broken(steps: &[StepResult], thresholds: &[String]) -> Vec<Broken> {
    let mut judged: Vec<&StepResult> = steps.iter().filter(|s| !s.interrupted).collect();
    judged.sort_by(|a, b| a.load.total_cmp(&b.load));
    thresholds
        .iter()
        .filter_map(|t| {
            judged.iter().find_map(|s| {
                s.figures
                    .verdicts
                    .iter()
                    .find(|v| &v.threshold == t && !v.passed)
                    .map(|v| Broken {
                        threshold: t.clone(),
                        load: s.load,
                        actual: v.actual,
                    })
            })
        })
        .collect()
}

/// Writes capacity.json and capacity.html into `dir`; returns their paths.
pub fn write(dir: &Path, r: &CapacityReport) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = dir.join("capacity.json");
    let text = serde_json::to_string_pretty(r).map_err(|e| format!("capacity.json: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let html = dir.join("capacity.html");
    super::html::write(&html, r)?;
    Ok(vec![json, html])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::figures::{Figures, StepVerdict};

    fn step(index: usize, load: f64, passed: &[bool], interrupted: bool) -> StepResult {
        let verdicts: Vec<StepVerdict> = passed
            .iter()
            .enumerate()
            .map(|(i, p)| StepVerdict {
                threshold: format!("t{i}"),
                actual: Some(load),
                passed: *p,
            })
            .collect();
        let figures = Figures {
            window_s: 1.0,
            requests: 1,
            failed: 0,
            error_rate: 0.0,
            requests_per_s: 1.0,
            iterations: 1,
            iterations_per_s: 1.0,
            dropped_iterations: 0,
            latency: Default::default(),
            phases: Vec::new(),
            ttft: None,
            goodput: Default::default(),
            verdicts,
        };
        StepResult {
            index,
            load,
            kind: StepKind::Ladder,
            held: !interrupted && figures.held(),
            interrupted,
            figures,
        }
    }

    #[test]
    fn each_threshold_is_reported_at_the_lowest_load_that_broke_it() {
        // Run order 10, 20, 15: t0 breaks at 20 and 15, t1 only at 20.
        let steps = vec![
            step(1, 10.0, &[true, true], false),
            step(2, 20.0, &[false, false], false),
            step(3, 15.0, &[false, true], false),
        ];
        let b = broken(&steps, &["t0".into(), "t1".into(), "t2".into()]);
        assert_eq!(
            b.iter()
                .map(|b| (b.threshold.as_str(), b.load))
                .collect::<Vec<_>>(),
            [("t0", 15.0), ("t1", 20.0)]
        );
    }

    #[test]
    fn capacity_json_matches_its_schema() {
        let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let now = Utc::now();
        let mut s1 = step(1, 10.0, &[true], false);
        s1.figures.phases.push(crate::capacity::PhaseLatency {
            phase: "auth".into(),
            latency: Default::default(),
        });
        s1.figures.ttft = Some(crate::capacity::Ttft {
            count: 3,
            p50_ms: 1.0,
            p95_ms: 2.0,
        });
        let steps = vec![s1, step(2, 20.0, &[false], false)];
        let report = CapacityReport {
            schema: SCHEMA,
            target: "http://127.0.0.1:1".into(),
            profile: "ramp".into(),
            latency_profile: "mock",
            model: "closed",
            unit: "VUs",
            stream: true,
            seed: u64::MAX,
            started_at: now,
            finished_at: now,
            settings: Settings {
                ladder: vec![10.0, 20.0],
                settle_s: 1.0,
                hold_s: 3.0,
                bisect: 2,
                max_duration_s: 30.0,
            },
            thresholds: vec!["t0".into()],
            skipped_thresholds: Vec::new(),
            goodput_definition: GOODPUT_DEFINITION,
            knee: Some(10.0),
            first_failed: Some(20.0),
            outcome: Outcome::Knee,
            exit_code: 0,
            broken: broken(&steps, &["t0".into()]),
            health: Vec::new(),
            steps,
        };
        let value = serde_json::to_value(&report).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn an_interrupted_step_judges_nothing() {
        let steps = vec![step(1, 10.0, &[false], true)];
        assert!(broken(&steps, &["t0".into()]).is_empty());
    }
}
