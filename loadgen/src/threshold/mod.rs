//! Thresholds in k6 syntax: `metric{tag:value,...}: aggregation OP number`,
//! e.g. `http_req_duration{phase:auth}: p(95)<500`. Durations are in
//! milliseconds, rates are fractions in 0..=1, as in k6.
//!
//! | metric | kind | aggregations | tags |
//! |---|---|---|---|
//! | `http_req_duration`, `http_req_waiting` | trend | avg min max med p(N) count | phase endpoint status |
//! | `http_req_failed` | rate | rate | phase endpoint status |
//! | `checks` | rate | rate | phase check |
//! | `http_reqs` | counter | count rate | phase endpoint status |
//! | `iterations` | counter | count rate | (none) |
//! | `chat_ttfb`, `chat_ttft`, `chat_itl`, `chat_tpot`, `chat_e2e` | trend (ms) | avg min max med p(N) count | phase endpoint |
//! | `chat_tokens_per_s` | trend (tokens/s) | avg min max med p(N) count | phase endpoint |
//! | `stream_errors` | counter | count, rate (fraction of streams) | phase endpoint kind |
//! | `dropped_iterations` | counter | count rate | (none) |
//! | `recovery_time` | time (ms) from a spike's end until p95 and errors are back ([`crate::recovery`]) | max | (none) |
//!
//! Time limits are milliseconds, or a duration with its unit
//! (`p(95)<800ms`, `recovery_time: max<60s`).
//!
//! `status` selects a class (`2xx` .. `5xx`, `err`); `kind` a stream error
//! kind (`error_event`, `cut`); `name` is accepted for `endpoint` (and for
//! `check` on `checks`). The `chat_*` metrics are defined once, in
//! [`crate::stats::StreamRecord`]. Thresholds are evaluated on the merged
//! aggregate at the end of the run ([`evaluate`], in
//! `threshold/evaluate.rs`); a threshold whose series got no data fails,
//! saying so. This file is what a threshold is and how it is written.
//!
//! k6's `abortOnFail`: a threshold followed by `abortOnFail` (or
//! `abort-on-fail`) is also evaluated every `--interval` during the run, and
//! its first failure ends the run (exit 99); `delayAbortEval=30s` (or
//! `delay=30s`) waits that long into the run before judging, so a few slow
//! first requests do not stop it. E.g.
//! `http_req_failed: rate<0.1 abortOnFail delayAbortEval=30s`.

use crate::stats::{StatusClass, StreamMetric, STREAM_ERROR_KINDS};
use std::fmt;

/// Metrics a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `http_req_duration`
    Duration,
    /// `http_req_waiting` (time to response headers)
    Waiting,
    /// `http_req_failed`
    Failed,
    /// `checks`
    Checks,
    /// `http_reqs`
    Reqs,
    /// `iterations`
    Iterations,
    /// `iteration_duration` (open model: from the scheduled start)
    IterationDuration,
    /// `iteration_lateness` (open model: start past the scheduled start)
    IterationLateness,
    /// `chat_ttft`, `chat_itl`, ... (streamed chat turns)
    Stream(StreamMetric),
    /// `stream_errors`
    StreamErrors,
    /// `recovery_time`: after a spike, until latency and errors are back.
    Recovery,
    /// `dropped_iterations`: scheduled, never started (open model).
    Dropped,
}

