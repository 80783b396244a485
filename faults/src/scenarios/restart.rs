//! Zero-downtime restart: two backends behind the suite's proxy
//! (`crate::proxy`), restarted one at a time (SIGTERM, drained exit, start
//! again on the same port) under load through the proxy: no request may
//! fail.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{secs, Ctx};
use crate::load::{self, Load};
use crate::procs;
use crate::proxy;
use crate::table::Row;

const NAME: &str = "zero-downtime restart";

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let db = ctx.cluster.fresh_database("restart").await?;
    let vars = procs::backend_vars(
        &db,
        &[
            ("SHUTDOWN_DRAIN_SECONDS", "10"),
            ("MOCK_LLM_TTFT_MS", "300"),
            ("MOCK_LLM_ITL_MS", "5"),
        ],
    );
    let ports = [procs::free_port()?, procs::free_port()?];
    let mut backends = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        backends
            .push(procs::backend(&ctx.env, &format!("restart-backend-{i}"), *port, &vars).await?);
    }
    let proxy = proxy::start(ports.to_vec()).await?;
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let vus = load::setup(&base, 5, 20).await?;
    let settle = Duration::from_secs(if ctx.short { 2 } else { 5 });
    let t0 = Instant::now();
    // Long enough for both restarts; the VUs stop when it has passed.
    let load = Load::start(
        &base,
        &vus,
        t0,
        Duration::from_secs(120),
        Duration::from_millis(100),
    )?;
    tokio::time::sleep(settle).await;
    let mut restart_times = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let t = Instant::now();
        backends[i].sigterm().await?;
        if backends[i]
            .wait_exit(Duration::from_secs(20))
            .await?
            .is_none()
        {
            anyhow::bail!("backend {i} did not exit within 20 s of SIGTERM");
        }
        backends[i] =
            procs::backend(&ctx.env, &format!("restart-backend-{i}"), *port, &vars).await?;
        restart_times.push(secs(t.elapsed()));
        tokio::time::sleep(settle).await;
    }
    // The VUs were given a far end: stop them now.
    load.stop();
    let samples = load.finish().await;
    let failed = samples.iter().filter(|s| !s.outcome.ok()).count();
    Ok(vec![Row::new(
        NAME,
        "0 failed requests (2 backends restarted one at a time)",
        format!(
            "{} requests, {failed} failed ({}); {} retried by the proxy; restarts took {}",
            samples.len(),
            load::tally(&samples),
            proxy.retried.load(Ordering::Relaxed),
            restart_times.join(", ")
        ),
        failed == 0 && !samples.is_empty(),
    )])
}
