//! loadgen: a load generator for LLM chatbot backends (the k6 scripts'
//! successor in chatbench).
//!
//! # Layout
//!
//! A load test flows through these modules, each reading only what the one
//! before produced:
//!
//! - [`cli`]: the command line (`loadgen run`, `loadgen hit`, `loadgen merge`); [`plan`]
//!   resolves flags, environment and a [`profile`] into one typed plan, and
//!   refuses conflicting flags.
//! - [`guard`]: `GET /api/health` must say `app_env: "test"` before any load,
//!   and keeps saying it during the run.
//! - [`scheduler`]: stages turned into exact VU steps (closed model, k6
//!   `ramping-vus` semantics); [`engine`] starts and retires VUs on them.
//! - [`journey`] (the chat journey) and [`hit`] (one URL, like wrk/oha) are
//!   what a VU does; every request goes through [`http`], one keep-alive
//!   connection per VU, and comes out as a plain [`stats::Record`]; `hit`
//!   uses [`wire`], a lean client for its one fixed GET.
//! - [`stats`]: records aggregated per worker shard into HDR histograms keyed
//!   by (phase, endpoint, status class), merged with `Histogram::add`.
//! - [`live`], [`summary`], [`threshold`] and [`export`] read only the merged
//!   aggregate; [`report`] carries it out of the run, and [`app`] wires the
//!   whole flow together for `main` and for the tests.
//! - [`merge`] (`loadgen merge`) reads several summary.json files back into
//!   one [`report::Report`] (histograms decoded and added), so the same
//!   summary, thresholds and export serve merged shards.
//!
//! # Exit codes
//!
//! See [`exit::ExitCode`]: 0 all thresholds held, 99 a threshold failed,
//! 2 bad arguments or profile, 3 guard refused, 4 target unreachable,
//! 1 any other error.

pub mod app;
pub mod cli;
pub mod duration;
pub mod engine;
pub mod exit;
pub mod export;
pub mod guard;
pub mod hit;
pub mod http;
pub mod journey;
pub mod live;
pub mod merge;
pub mod plan;
pub mod profile;
pub mod report;
pub mod scheduler;
pub mod stats;
pub mod summary;
pub mod threshold;
pub mod users;
pub mod wire;
