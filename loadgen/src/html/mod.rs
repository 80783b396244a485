//! The self-contained HTML report (`--html FILE`, `report.html` in `--out`,
//! `loadgen report SUMMARY.json --html FILE`): one file that opens from disk
//! with no network.
//!
//! The page is `loadgen/assets/report/` (template, CSS, script) with uPlot
//! (MIT, `loadgen/assets/vendor/uplot/`) inlined, and the report's data
//! embedded as JSON in a `<script type="application/json">` block that the
//! page's script renders with `textContent` only. Strings from the target
//! (endpoint names, check names, the URL) can therefore never become markup,
//! and [`escape_json`] keeps them from closing the data block. A
//! Content-Security-Policy allows exactly the two inlined scripts (by hash)
//! and no connection, so the page cannot reach the network and an injected
//! script would not run even if escaping failed.
//!
//! The page reads of the time series only a [`ChartData`]; without one
//! (a v1 summary) it shows the tables and says there is no time series.

mod data;

pub use data::{build, PageData, DATA_SCHEMA, PERCENTILES};

use crate::chart::ChartData;
use crate::report::Report;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::path::Path;

const TEMPLATE: &str = include_str!("../../assets/report/report.html");
pub(crate) const CSS: &str = include_str!("../../assets/report/report.css");
const SCRIPT: &str = include_str!("../../assets/report/report.js");
/// The live page's subscription to the dashboard's events: only in the page
/// a dashboard serves, so the report a run writes has no network code.
const LIVE_SCRIPT: &str = include_str!("../../assets/report/live.js");
pub(crate) const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
pub(crate) const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");

/// The page for a finished run or a summary read back: the report with the
/// run's time series when it has one.
pub fn page(report: &Report) -> String {
    // The one place the time series comes in: the timeline's columns (none
    // for a summary without a timeline, e.g. a v1 one).
    render(report, &report.chart_data())
}

/// Renders the page for `report` with `charts` (no points: the tables and a
/// "no time series in this summary" note instead of charts).
pub fn render(report: &Report, charts: &ChartData) -> String {
    render_data(&build(report, charts))
}

/// Renders the page for already-built data.
pub fn render_data(data: &PageData) -> String {
    render_json(&to_json(data), None)
}

/// The page data as JSON text. Serializing plain structs of strings and
/// numbers cannot fail; if it ever did, the page says so instead of
/// panicking.
pub fn to_json(data: &PageData) -> String {
    serde_json::to_string(data).unwrap_or_else(|e| {
        serde_json::json!({ "schema": DATA_SCHEMA, "error": e.to_string() }).to_string()
    })
}

/// The same page served live (the dashboard): `json` is the data so far
/// (or `{"pending":true}` before the run started), and the page subscribes
/// to the server-sent events at `events` (a same-origin path) to redraw.
/// Its policy allows connections to its own origin only.
pub fn render_live(json: &str, events: &str) -> String {
    render_json(json, Some(events))
}

fn render_json(json: &str, live: Option<&str>) -> String {
    // The path is ours (a constant of the dashboard), but it goes into an
    // attribute: keep it to characters that need no escaping there.
    let live_attr = live
        .filter(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_".contains(c))
        })
        .map(|p| format!(" data-live=\"{p}\""))
        .unwrap_or_default();
    let live_script = if live.is_some() {
        format!("<script>{LIVE_SCRIPT}</script>")
    } else {
        String::new()
    };
    fill(
        TEMPLATE,
        &[
            ("LIVE", &live_attr),
            ("LIVE_SCRIPT", &live_script),
            ("CSP", &csp_for(live.is_some())),
            ("UPLOT_CSS", UPLOT_CSS),
            ("CSS", CSS),
            ("DATA", &escape_json(json)),
            ("UPLOT_JS", UPLOT_JS),
            ("SCRIPT", SCRIPT),
        ],
    )
}

/// Writes the page for `report` to `path`, creating its directory.
pub fn write(path: &Path, report: &Report) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, page(report)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes JSON text safe inside a `<script>` element: `<`, `>` and `&` (so
/// no `</script>` or `<!--` can appear) and U+2028/U+2029 (line
/// terminators to older JavaScript parsers) become `\uXXXX` escapes. They
/// can only occur inside JSON strings, where the escape means the same
/// character, so `JSON.parse` gives back exactly the original value.
pub fn escape_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn script_hash(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's Content-Security-Policy: the two inlined scripts by hash,
/// inline styles (uPlot sets them), images only from `data:`, and nothing
/// else (no fetch, no font, no frame: the page works offline by
/// construction).
pub fn csp() -> String {
    csp_for(false)
}

/// The live page's policy: [`csp`] plus its live script (by hash) and
/// connections to its own origin (the dashboard's event stream), nothing
/// else.
pub fn csp_live() -> String {
    csp_for(true)
}

fn csp_for(live: bool) -> String {
    let (live_hash, connect) = if live {
        (
            format!(" {}", script_hash(LIVE_SCRIPT)),
            "connect-src 'self'; ",
        )
    } else {
        (String::new(), "")
    };
    format!(
        "default-src 'none'; script-src {} {}{live_hash}; style-src 'unsafe-inline'; \
         img-src data:; {connect}base-uri 'none'; form-action 'none'",
        script_hash(UPLOT_JS),
        script_hash(SCRIPT),
    )
}

/// Replaces each `{{NAME}}` of `template` with its value in one pass, so a
/// value that happens to contain `{{...}}` is never expanded; an unknown
/// name is left as it is.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
