//! The lean `hit` client against tiny servers: framing, keep-alive, retries.

#![allow(clippy::unwrap_used)]
use super::framing::Head;
use super::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn head(s: &str) -> Head {
    let (len, h) = parse_head(s.as_bytes()).unwrap().unwrap();
    assert_eq!(len, s.len());
    h
}

#[test]
fn heads_are_framed_as_rfc_9112_says() {
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n");
    assert_eq!(
        h,
        Head {
            status: 200,
            framing: Framing::Length(13),
            keep_alive: true
        }
    );
    let h = head(
        "HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n",
    );
    assert_eq!((h.status, h.framing), (404, Framing::Chunked));
    let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n");
    assert_eq!(h.framing, Framing::Empty);
    let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
    let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
    assert!(!h.keep_alive);
    let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n");
    assert!(h.keep_alive);
    assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n")
        .unwrap()
        .is_none());
    assert!(parse_head(b"HTTP/2 200\r\n\r\n").is_err());
    assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    assert!(
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n").is_err()
    );
}

#[test]
fn chunked_bodies_parse_whole_or_byte_by_byte() {
    let body =
        b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
    let (used, state) = chunk_step(Chunk::Size, body).unwrap();
    assert_eq!((used, state), (body.len() - 4, Chunk::Done));
    // Fed one byte more at a time, as slow reads would.
    let mut state = Chunk::Size;
    let mut at = 0;
    let mut end = 0;
    while state != Chunk::Done {
        end += 1;
        let (used, next) = chunk_step(state, &body[at..end]).unwrap();
        at += used;
        state = next;
    }
    assert_eq!(at, body.len() - 4);
    assert!(chunk_step(Chunk::Size, b"zz\r\n").is_err());
    assert!(chunk_step(Chunk::Size, b"2\r\nabXX").is_err());
}

/// A server that answers each request on the connection with the next
/// canned response, then closes after the last.
async fn canned(responses: Vec<&'static [u8]>) -> Arc<Target> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        for r in responses {
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            // Split the response to exercise partial reads.
            let (a, b) = r.split_at(r.len() / 2);
            s.write_all(a).await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            s.write_all(b).await.unwrap();
        }
    });
    Arc::new(Target::parse(&format!("http://{addr}/")).unwrap())
}

#[tokio::test]
async fn one_connection_carries_every_framing_in_turn() {
    let big: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{}",
            "x".repeat(5000)
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let target = canned(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        big,
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
    ])
    .await;
    let request = get_request(&target, "/x");
    assert_eq!(
        &*request,
        format!("GET /x HTTP/1.1\r\nHost: {}\r\n\r\n", target.authority).as_bytes()
    );
    let mut client = Client::new(Arc::clone(&target), request, Duration::from_secs(5));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let ex = client.send().await;
        statuses.push(ex.result.unwrap());
        assert!(ex.duration >= ex.waiting);
    }
    assert_eq!(statuses, [201, 200, 200, 503, 200]);
    // The server is gone now: the reconnect fails.
    let ex = client.send().await;
    assert!(ex.result.is_err());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let target = Arc::new(Target::parse(&format!("http://{addr}/")).unwrap());
    let request = get_request(&target, "/");
    let mut client = Client::new(target, request, Duration::from_millis(100));
    let ex = client.send().await;
    assert_eq!(ex.result, Err("timeout"));
    assert!(
        ex.duration >= Duration::from_millis(99),
        "{:?}",
        ex.duration
    );
    assert!(ex.duration < Duration::from_secs(2), "{:?}", ex.duration);
}
