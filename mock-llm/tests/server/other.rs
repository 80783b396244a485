//! Models, embeddings and malformed requests.

use crate::helpers::*;

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
