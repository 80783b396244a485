//! Black-box tests of `mock-llm` over real sockets: each test serves its own
//! instance on 127.0.0.1:0 and drives it with a plain HTTP client, reading the
//! event stream frame by frame as an SDK would. Every test is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod limits;
mod other;
mod protocol;
mod saturation;
