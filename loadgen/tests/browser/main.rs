//! The HTML report in a real browser: Debian's headless Chromium opens the
//! page from disk with the network off (every request would go to a dead
//! proxy, and the page's own policy allows no connection) and its DOM is
//! read back after the page's script ran (`--dump-dom` with a virtual-time
//! budget). The page's script marks the `<html>` element: `data-status`
//! once everything is drawn, `data-js-errors` (every error is caught,
//! including a script the policy blocked), `data-charts` and
//! `data-rendered` (charts whose canvas holds pixels of their lines' colours).
//!
//! - a real short streaming run's report with a time series: every chart
//!   painted, the threshold, request, streaming and check tables present,
//!   no error; screenshots (desktop, phone) and a PDF print are saved under
//!   `target/browser-tests/` for a reviewer;
//! - a summary whose phase, endpoint, check and target strings are hostile
//!   (`</script>`, quotes, markup, emoji), rebuilt with `loadgen report`,
//!   then drawn with charts too (and phases named `__proto__`,
//!   `constructor`): the injected script did not run, the strings show as
//!   text, every chart is painted;
//! - a summary without a time series: the tables and the note, no chart.
//! - the live dashboard (`loadgen run --dashboard 127.0.0.1:0`, the binary
//!   against the fake chat backend): two snapshots during the run are drawn
//!   live with a growing request count, a page open at the end shows the
//!   final verdict, the process exits by itself; screenshots
//!   `dashboard-live.png` and `dashboard-final.png` taken through WebDriver
//!   (see `support::webdriver` for why not `--screenshot`); a run
//!   killed without its final report: the page says the dashboard is gone
//!   after its bounded retries, never RUNNING forever;
//! - `loadgen web`: a bad form value gets the command line's message; a
//!   production target is refused, with the guard's reason shown in the
//!   page; one run at a time (409), Stop ends a run as interrupted; a short
//!   run's verdict shows in the page with its result files (`web.png`). The
//!   test posts the JSON the page's Start posts (`api/runs`);
//! - `loadgen web` as a person uses it: through WebDriver (Debian's
//!   chromedriver) the form is filled in and Start clicked, and the page
//!   shows the run's verdict and its six result files (`web-clicked.png`).
//!
//! The first case charts the run's own time series; the hostile case a
//! synthetic [`ChartData`] over the hostile phases.
//!
//! Without a Chromium binary the tests say so and pass, unless
//! `CHATBENCH_REQUIRE_BROWSER=1` (CI), where they fail.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod dashboard;
mod report;
mod web;
