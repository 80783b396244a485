//! The scenarios, in the priority order. Each starts its own
//! processes (a fresh database in the suite's cluster, its own backend),
//! injects its fault under load and returns one [`Row`] per promise, with
//! the figure it measured. A scenario that cannot run returns a failed row
//! saying why.

use std::time::Duration;

use crate::procs::{Cluster, Env};
use crate::table::Row;

pub mod aborts;
pub mod database;
pub mod hang;
pub mod replicas;
pub mod restart;
pub mod sigterm;
pub mod soak;

/// What every scenario gets: the cluster, where binaries and logs are, and
/// whether this is the short (CI) form.
#[derive(Clone)]
pub struct Ctx {
    pub cluster: Cluster,
    pub env: Env,
    pub short: bool,
    pub soak: Duration,
}

/// Seconds with two decimals, for the table.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The scenarios by name, in the order they run.
pub const ALL: [&str; 9] = [
    "provider-hang",
    "sigterm",
    "drain",
    "pg-terminate",
    "pg-outage",
    "aborts",
    "restart",
    "replicas",
    "soak",
];

pub async fn run(name: &str, ctx: &Ctx) -> Vec<Row> {
    let result = match name {
        "provider-hang" => hang::run(ctx).await,
        "sigterm" => sigterm::run(ctx).await,
        "drain" => sigterm::held_streams(ctx).await,
        "pg-terminate" => database::terminate(ctx).await,
        "pg-outage" => database::outage(ctx).await,
        "aborts" => aborts::run(ctx).await,
        "restart" => restart::run(ctx).await,
        "replicas" => replicas::run(ctx).await,
        "soak" => soak::run(ctx).await,
        other => Err(anyhow::anyhow!("unknown scenario {other}")),
    };
    result.unwrap_or_else(|e| {
        vec![Row::new(
            name,
            "the scenario runs",
            format!("error: {e:#}"),
            false,
        )]
    })
}
