//! Chromium driven through WebDriver (Debian's chromedriver, `fantoccini`):
//! for a person's clicks, and for screenshots of a page whose event stream
//! stays open. Chromium's own `--screenshot` with a virtual-time budget
//! waits for the network to go idle; with a long-lived event stream
//! Chromium 156 (Debian 156.0.8078.108) often never takes the shot at all
//! (seen hanging in 6 of 8 tries on a 10 s stream), so such pages are
//! captured here, at a moment the test chooses.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::Path;
use std::time::{Duration, Instant};

/// A browser session; the driver process and the profile go with it.
pub struct Session {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Session {
    /// Starts `chromedriver` on a free loopback port and opens a headless
    /// Chromium session with a `width` x `height` window (bounded: 20 s).
    pub async fn start(chromium: &Path, chromedriver: &Path, width: u32, height: u32) -> Session {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver did not start a session within 20 s: {e}"),
            }
        };
        Session {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// The `<html>` element's attribute `name`.
    pub async fn root_attr(&self, name: &str) -> Option<String> {
        let root = self.client.find(Locator::Css("html")).await.unwrap();
        root.attr(name).await.unwrap()
    }

    /// Waits (bounded by `within`, polling every 100 ms) until the `<html>`
    /// element's attribute `name` satisfies `ok`; returns its value.
    pub async fn wait_root_attr(
        &self,
        name: &str,
        within: Duration,
        ok: impl Fn(Option<&str>) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.root_attr(name).await;
            if ok(value.as_deref()) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "<html {name}> was {value:?} after {within:?} (data-error: {:?})",
                self.root_attr("data-error").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves what the window shows to `png` (a PNG of more than 10 kB: a
    /// drawn page, not a blank one).
    pub async fn screenshot(&self, png: &Path) {
        let bytes = self.client.screenshot().await.unwrap();
        assert!(
            bytes.len() > 10_000,
            "{} would be only {} bytes",
            png.display(),
            bytes.len()
        );
        std::fs::write(png, bytes).unwrap();
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
