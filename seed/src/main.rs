//! `seed`: idempotent seeding of chatbench's load-test accounts, and with
//! `seed corpus` of the retriever's document corpus.
//!
//! Exit codes: 0 done; 1 failed; 2 bad arguments or users file; 3 refused
//! (not a test environment); 4 API mode found users whose password differs
//! (one `report::Failure` variant each).
//! It reads no `.env` file: its target comes from flags and the environment
//! only, so a stray file cannot point it at another database.
//!
//! Choosing the target: a flag typed on the command line wins over the
//! environment. `DATABASE_URL` and `BASE_URL` both set with neither flag
//! typed (a k6 user's shell) seeds the database and says so on stderr;
//! typing both `--database-url` and `--base-url` is a usage error.

mod api_mode;
mod corpus;
mod db_mode;
mod fixture;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use backend::auth::password::PasswordHasher;
use backend::config::{argon2_from_source, ProcessEnv};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::report::Failure;

/// Seed the accounts of a users file (`{"users": [{"username","password"}]}`)
/// into a test database, or through a test backend's API. Safe to re-run and
/// to run concurrently: existing users are left alone, changed passwords are
/// applied (database mode). `seed corpus` loads the retriever's documents
/// instead.
#[derive(Parser)]
#[command(name = "seed", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The users fixture.
    #[arg(long, default_value = "load-tests/users.json")]
    users_file: PathBuf,
    /// Seed straight into this database (hashing here, on all cores).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seed through a running backend's API instead (e.g. http://127.0.0.1:8000).
    /// Typed, it wins over DATABASE_URL in the environment; from the
    /// environment alone, DATABASE_URL wins.
    // No clap `conflicts_with`: clap counts values from the environment as
    // given, and would refuse flags the user never typed (`choose_target`).
    #[arg(long, env = "BASE_URL")]
    base_url: Option<String>,
    /// Seed a backend or database that is not a test environment.
    #[arg(long)]
    allow_non_test: bool,
    /// Users seeded at once (default: 2 per core in database mode, 8 in API mode).
    #[arg(long)]
    concurrency: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Upsert the retriever's markdown corpus (`# Title` then content, one
    /// document per `*.md` file, keyed by file name) into the `documents`
    /// table searched by `RETRIEVER_PROVIDER=postgres`.
    Corpus(CorpusArgs),
}

#[derive(clap::Args)]
struct CorpusArgs {
    /// The directory of markdown documents.
    #[arg(long, default_value = "load-tests/corpus")]
    dir: PathBuf,
    /// The database to seed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seed a database that is not a test database.
    #[arg(long)]
    allow_non_test: bool,
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let mut args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    if args.command.is_none() {
        if let Err(e) = choose_target(&mut args, &matches) {
            eprintln!("seed: {e}");
            return e.exit_code();
        }
    }
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => match args.command.take() {
            Some(Command::Corpus(c)) => runtime.block_on(run_corpus(c)),
            None => runtime.block_on(run(args)),
        },
        Err(e) => Err(Failure::Failed(anyhow::anyhow!(
            "cannot start the runtime: {e}"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            e.exit_code()
        }
    }
}

/// Leaves at most one of `database_url` and `base_url` set: the typed flag
/// when one was typed, else the database (with a note naming the variables).
fn choose_target(args: &mut Args, matches: &ArgMatches) -> Result<(), Failure> {
    let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if args.database_url.is_none() || args.base_url.is_none() {
        return Ok(());
    }
    match (typed("database_url"), typed("base_url")) {
        (true, true) => Err(Failure::usage(
            "--database-url and --base-url cannot be used together: \
             pass one (database mode hashes here and applies changed passwords; \
             API mode registers through a running backend)",
        )),
        (true, false) => {
            args.base_url = None;
            Ok(())
        }
        (false, true) => {
            args.database_url = None;
            Ok(())
        }
        (false, false) => {
            eprintln!(
                "seed: DATABASE_URL and BASE_URL are both set; seeding the database \
                 (DATABASE_URL). Pass --base-url to seed over the API instead"
            );
            args.base_url = None;
            Ok(())
        }
    }
}

async fn run_corpus(args: CorpusArgs) -> Result<(), Failure> {
    let url = args.database_url.ok_or(Failure::usage(
        "say where to seed: set DATABASE_URL (or --database-url)",
    ))?;
    let docs = corpus::load(&args.dir).map_err(Failure::BadInput)?;
    let started = Instant::now();
    let report = corpus::run(&url, &docs, args.allow_non_test).await?;
    println!(
        "seed: {} documents from {} into database: {report} in {:.1} s",
        docs.len(),
        args.dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(args: Args) -> Result<(), Failure> {
    let users = fixture::load(&args.users_file).map_err(Failure::BadInput)?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    // `choose_target` left at most one of the two set.
    let (target, report) = match (&args.base_url, &args.database_url) {
        (Some(base), _) => (
            format!("API {base}"),
            api_mode::run(
                base,
                &users,
                args.concurrency.unwrap_or(8),
                args.allow_non_test,
            )
            .await?,
        ),
        (None, Some(url)) => {
            let hasher = argon2_from_source(&ProcessEnv)
                .map_err(anyhow::Error::from)
                .and_then(|p| PasswordHasher::new(p, cores))
                .map_err(Failure::BadInput)?;
            (
                "database".to_owned(),
                db_mode::run(
                    url,
                    &users,
                    hasher,
                    args.concurrency.unwrap_or(2 * cores),
                    args.allow_non_test,
                )
                .await?,
            )
        }
        (None, None) => return Err(Failure::usage(
            "say where to seed: set DATABASE_URL (or --database-url), or --base-url for API mode",
        )),
    };
    println!(
        "seed: {} users from {} into {target}: {report} in {:.1} s",
        users.len(),
        args.users_file.display(),
        started.elapsed().as_secs_f64()
    );
    if report.stale > 0 {
        return Err(Failure::Stale(report.stale));
    }
    Ok(())
}
