//! Property tests ("fuzzing" on the stable toolchain: `cargo fuzz` needs a
//! nightly compiler, which this project does not require) over everything
//! loadgen parses from the user or the network: thresholds, durations and
//! stage specs, and the SSE stream parser. (The `hit` client's response
//! parser has its own, in `wire/fuzz.rs`.)
//!
//! Each property runs [`CASES`] cases in the normal test command, a few
//! seconds in all; `PROPTEST_CASES=100000 cargo test -p loadgen fuzz` is the
//! long form. A failure is shrunk to a minimal input and saved under
//! `proptest-regressions/` (commit it: it is replayed first on every run).

use crate::duration::{format_duration, parse_duration};
use crate::http::BodySink;
use crate::journey::stream::SseSink;
use crate::scheduler::{parse_stages, steps, MAX_VUS};
use crate::stats::StreamEnd;
use crate::threshold;
use hyper::HeaderMap;
use proptest::prelude::*;
use std::time::{Duration, Instant};

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

/// Threshold-shaped text: real metric names, tags, aggregations and
/// operators mixed with arbitrary pieces, so most inputs get deep into the
/// parser instead of failing at the first character.
fn near_threshold() -> impl Strategy<Value = String> {
    let metric = prop_oneof![
        Just("http_req_duration".to_string()),
        Just("http_req_failed".to_string()),
        Just("checks".to_string()),
        Just("http_reqs".to_string()),
        Just("chat_ttft".to_string()),
        Just("stream_errors".to_string()),
        "[a-z_{}:]{0,12}",
    ];
    let tag = prop_oneof![
        Just("phase".to_string()),
        Just("name".to_string()),
        Just("status".to_string()),
        Just("kind".to_string()),
        "[a-z:,{} ]{0,6}",
    ];
    let value = prop_oneof![
        Just("2xx".to_string()),
        Just("chat".to_string()),
        Just("cut".to_string()),
        "\\PC{0,6}",
    ];
    let agg = prop_oneof![
        Just("avg".to_string()),
        Just("med".to_string()),
        Just("rate".to_string()),
        Just("count".to_string()),
        (-5.0f64..120.0).prop_map(|p| format!("p({p})")),
        "p\\([0-9.e-]{0,5}\\)",
        "\\PC{0,5}",
    ];
    let op = prop_oneof![
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">="),
        Just("=="),
        Just("="),
        Just("=<")
    ];
    let number = prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        "[0-9.eE+-]{0,8}",
        Just("NaN".to_string()),
        Just("inf".to_string()),
    ];
    let selector = prop::collection::vec((tag, value), 0..3).prop_map(|pairs| {
        if pairs.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = pairs.iter().map(|(t, v)| format!("{t}:{v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
    });
    (metric, selector, "[ :]{0,2}", agg, op, number)
        .prop_map(|(m, s, sep, a, o, n)| format!("{m}{s}{sep}{a}{o}{n}"))
}

/// Duration-shaped text: numbers with units, and arbitrary pieces.
fn near_duration() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        (
            0u32..100_000,
            prop_oneof![Just("ms"), Just("s"), Just("m"), Just("h")]
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
        ("[0-9.]{0,6}", "[a-z]{0,3}").prop_map(|(n, u)| format!("{n}{u}")),
        "\\PC{0,4}",
    ];
    prop::collection::vec(part, 0..4).prop_map(|parts| parts.concat())
}

