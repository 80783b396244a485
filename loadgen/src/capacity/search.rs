//! The capacity search's decisions, apart from any load: which load to
//! run next, given what held so far. First a ladder (the `--start`,
//! `--step`, `--max` steps, or `--steps`), climbed until a step fails its
//! thresholds; then `--bisect N` rounds between the highest load that held
//! and the lowest that failed. Pure, so the stepping and the bisection are
//! tested without a target.

/// How a step's load was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A step of the ladder.
    Ladder,
    /// A bisection between the last good and the first bad load.
    Bisect,
}

/// The ladder of loads: `start, start + step, ...` up to `max` (`max`
/// itself is the last step when the ladder does not land on it).
pub fn ladder(start: f64, step: f64, max: f64) -> Result<Vec<f64>, String> {
    if !(start.is_finite() && step.is_finite() && max.is_finite()) {
        return Err("--start, --step and --max must be finite numbers".into());
    }
    if start <= 0.0 {
        return Err(format!("--start {start}: the first step must be above 0"));
    }
    if step <= 0.0 {
        return Err(format!("--step {step}: must be above 0"));
    }
    if max < start {
        return Err(format!("--max {max} is below --start {start}"));
    }
    let n = ((max - start) / step).floor();
    if n > MAX_STEPS as f64 {
        return Err(format!(
            "--start {start} --step {step} --max {max} makes more than {MAX_STEPS} steps: take a bigger --step"
        ));
    }
    // Computed from the index, not by adding, so 0.1-sized steps do not drift.
    let mut out: Vec<f64> = (0..=n as usize)
        .map(|i| round2(start + step * i as f64))
        .collect();
    if out.last().is_some_and(|l| *l < max) {
        out.push(max);
    }
    Ok(out)
}

/// The most steps one ladder may have (a search is meant to end).
pub const MAX_STEPS: usize = 1000;