impl Metric {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "http_req_duration" => Metric::Duration,
            "http_req_waiting" => Metric::Waiting,
            "http_req_failed" => Metric::Failed,
            "checks" => Metric::Checks,
            "http_reqs" => Metric::Reqs,
            "iterations" => Metric::Iterations,
            "iteration_duration" => Metric::IterationDuration,
            "iteration_lateness" => Metric::IterationLateness,
            "stream_errors" => Metric::StreamErrors,
            "recovery_time" => Metric::Recovery,
            "dropped_iterations" => Metric::Dropped,
            other => Metric::Stream(StreamMetric::parse(other)?),
        })
    }

    /// Whether the metric reads the streaming series.
    pub fn is_streaming(self) -> bool {
        matches!(self, Metric::Stream(_) | Metric::StreamErrors)
    }

    /// The k6 name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Duration => "http_req_duration",
            Metric::Waiting => "http_req_waiting",
            Metric::Failed => "http_req_failed",
            Metric::Checks => "checks",
            Metric::Reqs => "http_reqs",
            Metric::Iterations => "iterations",
            Metric::IterationDuration => "iteration_duration",
            Metric::IterationLateness => "iteration_lateness",
            Metric::Stream(m) => m.name(),
            Metric::StreamErrors => "stream_errors",
            Metric::Recovery => "recovery_time",
            Metric::Dropped => "dropped_iterations",
        }
    }

    /// Whether its values are times (milliseconds), so a limit may be
    /// written with a unit.
    fn is_time(self) -> bool {
        match self {
            Metric::Duration
            | Metric::Waiting
            | Metric::Recovery
            | Metric::IterationDuration
            | Metric::IterationLateness => true,
            Metric::Stream(m) => !m.is_rate(),
            _ => false,
        }
    }

    fn allowed_tags(self) -> &'static [&'static str] {
        match self {
            Metric::Checks => &["phase", "check"],
            Metric::Iterations
            | Metric::IterationDuration
            | Metric::IterationLateness
            | Metric::Recovery
            | Metric::Dropped => &[],
            Metric::Stream(_) => &["phase", "endpoint"],
            Metric::StreamErrors => &["phase", "endpoint", "kind"],
            _ => &["phase", "endpoint", "status"],
        }
    }

    fn allows(self, agg: Agg) -> bool {
        match self {
            Metric::Duration
            | Metric::Waiting
            | Metric::IterationDuration
            | Metric::IterationLateness
            | Metric::Stream(_) => !matches!(agg, Agg::Rate),
            Metric::Failed | Metric::Checks => matches!(agg, Agg::Rate),
            Metric::Reqs | Metric::Iterations | Metric::StreamErrors | Metric::Dropped => {
                matches!(agg, Agg::Count | Agg::Rate)
            }
            Metric::Recovery => matches!(agg, Agg::Max),
        }
    }
}

/// Aggregations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Agg {
    /// mean
    Avg,
    /// minimum
    Min,
    /// maximum
    Max,
    /// median
    Med,
    /// percentile, 0..=100
    P(f64),
    /// fraction (rate metrics) or per second (counters)
    Rate,
    /// number of values
    Count,
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agg::Avg => write!(f, "avg"),
            Agg::Min => write!(f, "min"),
            Agg::Max => write!(f, "max"),
            Agg::Med => write!(f, "med"),
            Agg::P(p) => write!(f, "p({p})"),
            Agg::Rate => write!(f, "rate"),
            Agg::Count => write!(f, "count"),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
            Op::Eq => (actual - limit).abs() < f64::EPSILON * limit.abs().max(1.0),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric.
    pub metric: Metric,
    /// Tag selector, sorted by tag; `name` already mapped to its canonical tag.
    pub selector: Vec<(String, String)>,
    /// The aggregation.
    pub agg: Agg,
    /// The operator.
    pub op: Op,
    /// The limit (ms for trends, fraction for rates).
    pub value: f64,
    /// `abortOnFail`: `Some(delay)` ends the run at its first failure
    /// found at least `delay` into the run; `None` judges it at the end only.
    pub abort_on_fail: Option<std::time::Duration>,
}

impl Threshold {
    /// `metric{tag:value,...}`: thresholds with the same key override each other.
    pub fn key(&self) -> String {
        if self.selector.is_empty() {
            return self.metric.name().to_string();
        }
        let sel: Vec<String> = self
            .selector
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        format!("{}{{{}}}", self.metric.name(), sel.join(","))
    }

