//! loadgen's memory caps against targets that send more than them, over
//! real sockets: a kept body stops growing at `http::MAX_KEPT_BODY` (the
//! rest is read, counted, dropped), an SSE line past `MAX_SSE_LINE` is
//! dropped without ending the stream, the guard refuses an oversized health
//! answer, a scrape past its cap is a failure saying why, and a run
//! reports what was cut (`truncated` in summary.json,
//! `responses_truncated` in the text summary).

#![allow(clippy::unwrap_used)]

mod common;

use common::chat::{chat_server, Config};
use common::{run_plan, users_file, validate_summary};
use loadgen::guard::{self, Verdict, MAX_HEALTH_BODY};
use loadgen::http::{Client, Target, MAX_KEPT_BODY};
use loadgen::journey::stream::{SseSink, MAX_SSE_LINE};
use loadgen::scrape::{self, Endpoint, MAX_SCRAPE_BODY};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MIB: usize = 1024 * 1024;

/// Serves every connection once: reads the request head, writes `head`,
/// then `body_len` bytes of `x` in 1 MiB writes, then closes.
async fn raw_server(head: String, body_len: usize) -> Arc<Target> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let head = head.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'x'; MIB];
                let mut left = body_len;
                while left > 0 {
                    let n = left.min(MIB);
                    if socket.write_all(&piece[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    Arc::new(Target::parse(&format!("http://{addr}")).unwrap())
}

#[tokio::test]
async fn a_body_past_the_kept_cap_is_read_whole_but_kept_only_to_the_cap() {
    let len = MAX_KEPT_BODY + 4 * MIB + 17;
    let target = raw_server(
        format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n"),
        len,
    )
    .await;
    let mut client = Client::new(target, Duration::from_secs(30));
    let ex = client
        .send(hyper::Method::GET, "/", &[], None, MAX_KEPT_BODY)
        .await;
    let reply = ex.result.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), MAX_KEPT_BODY);
    assert_eq!(ex.cut, (len - MAX_KEPT_BODY) as u64);
    assert!(ex.bytes_received >= len as u64, "{}", ex.bytes_received);
}

#[tokio::test]
async fn a_body_that_breaks_past_the_cap_still_reports_what_was_cut() {
    // Promises more than it sends, then closes: the body breaks (`io`),
    // and the bytes dropped before that are still counted.
    let sent = MAX_KEPT_BODY + 2 * MIB;
    let target = raw_server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            64 * MAX_KEPT_BODY
        ),
        sent,
    )
    .await;
    let mut client = Client::new(target, Duration::from_secs(30));
    let ex = client
        .send(hyper::Method::GET, "/", &[], None, MAX_KEPT_BODY)
        .await;
    assert_eq!(ex.result.unwrap_err(), "io");
    assert_eq!(ex.cut, (sent - MAX_KEPT_BODY) as u64);
}

#[tokio::test]
async fn an_sse_line_past_its_cap_is_dropped_and_the_stream_still_reads_to_done() {
    let long = MAX_SSE_LINE + MIB;
    let mut body = String::from(": keep-alive\n\n");
    body.push_str(&format!(
        "data: {{\"type\":\"token\",\"token\":\"{}\"}}\n\n",
        "y".repeat(long)
    ));
    for i in 0..3 {
        body.push_str(&format!(
            "data: {{\"type\":\"token\",\"token\":\"t{i}\"}}\n\n"
        ));
    }
    body.push_str("data: {\"type\":\"done\",\"usage\":{\"completion_tokens\":3}}\n\n");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body_len = body.len();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await.unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {body_len}\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        // Small writes, so the long line arrives over many reads.
        for piece in body.as_bytes().chunks(16 * 1024) {
            socket.write_all(piece).await.unwrap();
        }
        let _ = socket.shutdown().await;
    });
    let target = Arc::new(Target::parse(&format!("http://{addr}")).unwrap());
    let mut client = Client::new(target, Duration::from_secs(30));
    let mut sink = SseSink::default();
    let ex = client
        .send_to(hyper::Method::POST, "/", &[], None, &mut sink)
        .await;
    assert_eq!(ex.result.unwrap().status, 200);
    assert_eq!(sink.content_at.len(), 3, "the long event is dropped");
    assert_eq!(sink.end.map(|e| e.0), Some(loadgen::stats::StreamEnd::Done));
    assert_eq!(sink.completion_tokens, Some(3));
    // Everything of the long event's line was dropped, nothing else.
    let line = format!(
        "data: {{\"type\":\"token\",\"token\":\"{}\"}}",
        "y".repeat(long)
    );
    assert_eq!(sink.cut, line.len() as u64);
    assert_eq!(ex.cut, sink.cut);
}

