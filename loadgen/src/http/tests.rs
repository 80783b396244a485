//! The journey's client against tiny servers over real sockets: timeouts,
//! and the keep-alive rule (a request never written goes on a new
//! connection; a written one is never sent twice).

#![allow(clippy::unwrap_used)]
use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// A request that times out is measured as a completed one is: its
/// `duration` from the send, the connect before it in `setup`; the two
/// add up to the wait, bounded by the timeout.
#[tokio::test]
async fn a_timed_out_request_counts_from_its_send_like_a_completed_one() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and reads, never answers (bounded: the test's two requests).
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..2 {
            if let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let target = Arc::new(Target::parse(&format!("http://{addr}")).unwrap());
    let timeout = Duration::from_millis(300);
    let mut client = Client::new(target, timeout);
    for _ in 0..2 {
        let ex = client.send(Method::GET, "/", &[], None, 0).await;
        assert_eq!(ex.result.err(), Some("timeout"));
        assert!(ex.setup > Duration::ZERO, "the connect is setup");
        let total = ex.duration + ex.setup;
        assert!(
            total >= timeout && total < timeout + Duration::from_millis(100),
            "duration {:?} + setup {:?}",
            ex.duration,
            ex.setup
        );
    }
    server.abort();
}

/// A server that answers each connection's first `answer` requests with
/// `200` and two `Set-Cookie`s, reads one more request head (if
/// `read_more`) and closes; it counts connections and request heads.
async fn closing_server(answer: usize, read_more: bool) -> (Arc<Target>, Arc<[AtomicU64; 2]>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let seen = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen[0].fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let heads = answer + usize::from(read_more);
                for n in 0..heads {
                    // One head (and its small body) per read is enough here.
                    let mut chunk = [0u8; 4096];
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                    seen[1].fetch_add(1, Ordering::SeqCst);
                    if n < answer {
                        let reply = "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\
                                     content-length: 2\r\n\r\nok";
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    let target = Arc::new(Target::parse(&format!("http://{addr}")).unwrap());
    (target, counts)
}

/// A kept-alive connection the server closed while idle is noticed before
/// the request is written: the POST goes on a new connection and succeeds.
#[tokio::test]
async fn a_post_after_the_server_closed_the_idle_connection_goes_on_a_new_one() {
    let (target, counts) = closing_server(1, false).await;
    let mut client = Client::new(target, Duration::from_secs(5));
    let body = Some(Bytes::from_static(b"{\"x\":1}"));
    let first = client.send(Method::POST, "/a", &[], body.clone(), 64).await;
    let reply = first.result.unwrap();
    assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    // The server's close reaches the client while it is idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = client.send(Method::POST, "/a", &[], body, 64).await;
    assert_eq!(second.result.unwrap().status, 200);
    assert!(second.setup > Duration::ZERO, "a new connection was opened");
    assert_eq!(second.bytes_sent, first.bytes_sent);
    assert_eq!(second.bytes_received, first.bytes_received);
    assert_eq!(counts[0].load(Ordering::SeqCst), 2, "connections");
    assert_eq!(counts[1].load(Ordering::SeqCst), 2, "requests");
}

/// A request that was written is never sent again: when the server closes
/// without answering, it is an `io` failure and the server saw it once.
#[tokio::test]
async fn a_written_request_the_server_drops_fails_and_is_not_sent_twice() {
    let (target, counts) = closing_server(1, true).await;
    let mut client = Client::new(target, Duration::from_secs(5));
    let body = Some(Bytes::from_static(b"{\"x\":1}"));
    let first = client.send(Method::POST, "/a", &[], body.clone(), 64).await;
    assert_eq!(first.result.unwrap().status, 200);
    let second = client.send(Method::POST, "/a", &[], body, 64).await;
    assert_eq!(second.result.unwrap_err(), "io");
    assert_eq!(second.bytes_sent, first.bytes_sent, "written once");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(counts[0].load(Ordering::SeqCst), 1, "connections");
    assert_eq!(counts[1].load(Ordering::SeqCst), 2, "requests");
}