/// An explicit ladder (`--steps 5,10,20`): increasing, each above 0.
pub fn explicit(loads: &[f64]) -> Result<Vec<f64>, String> {
    if loads.is_empty() {
        return Err("--steps: no load given".into());
    }
    if loads.len() > MAX_STEPS {
        return Err(format!("--steps: more than {MAX_STEPS} loads"));
    }
    for w in loads.windows(2) {
        if w[1] <= w[0] {
            return Err(format!(
                "--steps: loads must increase ({} then {})",
                w[0], w[1]
            ));
        }
    }
    match loads.first() {
        Some(first) if *first > 0.0 && loads.iter().all(|l| l.is_finite()) => Ok(loads.to_vec()),
        _ => Err("--steps: every load must be a finite number above 0".into()),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The search's state: the ladder climbed so far and the bisection.
#[derive(Debug, Clone)]
pub struct Search {
    ladder: Vec<f64>,
    next_rung: usize,
    rounds_left: u32,
    /// VUs are whole; rates are bisected to 0.01/s.
    integer: bool,
    good: Option<f64>,
    bad: Option<f64>,
}

impl Search {
    /// A search over `ladder` with `bisect` rounds; `integer` loads (VUs).
    pub fn new(ladder: Vec<f64>, bisect: u32, integer: bool) -> Search {
        Search {
            ladder,
            next_rung: 0,
            rounds_left: bisect,
            integer,
            good: None,
            bad: None,
        }
    }

    /// The next load to run, or `None` when the search is over.
    pub fn next(&self) -> Option<(f64, StepKind)> {
        let Some(bad) = self.bad else {
            return self
                .ladder
                .get(self.next_rung)
                .map(|l| (*l, StepKind::Ladder));
        };
        let good = self.good?;
        if self.rounds_left == 0 {
            return None;
        }
        let mid = if self.integer {
            ((good + bad) / 2.0).floor()
        } else {
            round2((good + bad) / 2.0)
        };
        (mid > good && mid < bad).then_some((mid, StepKind::Bisect))
    }

    /// Records whether `load` (the one [`Search::next`] gave) held every
    /// threshold.
    pub fn record(&mut self, load: f64, held: bool) {
        match self.bad {
            None => self.next_rung += 1,
            Some(_) => self.rounds_left = self.rounds_left.saturating_sub(1),
        }
        if held {
            self.good = Some(self.good.map_or(load, |g| g.max(load)));
        } else {
            self.bad = Some(self.bad.map_or(load, |b| b.min(load)));
        }
    }

    /// The knee: the highest load that held every threshold.
    pub fn knee(&self) -> Option<f64> {
        self.good
    }

    /// The lowest load that failed a threshold.
    pub fn first_failed(&self) -> Option<f64> {
        self.bad
    }

    /// The most steps the search may still run: the rest of the ladder and
    /// every bisection round (what bounds it in time).
    pub fn steps_bound(&self) -> usize {
        let rungs = if self.bad.is_none() {
            self.ladder.len().saturating_sub(self.next_rung)
        } else {
            0
        };
        rungs + self.rounds_left as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a target that holds every load up to `holds`.
    fn search(ladder: Vec<f64>, bisect: u32, integer: bool, holds: f64) -> (Search, Vec<f64>) {
        let mut s = Search::new(ladder, bisect, integer);
        let mut ran = Vec::new();
        while let Some((load, _)) = s.next() {
            ran.push(load);
            s.record(load, load <= holds);
            assert!(ran.len() < 100, "the search ends");
        }
        (s, ran)
    }

    #[test]
    fn the_ladder_runs_from_start_by_step_and_ends_on_max() {
        assert_eq!(ladder(5.0, 5.0, 20.0).unwrap(), [5.0, 10.0, 15.0, 20.0]);
        assert_eq!(ladder(5.0, 10.0, 20.0).unwrap(), [5.0, 15.0, 20.0]);
        assert_eq!(ladder(0.5, 0.1, 0.8).unwrap(), [0.5, 0.6, 0.7, 0.8]);
        assert_eq!(ladder(7.0, 1.0, 7.0).unwrap(), [7.0]);
    }

    #[test]
    fn a_ladder_that_cannot_climb_or_never_ends_is_refused() {
        for (start, step, max) in [
            (0.0, 5.0, 10.0),
            (5.0, 0.0, 10.0),
            (10.0, 5.0, 5.0),
            (1.0, 0.0001, 1e6),
        ] {
            assert!(ladder(start, step, max).is_err(), "{start} {step} {max}");
        }
        assert!(explicit(&[5.0, 5.0]).is_err());
        assert!(explicit(&[0.0, 5.0]).is_err());
        assert!(explicit(&[]).is_err());
        assert_eq!(explicit(&[1.0, 4.0]).unwrap(), [1.0, 4.0]);
    }

    #[test]
    fn the_ladder_stops_at_the_first_failure_then_bisects_towards_the_knee() {
        let (s, ran) = search(vec![5.0, 10.0, 15.0, 20.0, 25.0], 2, true, 12.0);
        // 5 and 10 hold, 15 fails; bisect 12 (holds), then 13 (fails).
        assert_eq!(ran, [5.0, 10.0, 15.0, 12.0, 13.0]);
        assert_eq!(s.knee(), Some(12.0));
        assert_eq!(s.first_failed(), Some(13.0));
    }

    #[test]
    fn bisection_stops_when_no_whole_vu_is_left_between_good_and_bad() {
        let (s, ran) = search(vec![10.0, 11.0, 12.0], 5, true, 10.0);
        assert_eq!(ran, [10.0, 11.0]);
        assert_eq!((s.knee(), s.first_failed()), (Some(10.0), Some(11.0)));
    }

    #[test]
    fn rates_are_bisected_to_a_hundredth() {
        let (s, ran) = search(vec![1.0, 2.0], 3, false, 1.3);
        assert_eq!(ran, [1.0, 2.0, 1.5, 1.25, 1.38]);
        assert_eq!(s.knee(), Some(1.25));
    }

    #[test]
    fn a_target_that_holds_everything_ends_at_max_without_bisecting() {
        let (s, ran) = search(vec![5.0, 10.0], 3, true, 1e9);
        assert_eq!(ran, [5.0, 10.0]);
        assert_eq!((s.knee(), s.first_failed()), (Some(10.0), None));
    }

    #[test]
    fn a_first_step_that_fails_ends_the_search_with_no_knee() {
        let (s, ran) = search(vec![5.0, 10.0], 3, true, 1.0);
        assert_eq!(ran, [5.0]);
        assert_eq!((s.knee(), s.first_failed()), (None, Some(5.0)));
    }

    #[test]
    fn the_step_bound_counts_the_ladder_left_and_every_bisection_round() {
        let mut s = Search::new(vec![5.0, 10.0, 15.0], 2, true);
        assert_eq!(s.steps_bound(), 5);
        s.record(5.0, true);
        assert_eq!(s.steps_bound(), 4);
        s.record(10.0, false);
        assert_eq!(s.steps_bound(), 2);
        // Never more steps than the bound said.
        let mut n = 0;
        while let Some((l, _)) = s.next() {
            s.record(l, true);
            n += 1;
        }
        assert!(n <= 2);
    }
}
