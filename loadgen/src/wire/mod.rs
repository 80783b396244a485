//! The `hit` client: a minimal HTTP/1.1 keep-alive client that sends one
//! fixed `GET` over and over on its own connection, as wrk does.
//!
//! `hit` is the calibration mode, compared with wrk and oha on CPU per
//! request and on memory at 10,000 connections (`scripts/bench-loadgen.sh`),
//! so its client does the least a correct HTTP/1.1 client can: the request
//! bytes are built once and shared by every connection, a response is read
//! into a small per-connection buffer (1 KiB, grown only for a large head or
//! a large body) and its head parsed in place by `httparse` (see
//! `parse_head` for why not by hand), and the body is counted and dropped.
//! There is no connection task, no channel and no per-request allocation;
//! the request timeout is one timer per connection, re-armed only when it
//! fires. The journey keeps the general client in [`crate::http`].
//!
//! Responses are framed as RFC 9112 says: no body for 1xx (interim, skipped),
//! 204 and 304; `Transfer-Encoding: chunked` (trailers skipped); else
//! `Content-Length`; else until the server closes. `Connection: close` (and
//! HTTP/1.0 without keep-alive) closes after the response. Timings and byte
//! counts mean what they mean in [`crate::http::Exchange`].

use crate::http::Target;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Initial read buffer per connection.
const INITIAL_BUF: usize = 1024;
/// The buffer grows (doubling) up to this for a large body read.
const MAX_READ_BUF: usize = 64 * 1024;
/// Largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;

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

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
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

/// One connection's state: socket, read buffer, per-request counters.
struct Conn {
    target: Arc<Target>,
    request: Arc<[u8]>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// `buf[start..filled]` is read but not yet parsed.
    start: usize,
    filled: usize,
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
                buf: Vec::new(),
                start: 0,
                filled: 0,
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
        match with_deadline(&mut self.timer, deadline, self.conn.exchange(called)).await {
            Some(ex) => ex,
            None => {
                // The connection is in an unknown state: drop it.
                self.conn.close();
                self.conn.failure("timeout", called)
            }
        }
    }
}