    /// The selector's value for `tag`, if it has one.
    pub fn tag(&self, tag: &str) -> Option<&str> {
        self.selector
            .iter()
            .find(|(k, _)| k == tag)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}{}{}",
            self.key(),
            self.agg,
            self.op.as_str(),
            self.value
        )?;
        match self.abort_on_fail {
            None => Ok(()),
            Some(d) if d.is_zero() => write!(f, " abortOnFail"),
            Some(d) => write!(
                f,
                " abortOnFail delayAbortEval={}",
                crate::duration::format_duration(d)
            ),
        }
    }
}

/// Splits k6's `abortOnFail` options off the end of an expression:
/// `(expression, Some(delay))` when it has them.
fn split_abort_options(expr: &str) -> Result<(String, Option<std::time::Duration>), String> {
    let mut words: Vec<&str> = expr.split_whitespace().collect();
    let mut abort = false;
    let mut delay = None;
    while let Some(last) = words.last().copied() {
        if last.eq_ignore_ascii_case("abortOnFail") || last == "abort-on-fail" {
            abort = true;
        } else if let Some(d) = last
            .strip_prefix("delayAbortEval=")
            .or_else(|| last.strip_prefix("delay="))
        {
            delay = Some(
                crate::duration::parse_duration(d).map_err(|e| format!("delayAbortEval: {e}"))?,
            );
        } else {
            break;
        }
        words.pop();
    }
    if delay.is_some() && !abort {
        return Err("delayAbortEval needs abortOnFail".into());
    }
    Ok((words.join(" "), abort.then(|| delay.unwrap_or_default())))
}

/// Parses one k6 threshold expression.
pub fn parse(input: &str) -> Result<Threshold, String> {
    let bad = |why: String| format!("bad threshold {input:?}: {why}");
    let s = input.trim();
    let (head, expr) = match s.find('{') {
        Some(open) if s[..open].find(':').is_none() => {
            let close = s
                .find('}')
                .ok_or_else(|| bad("'{' without a closing '}'".into()))?;
            let rest = s[close + 1..].trim_start();
            let expr = rest
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after the selector".into()))?;
            (&s[..=close], expr)
        }
        _ => s
            .split_once(':')
            .ok_or_else(|| bad("expected 'metric: aggregation<op>value'".into()))?,
    };
    let (metric_name, selector_text) = match head.find('{') {
        Some(open) => (&head[..open], Some(&head[open + 1..head.len() - 1])),
        None => (head, None),
    };
    let metric_name = metric_name.trim();
    let metric = Metric::parse(metric_name).ok_or_else(|| {
        bad(format!(
            "unknown metric {metric_name:?} (known: http_req_duration, http_req_waiting, \
             http_req_failed, checks, http_reqs, iterations, chat_ttfb, chat_ttft, chat_itl, \
             chat_tpot, chat_e2e, chat_tokens_per_s, stream_errors)"
        ))
    })?;
    let mut selector = Vec::new();
    for pair in selector_text.unwrap_or("").split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        let (tag, value) = pair
            .split_once(':')
            .ok_or_else(|| bad(format!("selector entry {pair:?} is not tag:value")))?;
        let (tag, value) = (tag.trim(), value.trim());
        let tag = match (tag, metric) {
            ("name", Metric::Checks) => "check",
            ("name", _) => "endpoint",
            (t, _) => t,
        };
        if !metric.allowed_tags().contains(&tag) {
            return Err(bad(format!(
                "tag {tag:?} is not available on {} (available: {})",
                metric.name(),
                if metric.allowed_tags().is_empty() {
                    "none".to_string()
                } else {
                    metric.allowed_tags().join(", ")
                }
            )));
        }
        if value.is_empty() {
            return Err(bad(format!("tag {tag:?} has an empty value")));
        }
        if tag == "status" && StatusClass::parse(value).is_none() {
            return Err(bad(format!(
                "status {value:?} is not a class (1xx, 2xx, 3xx, 4xx, 5xx, err)"
            )));
        }
        if tag == "kind" && !STREAM_ERROR_KINDS.contains(&value) {
            return Err(bad(format!(
                "kind {value:?} is not a stream error kind ({})",
                STREAM_ERROR_KINDS.join(", ")
            )));
        }
        selector.push((tag.to_string(), value.to_string()));
    }
    selector.sort();
    let (expr, abort_on_fail) = split_abort_options(expr.trim()).map_err(bad)?;
    let (agg, op, value, with_unit) = parse_expr(expr.trim()).map_err(bad)?;
    if with_unit && !metric.is_time() {
        return Err(bad(format!(
            "{} is not a time: its limit takes no unit",
            metric.name()
        )));
    }
    if !metric.allows(agg) {
        return Err(bad(format!(
            "{} does not support {agg} (trends: avg min max med p(N) count; \
             http_req_failed and checks: rate; http_reqs, iterations and stream_errors: \
             count rate)",
            metric.name()
        )));
    }
    Ok(Threshold {
        metric,
        selector,
        agg,
        op,
        value,
        abort_on_fail,
    })
}

