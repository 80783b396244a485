//! The Postgres retriever (`RETRIEVER_PROVIDER=postgres`) against real
//! Postgres: ranked full-text search over `documents`, OR semantics for
//! natural questions, title weight, deterministic ties, stop-word-only
//! questions, and the sources a chat turn lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use backend::config::{Config, RetrieverKind};
use backend::retriever::postgres::PgRetriever;
use backend::retriever::Retriever;
use backend::testing::{spawn_app, TestDatabase};
use serde_json::{json, Value};
use sqlx::PgPool;

/// A handful of known documents: (source, title, content).
const DOCS: &[(&str, &str, &str)] = &[
    (
        "connection-pool-sizing.md",
        "Connection pool sizing",
        "Size a database connection pool to what the database server can execute in parallel, \
         not to the number of users. For a 2-core Postgres that is about 5 to 10 connections.",
    ),
    (
        "time-to-first-token.md",
        "Time to first token",
        "Time to first token is the delay before the first content token of a streamed reply \
         arrives. It is what users perceive as responsiveness.",
    ),
    (
        "exponential-backoff.md",
        "Exponential backoff",
        "Retries wait base times two to the attempt between tries, capped, with full jitter so \
         that clients do not retry in synchronised waves.",
    ),
    (
        "argon2id-parameters.md",
        "Argon2id cost parameters",
        "Argon2id is a memory-hard password hash. Run it on a bounded thread pool so it never \
         blocks the event loop; each hash takes tens of milliseconds.",
    ),
    (
        "handling-429-responses.md",
        "Handling 429 Too Many Requests",
        "A client that is rate limited reads the Retry-After header and waits before retrying \
         the same request.",
    ),
];

/// A migrated database's pool, and its guard: the database is dropped when
/// the test lets go of the guard.
async fn migrated_pool() -> (PgPool, TestDatabase) {
    let db = TestDatabase::create().await.unwrap();
    let pool = PgPool::connect(db.url()).await.unwrap();
    backend::db::MIGRATOR.run(&pool).await.unwrap();
    (pool, db)
}

async fn insert(pool: &PgPool, source: &str, title: &str, content: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO documents (source, title, content) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(source)
    .bind(title)
    .bind(content)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Inserts the known documents; returns their ids by source.
async fn insert_known(pool: &PgPool) -> HashMap<&'static str, i64> {
    let mut ids = HashMap::new();
    for (source, title, content) in DOCS {
        ids.insert(*source, insert(pool, source, title, content).await);
    }
    ids
}

async fn sources_for(r: &PgRetriever, query: &str, limit: usize) -> Vec<String> {
    r.retrieve(query, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.source)
        .collect()
}

