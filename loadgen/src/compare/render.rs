//! A [`Comparison`] as text: a terminal table, a Markdown pull-request
//! comment (regressions in bold, marked), or JSON (the [`Comparison`]
//! itself, schema [`super::SCHEMA_ID`]).

use super::{Comparison, Metric, Row, Verdict};
use std::fmt::Write as _;

/// Output format of `loadgen compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// A Markdown table for a pull-request comment.
    Markdown,
    /// The comparison as JSON.
    Json,
}

/// Renders `c` in `format` (ends with a newline).
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Table => table(c),
        Format::Markdown => markdown(c),
        Format::Json => match serde_json::to_string_pretty(c) {
            Ok(s) => s + "\n",
            // Plain data, no maps with non-string keys: cannot fail.
            Err(e) => format!("{{\"error\": \"{e}\"}}\n"),
        },
    }
}

/// A value in its unit, with sensible digits.
fn value(metric: Metric, v: Option<f64>) -> String {
    let Some(v) = v else {
        return "-".into();
    };
    match metric {
        Metric::Rate => format!("{v:.2}/s"),
        Metric::ErrorRate => format!("{v:.2}%"),
        _ => ms(v),
    }
}

fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0} ms")
    } else if a >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// The change: absolute and relative for rates and latencies, points for
/// the error rate.
fn change(r: &Row) -> String {
    let Some(c) = r.change else {
        return "-".into();
    };
    match r.metric {
        Metric::ErrorRate => format!("{c:+.2} pt"),
        m => {
            let abs = match m {
                Metric::Rate => format!("{c:+.2}/s"),
                _ => {
                    let s = ms(c);
                    if c >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    }
                }
            };
            match r.relative_change {
                Some(rel) => format!("{abs} ({:+.1}%)", rel * 100.0),
                None => abs,
            }
        }
    }
}

fn p_value(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 1e-4 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
    }
}

fn header(c: &Comparison) -> String {
    format!(
        "base {} ({}, {:.1} s)\nnew  {} ({}, {:.1} s)\nalpha {} one-sided; bands: {}",
        c.base.label,
        c.base.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        c.base.duration_seconds,
        c.new.label,
        c.new.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        c.new.duration_seconds,
        c.alpha,
        c.tolerances.describe()
    )
}

fn outcome(c: &Comparison) -> String {
    let names: Vec<String> = c
        .regressions()
        .map(|r| format!("{}/{} {}", r.phase, r.endpoint, r.metric.name()))
        .collect();
    if names.is_empty() {
        "no regression".into()
    } else {
        format!("REGRESSED: {}", names.join(", "))
    }
}

fn table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "loadgen compare\n{}", header(c));
    for w in &c.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let cells: Vec<[String; 8]> = c
        .rows
        .iter()
        .map(|r| {
            let mark = if r.verdict == Verdict::Regression {
                "REGRESSION"
            } else {
                r.verdict.text()
            };
            [
                r.phase.clone(),
                r.endpoint.clone(),
                r.metric.name().to_string(),
                value(r.metric, r.base),
                value(r.metric, r.new),
                change(r),
                p_value(r.p_value),
                mark.to_string(),
            ]
        })
        .collect();
    let head = [
        "phase", "endpoint", "metric", "base", "new", "change", "p", "verdict",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            // Text left, figures right.
            if (3..=6).contains(&i) {
                let _ = write!(s, "{cell:>w$}  ");
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "\n{}", line(&head));
    for row in &cells {
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&refs));
    }
    for (which, list) in [("base", &c.only_in_base), ("new", &c.only_in_new)] {
        for e in list {
            let _ = writeln!(
                out,
                "only in the {which} run: {}/{} (not compared)",
                e.phase, e.endpoint
            );
        }
    }
    if !c.rate_gated {
        let _ = writeln!(out, "\n{RATE_NOTE}");
    }
    let _ = writeln!(out, "\n{}", outcome(c));
    out
}

/// Why rate rows say n/a between runs.
const RATE_NOTE: &str = "rates do not gate between runs: a VU waits for each answer, so every \
     endpoint's rate follows the latencies judged above";

fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let n = c.regressions().count();
    let title = if n == 0 {
        "✅ no regression".to_string()
    } else {
        format!("❌ **{n} regression{}**", if n == 1 { "" } else { "s" })
    };
    let _ = writeln!(out, "### loadgen compare: {title}\n");
    let _ = writeln!(
        out,
        "Base `{}` ({}), new `{}` ({}). A change counts when it is beyond its band ({}) **and** \
         its one-sided p-value is below {} (Mood's quantile test for percentiles, Fisher's exact \
         test for error rates, the conditional binomial test for rates; with time series, the \
         same shift across intervals too: Mann-Whitney).\n",
        c.base.label,
        c.base.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        c.new.label,
        c.new.started_at.format("%Y-%m-%d %H:%M:%SZ"),
        c.tolerances.describe(),
        c.alpha
    );
    for w in &c.warnings {
        let _ = writeln!(out, "> ⚠️ {w}\n");
    }
    let _ = writeln!(
        out,
        "| phase | endpoint | metric | base | new | change | p | verdict |\n|---|---|---|---:|---:|---:|---:|---|"
    );
    for r in &c.rows {
        let bold = |s: String| {
            if r.verdict == Verdict::Regression {
                format!("**{s}**")
            } else {
                s
            }
        };
        let verdict = match r.verdict {
            Verdict::Regression => "❌ **regression**".to_string(),
            Verdict::Improvement => "✅ improvement".to_string(),
            v => v.text().to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            bold(r.phase.clone()),
            bold(r.endpoint.clone()),
            bold(r.metric.name().to_string()),
            value(r.metric, r.base),
            bold(value(r.metric, r.new)),
            bold(change(r)),
            p_value(r.p_value),
            verdict
        );
    }
    if !c.rate_gated {
        let _ = writeln!(out, "\n_{}._", capitalized(RATE_NOTE));
    }
    for (which, list) in [("base", &c.only_in_base), ("new", &c.only_in_new)] {
        if !list.is_empty() {
            let names: Vec<String> = list
                .iter()
                .map(|e| format!("`{}/{}`", e.phase, e.endpoint))
                .collect();
            let _ = writeln!(
                out,
                "\nOnly in the {which} run (not compared): {}",
                names.join(", ")
            );
        }
    }
    out
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