/// The aggregation, operator and limit, and whether the limit was written
/// as a duration (`800ms`, `60s`: converted to milliseconds).
fn parse_expr(expr: &str) -> Result<(Agg, Op, f64, bool), String> {
    let op_at = expr
        .find(['<', '>', '='])
        .ok_or_else(|| "expected an operator (<, <=, >, >=, ==)".to_string())?;
    let (agg_text, rest) = expr.split_at(op_at);
    let (op, value_text) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(t, op)| rest.strip_prefix(t).map(|v| (*op, v)))
    .ok_or_else(|| format!("unknown operator in {rest:?}"))?;
    let agg_text = agg_text.trim();
    let agg = match agg_text {
        "avg" => Agg::Avg,
        "min" => Agg::Min,
        "max" => Agg::Max,
        "med" => Agg::Med,
        "rate" => Agg::Rate,
        "count" => Agg::Count,
        p if p.starts_with("p(") && p.ends_with(')') => {
            let n: f64 = p[2..p.len() - 1]
                .trim()
                .parse()
                .map_err(|_| format!("percentile {p:?} is not a number"))?;
            if !(0.0..=100.0).contains(&n) {
                return Err(format!("percentile {p:?} is outside 0..100"));
            }
            Agg::P(n)
        }
        other => return Err(format!("unknown aggregation {other:?}")),
    };
    let value_text = value_text.trim();
    let (value, with_unit) = match value_text.parse::<f64>() {
        Ok(v) => (v, false),
        Err(_) if value_text.ends_with(|c: char| c.is_ascii_alphabetic()) => {
            let d = crate::duration::parse_duration(value_text)
                .map_err(|e| format!("{value_text:?} is not a number (nor a duration: {e})"))?;
            (d.as_secs_f64() * 1000.0, true)
        }
        Err(_) => return Err(format!("{value_text:?} is not a number")),
    };
    if !value.is_finite() {
        return Err(format!("{value_text:?} is not a finite number"));
    }
    Ok((agg, op, value, with_unit))
}

/// Adds `overrides` to `base`: an override replaces every base threshold
/// with the same metric and selector; several overrides of one key all stay.
pub fn merge_overrides(base: Vec<Threshold>, overrides: Vec<Threshold>) -> Vec<Threshold> {
    let mut out: Vec<Threshold> = base
        .into_iter()
        .filter(|b| !overrides.iter().any(|o| o.key() == b.key()))
        .collect();
    out.extend(overrides);
    out
}

mod abort;
mod evaluate;

pub use abort::AbortOnFail;
pub use evaluate::{evaluate, evaluate_run, Verdict};

#[cfg(test)]
mod tests;
