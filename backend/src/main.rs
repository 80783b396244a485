//! `backend`: the reference chatbot API server.

use std::process::ExitCode;

use backend::config::Config;
use backend::{shutdown_signal, telemetry, Application};

fn main() -> ExitCode {
    // A `.env` file is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("backend: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backend: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app_env = config.app_env.clone();
    let app = Application::build(config).await?;
    // Before the start-up line: whoever reads it may signal at once.
    let shutdown = shutdown_signal();
    tracing::info!(addr = %app.local_addr()?, %app_env, "backend listening");
    app.run_until(shutdown).await?;
    tracing::info!("backend stopped");
    Ok(())
}
