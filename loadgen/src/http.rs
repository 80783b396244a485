//! The HTTP/1.1 client: one keep-alive connection per VU (as k6), built on
//! hyper's connection API so nothing is pooled, retried or redirected behind
//! our back. Redirects are never followed: a 3xx is recorded as it came, so
//! every request stays pinned to the host the guard checked.
//!
//! Bytes are counted on the socket itself (a counting wrapper around the
//! `TcpStream`), so `data_sent`/`data_received` are wire bytes, framing and
//! headers included. `duration` excludes connection set-up, as k6's
//! `http_req_duration` does; a failed connect is recorded with its elapsed time.
//!
//! The body goes into a [`BodySink`] frame by frame as it arrives: the plain
//! [`Client::send`] keeps (or drops) it, [`Client::send_to`] hands it to the
//! caller's sink, which is how the chat step reads a token stream (SSE) and
//! times each event. The sink is a type parameter, so the plain path
//! compiles to what it was before streaming existed.
//!
//! A kept body is capped ([`MAX_KEPT_BODY`] for the journey's JSON, smaller
//! caps for the guard and the scrapes): past the cap the rest is still read
//! (the connection stays usable, the bytes are counted) but dropped, and
//! [`Exchange::cut`] says how many bytes were, so a target answering without
//! end costs a bounded amount of memory and the summary reports the cut.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most of a response body the journey keeps in memory to read its JSON
/// (a login, a session list, a chat reply, a session's history): a chat
/// reply of a few MiB fits comfortably, a body without end does not.
pub const MAX_KEPT_BODY: usize = 16 * 1024 * 1024;

/// Where requests go: scheme `http`, host, port and an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address as written in the URL (brackets stripped).
    pub host: String,
    /// Port (80 when the URL has none).
    pub port: u16,
    /// The `Host` header value.
    pub authority: String,
    /// Base path without a trailing slash (`""` for the root).
    pub base_path: String,
}

impl Target {
    /// Parses an `http://` URL. `https` is refused: loadgen speaks plain
    /// HTTP/1.1, the protocol of a backend under test on the bench.
    pub fn parse(url: &str) -> Result<Target, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!(
                "URL {url:?}: only http:// targets are supported (got {}://)",
                parsed.scheme()
            ));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(format!("URL {url:?} has no host")),
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        let authority = match (parsed.host(), parsed.port()) {
            (Some(url::Host::Ipv6(a)), Some(p)) => format!("[{a}]:{p}"),
            (Some(url::Host::Ipv6(a)), None) => format!("[{a}]"),
            (_, Some(p)) => format!("{host}:{p}"),
            (_, None) => host.clone(),
        };
        let base_path = parsed.path().trim_end_matches('/').to_string();
        Ok(Target {
            host,
            port,
            authority,
            base_path,
        })
    }

    /// The request target for `path` (which starts with `/` and may carry a query).
    pub fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }

    /// `http://authority/base` for messages.
    pub fn display(&self) -> String {
        format!("http://{}{}", self.authority, self.base_path)
    }
}

/// Socket byte counters of one connection.
#[derive(Debug, Default)]
struct IoCounters {
    read: AtomicU64,
    written: AtomicU64,
}

/// A `TcpStream` that counts the bytes through it.
struct Counted {
    inner: TcpStream,
    counters: Arc<IoCounters>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        this.counters.read.fetch_add(n as u64, Ordering::Relaxed);
        res
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An open connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    counters: Arc<IoCounters>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Where a response body goes as it arrives.
pub trait BodySink {
    /// The response head arrived at `at`; the request was handed to the
    /// connection at `started` (the origin of every timing).
    fn head(&mut self, status: u16, headers: &HeaderMap, started: Instant, at: Instant) {
        let _ = (status, headers, started, at);
    }

    /// One chunk of the body, as it came off the connection.
    fn data(&mut self, chunk: &[u8]);

    /// What [`Reply::body`] carries once the body ended (empty by default).
    fn take_body(&mut self) -> Bytes {
        Bytes::new()
    }

