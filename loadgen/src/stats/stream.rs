//! Token-level metrics of streamed (SSE) chat turns, and the one place their
//! definitions live (DESIGN.md, "Streaming metrics"). Every reader — live
//! view, summary, thresholds, summary.json — goes through [`StreamRecord`]'s
//! methods and the histograms [`StreamStats`] fills from them, so a TTFT is
//! the same number wherever it is printed.
//!
//! All instants are offsets from the request being handed to the connection
//! (the origin of `http_req_duration` and `http_req_waiting`):
//!
//! - TTFB: response headers (the request's `waiting`);
//! - TTFT: the first content event (a `token` event with a non-empty token);
//! - ITL: every gap between consecutive content events, each one recorded;
//! - TPOT: (last − first content event) / (n − 1), once per request, n ≥ 2;
//! - E2E: the end of the stream — the `done` or `error` event, or EOF (or
//!   the failure) when neither came; the request's `duration` is set to it;
//! - tokens/s: n / (E2E − TTFT) with n the content events the client saw
//!   (not the `done` event's `usage.completion_tokens`: a cut stream has no
//!   usage, and a backend may put several tokenizer tokens in one event),
//!   stored as milli-tokens per second ([`TOKENS_PER_S_SCALE`]) so an integer
//!   HDR histogram keeps three significant figures.

use super::aggregate::{add_into, new_histogram, record_value};
use super::{micros, Name, RequestRecord};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// The tokens/s histogram holds tokens per second times this (milli-tokens/s).
pub const TOKENS_PER_S_SCALE: u64 = 1000;

/// How a stream that started (2xx headers) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// A `done` event came.
    Done,
    /// An `error` event came (mid-stream failure; the backend stored nothing).
    ErrorEvent,
    /// Neither: EOF, a broken connection or the request timeout.
    Cut,
}

impl StreamEnd {
    /// The `stream_errors` kind of this end (`None` for a completed stream).
    pub fn error_kind(self) -> Option<&'static str> {
        match self {
            StreamEnd::Done => None,
            StreamEnd::ErrorEvent => Some("error_event"),
            StreamEnd::Cut => Some("cut"),
        }
    }
}

/// The kinds of `stream_errors`.
pub const STREAM_ERROR_KINDS: [&str; 2] = ["error_event", "cut"];

/// One streamed request: its plain request record plus the arrival offset of
/// every content event.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The request (`waiting` = TTFB, `duration` = E2E).
    pub request: RequestRecord,
    /// Offset of each content event from the request start, in order.
    pub content_at: Vec<Duration>,
    /// How the stream ended.
    pub end: StreamEnd,
    /// `usage.completion_tokens` of the `done` event, when it had one.
    pub completion_tokens: Option<u64>,
}

impl StreamRecord {
    /// Time to response headers.
    pub fn ttfb(&self) -> Duration {
        self.request.waiting
    }

    /// Time to the end of the stream.
    pub fn e2e(&self) -> Duration {
        self.request.duration
    }

    /// Moves the origin of every timing `by` earlier (see
    /// [`RequestRecord::count_from_earlier`]): TTFB, TTFT and E2E grow by
    /// `by`, the gaps between events (ITL, TPOT) do not change.
    pub fn count_from_earlier(&mut self, by: Duration) {
        self.request.count_from_earlier(by);
        for at in &mut self.content_at {
            *at += by;
        }
    }

    /// Time to the first content event, if any came.
    pub fn ttft(&self) -> Option<Duration> {
        self.content_at.first().copied()
    }

    /// Content events seen.
    pub fn tokens(&self) -> u64 {
        self.content_at.len() as u64
    }

    /// Every gap between consecutive content events.
    pub fn itl(&self) -> impl Iterator<Item = Duration> + '_ {
        self.content_at
            .iter()
            .zip(self.content_at.iter().skip(1))
            .map(|(a, b)| b.saturating_sub(*a))
    }

    /// (last − first) / (n − 1), when at least two content events came.
    pub fn tpot(&self) -> Option<Duration> {
        let (first, last) = (self.content_at.first()?, self.content_at.last()?);
        let gaps = u32::try_from(self.content_at.len().checked_sub(1)?).ok()?;
        (gaps > 0).then(|| last.saturating_sub(*first) / gaps)
    }

    /// n / (E2E − TTFT) in milli-tokens per second, when content came and
    /// the stream lasted past it.
    pub fn tokens_per_s_milli(&self) -> Option<u64> {
        let span = self.e2e().checked_sub(self.ttft()?)?;
        if span.is_zero() {
            return None;
        }
        let rate = self.tokens() as f64 * TOKENS_PER_S_SCALE as f64 / span.as_secs_f64();
        Some(rate.round() as u64)
    }
}

