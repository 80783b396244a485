//! Small servers the integration tests start on 127.0.0.1:0, and helpers to
//! drive loadgen against them (through the library or the built binary).
//! Every server counts what it saw, so tests compare loadgen's numbers with
//! the server's rather than with expectations.

#![allow(dead_code, clippy::unwrap_used)]

pub mod chat;
pub mod metrics;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::plan::{self, Env};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Serves `router` on 127.0.0.1:0 until the test's runtime ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// A port on which nothing listens (bound, then released).
pub async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// What the counting server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests to /work that got their response.
    pub answered: AtomicU64,
    /// Requests to /work that arrived.
    pub arrived: AtomicU64,
    /// Requests being handled right now.
    pub in_flight: AtomicU64,
    /// Most requests handled at once.
    pub max_in_flight: AtomicU64,
    /// Arrival times relative to the first arrival, in ms.
    pub arrivals_ms: Mutex<Vec<u64>>,
    first: Mutex<Option<Instant>>,
}

/// How the counting server answers `/work`.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Base delay.
    pub delay: Duration,
    /// Every `slow_every`-th request (1-based) sleeps `slow_delay` instead.
    pub slow_every: u64,
    /// Delay of the slow requests.
    pub slow_delay: Duration,
    /// Response body size.
    pub body_len: usize,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            delay: Duration::ZERO,
            slow_every: 0,
            slow_delay: Duration::ZERO,
            body_len: 2,
        }
    }
}

struct InFlight<'a>(&'a Seen);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn work(State((seen, b)): State<(Arc<Seen>, Behaviour)>) -> String {
    let n = seen.arrived.fetch_add(1, Ordering::SeqCst) + 1;
    {
        let mut first = seen.first.lock().unwrap();
        let t0 = *first.get_or_insert_with(Instant::now);
        seen.arrivals_ms
            .lock()
            .unwrap()
            .push(t0.elapsed().as_millis() as u64);
    }
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&seen);
    let delay = if b.slow_every > 0 && n % b.slow_every == 0 {
        b.slow_delay
    } else {
        b.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    seen.answered.fetch_add(1, Ordering::SeqCst);
    "x".repeat(b.body_len)
}

/// A health answer with the given `app_env` (None: the field is missing).
pub fn health_body(app_env: Option<&str>) -> Value {
    match app_env {
        Some(env) => {
            json!({"status": "ok", "message": "API is healthy", "app_env": env, "environment": env})
        }
        None => json!({"status": "ok", "message": "API is healthy"}),
    }
}

/// The counting server: `GET /work` behaves as told; `/api/health` and
/// `/health` say `app_env: "test"` and count into `/work` too when
/// `health_is_work` (so the journey's `other` step can drive it).
pub async fn counting_server(b: Behaviour) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route("/work", get(work))
        .route("/health", get(work))
        .route(
            "/api/health",
            get(|| async { Json(health_body(Some("test"))) }),
        )
        .with_state((Arc::clone(&seen), b));
    (serve(router).await, seen)
}

/// Parses a `loadgen run ...` command line into a resolved plan.
pub fn run_plan(argv: &[&str]) -> plan::RunPlan {
    let mut full = vec!["loadgen", "run", "-q"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Run(args) => plan::resolve_run(&args, &Env::default()).unwrap(),
        _ => unreachable!(),
    }
}

/// Parses a `loadgen hit ...` command line into a resolved plan.
pub fn hit_plan(argv: &[&str]) -> plan::HitPlan {
    let mut full = vec!["loadgen", "hit", "-q"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Hit(args) => plan::resolve_hit(&args, &Env::default()).unwrap(),
        _ => unreachable!(),
    }
}

/// What the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the built `loadgen` binary with `args` and `env`, bounded to 30 s.
pub async fn loadgen_bin(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(args).kill_on_drop(true);
    for var in [
        "BASE_URL",
        "LOADGEN_LATENCY_PROFILE",
        "K6_LATENCY_PROFILE",
        "LOADGEN_ALLOW_NON_TEST_BACKEND",
        "K6_ALLOW_NON_TEST_BACKEND",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("loadgen binary did not finish within 30 s")
        .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes a users fixture with `n` accounts (`user0`/`pw-0`, ...).
pub fn users_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let users: Vec<Value> = (0..n)
        .map(|i| json!({"username": format!("user{i}"), "password": format!("pw-{i}")}))
        .collect();
    let path = dir.join("users.json");
    std::fs::write(&path, json!({ "users": users }).to_string()).unwrap();
    path
}

/// Asserts that a summary.json value matches loadgen's JSON Schema.
pub fn validate_summary(instance: &Value) {
    let schema: Value = serde_json::from_str(loadgen::export::SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not match its schema: {errors:#?}"
    );
}