    /// Bytes the sink meant to keep but dropped at its cap ([`Exchange::cut`]).
    fn cut(&self) -> u64 {
        0
    }
}

/// The plain sink: keeps up to `limit` bytes of the body in memory (0: only
/// lets it be counted) and counts the kept body's bytes past the limit.
struct Collect {
    limit: usize,
    body: Vec<u8>,
    cut: u64,
}

impl BodySink for Collect {
    fn data(&mut self, chunk: &[u8]) {
        if self.limit == 0 {
            return;
        }
        let take = self.limit.saturating_sub(self.body.len()).min(chunk.len());
        self.body
            .extend_from_slice(chunk.get(..take).unwrap_or_default());
        self.cut += (chunk.len() - take) as u64;
    }

    fn take_body(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.body))
    }

    fn cut(&self) -> u64 {
        self.cut
    }
}

/// A response that arrived.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, when the caller asked to keep it (else empty), at most
    /// the cap the caller gave ([`Exchange::cut`] says what was dropped).
    pub body: Bytes,
}

/// The outcome of one request with its timings, ready to be recorded.
#[derive(Debug)]
pub struct Exchange {
    /// The reply, or the kind of failure (`connect`, `timeout`, `io`).
    pub result: Result<Reply, &'static str>,
    /// Request handed to the connection -> end of body (or failure).
    pub duration: Duration,
    /// Request handed to the connection -> response headers.
    pub waiting: Duration,
    /// Wire bytes written.
    pub bytes_sent: u64,
    /// Wire bytes read.
    pub bytes_received: u64,
    /// Call -> request handed to the connection (connect or readiness
    /// wait); on a timeout too (`duration` then counts from the send, as a
    /// completed request's does; a timeout while still connecting has no
    /// send, so its `duration` is the whole wait and `setup` zero); zero on
    /// other failures, whose `duration` already covers it.
    pub setup: Duration,
    /// Body bytes the sink dropped at its cap (read and counted, not kept),
    /// on a timeout or a broken body too; 0 when the body was kept whole.
    pub cut: u64,
}

/// A client that owns one keep-alive connection to a target.
pub struct Client {
    target: Arc<Target>,
    timeout: Duration,
    conn: Option<Conn>,
    /// Socket counters of `conn` when the current request started.
    mark: (u64, u64),
    /// When the current request was handed to the connection (`None`
    /// while still connecting): a timed-out request's duration counts
    /// from here, as a completed one's does.
    sent_at: Option<Instant>,
}

