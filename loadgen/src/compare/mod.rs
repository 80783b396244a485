//! Baselines and comparison (`loadgen compare BASE.json NEW.json`, `loadgen
//! run --baseline BASE.json`): two runs' figures side by side, per (phase,
//! endpoint), and which changes are regressions.
//!
//! # What is compared
//!
//! For every (phase, endpoint) both runs have: the request rate (req/s),
//! the error rate (failures / requests, in %), and the p50, p95 and p99 of
//! the request duration (all status classes, as the summary's table). When
//! both runs streamed, the TTFT and ITL p50/p95/p99 of each stream series.
//! Endpoints only one run has are listed, never gated.
//!
//! # When a change counts
//!
//! A change is a **regression** (or an **improvement**) only when both hold:
//!
//! 1. it exceeds its tolerance band ([`Tolerances`]: by default 5% for
//!    medians, 10% for p95/p99, 0.5 points for the error rate, 5% for the
//!    rate; and, for latencies, at least [`Tolerances::floor_ms`], 1 ms);
//! 2. it is unlikely under noise: the one-sided p-value of the test below is
//!    under `alpha` (default 0.01).
//!
//! Otherwise it is **within noise**; **n/a** when a side has no values,
//! the band is `off`, or the figure does not gate (rates between runs,
//! below).
//!
//! The tests (the `noise` module) are deterministic (no random bootstrap), computed
//! from the counts the summaries already hold (exact tails per request, a
//! normal approximation for the rank test per interval), so a CI gate
//! gives the same answer every time on the same files:
//!
//! - a quantile: Mood's quantile test. Pool both HDR histograms, take the
//!   pooled p-quantile q, count each run's values at or below q and above
//!   it, and test that 2x2 table with Fisher's exact test (one-sided).
//!   Percentiles of two runs are not otherwise comparable with a p-value
//!   without the raw samples (a bootstrap would need them and be random);
//!   this test needs only bucket counts, handles HDR's ties exactly, and is
//!   distribution-free (latencies are skewed and multi-modal);
//! - the error rate: Fisher's exact test on failures / requests;
//! - the request rate: the counts as Poisson over each run's duration; given
//!   their sum, the new count is binomial (the conditional binomial test);
//! - and, when both runs have a time series (v2 summaries, every run), the
//!   same change across intervals: one figure per interval (the share of
//!   its values above the pooled quantile, its failure share, its rate),
//!   the two runs' intervals compared with the Mann-Whitney rank test. Both
//!   tests must reject (the larger p-value is reported): an
//!   intersection-union test, still of level alpha.
//!
//! Why the band and the test: with thousands of samples the test finds
//! "significant" shifts of a percent that no one would act on; the band
//! says how much matters. With a handful of samples a band-sized change is
//! often chance; the test says so.
//!
//! Why intervals too: requests of one run are not independent samples. A
//! noisy neighbour (another build on a 2-core machine), a GC pause or a
//! checkpoint slows a stretch of them together; counted per request, 40
//! slow logins in two seconds of a 45 s run look overwhelming (p = 0.0004
//! in a real smoke run); counted per interval they are two intervals of
//! 45 (p = 0.04). A change in the code moves every interval. The price:
//! runs need enough intervals (about 8 or more a side to reach 0.01; use a
//! shorter `--interval` for short runs).
//!
//! Why a floor: on a shared 2-core machine a sub-millisecond endpoint
//! (health, a cached list) moves by tens of percent with the scheduler's
//! mood, and with thousands of requests that move is "significant"; but no
//! user of a chat API notices a millisecond. Latency changes under
//! [`Tolerances::floor_ms`] never count (`--tolerance floor=0` removes it).
//!
//! Many rows are tested at once; the band keeps the family's false alarms
//! rare (an unchanged backend rarely moves a median 5% beyond noise), so no
//! multiple-comparison correction is applied on top.
//!
//! Rates gate `hit` comparisons only. A `loadgen run` is a closed model: a
//! VU waits for each answer, so one slower endpoint stretches the
//! iteration and lowers every endpoint's rate. Gated, the rate rows would
//! blame login and session for a slower chat (with enough requests the
//! drop is significant); the latency rows already name the cause. Between
//! two runs the rate rows show the change and its p-value with verdict n/a
//! (`rate_gated: false`).
//!
//! What no test on the samples can see: a run describes its machine. If
//! the machine was busier during most of one run, its CPU-bound endpoints
//! really were slower, and the change is reported. Record the baseline on
//! the machine that gates, with runs long enough that a passing spike is a
//! few intervals of many.
//!
//! Runs that differ in profile, load plan (VUs, duration), streaming or
//! target are still compared, with a warning: their difference is not only
//! the code's.

