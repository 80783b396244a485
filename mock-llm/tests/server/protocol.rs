//! The OpenAI wire format: whole and streamed replies, usage, the schedule.

use crate::helpers::*;

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
                tokens_spread: 0.0,
                error_rate: 0.0,
                rate_429: 0.0,
                load: LoadModel::default(),
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
