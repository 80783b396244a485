//! What loadgen sends by remote write: its running totals as Prometheus
//! series, all stamped with one time. Counters are cumulative since the
//! start of the run, so N shards (each with its own `shard` label) add up
//! in PromQL exactly as `loadgen merge` adds their summaries:
//!
//! - `loadgen_http_reqs_total{phase,endpoint,status}` and
//!   `loadgen_http_req_failed_total{phase,endpoint}` (as `http_req_failed`);
//! - `loadgen_http_req_duration_seconds{phase,endpoint}`: a histogram;
//! - `loadgen_checks_total{phase,check,result="pass"|"fail"}`;
//! - `loadgen_iterations_total`, `loadgen_dropped_iterations_total`,
//!   `loadgen_vus` (running now), `loadgen_vus_max`;
//! - streamed chats: `loadgen_chat_ttft_seconds` and
//!   `loadgen_chat_itl_seconds{phase,endpoint}` (histograms),
//!   `loadgen_chat_tokens_total`, `loadgen_chat_streams_total`.
//!
//! Histograms are native ones when asked (`--prometheus-rw-native`), else
//! classic `_bucket{le}`/`_sum`/`_count` series that every receiver takes.

use super::native;
use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::stats::Aggregate;
use hdrhistogram::Histogram;

/// Classic bucket bounds for request durations and TTFT, seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Classic bucket bounds for inter-token gaps, seconds.
const ITL_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every metric name loadgen sends (histograms by their base name), for
/// the dashboard's check and the docs.
pub const METRIC_NAMES: [&str; 12] = [
    "loadgen_http_reqs_total",
    "loadgen_http_req_failed_total",
    "loadgen_http_req_duration_seconds",
    "loadgen_checks_total",
    "loadgen_iterations_total",
    "loadgen_dropped_iterations_total",
    "loadgen_vus",
    "loadgen_vus_max",
    "loadgen_chat_ttft_seconds",
    "loadgen_chat_itl_seconds",
    "loadgen_chat_tokens_total",
    "loadgen_chat_streams_total",
];

/// The state of the run to send.
pub struct Snapshot<'a> {
    pub aggregate: &'a Aggregate,
    pub vus: u64,
    pub vus_max: u64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// Builds the request: `labels` (e.g. `shard`, `--tag`s) go on every series.
pub fn build(s: &Snapshot<'_>, labels: &[(String, String)], native: bool) -> WriteRequest {
    let mut b = Builder {
        out: Vec::new(),
        common: labels.to_vec(),
        timestamp: s.timestamp,
        native,
    };
    let a = s.aggregate;
    // Per (phase, endpoint): all status classes' durations in one histogram.
    let mut durations: std::collections::BTreeMap<(&str, &str), Histogram<u64>> =
        Default::default();
    let mut failed: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for (k, st) in &a.requests {
        let at = (&*k.phase, &*k.endpoint);
        b.sample(
            "loadgen_http_reqs_total",
            &[
                ("phase", at.0),
                ("endpoint", at.1),
                ("status", k.class.as_str()),
            ],
            st.count() as f64,
        );
        *failed.entry(at).or_default() += st.failures(k.class);
        let h = durations
            .entry(at)
            .or_insert_with(crate::stats::new_histogram);
        crate::stats::add_into(h, &st.duration);
    }
    for ((phase, endpoint), n) in &failed {
        b.sample(
            "loadgen_http_req_failed_total",
            &[("phase", phase), ("endpoint", endpoint)],
            *n as f64,
        );
    }
    for ((phase, endpoint), h) in &durations {
        b.histogram(
            "loadgen_http_req_duration_seconds",
            &[("phase", phase), ("endpoint", endpoint)],
            h,
            &LATENCY_BUCKETS,
        );
    }
    for (k, c) in &a.checks {
        for (result, n) in [("pass", c.passes), ("fail", c.fails)] {
            b.sample(
                "loadgen_checks_total",
                &[("phase", &k.phase), ("check", &k.name), ("result", result)],
                n as f64,
            );
        }
    }
    b.sample("loadgen_iterations_total", &[], a.iterations.len() as f64);
    b.sample(
        "loadgen_dropped_iterations_total",
        &[],
        a.dropped_iterations as f64,
    );
    b.sample("loadgen_vus", &[], s.vus as f64);
    b.sample("loadgen_vus_max", &[], s.vus_max as f64);
    for (k, st) in &a.streams {
        let at = [("phase", &*k.phase), ("endpoint", &*k.endpoint)];
        b.histogram("loadgen_chat_ttft_seconds", &at, &st.ttft, &LATENCY_BUCKETS);
        b.histogram("loadgen_chat_itl_seconds", &at, &st.itl, &ITL_BUCKETS);
        b.sample("loadgen_chat_tokens_total", &at, st.tokens as f64);
        b.sample("loadgen_chat_streams_total", &at, st.streams as f64);
    }
    WriteRequest { timeseries: b.out }
}