mod model;
mod noise;
mod render;

pub use model::*;
pub use noise::{proportion_shift, quantile_shift, rank_shift, rate_shift, Tails};
pub use render::{render, Format};

use crate::report::{Mode, Report};
use crate::stats::{Name, StreamMetric};

use hdrhistogram::Histogram;

use std::collections::BTreeSet;

/// Why `base` and `new` are not like for like.
fn warnings(base: &Report, new: &Report) -> Vec<String> {
    let mut w = Vec::new();
    let name = |r: &Report| r.profile.clone().unwrap_or_else(|| "none".into());
    if base.mode != new.mode {
        let m = |r: &Report| match r.mode {
            Mode::Run => "run",
            Mode::Hit => "hit",
        };
        w.push(format!(
            "the runs are of different commands ({} vs {})",
            m(base),
            m(new)
        ));
    }
    if base.profile != new.profile {
        w.push(format!(
            "the profiles differ ({} vs {})",
            name(base),
            name(new)
        ));
    }
    if base.vus_max_planned != new.vus_max_planned {
        w.push(format!(
            "the load plans differ: up to {} vs {} VUs",
            base.vus_max_planned, new.vus_max_planned
        ));
    }
    let (b, n) = (base.duration.as_secs_f64(), new.duration.as_secs_f64());
    if (b - n).abs() > 0.1 * b.max(n) {
        w.push(format!(
            "the load plans differ: the runs lasted {b:.1} s vs {n:.1} s"
        ));
    }
    let (bs, ns) = (
        !base.aggregate.streams.is_empty(),
        !new.aggregate.streams.is_empty(),
    );
    if bs != ns {
        let s = |x: bool| if x { "streamed" } else { "did not stream" };
        w.push(format!(
            "the base run {} and the new run {}: TTFT and ITL are not compared",
            s(bs),
            s(ns)
        ));
    }
    // A port alone does not make another system: scripts/bench and the
    // tests pick a free port for every run.
    let host = |t: &str| match url::Url::parse(t) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.path()
        ),
        Err(_) => t.to_string(),
    };
    if host(&base.target) != host(&new.target) {
        w.push(format!(
            "the targets differ ({} vs {})",
            base.target, new.target
        ));
    }
    for (which, r) in [("base", base), ("new", new)] {
        if r.aborted.is_some() {
            w.push(format!("the {which} run was aborted"));
        }
    }
    w
}

/// Judges one change: `worse_is_up` says which direction is worse.
fn verdict(
    metric: Metric,
    options: &Options,
    base: f64,
    new: f64,
    tails: Tails,
) -> (Verdict, Option<f64>) {
    let change = new - base;
    let worse = match metric {
        Metric::Rate => change < 0.0,
        _ => change > 0.0,
    };
    let p = if worse { tails.worse } else { tails.better };
    let Some(band) = metric.band(&options.tolerances) else {
        return (Verdict::NotApplicable, Some(p));
    };
    let beyond_band = match metric {
        Metric::ErrorRate => change.abs() > band,
        _ => base > 0.0 && (change / base).abs() > band,
    };
    let above_floor = metric.quantile().is_none() || change.abs() >= options.tolerances.floor_ms;
    let v = if beyond_band && above_floor && p < options.alpha {
        if worse {
            Verdict::Regression
        } else {
            Verdict::Improvement
        }
    } else {
        Verdict::WithinNoise
    };
    (v, Some(p))
}

fn row(phase: &str, endpoint: &str, metric: Metric) -> Row {
    Row {
        phase: phase.to_string(),
        endpoint: endpoint.to_string(),
        metric,
        unit: metric.unit().to_string(),
        base: None,
        new: None,
        change: None,
        relative_change: None,
        p_value: None,
        samples: [0, 0],
        verdict: Verdict::NotApplicable,
    }
}

fn filled(mut r: Row, options: &Options, base: f64, new: f64, n: [u64; 2], tails: Tails) -> Row {
    let (v, p) = verdict(r.metric, options, base, new, tails);
    r.base = Some(base);
    r.new = Some(new);
    r.change = Some(new - base);
    r.relative_change = (base != 0.0).then(|| (new - base) / base);
    r.p_value = p;
    r.samples = n;
    r.verdict = v;
    r
}

