//! The end-of-test summary on stdout, in k6's shape: checks, data,
//! http_req_duration (overall and per phase), http_req_failed, http_reqs,
//! iterations, VUs; for streamed chat turns a `streaming` block (TTFB,
//! TTFT, ITL, TPOT, E2E, tokens/s by phase, tokens, stream errors); then a
//! per-endpoint table, the threshold verdicts and (for a run) the
//! diagnosis ([`crate::diagnose::render`]).

use crate::live::fmt_ms;
use crate::report::{AbortReason, Mode, Report};
use crate::stats::{Aggregate, StreamMetric, Summary, STREAM_ERROR_KINDS, TOKENS_PER_S_SCALE};
use std::fmt::Write as _;

/// Decimal units as k6 prints them.
/// One line on a spike's recovery (see [`crate::recovery`]).
pub fn render_recovery(r: &crate::recovery::Recovery) -> String {
    let ms = |v: f64| {
        if v >= 1000.0 {
            format!("{:.2} s", v / 1000.0)
        } else {
            format!("{v:.0} ms")
        }
    };
    let during = match (r.spike_p95_ms, r.spike_error_rate) {
        (Some(p), Some(e)) => format!(", {} and {:.1}% errors during it", ms(p), 100.0 * e),
        _ => String::new(),
    };
    let outcome = match r.recovered_after_ms {
        Some(after) => format!(
            "back within tolerance {:.1} s after it ended",
            after as f64 / 1000.0
        ),
        None => format!(
            "NOT back within tolerance in the {:.0} s observed after it",
            r.observed_after_ms as f64 / 1000.0
        ),
    };
    format!(
        "spike recovery: {} -> {} VUs (t={:.0}-{:.0} s); p95 {} and {:.1}% errors before{during}; {outcome} ({} s windows)",
        r.base_vus,
        r.peak_vus,
        r.spike_start_ms as f64 / 1000.0,
        r.spike_end_ms as f64 / 1000.0,
        ms(r.base_p95_ms),
        100.0 * r.base_error_rate,
        r.window_ms / 1000
    )
}

pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1e3 {
        format!("{b} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

fn dots(name: &str) -> String {
    let width = 34usize;
    let pad = width.saturating_sub(name.chars().count());
    format!("{name}{}", ".".repeat(pad.max(1)))
}

fn trend(s: &Summary) -> String {
    format!(
        "avg={} min={} med={} max={} p(90)={} p(95)={} p(99)={}",
        fmt_ms(s.avg.round() as u64),
        fmt_ms(s.min),
        fmt_ms(s.med),
        fmt_ms(s.max),
        fmt_ms(s.p90),
        fmt_ms(s.p95),
        fmt_ms(s.p99)
    )
}

/// A trend of milli-tokens/s as tokens/s.
fn rate_trend(s: &Summary) -> String {
    let r = |v: f64| format!("{:.1}/s", v / TOKENS_PER_S_SCALE as f64);
    format!(
        "avg={} min={} med={} max={} p(90)={} p(95)={} p(99)={}",
        r(s.avg),
        r(s.min as f64),
        r(s.med as f64),
        r(s.max as f64),
        r(s.p90 as f64),
        r(s.p95 as f64),
        r(s.p99 as f64)
    )
}

/// The `streaming` block; nothing when no request was streamed.
fn streaming(o: &mut String, a: &Aggregate, secs: f64) {
    if a.streams.is_empty() {
        return;
    }
    let all = a.streams_where(|_| true);
    let by_phase: Vec<_> = a
        .stream_phases()
        .into_iter()
        .map(|p| {
            let s = a.streams_where(|k| k.phase == p);
            (p, s)
        })
        .collect();
    let _ = writeln!(o, "  streaming (chat turns read as SSE):");
    for m in StreamMetric::ALL {
        let show = |h: &hdrhistogram::Histogram<u64>| {
            let s = Summary::of(h);
            if m.is_rate() {
                rate_trend(&s)
            } else {
                trend(&s)
            }
        };
        let _ = writeln!(o, "  {} {}", dots(m.name()), show(all.histogram(m)));
        for (phase, s) in &by_phase {
            let _ = writeln!(
                o,
                "    {} {}",
                dots(&format!("{{ phase:{phase} }}")),
                show(s.histogram(m))
            );
        }
    }
    let _ = writeln!(
        o,
        "  {} {} {:.2}/s (usage completion_tokens: {})",
        dots("stream_tokens"),
        all.tokens,
        all.tokens as f64 / secs,
        all.completion_tokens
    );
    let kinds: Vec<String> = STREAM_ERROR_KINDS
        .iter()
        .map(|k| format!("{k}={}", all.errors.get(k).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(
        o,
        "  {} {} ({} of {} streams) {}",
        dots("stream_errors"),
        pct(all.failed(), all.streams),
        all.failed(),
        all.streams,
        kinds.join(" ")
    );
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * n as f64 / d as f64)
    }
}

/// Renders the summary.
pub fn render(r: &Report) -> String {
    let a = &r.aggregate;
    let secs = r.secs();
    let mut o = String::new();
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "  target: {}   profile: {}   duration: {:.1}s{}{}",
        r.target,
        r.profile.as_deref().unwrap_or("hit"),
        r.duration.as_secs_f64(),
        r.latency_profile
            .map(|l| format!("   latency profile: {}", l.name()))
            .unwrap_or_default(),
        r.seed.map(|s| format!("   seed: {s}")).unwrap_or_default()
    );
    if let Some(seg) = &r.segment {
        let _ = writeln!(o, "  {}", crate::segment::describe(seg));
    }
    if !r.merged_from.is_empty() {
        let _ = writeln!(
            o,
            "  merged: {} summaries, taken as concurrent shards (VUs summed, duration the longest, rates over it)",
            r.merged_from.len()
        );
    }
    match &r.aborted {
        Some(AbortReason::Guard(why)) => {
            let _ = writeln!(o, "  ABORTED: the guard re-check refused the target: {why}");
        }
        Some(AbortReason::Interrupted) => {
            let _ = writeln!(
                o,
                "  INTERRUPTED: figures cover the run until Ctrl-C or SIGTERM"
            );
        }
        Some(AbortReason::Threshold(what)) => {
            let _ = writeln!(o, "  ABORTED: an abortOnFail threshold failed: {what}");
        }
        None => {}
    }
    let _ = writeln!(o);
    let total_checks = a.checks_where(|_| true);
    if total_checks.passes + total_checks.fails > 0 {
        let n = total_checks.passes + total_checks.fails;
        let _ = writeln!(
            o,
            "  {} {} ✓ {} ✗ {}",
            dots("checks"),
            pct(total_checks.passes, n),
            total_checks.passes,
            total_checks.fails
        );
        for (k, c) in &a.checks {
            let mark = if c.fails == 0 { "✓" } else { "✗" };
            let _ = writeln!(
                o,
                "    {mark} {}: {}  ✓ {} ✗ {}",
                k.phase, k.name, c.passes, c.fails
            );
        }
    }
    let (sent, received) = a.bytes();
    let _ = writeln!(
        o,
        "  {} {} {}/s",
        dots("data_received"),
        fmt_bytes(received),
        fmt_bytes((received as f64 / secs) as u64)
    );
    let _ = writeln!(
        o,
        "  {} {} {}/s",
        dots("data_sent"),
        fmt_bytes(sent),
        fmt_bytes((sent as f64 / secs) as u64)
    );
    let (d, w) = a.merged_where(|_| true);
    let _ = writeln!(
        o,
        "  {} {}",
        dots("http_req_duration"),
        trend(&Summary::of(&d))
    );
    for phase in a.phases() {
        let (pd, _) = a.merged_where(|k| k.phase == phase);
        let _ = writeln!(
            o,
            "    {} {}",
            dots(&format!("{{ phase:{phase} }}")),
            trend(&Summary::of(&pd))
        );
    }
    let (reqs, failed) = (a.total_requests(), a.failed_requests());
    let _ = writeln!(
        o,
        "  {} {} ({failed} of {reqs})",
        dots("http_req_failed"),
        pct(failed, reqs)
    );
    let _ = writeln!(
        o,
        "  {} {}",
        dots("http_req_waiting"),
        trend(&Summary::of(&w))
    );
    let _ = writeln!(
        o,
        "  {} {reqs} {:.2}/s",
        dots("http_reqs"),
        reqs as f64 / secs
    );
    if !a.errors.is_empty() {
        let kinds: Vec<String> = a.errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let _ = writeln!(
            o,
            "  {} {}",
            dots("http_req_errors (no response)"),
            kinds.join(" ")
        );
    }
    if a.dropped_iterations > 0 {
        let _ = writeln!(
            o,
            "  {} {} {:.2}/s (scheduled, never started before the end: no free VU or connection)",
            dots("dropped_iterations"),
            a.dropped_iterations,
            a.dropped_iterations as f64 / r.duration.as_secs_f64().max(1e-9)
        );
    }
    if a.truncated.responses > 0 {
        let _ = writeln!(
            o,
            "  {} {} ({:.1} MiB read past the caps, not kept)",
            dots("responses_truncated"),
            a.truncated.responses,
            a.truncated.bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let _ = writeln!(
        o,
        "  {} {}",
        dots("iteration_duration"),
        trend(&Summary::of(&a.iterations))
    );
    if !a.lateness.is_empty() {
        let _ = writeln!(
            o,
            "  {} {} (start past the scheduled start; inside the first request's time)",
            dots("iteration_lateness"),
            trend(&Summary::of(&a.lateness))
        );
    }
    let _ = writeln!(
        o,
        "  {} {} {:.2}/s",
        dots("iterations"),
        a.iterations.len(),
        a.iterations.len() as f64 / secs
    );
    let _ = writeln!(
        o,
        "  {} max={} (planned {})",
        dots("vus"),
        r.vus_max,
        r.vus_max_planned
    );
    streaming(&mut o, a, secs);

    let rows = r.endpoint_rows();
    if !rows.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "  {:<8} {:<22} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "phase", "endpoint", "reqs", "fail", "avg", "min", "med", "p95", "p99", "max", "req/s"
        );
        for row in rows {
            let s = row.duration;
            let _ = writeln!(
                o,
                "  {:<8} {:<22} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9.2}",
                row.phase.as_ref(),
                row.endpoint.as_ref(),
                row.requests,
                row.failures,
                fmt_ms(s.avg.round() as u64),
                fmt_ms(s.min),
                fmt_ms(s.med),
                fmt_ms(s.p95),
                fmt_ms(s.p99),
                fmt_ms(s.max),
                row.rate
            );
        }
    }
    if !r.verdicts.is_empty() || !r.skipped_thresholds.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "  thresholds:");
        for v in &r.verdicts {
            let actual = match v.actual {
                Some(x) => format!("{x:.4}"),
                None => "no data".into(),
            };
            let _ = writeln!(
                o,
                "    {} {}   (actual: {actual})",
                if v.passed { "✓" } else { "✗" },
                v.threshold
            );
        }
        for s in &r.skipped_thresholds {
            let _ = writeln!(o, "    - skipped: {s}");
        }
    }
    let server = crate::scrape::text::render(r.server.as_ref());
    if !server.is_empty() {
        let _ = writeln!(o);
        o.push_str(&server);
    }
    if let Some(rec) = crate::recovery::measure(&r.timeline) {
        let _ = writeln!(o);
        let _ = writeln!(o, "  {}", render_recovery(&rec));
    }
    if r.mode == Mode::Run {
        let _ = writeln!(o);
        o.push_str(&crate::diagnose::render(r));
    }
    let _ = writeln!(o);
    let code = r.exit_code();
    let _ = writeln!(
        o,
        "  result: {} (exit {})",
        match code {
            // Exit 0 without a threshold says nothing held: say so.
            crate::exit::ExitCode::Ok if r.verdicts.is_empty() => "no thresholds were set",
            crate::exit::ExitCode::Ok => "all thresholds held",
            crate::exit::ExitCode::ThresholdsFailed => "a threshold failed",
            crate::exit::ExitCode::Regressed => {
                "all thresholds held; a regression against the baseline (below)"
            }
            crate::exit::ExitCode::GuardRefused => "aborted by the guard",
            crate::exit::ExitCode::Interrupted => {
                "interrupted before its end; thresholds held on the partial run"
            }
            _ => "error",
        },
        code.code()
    );
    o
}
