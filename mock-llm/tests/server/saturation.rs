//! The serving-engine model over real sockets: prefill grows the time to
//! first token with the prompt, decode slows as the batch fills, a full
//! batch queues and a full queue refuses with 429 and `Retry-After`, a
//! dropped client frees its place, and `/metrics` shows it all under vLLM's
//! names. Timings are short so each test runs in about a second.

use super::helpers::*;

fn engine(llm: MockLlmConfig) -> Config {
    Config {
        llm,
        ..Config::default()
    }
}

fn model(ttft_ms: u64, itl_ms: u64, tokens: u32, load: LoadModel) -> MockLlmConfig {
    MockLlmConfig {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
        jitter: 0.0,
        tokens,
        load,
        ..MockLlmConfig::instant(3)
    }
}

/// A prompt of about `tokens` tokens (four characters each), unique per `tag`.
fn prompt(tag: &str, tokens: usize) -> Value {
    chat(&format!("{tag} {}", "abcd".repeat(tokens)))
}

/// Streams `body`; returns the time to the first content frame, the gaps
/// between content frames, and the usage's prompt tokens.
async fn timed(mock: &Mock, body: &Value) -> (Duration, Vec<Duration>, u64) {
    let sent = Instant::now();
    let resp = mock
        .post("/v1/chat/completions", &streaming(body.clone(), true))
        .await;
    let sse = Sse::read(resp).await;
    assert!(sse.done());
    let content = sse.content_frames();
    let gaps = content.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let usage = sse.json().last().unwrap()["usage"]["prompt_tokens"]
        .as_u64()
        .unwrap();
    (content[0].0 - sent, gaps, usage)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_rises_linearly_with_prompt_tokens_as_configured() {
    within(Duration::from_secs(30), async {
        let load = LoadModel {
            prefill_per_token: Duration::from_micros(1000),
            ..LoadModel::default()
        };
        let mock = Mock::spawn(engine(model(20, 1, 3, load))).await;
        mock.stats().await; // warm the connection
        let mut points = Vec::new();
        for (i, size) in [10usize, 110, 210, 310].into_iter().enumerate() {
            let (ttft, _, prompt_tokens) = timed(&mock, &prompt(&format!("p{i}"), size)).await;
            // 20 ms overhead + 1 ms per prompt token, as the usage counts them.
            let expected = Duration::from_millis(20 + prompt_tokens);
            assert!(
                ttft >= expected && ttft < expected + Duration::from_millis(15),
                "{prompt_tokens} tokens: ttft {ttft:?}, expected {expected:?}"
            );
            points.push((prompt_tokens as f64, ttft.as_secs_f64() * 1000.0));
        }
        // The slope between the extremes is the configured prefill (1 ms/token).
        let (first, last) = (points[0], points[points.len() - 1]);
        let slope = (last.1 - first.1) / (last.0 - first.0);
        assert!(
            (0.95..=1.05).contains(&slope),
            "slope {slope} ms/token: {points:?}"
        );
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itl_at_full_batch_is_the_load_factor_times_itl_at_batch_one() {
    within(Duration::from_secs(30), async {
        let load = LoadModel {
            max_num_seqs: 4,
            load_factor: 2.0,
            ..LoadModel::default()
        };
        let mock = Mock::spawn(engine(model(10, 20, 20, load))).await;
        mock.stats().await;
        let (_, alone, _) = timed(&mock, &prompt("alone", 4)).await;
        let batch1 = median(alone);
        let full = futures::future::join_all((0..4).map(|i| {
            let body = prompt(&format!("full {i}"), 4);
            let mock = &mock;
            async move { timed(mock, &body).await.1 }
        }))
        .await;
        let full = median(full.into_iter().flatten().collect());
        let ratio = full.as_secs_f64() / batch1.as_secs_f64();
        assert!(
            (ratio - 2.0).abs() <= 0.1,
            "ITL batch 1 {batch1:?}, full batch {full:?}: ratio {ratio}"
        );
        mock.stop().await;
    })
    .await;
}

async fn wait_for_batch(mock: &Mock, running: u64, waiting: u64) {
    within(Duration::from_secs(5), async {
        loop {
            let b = mock.stats().await["batch"].clone();
            if b["running"] == running && b["waiting"] == waiting {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

fn gauge(metrics: &str, name: &str) -> String {
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_batch_and_queue_the_next_request_gets_429_with_retry_after() {
    within(Duration::from_secs(30), async {
        let (n, q) = (2, 3);
        let load = LoadModel {
            max_num_seqs: n,
            max_waiting: q,
            load_factor: 2.0,
            ..LoadModel::default()
        };
        // Replies far longer than the test: the batch stays full until the
        // clients go away.
        let mock = Mock::spawn(engine(model(20_000, 10, 5, load))).await;
        let base = mock.base.clone();
        let clients: Vec<_> = (0..n + q)
            .map(|i| {
                let base = base.clone();
                tokio::spawn(async move {
                    let body = streaming(prompt(&format!("c{i}"), 4), false);
                    let resp = reqwest::Client::new()
                        .post(format!("{base}/v1/chat/completions"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    // Hold the stream open.
                    resp.bytes().await.ok()
                })
            })
            .collect();
        wait_for_batch(&mock, u64::from(n), u64::from(q)).await;
        let metrics = mock
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(gauge(&metrics, "vllm:num_requests_running"), "2");
        assert_eq!(gauge(&metrics, "vllm:num_requests_waiting"), "3");

        // The (N+Q+1)-th.
        let resp = mock
            .post("/v1/chat/completions", &prompt("one too many", 4))
            .await;
        assert_eq!(resp.status(), 429);
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // One mean request at a full batch: 20 s + 5 x 10 ms x 2.
        assert_eq!(retry, 21);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(mock.stats().await["rate_limited"]["queue_full"], 1);

        // Clients that go away free their slots and their places in the queue.
        for c in &clients {
            c.abort();
        }
        wait_for_batch(&mock, 0, 0).await;
        let later = streaming(prompt("later", 4), false);
        let resp = mock.post("/v1/chat/completions", &later);
        let resp = tokio::time::timeout(Duration::from_secs(2), resp).await;
        assert_eq!(resp.unwrap().status(), 200, "a freed slot is usable");
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_beyond_the_batch_waits_and_its_wait_counts_in_ttft() {
    within(Duration::from_secs(30), async {
        let load = LoadModel {
            max_num_seqs: 1,
            ..LoadModel::default()
        };
        // One slot; each reply takes 30 + 4 x 10 = 70 ms.
        let mock = Mock::spawn(engine(model(30, 10, 5, load))).await;
        mock.stats().await;
        let first = prompt("first", 4);
        let (a, b) = tokio::join!(timed(&mock, &first), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            timed(&mock, &prompt("second", 4)).await
        });
        assert!(a.0 < Duration::from_millis(50), "first ttft {:?}", a.0);
        // The second waits for the first (~65 ms left), then its own 30 ms.
        assert!(
            b.0 >= Duration::from_millis(90) && b.0 < Duration::from_millis(140),
            "second ttft {:?}",
            b.0
        );
        mock.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_vllm_names_and_count_requests() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(engine(model(5, 2, 6, LoadModel::default()))).await;
        for i in 0..3 {
            timed(&mock, &prompt(&format!("m{i}"), 4)).await;
        }
        let r = mock.post("/v1/chat/completions", &prompt("whole", 4)).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        let resp = mock
            .http
            .get(format!("{}/metrics", mock.base))
            .send()
            .await
            .unwrap();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain"), "{ct}");
        let text = resp.text().await.unwrap();
        assert_eq!(gauge(&text, "vllm:num_requests_running"), "0");
        assert_eq!(gauge(&text, "vllm:num_requests_waiting"), "0");
        assert_eq!(gauge(&text, "vllm:time_to_first_token_seconds_count"), "4");
        assert_eq!(gauge(&text, "vllm:e2e_request_latency_seconds_count"), "4");
        // Six tokens a reply: five gaps each.
        assert_eq!(gauge(&text, "vllm:inter_token_latency_seconds_count"), "20");
        assert_eq!(gauge(&text, "vllm:generation_tokens_total"), "24");
        for name in [
            "# TYPE vllm:time_to_first_token_seconds histogram",
            "vllm:inter_token_latency_seconds_bucket{model_name=\"mock-llm\",le=\"0.01\"}",
            "vllm:e2e_request_latency_seconds_bucket{model_name=\"mock-llm\",le=\"+Inf\"} 4",
            "vllm:request_queue_time_seconds_count",
            // The existing families stay.
            "mock_llm_requests_total{route=\"chat_completions\"} 4",
            "mock_llm_rate_limited_total{reason=\"queue_full\"} 0",
        ] {
            assert!(text.contains(name), "{name}: {text}");
        }
        mock.stop().await;
    })
    .await;
}