/// Both tests must reject (an intersection-union test, still of level
/// alpha): the per-request one, and the per-interval one when both runs
/// have a time series (a v1 summary has none).
fn and_per_interval(per_request: Tails, per_interval: Option<Tails>) -> Tails {
    match per_interval {
        None => per_request,
        Some(t) => Tails {
            worse: per_request.worse.max(t.worse),
            better: per_request.better.max(t.better),
        },
    }
}

/// One run's histograms, one per interval of its time series, for the
/// rank test (`None`: the run has no time series).
type PerInterval = Option<Vec<Histogram<u64>>>;

/// A latency row from two µs histograms and, per interval, theirs.
fn latency_row(
    (phase, endpoint, metric): (&str, &str, Metric),
    options: &Options,
    (base, new): (&Histogram<u64>, &Histogram<u64>),
    (base_points, new_points): (&PerInterval, &PerInterval),
) -> Row {
    let r = row(phase, endpoint, metric);
    let p = metric.quantile().unwrap_or(0.5);
    if base.is_empty() || new.is_empty() {
        return Row {
            samples: [base.len(), new.len()],
            ..r
        };
    }
    let ms = |h: &Histogram<u64>| h.value_at_quantile(p) as f64 / 1000.0;
    let per_interval = match (base_points, new_points) {
        (Some(b), Some(n)) => {
            // Each interval's share of values above the pooled quantile.
            let q = noise::pooled_quantile(base, new, p);
            let shares = |v: &[Histogram<u64>]| -> Vec<f64> {
                v.iter().filter_map(|h| noise::share_above(h, q)).collect()
            };
            Some(rank_shift(&shares(b), &shares(n)))
        }
        _ => None,
    };
    let tails = and_per_interval(quantile_shift(base, new, p), per_interval);
    filled(
        r,
        options,
        ms(base),
        ms(new),
        [base.len(), new.len()],
        tails,
    )
}

/// The run's points, `None` without a time series.
fn points(r: &Report) -> Option<&[crate::stats::timeline::Point]> {
    (!r.timeline.points.is_empty()).then_some(r.timeline.points.as_slice())
}

/// One interval's figures of one (phase, endpoint).
struct IntervalFigures {
    length_ms: u64,
    requests: u64,
    failures: u64,
    /// `None` when the interval had none of its requests.
    durations: Option<Histogram<u64>>,
}

/// Per interval of `r`'s time series, the figures of (phase, endpoint)
/// (zero requests where it had none); `None` without a time series.
fn endpoint_points(r: &Report, phase: &str, endpoint: &str) -> Option<Vec<IntervalFigures>> {
    Some(
        points(r)?
            .iter()
            .map(|p| {
                let e = p
                    .requests
                    .iter()
                    .find(|e| e.phase == phase && e.endpoint == endpoint);
                IntervalFigures {
                    length_ms: p.length_ms,
                    requests: e.map_or(0, |e| e.count),
                    failures: e.map_or(0, |e| e.failures),
                    durations: e.and_then(|e| e.duration.decode().ok()),
                }
            })
            .collect(),
    )
}

/// Reads a summary.json (v1 or v2) for a comparison, as `loadgen report`
/// reads one ([`crate::merge::report_from`]); errors name the file and
/// `what` (`compare`, `--baseline`) and exit 2.
pub fn read_summary(path: &std::path::Path, what: &str) -> Result<Report, crate::exit::Failure> {
    crate::merge::report_from(path).map_err(|f| match f {
        crate::exit::Failure::Usage(m) => {
            crate::exit::Failure::Usage(m.replacen("report: ", &format!("{what}: "), 1))
        }
        other => other,
    })
}

