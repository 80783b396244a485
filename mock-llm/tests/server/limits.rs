//! RPM/TPM budgets and injected faults: 429s, 500s, mid-stream errors, cuts, hangs.

use crate::helpers::*;

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
async fn metrics_give_the_same_counters_in_prometheus_text() {
    within(Duration::from_secs(30), async {
        let mock = Mock::spawn(Config {
            rpm: Some(2),
            ..instant()
        })
        .await;
        for _ in 0..3 {
            mock.post("/v1/chat/completions", &chat("x")).await;
        }
        let r = mock
            .http
            .get(format!("{}/metrics", mock.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let text = r.text().await.unwrap();
        let stats = mock.stats().await;
        for line in [
            "# TYPE mock_llm_requests_total counter".to_string(),
            "mock_llm_requests_total{route=\"chat_completions\"} 3".to_string(),
            "mock_llm_completed_total 2".to_string(),
            "mock_llm_rate_limited_total{reason=\"rpm\"} 1".to_string(),
            "mock_llm_errors_total{kind=\"error_500\"} 0".to_string(),
            format!(
                "mock_llm_tokens_total{{kind=\"completion\"}} {}",
                stats["tokens"]["completion"]
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        mock.stop().await;
    })
    .await;
}