#[tokio::test]
async fn natural_questions_find_their_document_first() {
    let (pool, _db) = migrated_pool().await;
    let ids = insert_known(&pool).await;
    let r = PgRetriever::new(pool.clone());
    assert_eq!(r.name(), "postgres");

    let cases = [
        (
            "how should I size my database connection pool",
            "connection-pool-sizing.md",
        ),
        (
            "What is time to first token when streaming?",
            "time-to-first-token.md",
        ),
        (
            "should retries use exponential backoff and jitter",
            "exponential-backoff.md",
        ),
        (
            "what argon2 parameters for password hashing",
            "argon2id-parameters.md",
        ),
        (
            "the provider answered 429, what now",
            "handling-429-responses.md",
        ),
    ];
    for (query, expected) in cases {
        let got = r.retrieve(query, 3).await.unwrap();
        assert!(!got.is_empty(), "{query:?} found nothing");
        let first = &got[0];
        assert_eq!(first.source, expected, "{query:?}: {got:?}");
        assert_eq!(first.document_id, Some(ids[expected]));
        assert!(first.score > 0.0 && first.score <= 1.0, "{first:?}");
        assert!(!first.title.is_empty());
        assert!(!first.snippet.is_empty(), "{first:?}");
        // Ranked: scores never increase down the list.
        assert!(
            got.windows(2).all(|w| w[0].score >= w[1].score),
            "{query:?}: {got:?}"
        );
    }

    // OR semantics: a question sharing only some words still matches, and
    // a document matching more of them ranks first.
    let got = sources_for(&r, "pool threads for hashing passwords", 5).await;
    assert_eq!(got[0], "argon2id-parameters.md", "{got:?}");
    assert!(got.contains(&"connection-pool-sizing.md".to_owned()));

    // The limit is honoured.
    assert_eq!(r.retrieve("pool", 1).await.unwrap().len(), 1);
    assert!(r.retrieve("pool", 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_title_weighs_more_and_ties_go_to_the_lower_id() {
    let (pool, _db) = migrated_pool().await;
    let in_body = insert(
        &pool,
        "body.md",
        "Notes on operations",
        "Something about autovacuum and other topics.",
    )
    .await;
    let in_title = insert(
        &pool,
        "title.md",
        "Autovacuum",
        "Something about dead tuples and other topics.",
    )
    .await;
    assert!(in_body < in_title);
    let r = PgRetriever::new(pool.clone());
    let got = sources_for(&r, "tuning autovacuum", 5).await;
    assert_eq!(got, ["title.md", "body.md"]);

    // Two documents with identical text score alike: the lower id wins,
    // every time.
    let text = "Cache stampede: coalesce concurrent misses.";
    let a = insert(&pool, "twin-a.md", "Stampede", text).await;
    let b = insert(&pool, "twin-b.md", "Stampede", text).await;
    assert!(a < b);
    for _ in 0..3 {
        let got = r.retrieve("cache stampede", 5).await.unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].score, got[1].score);
        assert_eq!(got[0].document_id, Some(a));
        assert_eq!(got[1].document_id, Some(b));
    }
}

#[tokio::test]
async fn stop_words_and_punctuation_find_nothing_without_error() {
    let (pool, _db) = migrated_pool().await;
    insert_known(&pool).await;
    let r = PgRetriever::new(pool.clone());
    for query in [
        "",
        "   ",
        "the",
        "how should I",
        "what is it and why?",
        "?!...",
        "&|!():*",
        "' \" \\ ;",
    ] {
        let got = r.retrieve(query, 3).await;
        assert!(got.as_ref().is_ok_and(Vec::is_empty), "{query:?}: {got:?}");
    }
    // Hostile text is a parameter, never SQL or tsquery syntax.
    r.retrieve("'); DROP TABLE documents; -- pool & | !", 3)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, DOCS.len() as i64);
}

#[tokio::test]
async fn snippets_are_short() {
    let (pool, _db) = migrated_pool().await;
    let long: String = (0..400)
        .map(|i| {
            if i == 200 {
                "backpressure ".to_owned()
            } else {
                format!("word{i} ")
            }
        })
        .collect();
    insert(&pool, "long.md", "A long note", &long).await;
    let got = PgRetriever::new(pool)
        .retrieve("backpressure", 3)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let words = got[0].snippet.split_whitespace().count();
    assert!((1..=35).contains(&words), "{words}: {:?}", got[0].snippet);
    assert!(got[0].snippet.contains("backpressure"), "{:?}", got[0]);
}

