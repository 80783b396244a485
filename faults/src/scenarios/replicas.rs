//! Scale-out: two backend processes on one database behind the suite's
//! round-robin proxy (`crate::proxy`). Three promises:
//!
//! - a user logs in through one replica and chats through the other, with
//!   the cookie and `X-CSRF-Token` the first issued (JWT and CSRF are
//!   stateless: derived from `SECRET_KEY`, which the replicas share);
//! - load through the proxy is served by both, without a failure;
//! - rate limits are per replica (the buckets live in each process): a
//!   client refused by one replica is still served by the other. The
//!   README says so: a limit of N per minute is N × replicas in all.
//!
//! It also measures chat turns per second through the proxy with one
//! replica and with two, for the record (on a 2-core machine the cores, not
//! the replicas, bound it).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::{json, Value};

use super::Ctx;
use crate::load::{self, Load};
use crate::procs;
use crate::proxy;
use crate::table::Row;

const NAME: &str = "two replicas";
const LOGINS_PER_MINUTE: u32 = 5;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let db = ctx.cluster.fresh_database("replicas").await?;
    let limit = LOGINS_PER_MINUTE.to_string();
    let vars = procs::backend_vars(
        &db,
        &[
            (
                "SECRET_KEY",
                "faults-replicas-shared-secret-0123456789abcdef",
            ),
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", &limit),
            ("RATE_LIMIT_REGISTER_PER_MINUTE", "100"),
            ("RATE_LIMIT_CHAT_PER_MINUTE", "1000000"),
            ("MOCK_LLM_TTFT_MS", "20"),
            ("MOCK_LLM_ITL_MS", "1"),
        ],
    );
    let a = procs::backend(&ctx.env, "replicas-a", 0, &vars).await?;
    let b = procs::backend(&ctx.env, "replicas-b", 0, &vars).await?;
    let mut rows = vec![cross_replica(&a.base_url, &b.base_url).await?];

    // Load through the proxy: with A alone, then with A and B.
    let ports = [port_of(&a.base_url)?, port_of(&b.base_url)?];
    let secs = if ctx.short { 4 } else { 15 };
    let one = proxy::start(ports[..1].to_vec()).await?;
    let (one_rate, one_failed, _) = load_through(one.port, secs).await?;
    let calls_before = [
        provider_calls(&a.base_url).await?,
        provider_calls(&b.base_url).await?,
    ];
    let two = proxy::start(ports.to_vec()).await?;
    let (two_rate, two_failed, two_turns) = load_through(two.port, secs).await?;
    let served = [
        provider_calls(&a.base_url).await? - calls_before[0],
        provider_calls(&b.base_url).await? - calls_before[1],
    ];
    let share = |n: f64| {
        if two_turns == 0 {
            0.0
        } else {
            n / two_turns as f64
        }
    };
    rows.push(Row::new(
        NAME,
        "load through the proxy is spread over both replicas (each >= 35% of turns), 0 failed",
        format!(
            "{two_turns} turns, {two_failed} failed; replica A served {:.0} ({:.0}%), B {:.0} ({:.0}%); \
             {two_rate:.0} turns/s with 2 replicas vs {one_rate:.0} with 1 ({one_failed} failed) on {} cores",
            served[0],
            share(served[0]) * 100.0,
            served[1],
            share(served[1]) * 100.0,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        ),
        two_failed == 0
            && one_failed == 0
            && two_turns > 0
            && served.iter().all(|&n| share(n) >= 0.35),
    ));
    rows.push(per_replica_limits(&a.base_url, &b.base_url).await?);
    Ok(rows)
}

fn port_of(base: &str) -> anyhow::Result<u16> {
    base.rsplit_once(':')
        .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {base}"))
}

async fn provider_calls(base: &str) -> anyhow::Result<f64> {
    let text = load::metrics_text(base).await?;
    Ok(load::metric(&text, "chatbot_provider_calls_total").unwrap_or(0.0))
}

/// Closed-loop turns for `secs` through the proxy on `port`: (turns/s,
/// failed, turns).
async fn load_through(port: u16, secs: u64) -> anyhow::Result<(f64, usize, usize)> {
    let base = format!("http://127.0.0.1:{port}");
    let vus = load::setup(&base, 2, 16).await?;
    let t0 = Instant::now();
    let load = Load::start(&base, &vus, t0, Duration::from_secs(secs), Duration::ZERO)?;
    let samples = load.finish().await;
    let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
    let failed = samples.iter().filter(|s| !s.outcome.ok()).count();
    Ok((samples.len() as f64 / elapsed, failed, samples.len()))
}

