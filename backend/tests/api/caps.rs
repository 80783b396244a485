//! The live provider against upstreams that send more than the backend's
//! caps, over real sockets (a raw TCP server, so the sizes and the byte
//! boundaries are ours): a completion body past `MAX_COMPLETION_BODY`, an
//! SSE line that never ends, a streamed reply past `MAX_REPLY_BYTES`, an
//! error body past `MAX_ERROR_BODY`. Each is answered clearly (a 502 with the
//! JSON error shape, or an error event), nothing is stored, and the metrics
//! count the cut.

use backend::llm::openai::{MAX_COMPLETION_BODY, MAX_ERROR_BODY};
use backend::llm::sse::MAX_SSE_LINE;
use backend::llm::MAX_REPLY_BYTES;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

/// What the upstream sends after reading a request.
#[derive(Clone, Copy)]
enum Script {
    /// 200 with a completion whose content is this many bytes.
    Completion(usize),
    /// 200 `text/event-stream`, then `data: xxxx...` without end.
    EndlessLine,
    /// 200 `text/event-stream`: this many token frames of this many bytes
    /// each, then `[DONE]`.
    Tokens(usize, usize),
    /// 400 with a body of this many bytes.
    ErrorBody(usize),
}

/// Writes `bytes` in 64 KiB pieces; false once the client has gone.
async fn send(socket: &mut TcpStream, bytes: &[u8]) -> bool {
    for piece in bytes.chunks(64 * 1024) {
        if socket.write_all(piece).await.is_err() {
            return false;
        }
    }
    true
}

async fn serve(mut socket: TcpStream, script: Script) {
    if read_request(&mut socket).await.is_none() {
        return;
    }
    let sse_head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    match script {
        Script::Completion(len) => {
            let body = json!({
                "model": "big",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(len)}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            })
            .to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = send(&mut socket, head.as_bytes()).await
                && send(&mut socket, body.as_bytes()).await;
        }
        Script::EndlessLine => {
            if !send(&mut socket, sse_head.as_bytes()).await || !send(&mut socket, b"data: ").await
            {
                return;
            }
            let piece = vec![b'x'; 64 * 1024];
            // Until the backend hangs up (or far past any cap).
            for _ in 0..1024 {
                if !send(&mut socket, &piece).await {
                    return;
                }
            }
        }
        Script::Tokens(n, size) => {
            if !send(&mut socket, sse_head.as_bytes()).await {
                return;
            }
            let token = "y".repeat(size);
            for _ in 0..n {
                let frame = json!({"choices": [{"index": 0, "delta": {"content": token}}]});
                if !send(&mut socket, format!("data: {frame}\n\n").as_bytes()).await {
                    return;
                }
            }
            let _ = send(&mut socket, b"data: [DONE]\n\n").await;
        }
        Script::ErrorBody(len) => {
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
            );
            let _ = send(&mut socket, head.as_bytes()).await
                && send(&mut socket, &vec![b'e'; len]).await;
        }
    }
    let _ = socket.shutdown().await;
}

async fn app_against(script: Script) -> backend::testing::TestApp {
    let addr = raw_server(move |socket| serve(socket, script)).await;
    openai_app(
        &format!("http://{addr}"),
        &[("OPENAI_MODEL", "big"), ("PROVIDER_MAX_RETRIES", "0")],
    )
    .await
}

/// The value of the metric line starting with `prefix` (0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn stream_events(app: &backend::testing::TestApp, who: &Login) -> Vec<serde_json::Value> {
    let r = post_as(
        app,
        who,
        "/api/chat/stream",
        json!({"content": "tell me everything"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    sse_events(&r.text().await.unwrap())
}

#[tokio::test]
async fn a_completion_body_past_its_cap_is_a_502_and_nothing_is_stored() {
    let app = app_against(Script::Completion(MAX_COMPLETION_BODY)).await;
    let who = user(&app, "flooded").await;
    let (s, v) = chat_as(&app, &who, "tell me everything").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["code"], "provider_reply_too_large", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("nothing was stored"));
    assert_eq!(count(&app, "messages").await, 0);
    let m = metrics_text(&app).await;
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_oversized_total{limit="completion_body",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
    // Everything read was dropped: at least the cap itself.
    assert!(
        metric(&m, r#"chatbot_provider_bytes_cut_total{provider="openai"}"#)
            > MAX_COMPLETION_BODY as f64
    );
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_errors_total{kind="too_large",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test]
async fn a_whole_reply_past_the_reply_cap_is_a_502() {
    let app = app_against(Script::Completion(MAX_REPLY_BYTES + 1)).await;
    let who = user(&app, "verbose").await;
    let (s, v) = chat_as(&app, &who, "tell me everything").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["code"], "provider_reply_too_large", "{v}");
    assert_eq!(count(&app, "messages").await, 0);
    let m = metrics_text(&app).await;
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_oversized_total{limit="reply",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test]
async fn an_sse_line_without_end_ends_the_stream_with_an_error_event() {
    let app = app_against(Script::EndlessLine).await;
    let who = user(&app, "endless").await;
    let events = stream_events(&app, &who).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{events:?}");
    assert_eq!(last["code"], "too_large", "{events:?}");
    assert_eq!(count(&app, "messages").await, 0);
    let m = metrics_text(&app).await;
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_oversized_total{limit="sse_line",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
    let cut = metric(&m, r#"chatbot_provider_bytes_cut_total{provider="openai"}"#);
    assert!(cut > MAX_SSE_LINE as f64, "{cut}");
}

#[tokio::test]
async fn a_streamed_reply_past_the_reply_cap_ends_with_an_error_event_not_a_stored_turn() {
    // Tokens of 200 KiB (each line within the SSE caps), 21 of them: 4.1 MiB.
    let size = 200 * 1024;
    let n = MAX_REPLY_BYTES / size + 1;
    let app = app_against(Script::Tokens(n, size)).await;
    let who = user(&app, "chatty").await;
    let events = stream_events(&app, &who).await;
    let tokens = events.iter().filter(|e| e["type"] == "token").count();
    assert_eq!(
        tokens,
        MAX_REPLY_BYTES / size,
        "all the tokens within the cap"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{:?}", last);
    assert_eq!(last["code"], "too_large");
    assert_eq!(count(&app, "messages").await, 0);
    let m = metrics_text(&app).await;
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_oversized_total{limit="reply",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test]
async fn an_error_body_past_its_cap_is_left_unread_and_the_status_still_answers() {
    let app = app_against(Script::ErrorBody(MAX_ERROR_BODY * 16)).await;
    let who = user(&app, "refused").await;
    let (s, v) = chat_as(&app, &who, "tell me everything").await;
    // A 400 from the provider is our request's fault: 502 provider_error, as before.
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["code"], "provider_error", "{v}");
    let m = metrics_text(&app).await;
    assert_eq!(
        metric(
            &m,
            r#"chatbot_provider_oversized_total{limit="error_body",provider="openai"}"#
        ),
        1.0,
        "{m}"
    );
}
