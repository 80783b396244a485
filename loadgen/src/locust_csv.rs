//! Locust's CSV files, as Locust 2.x writes them (`locust/stats.py`,
//! `StatsCSV` and `StatsCSVFileWriter` with `--csv-full-history`), so that
//! the notebooks and scripts that read Locust's results read loadgen's:
//!
//! - `PREFIX_stats.csv`: one row per (phase, endpoint), sorted by name, then
//!   the `Aggregated` row (empty `Type`);
//! - `PREFIX_stats_history.csv`: per point of the time series, one row per
//!   endpoint seen so far and one `Aggregated` row, as Locust appends them
//!   every second;
//! - `PREFIX_failures.csv`: one row per (endpoint, kind of failure).
//!
//! Columns, order, CRLF line ends (Python's `csv.writer`), `N/A`
//! percentiles of an entry with no request yet, and number types are
//! Locust's: times in milliseconds, median and percentiles whole
//! milliseconds (rounded from loadgen's HDR values), averages, min and max
//! floats written as Python prints them (`12.0`, `0.345`), history rates
//! with six decimals. `Type` is the HTTP method; `Name` is `PHASE ENDPOINT`
//! (the phase is the first word). Where loadgen differs, by design:
//!
//! - the history's `Requests/s`, `Failures/s` and percentiles are those of
//!   the point itself (Locust's are of a sliding window of about 10 s), and
//!   its `Timestamp` is the end of the point (Unix seconds);
//! - `Average Content Size` is the bytes read per request, headers included
//!   (loadgen counts bytes on the wire, not decoded bodies);
//! - failures are counted per kind (status class, no response, stream
//!   error), without Locust's `First Seen`/`Last Seen` columns, which
//!   loadgen does not keep;
//! - percentiles come from HDR histograms, never from Locust's rounded
//!   buckets.

use crate::journey::spec::endpoint_method;
use crate::report::Report;
use crate::stats::{add_into, new_histogram, StatusClass, STREAM_ERROR_KINDS};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The percentiles Locust reports (`PERCENTILES_TO_REPORT`).
pub const PERCENTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// `PREFIX_stats.csv` header.
pub const STATS_HEADER: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

/// `PREFIX_stats_history.csv` header.
pub const HISTORY_HEADER: [&str; 24] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

/// `PREFIX_failures.csv` header.
pub const FAILURES_HEADER: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

/// The prefix used inside `--out DIR`: `DIR/loadgen_stats.csv`, ...
pub const OUT_PREFIX: &str = "loadgen";

/// Locust's `Name` of a (phase, endpoint).
pub fn row_name(phase: &str, endpoint: &str) -> String {
    format!("{phase} {endpoint}")
}

