//! `mock-llm`: an OpenAI-compatible mock LLM server (see the `mock_llm`
//! library). Flags override `MOCK_LLM_*` and `BIND_ADDR`, which override a
//! `--profile`; `--help` lists them with their defaults, `--list-profiles`
//! the profiles. Exit codes: 0 after a clean shutdown, 2 for a bad
//! flag or variable, 1 when the address cannot be bound.
//!
//! Unlike the backend it reads no `.env`: that file's `BIND_ADDR` is the
//! backend's own port, which the mock must not try to take.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use mock_llm::config::{self, Command, Config};
use mock_llm::signal::shutdown_signal;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::ListProfiles) => {
            print!("{}", mock_llm::mockmodel::profile::list());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mock-llm: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-llm: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock-llm: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().map_or(config.bind, |a| a);
    // Before the start-up line: whoever reads it may signal at once.
    let shutdown = shutdown_signal();
    let c = &config;
    tracing::info!(
        %addr,
        model = %c.model,
        seed = c.llm.seed,
        ttft_ms = c.llm.ttft.as_millis() as u64,
        itl_ms = c.llm.itl.as_millis() as u64,
        jitter = c.llm.jitter,
        tokens = c.llm.tokens,
        rpm = c.rpm.unwrap_or(0),
        tpm = c.tpm.unwrap_or(0),
        error_rate = c.llm.error_rate,
        rate_429 = c.llm.rate_429,
        hang_rate = c.hang_rate,
        hang_ms = c.hang_for.as_millis() as u64,
        midstream_error_rate = c.midstream_error_rate,
        cut_rate = c.cut_rate,
        embedding_dim = c.embedding_dim,
        prefill_us_per_token = c.llm.load.prefill_per_token.as_micros() as u64,
        max_num_seqs = c.llm.load.max_num_seqs,
        max_waiting = c.llm.load.max_waiting,
        load_factor = c.llm.load.load_factor,
        "mock-llm listening"
    );
    match mock_llm::serve(listener, config, shutdown).await {
        Ok(()) => {
            tracing::info!("mock-llm stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mock-llm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stdout, as the backend does, filtered by `RUST_LOG` (default
/// `info`); the start-up line carries `addr=`, which scripts read to find a
/// port-0 server. Coloured only on a terminal without `NO_COLOR`: a log
/// file or a pipe gets plain text (and a plain `addr=` to match).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(!no_color && std::io::stdout().is_terminal())
        .init();
}
