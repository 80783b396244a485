//! A fake chat backend of DESIGN.md's shape: login-json with cookie + CSRF
//! (or bearer), sessions, chat, the token stream (SSE on a known schedule),
//! history, health/stats/metrics. It enforces what the real one does (cookie
//! writes need the CSRF header, another user's session is 403) and counts
//! every endpoint it serves.

use super::{health_body, serve};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Settings of the fake backend.
#[derive(Debug, Clone)]
pub struct Config {
    /// `app_env` in health answers (None: missing).
    pub app_env: Option<String>,
    /// After this many health answers, report `production` instead.
    pub production_after_health_calls: Option<u64>,
    /// After this many health answers, report version `2.0.0` (another
    /// deployment) instead of `1.0.0`.
    pub version_after_health_calls: Option<u64>,
    /// From this health answer on, `uptime_seconds` starts again from 0
    /// (the process restarted); otherwise it is the answer's number.
    pub restart_at_health_call: Option<u64>,
    /// Health answers number `start..end` (counting from 1) are a 503
    /// `degraded` that still says `app_env: "test"` (a pool exhausted).
    pub degraded_health_calls: Option<std::ops::Range<u64>>,
    /// A token stops working after this many authenticated requests.
    pub token_max_uses: Option<u64>,
    /// How long a chat turn takes.
    pub chat_delay: Duration,
    /// How `/api/chat/stream` answers.
    pub stream: StreamScript,
    /// Bytes of padding in every chat reply (0: none): the whole turn's
    /// `assistant_message.content` grows by that many, and a stream sends
    /// one extra token event that long before its first token.
    pub padding: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app_env: Some("test".into()),
            production_after_health_calls: None,
            version_after_health_calls: None,
            restart_at_health_call: None,
            degraded_health_calls: None,
            token_max_uses: None,
            chat_delay: Duration::from_millis(5),
            stream: StreamScript::default(),
            padding: 0,
        }
    }
}

/// How a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A `done` event with usage.
    Done,
    /// An `error` event (a mid-stream provider failure).
    ErrorEvent,
    /// The body just ends, without `done`.
    Eof,
    /// The connection breaks mid-body (no terminating chunk).
    Abort,
}

/// The schedule of `/api/chat/stream`, from the handler's start: a
/// keep-alive comment and an empty token at once (neither is content), then
/// token `i` at `ttft + i * itl` (absolute deadlines, so lateness does not
/// accumulate), then the ending right after the last token.
#[derive(Debug, Clone, Copy)]
pub struct StreamScript {
    /// Time to the first non-empty token.
    pub ttft: Duration,
    /// Gap between tokens.
    pub itl: Duration,
    /// Tokens of a completed stream (a failing one sends half).
    pub tokens: u32,
    /// Every `n`-th stream (1-based) ends this way instead of `Done`.
    pub failure: Option<(u64, Ending)>,
}

impl Default for StreamScript {
    fn default() -> Self {
        StreamScript {
            ttft: Duration::from_millis(60),
            itl: Duration::from_millis(20),
            tokens: 8,
            failure: None,
        }
    }
}

/// What the fake backend saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests per endpoint name (login, create_session, chat, ...).
    pub counts: Mutex<BTreeMap<&'static str, u64>>,
    /// User names that logged in successfully, in order.
    pub logins: Mutex<Vec<String>>,
    /// Requests refused: 401 / 403 (CSRF), by endpoint.
    pub refused: Mutex<BTreeMap<String, u64>>,
    /// Chat requests that carried a session_id.
    pub chats_with_session: AtomicU64,
    /// Requests that carried an X-CSRF-Token header while using bearer auth.
    pub bearer_with_csrf: AtomicU64,
    /// Streams by how they ended.
    pub stream_endings: Mutex<BTreeMap<&'static str, u64>>,
    streams: AtomicU64,
    health_calls: AtomicU64,
}

impl Seen {
    /// Count for one endpoint.
    pub fn count(&self, endpoint: &str) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    fn hit(&self, endpoint: &'static str) {
        *self.counts.lock().unwrap().entry(endpoint).or_default() += 1;
    }
}

#[derive(Default)]
struct Store {
    tokens: HashMap<String, (String, u64)>,
    sessions: HashMap<u64, String>,
    next_id: u64,
}

#[derive(Clone)]
struct App {
    config: Config,
    seen: Arc<Seen>,
    store: Arc<Mutex<Store>>,
}

fn err(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({"detail": detail}))).into_response()
}

