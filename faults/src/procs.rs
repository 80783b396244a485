//! The real processes a scenario runs against, all on loopback: the
//! throwaway Postgres cluster (one per suite, a fresh database per
//! scenario), the `backend` binary and the `mock-llm` binary as children.
//!
//! Children are killed when their handle drops (`kill_on_drop`), so a
//! scenario that fails half-way leaves nothing running; the cluster goes
//! with its `TempPostgres` (see `pgtemp`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use pgtemp::TempPostgres;
use sqlx::{Connection as _, PgConnection};
use tokio::process::{Child, Command};

/// Where the suite's binaries and logs are.
#[derive(Clone, Debug)]
pub struct Env {
    /// The directory holding `backend` and `mock-llm` (next to our own
    /// binary, or `FAULTS_BIN_DIR`).
    pub bin_dir: PathBuf,
    /// Backend and mock-llm logs, one file per process.
    pub log_dir: PathBuf,
}

/// The suite's Postgres cluster; shared by the scenarios, stopped and
/// started by the outage scenario.
#[derive(Clone)]
pub struct Cluster(Arc<Mutex<TempPostgres>>);

impl Cluster {
    pub fn start() -> anyhow::Result<Self> {
        Ok(Self(Arc::new(Mutex::new(TempPostgres::start()?))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TempPostgres> {
        // A panic while holding it leaves the cluster as it was: carry on.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn url(&self, database: &str) -> String {
        self.lock().url(database)
    }

    /// A new empty database for one scenario.
    pub async fn fresh_database(&self, scenario: &str) -> anyhow::Result<String> {
        let name = format!(
            "faults_{}_{}",
            scenario.replace('-', "_"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .context("connecting to the suite's Postgres")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .context("creating the scenario's database")?;
        Ok(self.url(&name))
    }

    /// Stops the server (fast shutdown); blocks a worker thread, not the runtime.
    pub async fn stop_server(&self) -> anyhow::Result<()> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.lock().stop_server()).await?
    }

    /// Starts it again on the same port; returns once it accepts connections.
    pub async fn start_server(&self) -> anyhow::Result<()> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.lock().start_server()).await?
    }
}

/// A free loopback port (another process may take it before we bind it;
/// the backend's start then fails loudly, never silently).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process of ours: `backend` or `mock-llm`.
pub struct Proc {
    pub name: String,
    pub base_url: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    async fn spawn(
        env: &Env,
        program: &str,
        name: &str,
        port: u16,
        vars: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let log = env.log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let path = env.bin_dir.join(program);
        let mut cmd = Command::new(&path);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until `path` answers 200, bounded; a child that exits first
    /// fails at once with the end of its log.
    pub async fn wait_ready(&mut self, path: &str, patience: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let url = format!("{}{path}", self.base_url);
        let until = Instant::now() + patience;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}): {}", self.name, self.log_tail());
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{} did not answer {url} within {patience:?}: {}",
            self.name,
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// Sends SIGTERM (through `kill`: the workspace forbids `unsafe`).
    pub async fn sigterm(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("the process has exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        Ok(())
    }

    /// Waits for the exit, bounded; `None` when it is still running then.
    pub async fn wait_exit(
        &mut self,
        patience: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        match tokio::time::timeout(patience, self.child.wait()).await {
            Ok(status) => Ok(Some(status?)),
            Err(_) => Ok(None),
        }
    }

    /// Resident memory (bytes) and open descriptors, from `/proc`.
    pub fn rss_and_fds(&self) -> anyhow::Result<(u64, usize)> {
        let pid = self.pid().context("the process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        Ok((rss_kib * 1024, fds))
    }
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The backend's environment in the suite: test mode, the given database,
/// cheap password hashing (logins are set-up here, not under test), then
/// the scenario's own variables on top.
pub fn backend_vars(database_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vars(&[
        ("APP_ENV", "test"),
        ("DATABASE_URL", database_url),
        ("LLM_PROVIDER", "mock"),
        ("RETRIEVER_PROVIDER", "mock"),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ]);
    v.extend(vars(extra));
    v
}

/// Starts `backend` on `port` (0: a free one) and waits for its health.
pub async fn backend(
    env: &Env,
    name: &str,
    port: u16,
    vars: &[(String, String)],
) -> anyhow::Result<Proc> {
    let port = if port == 0 { free_port()? } else { port };
    let mut p = Proc::spawn(env, "backend", name, port, vars).await?;
    p.wait_ready("/api/health", Duration::from_secs(60)).await?;
    Ok(p)
}

/// Starts `mock-llm` with `MOCK_LLM_*` variables and waits for it.
pub async fn mock_llm(env: &Env, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Proc> {
    let mut p = Proc::spawn(env, "mock-llm", name, free_port()?, &vars(extra)).await?;
    p.wait_ready("/health", Duration::from_secs(30)).await?;
    Ok(p)
}

pub fn default_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FAULTS_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locating our own binary")?;
    Ok(exe
        .parent()
        .map_or_else(|| Path::new(".").to_owned(), Path::to_owned))
}
