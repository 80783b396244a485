//! loadgen: a load generator for LLM chatbot backends (the k6 scripts'
//! successor in chatbench).
//!
//! # Layout
//!
//! The layers point one way, top to bottom; each reads only what the one
//! above produced and never looks back up (the shape of ripgrep's
//! low-level arguments resolved into high-level ones):
//!
//! 1. `main.rs` (the binary) parses the command line with clap into
//!    [`cli`] types: what the user typed, strings and all. Nothing in
//!    [`cli`] runs anything.
//! 2. [`plan`] resolves flags, environment (the k6-era names too) and a
//!    [`profile`] into one typed [`plan::Plan`] (`run`, `hit` or `merge`),
//!    and refuses conflicting flags. It is the only library module that
//!    reads [`cli`]; no module below it imports it.
//! 3. [`app`] runs a plan: [`guard`] (`GET /api/health` must say `app_env:
//!    "test"` before any load, and keeps saying it), then the [`engine`],
//!    which starts and retires VUs on the exact steps of [`scheduler`]
//!    (closed model, k6 `ramping-vus` semantics).
//! 4. What a VU does: [`journey`] (the chat journey) or [`hit`] (one URL,
//!    like wrk/oha). The journey's requests go through [`http`], one
//!    keep-alive connection per VU; `hit` uses [`wire`], a lean client for
//!    its one fixed GET. Each request comes out as a plain
//!    [`stats::Record`].
//! 5. [`stats`]: records aggregated per worker shard into HDR histograms
//!    keyed by (phase, endpoint, status class), merged with
//!    `Histogram::add`.
//! 6. [`live`], [`summary`], [`threshold`], [`export`], [`locust_csv`] and
//!    [`html`] (the self-contained HTML report, whose charts read a
//!    [`chart::ChartData`]) read only the merged aggregate and the time
//!    series ([`stats::timeline`], sampled every `--interval` from the same
//!    shards), carried out of the run in a [`report::Report`]. The live
//!    [`dashboard`] (`run --dashboard`) serves the same page during the
//!    run, fed every interval by [`app`] with the report so far; [`web`]
//!    (`loadgen web`) starts runs from a form resolved by
//!    [`plan::resolve_form`] and shows them on that page. [`diagnose`]
//!    reads the finished report (client side, and the server's scraped
//!    series in [`server`]) and fills its findings, which the summary,
//!    summary.json and the page show.
//!
//! [`capacity`] (`loadgen capacity`) runs the engine once per step of a
//! load ladder (then a bisection) in one process, each step's hold window
//! judged by the thresholds, and reports the knee, per-step figures and
//! goodput (capacity.json, capacity.html).
//!
//! [`scrape`] reads the target's Prometheus endpoint (and any other named
//! with `--scrape`) every interval while [`app`] runs the load, off the
//! engine's path; what it read becomes the report's [`server`] series.
//!
//! [`merge`] (`loadgen merge`) reads several summary.json files back into
//! one [`report::Report`] (histograms decoded and added), so the same
//! summary, thresholds and export serve merged shards; it takes paths and
//! its own [`merge::MergeOptions`]. `loadgen report` reads one back the
//! same way ([`merge::report_from`]) to rebuild its HTML report.
//! [`compare`] (`loadgen compare`, `run --baseline`) reads two reports (a
//! baseline through [`merge::report_from`]) and judges every change with a
//! tolerance band and an exact significance test on the histograms.
//! [`segment`] (`run --segment i/n`, k6's execution segments) makes a run
//! one shard of a larger test: the plan keeps the whole test's shape, the
//! engine runs the shard's exact share of it, and `merge` adds the shards.
//!
//! Domain types shared across layers live with their domain, not with the
//! command line: [`profile`] (profiles, [`profile::LatencyProfile`]),
//! [`journey::spec`] (auth and login modes), [`duration`], [`users`] (the
//! users fixture and prompt corpus), [`exit`] (exit codes and
//! [`exit::Failure`]). The built-in profiles and prompts are compiled in
//! from `loadgen/defaults/` (the crate's own copy; `load-tests/` keeps the
//! same files for people and scripts, checked identical by
//! `tests/defaults.rs`).
//!
//! # Exit codes
//!
//! See [`exit::ExitCode`]: 0 all thresholds held, 99 a threshold failed,
//! 98 a regression against the baseline ([`compare`]; thresholds held),
//! 2 bad arguments, profile or input file, 3 guard refused, 4 target
//! unreachable, 1 any other error.

pub mod app;
pub mod arrivals;
pub mod capacity;
pub mod chart;
pub mod cli;
pub mod compare;
pub mod dashboard;
pub mod diagnose;
pub mod duration;
pub mod engine;
pub mod exit;
pub mod export;
pub mod guard;
pub mod hit;
pub mod html;
pub mod http;
pub mod journey;
pub mod live;
pub mod locust_csv;
pub mod merge;
pub mod plan;
pub mod profile;
pub mod recovery;
pub mod remote_write;
pub mod report;
pub mod scheduler;
pub mod scrape;
pub mod segment;
pub mod server;
pub mod stats;
pub mod summary;
pub mod threshold;
pub mod users;
pub mod web;
pub mod wire;

#[cfg(test)]
mod fuzz;
