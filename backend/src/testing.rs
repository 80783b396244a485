//! Test support: a fresh database per test and an app spawned on port 0.
//!
//! The database server is `DATABASE_URL` when set (the README's test command
//! sets it to a throwaway cluster shared by the whole run), otherwise a
//! throwaway cluster started once per test process. Every call to
//! [`fresh_database`] creates a new, empty database in it, so tests never
//! see each other's rows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

use anyhow::Context as _;
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::Config;
use crate::{Application, Overrides};
use pgtemp::TempPostgres;

static CLUSTER: OnceLock<Result<TempPostgres, String>> = OnceLock::new();

/// The server's admin URL (a database that exists on it).
fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            return Ok(url);
        }
    }
    let cluster = CLUSTER.get_or_init(|| TempPostgres::start().map_err(|e| format!("{e:#}")));
    match cluster {
        Ok(pg) => Ok(pg.url("postgres")),
        Err(e) => anyhow::bail!("cannot start a throwaway Postgres: {e}"),
    }
}

/// Creates an empty database and returns its URL. Its name says `test`, as
/// the seed tool's guard expects of a test database.
pub async fn fresh_database() -> anyhow::Result<String> {
    fresh_database_named("chatbench_test").await
}

/// Creates an empty database named `{prefix}_{random}` and returns its URL.
pub async fn fresh_database_named(prefix: &str) -> anyhow::Result<String> {
    let admin = server_url()?;
    let mut conn = PgConnection::connect(&admin)
        .await
        .with_context(|| "connecting to the test server")?;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("creating the test database")?;
    let _ = conn.close().await;
    // Swap the database name: everything after the last '/' up to '?'.
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    Ok(if query.is_empty() {
        format!("{root}/{name}")
    } else {
        format!("{root}/{name}?{query}")
    })
}

/// A configuration for tests: test environment, port 0, instant mock LLM,
/// the given database, then `extra` variables on top.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> anyhow::Result<Config> {
    let mut env: HashMap<String, String> = [
        ("APP_ENV", "test"),
        ("BIND_ADDR", "127.0.0.1:0"),
        (
            "SECRET_KEY",
            "test-secret-key-for-chatbench-tests-0123456789",
        ),
        ("MOCK_LLM_TTFT_MS", "0"),
        ("MOCK_LLM_ITL_MS", "0"),
        ("MOCK_LLM_TOKENS", "12"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.insert("DATABASE_URL".into(), database_url.to_owned());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Ok(Config::from_source(&env)?)
}

/// A running app for one test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub database_url: String,
    pub pool: PgPool,
    pub config: Config,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Stops accepting, drains in-flight requests and waits for the server.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

/// Spawns the app on a fresh database with `extra` configuration.
pub async fn spawn_app(extra: &[(&str, &str)]) -> anyhow::Result<TestApp> {
    spawn_app_with(extra, Overrides::default()).await
}

pub async fn spawn_app_with(
    extra: &[(&str, &str)],
    overrides: Overrides,
) -> anyhow::Result<TestApp> {
    let database_url = fresh_database().await?;
    let config = test_config(&database_url, extra)?;
    let app = Application::build_with(config.clone(), overrides).await?;
    let addr = app.local_addr()?;
    let pool = app.state().pool.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Ok(TestApp {
        addr,
        base_url: format!("http://{addr}"),
        database_url,
        pool,
        config,
        shutdown: Some(tx),
        server: Some(server),
    })
}
