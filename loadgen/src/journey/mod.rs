//! The chat journey, as the original's k6 scripts run it: each VU, with its
//! own account (VU `i` -> `users[i % n]`), iterates: log in, open a session,
//! chat `turns` times, think. By default it logs in at the start of every
//! iteration, as the k6 scripts do; with `--login once` (`[journey] login =
//! "once"`) it logs in once and keeps its credentials until a 401 drops them,
//! and the next iteration logs in again. Optional steps list sessions, read
//! the history and now and then GET health/stats/metrics.
//!
//! Every request is recorded with its phase (`auth`, `session`, `chat`,
//! `other`) and endpoint name; every check (status, cookie, CSRF token,
//! session id, non-empty reply) is recorded pass/fail with its phase.
//!
//! With `stream`, the chat turn goes to the stream path instead (endpoint
//! `chat_stream`) and is read event by event ([`stream`]), adding the
//! token-level metrics and the check `stream completed with done`.

mod extract;
pub mod spec;
pub mod stream;
mod vu;

use crate::duration::format_duration;
use crate::engine::{Vu, Workload};
use crate::http::Target;
use crate::users::User;
use hyper::header::HeaderName;
use spec::{AuthMode, Fields, LoginMode, Paths};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Which steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Steps {
    /// Log in (phase auth).
    pub auth: bool,
    /// `GET` the session list (phase session).
    pub list: bool,
    /// Create a session (phase session).
    pub session: bool,
    /// Chat turns (phase chat).
    pub chat: bool,
    /// `GET` the session with its messages (phase session).
    pub history: bool,
    /// Occasional health/stats/metrics (phase other).
    pub other: bool,
}

impl Steps {
    /// Phases the selected steps record into.
    pub fn phases(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if self.auth {
            p.push("auth");
        }
        if self.list || self.session || self.history {
            p.push("session");
        }
        if self.chat {
            p.push("chat");
        }
        if self.other {
            p.push("other");
        }
        p
    }

    fn names(&self) -> Vec<&'static str> {
        [
            (self.auth, "auth"),
            (self.list, "list"),
            (self.session, "session"),
            (self.chat, "chat"),
            (self.history, "history"),
            (self.other, "other"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect()
    }
}

/// A user type with its resolved turns and think time.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTypePlan {
    /// Name.
    pub name: String,
    /// Relative weight (> 0).
    pub weight: u32,
    /// Chat turns per session.
    pub turns: u32,
    /// Think time per iteration.
    pub think: Duration,
}

/// Everything a journey VU needs, resolved.
#[derive(Debug, Clone)]
pub struct JourneyPlan {
    /// Accounts; VU `i` uses `users[i % n]`.
    pub users: Arc<Vec<User>>,
    /// Prompt corpus.
    pub prompts: Arc<Vec<String>>,
    /// Steps to run.
    pub steps: Steps,
    /// Cookie+CSRF or bearer.
    pub auth: AuthMode,
    /// Every iteration or once per VU.
    pub login: LoginMode,
    /// Chat through the stream path, timing every token.
    pub stream: bool,
    /// API paths.
    pub paths: Paths,
    /// Field names.
    pub fields: Fields,
    /// Parsed `fields.csrf_header`.
    pub csrf_header: HeaderName,
    /// Chance per iteration of an `other` GET.
    pub other_probability: f64,
    /// User types (weights > 0).
    pub user_types: Vec<UserTypePlan>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl JourneyPlan {
    /// Lines for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  journey steps:    {}", self.steps.names().join(", "));
        let _ = writeln!(
            out,
            "  auth:             {}",
            match self.auth {
                AuthMode::Cookie => "cookie + CSRF header",
                AuthMode::Bearer => "bearer token",
            }
        );
        let _ = writeln!(
            out,
            "  login:            {}",
            match self.login {
                LoginMode::EveryIteration => "every iteration (as the original k6 scripts)",
                LoginMode::Once => "once per VU (again after a 401)",
            }
        );
        if self.steps.chat {
            let _ = writeln!(
                out,
                "  chat:             {}",
                if self.stream {
                    format!(
                        "streamed: POST {} (SSE; TTFT, ITL, TPOT, E2E, tokens/s)",
                        self.paths.stream
                    )
                } else {
                    format!("POST {} (one JSON answer)", self.paths.chat)
                }
            );
        }
        let _ = writeln!(
            out,
            "  users:            {} accounts (VU i uses users[i % n])",
            self.users.len()
        );

        let _ = writeln!(out, "  prompts:          {}", self.prompts.len());
        for t in &self.user_types {
            let _ = writeln!(
                out,
                "  user type:        {} (weight {}): {} turn(s), think {}",
                t.name,
                t.weight,
                t.turns,
                format_duration(t.think)
            );
        }
        if self.steps.other {
            let _ = writeln!(
                out,
                "  other endpoints:  p={} per iteration",
                self.other_probability
            );
        }
        let _ = writeln!(out, "  request timeout:  {}", format_duration(self.timeout));
        out
    }
}

/// The journey workload.
#[derive(Debug)]
pub struct Journey {
    target: Arc<Target>,
    plan: JourneyPlan,
    seed: u64,
}

impl Journey {
    /// A journey against `target`.
    pub fn new(target: Arc<Target>, plan: JourneyPlan, seed: u64) -> Self {
        Journey { target, plan, seed }
    }
}

impl Workload for Journey {
    fn run_vu(self: Arc<Self>, vu: Vu) -> impl Future<Output = ()> + Send + 'static {
        vu::run(self, vu)
    }
}
