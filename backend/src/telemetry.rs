//! Logging: `tracing` with an env filter (`RUST_LOG`, default `info`), to
//! stdout, coloured only when stdout is a terminal and `NO_COLOR` is unset:
//! logs written to a file or a pipe (`scripts/bench`, a supervisor) stay
//! plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour_stdout())
        .try_init();
}

/// Whether logs on stdout may carry ANSI colour codes: only on a terminal,
/// and never with `NO_COLOR` set to a non-empty value (no-color.org).
fn colour_stdout() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}
