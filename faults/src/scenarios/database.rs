//! Database faults under load: every backend connection terminated
//! (`pg_terminate_backend`), and Postgres stopped for 5 s. The API must
//! answer only 503s meanwhile (never a 500, never a hang past the pool's
//! acquire timeout), store every turn whole or not at all, and recover
//! quickly once the database answers again.

use std::time::{Duration, Instant};

use sqlx::Connection as _;

use super::{secs, Ctx};
use crate::load::{self, Load, Sample};
use crate::procs;
use crate::table::Row;

/// The backend's pool acquire timeout in these scenarios (its default).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

fn backend_extra() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MOCK_LLM_TTFT_MS", "100"),
        ("MOCK_LLM_ITL_MS", "2"),
        ("MOCK_LLM_TOKENS", "20"),
        ("DB_ACQUIRE_TIMEOUT_MS", "3000"),
    ]
}

/// Every answer other than 200 is a 503 (no 500, no transport failure).
fn only_503s(samples: &[Sample]) -> bool {
    samples
        .iter()
        .all(|s| s.outcome.ok() || s.outcome.status() == Some(503))
}

/// Time from `from` until the end of the last failed request (zero when
/// none failed after it); `None` when nothing succeeded afterwards.
fn recovery(samples: &[Sample], from: Duration) -> Option<Duration> {
    let last_failure = samples
        .iter()
        .filter(|s| !s.outcome.ok() && s.end >= from)
        .map(|s| s.end)
        .max();
    let recovered_at = last_failure.unwrap_or(from);
    samples
        .iter()
        .any(|s| s.outcome.ok() && s.start >= recovered_at)
        .then(|| recovered_at.saturating_sub(from))
}

/// The database's turns against the clients' 200s.
async fn census_row(name: &str, db: &str, samples: &[Sample]) -> anyhow::Result<Row> {
    let (users, replies, orphans) = load::turn_census(db).await?;
    let ok = samples.iter().filter(|s| s.outcome.ok()).count() as i64;
    Ok(Row::new(
        name,
        "0 lost or half-written turns",
        format!("{users} user messages, {replies} replies, {orphans} without reply; {ok} turns answered 200"),
        orphans == 0 && users == replies && users == ok,
    ))
}

pub async fn terminate(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const NAME: &str = "pg_terminate_backend";
    let db = ctx.cluster.fresh_database("terminate").await?;
    let backend = procs::backend(
        &ctx.env,
        "pg-terminate-backend",
        0,
        &procs::backend_vars(&db, &backend_extra()),
    )
    .await?;
    let vus = load::setup(&backend.base_url, 10, 50).await?;
    let (before, after) = if ctx.short { (3, 4) } else { (5, 10) };
    let t0 = Instant::now();
    let load = Load::start(
        &backend.base_url,
        &vus,
        t0,
        Duration::from_secs(before + after),
        Duration::from_millis(100),
    )?;
    tokio::time::sleep(Duration::from_secs(before)).await;
    let dbname = db.rsplit('/').next().unwrap_or_default().to_owned();
    let mut admin = sqlx::PgConnection::connect(&ctx.cluster.url("postgres")).await?;
    let fault_at = t0.elapsed();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&dbname)
    .fetch_all(&mut admin)
    .await?;
    let samples = load.finish().await;
    let during: Vec<Sample> = samples
        .iter()
        .filter(|s| s.end >= fault_at)
        .cloned()
        .collect();
    let rec = recovery(&samples, fault_at);
    Ok(vec![
        Row::new(
            NAME,
            "only 503s (no 500s, no hangs)",
            format!(
                "{} connections ended; after: {}",
                killed.len(),
                load::tally(&during)
            ),
            only_503s(&samples) && !killed.is_empty(),
        ),
        Row::new(
            NAME,
            "recovery within 1 s",
            rec.map_or("no success afterwards".into(), secs),
            rec.is_some_and(|r| r <= Duration::from_secs(1)),
        ),
        census_row(NAME, &db, &samples).await?,
    ])
}

pub async fn outage(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    const NAME: &str = "Postgres stopped 5 s, 100 VUs";
    const OUTAGE: Duration = Duration::from_secs(5);
    let db = ctx.cluster.fresh_database("outage").await?;
    let backend = procs::backend(
        &ctx.env,
        "pg-outage-backend",
        0,
        &procs::backend_vars(&db, &backend_extra()),
    )
    .await?;
    let vus = load::setup(&backend.base_url, 20, 100).await?;
    let (before, after) = if ctx.short { (3, 5) } else { (5, 10) };
    let t0 = Instant::now();
    let total = Duration::from_secs(before + after) + OUTAGE;
    let load = Load::start(
        &backend.base_url,
        &vus,
        t0,
        total,
        Duration::from_millis(250),
    )?;
    tokio::time::sleep(Duration::from_secs(before)).await;
    let stop_at = t0.elapsed();
    ctx.cluster.stop_server().await?;
    tokio::time::sleep(OUTAGE).await;
    ctx.cluster.start_server().await?;
    let answering_at = t0.elapsed();
    let samples = load.finish().await;
    let window: Vec<Sample> = samples
        .iter()
        .filter(|s| s.end >= stop_at && s.start <= answering_at)
        .cloned()
        .collect();
    let slowest = window.iter().map(Sample::latency).max().unwrap_or_default();
    let bound = ACQUIRE_TIMEOUT + Duration::from_secs(1);
    let rec = recovery(&samples, answering_at);
    Ok(vec![
        Row::new(
            NAME,
            "only 503s during the outage (no 500s)",
            format!("during: {}", load::tally(&window)),
            only_503s(&samples),
        ),
        Row::new(
            NAME,
            "no request hangs past the acquire timeout (3 s) + 1 s",
            format!("slowest during the outage {}", secs(slowest)),
            slowest <= bound,
        ),
        census_row(NAME, &db, &samples).await?,
        Row::new(
            NAME,
            "recovery within 2 s of Postgres answering",
            rec.map_or("no success afterwards".into(), secs),
            rec.is_some_and(|r| r <= Duration::from_secs(2)),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Outcome;

    fn s(start_ms: u64, end_ms: u64, status: u16) -> Sample {
        Sample {
            start: Duration::from_millis(start_ms),
            end: Duration::from_millis(end_ms),
            outcome: Outcome::Status(status, None),
        }
    }

    #[test]
    fn recovery_runs_from_the_fault_to_the_end_of_the_last_failure() {
        let from = Duration::from_millis(1000);
        let samples = [s(900, 1100, 503), s(1200, 1700, 503), s(1800, 1900, 200)];
        assert_eq!(recovery(&samples, from), Some(Duration::from_millis(700)));
        // Nothing failed after the fault: recovered at once.
        assert_eq!(recovery(&[s(1100, 1200, 200)], from), Some(Duration::ZERO));
        // Nothing succeeded after the last failure: never recovered.
        assert_eq!(
            recovery(&[s(1100, 1200, 200), s(1300, 1400, 503)], from),
            None
        );
    }

    #[test]
    fn only_503s_refuses_a_500_or_a_transport_failure() {
        assert!(only_503s(&[s(0, 1, 200), s(0, 1, 503)]));
        assert!(!only_503s(&[s(0, 1, 200), s(0, 1, 500)]));
        let cut = Sample {
            outcome: Outcome::Transport("timeout".into()),
            ..s(0, 1, 200)
        };
        assert!(!only_503s(&[cut]));
    }
}
