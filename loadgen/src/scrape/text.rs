//! The `server` block of the terminal summary (and summary.txt): per
//! scraped endpoint, its scrape count and failures, then the peaks a
//! person looks at first (pool usage, CPU, memory) and the provider's mean
//! time over the run.

use crate::server::{series, totals, ScrapeTarget, ServerSeries};
use std::fmt::Write as _;

fn peak(t: &ScrapeTarget, name: &str) -> Option<(usize, f64)> {
    t.series
        .get(name)?
        .iter()
        .enumerate()
        .fold(None, |best, (i, v)| match (best, v) {
            (_, None) => best,
            (None, Some(v)) => Some((i, *v)),
            (Some((_, b)), Some(v)) if *v > b => Some((i, *v)),
            (best, _) => best,
        })
}

fn at(t: &ScrapeTarget, name: &str, i: usize) -> Option<f64> {
    t.series.get(name)?.get(i).copied().flatten()
}

fn max_of(t: &ScrapeTarget, name: &str) -> Option<f64> {
    peak(t, name).map(|(_, v)| v)
}

/// One target's lines.
fn target(o: &mut String, t: &ScrapeTarget) {
    let ok = t.scrapes.saturating_sub(t.failures);
    let _ = write!(
        o,
        "  server: {}   scrapes: {ok} ok, {} failed",
        t.url, t.failures
    );
    if let Some(e) = &t.last_error {
        let _ = write!(o, " (last error: {e})");
    }
    let _ = writeln!(o);
    let mut parts = Vec::new();
    if let Some((i, ratio)) = peak(t, series::DB_POOL_USAGE_RATIO) {
        let detail = match (
            at(t, series::DB_POOL_CHECKED_OUT, i),
            at(t, series::DB_POOL_MAX, i),
        ) {
            (Some(out), Some(max)) => format!(" ({out:.0}/{max:.0} checked out)"),
            _ => String::new(),
        };
        parts.push(format!("db pool peak usage {ratio:.2}{detail}"));
    }
    if let Some(cores) = max_of(t, series::CPU_CORES) {
        let of = max_of(t, series::HOST_CPUS)
            .map(|n| format!(" of {n:.0}"))
            .unwrap_or_default();
        parts.push(format!("cpu peak {cores:.2}{of} cores"));
    }
    if let Some(rss) = max_of(t, series::RSS_MIB) {
        parts.push(format!("rss peak {rss:.1} MiB"));
    }
    if let (Some(secs), Some(calls)) = (
        t.totals.get(totals::PROVIDER_SECONDS),
        t.totals.get(totals::PROVIDER_CALLS),
    ) {
        if *calls > 0.0 {
            parts.push(format!(
                "provider mean {:.0} ms over {calls:.0} calls",
                secs / calls * 1000.0
            ));
        }
    }
    if !parts.is_empty() {
        let _ = writeln!(o, "    {}", parts.join("   "));
    }
}

/// The block, empty when nothing was scraped.
pub fn render(server: Option<&ServerSeries>) -> String {
    let mut o = String::new();
    for t in server.map(|s| s.targets.as_slice()).unwrap_or_default() {
        target(&mut o, t);
    }
    o
}