impl Client {
    /// A client for `target`; each request (connect included) is bounded by `timeout`.
    pub fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Client {
            target,
            timeout,
            conn: None,
            mark: (0, 0),
            sent_at: None,
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn connect(&self) -> io::Result<Conn> {
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port)).await?;
        stream.set_nodelay(true)?;
        let counters = Arc::new(IoCounters::default());
        let io = TokioIo::new(Counted {
            inner: stream,
            counters: Arc::clone(&counters),
        });
        let (sender, conn) = http1::handshake(io).await.map_err(io::Error::other)?;
        let driver = tokio::spawn(async move {
            // The connection ends when the sender is dropped or the peer
            // closes; either way the next request reconnects.
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            counters,
            driver,
        })
    }

    /// Sends one request. Up to `keep` bytes of the body are kept in memory
    /// (the journey parses them; past that, [`Exchange::cut`] counts what was
    /// dropped); with `keep` 0 the body is only read and counted.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
        keep: usize,
    ) -> Exchange {
        let mut sink = Collect {
            limit: keep,
            body: Vec::new(),
            cut: 0,
        };
        self.send_to(method, path, headers, body, &mut sink).await
    }

    /// Sends one request and feeds the response body to `sink` as it
    /// arrives. On a timeout or a broken body, `sink` keeps what it saw.
    pub async fn send_to<S: BodySink>(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
        sink: &mut S,
    ) -> Exchange {
        let started = Instant::now();
        let deadline = started + self.timeout;
        self.sent_at = None;
        let mut ex = match tokio::time::timeout_at(
            deadline.into(),
            self.send_inner(method, path, headers, body, sink),
        )
        .await
        {
            Ok(ex) => ex,
            // The connection is in an unknown state: `failure` drops it.
            // Same origin as a completed request: from the moment it was
            // sent, the connect or readiness wait before it in `setup`
            // (none when the timeout struck while connecting).
            Err(_) => {
                let sent_at = self.sent_at.unwrap_or(started);
                let mut ex = self.failure("timeout", sent_at);
                ex.setup = sent_at.duration_since(started);
                ex
            }
        };
        ex.cut = sink.cut();
        ex
    }

    fn counters_now(&self) -> (u64, u64) {
        self.conn.as_ref().map_or(self.mark, |c| {
            (
                c.counters.written.load(Ordering::Relaxed),
                c.counters.read.load(Ordering::Relaxed),
            )
        })
    }

    async fn ensure_connection(&mut self) -> io::Result<bool> {
        if let Some(conn) = self.conn.as_mut() {
            if !conn.sender.is_closed() && conn.sender.ready().await.is_ok() {
                return Ok(true);
            }
        }
        self.conn = None;
        self.conn = Some(self.connect().await?);
        Ok(false)
    }

    async fn send_inner<S: BodySink>(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
        sink: &mut S,
    ) -> Exchange {
        let connect_started = Instant::now();
        let mut reused = match self.ensure_connection().await {
            Ok(reused) => reused,
            Err(_) => {
                self.mark = (0, 0);
                let elapsed = connect_started.elapsed();
                return Exchange {
                    result: Err("connect"),
                    duration: elapsed,
                    waiting: elapsed,
                    bytes_sent: 0,
                    bytes_received: 0,
                    setup: Duration::ZERO,
                    cut: 0,
                };
            }
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(self.target.path(path))
            .header(HOST, self.target.authority.as_str());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut request = match builder.body(Full::new(body.unwrap_or_default())) {
            Ok(r) => r,
            Err(_) => return self.failure("request", connect_started),
        };
        loop {
            self.mark = self.counters_now();
            let Some(conn) = self.conn.as_mut() else {
                return self.failure("connect", connect_started);
            };
            let started = Instant::now();
            self.sent_at = Some(started);
            match conn.sender.try_send_request(request).await {
                Ok(response) => {
                    let head_at = Instant::now();
                    let waiting = head_at.duration_since(started);
                    let (parts, mut incoming) = response.into_parts();
                    sink.head(parts.status.as_u16(), &parts.headers, started, head_at);
                    let mut body_ok = true;
                    while let Some(frame) = incoming.frame().await {
                        match frame {
                            Ok(frame) => {
                                if let Some(data) = frame.data_ref() {
                                    sink.data(data);
                                }
                            }
                            Err(_) => {
                                body_ok = false;
                                break;
                            }
                        }
                    }
                    let duration = started.elapsed();
                    let (sent, received) = self.counters_now();
                    let (bytes_sent, bytes_received) = (
                        sent.saturating_sub(self.mark.0),
                        received.saturating_sub(self.mark.1),
                    );
                    if !body_ok {
                        self.conn = None;
                    }
                    return Exchange {
                        result: if body_ok {
                            Ok(Reply {
                                status: parts.status.as_u16(),
                                headers: parts.headers,
                                body: sink.take_body(),
                            })
                        } else {
                            Err("io")
                        },
                        duration,
                        waiting,
                        bytes_sent,
                        bytes_received,
                        setup: started.duration_since(connect_started),
                        cut: 0,
                    };
                }
                Err(mut err) => {
                    // A kept-alive connection the server closed meanwhile:
                    // the request was never written, so sending it again on
                    // a fresh connection is safe (even for a POST).
                    match (reused, err.take_message()) {
                        (true, Some(unsent)) => {
                            self.conn = None;
                            match self.connect().await {
                                Ok(conn) => self.conn = Some(conn),
                                Err(_) => return self.failure("connect", connect_started),
                            }
                            reused = false;
                            request = unsent;
                        }
                        _ => return self.failure("io", started),
                    }
                }
            }
        }
    }

    fn failure(&mut self, kind: &'static str, since: Instant) -> Exchange {
        let (sent, received) = self.counters_now();
        let ex = Exchange {
            result: Err(kind),
            duration: since.elapsed(),
            waiting: since.elapsed(),
            bytes_sent: sent.saturating_sub(self.mark.0),
            bytes_received: received.saturating_sub(self.mark.1),
            setup: Duration::ZERO,
            cut: 0,
        };
        self.conn = None;
        ex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
