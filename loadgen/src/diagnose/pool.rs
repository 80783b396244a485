//! The database pool and the CPU: `db_pool_saturated` (connections ran
//! out) and `cpu_saturated` (the process used its CPUs while the pool
//! idled and no password hashes were queued: more workers or replicas, not
//! a bigger pool).

use super::util::{max, median, values, Count};
use crate::report::Report;
use crate::server::{series, Finding, ScrapeTarget, Severity};

/// Pool usage (checked out / maximum) above this is saturated: the issue's
/// (and the original guides') 0.85, so that a burst has some headroom left.
pub const POOL_SATURATED_RATIO: f64 = 0.85;

/// Saturated in at least this share of the scrapes is critical (the pool
/// was the bottleneck for most of the run), below it a warning.
pub const POOL_CRITICAL_SHARE: f64 = 0.5;

/// CPU in use (cores) at or above this share of the CPUs the process may
/// use is saturated.
pub const CPU_SATURATED_SHARE: f64 = 0.85;

/// With CPU saturated, a pool whose median usage over the run stayed below
/// this was "mostly idle": the database is not what the requests wait for.
pub const POOL_IDLE_RATIO: f64 = 0.5;

/// The usage ratio per scrape: the exported ratio, else checked out / max.
fn usage(t: &ScrapeTarget) -> Vec<(u64, f64)> {
    let direct = values(t, series::DB_POOL_USAGE_RATIO);
    if !direct.is_empty() {
        return direct;
    }
    let max: std::collections::BTreeMap<u64, f64> =
        values(t, series::DB_POOL_MAX).into_iter().collect();
    values(t, series::DB_POOL_CHECKED_OUT)
        .into_iter()
        .filter_map(|(at, out)| max.get(&at).filter(|m| **m > 0.0).map(|m| (at, out / m)))
        .collect()
}

/// The value of series `name` at the scrape taken at `at`.
fn at(t: &ScrapeTarget, name: &str, at: u64) -> Option<f64> {
    values(t, name)
        .into_iter()
        .find(|(when, _)| *when == at)
        .map(|(_, v)| v)
}

/// Pool usage above [`POOL_SATURATED_RATIO`], sustained.
pub fn db_pool_saturated(_: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let u = usage(t);
    let c = Count {
        hits: u.iter().filter(|(_, r)| *r > POOL_SATURATED_RATIO).count(),
        of: u.len(),
    };
    if !c.sustained() {
        return None;
    }
    let (peak_at, peak) = u
        .iter()
        .copied()
        .reduce(|a, b| if b.1 > a.1 { b } else { a })?;
    let conns = match (
        at(t, series::DB_POOL_CHECKED_OUT, peak_at),
        at(t, series::DB_POOL_MAX, peak_at),
    ) {
        (Some(out), Some(m)) => format!(" ({out:.0} of {m:.0} connections checked out)"),
        _ => String::new(),
    };
    let share = c.hits as f64 / c.of as f64;
    Some(Finding {
        rule: "db_pool_saturated".into(),
        severity: if share >= POOL_CRITICAL_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        },
        evidence: format!(
            "pool usage ratio {peak:.2}{conns} at its peak, above {POOL_SATURATED_RATIO} in {} of {} scrapes",
            c.hits, c.of
        ),
        advice: "requests queue for a database connection: grow DB_POOL_SIZE, and Postgres \
                 max_connections with it (replicas × DB_POOL_SIZE plus headroom), or run fewer \
                 replicas against this database"
            .into(),
    })
}

/// CPU near the CPUs available, sustained, while the pool mostly idled.
pub fn cpu_saturated(_: &Report, t: &ScrapeTarget) -> Option<Finding> {
    let host = max(t, series::HOST_CPUS).filter(|h| *h > 0.0)?;
    // Scrapes with hashes queued are left out: that CPU went to argon2,
    // bounded by HASH_CONCURRENCY (hash_backlog's finding), and more
    // workers would not make it go faster.
    let hashing: std::collections::BTreeSet<u64> = values(t, series::HASH_QUEUE_DEPTH)
        .into_iter()
        .filter(|(_, d)| *d >= 1.0)
        .map(|(at, _)| at)
        .collect();
    let cores: Vec<(u64, f64)> = values(t, series::CPU_CORES)
        .into_iter()
        .filter(|(at, _)| !hashing.contains(at))
        .collect();
    let c = Count {
        hits: cores
            .iter()
            .filter(|(_, x)| *x >= CPU_SATURATED_SHARE * host)
            .count(),
        of: cores.len(),
    };
    if !c.sustained() {
        return None;
    }
    let pool: Vec<f64> = usage(t).into_iter().map(|(_, r)| r).collect();
    let pool_median = median(&pool);
    if pool_median.is_some_and(|m| m >= POOL_IDLE_RATIO) {
        return None;
    }
    let busy: Vec<f64> = cores
        .iter()
        .map(|(_, x)| *x)
        .filter(|x| *x >= CPU_SATURATED_SHARE * host)
        .collect();
    let busy_median = median(&busy)?;
    let pool_text = match pool_median {
        Some(m) => format!("while the pool's median usage was {m:.2}"),
        None => "with no pool figures".to_string(),
    };
    Some(Finding {
        rule: "cpu_saturated".into(),
        severity: Severity::Warning,
        evidence: format!(
            "the process used {busy_median:.2} of {host:.0} CPUs (at least {:.0}%) in {} of {} scrapes, {pool_text}",
            100.0 * CPU_SATURATED_SHARE,
            c.hits,
            c.of
        ),
        advice: "the API is CPU-bound, not waiting on the database: raise WORKER_THREADS up to \
                 the cores the container may use, or add replicas (more CPUs); a bigger pool \
                 would not help"
            .into(),
    })
}
