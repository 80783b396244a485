//! The aggregate: HDR histograms and counters keyed by (phase, endpoint,
//! status class), checks by (phase, name), streams by (phase, endpoint).
//! Built per worker shard, merged with `Histogram::add` for every reader.

use super::stream::{StreamKey, StreamRecord, StreamStats};
use super::{micros, Name, Record, RequestRecord, StatusClass};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// A fresh microsecond histogram: 3 significant figures, auto-resizing.
pub fn new_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    Histogram::new(3).expect("3 significant figures is a valid HDR precision")
}

/// Key of a request series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// Journey phase.
    pub phase: Name,
    /// Endpoint name.
    pub endpoint: Name,
    /// Status class of the responses in this series.
    pub class: StatusClass,
}

/// Statistics of one request series.
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// Total duration, microseconds.
    pub duration: Histogram<u64>,
    /// Time to response headers, microseconds.
    pub waiting: Histogram<u64>,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Streams in this (2xx) series that ended in an `error` event or were
    /// cut: failed in the `http_req_failed` sense although their status was
    /// fine. (In a failing class every request already counts as failed.)
    pub stream_failures: u64,
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            duration: new_histogram(),
            waiting: new_histogram(),
            bytes_sent: 0,
            bytes_received: 0,
            stream_failures: 0,
        }
    }
}

impl RequestStats {
    /// Requests in this series.
    pub fn count(&self) -> u64 {
        self.duration.len()
    }

    /// Failed requests in this series, whose key has status class `class`:
    /// all of them in a failing class, else the failed streams.
    pub fn failures(&self, class: StatusClass) -> u64 {
        if class.is_failure() {
            self.count()
        } else {
            self.stream_failures.min(self.count())
        }
    }
}

/// Key of a check series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckKey {
    /// Phase of the check.
    pub phase: Name,
    /// Check name.
    pub name: Name,
}

/// Passes and failures of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounts {
    /// Times the check held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// Responses cut at a memory cap (`http::MAX_KEPT_BODY`, the SSE caps in
/// `journey::stream`): how many, and the bytes read but not kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Truncation {
    /// Responses cut.
    pub responses: u64,
    /// Bytes dropped.
    pub bytes: u64,
}

/// Everything recorded, for one shard or merged over all of them.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Request series.
    pub requests: BTreeMap<RequestKey, RequestStats>,
    /// Check series.
    pub checks: BTreeMap<CheckKey, CheckCounts>,
    /// Why requests got no response, by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Iteration durations (count = iterations), microseconds.
    pub iterations: Histogram<u64>,
    /// Open model: each iteration's start past its scheduled start,
    /// microseconds (empty in the closed model).
    pub lateness: Histogram<u64>,
    /// Token-level series of streamed requests (empty unless streaming).
    pub streams: BTreeMap<StreamKey, StreamStats>,
    /// Responses cut at a memory cap.
    pub truncated: Truncation,
    /// Scheduled iterations or sends that never started (open model).
    pub dropped_iterations: u64,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            requests: BTreeMap::new(),
            checks: BTreeMap::new(),
            errors: BTreeMap::new(),
            iterations: new_histogram(),
            lateness: new_histogram(),
            streams: BTreeMap::new(),
            truncated: Truncation::default(),
            dropped_iterations: 0,
        }
    }
}

/// Distribution figures of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub med: u64,
    /// Largest.
    pub max: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

impl Summary {
    /// Summarises a histogram; an empty one gives all zeros.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            avg: h.mean(),
            min: h.min(),
            med: h.value_at_quantile(0.5),
            max: h.max(),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
        }
    }
}

/// Records `value`, growing the histogram as needed (`saturating_record`
/// alone would clamp to the current highest trackable value).
pub fn record_value(h: &mut Histogram<u64>, value: u64) {
    if h.record(value).is_err() {
        h.saturating_record(value);
    }
}

