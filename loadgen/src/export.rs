//! `summary.json`: the machine-readable result, schema
//! `chatbench.loadgen.summary/v2` (JSON Schema in
//! `loadgen/schema/summary-v2.schema.json`). v2 is v1 plus the top-level
//! `timeline` (the run's time series, [`crate::stats::Timeline`]): one
//! point per interval with its VUs, per-(phase, endpoint) counts, failures,
//! bytes and duration histogram, checks and stream histograms. `loadgen
//! merge` still reads v1 files (they have no timeline).
//!
//! All durations are microseconds (`"unit": "us"`). Every series keyed by
//! (phase, endpoint, status class) carries its HDR histograms serialized in
//! the HdrHistogram V2 format and base64-encoded, so summaries of several
//! runs or load generators can be merged later without losing precision:
//! decode with any HdrHistogram implementation and `add` them.
//!
//! Runs that streamed chat turns add an optional `streaming` object (TTFB,
//! TTFT, ITL, TPOT, E2E in µs and tokens/s in milli-tokens/s, overall and
//! per (phase, endpoint) series with their histograms, tokens, stream
//! errors) and `stream_failures` on each series. Both are absent otherwise.
//!
//! `truncated` counts the responses cut at loadgen's memory caps (bodies
//! and streams past them: read and counted, not kept) and the bytes dropped.
//!
//! A run's summary has `diagnosis`: the findings of [`crate::diagnose`]
//! (`[{rule, severity, evidence, advice}]`, `[]` when none fired).
//!
//! `run --baseline` adds an optional `comparison` object (a
//! [`crate::compare::Comparison`], schema `chatbench.loadgen.comparison/v1`).
//!
//! `loadgen merge` adds an optional `merged_from` object (the input files and
//! the `concurrent` assumption behind summed VUs and recomputed rates).

use crate::report::{AbortReason, Mode, Report};
use crate::stats::{Aggregate, StreamMetric, StreamStats, Summary, STREAM_ERROR_KINDS};
use crate::threshold::{Agg, Op};
use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The schema identifier written into every summary.
pub const SCHEMA_ID: &str = "chatbench.loadgen.summary/v2";

/// The JSON Schema of `summary.json`.
pub const SCHEMA: &str = include_str!("../schema/summary-v2.schema.json");

/// The previous version (no `timeline`), still read by `loadgen merge`.
pub const SCHEMA_V1_ID: &str = "chatbench.loadgen.summary/v1";

/// The JSON Schema of v1 summaries, kept for reference and tests.
pub const SCHEMA_V1: &str = include_str!("../schema/summary-v1.schema.json");

/// HDR V2 + base64 of a histogram.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("cannot serialize a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Decodes what [`encode_histogram`] wrote.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))?;
    let mut h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("bad HDR histogram: {e:?}"))?;
    // A decoded histogram covers only the range its own values needed;
    // adding another shard's larger values into it must grow it, as every
    // histogram recorded in a run does (`new_histogram`), never clip them.
    h.auto(true);
    Ok(h)
}

fn dist(s: &Summary) -> Value {
    json!({
        "count": s.count, "avg": s.avg, "min": s.min, "med": s.med,
        "max": s.max, "p90": s.p90, "p95": s.p95, "p99": s.p99,
    })
}

/// The distributions of one stream series, keyed `ttft_us`, ...,
/// `tokens_per_s_milli`.
fn stream_dists(s: &StreamStats, out: &mut Map<String, Value>) {
    for m in StreamMetric::ALL {
        let key = if m.is_rate() {
            format!("{}_milli", m.key())
        } else {
            format!("{}_us", m.key())
        };
        out.insert(key, dist(&Summary::of(s.histogram(m))));
    }
}

fn stream_errors(s: &StreamStats) -> Value {
    let by_kind: Map<String, Value> = STREAM_ERROR_KINDS
        .iter()
        .map(|k| (k.to_string(), json!(s.errors.get(k).copied().unwrap_or(0))))
        .collect();
    json!({
        "count": s.failed(),
        "rate": if s.streams == 0 { Value::Null } else { json!(s.failed() as f64 / s.streams as f64) },
        "by_kind": by_kind,
    })
}

