//! Test support cleans up after itself: the database a test app was given is
//! dropped when the app shuts down or is dropped (a panicking test included),
//! so a `DATABASE_URL` pointing at the user's own server collects nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::{Connection, PgConnection};

use backend::testing::{spawn_app, TestDatabase};

/// The database's name in a URL: after the last '/', before any '?'.
fn name_of(url: &str) -> String {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    base.rsplit_once('/').unwrap().1.to_owned()
}

/// Whether `name` exists, asked of the same server's `postgres` database.
async fn exists(url: &str, name: &str) -> bool {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let root = base.rsplit_once('/').unwrap().0;
    let admin = if query.is_empty() {
        format!("{root}/postgres")
    } else {
        format!("{root}/postgres?{query}")
    };
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let _ = conn.close().await;
    found
}

#[tokio::test]
async fn an_app_that_shuts_down_drops_its_database() {
    let app = spawn_app(&[]).await.unwrap();
    let url = app.database_url.clone();
    let name = name_of(&url);
    assert!(exists(&url, &name).await, "created: {name}");
    app.shutdown().await.unwrap();
    assert!(!exists(&url, &name).await, "{name} left behind");
}

#[tokio::test]
async fn an_app_dropped_without_shutdown_drops_its_database() {
    let app = spawn_app(&[]).await.unwrap();
    let url = app.database_url.clone();
    let name = name_of(&url);
    // Still connected (its pool is open) when dropped, as after a panic.
    sqlx::query("SELECT 1").execute(&app.pool).await.unwrap();
    drop(app);
    assert!(!exists(&url, &name).await, "{name} left behind");
}

#[tokio::test]
async fn a_test_database_guard_drops_its_database_when_it_goes() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let name = name_of(&url);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    assert!(exists(&url, &name).await);
    // An open connection does not keep it: the drop forces it closed.
    drop(db);
    assert!(!exists(&url, &name).await, "{name} left behind");
    assert!(sqlx::query("SELECT 1").execute(&mut conn).await.is_err());
}