struct Builder {
    out: Vec<TimeSeries>,
    common: Vec<(String, String)>,
    timestamp: i64,
    native: bool,
}

impl Builder {
    /// Labels sorted by name (`__name__` first, as receivers expect).
    fn labels(&self, name: &str, own: &[(&str, &str)]) -> Vec<Label> {
        let mut labels: Vec<Label> = std::iter::once(("__name__", name))
            .chain(own.iter().copied())
            .chain(self.common.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(|(k, v)| Label {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|a, b| a.name == b.name);
        labels
    }

    fn sample(&mut self, name: &str, own: &[(&str, &str)], value: f64) {
        let labels = self.labels(name, own);
        self.out.push(TimeSeries {
            labels,
            samples: vec![Sample {
                value,
                timestamp: self.timestamp,
            }],
            histograms: Vec::new(),
        });
    }

    /// `h` holds microseconds.
    fn histogram(&mut self, name: &str, own: &[(&str, &str)], h: &Histogram<u64>, bounds: &[f64]) {
        if self.native {
            let labels = self.labels(name, own);
            self.out.push(TimeSeries {
                labels,
                samples: Vec::new(),
                histograms: vec![native::from_hdr(h, 1e6, self.timestamp)],
            });
            return;
        }
        let mut cumulative = 0u64;
        let mut values = h.iter_recorded().peekable();
        for le in bounds {
            let limit = le * 1e6;
            while let Some(v) = values.peek() {
                if h.median_equivalent(v.value_iterated_to()) as f64 > limit {
                    break;
                }
                cumulative += v.count_at_value();
                values.next();
            }
            let le = format!("{le}");
            let mut with_le = own.to_vec();
            with_le.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative as f64);
        }
        let mut with_le = own.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&format!("{name}_bucket"), &with_le, h.len() as f64);
        let sum = h.mean() * h.len() as f64 / 1e6;
        self.sample(&format!("{name}_sum"), own, sum);
        self.sample(&format!("{name}_count"), own, h.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Record, RequestRecord};
    use std::time::Duration;

    fn request(endpoint: &str, status: u16, ms: u64) -> Record {
        Record::Request(RequestRecord {
            phase: "chat".into(),
            endpoint: endpoint.into(),
            status: Some(status),
            error: None,
            duration: Duration::from_millis(ms),
            waiting: Duration::from_millis(ms),
            bytes_sent: 0,
            bytes_received: 0,
        })
    }

    fn value(req: &WriteRequest, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        req.timeseries.iter().find_map(|t| {
            let has = |k: &str, v: &str| t.labels.iter().any(|l| l.name == k && l.value == v);
            (has("__name__", name) && with.iter().all(|(k, v)| has(k, v)))
                .then(|| t.samples[0].value)
        })
    }

    #[test]
    fn counters_buckets_and_labels_follow_the_aggregate() {
        let mut a = Aggregate::default();
        for ms in [3, 30, 300] {
            a.record(&request("chat", 200, ms));
        }
        a.record(&request("chat", 503, 1));
        let snap = Snapshot {
            aggregate: &a,
            vus: 2,
            vus_max: 5,
            timestamp: 1000,
        };
        let shard = [("shard".to_string(), "2/4".to_string())];
        let req = build(&snap, &shard, false);
        for t in &req.timeseries {
            assert_eq!(t.labels[0].name, "__name__");
            assert!(t.labels.windows(2).all(|w| w[0].name < w[1].name));
            assert!(t
                .labels
                .iter()
                .any(|l| l.name == "shard" && l.value == "2/4"));
            assert_eq!(t.samples[0].timestamp, 1000);
        }
        let reqs = |status| value(&req, "loadgen_http_reqs_total", &[("status", status)]);
        assert_eq!((reqs("2xx"), reqs("5xx")), (Some(3.0), Some(1.0)));
        assert_eq!(value(&req, "loadgen_http_req_failed_total", &[]), Some(1.0));
        let bucket = |le| {
            value(
                &req,
                "loadgen_http_req_duration_seconds_bucket",
                &[("le", le)],
            )
        };
        assert_eq!(bucket("0.005"), Some(2.0));
        assert_eq!(bucket("0.05"), Some(3.0));
        assert_eq!(bucket("0.5"), Some(4.0));
        assert_eq!(bucket("+Inf"), Some(4.0));
        assert_eq!(
            value(&req, "loadgen_http_req_duration_seconds_count", &[]),
            Some(4.0)
        );
        assert_eq!(value(&req, "loadgen_vus", &[]), Some(2.0));
        let native = build(&snap, &shard, true);
        let h = native
            .timeseries
            .iter()
            .find(|t| {
                t.labels
                    .iter()
                    .any(|l| l.value == "loadgen_http_req_duration_seconds")
            })
            .map(|t| &t.histograms[0]);
        assert_eq!(h.map(|h| h.count_int), Some(4));
    }
}
