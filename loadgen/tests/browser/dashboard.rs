//! The live dashboard (`loadgen run --dashboard`): drawn live during a run
//! and final at its end; a run killed without its final report is said to
//! be gone, never RUNNING forever.

use crate::common::chat::{chat_server, Config};
use crate::common::users_file;
use crate::support::webdriver::Session;
use crate::support::{
    assert_clean, browse_live, browse_live_for, chromedriver, chromium, fact, out_dir, root_attr,
    spawn_dashboard_run,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_dashboard_updates_during_a_run_and_shows_the_verdict_at_the_end() {
    let Some(chromium) = chromium() else { return };
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let users = users_file(dir.path(), 4);
    let (mut child, url, mut lines) = spawn_dashboard_run(&[
        "-q",
        "--base-url",
        &base,
        "--users-file",
        users.to_str().unwrap(),
        "--vus",
        "2",
        "--duration",
        "15s",
        "--think",
        "50ms",
        "--interval",
        "500ms",
        "--seed",
        "7",
        "--threshold",
        "http_req_duration{phase:chat}: p(95)<5000",
    ])
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let rest = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        seen
    });

    // Pages opened now stay until the run ends and get the final report
    // and its verdict (opened early, so a slow browser cannot miss the end):
    // one dumped by Chromium's command line, one in a WebDriver session that
    // captures it for a reviewer at two updates and at the end (Chromium's
    // own --screenshot can hang on a page whose event stream stays open).
    let out = out_dir();
    let (live_png, final_png) = (
        out.join("dashboard-live.png"),
        out.join("dashboard-final.png"),
    );
    let finals = {
        let (chromium, url) = (chromium.clone(), url.clone());
        tokio::spawn(async move { browse_live(&chromium, &url, &["--dump-dom".to_string()]).await })
    };
    let shots = {
        let (chromium, url) = (chromium.clone(), url.clone());
        let (live_png, final_png) = (live_png.clone(), final_png.clone());
        tokio::spawn(async move {
            let browser = Session::start(&chromium, &chromedriver, 1280, 2000).await;
            browser.client.goto(&url).await.unwrap();
            let at_least_two = |v: Option<&str>| v.and_then(|n| n.parse::<u32>().ok()) >= Some(2);
            browser
                .wait_root_attr("data-updates", Duration::from_secs(30), at_least_two)
                .await;
            browser.screenshot(&live_png).await;
            browser
                .wait_root_attr("data-final", Duration::from_secs(40), |v| v == Some("1"))
                .await;
            let status = browser.root_attr("data-status").await;
            browser.screenshot(&final_png).await;
            browser.close().await;
            status
        })
    };

    // Two snapshots during the run (each page follows three updates, the
    // interval is 500 ms): both drawn live, more requests in the later one.
    let snapshot = format!("{url}?updates=3");
    let first = browse_live(&chromium, &snapshot, &["--dump-dom".into()]).await;
    let second = browse_live(&chromium, &snapshot, &["--dump-dom".into()]).await;
    for (dom, what) in [(&first, "first"), (&second, "second")] {
        assert_eq!(
            root_attr(dom, "data-js-errors").as_deref(),
            Some("0"),
            "{what}: {dom:.2000}"
        );
        assert_eq!(
            root_attr(dom, "data-status").as_deref(),
            Some("live"),
            "{what}"
        );
        assert_eq!(
            root_attr(dom, "data-final"),
            None,
            "{what}: the run was not over"
        );
        assert_eq!(
            root_attr(dom, "data-updates").as_deref(),
            Some("3"),
            "{what}"
        );
        assert!(
            dom.contains(
                "class=\"verdict running\" role=\"status\"><span class=\"word\">RUNNING</span>"
            ),
            "{what}: no running banner"
        );
        assert!(
            dom.contains("<table class=\"requests\""),
            "{what}: no request table"
        );
        assert_eq!(root_attr(dom, "data-pwned"), None);
    }
    let count = |dom: &str| -> u64 {
        let text = fact(dom, "Requests").expect("no Requests fact");
        text.split_whitespace()
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert!(
        count(&second) > count(&first),
        "the requests did not grow: {} then {}",
        count(&first),
        count(&second)
    );

    let last = finals.await.unwrap();
    assert_eq!(
        root_attr(&last, "data-final").as_deref(),
        Some("1"),
        "no final report: {last:.2000}"
    );
    assert_eq!(
        root_attr(&last, "data-updates").map(|n| n != "0"),
        Some(true)
    );
    assert_clean(&last, "final dashboard");
    for text in [
        "PASSED",
        "exit code 0",
        "http_req_duration{phase:chat}: p(95)&lt;5000",
    ] {
        assert!(last.contains(text), "the final page has no {text:?}");
    }
    assert!(
        last.contains(
            "class=\"verdict passed\" role=\"status\"><span class=\"word\">PASSED</span>"
        ),
        "the final banner is not the verdict"
    );

    // The run ended by itself, the dashboard with it.
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("loadgen did not exit after its run")
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {:?}", rest.await.unwrap());
    // The captured page reached the verdict too.
    assert_eq!(shots.await.unwrap().as_deref(), Some("done"));
    eprintln!(
        "dashboard screenshots: {} {}",
        live_png.display(),
        final_png.display()
    );
}

/// A run killed without its final report (SIGKILL: no chance to send it):
/// the open page does not go on saying RUNNING; it retries, then says the
/// dashboard is gone and stops retrying (reconnection delays run on
/// Chromium's virtual time, so the minute of retries takes moments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_killed_mid_run_is_reported_gone_and_no_longer_running() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = chat_server(Config::default()).await;
    let base = format!("http://{addr}");
    let users = users_file(dir.path(), 2);
    let users = users.to_str().unwrap();
    let (mut child, url, _lines) = spawn_dashboard_run(&[
        "-q",
        "--base-url",
        &base,
        "--users-file",
        users,
        "--vus",
        "1",
        "--duration",
        "60s",
        "--think",
        "100ms",
        "--interval",
        "500ms",
    ])
    .await;
    let page = {
        let (chromium, url) = (chromium.clone(), url.clone());
        tokio::spawn(async move {
            browse_live_for(&chromium, &url, &["--dump-dom".to_string()], 300_000).await
        })
    };
    // The page follows the run a few seconds, then the run dies.
    tokio::time::sleep(Duration::from_secs(4)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let dom = page.await.unwrap();
    assert_eq!(
        root_attr(&dom, "data-connection").as_deref(),
        Some("lost"),
        "{dom:.1500}"
    );
    assert_eq!(root_attr(&dom, "data-final"), None);
    assert_eq!(root_attr(&dom, "data-js-errors").as_deref(), Some("0"));
    assert!(
        root_attr(&dom, "data-updates").is_some_and(|n| n != "0"),
        "the page never drew an update"
    );
    assert!(
        dom.contains("the dashboard stopped answering before the final report"),
        "the banner does not say the dashboard is gone"
    );
}
