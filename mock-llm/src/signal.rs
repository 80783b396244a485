//! The shutdown signal both servers wait on: the `mock-llm` binary and the
//! backend's (which re-exports it as `backend::shutdown_signal`).
//!
//! It lives here because this is the one library both binaries already
//! link, and dependencies point backend -> mock-llm: the mock server cannot
//! reach into the backend, and a crate of its own for one function would be
//! a workspace member for thirty lines.

/// Listens for SIGTERM and SIGINT (ctrl-c) from the moment it is called,
/// not from the first poll: called before the start-up line is logged, a
/// supervisor that signals as soon as it reads that line is heard instead of
/// killing the process. The future resolves on the first signal; a signal
/// that cannot be listened for is logged and never fires.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &'static str| {
        let registered = signal(kind);
        if let Err(e) = &registered {
            tracing::error!(error = %e, "cannot listen for {name}");
        }
        async move {
            match registered {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    let term = listen(SignalKind::terminate(), "SIGTERM");
    let int = listen(SignalKind::interrupt(), "SIGINT");
    async move {
        tokio::select! {
            () = term => {},
            () = int => {},
        }
        tracing::info!("shutdown signal received, draining in-flight requests");
    }
}
