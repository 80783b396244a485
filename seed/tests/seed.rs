//! The seed binary against real Postgres and a real backend: idempotent,
//! safe concurrently, applies changed passwords, refuses non-test targets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{seed, stdout};

use backend::testing::{spawn_app, TestDatabase};

fn write_users(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let body = serde_json::json!({
        "users": users.iter().map(|(u, p)| serde_json::json!({"username": u, "password": p})).collect::<Vec<_>>()
    });
    let path = dir.join("users.json");
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

fn users_in(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("seeded_{i:02}"), format!("password-{i:02}")))
        .collect()
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[tokio::test]
async fn seeding_twice_creates_once_and_then_reports_nothing_to_do() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let users = users_in(6);
    let file = write_users(dir.path(), &as_refs(&users));
    let f = file.to_str().unwrap();
    let first = seed(&["--users-file", f], &[("DATABASE_URL", &url)]);
    assert!(first.status.success(), "{first:?}");
    assert!(
        stdout(&first).contains("6 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&first)
    );
    let second = seed(&["--users-file", f], &[("DATABASE_URL", &url)]);
    assert!(second.status.success());
    assert!(
        stdout(&second).contains("0 created, 0 updated, 6 unchanged (nothing to do"),
        "{}",
        stdout(&second)
    );
}

#[tokio::test]
async fn a_changed_password_in_the_fixture_is_applied_and_logs_in() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let f = write_users(
        dir.path(),
        &[("pw_user", "old-password"), ("other", "other-password")],
    );
    assert!(seed(
        &["--users-file", f.to_str().unwrap()],
        &[("DATABASE_URL", &url)]
    )
    .status
    .success());
    let f = write_users(
        dir.path(),
        &[("pw_user", "new-password"), ("other", "other-password")],
    );
    let out = seed(
        &["--users-file", f.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    assert!(
        stdout(&out).contains("0 created, 1 updated, 1 unchanged"),
        "{}",
        stdout(&out)
    );

    // The backend, on the same database, accepts the new password only.
    let app = spawn_app(&[("DATABASE_URL", &url)]).await.unwrap();
    let c = reqwest::Client::new();
    for (pw, status) in [("new-password", 200), ("old-password", 401)] {
        let r = c
            .post(format!("{}/api/auth/login-json", app.base_url))
            .json(&serde_json::json!({"username": "pw_user", "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{pw}");
    }
}

#[tokio::test]
async fn two_seeders_at_once_create_each_user_exactly_once() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let users = users_in(12);
    let f = write_users(dir.path(), &as_refs(&users));
    let f = f.to_str().unwrap().to_owned();
    let spawn = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seed"));
        cmd.args(["--users-file", &f])
            .env("DATABASE_URL", &url)
            .env_remove("APP_ENV");
        cmd.stdout(std::process::Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    let created = |o: &Output| -> usize {
        let s = stdout(o);
        let counts = s.split("into database: ").nth(1).unwrap();
        counts.split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        created(&a) + created(&b),
        12,
        "{} | {}",
        stdout(&a),
        stdout(&b)
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 12);
}

// The seed binary is awaited synchronously: the app needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_mode_registers_and_counts_already_registered_as_present() {
    let app = spawn_app(&[]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = users_in(5);
    let f = write_users(dir.path(), &as_refs(&users));
    let f = f.to_str().unwrap();
    let first = seed(&["--users-file", f, "--base-url", &app.base_url], &[]);
    assert!(first.status.success(), "{first:?}");
    assert!(stdout(&first).contains("5 created"), "{}", stdout(&first));
    let second = seed(&["--users-file", f, "--base-url", &app.base_url], &[]);
    assert!(
        stdout(&second).contains("0 created, 0 updated, 5 unchanged"),
        "{}",
        stdout(&second)
    );
    // A password the API cannot change is reported, with its own exit code.
    let mut changed = users.clone();
    changed[0].1 = "a-new-password".into();
    let f = write_users(dir.path(), &as_refs(&changed));
    let third = seed(
        &[
            "--users-file",
            f.to_str().unwrap(),
            "--base-url",
            &app.base_url,
        ],
        &[],
    );
    assert_eq!(third.status.code(), Some(4), "{third:?}");
    assert!(stdout(&third).contains("1 with a different password"));
}

// The seed binary is awaited synchronously: the app needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_test_targets_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_users(dir.path(), &[("guarded", "guarded-password")]);
    let f = f.to_str().unwrap();

    let named_db = TestDatabase::create_named("chatbot_prod").await.unwrap();
    let prod_db = named_db.url().to_owned();
    let out = seed(&["--users-file", f], &[("DATABASE_URL", &prod_db)]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to seed database"));
    let out = seed(
        &["--users-file", f, "--allow-non-test"],
        &[("DATABASE_URL", &prod_db)],
    );
    assert!(out.status.success(), "{out:?}");

    let prod_api = spawn_app(&[
        ("APP_ENV", "production"),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef-prod"),
    ])
    .await
    .unwrap();
    let out = seed(&["--users-file", f, "--base-url", &prod_api.base_url], &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("app_env \"production\""),
        "{out:?}"
    );

    let out = seed(
        &["--users-file", "/nonexistent/users.json"],
        &[("DATABASE_URL", &prod_db)],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = seed(&["--users-file", f], &[]);
    assert_eq!(out.status.code(), Some(2), "no target is a usage error");
}
