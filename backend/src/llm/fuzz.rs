//! Property tests ("fuzzing" on the stable toolchain: `cargo fuzz` needs a
//! nightly compiler, which this project does not require) over what the
//! backend reads from a provider: the SSE decoder and the OpenAI frame
//! reader. The auth parsers have theirs in `auth/fuzz.rs`.
//!
//! Each property runs [`CASES`] cases in the normal test command;
//! `PROPTEST_CASES=100000 cargo test -p backend --lib fuzz` is the long
//! form. A failure is shrunk and saved under `proptest-regressions/`
//! (commit it: it is replayed first on every run).

use proptest::prelude::*;
use serde_json::json;

use super::openai::{read_frame, Frame};
use super::sse::{SseDecoder, SseError, MAX_SSE_LINE};
use super::StreamEvent;

/// Cases per property in the normal test run.
pub(crate) const CASES: u32 = 256;

/// [`CASES`] cases, unless `PROPTEST_CASES` asks for another number.
pub(crate) fn config() -> ProptestConfig {
    let base = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        base
    } else {
        ProptestConfig {
            cases: CASES,
            ..base
        }
    }
}

/// Frame data an OpenAI-compatible provider sends, and near misses.
fn frame_data() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,8}".prop_map(|t| json!({"choices": [{"index": 0, "delta": {"content": t}}]}).to_string()),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(p, c)| json!({"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c}}).to_string()),
        1 => Just("[DONE]".to_string()),
        1 => Just("{\"error\":{\"message\":\"overloaded\"}}".to_string()),
        1 => Just("{\"choices\":[{\"delta\":{}}],\"usage\":null}".to_string()),
        1 => "\\PC{0,12}",
    ]
}

/// An SSE body: events of frame data over one or more `data:` lines, with
/// comments, other fields, every line ending; sometimes arbitrary bytes or
/// a line past the cap.
fn sse_body() -> impl Strategy<Value = Vec<u8>> {
    let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    let line = prop_oneof![
        60 => frame_data().prop_map(|d| format!("data: {d}")),
        10 => Just(": keep-alive".to_string()),
        10 => Just(String::new()),
        10 => "[a-z]{0,5}(:\\PC{0,6})?",
        1 => Just(format!("data: {}", "x".repeat(MAX_SSE_LINE))),
    ];
    let piece = prop_oneof![
        8 => (line, eol.clone()).prop_map(|(l, e)| format!("{l}{e}").into_bytes()),
        1 => eol.prop_map(|e| e.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

/// The events decoded from `parts` and the error that stopped it, if any.
fn decode(parts: &[&[u8]]) -> (Vec<String>, Option<SseError>) {
    let mut d = SseDecoder::default();
    let mut out = Vec::new();
    for p in parts {
        if let Err(e) = d.feed(p, &mut out) {
            return (out, Some(e));
        }
        assert!(d.buffered() <= MAX_SSE_LINE + super::sse::MAX_SSE_EVENT);
    }
    (out, None)
}

fn split<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    at.push(0);
    at.push(body.len());
    at.sort_unstable();
    at.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_upstream_stream_split_anywhere_decodes_as_it_does_whole(
        body in sse_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = decode(&[&body]);
        prop_assert_eq!(decode(&split(&body, &cuts)), whole.clone());
        if body.len() <= 4096 {
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            prop_assert_eq!(decode(&bytes), whole);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(decode(&slices), decode(&[&parts.concat()]));
    }

    #[test]
    fn any_frame_data_reads_without_panicking_and_content_comes_out_as_sent(
        data in frame_data(),
        text in "\\PC{1,8}",
    ) {
        let _ = read_frame(&data);
        let frame = json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string();
        prop_assert_eq!(read_frame(&frame), Frame::Events(vec![StreamEvent::Token(text)]));
    }
}