#[tokio::test]
async fn the_guard_refuses_a_health_answer_past_its_cap() {
    let len = MAX_HEALTH_BODY + 1;
    let target = raw_server(
        format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n"),
        len,
    )
    .await;
    match guard::check(target, "/api/health", Duration::from_secs(10)).await {
        Verdict::NotTest(why) => assert!(why.contains("body over 64 KiB"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_metrics_answer_past_the_scrape_cap_is_a_failed_scrape_saying_why() {
    let len = MAX_SCRAPE_BODY + 1;
    let target = raw_server(
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n"),
        len,
    )
    .await;
    let url = format!("{}/metrics", target.display());
    let endpoint = Endpoint::parse(&url, true).unwrap();
    let prepared = scrape::prepare(vec![endpoint], Duration::from_secs(1))
        .await
        .unwrap();
    let series = prepared.start(tokio::time::Instant::now()).finish().await;
    let t = &series.targets[0];
    assert!(t.scrapes >= 2, "{t:?}");
    assert_eq!(t.failures, t.scrapes, "{t:?}");
    let why = t.last_error.as_deref().unwrap_or_default();
    assert!(why.contains("scrape cap"), "{why}");
}

fn plan(base: &str, users: &std::path::Path, extra: &[&str]) -> loadgen::plan::RunPlan {
    let mut argv = vec![
        "--base-url",
        base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "1",
        "--duration",
        "600ms",
        "--think",
        "50ms",
        "--login",
        "once",
    ];
    argv.extend_from_slice(extra);
    run_plan(&argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_counts_chat_replies_cut_at_the_cap_and_the_summary_shows_them() {
    let (addr, seen) = chat_server(Config {
        padding: MAX_KEPT_BODY + MIB,
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 1);
    let report = loadgen::app::run(plan(&format!("http://{addr}"), &users, &[]))
        .await
        .unwrap();
    let chats = seen.count("chat");
    assert!(chats >= 1);
    let t = report.aggregate.truncated;
    // Every reply was cut (and nothing else), by at least the padding past the cap.
    assert_eq!(t.responses, chats, "{t:?}");
    assert!(t.bytes >= chats * MIB as u64, "{t:?}");
    // A cut reply is not JSON: the reply check fails, the status is still 200.
    let c = report
        .aggregate
        .checks_where(|k| &*k.name == "assistant reply is not empty");
    assert_eq!((c.passes, c.fails), (0, chats));
    let text = loadgen::summary::render(&report);
    assert!(text.contains("responses_truncated"), "{text}");
    let json = loadgen::export::to_json(&report).unwrap();
    validate_summary(&json);
    assert_eq!(json["truncated"]["responses"], chats);
    assert_eq!(json["truncated"]["bytes"], t.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_token_line_past_its_cap_is_counted_and_the_turns_still_complete() {
    let (addr, seen) = chat_server(Config {
        padding: MAX_SSE_LINE + 1024,
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), 1);
    let report = loadgen::app::run(plan(&format!("http://{addr}"), &users, &["--stream"]))
        .await
        .unwrap();
    let streams = seen.count("chat_stream");
    assert!(streams >= 1);
    let s = report.aggregate.streams_where(|_| true);
    assert_eq!(s.failed(), 0);
    // The oversized token is dropped; the 8 scheduled ones are timed. A
    // stream still running when the run ends may be cut short, so at most.
    assert!(s.tokens <= 8 * s.streams && s.tokens >= 8, "{}", s.tokens);
    assert_eq!(report.aggregate.truncated.responses, s.streams);
    let text = loadgen::summary::render(&report);
    assert!(text.contains("responses_truncated"), "{text}");
    let clean = loadgen::summary::render(&{
        let mut r = report.clone();
        r.aggregate.truncated = Default::default();
        r
    });
    assert!(!clean.contains("responses_truncated"), "{clean}");
}