/// A float as Python's `str()` prints it: `12.0`, `0.5`, `1234.567`.
fn py_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Microseconds as whole milliseconds (Locust's percentiles are ints).
fn ms_int(us: u64) -> String {
    ((us as f64 / 1000.0).round() as u64).to_string()
}

/// Microseconds as float milliseconds.
fn ms_float(us: f64) -> String {
    py_float(us / 1000.0)
}

/// Running figures of one entry (an endpoint or Aggregated).
struct Entry {
    method: &'static str,
    name: String,
    hist: Histogram<u64>,
    count: u64,
    failures: u64,
    bytes_received: u64,
}

impl Entry {
    fn new(method: &'static str, name: String) -> Entry {
        Entry {
            method,
            name,
            hist: new_histogram(),
            count: 0,
            failures: 0,
            bytes_received: 0,
        }
    }

    /// Median, average, min, max, average content size, Locust-typed.
    fn totals(&self) -> [String; 5] {
        let h = &self.hist;
        if self.count == 0 || h.is_empty() {
            return ["0".into(), "0.0".into(), "0".into(), "0".into(), "0".into()];
        }
        [
            ms_int(h.value_at_quantile(0.5)),
            ms_float(h.mean()),
            ms_float(h.min() as f64),
            ms_float(h.max() as f64),
            py_float(self.bytes_received as f64 / self.count as f64),
        ]
    }
}

/// The percentile columns of `h`; `N/A` when the entry has had no request.
fn percentiles(h: &Histogram<u64>, entry_count: u64) -> Vec<String> {
    PERCENTILES
        .iter()
        .map(|q| {
            if entry_count == 0 {
                "N/A".to_string()
            } else if h.is_empty() {
                // Locust: int(None or 0) when the window has no sample.
                "0".to_string()
            } else {
                ms_int(h.value_at_quantile(*q))
            }
        })
        .collect()
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, String> {
    w.into_inner()
        .map_err(|e| format!("cannot write CSV: {}", e.error()))
}

fn row(w: &mut csv::Writer<Vec<u8>>, fields: Vec<String>) -> Result<(), String> {
    w.write_record(&fields)
        .map_err(|e| format!("cannot write CSV: {e}"))
}

/// `PREFIX_stats.csv`.
pub fn stats_csv(r: &Report) -> Result<Vec<u8>, String> {
    let a = &r.aggregate;
    let mut entries: BTreeMap<(String, &'static str), Entry> = BTreeMap::new();
    let mut total = Entry::new("", "Aggregated".into());
    for (k, s) in &a.requests {
        let method = endpoint_method(&k.phase, &k.endpoint);
        let name = row_name(&k.phase, &k.endpoint);
        let e = entries
            .entry((name.clone(), method))
            .or_insert_with(|| Entry::new(method, name));
        for e in [e, &mut total] {
            e.count += s.count();
            e.failures += s.failures(k.class);
            e.bytes_received += s.bytes_received;
            add_into(&mut e.hist, &s.duration);
        }
    }
    let secs = r.secs();
    let mut w = writer();
    row(&mut w, STATS_HEADER.iter().map(|s| s.to_string()).collect())?;
    for e in entries.values().chain([&total]) {
        let [med, avg, min, max, content] = e.totals();
        let mut fields = vec![
            e.method.to_string(),
            e.name.clone(),
            e.count.to_string(),
            e.failures.to_string(),
            med,
            avg,
            min,
            max,
            content,
            py_float(e.count as f64 / secs),
            py_float(e.failures as f64 / secs),
        ];
        fields.extend(percentiles(&e.hist, e.count));
        row(&mut w, fields)?;
    }
    finish(w)
}

/// `PREFIX_stats_history.csv`.
pub fn history_csv(r: &Report) -> Result<Vec<u8>, String> {
    let mut w = writer();
    row(
        &mut w,
        HISTORY_HEADER.iter().map(|s| s.to_string()).collect(),
    )?;
    let mut seen: BTreeMap<(String, &'static str), Entry> = BTreeMap::new();
    let mut total = Entry::new("", "Aggregated".into());
    for p in &r.timeline.points {
        let secs = (p.length_ms.max(1)) as f64 / 1000.0;
        let mut now: BTreeMap<(String, &'static str), (u64, u64, Histogram<u64>)> = BTreeMap::new();
        let mut now_total = (0u64, 0u64, new_histogram());
        for ep in &p.requests {
            let method = endpoint_method(&ep.phase, &ep.endpoint);
            let name = row_name(&ep.phase, &ep.endpoint);
            let h = ep
                .duration
                .decode()
                .map_err(|e| format!("timeline point at {} ms: {e}", p.start_ms))?;
            let e = seen
                .entry((name.clone(), method))
                .or_insert_with(|| Entry::new(method, name.clone()));
            for e in [e, &mut total] {
                e.count += ep.count;
                e.failures += ep.failures;
                e.bytes_received += ep.bytes_received;
                add_into(&mut e.hist, &h);
            }
            let n = now
                .entry((name, method))
                .or_insert_with(|| (0, 0, new_histogram()));
            for n in [n, &mut now_total] {
                n.0 += ep.count;
                n.1 += ep.failures;
                add_into(&mut n.2, &h);
            }
        }
        let end = r.started_at + chrono::Duration::milliseconds(p.end_ms() as i64);
        let empty = (0, 0, new_histogram());
        for (key, e) in seen
            .iter()
            .map(|(k, e)| (Some(k), e))
            .chain([(None, &total)])
        {
            let (n, failed, h) = match key {
                Some(k) => now.get(k).unwrap_or(&empty),
                None => &now_total,
            };
            let mut fields = vec![
                end.timestamp().to_string(),
                p.vus.to_string(),
                e.method.to_string(),
                e.name.clone(),
                format!("{:.6}", *n as f64 / secs),
                format!("{:.6}", *failed as f64 / secs),
            ];
            fields.extend(percentiles(h, e.count));
            let [med, avg, min, max, content] = e.totals();
            fields.extend([
                e.count.to_string(),
                e.failures.to_string(),
                med,
                avg,
                min,
                max,
                content,
            ]);
            row(&mut w, fields)?;
        }
    }
    finish(w)
}

/// The `Error` text of a failing status class.
fn class_error(class: StatusClass) -> &'static str {
    match class {
        StatusClass::Informational => "HTTP 1xx (informational, not a final answer)",
        StatusClass::ClientError => "HTTP 4xx (client error)",
        StatusClass::ServerError => "HTTP 5xx (server error)",
        StatusClass::Error => "no response (connect, timeout or I/O error)",
        StatusClass::Success | StatusClass::Redirect => "",
    }
}

/// The `Error` text of a stream error kind.
fn stream_error(kind: &str) -> String {
    match kind {
        "error_event" => "stream ended with an error event".to_string(),
        "cut" => "stream cut before its done event".to_string(),
        other => format!("stream error: {other}"),
    }
}

/// `PREFIX_failures.csv`.
pub fn failures_csv(r: &Report) -> Result<Vec<u8>, String> {
    let a = &r.aggregate;
    let mut rows: BTreeMap<(String, &'static str, String), u64> = BTreeMap::new();
    for (k, s) in &a.requests {
        if k.class.is_failure() && s.count() > 0 {
            let key = (
                row_name(&k.phase, &k.endpoint),
                endpoint_method(&k.phase, &k.endpoint),
                class_error(k.class).to_string(),
            );
            *rows.entry(key).or_default() += s.count();
        }
    }
    for (k, s) in &a.streams {
        for kind in STREAM_ERROR_KINDS.iter().copied().chain(
            s.errors
                .keys()
                .copied()
                .filter(|k| !STREAM_ERROR_KINDS.contains(k)),
        ) {
            let n = s.errors.get(kind).copied().unwrap_or(0);
            if n > 0 {
                let key = (
                    row_name(&k.phase, &k.endpoint),
                    endpoint_method(&k.phase, &k.endpoint),
                    stream_error(kind),
                );
                *rows.entry(key).or_default() += n;
            }
        }
    }
    let mut w = writer();
    row(
        &mut w,
        FAILURES_HEADER.iter().map(|s| s.to_string()).collect(),
    )?;
    for ((name, method, error), n) in rows {
        row(&mut w, vec![method.to_string(), name, error, n.to_string()])?;
    }
    finish(w)
}

/// Writes `PREFIX_stats.csv`, `PREFIX_stats_history.csv` and
/// `PREFIX_failures.csv` (the prefix's directory is created if needed);
/// returns their paths.
pub fn write(prefix: &Path, r: &Report) -> Result<Vec<PathBuf>, String> {
    let file = |suffix: &str| {
        let mut name = prefix.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        prefix.with_file_name(name)
    };
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut written = Vec::new();
    for (suffix, bytes) in [
        ("_stats.csv", stats_csv(r)?),
        ("_stats_history.csv", history_csv(r)?),
        ("_failures.csv", failures_csv(r)?),
    ] {
        let path = file(suffix);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::stats::timeline::Point;
    use crate::stats::{Aggregate, Record, RequestRecord, Timeline};
    use std::time::Duration;

    fn report(endpoints: &[(&str, &str, Option<u16>)]) -> Report {
        let mut aggregate = Aggregate::default();
        for (i, (phase, endpoint, status)) in endpoints.iter().enumerate() {
            aggregate.record(&Record::Request(RequestRecord {
                phase: (*phase).into(),
                endpoint: (*endpoint).into(),
                status: *status,
                error: status.is_none().then_some("connect"),
                duration: Duration::from_micros(1000 + 500 * i as u64),
                waiting: Duration::from_millis(1),
                bytes_sent: 10,
                bytes_received: 100,
            }));
        }
        let mut timeline = Timeline::new(Duration::from_secs(1));
        timeline
            .push(Point::from_interval(&aggregate, 0, 1000, 2))
            .unwrap();
        Report {
            target: "http://127.0.0.1:1".into(),
            profile: None,
            latency_profile: None,
            seed: None,
            timeline,
            vus_max_planned: 2,
            vus_max: 2,
            ..Report::test_run(aggregate, Duration::from_secs(2))
        }
    }

    fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn a_hostile_endpoint_name_round_trips_through_a_csv_reader() {
        let hostile = "GET /a,b \"quoted\"\r\nnext line";
        let r = report(&[
            ("other", hostile, Some(500)),
            ("other", hostile, Some(200)),
            ("auth", "login", None),
        ]);
        let name = format!("other {hostile}");
        let stats = parse(&stats_csv(&r).unwrap());
        assert_eq!(stats[0], STATS_HEADER);
        let row = stats.iter().find(|row| row[1] == name).unwrap();
        assert_eq!(&row[..4], ["GET", name.as_str(), "2", "1"]);
        assert_eq!(row.len(), STATS_HEADER.len());
        let history = parse(&history_csv(&r).unwrap());
        assert_eq!(history[0], HISTORY_HEADER);
        assert!(history.iter().any(|row| row[3] == name));
        // One point: two endpoints and Aggregated.
        assert_eq!(history.len(), 1 + 3);
        let failures = parse(&failures_csv(&r).unwrap());
        assert_eq!(failures[0], FAILURES_HEADER);
        assert!(failures.contains(&vec![
            "GET".to_string(),
            name.clone(),
            "HTTP 5xx (server error)".to_string(),
            "1".to_string()
        ]));
        assert!(failures.contains(&vec![
            "POST".to_string(),
            "auth login".to_string(),
            "no response (connect, timeout or I/O error)".to_string(),
            "1".to_string()
        ]));
    }

    #[test]
    fn numbers_are_typed_as_locust_writes_them() {
        let r = report(&[("auth", "login", Some(200)), ("auth", "login", Some(200))]);
        let stats = parse(&stats_csv(&r).unwrap());
        // 1 ms and 1.5 ms over a 2 s run: whole-ms median and percentiles,
        // float average/min/max/size/rates as Python prints them.
        assert_eq!(
            stats[1],
            [
                "POST",
                "auth login",
                "2",
                "0",
                "1",
                "1.25",
                "1.0",
                "1.5",
                "100.0",
                "1.0",
                "0.0",
                "1",
                "2",
                "2",
                "2",
                "2",
                "2",
                "2",
                "2",
                "2",
                "2",
                "2"
            ]
        );
        assert_eq!(stats[2][..2], ["", "Aggregated"]);
        let history = parse(&history_csv(&r).unwrap());
        assert_eq!(
            history[1][1..6],
            ["2", "POST", "auth login", "2.000000", "0.000000"]
        );
        let empty = report(&[]);
        let stats = parse(&stats_csv(&empty).unwrap());
        assert_eq!(stats.len(), 2);
        assert_eq!(
            stats[1][..11],
            [
                "",
                "Aggregated",
                "0",
                "0",
                "0",
                "0.0",
                "0",
                "0",
                "0",
                "0.0",
                "0.0"
            ]
        );
        assert!(stats[1][11..].iter().all(|v| v == "N/A"));
    }
}
