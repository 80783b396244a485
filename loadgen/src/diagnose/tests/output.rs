//! What the findings become: their order and terminal text, summary.json
//! (schema, read back), merge, the page.

use super::*;

#[test]
fn findings_are_worst_first_and_render_one_block_each() {
    let mut t = healthy_target();
    t.totals.insert(tt::PROVIDER_RETRIES.into(), 1.0);
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(ramp(|i| i >= 12, 3), t);
    r.diagnosis = diagnose(&r);
    let order: Vec<&str> = r.diagnosis.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        order,
        ["error_onset", "db_pool_saturated", "provider_retries"]
    );
    let text = render(&r);
    assert!(text.starts_with(&format!("  diagnosis: 3 findings (13 rules checked; server metrics: {URL})\n    [critical] error_onset\n      evidence: errors started at 130 VUs")), "{text}");
    assert!(
        text.contains("    [info] provider_retries\n      evidence: "),
        "{text}"
    );
}

#[test]
fn theil_sen_shrugs_off_outliers() {
    let mut p: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
    p[10].1 = 1000.0;
    p[20].1 = -1000.0;
    let slope = util::theil_sen(&p).unwrap();
    assert!((slope - 2.0).abs() < 1e-9, "{slope}");
    assert_eq!(util::median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
    assert_eq!(util::theil_sen(&[(1.0, 1.0)]), None);
}

#[test]
fn summary_json_carries_the_findings_and_reading_it_back_keeps_them() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(healthy_client(), t);
    r.diagnosis = diagnose(&r);
    let json = crate::export::to_json(&r).unwrap();
    let schema: serde_json::Value = serde_json::from_str(crate::export::SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&json),
        "{:?}",
        validator.iter_errors(&json).next()
    );
    assert_eq!(json["diagnosis"][0]["rule"], "db_pool_saturated");
    assert_eq!(json["diagnosis"][0]["severity"], "critical");
    let dir = tempfile::tempdir().unwrap();
    let path = crate::export::write(dir.path(), &r, "").unwrap();
    let back = crate::merge::report_from(&path).unwrap();
    assert_eq!(back.diagnosis, r.diagnosis);
    // A healthy run's summary says so with an empty list.
    let h = healthy_client();
    assert_eq!(
        crate::export::to_json(&h).unwrap()["diagnosis"],
        serde_json::json!([])
    );
}

#[test]
fn merge_diagnoses_the_merged_figures_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for name in ["a", "b"] {
        let mut r = ramp(|i| i >= 12, 3);
        // Recorded findings are not what merge reports: it re-diagnoses.
        r.diagnosis = vec![Finding {
            rule: "stale".into(),
            severity: Severity::Info,
            evidence: String::new(),
            advice: String::new(),
        }];
        paths.push(crate::export::write(&dir.path().join(name), &r, "").unwrap());
    }
    let merged = crate::merge::merge_files(&paths, &crate::merge::MergeOptions::default()).unwrap();
    let rules: Vec<&str> = merged.diagnosis.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["error_onset"]);
    assert!(merged.diagnosis[0]
        .evidence
        .starts_with("errors started at 260 VUs (t=12 s)"));
}

#[test]
fn the_page_shows_a_diagnosis_section() {
    let mut t = healthy_target();
    set(&mut t, s::DB_POOL_USAGE_RATIO, first(14, 1.0, 0.5));
    let mut r = with_server(healthy_client(), t);
    r.diagnosis = diagnose(&r);
    let page = crate::html::page(&r);
    assert!(page.contains("<section id=\"diagnosis\""));
    let data = crate::html::build(&r, &r.chart_data());
    assert_eq!(data.diagnosis.findings, r.diagnosis);
    assert_eq!(data.diagnosis.rules_checked, 13);
    assert_eq!(data.diagnosis.server.as_deref(), Some(URL));
}
