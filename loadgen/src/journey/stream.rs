//! The streamed chat turn: `POST /api/chat/stream` read as server-sent
//! events straight off the VU's connection, each event timed as it arrives.
//!
//! The backend answers `data: {json}` frames: `{"type":"token","token"}`
//! per token, then `{"type":"done",..,"usage"}` or `{"type":"error",..}`;
//! `:` comment lines are keep-alives. [`SseSink`] is an [`http::BodySink`]
//! that parses those frames incrementally (a chunk may end anywhere, lines
//! end in LF, CRLF or CR as the SSE spec allows) and keeps only what the
//! metrics need: the arrival offset of every content event and how the
//! stream ended. What those offsets mean (TTFT, ITL, ...) is defined once,
//! in [`crate::stats::StreamRecord`].
//!
//! Memory per stream is bounded whatever the target sends: an unfinished
//! line is kept up to [`MAX_SSE_LINE`], one event's data up to
//! [`MAX_SSE_EVENT`], and content offsets up to [`MAX_CONTENT_EVENTS`].
//! Past a cap the line (and the event it belongs to) or the offset is
//! dropped and its bytes counted in [`SseSink::cut`], which the journey
//! records as a truncated response.
//!
//! [`http::BodySink`]: crate::http::BodySink

use crate::http::BodySink;
use crate::stats::StreamEnd;
use hyper::HeaderMap;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Longest SSE line kept while it is incomplete: a token event is tens of
/// bytes, a `done` event with its sources a few KiB.
pub const MAX_SSE_LINE: usize = 256 * 1024;
/// Most `data:` bytes of one event (its lines joined).
pub const MAX_SSE_EVENT: usize = 1024 * 1024;
/// Most content events timed per stream (16 bytes each: 2 MiB), far past
/// the longest reply a model writes (tens of thousands of tokens).
pub const MAX_CONTENT_EVENTS: usize = 128 * 1024;

/// One event's JSON, as far as the metrics read it. Strings borrow from
/// the event's bytes when they hold no escapes: a token event, the bulk of
/// a stream, is read without allocating.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "borrowed_or_null")]
    token: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// An optional string that borrows from the event when it holds no
/// escapes. serde borrows a `Cow<str>` field marked `borrow`, but an
/// `Option` of one always allocates: one allocation per token event, the
/// bulk of a stream, before this.
fn borrowed_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Reads a token stream and times its events.
#[derive(Debug, Default)]
pub struct SseSink {
    /// When the request was handed to the connection.
    started: Option<Instant>,
    /// Time to the response head (TTFB), once it came.
    pub ttfb: Option<Duration>,
    /// The status was 2xx: the body is a stream (else an ordinary error body).
    pub streaming: bool,
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    /// The last line ended in CR: a LF right after it belongs to it.
    after_cr: bool,
    /// Inside a line longer than [`MAX_SSE_LINE`]: bytes are dropped up to
    /// its end.
    skipping: bool,
    /// The event being read lost a line or data to a cap: it is dropped
    /// at its end.
    event_cut: bool,
    /// `data:` lines of the event being read.
    data: String,
    /// Bytes dropped at a cap (lines, events, content offsets).
    pub cut: u64,
    /// Offset of every content event (a token event with a non-empty token).
    pub content_at: Vec<Duration>,
    /// Some token had a non-blank character.
    pub text_seen: bool,
    /// How the stream ended and when, once a `done` or `error` event came.
    pub end: Option<(StreamEnd, Duration)>,
    /// `usage.completion_tokens` of the `done` event.
    pub completion_tokens: Option<u64>,
}

impl BodySink for SseSink {
    fn head(&mut self, status: u16, _headers: &HeaderMap, started: Instant, at: Instant) {
        self.started = Some(started);
        self.ttfb = Some(at.saturating_duration_since(started));
        self.streaming = (200..300).contains(&status);
    }

    fn data(&mut self, chunk: &[u8]) {
        if !self.streaming || self.end.is_some() {
            return;
        }
        // One clock reading per chunk: every event completed by this chunk
        // arrived now, as far as the client can tell.
        let now = Instant::now();
        let mut chunk = chunk;
        if self.skipping {
            // The rest of an over-long line: dropped up to its terminator,
            // which ends it as any other.
            let Some(at) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.cut += chunk.len() as u64;
                return;
            };
            self.cut += at as u64;
            self.skipping = false;
            self.after_cr = chunk.get(at) == Some(&b'\r');
            chunk = chunk.get(at + 1..).unwrap_or_default();
        }
        let mut buf = std::mem::take(&mut self.pending);
        // The unfinished line holds no terminator: only the new bytes are
        // searched (rescanning it on every chunk was quadratic).
        let mut from = buf.len();
        buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(rel) = buf
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n' || b == b'\r'))
        {
            let at = from + rel;
            let term = buf.get(at).copied();
            if self.after_cr && at == start && term == Some(b'\n') {
                self.after_cr = false;
                start = at + 1;
                from = start;
                continue;
            }
            self.after_cr = term == Some(b'\r');
            if let Some(line) = buf.get(start..at) {
                self.line(line, now);
            }
            start = at + 1;
            from = start;
            if self.end.is_some() {
                return;
            }
        }
        buf.drain(..start.min(buf.len()));
        if buf.len() > MAX_SSE_LINE {
            self.cut += buf.len() as u64;
            self.skipping = true;
            self.event_cut = true;
            buf.clear();
        }
        self.pending = buf;
    }

    fn cut(&self) -> u64 {
        self.cut
    }
}

/// Most content offsets reserved up front (64 KiB): a VU whose last reply
/// was very long does not hold that much for every later stream.
const MAX_RESERVED_CONTENT: usize = 4096;

