//! One point of the time series: what happened in one interval of the run,
//! per (phase, endpoint), per check and per streaming phase, with its HDR
//! histograms. Points add two ways: one after the other in time
//! ([`Point::absorb`], when old intervals are merged pairwise) and side by
//! side ([`Point::add_concurrent`], when shards that ran at once are merged).

use super::hdr::Hdr;
use crate::stats::aggregate::{add_into, new_histogram};
use crate::stats::{Aggregate, StreamStats};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Start, milliseconds since the run started.
    pub start_ms: u64,
    /// Length in milliseconds (the interval, a multiple of it once old
    /// points were merged, or the run's last stretch).
    pub length_ms: u64,
    /// The most VUs active at once during the interval (summed over merged
    /// shards).
    pub vus: u64,
    /// Requests that ended in the interval, per (phase, endpoint), sorted.
    pub requests: Vec<EndpointPoint>,
    /// Checks made in the interval, per (phase, name), sorted.
    pub checks: Vec<CheckPoint>,
    /// Streamed requests that ended in the interval, per phase, sorted
    /// (empty unless the run streamed).
    pub streams: Vec<StreamPoint>,
}

/// Requests of one (phase, endpoint) in one interval, all status classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPoint {
    /// Journey phase.
    pub phase: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Requests.
    pub count: u64,
    /// Failed in the `http_req_failed` sense (failed streams included).
    pub failures: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Request durations, µs.
    pub duration: Hdr,
}

/// One check in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckPoint {
    /// Phase of the check.
    pub phase: String,
    /// Check name.
    pub name: String,
    /// Times it held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// Streams of one phase in one interval (DESIGN.md's definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamPoint {
    /// Journey phase.
    pub phase: String,
    /// Streams (2xx responses on the stream path).
    pub streams: u64,
    /// Content events.
    pub tokens: u64,
    /// Time to first token, µs.
    pub ttft: Hdr,
    /// Every inter-token gap, µs.
    pub itl: Hdr,
    /// Tokens per second per stream, milli-tokens/s.
    pub tokens_per_s: Hdr,
}

/// Adds `src` into the sorted `dst`, entry by entry with the same key.
fn merge_sorted<T: Clone>(
    dst: &mut Vec<T>,
    src: &[T],
    cmp: impl Fn(&T, &T) -> Ordering,
    add: impl Fn(&mut T, &T) -> Result<(), String>,
) -> Result<(), String> {
    for s in src {
        match dst.binary_search_by(|d| cmp(d, s)) {
            Ok(i) => {
                if let Some(d) = dst.get_mut(i) {
                    add(d, s)?;
                }
            }
            Err(i) => dst.insert(i, s.clone()),
        }
    }
    Ok(())
}

impl EndpointPoint {
    fn cmp_key(&self, o: &EndpointPoint) -> Ordering {
        (&self.phase, &self.endpoint).cmp(&(&o.phase, &o.endpoint))
    }

    fn add(&mut self, o: &EndpointPoint) -> Result<(), String> {
        self.count += o.count;
        self.failures += o.failures;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.duration.add(&o.duration)
    }
}

impl CheckPoint {
    fn cmp_key(&self, o: &CheckPoint) -> Ordering {
        (&self.phase, &self.name).cmp(&(&o.phase, &o.name))
    }
}

impl StreamPoint {
    fn add(&mut self, o: &StreamPoint) -> Result<(), String> {
        self.streams += o.streams;
        self.tokens += o.tokens;
        self.ttft.add(&o.ttft)?;
        self.itl.add(&o.itl)?;
        self.tokens_per_s.add(&o.tokens_per_s)
    }

    fn of(phase: &str, s: &StreamStats) -> StreamPoint {
        StreamPoint {
            phase: phase.to_string(),
            streams: s.streams,
            tokens: s.tokens,
            ttft: Hdr::encode(&s.ttft),
            itl: Hdr::encode(&s.itl),
            tokens_per_s: Hdr::encode(&s.tokens_per_s),
        }
    }
}

impl Point {
    /// The point of one interval's aggregate (what the shards held since
    /// the previous tick).
    pub fn from_interval(a: &Aggregate, start_ms: u64, length_ms: u64, vus: u64) -> Point {
        let mut requests: Vec<EndpointPoint> = Vec::new();
        let mut hist = new_histogram();
        // `requests` is sorted by (phase, endpoint, class): one group per
        // (phase, endpoint), its classes added.
        for (k, s) in &a.requests {
            let same = requests
                .last()
                .is_some_and(|l| *l.phase == *k.phase && *l.endpoint == *k.endpoint);
            if !same {
                if let Some(l) = requests.last_mut() {
                    l.duration = Hdr::encode(&hist);
                    hist.reset();
                }
                requests.push(EndpointPoint {
                    phase: k.phase.to_string(),
                    endpoint: k.endpoint.to_string(),
                    count: 0,
                    failures: 0,
                    bytes_sent: 0,
                    bytes_received: 0,
                    duration: Hdr::default(),
                });
            }
            if let Some(l) = requests.last_mut() {
                l.count += s.count();
                l.failures += s.failures(k.class);
                l.bytes_sent += s.bytes_sent;
                l.bytes_received += s.bytes_received;
                add_into(&mut hist, &s.duration);
            }
        }
        if let Some(l) = requests.last_mut() {
            l.duration = Hdr::encode(&hist);
        }
        let checks = a
            .checks
            .iter()
            .map(|(k, c)| CheckPoint {
                phase: k.phase.to_string(),
                name: k.name.to_string(),
                passes: c.passes,
                fails: c.fails,
            })
            .collect();
        let streams = a
            .stream_phases()
            .iter()
            .map(|p| StreamPoint::of(p, &a.streams_where(|k| k.phase == *p)))
            .collect();
        Point {
            start_ms,
            length_ms,
            vus,
            requests,
            checks,
            streams,
        }
    }

    /// Requests in this point.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().map(|r| r.count).sum()
    }

    /// End, milliseconds since the run started.
    pub fn end_ms(&self) -> u64 {
        self.start_ms + self.length_ms
    }

    fn add_lists(&mut self, o: &Point) -> Result<(), String> {
        merge_sorted(
            &mut self.requests,
            &o.requests,
            EndpointPoint::cmp_key,
            EndpointPoint::add,
        )?;
        merge_sorted(&mut self.checks, &o.checks, CheckPoint::cmp_key, |d, s| {
            d.passes += s.passes;
            d.fails += s.fails;
            Ok(())
        })?;
        merge_sorted(
            &mut self.streams,
            &o.streams,
            |a, b| a.phase.cmp(&b.phase),
            StreamPoint::add,
        )
    }

    /// Takes in the point that follows this one in time: the point then
    /// spans both, and its VUs are the more of the two.
    pub fn absorb(&mut self, later: &Point) -> Result<(), String> {
        self.add_lists(later)?;
        self.length_ms = later.end_ms().max(self.end_ms()) - self.start_ms;
        self.vus = self.vus.max(later.vus);
        Ok(())
    }

    /// Adds a point of another shard that ran at the same time: counts and
    /// histograms added, VUs summed.
    pub fn add_concurrent(&mut self, other: &Point) -> Result<(), String> {
        self.add_lists(other)?;
        let end = self.end_ms().max(other.end_ms());
        self.start_ms = self.start_ms.min(other.start_ms);
        self.length_ms = end - self.start_ms;
        self.vus += other.vus;
        Ok(())
    }
}