impl App {
    /// The caller's user name, enforcing CSRF on cookie-authenticated writes.
    #[allow(clippy::result_large_err)] // a test server: the error is the response
    fn authenticate(
        &self,
        headers: &HeaderMap,
        write: bool,
        endpoint: &str,
    ) -> Result<String, Response> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(String::from);
        let cookie = headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| {
                c.split(';')
                    .find_map(|p| p.trim().strip_prefix("access_token="))
            })
            .map(String::from);
        let refuse = |status: StatusCode, why: &str| {
            *self
                .seen
                .refused
                .lock()
                .unwrap()
                .entry(format!("{endpoint} {}", status.as_u16()))
                .or_default() += 1;
            err(status, why)
        };
        let (token, via_cookie) = match (bearer, cookie) {
            (Some(t), _) => (t, false),
            (None, Some(t)) => (t, true),
            (None, None) => return Err(refuse(StatusCode::UNAUTHORIZED, "Not authenticated")),
        };
        if !via_cookie && headers.contains_key("x-csrf-token") {
            self.seen.bearer_with_csrf.fetch_add(1, Ordering::SeqCst);
        }
        let mut store = self.store.lock().unwrap();
        let Some((user, uses)) = store.tokens.get_mut(&token) else {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "Could not validate credentials",
            ));
        };
        *uses += 1;
        if self.config.token_max_uses.is_some_and(|max| *uses > max) {
            return Err(refuse(StatusCode::UNAUTHORIZED, "Token expired"));
        }
        if via_cookie && write {
            let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
            if csrf != Some(format!("csrf-{token}").as_str()) {
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "CSRF token missing or invalid",
                ));
            }
        }
        Ok(user.clone())
    }
}

