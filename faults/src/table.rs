//! The suite's one table: scenario | promise | measured | verdict.

/// One promise of one scenario, with what was measured.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub promise: String,
    pub measured: String,
    pub pass: bool,
}

impl Row {
    pub fn new(scenario: &str, promise: &str, measured: String, pass: bool) -> Self {
        Self {
            scenario: scenario.to_owned(),
            promise: promise.to_owned(),
            measured,
            pass,
        }
    }
}

/// A plain-text table (also valid Markdown), columns padded to fit.
pub fn render(rows: &[Row]) -> String {
    let header = ["scenario", "promise", "measured", "result"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.promise.clone(),
                r.measured.clone(),
                if r.pass { "pass" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: [&str; 4]| {
        let padded: Vec<String> = c
            .iter()
            .zip(width)
            .map(|(s, w)| format!("{s}{}", " ".repeat(w - s.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header);
    out.push_str(&line(
        width.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
    ));
    for c in &cells {
        out.push_str(&line(c.each_ref().map(String::as_str)));
    }
    out
}
