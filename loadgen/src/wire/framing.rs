//! What the bytes of a response say: its head (status, how the body is
//! framed, whether the connection stays open) and the chunk boundaries of a
//! chunked body, as RFC 9112 defines them. No I/O here: the connection in
//! `wire/mod.rs` (`hit`) and the journey's client in `http.rs` feed these
//! parsers the bytes they have read.

/// Bytes that are no valid HTTP/1.1 framing: the connection is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
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
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
}

/// Where a chunked body parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
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
pub(crate) fn chunk_step(mut state: Chunk, b: &[u8]) -> Result<(usize, Chunk), Malformed> {
    let mut at = 0;
    loop {
        if let Chunk::Data(n) = state {
            let take = (b.len() as u64 - at as u64).min(n);
            at += take as usize;
            if take < n {
                return Ok((at, Chunk::Data(n - take)));
            }
            state = Chunk::DataEnd;
        }
        let (used, next) = chunk_frame(state, b.get(at..).unwrap_or_default())?;
        at += used;
        state = next;
        if used == 0 || state == Chunk::Done {
            return Ok((at, state));
        }
    }
}

/// Advances the chunked parser over framing bytes only (chunk-size lines,
/// the CRLF after chunk data, trailers): stops at chunk data
/// ([`Chunk::Data`], for the caller to hand on), at the end, or when it
/// needs more bytes (then it has used nothing of what remains).
pub(crate) fn chunk_frame(mut state: Chunk, b: &[u8]) -> Result<(usize, Chunk), Malformed> {
    let mut at = 0;
    loop {
        let rest = &b[at..];
        match state {
            Chunk::Done | Chunk::Data(_) => return Ok((at, state)),
            Chunk::DataEnd => {
                if rest.len() < 2 {
                    return Ok((at, state));
                }
                if &rest[..2] != b"\r\n" {
                    return Err(Malformed);
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
fn chunk_size(line: &[u8]) -> Result<u64, Malformed> {
    let digits = line
        .split(|&c| c == b';')
        .next()
        .map(trim)
        .unwrap_or_default();
    if digits.is_empty() || digits.len() > 15 {
        return Err(Malformed);
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        let d = char::from(c).to_digit(16).ok_or(Malformed)?;
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
pub(crate) fn parse_head(b: &[u8]) -> Result<Option<(usize, Head)>, ()> {
    let mut slots = header_slots();
    Ok(parse_head_into(b, &mut slots)?.map(|(len, head, _)| (len, head)))
}

/// Room for the header lines of one head ([`parse_head_into`]).
pub(crate) type HeaderSlots<'b> = [std::mem::MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

/// Empty [`HeaderSlots`].
pub(crate) fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS]
}

/// A complete head: its length, what it says, and its header lines.
pub(crate) type HeadLines<'h, 'b> = (usize, Head, &'h [httparse::Header<'b>]);

/// [`parse_head`], also giving the head's header lines (borrowed from `b`,
/// stored in `slots`) to a caller that keeps them (the journey's client).
pub(crate) fn parse_head_into<'h, 'b>(
    b: &'b [u8],
    slots: &'h mut HeaderSlots<'b>,
) -> Result<Option<HeadLines<'h, 'b>>, ()> {
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        b,
        slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(());
    };
    // httparse takes any three digits; a status below 100 is no HTTP
    // status (hyper refuses it too), and recording `000` would file an
    // answer under "no response" (found by `fuzz.rs`).
    if status < 100 {
        return Err(());
    }
    let headers = response.headers;
    let mut fields = HeadFields::default();
    for h in headers.iter() {
        fields.header(h.name.as_bytes(), h.value)?;
    }
    Ok(Some((len, fields.head(status, version == 0), headers)))
}