/// The streaming metrics, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamMetric {
    /// `chat_ttfb`
    Ttfb,
    /// `chat_ttft`
    Ttft,
    /// `chat_itl`
    Itl,
    /// `chat_tpot`
    Tpot,
    /// `chat_e2e`
    E2e,
    /// `chat_tokens_per_s` (histogram in milli-tokens/s)
    TokensPerS,
}

impl StreamMetric {
    /// Every metric.
    pub const ALL: [StreamMetric; 6] = [
        StreamMetric::Ttfb,
        StreamMetric::Ttft,
        StreamMetric::Itl,
        StreamMetric::Tpot,
        StreamMetric::E2e,
        StreamMetric::TokensPerS,
    ];

    /// The name thresholds use.
    pub fn name(self) -> &'static str {
        match self {
            StreamMetric::Ttfb => "chat_ttfb",
            StreamMetric::Ttft => "chat_ttft",
            StreamMetric::Itl => "chat_itl",
            StreamMetric::Tpot => "chat_tpot",
            StreamMetric::E2e => "chat_e2e",
            StreamMetric::TokensPerS => "chat_tokens_per_s",
        }
    }

    /// Parses [`StreamMetric::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Short key used in summary.json (`ttft` for `chat_ttft`).
    pub fn key(self) -> &'static str {
        self.name().trim_start_matches("chat_")
    }

    /// Whether the histogram holds a rate (milli-tokens/s) rather than µs.
    pub fn is_rate(self) -> bool {
        self == StreamMetric::TokensPerS
    }
}

/// Key of a stream series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    /// Journey phase.
    pub phase: Name,
    /// Endpoint name (`chat_stream`).
    pub endpoint: Name,
}

/// Statistics of one stream series.
#[derive(Debug, Clone)]
pub struct StreamStats {
    /// TTFB, µs.
    pub ttfb: Histogram<u64>,
    /// TTFT, µs (streams with at least one content event).
    pub ttft: Histogram<u64>,
    /// Every inter-token gap, µs.
    pub itl: Histogram<u64>,
    /// TPOT per request, µs (streams with at least two content events).
    pub tpot: Histogram<u64>,
    /// E2E, µs.
    pub e2e: Histogram<u64>,
    /// Output tokens per second per request, milli-tokens/s.
    pub tokens_per_s: Histogram<u64>,
    /// Streams (2xx responses on the stream path).
    pub streams: u64,
    /// Content events over all streams.
    pub tokens: u64,
    /// Sum of `usage.completion_tokens` over the `done` events that had it.
    pub completion_tokens: u64,
    /// Streams that did not end with `done`, by kind (`error_event`, `cut`).
    pub errors: BTreeMap<&'static str, u64>,
}

