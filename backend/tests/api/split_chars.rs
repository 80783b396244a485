//! The live provider's stream parser against a provider whose TCP writes cut
//! multi-byte characters in two (or three, or four): what the client is
//! streamed and what is stored must be the characters that were sent, never
//! U+FFFD replacements. A raw TCP server is used instead of axum so that the
//! byte boundaries are ours, not a framework's.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

/// The reply's tokens: 2-byte (é), 3-byte (漢, 字) and 4-byte (🦀, 🎉)
/// characters, some at a token's edge and some inside one.
const TOKENS: [&str; 5] = ["Caf", "é au lait, ", "漢字 ", "and a 🦀", "🎉!"];

/// The SSE body an OpenAI-compatible provider would send for `TOKENS`.
fn sse_body() -> Vec<u8> {
    let mut body = String::new();
    for t in TOKENS {
        let frame = json!({"choices": [{"index": 0, "delta": {"content": t}}]});
        body.push_str(&format!("data: {frame}\n\n"));
    }
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}});
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    body.into_bytes()
}

/// Cuts `body` inside every multi-byte character: after each of its bytes
/// but the last, so a 4-byte emoji arrives in four pieces.
fn pieces(body: &[u8]) -> Vec<&[u8]> {
    let text = std::str::from_utf8(body).unwrap();
    let mut cuts: Vec<usize> = text
        .char_indices()
        .flat_map(|(i, c)| (1..c.len_utf8()).map(move |k| i + k))
        .collect();
    cuts.push(body.len());
    let mut out = Vec::new();
    let mut from = 0;
    for to in cuts {
        out.push(&body[from..to]);
        from = to;
    }
    out
}

/// Serves one streamed completion per connection, each piece its own TCP
/// write, flushed, with a pause so the client reads them one by one.
async fn splitting_provider() -> String {
    let addr = raw_server(|mut socket| async move {
        socket.set_nodelay(true).unwrap();
        let head = read_request(&mut socket)
            .await
            .expect("client closed before sending a request");
        assert!(head.starts_with("post /chat/completions "), "{head}");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    cache-control: no-cache\r\nconnection: close\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.flush().await.unwrap();
        let body = sse_body();
        for piece in pieces(&body) {
            tokio::time::sleep(Duration::from_millis(15)).await;
            socket.write_all(piece).await.unwrap();
            socket.flush().await.unwrap();
        }
        socket.shutdown().await.unwrap();
    })
    .await;
    format!("http://{addr}")
}

#[test]
fn the_pieces_really_cut_characters() {
    let body = sse_body();
    let pieces = pieces(&body);
    assert_eq!(pieces.concat(), body);
    let broken = pieces
        .iter()
        .filter(|p| std::str::from_utf8(p).is_err())
        .count();
    // é (1 cut) + 漢 and 字 (2 each) + 🦀 and 🎉 (3 each) = 11 cuts: 12
    // pieces, each starting or ending mid-character.
    assert_eq!(pieces.len(), 12);
    assert_eq!(broken, 12);
}

#[tokio::test]
async fn characters_split_across_provider_chunks_reach_the_client_and_the_database_whole() {
    let provider = splitting_provider().await;
    let app = openai_app(
        &provider,
        &[("OPENAI_MODEL", "splitter"), ("PROVIDER_MAX_RETRIES", "0")],
    )
    .await;
    let who = user(&app, "polyglot").await;
    let r = post_as(
        &app,
        &who,
        "/api/chat/stream",
        json!({"content": "say something international"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let events = sse_events(&r.text().await.unwrap());
    let streamed: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, TOKENS, "{events:?}");
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done", "{events:?}");
    assert_eq!(done["usage"]["completion_tokens"], 5);

    let sid = done["session_id"].as_i64().unwrap();
    let (s, session) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(session["messages"][1]["role"], "assistant");
    assert_eq!(session["messages"][1]["content"], TOKENS.concat());
}
