//! The `hit` client: a minimal HTTP/1.1 keep-alive client that sends one
//! fixed `GET` over and over on its own connection, as wrk does.
//!
//! `hit` is the calibration mode, compared with wrk and oha on CPU per
//! request and on memory at 10,000 connections (`scripts/bench-loadgen.sh`),
//! so its client does the least a correct HTTP/1.1 client can: the request
//! bytes are built once and shared by every connection, a response is read
//! into a small per-connection buffer (1 KiB, grown only for a large head or
//! a large body) and its head parsed in place by `httparse` (`framing.rs`
//! says why not by hand), and the body is counted and dropped. There is no
//! connection task, no channel and no per-request allocation;
//! the request timeout is one timer per connection, re-armed only when it
//! fires. The journey keeps the general client in [`crate::http`].
//!
//! Responses are framed as RFC 9112 says: no body for 1xx (interim, skipped),
//! 204 and 304; `Transfer-Encoding: chunked` (trailers skipped); else
//! `Content-Length`; else until the server closes. `Connection: close` (and
//! HTTP/1.0 without keep-alive) closes after the response. Timings and byte
//! counts mean what they mean in [`crate::http::Exchange`].

pub(crate) mod deadline;
pub(crate) mod framing;
pub(crate) mod readbuf;

use crate::http::Target;
use deadline::with_deadline;
use framing::{chunk_step, parse_head, Chunk, Framing};
use readbuf::ReadBuf;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The read buffer (1 KiB at first, [`readbuf::INITIAL_BUF`]) grows
/// (doubling) up to this for a large body read.
const MAX_READ_BUF: usize = 64 * 1024;
/// Largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;
/// The deadline is taken as passed this close to it: the timer wheel counts
/// whole milliseconds (see [`with_deadline`]).
const DEADLINE_SLACK: Duration = Duration::from_millis(1);

/// The bytes of `GET path` for `target`: request line and `Host` header.
pub fn get_request(target: &Target, path: &str) -> Arc<[u8]> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        target.path(path),
        target.authority
    )
    .into_bytes()
    .into()
}

/// The outcome of one request, as [`crate::http::Exchange`] without the body.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// The status code, or the kind of failure (`connect`, `timeout`, `io`).
    pub result: Result<u16, &'static str>,
    /// Request handed to the connection -> end of body (or failure).
    pub duration: Duration,
    /// Request handed to the connection -> response head.
    pub waiting: Duration,
    /// Wire bytes written.
    pub bytes_sent: u64,
    /// Wire bytes read.
    pub bytes_received: u64,
    /// Call -> request handed to the connection (connect); zero on failures,
    /// whose `duration` already covers it.
    pub setup: Duration,
}

/// Why an exchange failed.
#[derive(Debug)]
enum Fail {
    /// The server closed or reset a reused connection before answering: the
    /// request can be sent again on a new connection (GET is idempotent).
    Stale,
    /// Anything else: `io`.
    Io,
}

impl From<framing::Malformed> for Fail {
    fn from(_: framing::Malformed) -> Self {
        Fail::Io
    }
}

/// One connection's state: socket, read buffer, per-request counters.
struct Conn {
    target: Arc<Target>,
    request: Arc<[u8]>,
    stream: Option<TcpStream>,
    read: ReadBuf<MAX_HEAD, MAX_READ_BUF>,
    sent: u64,
    received: u64,
}

/// A client that owns one keep-alive connection and sends one fixed request.
pub struct Client {
    conn: Conn,
    timeout: Duration,
    /// Fires no later than the current request's deadline; re-armed only
    /// when it fires early (see [`with_deadline`]).
    timer: Pin<Box<Sleep>>,
}

impl Client {
    /// A client sending `request` (see [`get_request`]) to `target`; each
    /// request, connect included, is bounded by `timeout`. Must be called
    /// inside the runtime.
    pub fn new(target: Arc<Target>, request: Arc<[u8]>, timeout: Duration) -> Self {
        // Armed at the first request.
        let idle = tokio::time::Instant::now() + Duration::from_secs(365 * 86_400);
        Client {
            conn: Conn {
                target,
                request,
                stream: None,
                read: ReadBuf::default(),
                sent: 0,
                received: 0,
            },
            timeout,
            timer: Box::pin(tokio::time::sleep_until(idle)),
        }
    }

    /// Sends the request once and reads the whole response.
    pub async fn send(&mut self) -> Exchange {
        let called = Instant::now();
        let deadline = tokio::time::Instant::from_std(called + self.timeout);
        self.conn.sent = 0;
        self.conn.received = 0;
        let exchange = self.conn.exchange(called);
        match with_deadline(&mut self.timer, deadline, DEADLINE_SLACK, exchange).await {
            Some(ex) => ex,
            None => {
                // The connection is in an unknown state: drop it.
                self.conn.close();
                self.conn.failure("timeout", called)
            }
        }
    }
}

