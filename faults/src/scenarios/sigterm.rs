//! SIGTERM with 50 chat turns in flight: each turn's provider call takes
//! 2 s, the signal comes once all 50 are being served; all must complete
//! (200) and be stored whole, and the process must exit within its drain
//! deadline (`SHUTDOWN_DRAIN_SECONDS`).

use std::time::{Duration, Instant};

use super::{secs, Ctx};
use crate::load;
use crate::procs;
use crate::table::Row;

const NAME: &str = "SIGTERM, 50 in flight";
const TURNS: usize = 50;
const DRAIN: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let db = ctx.cluster.fresh_database("sigterm").await?;
    let drain = DRAIN.as_secs().to_string();
    let mut backend = procs::backend(
        &ctx.env,
        "sigterm-backend",
        0,
        &procs::backend_vars(
            &db,
            &[
                ("SHUTDOWN_DRAIN_SECONDS", &drain),
                ("MOCK_LLM_TTFT_MS", "2000"),
                ("MOCK_LLM_ITL_MS", "5"),
                ("MOCK_LLM_JITTER", "0"),
            ],
        ),
    )
    .await?;
    let base = backend.base_url.clone();
    let vus = load::setup(&base, 5, TURNS).await?;
    let client = load::client()?;
    let turns: Vec<_> = vus
        .iter()
        .cloned()
        .map(|vu| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move { load::turn(&client, &base, &vu, "finish me").await })
        })
        .collect();
    // Signal once every turn is being served (the scrape counts itself).
    let until = Instant::now() + Duration::from_secs(10);
    let mut in_flight = 0.0;
    while Instant::now() < until {
        let text = load::metrics_text(&base).await?;
        in_flight = load::metric(&text, "chatbot_http_requests_in_progress").unwrap_or(0.0) - 1.0;
        if in_flight >= TURNS as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    backend.sigterm().await?;
    let exit = backend.wait_exit(DRAIN + Duration::from_secs(10)).await?;
    let exited_after = signalled.elapsed();
    let mut completed = 0;
    let mut other = Vec::new();
    for t in turns {
        let o = t.await?;
        if o.ok() {
            completed += 1;
        } else {
            other.push(format!("{o:?}"));
        }
    }
    let (users, replies, orphans) = load::turn_census(&db).await?;
    Ok(vec![
        Row::new(
            NAME,
            "all 50 in-flight turns complete (200)",
            format!(
                "{completed} of {TURNS} (signal with {in_flight:.0} in flight){}",
                if other.is_empty() {
                    String::new()
                } else {
                    format!("; {other:?}")
                }
            ),
            completed == TURNS && in_flight >= TURNS as f64,
        ),
        Row::new(
            NAME,
            "all 50 stored whole",
            format!("{users} user messages, {replies} replies, {orphans} without reply"),
            users == TURNS as i64 && replies == TURNS as i64 && orphans == 0,
        ),
        Row::new(
            NAME,
            "exits (status 0) within the drain deadline (10 s)",
            match exit {
                Some(s) => format!(
                    "exited {} after {}",
                    s.code().map_or("by signal".into(), |c| c.to_string()),
                    secs(exited_after)
                ),
                None => format!("still running after {}", secs(exited_after)),
            },
            exit.is_some_and(|s| s.success()) && exited_after < DRAIN,
        ),
    ])
}
