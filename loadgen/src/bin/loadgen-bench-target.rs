//! `loadgen-bench-target`: the tiny HTTP/1.1 server `scripts/bench-loadgen.sh`
//! and `scripts/bench-journey.sh` point loadgen, wrk, oha, k6 and Locust at,
//! so that the load tools (not the target) are what is measured.
//!
//! It answers on keep-alive connections, on one thread (pin it to its own
//! core with `taskset`), and handles pipelined requests and `Content-Length`
//! request bodies. It is deliberately not a general server: no chunked
//! request bodies, no `Connection: close`. It only listens on loopback
//! unless told otherwise. Every answer is a constant or a cheap format, so
//! its cost per request is a few microseconds whatever the tool.
//!
//! Routes: the chat journey's, shaped as the backend's contract
//! (DESIGN.md) so that the journey's checks pass:
//!
//! - `GET /api/health` (and `/health`): `app_env: "test"`, so the guard
//!   lets the run start;
//! - `POST /api/auth/login-json` (and `/api/auth/login`): the
//!   `access_token` cookie as the backend sets it and the login body with
//!   its `csrf_token`;
//! - `POST /api/chat/sessions`, `GET /api/chat/sessions`;
//! - `POST /api/chat/chat`: a reply with `assistant_message.content`;
//! - `POST /api/chat/stream`: `text/event-stream`, chunked as axum sends
//!   it, `--tokens N` token events `--gap-ms MS` apart, then `done`;
//! - `GET /api/metrics`: 404, so that no scrape has anything to parse;
//! - anything else: the same small `200 OK` (the plain-GET benchmark).
//!
//! The chat writes (`/api/chat/...` POSTs) need the cookie and the
//! `X-CSRF-Token` header, as the backend does (401/403 otherwise): a
//! tool's script that forgets either shows failed checks, not a fast run.
//!
//! Usage: `loadgen-bench-target [ADDR] [--tokens N] [--gap-ms MS]` (default
//! `127.0.0.1:18080`, 32 tokens, 10 ms). Prints `listening on ADDR` once
//! it accepts connections.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

/// A JWT of the backend's shape and length (HS256, `sub`, `exp`, `iat`,
/// `jti`): the tools store and send back as many bytes as they would.
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.\
eyJzdWIiOiIxIiwidXNlcm5hbWUiOiJsb2FkdGVzdF91c2VyXzEiLCJleHAiOjE4OTM0NTYwMDAsImlhdCI6MTg5MzQ0MTYwMCwianRpIjoiYmVuY2gifQ.\
c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZw";
/// The CSRF token (the backend derives it from the token; a constant here).
const CSRF: &str = "Y3NyZi1jc3JmLWNzcmYtY3NyZi1jc3JmLWNzcmYtY3Ny";
const CREATED_AT: &str = "2026-01-01T00:00:00Z";

/// What a stream sends.
#[derive(Debug, Clone, Copy)]
struct StreamShape {
    tokens: u32,
    gap: Duration,
}

fn main() {
    let mut addr = "127.0.0.1:18080".to_string();
    let mut shape = StreamShape {
        tokens: 32,
        gap: Duration::from_millis(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |v: Option<String>| -> u64 {
            match v.as_deref().map(str::parse::<u64>) {
                Some(Ok(n)) => n,
                _ => usage(&format!("{arg} takes a whole number")),
            }
        };
        match arg.as_str() {
            "--tokens" => shape.tokens = u32::try_from(number(args.next())).unwrap_or(u32::MAX),
            "--gap-ms" => shape.gap = Duration::from_millis(number(args.next())),
            a if !a.starts_with('-') => addr = a.to_string(),
            other => usage(&format!("unknown option {other}")),
        }
    }
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => usage(&format!("bad address {addr:?}: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen-bench-target: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(addr, shape)) {
        eprintln!("loadgen-bench-target: {e}");
        std::process::exit(1);
    }
}

fn usage(message: &str) -> ! {
    eprintln!("loadgen-bench-target: {message}");
    eprintln!("usage: loadgen-bench-target [ADDR] [--tokens N] [--gap-ms MS]");
    std::process::exit(2);
}

async fn serve(addr: SocketAddr, shape: StreamShape) -> io::Result<()> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep backlog: 10,000 clients connect at once (the kernel caps it
    // at net.core.somaxconn).
    let listener = socket.listen(65_535)?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let _ = connection(stream, shape).await;
                });
            }
            // Out of file descriptors and the like: back off a little.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// Serves one keep-alive connection until the peer closes it.
