//! What the journey does and against which paths and fields, as a profile
//! file spells it (`[journey]`). Every default is DESIGN.md's API contract,
//! so an empty section drives chatbench's backend (and the original), and a
//! filled one drives any backend of the same shape.

use crate::duration::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Journey steps in the order a VU runs them, with the tag that selects each.
pub const STEP_TAGS: [&str; 6] = ["auth", "list", "session", "chat", "history", "other"];

/// The HTTP method of a request series, from its endpoint name: the
/// journey's endpoints by name (`other` endpoints are GETs), `hit`'s from
/// its `GET /path` name; `""` for a name none of these knows (a newer
/// loadgen's). Locust's CSV `Type` column.
pub fn endpoint_method(phase: &str, endpoint: &str) -> &'static str {
    const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    if let Some((first, _)) = endpoint.split_once(' ') {
        if let Some(m) = METHODS.iter().find(|m| **m == first) {
            return m;
        }
    }
    match endpoint {
        "login" | "create_session" | "chat" | "chat_stream" => "POST",
        "list_sessions" | "get_session" => "GET",
        _ if phase == "other" => "GET",
        _ => "",
    }
}

/// Steps run when neither the profile nor `--tags` says otherwise.
pub const DEFAULT_STEPS: [&str; 3] = ["auth", "session", "chat"];

/// How a VU authenticates after logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The `access_token` cookie plus `X-CSRF-Token` on writes (the original's way).
    #[default]
    Cookie,
    /// `Authorization: Bearer <access_token from the login body>`, no CSRF.
    Bearer,
}

/// When a VU logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMode {
    /// At the start of every iteration, as the original k6 scripts do: the
    /// login (and its password hash) is part of the load being measured.
    #[default]
    EveryIteration,
    /// Once per VU, then reuse the token (again after a 401).
    Once,
}

/// Paths of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    /// Health endpoint the guard asks.
    pub health: String,
    /// Login with a JSON body.
    pub login: String,
    /// Create (POST) and list (GET) sessions.
    pub sessions: String,
    /// One session with its messages; `{id}` is replaced.
    pub session: String,
    /// One chat turn.
    pub chat: String,
    /// One chat turn answered as a token stream (SSE), used with `stream`.
    pub stream: String,
    /// Occasional read-only endpoints (step `other`).
    pub other: Vec<OtherEndpoint>,
}

/// A read-only endpoint visited now and then (phase `other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherEndpoint {
    /// Endpoint name in the statistics.
    pub name: String,
    /// Path to GET.
    pub path: String,
}

impl Default for Paths {
    fn default() -> Self {
        let other = |name: &str, path: &str| OtherEndpoint {
            name: name.into(),
            path: path.into(),
        };
        Paths {
            health: "/api/health".into(),
            login: "/api/auth/login-json".into(),
            sessions: "/api/chat/sessions".into(),
            session: "/api/chat/sessions/{id}".into(),
            chat: "/api/chat/chat".into(),
            stream: "/api/chat/stream".into(),
            other: vec![
                other("health", "/health"),
                other("stats", "/api/stats"),
                other("metrics", "/api/metrics"),
            ],
        }
    }
}

/// Field, header and cookie names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    /// Login body: user name.
    pub username: String,
    /// Login body: password.
    pub password: String,
    /// Cookie that carries the session token.
    pub cookie: String,
    /// Login response: CSRF token.
    pub csrf_token: String,
    /// Header that carries the CSRF token.
    pub csrf_header: String,
    /// Login response: bearer token.
    pub access_token: String,
    /// Create-session body: title.
    pub session_title: String,
    /// Create-session response: the id (dotted path).
    pub session_id: String,
    /// Chat body: the prompt.
    pub chat_content: String,
    /// Chat body: the session id.
    pub chat_session_id: String,
    /// Chat response: the assistant's text (dotted path).
    pub assistant_content: String,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            username: "username".into(),
            password: "password".into(),
            cookie: "access_token".into(),
            csrf_token: "csrf_token".into(),
            csrf_header: "X-CSRF-Token".into(),
            access_token: "access_token".into(),
            session_title: "title".into(),
            session_id: "id".into(),
            chat_content: "content".into(),
            chat_session_id: "session_id".into(),
            assistant_content: "assistant_message.content".into(),
        }
    }
}

/// A kind of user; each VU draws one by weight when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserType {
    /// Name (`normal`, `high-volume`, ...).
    pub name: String,
    /// Relative weight; 0 disables the type.
    pub weight: u32,
    /// Chat turns per session; default: the journey's `turns`
    /// (`high-volume`: four times that).
    pub turns: Option<u32>,
    /// Think time; default: the journey's `think` (`high-volume`: a quarter).
    pub think: Option<HumanDuration>,
}

impl UserType {
    /// Turns and think time for this type given the journey's base values.
    pub fn resolve(&self, turns: u32, think: Duration) -> (u32, Duration) {
        let high = self.name == "high-volume";
        (
            self.turns
                .unwrap_or(if high { turns.saturating_mul(4) } else { turns }),
            self.think
                .map_or(if high { think / 4 } else { think }, |t| t.0),
        )
    }
}

/// The `[journey]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JourneySpec {
    /// Think time at the end of each iteration.
    pub think: HumanDuration,
    /// Chat turns per session.
    pub turns: u32,
    /// Cookie (+CSRF) or bearer.
    pub auth: AuthMode,
    /// Log in every iteration (the original's journey) or once per VU.
    pub login: LoginMode,
    /// Chat through `paths.stream` and record token-level metrics (TTFT,
    /// ITL, TPOT, E2E, tokens/s) instead of one `paths.chat` request.
    pub stream: bool,
    /// Steps to run (see [`STEP_TAGS`]).
    pub steps: Vec<String>,
    /// Chance per iteration of one GET to an `other` endpoint (step `other`).
    pub other_probability: f64,
    /// API paths.
    pub paths: Paths,
    /// Field names.
    pub fields: Fields,
    /// User types and their weights.
    pub user_types: Vec<UserType>,
}

impl Default for JourneySpec {
    fn default() -> Self {
        JourneySpec {
            think: HumanDuration(Duration::from_secs(1)),
            turns: 1,
            auth: AuthMode::Cookie,
            login: LoginMode::EveryIteration,
            stream: false,
            steps: DEFAULT_STEPS.iter().map(|s| s.to_string()).collect(),
            other_probability: 0.1,
            paths: Paths::default(),
            fields: Fields::default(),
            user_types: vec![
                UserType {
                    name: "normal".into(),
                    weight: 1,
                    turns: None,
                    think: None,
                },
                UserType {
                    name: "high-volume".into(),
                    weight: 0,
                    turns: None,
                    think: None,
                },
            ],
        }
    }
}
