//! The HTTP/1.1 client: one keep-alive connection per VU (as k6), nothing
//! pooled, retried or redirected behind our back. Redirects are never
//! followed: a 3xx is recorded as it came, so every request stays pinned to
//! the host the guard checked.
//!
//! Hand-written (`http/conn.rs`, sharing `hit`'s framing in
//! `wire::framing`) rather than hyper's client, because hyper's
//! costs were the journey's largest: a connection task and a dispatch
//! channel per VU meant two task hand-offs per request (hyper 16.6% and
//! tokio 9.8% of loadgen's CPU in the journey benchmark,
//! `scripts/bench-journey.sh`: 17.25 us of CPU per request against k6's
//! 148, short of the 10x goal), and ~33 KB per streaming VU (16 KB read
//! buffer, 9 KB channel, 8 KB write buffer: 331.5 MiB at 10,000 streams,
//! past the 300 MiB goal), while each SSE event cost a read, a wake-up and
//! two hand-offs (3.50 us/event, under 300,000 events per CPU-second).
//! Here the VU's own task writes the request (one write) and reads the
//! response into a 1 KiB buffer that grows only for a large head or body.
//! Measured with the hyper build beside it (`BENCH_BASELINE`, 3 runs each,
//! interleaved, shared 2-core machine; median (min-max)): 9.18
//! (8.75-10.30) us of CPU per journey request against 12.24
//! (11.82-12.26), k6 125.47 (13.7x); 8.3 KiB per idle VU against 24.0;
//! 10,000 streams (5 runs) in 128.2 (116.2-130.2) MiB against 323.0
//! (315.0-347.6), and 4.82 (2.79-5.01) us per SSE event against 5.15
//! (3.07-5.33), 7% less in every pair. An event now costs one `recv` (no
//! `EAGAIN` read, no hand-off; strace) and ~80% of its CPU is the
//! kernel's (perf): the events per CPU-second depend on how many events
//! one read finds, i.e. on the machine's load (199,000-359,000 here).
//!
//! A kept-alive connection the server closed is noticed before the write
//! (no system call when the last read drained the socket) and the request,
//! never written, goes on a new connection (even a POST: it cannot have
//! been processed); a request that was written is never sent twice.
//!
//! Bytes are counted as they are read and written, so
//! `data_sent`/`data_received` are wire bytes, framing and headers
//! included. `duration` excludes connection set-up, as k6's
//! `http_req_duration` does; a failed connect is recorded with its elapsed
//! time.
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

mod conn;

use crate::wire::deadline::with_deadline;
use bytes::Bytes;
use conn::Conn;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::Sleep;

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
    conn: Conn,
    /// Fires no later than the current request's deadline; re-armed only
    /// when it fires early (see [`with_deadline`]). Made at the first
    /// request, inside the runtime.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Client {
    /// A client for `target`; each request (connect included) is bounded by `timeout`.
    pub fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Client {
            target,
            timeout,
            conn: Conn::default(),
            timer: None,
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
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
        let called = Instant::now();
        let deadline = tokio::time::Instant::from_std(called + self.timeout);
        self.conn.reset();
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        let exchange = self.conn.exchange(
            &self.target,
            &method,
            path,
            headers,
            body.as_deref(),
            sink,
            called,
        );
        // No slack, unlike `hit`'s: the deadline is exact. Tokio never
        // fires a timer before its deadline, and a timed-out request's
        // duration and setup add up to at least the timeout.
        let mut ex = match with_deadline(timer, deadline, Duration::ZERO, exchange).await {
            Some(ex) => ex,
            // The connection is in an unknown state: `failure` closes it.
            // Same origin as a completed request: from the moment it was
            // sent, the connect or readiness wait before it in `setup`
            // (none when the timeout struck while connecting).
            None => {
                let sent_at = self.conn.sent_at.unwrap_or(called);
                let mut ex = self.conn.failure("timeout", sent_at);
                ex.setup = sent_at.duration_since(called);
                ex
            }
        };
        ex.cut = sink.cut();
        ex
    }
}

#[cfg(test)]
mod tests;
