//! `faults`: chatbench's fault suite. Runs real local processes on
//! loopback (a throwaway Postgres cluster, the `backend` and `mock-llm`
//! binaries, a small proxy), injects one fault per scenario under load,
//! measures what the promises are about, and prints one table:
//! scenario | promise | measured | result. Exit 0 when every promise held,
//! 1 when one failed, 2 for bad arguments.
//!
//! Run through `scripts/faults` (which builds the binaries next to this
//! one); `--short` is the CI form.

mod load;
mod procs;
mod proxy;
mod scenarios;
mod table;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::procs::{Cluster, Env};
use crate::scenarios::Ctx;

#[derive(Parser, Debug)]
#[command(
    name = "faults",
    about = "chatbench's fault suite: faults injected into real local processes under load"
)]
struct Cli {
    /// The CI form: shorter loads and a 60 s soak (a few minutes in all).
    #[arg(long)]
    short: bool,
    /// Soak duration in minutes (default 10; 1 with --short).
    #[arg(long, value_name = "N")]
    soak_minutes: Option<f64>,
    /// Run only these scenarios (comma-separated): provider-hang, sigterm,
    /// drain, pg-terminate, pg-outage, aborts, restart, replicas, soak.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the processes' logs go (default results/faults-<time>).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    for name in &cli.only {
        if !scenarios::ALL.contains(&name.as_str()) {
            eprintln!(
                "faults: unknown scenario {name} (known: {})",
                scenarios::ALL.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let soak_minutes = cli
        .soak_minutes
        .unwrap_or(if cli.short { 1.0 } else { 10.0 });
    if !(soak_minutes.is_finite() && soak_minutes > 0.0 && soak_minutes <= 24.0 * 60.0) {
        eprintln!("faults: --soak-minutes must be between 0 and 1440");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faults: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, Duration::from_secs_f64(soak_minutes * 60.0))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("faults: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, soak: Duration) -> anyhow::Result<bool> {
    let log_dir = cli.out.unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("results/faults-{stamp}").into()
    });
    std::fs::create_dir_all(&log_dir)?;
    let env = Env {
        bin_dir: procs::default_bin_dir()?,
        log_dir: log_dir.clone(),
    };
    eprintln!(
        "faults: starting a throwaway Postgres; logs in {}",
        log_dir.display()
    );
    let cluster = tokio::task::spawn_blocking(Cluster::start).await??;
    let ctx = Ctx {
        cluster,
        env,
        short: cli.short,
        soak,
    };
    let names: Vec<&str> = if cli.only.is_empty() {
        scenarios::ALL.to_vec()
    } else {
        scenarios::ALL
            .into_iter()
            .filter(|n| cli.only.iter().any(|o| o == n))
            .collect()
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for name in names {
        let t = Instant::now();
        eprintln!("faults: {name} ...");
        let got = scenarios::run(name, &ctx).await;
        let ok = got.iter().all(|r| r.pass);
        eprintln!(
            "faults: {name} {} in {:.1} s",
            if ok { "held" } else { "FAILED" },
            t.elapsed().as_secs_f64()
        );
        rows.extend(got);
    }
    let all = rows.iter().all(|r| r.pass);
    println!("{}", table::render(&rows));
    println!(
        "faults: {} of {} promises held in {:.0} s ({} form)",
        rows.iter().filter(|r| r.pass).count(),
        rows.len(),
        started.elapsed().as_secs_f64(),
        if ctx.short { "short" } else { "full" }
    );
    Ok(all)
}
