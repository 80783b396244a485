//! 1,000 chat requests (whole and streamed, through a live provider:
//! `mock-llm`, so the breaker is in play) whose clients hang up at random
//! moments. Afterwards: no half-written turn, the in-flight gauge back to
//! zero, the breaker closed, and a fresh turn answered.

use std::time::{Duration, Instant};

use rand::Rng as _;

use super::Ctx;
use crate::load;
use crate::procs;
use crate::table::Row;

const NAME: &str = "1,000 aborted clients";
const REQUESTS: usize = 1000;
const CONCURRENCY: usize = 50;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    // A reply takes ~0.2 s to start and ~0.4 s more to finish: clients hang
    // up before, during or after the provider call, or not at all.
    let llm = procs::mock_llm(
        &ctx.env,
        "aborts-mock-llm",
        &[
            ("MOCK_LLM_TTFT_MS", "200"),
            ("MOCK_LLM_ITL_MS", "20"),
            ("MOCK_LLM_TOKENS", "20"),
        ],
    )
    .await?;
    let db = ctx.cluster.fresh_database("aborts").await?;
    let base_url = format!("{}/v1", llm.base_url);
    let backend = procs::backend(
        &ctx.env,
        "aborts-backend",
        0,
        &procs::backend_vars(
            &db,
            &[
                ("LLM_PROVIDER", "openai"),
                ("OPENAI_BASE_URL", &base_url),
                ("OPENAI_API_KEY", "faults"),
            ],
        ),
    )
    .await?;
    let base = backend.base_url.clone();
    let vus = load::setup(&base, 10, CONCURRENCY).await?;
    let client = load::client()?;
    let t0 = Instant::now();
    let workers: Vec<_> = vus
        .into_iter()
        .enumerate()
        .map(|(w, vu)| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let (mut aborted, mut finished) = (0usize, 0usize);
                for n in (w..REQUESTS).step_by(CONCURRENCY) {
                    let after = Duration::from_millis(rand::thread_rng().gen_range(0..900));
                    let call = async {
                        if n % 2 == 0 {
                            load::turn(&client, &base, &vu, "abort me").await
                        } else {
                            load::stream_turn(&client, &base, &vu, "abort me").await
                        }
                    };
                    // Dropping the request future closes its connection.
                    match tokio::time::timeout(after, call).await {
                        Ok(_) => finished += 1,
                        Err(_) => aborted += 1,
                    }
                }
                (aborted, finished)
            })
        })
        .collect();
    let (mut aborted, mut finished) = (0, 0);
    for w in workers {
        let (a, f) = w.await?;
        aborted += a;
        finished += f;
    }
    let took = t0.elapsed();
    // The server notices hang-ups asynchronously: give it a moment.
    let until = Instant::now() + Duration::from_secs(5);
    let (mut in_flight, mut breaker) = (f64::NAN, f64::NAN);
    while Instant::now() < until {
        let text = load::metrics_text(&base).await?;
        // The scrape itself is in flight while it is answered.
        in_flight =
            load::metric(&text, "chatbot_http_requests_in_progress").unwrap_or(f64::NAN) - 1.0;
        breaker = load::metric(&text, "chatbot_provider_circuit_state").unwrap_or(0.0);
        if in_flight == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let probe = load::setup(&base, 1, 1).await?;
    let fresh = load::turn(&client, &base, &probe[0], "still there?").await;
    let (users, replies, orphans) = load::turn_census(&db).await?;
    Ok(vec![
        Row::new(
            NAME,
            "no half-written turn",
            format!(
                "{aborted} aborted, {finished} finished in {:.1} s; {users} user messages, {replies} replies, {orphans} without reply",
                took.as_secs_f64()
            ),
            orphans == 0 && users == replies && aborted + finished == REQUESTS,
        ),
        Row::new(
            NAME,
            "no leaked in-flight gauge",
            format!("{in_flight} requests in progress afterwards"),
            in_flight == 0.0,
        ),
        Row::new(
            NAME,
            "breaker not stuck",
            format!(
                "circuit state {breaker} (0 closed); next turn answered {}",
                fresh.status().map_or_else(|| format!("{fresh:?}"), |s| s.to_string())
            ),
            breaker == 0.0 && fresh.ok(),
        ),
    ])
}
