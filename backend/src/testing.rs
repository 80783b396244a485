//! Test support: a fresh database per test and an app spawned on port 0.
//!
//! The database server is `DATABASE_URL` when set (the README's test command
//! sets it to a throwaway cluster shared by the whole run), otherwise a
//! throwaway cluster started once per test process. Every call to
//! [`fresh_database`] creates a new, empty database in it, so tests never
//! see each other's rows.
//!
//! Clean-up: a [`TestApp`] drops its database (`DROP DATABASE ... WITH
//! (FORCE)`, Postgres 13+) when it shuts down or is dropped, a panicking
//! test included, and so does a [`TestDatabase`]; a user's own server (the
//! `DATABASE_URL` case) collects nothing. A bare [`fresh_database`] URL has
//! no owner and stays until the server goes (the throwaway cluster's end).

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
/// the seed tool's guard expects of a test database. Nothing drops it: a
/// test should prefer [`TestDatabase::create`], which does.
pub async fn fresh_database() -> anyhow::Result<String> {
    fresh_database_named("chatbench_test").await
}

/// Creates an empty database named `{prefix}_{random}` and returns its URL;
/// left on the server, as [`fresh_database`]'s is.
pub async fn fresh_database_named(prefix: &str) -> anyhow::Result<String> {
    Ok(TestDatabase::create_named(prefix).await?.keep())
}

/// A database created for one test, dropped with the guard (or by
/// [`TestDatabase::drop_now`]) so that nothing is left on the server.
#[derive(Debug)]
pub struct TestDatabase {
    /// The server's admin URL, to drop from: a database cannot drop itself.
    admin: String,
    name: String,
    url: String,
    /// Dropped already, or handed over by [`TestDatabase::keep`].
    done: bool,
}

impl TestDatabase {
    /// An empty database named `chatbench_test_{random}`.
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_named("chatbench_test").await
    }

    /// An empty database named `{prefix}_{random}`.
    pub async fn create_named(prefix: &str) -> anyhow::Result<Self> {
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
        let url = if query.is_empty() {
            format!("{root}/{name}")
        } else {
            format!("{root}/{name}?{query}")
        };
        Ok(Self {
            admin,
            name,
            url,
            done: false,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Leaves the database on the server and returns its URL.
    pub fn keep(mut self) -> String {
        self.done = true;
        std::mem::take(&mut self.url)
    }

    /// Drops the database now, ending any connection still open to it.
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.done = true;
        drop_database(&self.admin, &self.name).await
    }
}

impl Drop for TestDatabase {
    /// Drop cannot await, and may run inside the test's runtime (which a
    /// `block_on` there would panic on): the drop runs on a thread of its
    /// own with a runtime of its own, and is waited for, so the database is
    /// gone when the guard is.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&admin, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("testing: database {} left behind: {e:#}", self.name),
            Err(_) => eprintln!(
                "testing: database {} left behind: the drop panicked",
                self.name
            ),
        }
    }
}

/// `DROP DATABASE ... WITH (FORCE)`: the connections of a pool (or a server
/// task) still open to it are ended by the server, not waited for. Bounded,
/// so a server that went away cannot hang a test's end.
async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    let work = async {
        let mut conn = PgConnection::connect(admin)
            .await
            .context("connecting to the test server")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .context("dropping the test database")?;
        let _ = conn.close().await;
        anyhow::Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), work)
        .await
        .context("dropping the test database: timed out")?
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
    /// Dropped with the app (after the server fields above: fields drop in
    /// order, and the connections it ends are the server's).
    database: TestDatabase,
}

impl TestApp {
    /// Stops accepting, drains in-flight requests, waits for the server,
    /// then drops the app's database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let (result, database) = self.stop().await;
        database.drop_now().await.map_err(std::io::Error::other)?;
        result
    }

    /// [`TestApp::shutdown`], but the database stays, for a test that reads
    /// what the stopped app stored; it goes when the returned guard does.
    pub async fn shutdown_keeping_database(self) -> (std::io::Result<()>, TestDatabase) {
        self.stop().await
    }

    async fn stop(mut self) -> (std::io::Result<()>, TestDatabase) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = match self.server.take() {
            Some(h) => h.await.unwrap_or(Ok(())),
            None => Ok(()),
        };
        (result, self.database)
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
    let database = TestDatabase::create().await?;
    let database_url = database.url().to_owned();
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
        database,
    })
}