impl Conn {
    fn close(&mut self) {
        self.stream = None;
        self.read.clear();
    }

    fn failure(&self, kind: &'static str, since: Instant) -> Exchange {
        let elapsed = since.elapsed();
        Exchange {
            result: Err(kind),
            duration: elapsed,
            waiting: elapsed,
            bytes_sent: self.sent,
            bytes_received: self.received,
            setup: Duration::ZERO,
        }
    }

    async fn connect(&mut self) -> io::Result<()> {
        self.close();
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port)).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.read.allocate();
        Ok(())
    }

    async fn exchange(&mut self, called: Instant) -> Exchange {
        let mut reused = self.stream.is_some();
        if !reused && self.connect().await.is_err() {
            return self.failure("connect", called);
        }
        loop {
            let started = Instant::now();
            match self.round_trip(reused).await {
                Ok((status, head_at, end_at)) => {
                    return Exchange {
                        result: Ok(status),
                        duration: end_at.saturating_duration_since(started),
                        waiting: head_at.saturating_duration_since(started),
                        bytes_sent: self.sent,
                        bytes_received: self.received,
                        setup: started.saturating_duration_since(called),
                    };
                }
                Err(Fail::Stale) if reused => {
                    // Kept alive, then closed by the server meanwhile.
                    self.sent = 0;
                    self.received = 0;
                    if self.connect().await.is_err() {
                        return self.failure("connect", called);
                    }
                    reused = false;
                }
                Err(_) => {
                    self.close();
                    return self.failure("io", started);
                }
            }
        }
    }

    /// Writes the request and reads one response; returns the status and
    /// when the head and the body were complete.
    async fn round_trip(&mut self, reused: bool) -> Result<(u16, Instant, Instant), Fail> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Fail::Io);
        };
        if let Err(e) = stream.write_all(&self.request).await {
            return Err(if reused && is_stale(&e) {
                Fail::Stale
            } else {
                Fail::Io
            });
        }
        self.sent = self.request.len() as u64;
        // The head, skipping interim (1xx) responses.
        let (head, head_at) = loop {
            let head = loop {
                match parse_head(self.read.unparsed()) {
                    Ok(Some((len, head))) => {
                        self.read.consume(len);
                        break head;
                    }
                    Ok(None) => {}
                    Err(()) => return Err(Fail::Io),
                }
                if self.read.head_full() {
                    return Err(Fail::Io);
                }
                match self.fill(true).await {
                    Ok(0) if reused && self.received == 0 => return Err(Fail::Stale),
                    Ok(0) => return Err(Fail::Io),
                    Ok(_) => {}
                    Err(e) if reused && self.received == 0 && is_stale(&e) => {
                        return Err(Fail::Stale)
                    }
                    Err(_) => return Err(Fail::Io),
                }
            };
            if !(100..200).contains(&head.status) || head.status == 101 {
                break (head, Instant::now());
            }
        };
        let reads = self.received;
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => {
                self.read.consume_all();
                while self.fill(false).await.map_err(|_| Fail::Io)? > 0 {
                    self.read.consume_all();
                }
            }
        }
        // When the head's read also brought the whole body, the body ended
        // with that read: no second clock reading.
        let end_at = if self.received == reads {
            head_at
        } else {
            Instant::now()
        };
        if head.status == 101 || !head.keep_alive || head.framing == Framing::UntilClose {
            self.close();
        } else if self.read.pending() == 0 {
            self.read.clear();
        }
        Ok((head.status, head_at, end_at))
    }

    /// Reads more bytes into the buffer ([`ReadBuf::spare`] says how it
    /// makes room: `for_head`, up to the head limit).
    async fn fill(&mut self, for_head: bool) -> io::Result<usize> {
        let spare = self.read.spare(for_head);
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let n = stream.read(spare).await?;
        self.read.advance(n, for_head);
        self.received += n as u64;
        Ok(n)
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Fail> {
        loop {
            let have = self.read.pending() as u64;
            let take = have.min(n);
            self.read.consume(take as usize);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.read.consume_all();
            if self.fill(false).await.map_err(|_| Fail::Io)? == 0 {
                return Err(Fail::Io);
            }
        }
    }

    /// Consumes a chunked body, trailers included.
    async fn skip_chunked(&mut self) -> Result<(), Fail> {
        let mut state = Chunk::Size;
        loop {
            let (used, next) = chunk_step(state, self.read.unparsed())?;
            self.read.consume(used);
            state = next;
            if state == Chunk::Done {
                return Ok(());
            }
            if used == 0 {
                if self.read.pending() >= MAX_LINE {
                    return Err(Fail::Io);
                }
                if self.fill(false).await.map_err(|_| Fail::Io)? == 0 {
                    return Err(Fail::Io);
                }
            }
        }
    }
}

/// A closed or reset connection, as a kept-alive one shows it.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