/// The `streaming` object, or `None` when nothing was streamed.
fn streaming(a: &Aggregate) -> Result<Option<Value>, String> {
    if a.streams.is_empty() {
        return Ok(None);
    }
    let mut series = Vec::new();
    for (k, s) in &a.streams {
        let mut histograms = Map::new();
        for m in StreamMetric::ALL {
            histograms.insert(
                m.key().to_string(),
                json!(encode_histogram(s.histogram(m))?),
            );
        }
        let mut entry = Map::new();
        entry.insert("phase".into(), json!(k.phase.as_ref()));
        entry.insert("endpoint".into(), json!(k.endpoint.as_ref()));
        entry.insert("streams".into(), json!(s.streams));
        entry.insert("tokens".into(), json!(s.tokens));
        entry.insert("completion_tokens".into(), json!(s.completion_tokens));
        entry.insert("stream_errors".into(), stream_errors(s));
        stream_dists(s, &mut entry);
        entry.insert("histograms".into(), Value::Object(histograms));
        series.push(Value::Object(entry));
    }
    let all = a.streams_where(|_| true);
    let mut out = Map::new();
    out.insert(
        "tokens_per_s_scale".into(),
        json!(crate::stats::TOKENS_PER_S_SCALE),
    );
    out.insert("streams".into(), json!(all.streams));
    out.insert("tokens".into(), json!(all.tokens));
    out.insert("completion_tokens".into(), json!(all.completion_tokens));
    out.insert("stream_errors".into(), stream_errors(&all));
    stream_dists(&all, &mut out);
    out.insert("series".into(), Value::Array(series));
    Ok(Some(Value::Object(out)))
}

fn agg_text(a: Agg) -> String {
    a.to_string()
}

fn op_text(o: Op) -> &'static str {
    match o {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq => "==",
    }
}

