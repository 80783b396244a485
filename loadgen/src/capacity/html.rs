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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::report::{Outcome, Settings, GOODPUT_DEFINITION};

    #[test]
    fn the_page_embeds_the_report_inert_and_allows_only_its_own_scripts() {
        let now = chrono::Utc::now();
        let report = CapacityReport {
            schema: super::super::SCHEMA,
            target: "http://127.0.0.1:1/</script><script>alert(1)</script>".into(),
            profile: "ramp".into(),
            latency_profile: "mock",
            model: "closed",
            unit: "VUs",
            stream: false,
            seed: 1,
            started_at: now,
            finished_at: now,
            settings: Settings {
                ladder: vec![1.0, 2.0],
                settle_s: 1.0,
                hold_s: 3.0,
                bisect: 2,
                max_duration_s: 30.0,
            },
            thresholds: vec!["http_req_failed: rate<0.01".into()],
            skipped_thresholds: Vec::new(),
            goodput_definition: GOODPUT_DEFINITION,
            knee: Some(1.0),
            first_failed: Some(2.0),
            outcome: Outcome::Knee,
            exit_code: 0,
            broken: Vec::new(),
            health: Vec::new(),
            steps: Vec::new(),
        };
        let page = page(&report);
        assert!(
            !page.contains("</script><script>alert"),
            "the target cannot close the data block"
        );
        assert!(page.contains("chatbench.loadgen.capacity/v1"));
        assert!(page.contains(&csp()));
        assert!(csp().contains("default-src 'none'") && !csp().contains("connect-src"));
        assert!(!page.contains("{{"), "every placeholder filled");
    }
}
