//! Provider hang: `mock-llm` holds every completion without answering; the
//! backend (live provider, no retries, a 2 s provider budget) must answer
//! each client `504 provider_timeout` within the budget + 0.5 s, whole and
//! streamed turns alike.

use std::time::{Duration, Instant};

use super::{secs, Ctx};
use crate::load::{self, Outcome};
use crate::procs;
use crate::table::Row;

const NAME: &str = "provider hang";
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_millis(500);
/// Below the breaker's minimum calls (10): every request meets the hang,
/// none is refused by an open breaker.
const REQUESTS: usize = 8;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let llm = procs::mock_llm(
        &ctx.env,
        "provider-hang-mock-llm",
        &[("MOCK_LLM_HANG_RATE", "1"), ("MOCK_LLM_HANG_MS", "600000")],
    )
    .await?;
    let db = ctx.cluster.fresh_database("hang").await?;
    let timeout = PROVIDER_TIMEOUT.as_secs().to_string();
    let base_url = format!("{}/v1", llm.base_url);
    let backend = procs::backend(
        &ctx.env,
        "provider-hang-backend",
        0,
        &procs::backend_vars(
            &db,
            &[
                ("LLM_PROVIDER", "openai"),
                ("OPENAI_BASE_URL", &base_url),
                ("OPENAI_API_KEY", "faults"),
                ("PROVIDER_TIMEOUT_SECONDS", &timeout),
                ("PROVIDER_DEADLINE_SECONDS", &timeout),
                ("PROVIDER_MAX_RETRIES", "0"),
            ],
        ),
    )
    .await?;
    let base = backend.base_url.clone();
    let vus = load::setup(&base, 2, REQUESTS).await?;
    let client = load::client()?;
    let calls = vus.iter().enumerate().map(|(i, vu)| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let t = Instant::now();
            // Half whole turns, half streamed: a stream that hangs before
            // its first token is answered with the same JSON 504.
            let got = if i % 2 == 0 {
                load::turn(&client, &base, vu, "hello?").await
            } else {
                load::stream_turn(&client, &base, vu, "hello?").await
            };
            (t.elapsed(), got)
        }
    });
    let results = futures::future::join_all(calls).await;
    let max = results.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let all_504 = results
        .iter()
        .all(|(_, o)| *o == Outcome::Status(504, Some("provider_timeout".into())));
    let seen: Vec<String> = results
        .iter()
        .map(|(_, o)| match o {
            Outcome::Status(s, c) => format!("{s} {}", c.as_deref().unwrap_or("")),
            Outcome::Transport(k) => k.clone(),
        })
        .collect();
    Ok(vec![
        Row::new(
            NAME,
            "every client gets 504 provider_timeout",
            format!(
                "{} of {REQUESTS} (whole and streamed){}",
                results
                    .iter()
                    .filter(|(_, o)| o.status() == Some(504))
                    .count(),
                if all_504 {
                    String::new()
                } else {
                    format!(": {seen:?}")
                }
            ),
            all_504,
        ),
        Row::new(
            NAME,
            "504 within provider timeout (2 s) + 0.5 s",
            format!("slowest {}", secs(max)),
            max <= PROVIDER_TIMEOUT + SLACK,
        ),
    ])
}
