//! Black-box tests of `mock-llm` over real sockets: each test serves its own
//! instance on 127.0.0.1:0 and drives it with a plain HTTP client, reading the
//! event stream frame by frame as an SDK would. Every test is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use backend::llm::MockLlmConfig;
use backend::mock_server::{serve, Config};
use futures::StreamExt as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Fails the test instead of hanging it.
async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("test exceeded its time bound")
}

struct Mock {
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Mock {
    async fn spawn(config: Config) -> Self {
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

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn stats(&self) -> Value {
        let r = self.http.get(format!("{}/stats", self.base)).send().await;
        r.unwrap().json().await.unwrap()
    }

    /// Signals shutdown and waits for the server to finish draining.
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// A model with no waiting, for tests about shapes rather than time.
fn instant() -> Config {
    Config {
        llm: MockLlmConfig {
            tokens: 12,
            ..MockLlmConfig::instant(7)
        },
        ..Config::default()
    }
}

fn chat(content: &str) -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": content },
    ]})
}

fn streaming(mut body: Value, include_usage: bool) -> Value {
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

/// A read event stream: each frame's `data` with when it arrived, and how
/// the body ended (`Some(error)` if the connection broke).
struct Sse {
    frames: Vec<(Instant, String)>,
    broken: Option<String>,
}

impl Sse {
    async fn read(resp: reqwest::Response) -> Self {
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
    fn json(&self) -> Vec<Value> {
        self.frames
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn content_frames(&self) -> Vec<(Instant, String)> {
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

    fn text(&self) -> String {
        self.content_frames().into_iter().map(|(_, c)| c).collect()
    }

    fn done(&self) -> bool {
        self.frames.last().is_some_and(|(_, d)| d == "[DONE]")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_completion_has_the_openai_shape_and_usage() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(instant()).await;
        let resp = mock.post("/v1/chat/completions", &chat("Hello")).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(v["object"], "chat.completion");
        assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(v["model"], "gpt-4o-mini");
        let choice = &v["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
        assert_eq!(choice["finish_reason"], "stop");
        let u = &v["usage"];
        assert_eq!(u["completion_tokens"], 12);
        assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + 12
        );

        // max_tokens cuts the reply and says so.
        let mut capped = chat("Hello");
        capped["max_tokens"] = json!(3);
        let v: Value = mock
            .post("/v1/chat/completions", &capped)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["usage"]["completion_tokens"], 3);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_gets_the_same_reply_streamed_or_whole() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(instant()).await;
        let whole = |body: Value| {
            let mock = &mock;
            async move {
                let v: Value = mock
                    .post("/v1/chat/completions", &body)
                    .await
                    .json()
                    .await
                    .unwrap();
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let text = whole(chat("What is a p99?")).await;
        assert_eq!(text, whole(chat("What is a p99?")).await);
        assert_ne!(text, whole(chat("What is a p95?")).await);
        let mut seeded = chat("What is a p99?");
        seeded["seed"] = json!(1234);
        assert_ne!(
            text,
            whole(seeded).await,
            "the request's seed is part of the key"
        );

        let sse = Sse::read(
            mock.post(
                "/v1/chat/completions",
                &streaming(chat("What is a p99?"), false),
            )
            .await,
        )
        .await;
        assert_eq!(sse.text(), text);
        assert!(sse.done(), "[DONE] ends the stream");
        assert!(sse.broken.is_none());
        let chunks = sse.json();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
        for c in &chunks {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["id"], chunks[0]["id"]);
            assert!(c.get("usage").is_none(), "no usage without include_usage");
            assert_eq!(c["choices"].as_array().unwrap().len(), 1);
        }
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["choices"][0]["delta"], json!({}));
        // role chunk + 12 tokens + finish chunk
        assert_eq!(chunks.len(), 14);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_usage_adds_a_usage_chunk_just_before_done() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(instant()).await;
        let sse = Sse::read(
            mock.post("/v1/chat/completions", &streaming(chat("Hi"), true))
                .await,
        )
        .await;
        assert!(sse.done());
        let chunks = sse.json();
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 12);
        let whole: Value = mock
            .post("/v1/chat/completions", &chat("Hi"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(usage["usage"], whole["usage"]);
        // Every other chunk carries `"usage": null`, as OpenAI's do.
        for c in &chunks[..chunks.len() - 1] {
            assert_eq!(c["usage"], Value::Null);
            assert!(c.get("usage").is_some());
        }
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_arrive_on_the_schedule() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            llm: MockLlmConfig {
                seed: 1,
                ttft: Duration::from_millis(50),
                itl: Duration::from_millis(10),
                jitter: 0.0,
                tokens: 30,
                error_rate: 0.0,
                rate_429: 0.0,
            },
            ..Config::default()
        })
        .await;
        // Warm the connection pool so the measurement excludes the handshake.
        mock.stats().await;
        let sent = Instant::now();
        let resp = mock
            .post("/v1/chat/completions", &streaming(chat("time me"), false))
            .await;
        let sse = Sse::read(resp).await;
        let content = sse.content_frames();
        assert_eq!(content.len(), 30);
        let ttft = content[0].0 - sent;
        assert!(
            ttft >= Duration::from_millis(48) && ttft < Duration::from_millis(90),
            "ttft {ttft:?}"
        );
        let mut gaps: Vec<Duration> = content.windows(2).map(|w| w[1].0 - w[0].0).collect();
        gaps.sort();
        let p50 = gaps[gaps.len() / 2];
        assert!(
            p50 >= Duration::from_millis(7) && p50 <= Duration::from_millis(13),
            "p50 gap {p50:?} of {gaps:?}"
        );
        let total = content.last().unwrap().0 - sent;
        assert!(total >= Duration::from_millis(50 + 29 * 10), "{total:?}");
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_answers_429_with_retry_after() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            rpm: Some(2),
            ..instant()
        })
        .await;
        for _ in 0..2 {
            let r = mock.post("/v1/chat/completions", &chat("x")).await;
            assert_eq!(r.status(), 200);
        }
        let r = mock.post("/v1/chat/completions", &chat("x")).await;
        assert_eq!(r.status(), 429);
        let secs: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let ms: u64 = r.headers()["retry-after-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
        assert!(ms > 55_000 && ms <= 60_000, "retry-after-ms {ms}");
        assert_eq!(secs, ms.div_ceil(1000));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert!(body["error"]["message"].as_str().unwrap().contains("retry"));

        let stats = mock.stats().await;
        assert_eq!(stats["chat_completions"], 3);
        assert_eq!(stats["completed"], 2);
        assert_eq!(stats["rate_limited"]["rpm"], 1);
        assert_eq!(stats["rate_limited"]["total"], 1);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_budget_counts_max_tokens_up_front() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            tpm: Some(100),
            ..instant()
        })
        .await;
        let mut big = chat("x");
        big["max_tokens"] = json!(80);
        let r = mock.post("/v1/chat/completions", &big).await;
        assert_eq!(r.status(), 200);
        let r = mock.post("/v1/chat/completions", &big).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after-ms"));
        assert_eq!(mock.stats().await["rate_limited"]["tpm"], 1);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_500s_and_429s_are_openai_errors_and_counted() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            llm: MockLlmConfig {
                error_rate: 1.0,
                ..instant().llm
            },
            ..instant()
        })
        .await;
        let r = mock.post("/v1/chat/completions", &chat("x")).await;
        assert_eq!(r.status(), 500);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");
        assert_eq!(mock.stats().await["faults"]["error_500"], 1);
        mock.stop().await;

        let mock = Mock::spawn(Config {
            llm: MockLlmConfig {
                rate_429: 1.0,
                ..instant().llm
            },
            ..instant()
        })
        .await;
        for _ in 0..3 {
            let r = mock.post("/v1/chat/completions", &chat("x")).await;
            assert_eq!(r.status(), 429);
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(r.headers()["retry-after-ms"], "1000");
        }
        let stats = mock.stats().await;
        assert_eq!(stats["faults"]["rate_429"], 3);
        assert_eq!(stats["rate_limited"]["injected"], 3);
        assert_eq!(stats["completed"], 0);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_midstream_error_event_follows_half_the_tokens() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            midstream_error_rate: 1.0,
            ..instant()
        })
        .await;
        let sse = Sse::read(
            mock.post("/v1/chat/completions", &streaming(chat("x"), true))
                .await,
        )
        .await;
        assert_eq!(sse.content_frames().len(), 6);
        assert!(!sse.done());
        let last = sse.json().pop().unwrap();
        assert_eq!(last["error"]["type"], "server_error");
        assert!(last["error"]["message"].is_string());
        assert_eq!(mock.stats().await["faults"]["midstream_error"], 1);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_breaks_off_after_half_the_tokens_without_done() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            cut_rate: 1.0,
            ..instant()
        })
        .await;
        let sse = Sse::read(
            mock.post("/v1/chat/completions", &streaming(chat("x"), false))
                .await,
        )
        .await;
        assert_eq!(sse.content_frames().len(), 6);
        assert!(!sse.done());
        assert!(sse.broken.is_some(), "the connection drops mid-body");
        let stats = mock.stats().await;
        assert_eq!(stats["faults"]["cut"], 1);
        assert_eq!(stats["completed"], 0);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_outlasts_the_client_and_shutdown_releases_it() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            hang_rate: 1.0,
            ..instant()
        })
        .await;
        let gave_up = mock
            .http
            .post(format!("{}/v1/chat/completions", mock.base))
            .json(&chat("x"))
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(gave_up.unwrap_err().is_timeout());
        // A second, patient client is released (504) by shutdown instead of
        // holding the drain for ten minutes.
        let patient = {
            let http = mock.http.clone();
            let url = format!("{}/v1/chat/completions", mock.base);
            tokio::spawn(async move { http.post(url).json(&chat("y")).send().await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(mock.stats().await["faults"]["hang"], 2);
        let stopping = Instant::now();
        mock.stop().await;
        assert!(stopping.elapsed() < Duration::from_secs(5));
        assert_eq!(patient.await.unwrap().unwrap().status(), 504);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_configured_model() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            model: "bench-model".into(),
            ..instant()
        })
        .await;
        let v: Value = mock
            .http
            .get(format!("{}/v1/models", mock.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["id"], "bench-model");
        assert_eq!(v["data"][0]["object"], "model");
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_deterministic_unit_vectors() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(instant()).await;
        let embed = |input: Value, extra: Value| {
            let mock = &mock;
            async move {
                let mut body = json!({ "model": "text-embedding-3-small", "input": input });
                body.as_object_mut()
                    .unwrap()
                    .extend(extra.as_object().unwrap().clone());
                let r = mock.post("/v1/embeddings", &body).await;
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            }
        };
        // JSON carries the f32s in their shortest form: compare as f32.
        let vector = |v: &Value| -> Vec<f32> {
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let one = embed(json!("postgres pool"), json!({})).await;
        assert_eq!(one["object"], "list");
        assert_eq!(one["data"][0]["object"], "embedding");
        assert!(one["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        let a = vector(&one["data"][0]);
        assert_eq!(a.len(), 384);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");

        let many = embed(json!(["postgres pool", "tokio runtime"]), json!({})).await;
        assert_eq!(many["data"][1]["index"], 1);
        assert_eq!(vector(&many["data"][0]), a, "same text, same vector");
        assert_ne!(vector(&many["data"][1]), a);

        let small = embed(json!("postgres pool"), json!({ "dimensions": 8 })).await;
        assert_eq!(vector(&small["data"][0]).len(), 8);

        // base64 (the Python SDK's default) is the same vector as f32s.
        let b64 = embed(
            json!("postgres pool"),
            json!({ "encoding_format": "base64" }),
        )
        .await;
        let s = b64["data"][0]["embedding"].as_str().unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, a);
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_shaped_400s() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(instant()).await;
        let cases = [
            ("/v1/chat/completions", json!({}), "messages"),
            (
                "/v1/chat/completions",
                json!({ "messages": [] }),
                "at least one",
            ),
            (
                "/v1/chat/completions",
                json!({ "messages": [{ "role": "robot", "content": "x" }] }),
                "role",
            ),
            (
                "/v1/chat/completions",
                json!({ "messages": [{ "role": "user", "content": "x" }], "max_tokens": 0 }),
                "max_tokens",
            ),
            ("/v1/embeddings", json!({ "input": 3 }), "input"),
            ("/v1/embeddings", json!({ "input": [] }), "empty"),
        ];
        for (path, body, needle) in cases {
            let r = mock.post(path, &body).await;
            assert_eq!(r.status(), 400, "{body}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["type"], "invalid_request_error", "{body}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(needle), "{body}: {message}");
        }
        let r = mock.post("/v1/nowhere", &json!({})).await;
        assert_eq!(r.status(), 404);
        assert_eq!(mock.stats().await["bad_requests"], 6);
        mock.stop().await;
    })
    .await;
}