/// Runs `fut` until it ends or `deadline` passes (`None`). The timer is only
/// moved when it fires before the deadline, so a request costs no timer
/// registration: a connection's deadlines only move forward, and a timer
/// armed for an earlier request fires at most once per timeout period.
async fn with_deadline<F: Future>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: tokio::time::Instant,
    fut: F,
) -> Option<F::Output> {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    let mut fut = std::pin::pin!(fut);
    poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        while timer.as_mut().poll(cx).is_ready() {
            // The timer wheel counts whole milliseconds.
            if tokio::time::Instant::now() + Duration::from_millis(1) >= deadline {
                return Poll::Ready(None);
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await
}

impl Conn {
    fn close(&mut self) {
        self.stream = None;
        self.start = 0;
        self.filled = 0;
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
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUF];
        }
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
                match parse_head(&self.buf[self.start..self.filled]) {
                    Ok(Some((len, head))) => {
                        self.start += len;
                        break head;
                    }
                    Ok(None) => {}
                    Err(()) => return Err(Fail::Io),
                }
                if self.filled - self.start >= MAX_HEAD {
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
                self.start = self.filled;
                while self.fill(false).await.map_err(|_| Fail::Io)? > 0 {
                    self.start = self.filled;
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
        } else if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        Ok((head.status, head_at, end_at))
    }

    /// Reads more bytes after `buf[..filled]`, first moving the unparsed
    /// rest to the front; grows the buffer when it is full (`for_head`: up
    /// to the head limit) or when the last read filled it (a large body).
    async fn fill(&mut self, for_head: bool) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        let limit = if for_head { MAX_HEAD } else { MAX_READ_BUF };
        if self.filled == self.buf.len() && self.buf.len() < limit {
            let grown = (self.buf.len() * 2).clamp(INITIAL_BUF, limit);
            self.buf.resize(grown, 0);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let room = self.buf.len() - self.filled;
        let n = stream.read(&mut self.buf[self.filled..]).await?;
        self.filled += n;
        self.received += n as u64;
        if n == room && !for_head && self.buf.len() < MAX_READ_BUF {
            let grown = (self.buf.len() * 2).min(MAX_READ_BUF);
            self.buf.resize(grown, 0);
        }
        Ok(n)
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Fail> {
        loop {
            let have = (self.filled - self.start) as u64;
            let take = have.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.start = self.filled;
            if self.fill(false).await.map_err(|_| Fail::Io)? == 0 {
                return Err(Fail::Io);
            }
        }
    }

    /// Consumes a chunked body, trailers included.
    async fn skip_chunked(&mut self) -> Result<(), Fail> {
        let mut state = Chunk::Size;
        loop {
            let (used, next) = chunk_step(state, &self.buf[self.start..self.filled])?;
            self.start += used;
            state = next;
            if state == Chunk::Done {
                return Ok(());
            }
            if used == 0 {
                if self.filled - self.start >= MAX_LINE {
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

/// Where a chunked body parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty line.
    Trailer,
    /// The body is complete.
    Done,
}

/// Advances the chunked parser over `b`: bytes used and the new state.
/// Uses nothing (0) when it needs more bytes.
fn chunk_step(mut state: Chunk, b: &[u8]) -> Result<(usize, Chunk), Fail> {
    let mut at = 0;
    loop {
        let rest = &b[at..];
        match state {
            Chunk::Done => return Ok((at, state)),
            Chunk::Data(n) => {
                let take = (rest.len() as u64).min(n);
                at += take as usize;
                state = if take == n {
                    Chunk::DataEnd
                } else {
                    return Ok((at, Chunk::Data(n - take)));
                };
            }
            Chunk::DataEnd => {
                if rest.len() < 2 {
                    return Ok((at, state));
                }
                if &rest[..2] != b"\r\n" {
                    return Err(Fail::Io);
                }
                at += 2;
                state = Chunk::Size;
            }
            Chunk::Size | Chunk::Trailer => {
                let Some(eol) = rest.iter().position(|&c| c == b'\n') else {
                    return Ok((at, state));
                };
                let line = trim_cr(&rest[..eol]);
                at += eol + 1;
                state = match state {
                    Chunk::Trailer if line.is_empty() => Chunk::Done,
                    Chunk::Trailer => Chunk::Trailer,
                    _ => match chunk_size(line)? {
                        0 => Chunk::Trailer,
                        n => Chunk::Data(n),
                    },
                };
            }
        }
    }
}

/// The size of a chunk-size line (`1a;ext=1`).
fn chunk_size(line: &[u8]) -> Result<u64, Fail> {
    let digits = line
        .split(|&c| c == b';')
        .next()
        .map(trim)
        .unwrap_or_default();
    if digits.is_empty() || digits.len() > 15 {
        return Err(Fail::Io);
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        let d = char::from(c).to_digit(16).ok_or(Fail::Io)?;
        Ok(acc * 16 + u64::from(d))
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(b: &[u8]) -> &[u8] {
    let b = match b.iter().position(|c| !c.is_ascii_whitespace()) {
        Some(i) => &b[i..],
        None => return &[],
    };
    match b.iter().rposition(|c| !c.is_ascii_whitespace()) {
        Some(i) => &b[..=i],
        None => &[],
    }
}

/// What the framing-relevant headers of a response said, fed one header at
/// a time.
#[derive(Debug, Default)]
struct HeadFields {
    length: Option<u64>,
    chunked: bool,
    encoded: bool,
    close: bool,
    keep_alive: bool,
}

impl HeadFields {
    fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), ()> {
        let value = trim(value);
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(())?;
            if self.length.is_some_and(|l| l != v) {
                return Err(());
            }
            self.length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.encoded = true;
            self.chunked = value
                .split(|&c| c == b',')
                .next_back()
                .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&c| c == b',').map(trim) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }

    fn head(self, status: u16, http10: bool) -> Head {
        let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::Empty
        } else if self.chunked {
            Framing::Chunked
        } else if self.encoded {
            Framing::UntilClose
        } else if let Some(n) = self.length {
            if n == 0 {
                Framing::Empty
            } else {
                Framing::Length(n)
            }
        } else {
            Framing::UntilClose
        };
        Head {
            status,
            framing,
            keep_alive: !self.close && (!http10 || self.keep_alive),
        }
    }
}

/// Most header lines in a response head (hyper's default too); a head with
/// more is refused (`io`).
const MAX_HEADERS: usize = 100;

/// Parses a response head at the start of `b`: its length and what it says,
/// `None` when it is not complete yet.
///
/// `httparse` (hyper's parser) replaced a hand-written one here (issue 7)
/// because the hand parser was not measurably faster. Measured at commit
/// f5a2c37 (`BENCH_WIRE_PARSERS=1 scripts/bench-loadgen.sh`: `hit`, 64
/// connections, 10 s, release build, tool and target pinned to their own
/// core, both parsers interleaved in one script run, 11 runs each on a
/// shared 2-core machine): CPU per request, median (min-max), hand 7.46
/// (6.46-13.89) us, httparse 7.76 (6.58-10.36) us; paired by run the
/// median difference was +0.16 us (+2%) against a run-to-run spread of
/// several us, i.e. no measurable difference. Parsing alone (the bench
/// target's 78-byte head and a 220-byte axum-like head, 5 x 5 million
/// parses): hand 118 ns and 289 ns, httparse 81 ns and 180 ns (medians):
/// httparse is the faster parser, by less than the noise of a request.
fn parse_head(b: &[u8]) -> Result<Option<(usize, Head)>, ()> {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        b,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(());
    };
    let mut fields = HeadFields::default();
    for h in response.headers.iter() {
        fields.header(h.name.as_bytes(), h.value)?;
    }
    Ok(Some((len, fields.head(status, version == 0))))
}

#[cfg(test)]
mod tests;