async fn connection(mut stream: TcpStream, shape: StreamShape) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0usize;
    // Body bytes of the current request still to skip.
    let mut skip = 0usize;
    let mut out = Vec::with_capacity(1024);
    loop {
        if filled == buf.len() {
            // A request head larger than the buffer: grow it (bounded).
            if buf.len() >= 1 << 20 {
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0usize;
        let mut streams = 0u32;
        loop {
            if skip > 0 {
                let take = skip.min(filled - start);
                skip -= take;
                start += take;
                if skip > 0 {
                    break;
                }
            }
            let Some(end) = find_head_end(&buf[start..filled]) else {
                break;
            };
            let head = &buf[start..start + end];
            skip = content_length(head);
            start += end;
            if answer(head, &mut out) {
                streams += 1;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        // The stream's events follow its head (already written); requests
        // pipelined behind it wait, as on any HTTP/1.1 connection.
        for _ in 0..streams {
            send_stream(&mut stream, shape, &mut out).await?;
        }
    }
}

/// Appends the answer to one request head; true when it is a stream whose
/// events the caller sends after the head.
fn answer(head: &[u8], out: &mut Vec<u8>) -> bool {
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let mut parts = head[..line_end].split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/api/health" | b"/health") => json(
            out,
            "200 OK",
            "",
            r#"{"status":"ok","message":"API is healthy","app_env":"test","environment":"test","version":"bench","database":"ok"}"#,
        ),
        (b"POST", b"/api/auth/login-json" | b"/api/auth/login") => {
            let cookie = format!(
                "Set-Cookie: access_token={TOKEN}; HttpOnly; SameSite=Lax; Path=/; Max-Age=14400\r\n\
                 Cache-Control: no-store\r\n"
            );
            let body = format!(
                r#"{{"user_id":1,"username":"loadtest_user_1","status":"success","access_token":"{TOKEN}","token_type":"bearer","expires_in":14400,"csrf_token":"{CSRF}"}}"#
            );
            json(out, "200 OK", &cookie, &body);
        }
        (b"POST", p) if p.starts_with(b"/api/chat/") && !authorised(head, out) => {}
        (b"POST", b"/api/chat/sessions") => {
            let id = next_id();
            json(
                out,
                "200 OK",
                "",
                &format!(r#"{{"id":{id},"title":"bench session","created_at":"{CREATED_AT}"}}"#),
            );
        }
        (b"GET", b"/api/chat/sessions") => json(out, "200 OK", "", "[]"),
        (b"POST", b"/api/chat/chat") => {
            let (session, user, assistant) = (next_id(), next_id(), next_id());
            json(
                out,
                "200 OK",
                "",
                &format!(
                    r#"{{"session_id":{session},"user_message":{{"id":{user},"content":"How do I keep p95 latency low?","role":"user","metadata":{{}},"created_at":"{CREATED_AT}"}},"assistant_message":{{"id":{assistant},"content":"Keep the event loop free: hash passwords off it, never hold a pooled connection through the model call, and bound every queue.","role":"assistant","metadata":{{"sources":[],"model":"mock","provider":"mock","retriever":"mock","usage":{{"prompt_tokens":9,"completion_tokens":24,"total_tokens":33}},"latency_ms":1}},"created_at":"{CREATED_AT}"}}}}"#
                ),
            );
        }
        (b"POST", b"/api/chat/stream") => {
            // axum's SSE head: chunked, no length.
            out.extend_from_slice(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                  x-accel-buffering: no\r\ntransfer-encoding: chunked\r\n\r\n",
            );
            return true;
        }
        (b"GET", b"/api/metrics" | b"/metrics") => json(
            out,
            "404 Not Found",
            "",
            r#"{"detail":"Not Found","code":"not_found"}"#,
        ),
        _ => out.extend_from_slice(RESPONSE),
    }
    false
}

/// The cookie and the CSRF header a chat write needs; the error answer
/// (appended to `out`) when one is missing.
fn authorised(head: &[u8], out: &mut Vec<u8>) -> bool {
    if !contains_ignore_case(head, b"access_token=") {
        json(
            out,
            "401 Unauthorized",
            "",
            r#"{"detail":"Not authenticated","code":"not_authenticated"}"#,
        );
        return false;
    }
    if !contains_ignore_case(head, b"\nx-csrf-token:") {
        json(
            out,
            "403 Forbidden",
            "",
            r#"{"detail":"CSRF token missing or invalid","code":"csrf_failed"}"#,
        );
        return false;
    }
    true
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Ids as a database would hand them out (one thread: relaxed is enough).
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn json(out: &mut Vec<u8>, status: &str, extra_headers: &str, body: &str) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
}

/// Writes the stream's events, one chunk each, `shape.gap` apart (from the
/// head), then `done` and the last chunk. With no gap every event goes in
/// one write. Deadlines are absolute, so a late tick does not delay the rest.
async fn send_stream(
    stream: &mut TcpStream,
    shape: StreamShape,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    const TOKEN_EVENT: &[u8] = b"data: {\"type\":\"token\",\"token\":\" word\"}\n\n";
    let start = tokio::time::Instant::now();
    for i in 1..=shape.tokens {
        chunk(out, TOKEN_EVENT);
        if !shape.gap.is_zero() {
            tokio::time::sleep_until(start + shape.gap * i).await;
            stream.write_all(out).await?;
            out.clear();
        }
    }
    let done = format!(
        "data: {{\"type\":\"done\",\"session_id\":1,\"message_id\":{},\"user_message_id\":1,\"sources\":[],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
        next_id(),
        shape.tokens,
        u64::from(shape.tokens) + 9
    );
    chunk(out, done.as_bytes());
    out.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(out).await?;
    out.clear();
    Ok(())
}

fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Length of the request head (up to and including the blank line).
fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The `Content-Length` of a request head, 0 when it has none.
fn content_length(head: &[u8]) -> usize {
    const NAME: &[u8] = b"content-length:";
    head.split(|&c| c == b'\n')
        .find(|line| line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
        .and_then(|line| std::str::from_utf8(&line[NAME.len()..]).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
