//! Shared by the mock-llm tests: a server per test, request builders, and an
//! event-stream reader that sees frames as an SDK would.

pub use std::future::Future;
pub use std::time::{Duration, Instant};

pub use futures::StreamExt as _;
pub use mock_llm::config::Config;
pub use mock_llm::mockmodel::{LoadModel, MockLlmConfig};
pub use mock_llm::serve;
pub use serde_json::{json, Value};
pub use tokio::net::TcpListener;
pub use tokio::sync::oneshot;
pub use tokio::task::JoinHandle;

/// Fails the test instead of hanging it.
pub async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("test exceeded its time bound")
}

pub struct Mock {
    pub base: String,
    pub http: reqwest::Client,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Mock {
    pub async fn spawn(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn stats(&self) -> Value {
        let r = self.http.get(format!("{}/stats", self.base)).send().await;
        r.unwrap().json().await.unwrap()
    }

    /// Signals shutdown and waits for the server to finish draining.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// A model with no waiting, for tests about shapes rather than time.
pub fn instant() -> Config {
    Config {
        llm: MockLlmConfig {
            tokens: 12,
            ..MockLlmConfig::instant(7)
        },
        ..Config::default()
    }
}

pub fn chat(content: &str) -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": content },
    ]})
}

pub fn streaming(mut body: Value, include_usage: bool) -> Value {
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

/// A read event stream: each frame's `data` with when it arrived, and how
/// the body ended (`Some(error)` if the connection broke).
pub struct Sse {
    pub frames: Vec<(Instant, String)>,
    pub broken: Option<String>,
}

impl Sse {
    pub async fn read(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        let mut frames = Vec::new();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            }
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let data = frame.trim_end().strip_prefix("data: ").unwrap().to_owned();
                frames.push((Instant::now(), data));
            }
        }
        assert!(buf.is_empty(), "partial frame left: {buf:?}");
        Self { frames, broken }
    }

    /// Every frame but `[DONE]`, parsed.
    pub fn json(&self) -> Vec<Value> {
        self.frames
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }

    pub fn content_frames(&self) -> Vec<(Instant, String)> {
        self.frames
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .filter_map(|(at, d)| {
                let v: Value = serde_json::from_str(d).unwrap();
                let c = v["choices"][0]["delta"]["content"].as_str()?.to_owned();
                (!c.is_empty()).then_some((*at, c))
            })
            .collect()
    }

    pub fn text(&self) -> String {
        self.content_frames().into_iter().map(|(_, c)| c).collect()
    }

    pub fn done(&self) -> bool {
        self.frames.last().is_some_and(|(_, d)| d == "[DONE]")
    }
}
