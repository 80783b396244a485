//! Capacity benchmark of the backend, measured side by side in one run.
//!
//! Run with `scripts/bench-backend.sh` (or `cargo bench -p backend --bench
//! capacity`). It starts a throwaway Postgres (or uses `DATABASE_URL`) and
//! the release `backend` binary on 127.0.0.1, then prints:
//!
//! (a) raw argon2 verifications per second of the backend's own hashing code
//!     and parameters on all cores, vs `login-json` requests per second
//!     through the backend (goal: ratio >= 0.85);
//! (b) `pgbench` running the chat turn's SQL, vs chat turns per second
//!     through the backend with a zero-latency mock LLM (goal: >= 0.5);
//! (c) p99 of `GET /api/health` while logins saturate hashing (goal < 20 ms).
//!
//! Every phase is bounded in time (`BENCH_SECONDS`, default 10) and sends
//! traffic to loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::auth::password::PasswordHasher;
use backend::config::Argon2Params;
use hdrhistogram::Histogram;
use pgtemp::{find_bindir, TempPostgres};
use serde_json::{json, Value};

const USERS: usize = 64;
const PASSWORD: &str = "bench-password-123";

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn seconds() -> Duration {
    let s: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(s.clamp(2, 120))
}

struct Backend {
    child: Child,
    base: String,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn start_backend(database_url: &str) -> Backend {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_backend"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "test")
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("MOCK_LLM_TTFT_MS", "0")
        .env("MOCK_LLM_ITL_MS", "0")
        .env("MOCK_LLM_TOKENS", "40")
        .env("DB_POOL_SIZE", "20")
        .env("RUST_LOG", "warn")
        .env(
            "HASH_THREAD_NICE",
            std::env::var("HASH_THREAD_NICE").unwrap_or_else(|_| "10".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start backend");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/api/health")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "backend did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Backend { child, base }
}

/// Runs `workers` loops of `op` until the deadline; returns completed ops
/// per second and the latency histogram (microseconds).
async fn drive<F, Fut>(workers: usize, duration: Duration, op: F) -> (f64, Histogram<u64>, u64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let op = Arc::clone(&op);
            let errors = Arc::clone(&errors);
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(w).await {
                        h.saturating_record(t.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                h
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for h in handles {
        total.add(h.await.unwrap()).unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    (
        total.len() as f64 / elapsed,
        total,
        errors.load(Ordering::Relaxed),
    )
}

async fn raw_hash_rate(duration: Duration) -> f64 {
    let hasher = PasswordHasher::new(Argon2Params::default(), cores()).unwrap();
    let stored = hasher.hash(PASSWORD.into()).await.unwrap();
    let (rate, _, _) = drive(4 * cores(), duration, move |_| {
        let (hasher, stored) = (hasher.clone(), stored.clone());
        async move {
            hasher
                .verify(PASSWORD.into(), Some(stored))
                .await
                .unwrap_or(false)
        }
    })
    .await;
    rate
}

async fn login_ok(client: &reqwest::Client, base: &str, user: usize) -> bool {
    client
        .post(format!("{base}/api/auth/login-json"))
        .json(&json!({"username": format!("bench_{user:03}"), "password": PASSWORD}))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn seed_users(database_url: &str) {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    backend::db::MIGRATOR.run(&pool).await.unwrap();
    let hasher = PasswordHasher::new(Argon2Params::default(), cores()).unwrap();
    let hash = hasher.hash(PASSWORD.into()).await.unwrap();
    for i in 0..USERS {
        backend::db::users::insert(&pool, &format!("bench_{i:03}"), None, &hash)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// The pgbench script: the backend's own turn statements (read the context,
/// write the turn), with its parameters replaced by pgbench variables and
/// the literal values the benchmark's chat turns send.
fn turn_script() -> String {
    let substitute = |sql: &str, params: &[(&str, &str)]| {
        // Highest numbers first, so `$1` does not eat the start of `$10`.
        params
            .iter()
            .rev()
            .fold(sql.to_owned(), |acc, (k, v)| acc.replace(k, v))
    };
    let read = substitute(
        &backend::db::messages::turn_context_sql(40),
        &[("$1", ":sid")],
    );
    let reply = "The chatbot scales with load latency tokens session users request database pool stream answer context retrieval model throughput queue cache replica shard percentile budget retry timeout worker thread connection index query and of to is for a in under each the chatbot scales.";
    let write = substitute(
        backend::db::messages::WRITE_TURN_EXISTING_SQL.trim_end(),
        &[
            ("$1", ":sid"),
            ("$2", "'How do I size a connection pool for a chatbot?'"),
            ("$3", "12"),
            ("$4", "NULL"),
            ("$5", "'{}'"),
            ("$6", &format!("'{reply}'")),
            ("$7", "12"),
            ("$8", "40"),
            (
                "$9",
                r#"'{"sources": [{"title": "Sizing connection pools", "score": 1.0}], "model": "mock"}'"#,
            ),
        ],
    );
    format!("\\set sid random(1, :sessions)\n{read};\n{write};\n")
}

/// Chat turns per second of the turn's SQL alone, from pgbench.
fn pgbench_turn_rate(
    database_url: &str,
    clients: usize,
    sessions: usize,
    duration: Duration,
) -> f64 {
    let script = std::env::temp_dir().join(format!("chatbench-turn-{}.sql", std::process::id()));
    std::fs::write(&script, turn_script()).unwrap();
    let pgbench = find_bindir()
        .map(|b| b.join("pgbench"))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| "pgbench".into());
    let out = Command::new(pgbench)
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &cores().to_string(),
            "-T",
            &duration.as_secs().to_string(),
            "-D",
            &format!("sessions={sessions}"),
            "-f",
            script.to_str().unwrap(),
            database_url,
        ])
        .output()
        .expect("run pgbench");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench output: {text}"))
}

/// Measures the baseline and the backend alternately, twice each, and keeps
/// the best of each side: on a shared 2-core machine a background hiccup then
/// cannot decide a ratio by landing on one side only.
async fn best_of_two<BF, TF>(
    mut baseline: impl FnMut() -> BF,
    mut through: impl FnMut() -> TF,
) -> (f64, (f64, Histogram<u64>, u64))
where
    BF: std::future::Future<Output = f64>,
    TF: std::future::Future<Output = (f64, Histogram<u64>, u64)>,
{
    let mut base_best: f64 = 0.0;
    let mut best: Option<(f64, Histogram<u64>, u64)> = None;
    for _ in 0..2 {
        base_best = base_best.max(baseline().await);
        let run = through().await;
        if best.as_ref().is_none_or(|b| run.0 > b.0) {
            best = Some(run);
        }
    }
    (base_best, best.expect("two runs"))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

#[tokio::main]
async fn main() {
    let d = seconds();
    let _cluster;
    let database_url = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => {
            let pg = TempPostgres::start().expect("throwaway Postgres");
            pg.create_database("chatbench_bench").unwrap();
            let url = pg.url("chatbench_bench");
            _cluster = pg;
            url
        }
    };
    seed_users(&database_url).await;
    let backend = start_backend(&database_url).await;
    let base = backend.base.clone();
    let client = reqwest::Client::new();
    println!(
        "capacity benchmark: {} cores, {} s per phase, argon2id m=19456 t=2 p=1",
        cores(),
        d.as_secs()
    );

    // (a) hashing: raw vs through the API.
    let (c, b) = (client.clone(), base.clone());
    let (raw, (logins, login_lat, login_err)) = best_of_two(
        || raw_hash_rate(d),
        || {
            let (c, b) = (c.clone(), b.clone());
            drive(8 * cores(), d, move |w| {
                let (c, b) = (c.clone(), b.clone());
                async move { login_ok(&c, &b, w % USERS).await }
            })
        },
    )
    .await;
    let ratio_a = logins / raw;

    // (b) chat turns: the SQL alone (pgbench) vs through the API.
    let clients = 4 * cores();
    let mut tokens = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..clients {
        let r: Value = client
            .post(format!("{base}/api/auth/login-json"))
            .json(&json!({"username": format!("bench_{i:03}"), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["access_token"].as_str().unwrap().to_owned();
        let s: Value = client
            .post(format!("{base}/api/chat/sessions"))
            .bearer_auth(&token)
            .json(&json!({"title": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sessions.push(s["id"].as_i64().unwrap());
        tokens.push(token);
    }
    let auth = Arc::new((tokens, sessions));
    let (c, b, url) = (client.clone(), base.clone(), database_url.clone());
    let (sql_rate, (turns, turn_lat, turn_err)) = best_of_two(
        || {
            let url = url.clone();
            async move { pgbench_turn_rate(&url, clients, clients, d) }
        },
        || {
            let (c, b, auth) = (c.clone(), b.clone(), Arc::clone(&auth));
            drive(clients, d, move |w| {
                let (c, b, auth) = (c.clone(), b.clone(), Arc::clone(&auth));
                async move {
                    c.post(format!("{b}/api/chat/sessions/{}/messages", auth.1[w]))
                        .bearer_auth(&auth.0[w])
                        .json(&json!({"content": "How do I size a connection pool for a chatbot?"}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
        },
    )
    .await;
    let ratio_b = turns / sql_rate;

    // (c) health latency while logins saturate hashing.
    let (c, b) = (client.clone(), base.clone());
    let storm = tokio::spawn(drive(16 * cores(), d, move |w| {
        let (c, b) = (c.clone(), b.clone());
        async move { login_ok(&c, &b, w % USERS).await }
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One prober, a request every 10 ms; only the request itself is timed.
    let probe = reqwest::Client::new();
    let mut health_lat = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut health_err = 0u64;
    let probe_until = Instant::now() + d - Duration::from_secs(1);
    while Instant::now() < probe_until {
        let t = Instant::now();
        let ok = probe
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            health_lat.saturating_record(t.elapsed().as_micros() as u64);
        } else {
            health_err += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (storm_rate, _, _) = storm.await.unwrap();
    let p99_ms = health_lat.value_at_quantile(0.99) as f64 / 1000.0;
    let p50_ms = health_lat.value_at_quantile(0.50) as f64 / 1000.0;

    println!();
    println!("(a) password hashing");
    println!("    raw argon2 verifications/s, all cores     {raw:>10.1}");
    println!(
        "    login-json requests/s through the backend {logins:>10.1}   (p50 {:.0} ms, p99 {:.0} ms, {login_err} errors)",
        login_lat.value_at_quantile(0.5) as f64 / 1000.0,
        login_lat.value_at_quantile(0.99) as f64 / 1000.0
    );
    println!(
        "    ratio                                      {ratio_a:>10.2}   goal >= 0.85  {}",
        verdict(ratio_a >= 0.85)
    );
    println!("(b) chat turns ({clients} clients, zero-latency mock LLM)");
    println!("    pgbench, the turn's SQL, turns/s          {sql_rate:>10.1}");
    println!(
        "    chat turns/s through the backend          {turns:>10.1}   (p50 {:.1} ms, p99 {:.1} ms, {turn_err} errors)",
        turn_lat.value_at_quantile(0.5) as f64 / 1000.0,
        turn_lat.value_at_quantile(0.99) as f64 / 1000.0
    );
    println!(
        "    ratio                                      {ratio_b:>10.2}   goal >= 0.5   {}",
        verdict(ratio_b >= 0.5)
    );
    println!(
        "(c) GET /api/health during a login storm ({storm_rate:.1} logins/s, {} concurrent)",
        16 * cores()
    );
    println!(
        "    p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms over {} probes, {health_err} errors   goal p99 < 20 ms  {}",
        health_lat.len(),
        verdict(p99_ms < 20.0)
    );
    drop(backend);
}
