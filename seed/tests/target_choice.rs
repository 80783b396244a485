//! Which target `seed` picks when both `DATABASE_URL` and `BASE_URL` are
//! around, as they are in a k6 user's shell: a flag the user typed wins over
//! the environment; two variables alone seed the database and say so; two
//! typed flags are a usage error (exit 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{seed, stdout};

use backend::testing::{spawn_app, TestDatabase};

/// Nothing listens on the discard port: a target here can only fail.
const DEAD_API: &str = "http://127.0.0.1:9";
const DEAD_DB: &str = "postgres://chatbench@127.0.0.1:9/chatbench_test_dead";

fn users_file(dir: &std::path::Path) -> String {
    let path = dir.join("users.json");
    std::fs::write(
        &path,
        r#"{"users": [{"username": "env_user", "password": "env-password"}]}"#,
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn both_variables_in_the_environment_seed_the_database_and_say_so() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let f = users_file(dir.path());
    let out = seed(
        &["--users-file", &f],
        &[("DATABASE_URL", &url), ("BASE_URL", DEAD_API)],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("into database: 1 created"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("DATABASE_URL and BASE_URL are both set") && err.contains("--base-url"),
        "{err}"
    );
}

#[tokio::test]
async fn a_typed_database_url_wins_over_base_url_in_the_environment() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let f = users_file(dir.path());
    let out = seed(
        &["--users-file", &f, "--database-url", &url],
        &[("BASE_URL", DEAD_API)],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("into database: 1 created"),
        "{}",
        stdout(&out)
    );
    // The user said which: no note about the variable they overrode.
    assert!(!stderr(&out).contains("both set"), "{}", stderr(&out));
}

// The seed binary is awaited synchronously: the app needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_base_url_wins_over_database_url_in_the_environment() {
    let app = spawn_app(&[]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = users_file(dir.path());
    let out = seed(
        &["--users-file", &f, "--base-url", &app.base_url],
        &[("DATABASE_URL", DEAD_DB)],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("into API {}: 1 created", app.base_url)),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("both set"), "{}", stderr(&out));
}

#[test]
fn both_flags_typed_are_a_usage_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let f = users_file(dir.path());
    let out = seed(
        &[
            "--users-file",
            &f,
            "--database-url",
            DEAD_DB,
            "--base-url",
            DEAD_API,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("--database-url") && err.contains("--base-url"),
        "{err}"
    );
}