/// The summary as JSON.
pub fn to_json(r: &Report) -> Result<Value, String> {
    let a = &r.aggregate;
    let secs = r.secs();
    let (d, w) = a.merged_where(|_| true);
    let (reqs, failed) = (a.total_requests(), a.failed_requests());
    let (sent, received) = a.bytes();
    let checks = a.checks_where(|_| true);
    let n_checks = checks.passes + checks.fails;
    let streamed = !a.streams.is_empty();
    let mut series = Vec::new();
    for (k, s) in &a.requests {
        let mut entry = json!({
            "phase": k.phase.as_ref(),
            "endpoint": k.endpoint.as_ref(),
            "status_class": k.class.as_str(),
            "count": s.count(),
            "bytes_sent": s.bytes_sent,
            "bytes_received": s.bytes_received,
            "duration_us": dist(&Summary::of(&s.duration)),
            "waiting_us": dist(&Summary::of(&s.waiting)),
            "histograms": {
                "duration": encode_histogram(&s.duration)?,
                "waiting": encode_histogram(&s.waiting)?,
            },
        });
        if let (true, Value::Object(m)) = (streamed, &mut entry) {
            m.insert("stream_failures".into(), json!(s.stream_failures));
        }
        series.push(entry);
    }
    let endpoints: Vec<Value> = r
        .endpoint_rows()
        .iter()
        .map(|row| {
            json!({
                "phase": row.phase.as_ref(), "endpoint": row.endpoint.as_ref(),
                "requests": row.requests, "failures": row.failures, "rate": row.rate,
                "duration_us": dist(&row.duration),
            })
        })
        .collect();
    let check_series: Vec<Value> = a
        .checks
        .iter()
        .map(|(k, c)| json!({"phase": k.phase.as_ref(), "name": k.name.as_ref(), "passes": c.passes, "fails": c.fails}))
        .collect();
    let thresholds: Vec<Value> = r
        .verdicts
        .iter()
        .map(|v| {
            let t = &v.threshold;
            let selector: Map<String, Value> = t
                .selector
                .iter()
                .map(|(k, val)| (k.clone(), Value::String(val.clone())))
                .collect();
            json!({
                "expression": t.to_string(), "metric": t.metric.name(), "selector": selector,
                "aggregation": agg_text(t.agg), "op": op_text(t.op), "limit": t.value,
                "actual": v.actual, "passed": v.passed,
            })
        })
        .collect();
    let errors: Map<String, Value> = a
        .errors
        .iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    let mut summary = json!({
        "schema": SCHEMA_ID,
        "tool": {"name": "loadgen", "version": env!("CARGO_PKG_VERSION")},
        "mode": r.mode,
        "target": r.target,
        "profile": r.profile,
        "latency_profile": r.latency_profile,
        "seed": r.seed,
        "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "finished_at": r.finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "duration_seconds": r.duration.as_secs_f64(),
        "ended": match r.ended {
            crate::engine::Ended::Completed => "completed",
            crate::engine::Ended::Exhausted => "exhausted",
            crate::engine::Ended::Aborted => "aborted",
        },
        "aborted_reason": match &r.aborted {
            Some(AbortReason::Guard(why)) => Some(format!("guard: {why}")),
            Some(AbortReason::Interrupted) => Some("interrupted".to_string()),
            Some(AbortReason::Threshold(what)) => Some(format!("threshold: {what}")),
            None => None,
        },
        "unit": "us",
        "vus": {"max": r.vus_max, "max_planned": r.vus_max_planned},
        "http_reqs": {"count": reqs, "rate": reqs as f64 / secs},
        "http_req_failed": {"rate": if reqs == 0 { Value::Null } else { json!(failed as f64 / reqs as f64) }, "failed": failed, "total": reqs},
        "http_req_duration_us": dist(&Summary::of(&d)),
        "http_req_waiting_us": dist(&Summary::of(&w)),
        "iterations": {
            "count": a.iterations.len(),
            "rate": a.iterations.len() as f64 / secs,
            "duration_us": dist(&Summary::of(&a.iterations)),
            "histogram": encode_histogram(&a.iterations)?,
        },
        "data": {"sent_bytes": sent, "received_bytes": received},
        "checks": {
            "passes": checks.passes, "fails": checks.fails,
            "rate": if n_checks == 0 { Value::Null } else { json!(checks.passes as f64 / n_checks as f64) },
            "series": check_series,
        },
        "errors": errors,
        "truncated": {"responses": a.truncated.responses, "bytes": a.truncated.bytes},
        "dropped_iterations": {
            "count": a.dropped_iterations,
            "rate": a.dropped_iterations as f64 / secs
        },
        "endpoints": endpoints,
        "series": series,
        "thresholds": thresholds,
        "skipped_thresholds": r.skipped_thresholds,
        "exit_code": r.exit_code().code(),
        "timeline": serde_json::to_value(&r.timeline)
            .map_err(|e| format!("cannot encode the timeline: {e}"))?,
    });
    // Open model only: how late iterations (or `hit --rate` sends) started
    // after their scheduled start; a closed-model summary has no such key.
    if !a.lateness.is_empty() {
        if let Some(Value::Object(it)) = summary.get_mut("iterations") {
            it.insert("lateness_us".into(), dist(&Summary::of(&a.lateness)));
            it.insert(
                "lateness_histogram".into(),
                Value::String(encode_histogram(&a.lateness)?),
            );
        }
    }
    if let (Some(block), Value::Object(m)) = (streaming(a)?, &mut summary) {
        m.insert("streaming".into(), block);
    }
    if let (Some(server), Value::Object(m)) = (&r.server, &mut summary) {
        m.insert(
            "server".into(),
            serde_json::to_value(server)
                .map_err(|e| format!("cannot encode the server series: {e}"))?,
        );
    }
    // A run's findings, always present in a run's summary (`[]`: none).
    if let (Mode::Run, Value::Object(m)) = (r.mode, &mut summary) {
        m.insert(
            "diagnosis".into(),
            serde_json::to_value(&r.diagnosis)
                .map_err(|e| format!("cannot encode the diagnosis: {e}"))?,
        );
        m.insert(
            "health".into(),
            serde_json::to_value(&r.health)
                .map_err(|e| format!("cannot encode the health notes: {e}"))?,
        );
    }
    if let (Some(rec), Value::Object(m)) = (crate::recovery::measure(&r.timeline), &mut summary) {
        m.insert(
            "recovery".into(),
            serde_json::to_value(rec).map_err(|e| format!("cannot encode the recovery: {e}"))?,
        );
    }
    if let (Some(c), Value::Object(m)) = (&r.comparison, &mut summary) {
        m.insert(
            "comparison".into(),
            serde_json::to_value(c).map_err(|e| format!("cannot encode the comparison: {e}"))?,
        );
    }
    if let (Some(seg), Value::Object(m)) = (&r.segment, &mut summary) {
        m.insert(
            "segment".into(),
            serde_json::to_value(seg).map_err(|e| format!("cannot encode the segment: {e}"))?,
        );
    }
    if let (false, Value::Object(m)) = (r.merged_from.is_empty(), &mut summary) {
        m.insert(
            "merged_from".into(),
            json!({"files": r.merged_from, "assumption": "concurrent"}),
        );
    }
    Ok(summary)
}

/// Writes `summary.json` and `summary.txt` into `dir` (created if needed).
pub fn write(dir: &Path, r: &Report, text: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = to_json(r)?;
    let pretty = serde_json::to_string_pretty(&json)
        .map_err(|e| format!("cannot encode summary.json: {e}"))?;
    let path = dir.join("summary.json");
    std::fs::write(&path, pretty).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let txt = dir.join("summary.txt");
    std::fs::write(&txt, text).map_err(|e| format!("cannot write {}: {e}", txt.display()))?;
    Ok(path)
}