impl Default for StreamStats {
    fn default() -> Self {
        StreamStats {
            ttfb: new_histogram(),
            ttft: new_histogram(),
            itl: new_histogram(),
            tpot: new_histogram(),
            e2e: new_histogram(),
            tokens_per_s: new_histogram(),
            streams: 0,
            tokens: 0,
            completion_tokens: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl StreamStats {
    /// Folds one stream in.
    pub fn record(&mut self, r: &StreamRecord) {
        self.streams += 1;
        self.tokens += r.tokens();
        self.completion_tokens += r.completion_tokens.unwrap_or(0);
        record_value(&mut self.ttfb, micros(r.ttfb()));
        record_value(&mut self.e2e, micros(r.e2e()));
        if let Some(t) = r.ttft() {
            record_value(&mut self.ttft, micros(t));
        }
        for gap in r.itl() {
            record_value(&mut self.itl, micros(gap));
        }
        if let Some(t) = r.tpot() {
            record_value(&mut self.tpot, micros(t));
        }
        if let Some(rate) = r.tokens_per_s_milli() {
            record_value(&mut self.tokens_per_s, rate);
        }
        if let Some(kind) = r.end.error_kind() {
            *self.errors.entry(kind).or_default() += 1;
        }
    }

    /// Adds another series into this one (histograms with `add`).
    pub fn merge(&mut self, o: &StreamStats) {
        for m in StreamMetric::ALL {
            add_into(self.histogram_mut(m), o.histogram(m));
        }
        self.streams += o.streams;
        self.tokens += o.tokens;
        self.completion_tokens += o.completion_tokens;
        for (k, n) in &o.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    /// The histogram of `m`.
    pub fn histogram(&self, m: StreamMetric) -> &Histogram<u64> {
        match m {
            StreamMetric::Ttfb => &self.ttfb,
            StreamMetric::Ttft => &self.ttft,
            StreamMetric::Itl => &self.itl,
            StreamMetric::Tpot => &self.tpot,
            StreamMetric::E2e => &self.e2e,
            StreamMetric::TokensPerS => &self.tokens_per_s,
        }
    }

    /// The histogram of `m`, to fill or replace.
    pub fn histogram_mut(&mut self, m: StreamMetric) -> &mut Histogram<u64> {
        match m {
            StreamMetric::Ttfb => &mut self.ttfb,
            StreamMetric::Ttft => &mut self.ttft,
            StreamMetric::Itl => &mut self.itl,
            StreamMetric::Tpot => &mut self.tpot,
            StreamMetric::E2e => &mut self.e2e,
            StreamMetric::TokensPerS => &mut self.tokens_per_s,
        }
    }

    /// Streams that did not end with `done`.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(ttfb_ms: u64, tokens_ms: &[u64], e2e_ms: u64, end: StreamEnd) -> StreamRecord {
        StreamRecord {
            request: RequestRecord {
                phase: "chat".into(),
                endpoint: "chat_stream".into(),
                status: Some(200),
                error: None,
                duration: Duration::from_millis(e2e_ms),
                waiting: Duration::from_millis(ttfb_ms),
                bytes_sent: 0,
                bytes_received: 0,
            },
            content_at: tokens_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            end,
            completion_tokens: None,
        }
    }

    #[test]
    fn the_definitions_follow_the_design_from_the_event_offsets() {
        let r = stream(10, &[60, 80, 110, 120], 125, StreamEnd::Done);
        assert_eq!(r.ttfb(), Duration::from_millis(10));
        assert_eq!(r.ttft(), Some(Duration::from_millis(60)));
        let itl: Vec<u64> = r.itl().map(|d| d.as_millis() as u64).collect();
        assert_eq!(itl, [20, 30, 10]);
        // (120 - 60) / 3
        assert_eq!(r.tpot(), Some(Duration::from_millis(20)));
        assert_eq!(r.e2e(), Duration::from_millis(125));
        // 4 tokens over 65 ms
        assert_eq!(r.tokens_per_s_milli(), Some(61_538));
    }

    #[test]
    fn a_late_start_moves_the_origin_not_the_gaps() {
        let mut r = stream(10, &[60, 80, 110, 120], 125, StreamEnd::Done);
        r.count_from_earlier(Duration::from_millis(40));
        assert_eq!(r.ttfb(), Duration::from_millis(50));
        assert_eq!(r.ttft(), Some(Duration::from_millis(100)));
        assert_eq!(r.e2e(), Duration::from_millis(165));
        let itl: Vec<u64> = r.itl().map(|d| d.as_millis() as u64).collect();
        assert_eq!(itl, [20, 30, 10]);
        assert_eq!(r.tpot(), Some(Duration::from_millis(20)));
    }

    #[test]
    fn short_streams_record_only_what_they_define() {
        let one = stream(10, &[60], 60, StreamEnd::Done);
        assert_eq!((one.tpot(), one.itl().count()), (None, 0));
        assert_eq!(one.tokens_per_s_milli(), None, "E2E - TTFT is zero");
        let none = stream(10, &[], 40, StreamEnd::Cut);
        assert_eq!((none.ttft(), none.tpot()), (None, None));
        let mut s = StreamStats::default();
        s.record(&one);
        s.record(&none);
        assert_eq!((s.streams, s.tokens, s.failed()), (2, 1, 1));
        assert_eq!((s.ttfb.len(), s.e2e.len(), s.ttft.len()), (2, 2, 1));
        assert_eq!((s.itl.len(), s.tpot.len(), s.tokens_per_s.len()), (0, 0, 0));
        assert_eq!(s.errors.get("cut"), Some(&1));
    }

    #[test]
    fn merged_series_equal_one_series_recorded_whole() {
        let records: Vec<StreamRecord> = (0..50)
            .map(|i| {
                let end = if i % 7 == 0 {
                    StreamEnd::ErrorEvent
                } else {
                    StreamEnd::Done
                };
                stream(5 + i, &[50 + i, 70 + i, 95 + i], 100 + i, end)
            })
            .collect();
        let mut whole = StreamStats::default();
        let mut parts = [StreamStats::default(), StreamStats::default()];
        for (i, r) in records.iter().enumerate() {
            whole.record(r);
            parts[i % 2].record(r);
        }
        let mut merged = StreamStats::default();
        parts.iter().for_each(|p| merged.merge(p));
        for m in StreamMetric::ALL {
            assert_eq!(merged.histogram(m), whole.histogram(m), "{}", m.name());
        }
        assert_eq!(merged.errors, whole.errors);
        assert_eq!((merged.streams, merged.tokens), (50, 150));
    }
}
