//! What the browser tests share: finding Debian's Chromium and
//! chromedriver, running Chromium headless on a page (file or live URL) and
//! reading its DOM back, a WebDriver session for what the command line
//! cannot do reliably, and readers of the dumped DOM.

#![allow(dead_code)]

pub mod webdriver;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Chromium to drive: `CHROMIUM`, else the first of Debian's names on
/// PATH. `None` skips (with a message), or fails under
/// `CHATBENCH_REQUIRE_BROWSER=1`.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).find_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        let required = std::env::var("CHATBENCH_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CHATBENCH_REQUIRE_BROWSER=1 but no chromium binary was found (apt-get install chromium)"
        );
        eprintln!("SKIPPED: no chromium binary on PATH (apt-get install chromium); the browser tests did not run");
    }
    found
}

/// Where the pages, screenshots and the PDF are kept for a reviewer.
pub fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("browser-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs Chromium headless on `target` with the flags every test needs,
/// then `flags`, bounded by `within`; returns its stdout (it must succeed).
async fn run_chromium(chromium: &Path, flags: &[String], target: &str, within: Duration) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        // Every request not to loopback goes to a closed port.
        "--proxy-server=127.0.0.1:9",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(flags)
    .arg(target)
    .kill_on_drop(true);
    let out = tokio::time::timeout(within, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {within:?}"))
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs Chromium headless on `page` with `extra` flags, network off;
/// returns its stdout.
pub async fn browse(chromium: &Path, page: &Path, extra: &[String]) -> String {
    let mut flags = vec![
        // Network off: loopback too goes to the closed port.
        "--proxy-bypass-list=<-loopback>".to_string(),
        "--virtual-time-budget=5000".to_string(),
    ];
    flags.extend_from_slice(extra);
    run_chromium(
        chromium,
        &flags,
        &format!("file://{}", page.display()),
        Duration::from_secs(90),
    )
    .await
}

/// The page's DOM after its script ran.
pub async fn dump_dom(chromium: &Path, page: &Path) -> String {
    let dom = browse(chromium, page, &["--dump-dom".to_string()]).await;
    assert!(dom.contains("<html"), "no DOM from chromium: {dom:.200}");
    dom
}

/// Saves a screenshot of `page` at `width` x `height` to `png`.
pub async fn screenshot(chromium: &Path, page: &Path, png: &Path, width: u32, height: u32) {
    browse(
        chromium,
        page,
        &[
            format!("--window-size={width},{height}"),
            format!("--screenshot={}", png.display()),
        ],
    )
    .await;
    let size = std::fs::metadata(png).unwrap().len();
    assert!(size > 10_000, "{} is only {size} bytes", png.display());
}

/// An attribute of the `<html>` element in a dumped DOM.
pub fn root_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<html")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

/// The text Chromium serializes for a string shown with textContent.
pub fn as_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page finished drawing, caught no error, ran no injected script and
/// shows its threshold and request tables.
pub fn assert_clean(dom: &str, what: &str) {
    assert_eq!(
        root_attr(dom, "data-status").as_deref(),
        Some("done"),
        "{what}: the page did not finish rendering"
    );
    assert_eq!(
        root_attr(dom, "data-js-errors").as_deref(),
        Some("0"),
        "{what}: the page caught errors: {}",
        dom.find("id=\"js-errors\"")
            .map(|i| &dom[i..(i + 600).min(dom.len())])
            .unwrap_or("")
    );
    assert_eq!(
        root_attr(dom, "data-pwned"),
        None,
        "{what}: an injected script ran"
    );
    for table in ["<table class=\"thresholds\"", "<table class=\"requests\""] {
        assert!(dom.contains(table), "{what}: no {table}");
    }
}

/// Runs Chromium headless on the live `url` (loopback allowed: the
/// dashboard is on it; anything else goes to a dead proxy) with `extra`
/// flags; returns its stdout. Virtual time stands still while the page's
/// event stream is open, so Chromium reads the page once the stream is
/// closed: by the page after its final report, or after `?updates=N`.
pub async fn browse_live(chromium: &Path, url: &str, extra: &[String]) -> String {
    browse_live_for(chromium, url, extra, 2000).await
}

/// [`browse_live`] with a virtual-time budget of `budget_ms` (the page's
/// timers, reconnection delays included, run on virtual time).
pub async fn browse_live_for(
    chromium: &Path,
    url: &str,
    extra: &[String],
    budget_ms: u32,
) -> String {
    let mut flags = vec![format!("--virtual-time-budget={budget_ms}")];
    flags.extend_from_slice(extra);
    run_chromium(chromium, &flags, url, Duration::from_secs(60)).await
}

/// The text of the run facts' entry `name` (e.g. `Requests`) in a DOM.
pub fn fact(dom: &str, name: &str) -> Option<String> {
    let key = format!("<dt>{name}</dt><dd>");
    let at = dom.find(&key)? + key.len();
    Some(dom[at..at + dom[at..].find('<')?].to_string())
}

/// Debian's chromedriver (`chromium-driver`): `CHROMEDRIVER`, else the first
/// on PATH. `None` skips, or fails under `CHATBENCH_REQUIRE_BROWSER=1`.
pub fn chromedriver() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("chromedriver"))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var("CHATBENCH_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "no chromedriver (apt-get install chromium-driver), and CHATBENCH_REQUIRE_BROWSER=1"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium-driver)");
    }
    found
}

/// stderr of a spawned loadgen, line by line.
pub type StderrLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Starts the loadgen binary under test with `args` (the environment's
/// target and guard overrides removed; killed on drop) and waits, at most
/// 10 s, for the stderr line starting `prefix`: returns the process, the
/// rest of that line (the address it serves on) and the rest of stderr.
pub async fn spawn_loadgen_serving(
    args: &[&str],
    prefix: &str,
) -> (tokio::process::Child, String, StderrLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .env_remove("BASE_URL")
        .env_remove("LOADGEN_ALLOW_NON_TEST_BACKEND")
        .env_remove("K6_ALLOW_NON_TEST_BACKEND")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {prefix:?} line on stderr within 10 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("loadgen ended before printing {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            break rest.to_string();
        }
    };
    (child, address, lines)
}

/// Starts `loadgen run ARGS --dashboard 127.0.0.1:0`: the process, the
/// dashboard's URL and the rest of stderr.
pub async fn spawn_dashboard_run(args: &[&str]) -> (tokio::process::Child, String, StderrLines) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend(["--dashboard", "127.0.0.1:0"]);
    spawn_loadgen_serving(&all, "loadgen: dashboard on ").await
}
