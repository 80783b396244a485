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

/// SIGTERM while chat streams are mid-reply with far more to send than the
/// drain deadline allows: at the deadline each stream ends with an `error`
/// event coded `shutting_down` (nothing stored), and the process exits
/// within the deadline + 1 s: inside a pod's grace, not killed mid-write.
pub async fn held_streams(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const NAME: &str = "SIGTERM, streams past the drain";
    const STREAMS: usize = 5;
    const DRAIN: Duration = Duration::from_secs(2);
    let db = ctx.cluster.fresh_database("drain").await?;
    let drain = DRAIN.as_secs().to_string();
    // 300 tokens 100 ms apart: a 30 s reply.
    let mut backend = procs::backend(
        &ctx.env,
        "drain-backend",
        0,
        &procs::backend_vars(
            &db,
            &[
                ("SHUTDOWN_DRAIN_SECONDS", &drain),
                ("MOCK_LLM_TOKENS", "300"),
                ("MOCK_LLM_ITL_MS", "100"),
                ("MOCK_LLM_JITTER", "0"),
            ],
        ),
    )
    .await?;
    let base = backend.base_url.clone();
    let vus = load::setup(&base, 1, STREAMS).await?;
    let client = load::client()?;
    let mut open = Vec::new();
    for vu in &vus {
        let mut r = client
            .post(format!("{base}/api/chat/stream"))
            .bearer_auth(&vu.token)
            .json(&serde_json::json!({"content": "a long answer", "session_id": vu.session_id}))
            .send()
            .await?;
        let mut body = String::new();
        // Mid-reply once a token has arrived (bounded by the client's cap).
        while !body.contains(r#""type":"token""#) {
            match r.chunk().await? {
                Some(c) => body.push_str(&String::from_utf8_lossy(&c)),
                None => anyhow::bail!("a stream ended before its first token: {body}"),
            }
        }
        open.push(tokio::spawn(async move {
            while let Ok(Some(c)) = r.chunk().await {
                body.push_str(&String::from_utf8_lossy(&c));
            }
            body
        }));
    }
    let signalled = Instant::now();
    backend.sigterm().await?;
    let exit = backend.wait_exit(DRAIN + Duration::from_secs(10)).await?;
    let exited_after = signalled.elapsed();
    let mut ended = 0;
    for t in open {
        let body = tokio::time::timeout(Duration::from_secs(5), t).await??;
        let last = body
            .split("\n\n")
            .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
            .last()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .unwrap_or_default();
        if last["type"] == "error" && last["code"] == "shutting_down" {
            ended += 1;
        }
    }
    let (users, _, _) = load::turn_census(&db).await?;
    Ok(vec![
        Row::new(
            NAME,
            "open streams end with an error event shutting_down",
            format!("{ended} of {STREAMS}; {users} of their turns stored"),
            ended == STREAMS && users == 0,
        ),
        Row::new(
            NAME,
            "exits (status 0) within the drain deadline (2 s) + 1 s",
            match exit {
                Some(s) => format!(
                    "exited {} after {}",
                    s.code().map_or("by signal".into(), |c| c.to_string()),
                    secs(exited_after)
                ),
                None => format!("still running after {}", secs(exited_after)),
            },
            exit.is_some_and(|s| s.success()) && exited_after <= DRAIN + Duration::from_secs(1),
        ),
    ])
}
