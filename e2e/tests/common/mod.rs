//! Shared by the end-to-end tests: a real backend with chosen settings,
//! accounts registered over its API, and loadgen runs through its library
//! (the same `plan::resolve_run` + `app::run_with` the binary uses).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use backend::testing::{spawn_app, TestApp};
use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::plan::{self, Env};
use loadgen::report::Report;
use std::path::PathBuf;

/// The backend on a fresh database, with `extra` settings (the mock
/// provider and test mode by default, as `backend::testing` configures).
pub async fn backend(extra: &[(&str, &str)]) -> TestApp {
    spawn_app(extra).await.expect("backend starts")
}

/// Registers `n` accounts over the API and writes them as a users fixture
/// (`{"users":[{"username","password"}]}`) in `dir`.
pub async fn users(base_url: &str, n: usize, dir: &std::path::Path) -> PathBuf {
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..n {
        let username = format!("e2e_user_{i:03}");
        let password = format!("E2e-Pass-{i:03}-long-enough");
        let res = client
            .post(format!("{base_url}/api/auth/register"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("register request");
        assert!(
            res.status().is_success(),
            "register {username}: {}",
            res.status()
        );
        users.push(serde_json::json!({"username": username, "password": password}));
    }
    let path = dir.join("users.json");
    std::fs::write(&path, serde_json::json!({ "users": users }).to_string()).expect("write users");
    path
}

/// Resolves `loadgen run -q ARGS` as the binary would and runs it to its
/// end, returning the report (summary, diagnosis and all).
pub async fn run(args: &[&str]) -> Report {
    let mut argv = vec!["loadgen", "run", "-q"];
    argv.extend_from_slice(args);
    let plan = match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Run(a) => plan::resolve_run(&a, &Env::default()).expect("plan resolves"),
        _ => unreachable!("a run command"),
    };
    loadgen::app::run_with(plan, None, None)
        .await
        .expect("the run completes")
}
