//! `mock-llm`: an OpenAI-compatible mock LLM server (see
//! `backend::mock_server`). Flags override `MOCK_LLM_*` and `BIND_ADDR`;
//! `--help` lists them. Exit codes: 0 after a clean shutdown, 2 for a bad
//! flag or variable, 1 when the address cannot be bound.
//!
//! Unlike the backend it reads no `.env`: that file's `BIND_ADDR` is the
//! backend's own port, which the mock must not try to take.

use std::process::ExitCode;

use backend::mock_server::{self, Command, Config};
use backend::{shutdown_signal, telemetry};

fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            print!("{}", mock_server::config::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mock-llm: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init();
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
        "mock-llm listening"
    );
    match mock_server::serve(listener, config, shutdown_signal()).await {
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
