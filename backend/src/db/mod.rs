//! SQL, in small named functions taking a pool, a connection or a
//! transaction. Handlers never write SQL themselves.
//!
//! Statements are `sqlx::query!` and friends, checked at compile time against
//! the migrations. The checks read the offline data committed in `.sqlx/` at
//! the workspace root (`.cargo/config.toml` sets `SQLX_OFFLINE`), so a build
//! needs no database; after changing a statement or a migration, run
//! `scripts/sqlx-prepare.sh` to refresh it (CI fails when it is stale).

pub mod messages;
pub mod sessions;
pub mod users;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Migrations shared by the backend and the seed tool.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A round trip that touches no table: is the database there?
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!(r#"SELECT 1 AS "one!""#)
        .fetch_one(pool)
        .await
        .map(|_| ())
}

/// A pool that connects lazily: the process starts (and `/api/health`
/// reports `degraded`) even while the database is down.
pub fn pool(url: &str, max: u32, acquire_timeout: Duration) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        // A ping before every checkout would add a round trip to every query
        // (three per chat turn). A dead connection shows up as an I/O error
        // on use instead, which is answered 503 and the connection dropped.
        .test_before_acquire(false)
        .connect_lazy(url)
}
