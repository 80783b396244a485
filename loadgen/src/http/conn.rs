//! One keep-alive HTTP/1.1 connection of [`super::Client`], driven by the
//! VU's own task: the request is written with one write, the response read
//! into a small buffer, its head parsed by `httparse` and its body framed
//! by [`crate::wire::framing`] (shared with `hit`), each piece of body
//! handed to the [`BodySink`] straight from the buffer.
//!
//! The byte counters and `sent_at` are fields, updated as each read and
//! write returns, so a request abandoned at its deadline (the future
//! dropped mid-read) still reports what went over the wire.

use super::{BodySink, Exchange, Reply, Target};
use crate::wire::framing::{chunk_frame, header_slots, parse_head_into, Chunk, Framing, Head};
use crate::wire::readbuf::ReadBuf;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::Method;
use std::io;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A body read that fills the read buffer (1 KiB at first,
/// `wire::readbuf::INITIAL_BUF`: a journey response, head and JSON body, or
/// a burst of SSE events fits) doubles it, up to this: a large body costs
/// fewer reads, while 10,000 streams that fall behind stay bounded.
const MAX_READ_BUF: usize = 16 * 1024;
/// Largest response head accepted: hyper's default read limit, so a head
/// hyper read (many `Set-Cookie`s, say) is still read.
const MAX_HEAD: usize = 8192 + 4096 * 100;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 16 * 1024;
/// A request buffer grown past this (a large body) is not kept.
const MAX_KEPT_OUT: usize = 64 * 1024;
/// Longest request target (the `http` crate's limit for a URI).
const MAX_TARGET: usize = u16::MAX as usize - 1;

/// The connection did not deliver a response.
struct Broken;

/// What writing the request came to.
enum Write {
    Done,
    /// Nothing of the request was written: sending it again is safe.
    Unsent,
    Failed,
}

/// A parsed final response head.
struct Parsed {
    head: Head,
    headers: HeaderMap,
    at: Instant,
}

/// One connection's state and the counters of the current request.
#[derive(Default)]
pub(super) struct Conn {
    stream: Option<TcpStream>,
    read: ReadBuf<MAX_HEAD, MAX_READ_BUF>,
    /// The request's bytes, reused from request to request.
    out: Vec<u8>,
    /// The request sends `Connection: close`.
    close_after: bool,
    /// Wire bytes of the current attempt.
    pub(super) sent: u64,
    pub(super) received: u64,
    /// When the current request was handed to the connection (`None`
    /// while still connecting): a timed-out request's duration counts
    /// from here, as a completed one's does.
    pub(super) sent_at: Option<Instant>,
}

impl Conn {
    /// Starts a request's accounting.
    pub(super) fn reset(&mut self) {
        self.sent_at = None;
        self.sent = 0;
        self.received = 0;
    }

    fn close(&mut self) {
        self.stream = None;
        self.read.clear();
    }

    /// A failed exchange; the connection, in an unknown state, is closed.
    pub(super) fn failure(&mut self, kind: &'static str, since: Instant) -> Exchange {
        let elapsed = since.elapsed();
        self.close();
        Exchange {
            result: Err(kind),
            duration: elapsed,
            waiting: elapsed,
            bytes_sent: self.sent,
            bytes_received: self.received,
            setup: Duration::ZERO,
            cut: 0,
        }
    }

    async fn connect(&mut self, target: &Target) -> io::Result<()> {
        self.close();
        self.sent = 0;
        self.received = 0;
        let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.read.allocate();
        Ok(())
    }

    /// The kept-alive connection is still open: the server has not closed
    /// it (nor sent anything) since the last response. Costs no system
    /// call when the last read drained the socket (tokio knows it is not
    /// readable).
    fn still_open(&mut self) -> bool {
        let Some(stream) = self.stream.as_ref() else {
            return false;
        };
        let mut probe = [0u8; 1];
        matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// One request on this connection (opened or re-opened as needed),
    /// its response read to the end of the body into `sink`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exchange<S: BodySink>(
        &mut self,
        target: &Target,
        method: &Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<&[u8]>,
        sink: &mut S,
        called: Instant,
    ) -> Exchange {
        let mut reused = self.still_open();
        if !reused && self.connect(target).await.is_err() {
            return self.failure("connect", called);
        }
        if self.encode(target, method, path, headers, body).is_err() {
            return self.failure("request", called);
        }
        let head_only = *method == Method::HEAD;
        loop {
            self.sent = 0;
            self.received = 0;
            let started = Instant::now();
            self.sent_at = Some(started);
            match self.write_request().await {
                Write::Done => {}
                // A kept-alive connection the server closed meanwhile: the
                // request was never written, so sending it again on a fresh
                // connection is safe (even for a POST).
                Write::Unsent if reused => {
                    if self.connect(target).await.is_err() {
                        return self.failure("connect", called);
                    }
                    reused = false;
                    continue;
                }
                Write::Unsent | Write::Failed => return self.failure("io", started),
            }
            let Ok(parsed) = self.read_head(head_only).await else {
                return self.failure("io", started);
            };
            let waiting = parsed.at.duration_since(started);
            sink.head(parsed.head.status, &parsed.headers, started, parsed.at);
            let reads = self.received;
            let body_ok = self.read_body(parsed.head.framing, sink).await.is_ok();
            // When the head's read also brought the whole body, the body
            // ended with that read: no second clock reading.
            let duration = if self.received == reads {
                waiting
            } else {
                started.elapsed()
            };
            let setup = started.duration_since(called);
            if !body_ok {
                let mut ex = self.failure("io", started);
                (ex.duration, ex.waiting, ex.setup) = (duration, waiting, setup);
                return ex;
            }
            self.finish(&parsed.head);
            return Exchange {
                result: Ok(Reply {
                    status: parsed.head.status,
                    headers: parsed.headers,
                    body: sink.take_body(),
                }),
                duration,
                waiting,
                bytes_sent: self.sent,
                bytes_received: self.received,
                setup,
                cut: 0,
            };
        }
    }

    /// Keeps the connection for the next request, or closes it when the
    /// response says so, ended with the connection, or was followed by
    /// bytes nobody asked for (hyper refuses those too).
    fn finish(&mut self, head: &Head) {
        if head.status == 101
            || !head.keep_alive
            || self.close_after
            || head.framing == Framing::UntilClose
            || self.read.pending() != 0
        {
            self.close();
        } else {
            self.read.clear();
        }
        // A large head grew it: not kept for the connection's life.
        self.read.shrink();
        if self.out.capacity() > MAX_KEPT_OUT {
            self.out = Vec::new();
        }
    }

    /// Writes the request line, `host`, the caller's headers, a
    /// `content-length` for a non-empty body, and the body: what hyper
    /// wrote for the same request, in the same order.
    fn encode(
        &mut self,
        target: &Target,
        method: &Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<&[u8]>,
    ) -> Result<(), ()> {
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        let base = target.base_path.as_bytes();
        let len = base.len() + path.len();
        if len < MAX_TARGET
            && base
                .iter()
                .chain(path.as_bytes())
                .all(|&c| plain_target_byte(c))
            && base.first().or(path.as_bytes().first()) == Some(&b'/')
        {
            out.extend_from_slice(base);
            out.extend_from_slice(path.as_bytes());
        } else {
            // Anything unusual is read as hyper read it: by the `http`
            // crate's URI parser (which refuses some bytes and drops a
            // `#fragment`).
            let uri = hyper::Uri::try_from(target.path(path)).map_err(|_| ())?;
            out.extend_from_slice(uri.to_string().as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(target.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
        let body = body.unwrap_or_default();
        let mut has_length = false;
        self.close_after = false;
        for (name, value) in headers {
            if body.is_empty() && *name == TRANSFER_ENCODING {
                // No body: hyper drops a transfer coding.
                continue;
            }
            has_length |= *name == CONTENT_LENGTH;
            self.close_after |= *name == hyper::header::CONNECTION
                && value.as_bytes().eq_ignore_ascii_case(b"close");
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() && !has_length {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(())
    }

    async fn write_request(&mut self) -> Write {
        let Some(stream) = self.stream.as_mut() else {
            return Write::Unsent;
        };
        let mut at = 0;
        while at < self.out.len() {
            match stream.write(&self.out[at..]).await {
                Ok(n) if n > 0 => {
                    at += n;
                    self.sent += n as u64;
                }
                _ if at == 0 => return Write::Unsent,
                _ => return Write::Failed,
            }
        }
        Write::Done
    }

    /// Reads up to the final response head (interim 1xx heads skipped).
    async fn read_head(&mut self, head_only: bool) -> Result<Parsed, Broken> {
        loop {
            if let Some(parsed) = self.parse_head(head_only)? {
                return Ok(parsed);
            }
            if self.read.head_full() {
                return Err(Broken);
            }
            if self.fill(true).await.map_err(|_| Broken)? == 0 {
                return Err(Broken);
            }
        }
    }

    /// Parses the head in the buffer, if complete; its headers go into a
    /// `HeaderMap` whose values share one copy of the head's bytes.
    fn parse_head(&mut self, head_only: bool) -> Result<Option<Parsed>, Broken> {
        loop {
            let mut slots = header_slots();
            let bytes = self.read.unparsed();
            let Some((len, mut head, lines)) =
                parse_head_into(bytes, &mut slots).map_err(|()| Broken)?
            else {
                return Ok(None);
            };
            if (100..200).contains(&head.status) && head.status != 101 {
                self.read.consume(len);
                continue;
            }
            let at = Instant::now();
            let raw = Bytes::copy_from_slice(&bytes[..len]);
            let base = bytes.as_ptr() as usize;
            let mut headers = HeaderMap::with_capacity(lines.len());
            for line in lines {
                let name = HeaderName::from_bytes(line.name.as_bytes()).map_err(|_| Broken)?;
                let from = line.value.as_ptr() as usize - base;
                let value = raw.slice(from..from + line.value.len());
                let value = HeaderValue::from_maybe_shared(value).map_err(|_| Broken)?;
                headers.append(name, value);
            }
            if head_only {
                head.framing = Framing::Empty;
            }
            self.read.consume(len);
            return Ok(Some(Parsed { head, headers, at }));
        }
    }

    /// Reads the body as `framing` delimits it, each piece into `sink`.
    async fn read_body<S: BodySink>(
        &mut self,
        framing: Framing,
        sink: &mut S,
    ) -> Result<(), Broken> {
        match framing {
            Framing::Empty => Ok(()),
            Framing::Length(mut left) => loop {
                left -= self.hand_on(left, sink);
                if left == 0 {
                    return Ok(());
                }
                self.more().await?;
            },
            Framing::Chunked => {
                let mut state = Chunk::Size;
                loop {
                    if let Chunk::Data(n) = state {
                        let took = self.hand_on(n, sink);
                        state = if took == n {
                            Chunk::DataEnd
                        } else {
                            Chunk::Data(n - took)
                        };
                    }
                    let (used, next) =
                        chunk_frame(state, self.read.unparsed()).map_err(|_| Broken)?;
                    self.read.consume(used);
                    state = next;
                    match state {
                        Chunk::Done => return Ok(()),
                        Chunk::Data(_) if self.read.pending() > 0 => {}
                        Chunk::Data(_) => self.more().await?,
                        _ if self.read.pending() >= MAX_LINE => return Err(Broken),
                        _ => self.more().await?,
                    }
                }
            }
            Framing::UntilClose => loop {
                self.hand_on(u64::MAX, sink);
                if self.fill(false).await.map_err(|_| Broken)? == 0 {
                    return Ok(());
                }
            },
        }
    }

    /// Hands up to `most` buffered body bytes to `sink`; how many it did.
    fn hand_on<S: BodySink>(&mut self, most: u64, sink: &mut S) -> u64 {
        let take = (self.read.pending() as u64).min(most);
        if take > 0 {
            sink.data(&self.read.unparsed()[..take as usize]);
            self.read.consume(take as usize);
        }
        take
    }

    /// Reads more body bytes; the body cannot end here, so EOF breaks it.
    async fn more(&mut self) -> Result<(), Broken> {
        match self.fill(false).await {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(Broken),
        }
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
}

/// Bytes of a request target that the `http` crate's URI parser takes as
/// they are in both path and query (RFC 3986 unreserved, sub-delims, `:`,
/// `@`, `/`, `?`, `%`); anything else goes through that parser.
fn plain_target_byte(c: u8) -> bool {
    matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x5A | 0x5F | 0x61..=0x7A | 0x7E)
}