/// The shipped corpus: known questions have known best answers.
#[tokio::test]
async fn the_shipped_corpus_answers_known_questions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../load-tests/corpus");
    let (pool, _db) = migrated_pool().await;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 200, "{}", entries.len());
    for path in &entries {
        let text = std::fs::read_to_string(path).unwrap();
        let (first, body) = text.split_once('\n').unwrap();
        let title = first.strip_prefix("# ").unwrap();
        let source = path.file_name().unwrap().to_str().unwrap();
        insert(&pool, source, title, body.trim()).await;
    }
    let r = PgRetriever::new(pool);
    let cases = [
        (
            "how should I size my database connection pool",
            "connection-pool-sizing.md",
        ),
        ("what is time to first token", "time-to-first-token.md"),
        (
            "how do I handle 429 Too Many Requests responses",
            "handling-429-responses.md",
        ),
        ("should I use full jitter for retries", "full-jitter.md"),
        (
            "what does a circuit breaker do when half-open",
            "circuit-breaker-states.md",
        ),
        ("argon2id memory cost parameters", "argon2id-parameters.md"),
        (
            "what bcrypt cost factor should I pick",
            "bcrypt-cost-factor.md",
        ),
        ("what is coordinated omission", "coordinated-omission.md"),
        (
            "can I average p99 percentiles",
            "percentiles-dont-average.md",
        ),
        (
            "nginx proxy buffering breaks SSE streaming",
            "proxy-buffering-sse.md",
        ),
        ("reciprocal rank fusion", "reciprocal-rank-fusion.md"),
        ("Little's law", "littles-law.md"),
        ("k6 thresholds exit code", "k6-thresholds.md"),
        (
            "pgbouncer transaction pooling prepared statements",
            "pgbouncer-transaction-pooling.md",
        ),
        (
            "should I autoscale on CPU or concurrency",
            "hpa-cpu-vs-concurrency.md",
        ),
        ("vLLM PagedAttention KV cache", "vllm-paged-attention.md"),
        ("graceful shutdown on SIGTERM", "graceful-shutdown.md"),
    ];
    let mut wrong = Vec::new();
    for (query, expected) in cases {
        let got = sources_for(&r, query, 3).await;
        if got.first().map(String::as_str) != Some(expected) {
            wrong.push(format!("{query:?}: expected {expected}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn retriever_provider_postgres_is_parsed_and_rag_force_mock_wins() {
    let config = |pairs: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("APP_ENV".into(), "test".into());
        for (k, v) in pairs {
            env.insert((*k).into(), (*v).into());
        }
        Config::from_source(&env)
    };
    let c = config(&[("RETRIEVER_PROVIDER", "postgres")]).unwrap();
    assert_eq!(c.retriever, RetrieverKind::Postgres);
    let c = config(&[("RETRIEVER_PROVIDER", "Postgres")]).unwrap();
    assert_eq!(c.retriever, RetrieverKind::Postgres);
    let c = config(&[
        ("RETRIEVER_PROVIDER", "postgres"),
        ("RAG_FORCE_MOCK", "true"),
    ])
    .unwrap();
    assert_eq!(c.retriever, RetrieverKind::Mock);
    let err = config(&[("RETRIEVER_PROVIDER", "elastic")]).unwrap_err();
    assert_eq!(err.var, "RETRIEVER_PROVIDER");
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut rb = client.post(url).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

#[tokio::test]
async fn a_chat_turn_lists_the_retrieved_documents_as_its_sources() {
    let app = spawn_app(&[("RETRIEVER_PROVIDER", "postgres")])
        .await
        .unwrap();
    let ids = insert_known(&app.pool).await;
    let client = reqwest::Client::new();
    let base = &app.base_url;
    post(
        &client,
        format!("{base}/api/auth/register"),
        None,
        json!({"username": "rag_user", "password": "correct-horse-battery"}),
    )
    .await;
    let login = post(
        &client,
        format!("{base}/api/auth/login-json"),
        None,
        json!({"username": "rag_user", "password": "correct-horse-battery"}),
    )
    .await;
    let token = login["access_token"].as_str().unwrap();

    let turn = post(
        &client,
        format!("{base}/api/chat/chat"),
        Some(token),
        json!({"content": "How should I size my database connection pool?"}),
    )
    .await;
    let sources = turn["assistant_message"]["metadata"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources: {turn}"));
    assert!(!sources.is_empty(), "{turn}");
    assert_eq!(sources[0]["source"], "connection-pool-sizing.md", "{turn}");
    assert_eq!(sources[0]["title"], "Connection pool sizing");
    assert_eq!(
        sources[0]["document_id"],
        json!(ids["connection-pool-sizing.md"])
    );
    assert!(sources[0]["snippet"].as_str().unwrap().contains("pool"));

    // A message of stop words only: a normal reply, with no sources.
    let turn = post(
        &client,
        format!("{base}/api/chat/chat"),
        Some(token),
        json!({"content": "and what about it?", "session_id": turn["session_id"]}),
    )
    .await;
    assert!(
        turn["assistant_message"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{turn}"
    );
    let sources = &turn["assistant_message"]["metadata"]["sources"];
    assert!(
        sources.is_null() || sources.as_array().is_some_and(Vec::is_empty),
        "{turn}"
    );
    app.shutdown().await.unwrap();
}
