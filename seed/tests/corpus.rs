//! `seed corpus` against real Postgres: creates, then leaves alone, then
//! updates what changed; refuses non-test databases and malformed files;
//! loads the shipped corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{seed, stdout};

use backend::testing::TestDatabase;
use sqlx::PgPool;

fn write(dir: &Path, name: &str, title: &str, body: &str) {
    std::fs::write(dir.join(name), format!("# {title}\n\n{body}\n")).unwrap();
}

fn small_corpus(dir: &Path) {
    write(
        dir,
        "connection-pool-sizing.md",
        "Connection pool sizing",
        "Size the pool to the database's cores, not to the number of users.",
    );
    write(
        dir,
        "full-jitter.md",
        "Full jitter",
        "Sleep a random time between zero and the exponential cap.",
    );
    write(
        dir,
        "time-to-first-token.md",
        "Time to first token",
        "The delay before the first content token arrives.",
    );
    // Not markdown: ignored.
    std::fs::write(dir.join("notes.txt"), "not a document").unwrap();
}

async fn documents(url: &str) -> Vec<(String, String, String)> {
    let pool = PgPool::connect(url).await.unwrap();
    let rows = sqlx::query_as("SELECT source, title, content FROM documents ORDER BY source")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn seeding_creates_then_leaves_alone_then_updates_what_changed() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    small_corpus(dir.path());
    let d = dir.path().to_str().unwrap();

    let first = seed(&["corpus", "--dir", d], &[("DATABASE_URL", &url)]);
    assert!(first.status.success(), "{first:?}");
    assert!(
        stdout(&first).contains("3 documents")
            && stdout(&first).contains("3 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&first)
    );
    let docs = documents(&url).await;
    assert_eq!(docs.len(), 3);
    assert_eq!(
        docs[0],
        (
            "connection-pool-sizing.md".to_owned(),
            "Connection pool sizing".to_owned(),
            "Size the pool to the database's cores, not to the number of users.".to_owned()
        )
    );

    // Again, with the URL as a flag this time: nothing to do.
    let second = seed(&["corpus", "--dir", d, "--database-url", &url], &[]);
    assert!(second.status.success(), "{second:?}");
    assert!(
        stdout(&second).contains("0 created, 0 updated, 3 unchanged (nothing to do"),
        "{}",
        stdout(&second)
    );

    // One changed file, one new one.
    write(
        dir.path(),
        "full-jitter.md",
        "Full jitter for retries",
        "Sleep a random time between zero and the capped exponential delay.",
    );
    write(
        dir.path(),
        "littles-law.md",
        "Little's law",
        "L = lambda x W.",
    );
    let third = seed(&["corpus", "--dir", d], &[("DATABASE_URL", &url)]);
    assert!(third.status.success(), "{third:?}");
    assert!(
        stdout(&third).contains("1 created, 1 updated, 2 unchanged"),
        "{}",
        stdout(&third)
    );
    let docs = documents(&url).await;
    assert_eq!(docs.len(), 4);
    let jitter = docs.iter().find(|d| d.0 == "full-jitter.md").unwrap();
    assert_eq!(jitter.1, "Full jitter for retries");
    assert!(jitter.2.contains("capped exponential"));
}

#[tokio::test]
async fn non_test_databases_are_refused_unless_allowed() {
    let named_db = TestDatabase::create_named("chatbench_prod").await.unwrap();
    let url = named_db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    small_corpus(dir.path());
    let d = dir.path().to_str().unwrap();
    let refused = seed(&["corpus", "--dir", d], &[("DATABASE_URL", &url)]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-non-test"));
    let allowed = seed(
        &["corpus", "--dir", d, "--allow-non-test"],
        &[("DATABASE_URL", &url)],
    );
    assert!(allowed.status.success(), "{allowed:?}");
    assert!(stdout(&allowed).contains("3 created"));
}

#[tokio::test]
async fn bad_input_is_refused_before_touching_the_database() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // An empty directory.
    let empty = seed(&["corpus", "--dir", d], &[("DATABASE_URL", &url)]);
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
    // A file without a title.
    std::fs::write(dir.path().join("untitled.md"), "no heading here\n").unwrap();
    let untitled = seed(&["corpus", "--dir", d], &[("DATABASE_URL", &url)]);
    assert_eq!(untitled.status.code(), Some(2), "{untitled:?}");
    assert!(String::from_utf8_lossy(&untitled.stderr).contains("untitled.md"));
    // No database named.
    let nowhere = seed(&["corpus", "--dir", d], &[]);
    assert_eq!(nowhere.status.code(), Some(2), "{nowhere:?}");
    // User seeding flags do not mix with the subcommand.
    let mixed = seed(
        &["--users-file", "x.json", "corpus", "--dir", d],
        &[("DATABASE_URL", &url)],
    );
    assert!(!mixed.status.success(), "{mixed:?}");
}

#[tokio::test]
async fn the_shipped_corpus_loads() {
    // Dropped with the guard, at the end of the test.
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../load-tests/corpus");
    let out = seed(
        &["corpus", "--dir", dir.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let created: usize = text
        .split(" created")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text:?}"));
    assert!(created >= 200, "{text}");
    assert!(text.contains(", 0 updated, 0 unchanged"), "{text}");

    let docs = documents(&url).await;
    assert_eq!(docs.len(), created);
    for (source, title, content) in &docs {
        assert!(source.ends_with(".md"), "{source}");
        assert!(!title.is_empty() && !title.starts_with('#'), "{source}");
        let words = content.split_whitespace().count();
        assert!((60..=150).contains(&words), "{source}: {words} words");
    }
    let again = seed(
        &["corpus", "--dir", dir.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    assert!(
        stdout(&again).contains(&format!("0 created, 0 updated, {created} unchanged")),
        "{}",
        stdout(&again)
    );
}
