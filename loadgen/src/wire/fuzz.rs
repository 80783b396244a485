//! Property tests of the `hit` client's response parser (see `crate::fuzz`
//! for why proptest and how to run the long form): a head or a chunked body
//! of any bytes never panics, and a chunked body fed in any pieces (as
//! reads deliver it) ends where it ends when fed whole.

use super::framing::{chunk_step, parse_head, Chunk};
use crate::fuzz::config;
use proptest::prelude::*;

/// Head-shaped bytes: a status line and headers that matter for framing,
/// with arbitrary values and, sometimes, arbitrary bytes.
fn near_head() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![
        Just("HTTP/1.1"),
        Just("HTTP/1.0"),
        Just("HTTP/2"),
        Just("HTTP/x")
    ];
    let status = prop_oneof![(100u16..600).prop_map(|s| s.to_string()), "[0-9a-z]{0,4}"];
    let name = prop_oneof![
        Just("Content-Length"),
        Just("Transfer-Encoding"),
        Just("Connection"),
        Just("X-Other"),
    ];
    let value = prop_oneof![
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
        Just("chunked".to_string()),
        Just("gzip, chunked".to_string()),
        Just("close".to_string()),
        Just("keep-alive".to_string()),
        "\\PC{0,10}",
    ];
    let headers = prop::collection::vec((name, value), 0..5);
    let eol = prop_oneof![Just("\r\n"), Just("\n")];
    (
        version,
        status,
        headers,
        eol,
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(v, s, h, eol, tail)| {
            let mut out = format!("{v} {s} Reason{eol}");
            for (n, val) in h {
                out.push_str(&format!("{n}: {val}{eol}"));
            }
            out.push_str(eol);
            let mut bytes = out.into_bytes();
            bytes.extend(tail);
            bytes
        })
}

/// A chunked body: chunks of arbitrary data with sizes written as a server
/// might (upper or lower case, extensions), trailers, then the next
/// response's bytes; with `corrupt`, sometimes one byte replaced.
fn chunked_body(corrupt: bool) -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        prop::collection::vec(any::<u8>(), 1..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(data, upper, ext)| {
            let size = if upper {
                format!("{:X}", data.len())
            } else {
                format!("{:x}", data.len())
            };
            let mut out = format!("{size}{}\r\n", if ext { ";a=b" } else { "" }).into_bytes();
            out.extend(data);
            out.extend(b"\r\n");
            out
        });
    let trailers = prop::collection::vec("[A-Za-z-]{1,8}: [a-z0-9]{0,8}", 0..3);
    (
        prop::collection::vec(chunk, 0..6),
        trailers,
        prop::option::of((any::<usize>(), any::<u8>())),
    )
        .prop_map(move |(chunks, trailers, damage)| {
            let mut out = chunks.concat();
            out.extend(b"0\r\n");
            for t in trailers {
                out.extend(t.as_bytes());
                out.extend(b"\r\n");
            }
            out.extend(b"\r\nHTTP/1.1 200 OK\r\n");
            if let (true, Some((at, byte))) = (corrupt, damage) {
                let len = out.len();
                if let Some(b) = out.get_mut(at % len) {
                    *b = byte;
                }
            }
            out
        })
}

/// How a chunked parse ended: `Ok((consumed, state))` where it stopped
/// (`Done`, or needing bytes that never came), or `Err` when it refused.
fn parse_chunked(body: &[u8], cuts: &[usize]) -> Result<(usize, Chunk), ()> {
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    ends.push(body.len());
    ends.sort_unstable();
    let mut ends = ends.into_iter();
    let (mut pos, mut avail, mut state) = (0, ends.next().unwrap_or(body.len()), Chunk::Size);
    loop {
        let (used, next) = chunk_step(state, &body[pos..avail]).map_err(|_| ())?;
        pos += used;
        state = next;
        if state == Chunk::Done {
            return Ok((pos, state));
        }
        if used == 0 {
            match ends.find(|&e| e > avail) {
                Some(e) => avail = e,
                None => return Ok((pos, state)),
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_head_bytes_never_panic_and_a_complete_head_fits_its_input(
        bytes in prop_oneof![near_head(), prop::collection::vec(any::<u8>(), 0..64)],
    ) {
        if let Ok(Some((len, head))) = parse_head(&bytes) {
            prop_assert!(len <= bytes.len());
            prop_assert!((100..1000).contains(&head.status));
            // The same head with more bytes after it reads the same.
            let mut more = bytes.clone();
            more.extend_from_slice(b"more");
            prop_assert_eq!(parse_head(&more), Ok(Some((len, head))));
        }
    }

    #[test]
    fn a_chunked_body_fed_in_any_pieces_ends_where_it_ends_whole(
        body in prop_oneof![chunked_body(true), prop::collection::vec(any::<u8>(), 0..64)],
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = parse_chunked(&body, &[]);
        prop_assert_eq!(parse_chunked(&body, &cuts), whole);
    }

    #[test]
    fn a_well_formed_chunked_body_is_read_to_its_end_in_any_pieces(
        body in chunked_body(false),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let (pos, state) = parse_chunked(&body, &cuts).map_err(|()| {
            TestCaseError::fail(format!("refused {:?}", String::from_utf8_lossy(&body)))
        })?;
        prop_assert_eq!(state, Chunk::Done);
        prop_assert_eq!(&body[pos..], b"HTTP/1.1 200 OK\r\n".as_slice());
    }
}