/// An SSE body in pieces: events the backend sends (tokens, done, error,
/// comments, odd fields), with every line ending LF, CRLF or CR, and
/// sometimes arbitrary bytes, including lines past the caps.
fn sse_body() -> impl Strategy<Value = Vec<u8>> {
    let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    let token = "\\PC{0,8}"
        .prop_map(|t| format!("{{\"type\":\"token\",\"token\":{}}}", serde_json::json!(t)));
    let data = prop_oneof![
        4 => token,
        1 => Just("{\"type\":\"done\",\"usage\":{\"completion_tokens\":3}}".to_string()),
        1 => Just("{\"type\":\"error\",\"message\":\"x\"}".to_string()),
        1 => "\\PC{0,12}",
    ];
    let line = prop_oneof![
        60 => data.prop_map(|d| format!("data: {d}")),
        10 => Just(": keep-alive".to_string()),
        10 => Just(String::new()),
        10 => "[a-z]{0,5}:\\PC{0,6}",
        // Past MAX_SSE_LINE: dropped whole, however it arrives.
        1 => Just(format!("data: {}", "x".repeat(crate::journey::stream::MAX_SSE_LINE + 3))),
    ];
    let piece = prop_oneof![
        8 => (line, eol.clone()).prop_map(|(l, e)| format!("{l}{e}").into_bytes()),
        1 => eol.prop_map(|e| e.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

/// What an [`SseSink`] made of a stream, without its clock readings.
#[derive(Debug, PartialEq)]
struct Parsed {
    contents: usize,
    text_seen: bool,
    end: Option<StreamEnd>,
    completion_tokens: Option<u64>,
    cut: u64,
}

fn parse_sse(parts: &[&[u8]]) -> Parsed {
    let mut sink = SseSink::default();
    let t = Instant::now();
    sink.head(200, &HeaderMap::new(), t, t);
    for p in parts {
        sink.data(p);
    }
    Parsed {
        contents: sink.content_at.len(),
        text_seen: sink.text_seen,
        end: sink.end.map(|e| e.0),
        completion_tokens: sink.completion_tokens,
        cut: sink.cut,
    }
}

/// `body` cut at `cuts` (positions taken modulo its length, any order).
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
    fn a_threshold_never_panics_and_a_parsed_one_reads_back_the_same(
        text in prop_oneof![near_threshold(), "\\PC{0,40}"],
    ) {
        if let Ok(t) = threshold::parse(&text) {
            let shown = t.to_string();
            prop_assert_eq!(threshold::parse(&shown), Ok(t), "{}", shown);
        }
    }

    #[test]
    fn a_duration_never_panics_and_a_parsed_one_reads_back_to_the_millisecond(
        text in prop_oneof![near_duration(), "\\PC{0,16}"],
    ) {
        if let Ok(d) = parse_duration(&text) {
            let shown = format_duration(d);
            let back = parse_duration(&shown);
            prop_assert!(back.is_ok(), "{:?} -> {} does not parse", text, shown);
            let back = back.unwrap_or_default();
            prop_assert_eq!(back.as_millis(), d.as_millis(), "{:?} -> {}", text, shown);
        }
    }

    #[test]
    fn every_millisecond_duration_formats_to_text_that_parses_back_to_it(
        ms in 0u64..1_000_000_000_000,
    ) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{}", format_duration(d));
    }

    #[test]
    fn a_stage_spec_never_panics_and_its_steps_stay_bounded(
        text in prop_oneof![
            prop::collection::vec(
                (near_duration(), prop_oneof![
                    (0u32..50).prop_map(|n| n.to_string()),
                    any::<u32>().prop_map(|n| n.to_string()),
                    "\\PC{0,4}",
                ]),
                0..4,
            ).prop_map(|v| v.iter().map(|(d, t)| format!("{d}:{t}")).collect::<Vec<_>>().join(",")),
            "\\PC{0,24}",
        ],
    ) {
        if let Ok(stages) = parse_stages(&text) {
            prop_assert!(!stages.is_empty());
            prop_assert!(stages.iter().all(|s| s.target <= MAX_VUS));
            // Steps are one per VU change: only computed when that is small,
            // since a real plan of a million VUs has a million steps.
            let changes: u64 = stages
                .iter()
                .scan(0u32, |at, s| {
                    let d = u64::from(at.abs_diff(s.target));
                    *at = s.target;
                    Some(d)
                })
                .sum();
            if changes <= 10_000 {
                let st = steps(0, &stages);
                prop_assert_eq!(st.len() as u64, changes + 1);
                prop_assert!(st.windows(2).all(|w| w[0].at <= w[1].at));
            }
        }
    }

    #[test]
    fn an_sse_stream_split_anywhere_parses_as_it_does_whole(
        body in sse_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = parse_sse(&[&body]);
        let pieces = split(&body, &cuts);
        prop_assert_eq!(parse_sse(&pieces), whole);
        // Byte by byte, the hardest split of all (short bodies: a line
        // past the cap fed a byte at a time is slow in a debug build).
        if body.len() <= 4096 {
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            prop_assert_eq!(parse_sse(&bytes), parse_sse(&[&body]));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_sse_parser(
        parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let parsed = parse_sse(&slices);
        prop_assert_eq!(parsed, parse_sse(&[&parts.concat()]));
    }
}
