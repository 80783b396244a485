//! The `loadgen` binary: clap parses the command line ([`loadgen::cli`]),
//! [`loadgen::plan`] resolves it into a typed plan, [`loadgen::app`] runs
//! the plan; the exit code comes from the outcome. Exit codes are
//! documented in [`loadgen::exit`] and in `loadgen --help`.

use clap::Parser;
use loadgen::cli::Cli;
use loadgen::exit::{ExitCode, Failure};
use loadgen::plan::{self, Env};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ExitCode::Usage.code(),
            };
        }
    };
    let plan = match plan::resolve(cli.command, &Env::from_process()) {
        Ok(plan) => plan,
        Err(failure) => return fail(&failure),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::Internal.code();
        }
    };
    match runtime.block_on(loadgen::app::execute(plan)) {
        Ok(code) => code.code(),
        Err(failure) => fail(&failure),
    }
}

/// Prints why the command failed; returns its exit code.
fn fail(failure: &Failure) -> i32 {
    match failure {
        Failure::Internal(e) => eprintln!("loadgen: internal error: {e:#}"),
        Failure::Usage(m) | Failure::GuardRefused(m) | Failure::Unreachable(m) => {
            eprintln!("loadgen: {m}")
        }
    }
    failure.exit_code().code()
}
