//! Exit codes and the error type that carries them to `main`.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the run finished and every threshold held |
//! | 99 | the run finished and at least one threshold failed (as k6) |
//! | 98 | a regression against the baseline (`loadgen compare`, `run --baseline`); thresholds held |
//! | 105 | the run was interrupted (Ctrl-C, SIGTERM, `loadgen web`'s Stop) and its thresholds held on the partial data (k6's code for an external abort); every output is still written |
//! | 2 | bad arguments, profile, threshold expression or input file |
//! | 3 | the guard refused the target (not `app_env: "test"`), before or during the run |
//! | 4 | the target could not be reached |
//! | 1 | any other (internal) error |

/// A process exit code with a documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every threshold held.
    Ok,
    /// An internal error.
    Internal,
    /// Bad arguments, profile or input file.
    Usage,
    /// The guard refused the target.
    GuardRefused,
    /// The target could not be reached.
    Unreachable,
    /// At least one threshold failed.
    ThresholdsFailed,
    /// A regression against the baseline (`compare`, `run --baseline`).
    Regressed,
    /// Interrupted before its end (thresholds held on what ran).
    Interrupted,
}

impl ExitCode {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Internal => 1,
            ExitCode::Usage => 2,
            ExitCode::GuardRefused => 3,
            ExitCode::Unreachable => 4,
            ExitCode::ThresholdsFailed => 99,
            ExitCode::Regressed => 98,
            ExitCode::Interrupted => 105,
        }
    }
}

/// Why a command could not run to its end; each variant has its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments, profile, threshold or input file.
    #[error("{0}")]
    Usage(String),
    /// The guard refused the target.
    #[error("{0}")]
    GuardRefused(String),
    /// The target could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Failure {
    /// The exit code this failure ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::Usage,
            Failure::GuardRefused(_) => ExitCode::GuardRefused,
            Failure::Unreachable(_) => ExitCode::Unreachable,
            Failure::Internal(_) => ExitCode::Internal,
        }
    }

    /// Shorthand for a usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Failure::Usage(msg.into())
    }
}
