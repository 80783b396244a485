//! Soak: 50 VUs for the soak's duration (10 min; 1 min with `--short`;
//! `--soak-minutes N`). The backend's resident memory and open descriptors
//! are read from `/proc` every few seconds; after the warm-up (the first
//! fifth) memory may grow by less than 1 MiB, descriptors stay flat, and
//! the p95 latency of the last fifth is less than 20% above the first
//! fifth after warm-up.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::Ctx;
use crate::load::{self, Load, Sample};
use crate::procs;
use crate::table::Row;

const NAME: &str = "soak, 50 VUs";
const MIB: f64 = 1024.0 * 1024.0;

fn p95_ms(samples: &[Sample], from: Duration, to: Duration) -> anyhow::Result<(f64, usize)> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut n = 0;
    for s in samples
        .iter()
        .filter(|s| s.start >= from && s.start < to && s.outcome.ok())
    {
        h.saturating_record(s.latency().as_micros().max(1) as u64);
        n += 1;
    }
    Ok((h.value_at_quantile(0.95) as f64 / 1000.0, n))
}

/// The median of a few readings: one allocator hiccup is not a trend.
fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let db = ctx.cluster.fresh_database("soak").await?;
    let backend = procs::backend(
        &ctx.env,
        "soak-backend",
        0,
        &procs::backend_vars(
            &db,
            &[
                ("MOCK_LLM_TTFT_MS", "100"),
                ("MOCK_LLM_ITL_MS", "2"),
                ("MOCK_LLM_TOKENS", "20"),
            ],
        ),
    )
    .await?;
    let vus = load::setup(&backend.base_url, 10, 50).await?;
    let total = ctx.soak;
    let warm = total / 5;
    let every = Duration::from_secs(if total <= Duration::from_secs(120) {
        2
    } else {
        5
    });
    let t0 = Instant::now();
    let load = Load::start(
        &backend.base_url,
        &vus,
        t0,
        total,
        Duration::from_millis(250),
    )?;
    // (time, rss bytes, fds) every few seconds, bounded by the duration.
    let mut readings: Vec<(Duration, u64, usize)> = Vec::new();
    // Readings stop before the load does: the VUs' last turns and closing
    // connections are not the steady state.
    while t0.elapsed() + every < total {
        tokio::time::sleep(every).await;
        let (rss, fds) = backend.rss_and_fds()?;
        readings.push((t0.elapsed(), rss, fds));
    }
    let samples = load.finish().await;
    let after: Vec<&(Duration, u64, usize)> = readings.iter().filter(|r| r.0 >= warm).collect();
    if after.len() < 6 {
        anyhow::bail!("too few readings after the warm-up ({})", after.len());
    }
    let first: Vec<u64> = after[..3].iter().map(|r| r.1).collect();
    let last: Vec<u64> = after[after.len() - 3..].iter().map(|r| r.1).collect();
    let growth = median(&last) as f64 - median(&first) as f64;
    let fds_first = after[0].2;
    let fds_max = after.iter().map(|r| r.2).max().unwrap_or(0);
    let fds_last = after[after.len() - 1].2;
    let (p95_first, n_first) = p95_ms(&samples, warm, warm * 2)?;
    let (p95_last, n_last) = p95_ms(&samples, total - warm, total)?;
    let drift = (p95_last - p95_first) / p95_first;
    let ok = samples.iter().filter(|s| s.outcome.ok()).count();
    Ok(vec![
        Row::new(
            NAME,
            "RSS growth < 1 MiB after warm-up",
            format!(
                "{:+.2} MiB ({:.1} -> {:.1} MiB over {:.0} s; {ok} of {} turns 200)",
                growth / MIB,
                median(&first) as f64 / MIB,
                median(&last) as f64 / MIB,
                (total - warm).as_secs_f64(),
                samples.len()
            ),
            growth < MIB && ok == samples.len(),
        ),
        Row::new(
            NAME,
            "open fds flat",
            format!("{fds_first} after warm-up, {fds_last} at the end, max {fds_max}"),
            fds_last <= fds_first + 2 && fds_max <= fds_first + 10,
        ),
        Row::new(
            NAME,
            "p95 drift < 20%",
            format!(
                "p95 {p95_first:.1} ms ({n_first} turns) -> {p95_last:.1} ms ({n_last} turns): {:+.1}%",
                drift * 100.0
            ),
            // A slowdown is the drift a leak or a growing table causes.
            drift < 0.2,
        ),
    ])
}
