//! A throwaway Postgres cluster from the machine's own PostgreSQL install.
//!
//! Used by the tests when `DATABASE_URL` is unset and by the `pgtemp`
//! binary, which wraps the README's commands. The cluster lives in a fresh
//! directory under the system temp dir, listens on 127.0.0.1 only, trusts
//! local connections, and trades durability for speed (`fsync=off`): it
//! holds nothing worth keeping.
//!
//! Postgres refuses to run as root, so as root the cluster runs as the
//! `postgres` user. A small shell supervisor owns it: it starts the server,
//! says `ready`, then waits for its stdin to close. Our end of that pipe
//! closes when the owner drops the handle or when this process dies by any
//! means, so the cluster and its directory never outlive their user.
//! The same pipe carries `stop` and `start` lines ([`TempPostgres::stop_server`],
//! [`TempPostgres::start_server`]): the fault suite takes the server down
//! and brings it back on the same port and data, as an outage would.

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

const SUPERVISOR: &str = r#"
d="$1"; port="$2"; bin="$3"
trap 'exit 1' INT TERM HUP
trap 'if [ -n "$pg" ]; then kill -INT "$pg" 2>/dev/null; wait "$pg" 2>/dev/null; fi; rm -rf "$d"' EXIT
if ! "$bin/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --no-sync >"$d/initdb.log" 2>&1; then
  echo "initdb failed: $(tail -n 5 "$d/initdb.log" | tr '\n' ' ')"; exit 1
fi
start() {
  "$bin/postgres" -D "$d/data" -p "$port" -k "$d" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=500 -c shared_buffers=128MB >>"$d/postgres.log" 2>&1 &
  pg=$!
  i=0
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    if ! kill -0 "$pg" 2>/dev/null; then
      echo "postgres exited: $(tail -n 5 "$d/postgres.log" | tr '\n' ' ')"; pg=; exit 1
    fi
    i=$((i + 1)); [ "$i" -gt 600 ] && { echo "postgres did not become ready in 60 s"; exit 1; }
    sleep 0.1
  done
  echo ready
}
start
while read -r cmd; do
  case "$cmd" in
    stop) if [ -n "$pg" ]; then kill -INT "$pg" 2>/dev/null; wait "$pg" 2>/dev/null; pg=; fi; echo stopped ;;
    start) [ -n "$pg" ] || start ;;
  esac
done
"#;

/// A running throwaway cluster; dropping it stops the server and deletes it.
pub struct TempPostgres {
    port: u16,
    bindir: PathBuf,
    dir: PathBuf,
    supervisor: Option<Child>,
    /// The supervisor's answers (`ready`, `stopped`) to `start` and `stop`.
    replies: Option<BufReader<ChildStdout>>,
}

/// The directory holding `initdb`, `postgres` and `pg_isready`: `PG_BIN`,
/// else the newest `/usr/lib/postgresql/*/bin`, else whatever `PATH` has.
pub fn find_bindir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|p| p.join("initdb").exists())
        .context(
            "no PostgreSQL server binaries found (install postgresql, set PG_BIN, \
             or set DATABASE_URL to an existing server)",
        )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// uid and gid of the `postgres` account.
fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .context("running `id`")?;
        if !out.status.success() {
            bail!("running as root, but there is no `postgres` user to run Postgres as");
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("parsing `id` output")
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TempPostgres {
    /// Initialises and starts a cluster; blocks until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let bindir = find_bindir()?;
        let ids = if is_root() {
            Some(postgres_ids()?)
        } else {
            None
        };
        // A port picked this way can be taken before Postgres binds it: retry.
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(&bindir, ids) {
                Ok(pg) => return Ok(pg),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("could not start Postgres")))
    }

    fn try_start(bindir: &Path, ids: Option<(u32, u32)>) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("chatbench-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to the postgres user", dir.display()))?;
        }
        let port = free_port()?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SUPERVISOR)
            .arg("pgtemp")
            .arg(&dir)
            .arg(port.to_string())
            .arg(bindir)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((uid, gid)) = ids {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().context("starting the Postgres supervisor")?;
        let stdout = child.stdout.take().context("supervisor stdout")?;
        let mut line = String::new();
        let mut replies = BufReader::new(stdout);
        replies
            .read_line(&mut line)
            .context("reading the supervisor")?;
        if line.trim() != "ready" {
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            bail!("throwaway Postgres failed to start: {}", line.trim());
        }
        Ok(Self {
            port,
            bindir: bindir.to_owned(),
            dir,
            supervisor: Some(child),
            replies: Some(replies),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A URL for one database of the cluster (the superuser is `postgres`).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database (owned by the `postgres` superuser).
    pub fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let out = Command::new(self.bindir.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .context("running createdb")?;
        if !out.status.success() {
            bail!(
                "createdb {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Sends the supervisor one command and waits for its one-line answer.
    fn command(&mut self, command: &str, expect: &str) -> anyhow::Result<()> {
        let child = self
            .supervisor
            .as_mut()
            .context("the cluster was stopped")?;
        let stdin = child.stdin.as_mut().context("supervisor stdin")?;
        writeln!(stdin, "{command}").context("writing to the supervisor")?;
        stdin.flush().context("writing to the supervisor")?;
        let replies = self.replies.as_mut().context("supervisor stdout")?;
        let mut line = String::new();
        replies
            .read_line(&mut line)
            .context("reading the supervisor")?;
        if line.trim() != expect {
            bail!("Postgres {command}: {}", line.trim());
        }
        Ok(())
    }

    /// Stops the server (a fast shutdown: sessions are ended, as in an
    /// outage) and keeps its data; blocks until it has exited.
    pub fn stop_server(&mut self) -> anyhow::Result<()> {
        self.command("stop", "stopped")
    }

    /// Starts a stopped server again on the same port and data; blocks
    /// until it accepts connections.
    pub fn start_server(&mut self) -> anyhow::Result<()> {
        self.command("start", "ready")
    }

    /// Stops the server and removes its directory; waits for both.
    pub fn stop(&mut self) {
        self.replies = None;
        if let Some(mut child) = self.supervisor.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