async fn health(State(app): State<App>) -> Response {
    app.seen.hit("health");
    let n = app.seen.health_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let env = match app.config.production_after_health_calls {
        Some(after) if n > after => Some("production"),
        _ => app.config.app_env.as_deref(),
    };
    if app
        .config
        .degraded_health_calls
        .as_ref()
        .is_some_and(|r| r.contains(&n))
    {
        let body =
            json!({"status": "degraded", "message": "Database is unavailable", "app_env": env});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let mut body = health_body(env);
    let version = match app.config.version_after_health_calls {
        Some(after) if n > after => "2.0.0",
        _ => "1.0.0",
    };
    let uptime = match app.config.restart_at_health_call {
        Some(at) if n >= at => n - at,
        _ => n,
    };
    if let Value::Object(m) = &mut body {
        m.insert("version".into(), json!(version));
        m.insert("uptime_seconds".into(), json!(uptime));
    }
    Json(body).into_response()
}

async fn login(State(app): State<App>, Json(body): Json<Value>) -> Response {
    app.seen.hit("login");
    let user = body["username"].as_str().unwrap_or_default().to_string();
    let password = body["password"].as_str().unwrap_or_default();
    let expected = user.strip_prefix("user").map(|i| format!("pw-{i}"));
    if expected.as_deref() != Some(password) {
        return err(StatusCode::UNAUTHORIZED, "Incorrect username or password");
    }
    let token = {
        let mut store = app.store.lock().unwrap();
        store.next_id += 1;
        let token = format!("tok-{user}-{}", store.next_id);
        store.tokens.insert(token.clone(), (user.clone(), 0));
        token
    };
    app.seen.logins.lock().unwrap().push(user.clone());
    let cookie = format!("access_token={token}; HttpOnly; Path=/; SameSite=Lax; Max-Age=14400");
    (
        [("set-cookie", cookie)],
        Json(json!({
            "user_id": 1, "username": user, "status": "success", "access_token": token,
            "token_type": "bearer", "expires_in": 14400, "csrf_token": format!("csrf-{token}"),
        })),
    )
        .into_response()
}

async fn create_session(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    app.seen.hit("create_session");
    let user = match app.authenticate(&headers, true, "create_session") {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut store = app.store.lock().unwrap();
    store.next_id += 1;
    let id = store.next_id;
    store.sessions.insert(id, user);
    Json(json!({"id": id, "title": body["title"], "created_at": "2026-01-01T00:00:00Z"}))
        .into_response()
}

async fn list_sessions(State(app): State<App>, headers: HeaderMap) -> Response {
    app.seen.hit("list_sessions");
    match app.authenticate(&headers, false, "list_sessions") {
        Ok(_) => Json(json!({"items": []})).into_response(),
        Err(r) => r,
    }
}

async fn get_session(State(app): State<App>, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    app.seen.hit("get_session");
    let user = match app.authenticate(&headers, false, "get_session") {
        Ok(u) => u,
        Err(r) => return r,
    };
    match app.store.lock().unwrap().sessions.get(&id) {
        Some(owner) if *owner == user => Json(json!({"id": id, "messages": []})).into_response(),
        Some(_) => err(StatusCode::FORBIDDEN, "Not your session"),
        None => err(StatusCode::NOT_FOUND, "Session not found"),
    }
}

async fn chat(State(app): State<App>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    app.seen.hit("chat");
    let user = match app.authenticate(&headers, true, "chat") {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Some(id) = body["session_id"].as_u64() {
        app.seen.chats_with_session.fetch_add(1, Ordering::SeqCst);
        if app.store.lock().unwrap().sessions.get(&id) != Some(&user) {
            return err(StatusCode::FORBIDDEN, "Not your session");
        }
    }
    tokio::time::sleep(app.config.chat_delay).await;
    let content = body["content"].as_str().unwrap_or_default();
    Json(json!({
        "session_id": body["session_id"],
        "user_message": {"id": 1, "content": content, "role": "user"},
        "assistant_message": {"id": 2, "content": format!("You said: {content}{}", "x".repeat(app.config.padding)), "role": "assistant", "metadata": {"sources": []}},
    }))
    .into_response()
}

/// A response body fed from a channel, so the handler controls when each
/// frame leaves (and can break the connection with an error).
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }
}

/// Waits until `deadline` to within tens of microseconds: tokio's timer
/// ticks in whole milliseconds and fires up to ~2 ms late, which would be
/// the server's error, not loadgen's. So: sleep to 2 ms before, then yield
/// until the deadline (a short spin, only in this test server).
async fn sleep_precisely(deadline: tokio::time::Instant) {
    tokio::time::sleep_until(deadline - Duration::from_millis(2)).await;
    while tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

fn frame(event: Value) -> Result<Bytes, std::io::Error> {
    Ok(Bytes::from(format!("data: {event}\n\n")))
}

async fn chat_stream(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let t0 = tokio::time::Instant::now();
    app.seen.hit("chat_stream");
    let user = match app.authenticate(&headers, true, "chat_stream") {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Some(id) = body["session_id"].as_u64() {
        app.seen.chats_with_session.fetch_add(1, Ordering::SeqCst);
        if app.store.lock().unwrap().sessions.get(&id) != Some(&user) {
            return err(StatusCode::FORBIDDEN, "Not your session");
        }
    }
    let script = app.config.stream;
    let n = app.seen.streams.fetch_add(1, Ordering::SeqCst) + 1;
    let ending = match script.failure {
        Some((every, how)) if n % every == 0 => how,
        _ => Ending::Done,
    };
    *app.seen
        .stream_endings
        .lock()
        .unwrap()
        .entry(match ending {
            Ending::Done => "done",
            Ending::ErrorEvent => "error_event",
            Ending::Eof => "eof",
            Ending::Abort => "abort",
        })
        .or_default() += 1;
    let (tx, rx) = mpsc::channel(64);
    let padding = app.config.padding;
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from_static(b": keep-alive\n\n"))).await;
        if padding > 0 {
            let _ = tx
                .send(frame(
                    json!({"type": "token", "token": "x".repeat(padding)}),
                ))
                .await;
        }
        let _ = tx.send(frame(json!({"type": "token", "token": ""}))).await;
        let tokens = if ending == Ending::Done {
            script.tokens
        } else {
            script.tokens / 2
        };
        for i in 0..tokens {
            sleep_precisely(t0 + script.ttft + script.itl * i).await;
            let _ = tx
                .send(frame(json!({"type": "token", "token": format!("tok{i} ")})))
                .await;
        }
        let _ = match ending {
            Ending::Done => {
                tx.send(frame(json!({
                    "type": "done", "session_id": 1, "message_id": 2, "user_message_id": 1,
                    "sources": [],
                    "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5},
                })))
                .await
            }
            Ending::ErrorEvent => {
                tx.send(frame(json!({"type": "error", "message": "The model failed", "code": "provider_error"})))
                    .await
            }
            Ending::Eof => Ok(()),
            Ending::Abort => {
                tx.send(Err(std::io::Error::other("connection lost")))
                    .await
            }
        };
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::new(ChannelBody(rx)))
        .unwrap()
}

/// Starts the fake backend.
pub async fn chat_server(config: Config) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = App {
        config,
        seen: Arc::clone(&seen),
        store: Arc::new(Mutex::new(Store::default())),
    };
    let counted = |name: &'static str| {
        get(move |State(app): State<App>| async move {
            app.seen.hit(name);
            "ok"
        })
    };
    let router = Router::new()
        .route("/api/health", get(health))
        .route("/health", counted("health_probe"))
        .route("/api/stats", counted("stats"))
        .route("/api/metrics", counted("metrics"))
        .route("/api/auth/login-json", post(login))
        .route(
            "/api/chat/sessions",
            post(create_session).get(list_sessions),
        )
        .route("/api/chat/sessions/{id}", get(get_session))
        .route("/api/chat/chat", post(chat))
        .route("/api/chat/stream", post(chat_stream))
        .with_state(app);
    (serve(router).await, seen)
}