/// Registers a fresh account through `base`; returns its credentials as
/// the login body.
async fn register_new(client: &reqwest::Client, base: &str, prefix: &str) -> anyhow::Result<Value> {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let creds = json!({"username": format!("{prefix}_{tag}"), "password": "replica-password-0123"});
    let r = client
        .post(format!("{base}/api/auth/register"))
        .json(&creds)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "register through {base}: {}", r.status());
    Ok(creds)
}

/// Registers and logs in through `a` (cookie + CSRF), then opens a session
/// and chats through `b` with them.
async fn cross_replica(a: &str, b: &str) -> anyhow::Result<Row> {
    let client = load::client()?;
    let creds = register_new(&client, a, "replica").await?;
    let r = client
        .post(format!("{a}/api/auth/login-json"))
        .json(&creds)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "login through A: {}", r.status());
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("access_token="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .context("login through A set no access_token cookie")?;
    let body: Value = r.json().await?;
    let csrf = body["csrf_token"]
        .as_str()
        .context("login through A returned no csrf_token")?
        .to_owned();
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&cookie)?);
    headers.insert("x-csrf-token", HeaderValue::from_str(&csrf)?);
    let r = client
        .post(format!("{b}/api/chat/sessions"))
        .headers(headers.clone())
        .json(&json!({"title": "opened on B"}))
        .send()
        .await?;
    let session_status = r.status().as_u16();
    let session: Value = r.json().await.unwrap_or(Value::Null);
    let r = client
        .post(format!("{b}/api/chat/chat"))
        .headers(headers.clone())
        .json(&json!({"content": "hello from A's login", "session_id": session["id"]}))
        .send()
        .await?;
    let chat_status = r.status().as_u16();
    let chat: Value = r.json().await.unwrap_or(Value::Null);
    let reply = chat["assistant_message"]["content"]
        .as_str()
        .unwrap_or_default()
        .len();
    // Without the CSRF header the same cookie write is refused on B too:
    // the check is not skipped, it is stateless.
    let r = client
        .post(format!("{b}/api/chat/sessions"))
        .header(COOKIE, HeaderValue::from_str(&cookie)?)
        .json(&json!({"title": "no csrf"}))
        .send()
        .await?;
    let no_csrf = r.status().as_u16();
    Ok(Row::new(
        NAME,
        "login through replica A, chat through B with its cookie and CSRF token",
        format!(
            "session on B: {session_status}; chat on B: {chat_status}, reply of {reply} bytes; \
             the same write without X-CSRF-Token: {no_csrf}"
        ),
        session_status == 200 && chat_status == 200 && reply > 0 && no_csrf == 403,
    ))
}

/// Logs in to `a` until it refuses (429 with Retry-After), then once to `b`.
async fn per_replica_limits(a: &str, b: &str) -> anyhow::Result<Row> {
    let client = load::client()?;
    let creds = register_new(&client, a, "limit").await?;
    let mut accepted = 0;
    let mut refused: Option<(u16, Option<String>)> = None;
    // Bounded: the limit plus a margin (earlier logins of this minute count).
    for _ in 0..LOGINS_PER_MINUTE + 2 {
        let r = client
            .post(format!("{a}/api/auth/login-json"))
            .json(&creds)
            .send()
            .await?;
        match r.status().as_u16() {
            200 => accepted += 1,
            429 => {
                let retry = r
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                refused = Some((429, retry));
                break;
            }
            other => anyhow::bail!("login through A answered {other}"),
        }
    }
    let r = client
        .post(format!("{b}/api/auth/login-json"))
        .json(&creds)
        .send()
        .await?;
    let on_b = r.status().as_u16();
    let held = matches!(&refused, Some((429, Some(_)))) && on_b == 200;
    Ok(Row::new(
        NAME,
        "rate limits are per replica: a client A refuses (429 + Retry-After) is served by B",
        format!(
            "A accepted {accepted} more logins then answered {}; B then answered {on_b} \
             (RATE_LIMIT_LOGIN_PER_MINUTE={LOGINS_PER_MINUTE} per replica)",
            match &refused {
                Some((s, Some(retry))) => format!("{s} with Retry-After {retry}"),
                Some((s, None)) => format!("{s} without Retry-After"),
                None => "never 429".to_string(),
            }
        ),
        held,
    ))
}
