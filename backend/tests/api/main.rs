//! Black-box tests of the API over real sockets against real Postgres: each
//! test spawns the app on 127.0.0.1:0 with a database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod caps;
mod chat;
mod concurrency;
mod database_faults;
mod health;
mod live_provider;
mod robustness;
mod sessions;
mod shutdown;
mod split_chars;
mod stream;
