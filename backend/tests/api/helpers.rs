//! A typed client for the tests, providers that fail or record on cue, and
//! stand-in upstreams on loopback for the live provider to talk to.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backend::llm::{Completion, CompletionRequest, LlmProvider, ProviderError};
use backend::testing::{spawn_app, spawn_app_with, TestApp};
use backend::Overrides;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

pub const PASSWORD: &str = "correct-horse-battery";

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn app() -> TestApp {
    spawn_app(&[]).await.expect("spawn app")
}

pub async fn app_with(env: &[(&str, &str)]) -> TestApp {
    spawn_app(env).await.expect("spawn app")
}

/// An app whose provider is the OpenAI-compatible server at `base`
/// (`LLM_PROVIDER=openai`), with `env` on top.
pub async fn openai_app(base: &str, env: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("LLM_PROVIDER", "openai"), ("OPENAI_BASE_URL", base)];
    all.extend_from_slice(env);
    app_with(&all).await
}

pub async fn app_with_provider(env: &[(&str, &str)], llm: Arc<dyn LlmProvider>) -> TestApp {
    spawn_app_with(
        env,
        Overrides {
            llm: Some(llm),
            ..Overrides::default()
        },
    )
    .await
    .expect("spawn app")
}

/// A logged-in user: the bearer token, the cookie and the CSRF token.
#[derive(Clone, Debug)]
pub struct Login {
    pub user_id: i64,
    pub token: String,
    pub csrf: String,
    pub cookie: String,
}

pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, v)
}

/// An unauthenticated GET, answered in JSON.
pub async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    json_of(
        client()
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn post_json(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    json_of(
        client()
            .post(format!("{}{path}", app.base_url))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn register(app: &TestApp, username: &str) -> i64 {
    let (s, v) = post_json(
        app,
        "/api/auth/register",
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

pub async fn login(app: &TestApp, username: &str) -> Login {
    let r = client()
        .post(format!("{}/api/auth/login-json", app.base_url))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("login sets a cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    Login {
        user_id: v["user_id"].as_i64().unwrap(),
        token: v["access_token"].as_str().unwrap().to_owned(),
        csrf: v["csrf_token"].as_str().unwrap().to_owned(),
        cookie,
    }
}

pub async fn user(app: &TestApp, username: &str) -> Login {
    register(app, username).await;
    login(app, username).await
}

/// Bearer-authenticated requests.
pub async fn bearer(
    app: &TestApp,
    who: &Login,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut rb = client()
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(&who.token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    json_of(rb.send().await.unwrap()).await
}

/// A bearer-authenticated JSON POST, its response as it came (for its
/// headers or an event-stream body).
pub async fn post_as(app: &TestApp, who: &Login, path: &str, body: Value) -> Response {
    client()
        .post(format!("{}{path}", app.base_url))
        .bearer_auth(&who.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// One chat turn (`POST /api/chat/chat`) saying `content`.
pub async fn chat_as(app: &TestApp, who: &Login, content: &str) -> (StatusCode, Value) {
    bearer(
        app,
        who,
        reqwest::Method::POST,
        "/api/chat/chat",
        Some(json!({"content": content})),
    )
    .await
}

pub async fn create_session(app: &TestApp, who: &Login, title: &str) -> i64 {
    let (s, v) = bearer(
        app,
        who,
        reqwest::Method::POST,
        "/api/chat/sessions",
        Some(json!({"title": title})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

pub async fn count(app: &TestApp, table: &str) -> i64 {
    count_in(&app.pool, table).await
}

pub async fn count_in(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A provider that sleeps, records each prompt's length, and fails on cue.
pub struct ScriptedLlm {
    pub delay: Duration,
    pub fail_with: Option<ProviderError>,
    pub calls: AtomicUsize,
    pub prompt_lengths: Mutex<Vec<usize>>,
}

impl ScriptedLlm {
    pub fn new(delay: Duration, fail_with: Option<ProviderError>) -> Arc<Self> {
        Arc::new(Self {
            delay,
            fail_with,
            calls: AtomicUsize::new(0),
            prompt_lengths: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl LlmProvider for ScriptedLlm {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn complete(&self, req: CompletionRequest) -> Result<Completion, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.prompt_lengths.lock().unwrap().push(req.messages.len());
        tokio::time::sleep(self.delay).await;
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        Ok(Completion {
            content: format!("reply to {}", req.messages.last().unwrap().content),
            model: "scripted".into(),
            prompt_tokens: 3,
            completion_tokens: 3,
        })
    }
}

/// The Prometheus text of `/metrics`.
pub async fn metrics_text(app: &TestApp) -> String {
    client()
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The JSON payloads of an event-stream body's `data:` frames.
pub fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Serves `router` on a free loopback port, for as long as the test runs.
pub async fn serve_router(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A raw TCP server on a free loopback port: each connection goes to
/// `handle` in a task of its own, so the bytes and their boundaries are the
/// test's, not a framework's.
pub async fn raw_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handle(socket));
        }
    });
    addr
}

/// Reads one HTTP request (head and `content-length` body) off `socket`;
/// its head in lower case, or `None` if the client went away first.
pub async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if buf.len() >= head_end + 4 + length {
            return Some(head);
        }
    }
}
