//! `loadgen web`: the form's API (bad values, a refused production target,
//! one run at a time, Stop, a short run's verdict and files) and a person's
//! click on Start through WebDriver.

use crate::common::chat::{chat_server, Config};
use crate::common::users_file;
use crate::support::webdriver::Session;
use crate::support::{
    browse_live, chromedriver, chromium, out_dir, root_attr, spawn_loadgen_serving,
};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// One HTTP/1.1 request to `addr` (the test's own tiny client: the crate's
/// clients are for loading targets); returns the status and the body.
async fn request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, body.to_string())
}

/// Waits until `loadgen web`'s status says `state`; returns the status.
async fn wait_for_state(addr: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = request(addr, "GET", "/api/status", "").await;
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        if status["state"] == state {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `loadgen web` on a free loopback port with `users` as its
/// accounts; returns the process (killed on drop) and the page's URL.
async fn spawn_web(users: &Path) -> (tokio::process::Child, String) {
    let users = users.to_str().unwrap();
    let (child, url, mut lines) = spawn_loadgen_serving(
        &["web", "--users-file", users, "127.0.0.1:0"],
        "loadgen: web UI on ",
    )
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_web_refuses_a_non_test_target_and_runs_stops_and_reports_a_test_one() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (test_target, _) = chat_server(Config::default()).await;
    let (production, _) = chat_server(Config {
        app_env: Some("production".into()),
        ..Config::default()
    })
    .await;
    let users = users_file(dir.path(), 4);
    let (mut child, url) = spawn_web(&users).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let form = |target: std::net::SocketAddr, duration: &str| {
        serde_json::json!({"target": format!("http://{target}"), "vus": "2", "duration": duration,
            "profile": "", "stages": "", "stream": false, "allow_non_test_backend": false})
        .to_string()
    };

    // A bad value: the run command line's message, as JSON.
    let (code, body) = request(
        &addr,
        "POST",
        "/api/runs",
        r#"{"target":"http://127.0.0.1:1","vus":"many"}"#,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid value 'many' for '--vus"), "{body}");

    // A production target: refused with the guard's reason, in the page too.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(production, "2s")).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("guard refused the target") && body.contains("production"),
        "{body}"
    );
    let page = browse_live(&chromium, &url, &["--dump-dom".into()]).await;
    assert_eq!(root_attr(&page, "data-js-errors").as_deref(), Some("0"));
    assert_eq!(
        root_attr(&page, "data-state").as_deref(),
        Some("idle"),
        "{page:.1500}"
    );
    let shown = root_attr(&page, "data-error").unwrap_or_default();
    assert!(shown.contains("guard refused the target"), "{shown}");
    assert!(page.contains("<div id=\"message\" role=\"alert\">guard refused the target"));

    // One run at a time; Stop ends it early, reported as interrupted.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "60s")).await;
    assert_eq!(code, 202, "{body}");
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "2s")).await;
    assert_eq!(code, 409, "{body}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, body) = request(&addr, "POST", "/api/stop", "").await;
    assert_eq!(code, 200, "{body}");
    let status = wait_for_state(&addr, "done").await;
    assert_eq!(status["verdict"], "aborted", "{status}");
    assert_eq!(status["exit_code"], 105, "interrupted: {status}");
    let (_, summary) = request(&addr, "GET", "/results/summary.json", "").await;
    assert!(summary.contains("interrupted"), "{summary:.600}");

    // A short run to its end: the page shows its verdict and the files.
    let (code, body) = request(&addr, "POST", "/api/runs", &form(test_target, "2s")).await;
    assert_eq!(code, 202, "{body}");
    let status = wait_for_state(&addr, "done").await;
    assert_eq!(status["verdict"], "passed", "{status}");
    assert_eq!(status["downloads"].as_array().unwrap().len(), 6, "{status}");
    let live = browse_live(&chromium, &format!("{url}live/"), &["--dump-dom".into()]).await;
    assert_eq!(
        root_attr(&live, "data-final").as_deref(),
        Some("1"),
        "{live:.1500}"
    );
    assert_eq!(root_attr(&live, "data-status").as_deref(), Some("done"));
    assert_eq!(root_attr(&live, "data-js-errors").as_deref(), Some("0"));
    assert!(
        live.contains("<table class=\"requests\""),
        "no request table"
    );
    assert!(live
        .contains("class=\"verdict passed\" role=\"status\"><span class=\"word\">PASSED</span>"));
    let page = browse_live(&chromium, &url, &["--dump-dom".into()]).await;
    assert_eq!(root_attr(&page, "data-js-errors").as_deref(), Some("0"));
    assert_eq!(root_attr(&page, "data-state").as_deref(), Some("done"));
    assert_eq!(root_attr(&page, "data-verdict").as_deref(), Some("passed"));
    assert!(page.contains("Done: passed (exit code 0)"));
    for name in ["summary.json", "report.html", "loadgen_stats.csv"] {
        assert!(
            page.contains(&format!("href=\"results/{name}\"")),
            "no link to {name}"
        );
    }
    let (code, csv) = request(&addr, "GET", "/results/loadgen_stats.csv", "").await;
    assert_eq!(code, 200);
    assert!(
        csv.starts_with("Type,Name,Request Count,Failure Count,"),
        "{csv:.200}"
    );
    let (code, _) = request(&addr, "GET", "/results/..%2FCargo.toml", "").await;
    assert_eq!(code, 404);

    let png = out_dir().join("web.png");
    browse_live(
        &chromium,
        &url,
        &[
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", png.display()),
        ],
    )
    .await;
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    child.kill().await.unwrap();
}

/// A person's way in: the page is opened in Chromium through WebDriver, the
/// form filled in and Start clicked, so the page's own script posts the run;
/// the page then shows the run's verdict and its result files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_start_in_loadgen_web_runs_a_short_run_and_the_page_shows_its_verdict() {
    use fantoccini::Locator;
    let Some(chromium) = chromium() else { return };
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (target, _) = chat_server(Config::default()).await;
    let users = users_file(dir.path(), 4);
    let (_web, url) = spawn_web(&users).await;

    let session = Session::start(&chromium, &chromedriver, 1280, 1600).await;
    let browser = &session.client;
    browser.goto(&url).await.unwrap();
    let field = browser
        .wait()
        .for_element(Locator::Id("target"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(&format!("http://{target}")).await.unwrap();
    for (name, value) in [("vus", "2"), ("duration", "2s")] {
        let input = browser
            .find(Locator::Css(&format!("input[name={name}]")))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser
        .find(Locator::Id("start-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The page follows the run to its end: bounded wait on its own state.
    session
        .wait_root_attr("data-state", Duration::from_secs(30), |v| v == Some("done"))
        .await;
    assert_eq!(
        session.root_attr("data-verdict").await.as_deref(),
        Some("passed")
    );
    assert_eq!(
        session.root_attr("data-js-errors").await.as_deref(),
        Some("0")
    );
    let state = browser
        .find(Locator::Id("state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains("Done: passed (exit code 0)"), "{state}");
    let links = browser
        .find_all(Locator::Css("#downloads a"))
        .await
        .unwrap();
    assert_eq!(links.len(), 6, "one link per result file");
    session.screenshot(&out_dir().join("web-clicked.png")).await;
    session.close().await;
}
