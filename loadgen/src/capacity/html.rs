//! `capacity.html`: the search as one self-contained page (no network),
//! built as the run report is ([`crate::html`]): a template with uPlot
//! (vendored, MIT) and the page's script inlined, capacity.json embedded in
//! a `<script type="application/json">` block rendered with `textContent`
//! only, and a Content-Security-Policy that allows exactly the two inlined
//! scripts (by hash) and no connection. It draws p50/p95/p99 and goodput
//! against load, the knee marked, and the steps' table.

use super::report::CapacityReport;
use crate::html::{escape_json, fill, script_hash, CSS, UPLOT_CSS, UPLOT_JS};
use std::path::Path;

const TEMPLATE: &str = include_str!("../../assets/capacity/capacity.html");
const SCRIPT: &str = include_str!("../../assets/capacity/capacity.js");

/// The page's policy: the two inlined scripts by hash, nothing fetched.
pub fn csp() -> String {
    format!(
        "default-src 'none'; script-src {} {}; style-src 'unsafe-inline'; img-src data:; \
         base-uri 'none'; form-action 'none'",
        script_hash(UPLOT_JS),
        script_hash(SCRIPT)
    )
}

/// The page for `report`.
pub fn page(report: &CapacityReport) -> String {
    // Plain structs of strings and numbers: serializing cannot fail; if it
    // ever did, the page says so instead of panicking.
    let json = serde_json::to_string(report).unwrap_or_else(|e| {
        serde_json::json!({ "schema": super::SCHEMA, "error": e.to_string() }).to_string()
    });
    fill(
        TEMPLATE,
        &[
            ("CSP", &csp()),
            ("UPLOT_CSS", UPLOT_CSS),
            ("CSS", CSS),
            ("DATA", &escape_json(&json)),
            ("SCRIPT", SCRIPT),
            ("UPLOT_JS", UPLOT_JS),
        ],
    )
}

/// Writes the page to `path`, creating its directory.
pub fn write(path: &Path, report: &CapacityReport) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, page(report)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
