//! Diagnosis: rules that turn a run's evidence (the client's aggregate and
//! time series, and the server's scraped series when there are some) into
//! named [`Finding`]s, each with the figures that made it fire and the knob
//! to turn. [`diagnose`] runs them at the end of a run (and of a merge);
//! [`render`] prints them after the summary.
//!
//! Rules come in families, one file each: `pool.rs` (DB pool, CPU),
//! `chat.rs` (provider share of chat time, long tails), `provider.rs`
//! (429s, retries, breaker), `hashing.rs` (the password-hash queue),
//! `client.rs` (error onset), `health.rs` (the guard's re-checks found the
//! target unwell), `model.rs` (the LLM serving engine's queue, on any
//! scraped endpoint) and `drift.rs` (latency and memory over a long
//! steady run); `util.rs` has the shared statistics.
//! Every threshold is a named constant documented where it is defined.
//!
//! Server rules read one target: the first scraped endpoint that exports
//! the backend's pool gauge (`db_pool_max`), i.e. a chatbench backend.
//! Without one (another backend, `--no-scrape`, a `hit`) only the
//! client-side rules run, and the output says the server metrics were
//! absent. A rule that lacks a series it needs stays silent: no evidence,
//! no finding.

mod chat;
mod client;
mod drift;
mod hashing;
mod health;
mod model;
mod pool;
mod provider;
mod util;

#[cfg(test)]
mod tests;

use crate::report::Report;
use crate::server::{series, Finding, ScrapeTarget, Severity};
use std::fmt::Write as _;

/// What a rule looks at.
enum Check {
    /// The client's side only: runs on every report.
    Client(fn(&Report) -> Option<Finding>),
    /// Needs the backend's metrics (the chosen [`ScrapeTarget`]).
    Server(fn(&Report, &ScrapeTarget) -> Option<Finding>),
}

/// Every rule, in the order findings of one severity are listed.
const RULES: &[(&str, Check)] = &[
    ("error_onset", Check::Client(client::error_onset)),
    ("target_unhealthy", Check::Client(health::target_unhealthy)),
    ("db_pool_saturated", Check::Server(pool::db_pool_saturated)),
    ("cpu_saturated", Check::Server(pool::cpu_saturated)),
    ("breaker_opened", Check::Server(provider::breaker_opened)),
    ("provider_429", Check::Server(provider::provider_429)),
    (
        "provider_retries",
        Check::Server(provider::provider_retries),
    ),
    (
        "provider_dominates",
        Check::Server(chat::provider_dominates),
    ),
    ("model_saturated", Check::Client(model::model_saturated)),
    ("hash_backlog", Check::Server(hashing::hash_backlog)),
    (
        "long_tail_long_history",
        Check::Server(chat::long_tail_long_history),
    ),
    ("latency_drift", Check::Client(drift::latency_drift)),
    ("memory_drift", Check::Server(drift::memory_drift)),
];

/// The rule ids, in order (for documentation and tests).
pub fn rule_names() -> Vec<&'static str> {
    RULES.iter().map(|(n, _)| *n).collect()
}

/// The endpoint the server rules read: the first one that exports the
/// backend's pool maximum.
pub fn server_target(report: &Report) -> Option<&ScrapeTarget> {
    report.server.as_ref()?.targets.iter().find(|t| {
        t.series
            .get(series::DB_POOL_MAX)
            .is_some_and(|v| v.iter().any(Option::is_some))
    })
}

/// How many rules [`diagnose`] checks on `report` (the server rules only
/// with a server target).
pub fn rules_checked(report: &Report) -> usize {
    let server = server_target(report).is_some();
    RULES
        .iter()
        .filter(|(_, c)| server || matches!(c, Check::Client(_)))
        .count()
}

/// Runs every applicable rule on `report`: the findings, worst first (rule
/// order within a severity).
pub fn diagnose(report: &Report) -> Vec<Finding> {
    let target = server_target(report);
    let mut findings: Vec<Finding> = RULES
        .iter()
        .filter_map(|(_, check)| match (check, target) {
            (Check::Client(f), _) => f(report),
            (Check::Server(f), Some(t)) => f(report, t),
            (Check::Server(_), None) => None,
        })
        .collect();
    // Stable: rule order is kept within a severity.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings
}

/// The severity as printed.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// The diagnosis block of the terminal summary: one line when nothing
/// fired, else one block per finding.
pub fn render(report: &Report) -> String {
    let mut o = String::new();
    let checked = rules_checked(report);
    let server = match server_target(report) {
        Some(t) => t.url.clone(),
        None => "none".to_string(),
    };
    if report.diagnosis.is_empty() {
        let _ = writeln!(
            o,
            "  diagnosis: no findings ({checked} rules checked; server metrics: {server})"
        );
        return o;
    }
    let _ = writeln!(
        o,
        "  diagnosis: {} finding{} ({checked} rules checked; server metrics: {server})",
        report.diagnosis.len(),
        if report.diagnosis.len() == 1 { "" } else { "s" }
    );
    for f in &report.diagnosis {
        let _ = writeln!(
            o,
            "    [{}] {}\n      evidence: {}\n      advice:   {}",
            severity_name(f.severity),
            f.rule,
            f.evidence,
            f.advice
        );
    }
    o
}
