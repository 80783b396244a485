//! The harness itself: a short journey against the real backend completes
//! with every request answered.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_journey_against_the_real_backend_has_no_failures() {
    let app = common::backend(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let users = common::users(&app.base_url, 3, dir.path()).await;
    let report = common::run(&[
        "--base-url",
        &app.base_url,
        "--users-file",
        users.to_str().unwrap(),
        "--stages",
        "3s:3",
    ])
    .await;
    let rows = report.endpoint_rows();
    let chat = rows
        .iter()
        .find(|r| r.endpoint.contains("chat"))
        .expect("chat requests were made");
    assert!(chat.requests > 0);
    assert_eq!(rows.iter().map(|r| r.failures).sum::<u64>(), 0, "{rows:?}");
    app.shutdown().await.unwrap();
}