/// Compares `new` with `base` (labels name them in the output).
pub fn compare(
    base: &Report,
    base_label: &str,
    new: &Report,
    new_label: &str,
    options: &Options,
) -> Comparison {
    let rows_b = base.endpoint_rows();
    let rows_n = new.endpoint_rows();
    let key = |r: &crate::report::EndpointRow| (r.phase.clone(), r.endpoint.clone());
    let keys_b: BTreeSet<(Name, Name)> = rows_b.iter().map(key).collect();
    let keys_n: BTreeSet<(Name, Name)> = rows_n.iter().map(key).collect();
    let only = |a: &BTreeSet<(Name, Name)>, b: &BTreeSet<(Name, Name)>| -> Vec<Endpoint> {
        a.difference(b)
            .map(|(p, e)| Endpoint {
                phase: p.to_string(),
                endpoint: e.to_string(),
            })
            .collect()
    };
    let rate_gated = !(base.mode == Mode::Run && new.mode == Mode::Run);
    let mut rows = Vec::new();
    for (phase, endpoint) in keys_b.intersection(&keys_n) {
        let (Some(b), Some(n)) = (
            rows_b
                .iter()
                .find(|r| key(r) == (phase.clone(), endpoint.clone())),
            rows_n
                .iter()
                .find(|r| key(r) == (phase.clone(), endpoint.clone())),
        ) else {
            continue;
        };
        let (p, e) = (phase.as_ref(), endpoint.as_ref());
        let (pb, pn) = (endpoint_points(base, p, e), endpoint_points(new, p, e));
        let per_interval = |figure: &dyn Fn(&IntervalFigures) -> Option<f64>| match (&pb, &pn) {
            (Some(b), Some(n)) => {
                let (b, n): (Vec<f64>, Vec<f64>) = (
                    b.iter().filter_map(figure).collect(),
                    n.iter().filter_map(figure).collect(),
                );
                Some(rank_shift(&b, &n))
            }
            _ => None,
        };
        // Fewer requests per second is worse: rank the negated rates.
        let tails = and_per_interval(
            rate_shift(b.requests, base.secs(), n.requests, new.secs()),
            per_interval(&|x| {
                (x.length_ms > 0).then(|| -(x.requests as f64) * 1000.0 / x.length_ms as f64)
            }),
        );
        let mut rate = filled(
            row(p, e, Metric::Rate),
            options,
            b.rate,
            n.rate,
            [b.requests, n.requests],
            tails,
        );
        if !rate_gated {
            rate.verdict = Verdict::NotApplicable;
        }
        rows.push(rate);
        let share = |f: u64, n: u64| {
            if n == 0 {
                0.0
            } else {
                100.0 * f as f64 / n as f64
            }
        };
        let tails = and_per_interval(
            proportion_shift(b.failures, b.requests, n.failures, n.requests),
            per_interval(&|x| (x.requests > 0).then(|| x.failures as f64 / x.requests as f64)),
        );
        rows.push(filled(
            row(p, e, Metric::ErrorRate),
            options,
            share(b.failures, b.requests),
            share(n.failures, n.requests),
            [b.requests, n.requests],
            tails,
        ));
        let histogram = |r: &Report| {
            r.aggregate
                .merged_where(|k| k.phase == *phase && k.endpoint == *endpoint)
                .0
        };
        let (hb, hn) = (histogram(base), histogram(new));
        let hists = |v: &Option<Vec<IntervalFigures>>| -> PerInterval {
            v.as_ref()
                .map(|v| v.iter().filter_map(|x| x.durations.clone()).collect())
        };
        let (ib, inn) = (hists(&pb), hists(&pn));
        for m in [Metric::P50, Metric::P95, Metric::P99] {
            rows.push(latency_row((p, e, m), options, (&hb, &hn), (&ib, &inn)));
        }
    }
    for (k, sb) in &base.aggregate.streams {
        let Some(sn) = new.aggregate.streams.get(k) else {
            continue;
        };
        for (metric, ms) in [
            (
                StreamMetric::Ttft,
                [Metric::TtftP50, Metric::TtftP95, Metric::TtftP99],
            ),
            (
                StreamMetric::Itl,
                [Metric::ItlP50, Metric::ItlP95, Metric::ItlP99],
            ),
        ] {
            // The time series keeps stream histograms per phase.
            let per_phase = |r: &Report| -> PerInterval {
                points(r).map(|pts| {
                    pts.iter()
                        .filter_map(|p| p.streams.iter().find(|s| *s.phase == *k.phase))
                        .filter_map(|s| match metric {
                            StreamMetric::Ttft => s.ttft.decode().ok(),
                            _ => s.itl.decode().ok(),
                        })
                        .collect()
                })
            };
            let (ib, inn) = (per_phase(base), per_phase(new));
            for m in ms {
                rows.push(latency_row(
                    (&k.phase, &k.endpoint, m),
                    options,
                    (sb.histogram(metric), sn.histogram(metric)),
                    (&ib, &inn),
                ));
            }
        }
    }
    rows.sort_by(|a, b| (&a.phase, &a.endpoint, a.metric).cmp(&(&b.phase, &b.endpoint, b.metric)));
    let regressed = rows.iter().any(|r| r.verdict == Verdict::Regression);
    Comparison {
        schema: SCHEMA_ID.to_string(),
        base: Side::of(base, base_label),
        new: Side::of(new, new_label),
        alpha: options.alpha,
        tolerances: options.tolerances,
        warnings: warnings(base, new),
        regressed,
        rate_gated,
        rows,
        only_in_base: only(&keys_b, &keys_n),
        only_in_new: only(&keys_n, &keys_b),
    }
}

#[cfg(test)]
mod tests;
