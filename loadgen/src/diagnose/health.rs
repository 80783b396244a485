//! `target_unhealthy`: the guard's re-checks found the target degraded (its
//! health endpoint answered, not `ok`: its database or pool failing) or not
//! answering in time, and the run went on (see [`crate::guard`]). The
//! figures after the first note are those of a backend that said it was
//! unwell; the server findings say why. A restart (its uptime went back)
//! is told too: the figures around it include the outage.

use super::util::secs;
use crate::report::Report;
use crate::server::{Finding, Severity};

/// Any degraded, unreachable or restarted re-check.
pub fn target_unhealthy(report: &Report) -> Option<Finding> {
    let first = report.health.first()?;
    let last = report.health.last()?;
    let of = |kind: &str| report.health.iter().filter(|n| n.kind == kind).count();
    let mut counts = Vec::new();
    for (kind, words) in [
        ("degraded", "said it was degraded"),
        ("unreachable", "did not answer in time"),
        ("restarted", "found it restarted"),
    ] {
        let n = of(kind);
        if n > 0 {
            counts.push(format!(
                "{words} at {n} re-check{}",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    let span = if report.health.len() > 1 {
        format!(" to t={}", secs(last.t_ms))
    } else {
        String::new()
    };
    Some(Finding {
        rule: "target_unhealthy".into(),
        severity: if of("degraded") + of("restarted") > 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        evidence: format!(
            "the target's health check {} (from t={}{span}); first: {}",
            counts.join(" and "),
            secs(first.t_ms),
            first.detail
        ),
        advice: "the backend reported itself unhealthy under this load (a 503 `degraded`: its \
                 database unreachable or its pool exhausted) or was too busy to answer its \
                 health check: the run went on, so the figures from then on show the collapse; \
                 the server findings say which resource gave out (DB_POOL_SIZE, Postgres \
                 max_connections, replicas)"
            .into(),
    })
}
