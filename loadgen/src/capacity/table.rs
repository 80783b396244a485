//! The search on the terminal: one progress line per step (stderr) and
//! the table of every step, per-phase latencies, the knee and what broke
//! where (stdout).

use super::figures::Figures;
use super::num;
use super::report::{CapacityReport, Outcome, StepResult};
use super::search::StepKind;
use std::fmt::Write as _;

fn opt_ms(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.0}"))
}

/// One step's result in a progress line.
pub fn progress_line(f: &Figures, held: bool, interrupted: bool) -> String {
    let failed: Vec<&str> = f
        .verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.threshold.as_str())
        .collect();
    format!(
        "{:.1} req/s, errors {:.2}%, p95 {:.0} ms, goodput {:.1}/s: {}",
        f.requests_per_s,
        f.error_rate * 100.0,
        f.latency.p95_ms,
        f.goodput.per_s,
        if interrupted {
            "interrupted".to_string()
        } else if held {
            "held".to_string()
        } else {
            format!("FAILED {}", failed.join("; "))
        }
    )
}

/// The table printed on stdout.
pub fn render(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ncapacity of {} ({} model, load in {}; each step {}s settle + {}s hold)",
        r.target, r.model, r.unit, r.settings.settle_s, r.settings.hold_s
    );
    let mut steps: Vec<&StepResult> = r.steps.iter().collect();
    steps.sort_by(|a, b| a.load.total_cmp(&b.load).then(a.index.cmp(&b.index)));
    let ttft = r.stream;
    let _ = write!(
        out,
        "\n{:>8} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6}",
        "load", "kind", "req/s", "iter/s", "err%", "p50ms", "p95ms", "p99ms", "goodput/s", "good%"
    );
    if ttft {
        let _ = write!(out, " {:>8} {:>8}", "ttft50", "ttft95");
    }
    let _ = writeln!(out, "  verdict");
    for s in &steps {
        let f = &s.figures;
        let _ = write!(
            out,
            "{:>8} {:>6} {:>8.1} {:>7.2} {:>7.2} {:>7.0} {:>7.0} {:>7.0} {:>9.1} {:>6.1}",
            num(s.load),
            match s.kind {
                StepKind::Ladder => "step",
                StepKind::Bisect => "bisect",
            },
            f.requests_per_s,
            f.iterations_per_s,
            f.error_rate * 100.0,
            f.latency.p50_ms,
            f.latency.p95_ms,
            f.latency.p99_ms,
            f.goodput.per_s,
            f.goodput.ratio * 100.0
        );
        if ttft {
            let (a, b) = f
                .ttft
                .map_or((None, None), |t| (Some(t.p50_ms), Some(t.p95_ms)));
            let _ = write!(out, " {:>8} {:>8}", opt_ms(a), opt_ms(b));
        }
        let verdict = if s.interrupted {
            "interrupted"
        } else if s.held {
            "held"
        } else {
            "FAILED"
        };
        let _ = writeln!(out, "  {verdict}");
    }
    // Per phase: p50/p95/p99 of each step.
    let mut phases: Vec<String> = steps
        .iter()
        .flat_map(|s| s.figures.phases.iter().map(|p| p.phase.clone()))
        .collect();
    phases.sort();
    phases.dedup();
    if !phases.is_empty() {
        let _ = write!(out, "\nper phase p50/p95/p99 ms\n{:>8}", "load");
        for p in &phases {
            let _ = write!(out, " {p:>20}");
        }
        let _ = writeln!(out);
        for s in &steps {
            let _ = write!(out, "{:>8}", num(s.load));
            for p in &phases {
                let cell =
                    s.figures
                        .phases
                        .iter()
                        .find(|x| &x.phase == p)
                        .map_or("-".to_string(), |x| {
                            format!(
                                "{:.0}/{:.0}/{:.0}",
                                x.latency.p50_ms, x.latency.p95_ms, x.latency.p99_ms
                            )
                        });
                let _ = write!(out, " {cell:>20}");
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out);
    let unit = r.unit;
    match (r.knee, r.outcome) {
        (Some(k), Outcome::MaxHeld) => {
            let _ = writeln!(
                out,
                "knee: >= {} {unit} (every step held, up to the highest)",
                num(k)
            );
        }
        (Some(k), _) => {
            let _ = writeln!(
                out,
                "knee: {} {unit} (the highest load that held every threshold{})",
                num(k),
                r.first_failed
                    .map(|b| format!("; {} {unit} failed", num(b)))
                    .unwrap_or_default()
            );
        }
        (None, _) if r.first_failed.is_some() => {
            let _ = writeln!(
                out,
                "knee: none (the first step, {} {unit}, failed)",
                r.first_failed.map(num).unwrap_or_default()
            );
        }
        (None, _) => {
            let _ = writeln!(out, "knee: none (no step was judged)");
        }
    }
    for b in &r.broken {
        let _ = writeln!(
            out,
            "broke: {} first at {} {unit} (actual {})",
            b.threshold,
            num(b.load),
            b.actual.map_or("no data".into(), |a| format!("{a:.4}"))
        );
    }
    let _ = writeln!(
        out,
        "outcome: {} (exit {})",
        serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        r.exit_code
    );
    out
}