/// Adds `src` into `dst`; both auto-resize, so this cannot overflow a range.
pub fn add_into(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_err() {
        // Only reachable if auto-resize were off; fall back to value-by-value.
        for v in src.iter_recorded() {
            if dst
                .record_n(v.value_iterated_to(), v.count_at_value())
                .is_err()
            {
                dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

impl Aggregate {
    /// Folds one record in.
    pub fn record(&mut self, record: &Record) {
        match record {
            Record::Request(r) => self.record_request(r),
            Record::Stream(s) => self.record_stream(s),
            Record::Check {
                phase,
                name,
                passed,
            } => {
                let key = CheckKey {
                    phase: phase.clone(),
                    name: name.clone(),
                };
                let c = self.checks.entry(key).or_default();
                if *passed {
                    c.passes += 1;
                } else {
                    c.fails += 1;
                }
            }
            Record::Truncated { bytes } => {
                self.truncated.responses += 1;
                self.truncated.bytes += bytes;
            }
            Record::Dropped { count } => self.dropped_iterations += count,
            Record::Iteration { duration, lateness } => {
                record_value(&mut self.iterations, micros(*duration));
                if let Some(late) = lateness {
                    record_value(&mut self.lateness, micros(*late));
                }
            }
        }
    }

    fn record_request(&mut self, r: &RequestRecord) {
        let key = RequestKey {
            phase: r.phase.clone(),
            endpoint: r.endpoint.clone(),
            class: r.class(),
        };
        let s = self.requests.entry(key).or_default();
        record_value(&mut s.duration, micros(r.duration));
        record_value(&mut s.waiting, micros(r.waiting));
        s.bytes_sent += r.bytes_sent;
        s.bytes_received += r.bytes_received;
        if let Some(kind) = r.error {
            *self.errors.entry(kind).or_default() += 1;
        }
    }

    fn record_stream(&mut self, r: &StreamRecord) {
        self.record_request(&r.request);
        if r.end.error_kind().is_some() {
            let key = RequestKey {
                phase: r.request.phase.clone(),
                endpoint: r.request.endpoint.clone(),
                class: r.request.class(),
            };
            self.requests.entry(key).or_default().stream_failures += 1;
        }
        let key = StreamKey {
            phase: r.request.phase.clone(),
            endpoint: r.request.endpoint.clone(),
        };
        self.streams.entry(key).or_default().record(r);
    }

    /// Merges another aggregate into this one (histograms with `add`).
    pub fn merge(&mut self, other: &Aggregate) {
        for (k, s) in &other.requests {
            let d = self.requests.entry(k.clone()).or_default();
            add_into(&mut d.duration, &s.duration);
            add_into(&mut d.waiting, &s.waiting);
            d.bytes_sent += s.bytes_sent;
            d.bytes_received += s.bytes_received;
            d.stream_failures += s.stream_failures;
        }
        for (k, s) in &other.streams {
            self.streams.entry(k.clone()).or_default().merge(s);
        }
        for (k, c) in &other.checks {
            let d = self.checks.entry(k.clone()).or_default();
            d.passes += c.passes;
            d.fails += c.fails;
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        add_into(&mut self.iterations, &other.iterations);
        add_into(&mut self.lateness, &other.lateness);
        self.truncated.responses += other.truncated.responses;
        self.truncated.bytes += other.truncated.bytes;
        self.dropped_iterations += other.dropped_iterations;
    }

    /// Total requests.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().map(RequestStats::count).sum()
    }

    /// Requests that failed in the `http_req_failed` sense (failed streams
    /// included).
    pub fn failed_requests(&self) -> u64 {
        self.requests.iter().map(|(k, s)| s.failures(k.class)).sum()
    }

    /// Stream series `keep` selects, merged into one.
    pub fn streams_where(&self, keep: impl Fn(&StreamKey) -> bool) -> StreamStats {
        let mut merged = StreamStats::default();
        for (k, s) in &self.streams {
            if keep(k) {
                merged.merge(s);
            }
        }
        merged
    }

    /// Phases that have stream series, sorted, deduplicated.
    pub fn stream_phases(&self) -> Vec<Name> {
        let mut v: Vec<Name> = self.streams.keys().map(|k| k.phase.clone()).collect();
        v.dedup();
        v
    }

    /// Bytes sent and received over all series.
    pub fn bytes(&self) -> (u64, u64) {
        self.requests.values().fold((0, 0), |(s, r), st| {
            (s + st.bytes_sent, r + st.bytes_received)
        })
    }

    /// Duration and waiting histograms merged over the series `keep` selects.
    pub fn merged_where(
        &self,
        keep: impl Fn(&RequestKey) -> bool,
    ) -> (Histogram<u64>, Histogram<u64>) {
        let mut d = new_histogram();
        let mut w = new_histogram();
        for (k, s) in &self.requests {
            if keep(k) {
                add_into(&mut d, &s.duration);
                add_into(&mut w, &s.waiting);
            }
        }
        (d, w)
    }

    /// Check passes and failures summed over the series `keep` selects.
    pub fn checks_where(&self, keep: impl Fn(&CheckKey) -> bool) -> CheckCounts {
        self.checks
            .iter()
            .filter(|(k, _)| keep(k))
            .fold(CheckCounts::default(), |acc, (_, c)| CheckCounts {
                passes: acc.passes + c.passes,
                fails: acc.fails + c.fails,
            })
    }

    /// Phases in recording order of their names (sorted), deduplicated.
    pub fn phases(&self) -> Vec<Name> {
        let mut v: Vec<Name> = self.requests.keys().map(|k| k.phase.clone()).collect();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn req(phase: &str, status: Option<u16>, ms: u64) -> Record {
        Record::Request(RequestRecord {
            phase: phase.into(),
            endpoint: "e".into(),
            status,
            error: status.is_none().then_some("connect"),
            duration: Duration::from_millis(ms),
            waiting: Duration::from_millis(ms / 2),
            bytes_sent: 10,
            bytes_received: 20,
        })
    }

    #[test]
    fn merging_shards_gives_the_same_figures_as_recording_everything_in_one() {
        let records: Vec<Record> = (1..=1000)
            .map(|i| req(if i % 3 == 0 { "auth" } else { "chat" }, Some(200), i))
            .chain([req("chat", None, 5), req("chat", Some(503), 7)])
            .collect();
        let mut one = Aggregate::default();
        let mut shards = [
            Aggregate::default(),
            Aggregate::default(),
            Aggregate::default(),
        ];
        for (i, r) in records.iter().enumerate() {
            one.record(r);
            shards[i % 3].record(r);
        }
        let mut merged = Aggregate::default();
        for s in &shards {
            merged.merge(s);
        }
        assert_eq!(merged.total_requests(), 1002);
        assert_eq!(merged.failed_requests(), 2);
        assert_eq!(merged.bytes(), (10_020, 20_040));
        assert_eq!(merged.errors.get("connect"), Some(&1));
        let (a, _) = one.merged_where(|_| true);
        let (b, _) = merged.merged_where(|_| true);
        assert_eq!(Summary::of(&a), Summary::of(&b));
        // p50 of 1..=1000 ms is 500 ms, within HDR's 0.1%.
        let p50 = Summary::of(&b).med as f64;
        assert!((p50 - 500_000.0).abs() <= 1_000.0, "p50 {p50}");
    }

    #[test]
    fn only_4xx_5xx_and_transport_errors_count_as_failed() {
        let mut a = Aggregate::default();
        for s in [Some(200), Some(302), Some(404), Some(500), None] {
            a.record(&req("p", s, 1));
        }
        assert_eq!(a.failed_requests(), 3);
    }
}