impl SseSink {
    /// A sink for a stream of about `content_events` content events: their
    /// offsets are reserved at once (up to [`MAX_RESERVED_CONTENT`]).
    pub fn expecting(content_events: usize) -> Self {
        SseSink {
            content_at: Vec::with_capacity(content_events.min(MAX_RESERVED_CONTENT)),
            ..SseSink::default()
        }
    }

    /// Time since the request was handed to the connection (`None` before
    /// the response head came).
    pub fn since_start(&self) -> Option<Duration> {
        self.started.map(|s| s.elapsed())
    }

    fn line(&mut self, line: &[u8], now: Instant) {
        if line.is_empty() {
            if std::mem::take(&mut self.event_cut) {
                self.data.clear();
            } else if !self.data.is_empty() {
                // Taken and put back empty: the buffer is reused by every
                // event of the stream instead of allocated per event.
                let mut data = std::mem::take(&mut self.data);
                self.dispatch(data.trim_end_matches('\n'), now);
                data.clear();
                self.data = data;
            }
            return;
        }
        if line.len() > MAX_SSE_LINE {
            // As when it arrives in pieces (`skipping`): the line and its
            // event are dropped, however the network cut the bytes.
            self.cut += line.len() as u64;
            self.event_cut = true;
            return;
        }
        if line.first() == Some(&b':') {
            return; // a comment: keep-alive
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            if self.event_cut || self.data.len() + value.len() >= MAX_SSE_EVENT {
                // The event cannot be read whole: drop all of it.
                self.cut += (self.data.len() + value.len()) as u64;
                self.data.clear();
                self.event_cut = true;
                return;
            }
            self.data.push_str(value);
            self.data.push('\n');
        }
    }

    fn dispatch(&mut self, data: &str, now: Instant) {
        let Ok(event) = serde_json::from_str::<Event<'_>>(data) else {
            return;
        };
        let offset = now.saturating_duration_since(self.started.unwrap_or(now));
        match event.kind.as_ref() {
            "token" => {
                if let Some(token) = event.token.filter(|t| !t.is_empty()) {
                    self.text_seen |= token.chars().any(|c| !c.is_whitespace());
                    if self.content_at.len() < MAX_CONTENT_EVENTS {
                        self.content_at.push(offset);
                    } else {
                        self.cut += data.len() as u64;
                    }
                }
            }
            "done" => {
                self.completion_tokens = event.usage.and_then(|u| u.completion_tokens);
                self.end = Some((StreamEnd::Done, offset));
            }
            "error" => self.end = Some((StreamEnd::ErrorEvent, offset)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> SseSink {
        let mut s = SseSink::default();
        let t = Instant::now();
        s.head(200, &HeaderMap::new(), t, t);
        s
    }

    #[test]
    fn a_plain_token_is_borrowed_an_escaped_one_owned_and_null_or_absent_none() {
        let e: Event<'_> = serde_json::from_str(r#"{"type":"token","token":" word"}"#).unwrap();
        assert!(matches!(e.token, Some(Cow::Borrowed(" word"))));
        assert!(matches!(e.kind, Cow::Borrowed("token")));
        let e: Event<'_> = serde_json::from_str(r#"{"type":"token","token":"a\"b"}"#).unwrap();
        assert!(matches!(e.token.as_deref(), Some("a\"b")));
        for json in [r#"{"type":"token","token":null}"#, r#"{"type":"done"}"#] {
            let e: Event<'_> = serde_json::from_str(json).unwrap();
            assert!(e.token.is_none(), "{json}");
        }
        assert!(serde_json::from_str::<Event<'_>>(r#"{"type":"token","token":7}"#).is_err());
    }

    #[test]
    fn events_split_anywhere_across_chunks_are_all_read() {
        let body = ": keep-alive\n\ndata: {\"type\":\"token\",\"token\":\"Hel\"}\n\n\
                    data: {\"type\":\"token\",\"token\":\"\"}\n\n\
                    data: {\"type\":\"token\",\"token\":\"lo\"}\r\n\r\n\
                    data: {\"type\":\"token\",\r\ndata: \"token\":\" \"}\r\r\
                    data: {\"type\":\"done\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n";
        for split in 1..body.len() {
            let mut s = sink();
            for part in body.as_bytes().chunks(split) {
                s.data(part);
            }
            // The empty token is no content; the blank one is.
            assert_eq!(s.content_at.len(), 3, "chunks of {split}");
            assert!(s.text_seen);
            assert_eq!(
                s.end.map(|e| e.0),
                Some(StreamEnd::Done),
                "chunks of {split}"
            );
            assert_eq!(s.completion_tokens, Some(4));
        }
    }

    #[test]
    fn an_error_event_ends_the_stream_and_a_missing_end_is_no_end() {
        let mut s = sink();
        s.data(b"data: {\"type\":\"token\",\"token\":\"a\"}\n\ndata: {\"type\":\"error\",\"message\":\"provider failed\",\"code\":\"provider_error\"}\n\n");
        assert_eq!(s.end.map(|e| e.0), Some(StreamEnd::ErrorEvent));
        let mut cut = sink();
        // The last event has no blank line after it: it never completed.
        cut.data(b"data: {\"type\":\"token\",\"token\":\"a\"}\n\ndata: {\"type\":\"done\"}\n");
        assert_eq!((cut.content_at.len(), cut.end), (1, None));
    }

    #[test]
    fn an_error_status_body_is_not_read_as_a_stream() {
        let mut s = SseSink::default();
        let t = Instant::now();
        s.head(503, &HeaderMap::new(), t, t);
        s.data(b"data: {\"type\":\"token\",\"token\":\"a\"}\n\n");
        assert!(!s.streaming);
        assert!(s.content_at.is_empty());
    }
}
