//! The guard: load is only ever sent to a backend that says it is a test
//! deployment. `GET {base}/api/health` must answer 200 with `"status": "ok"`
//! and `"app_env": "test"`; anything else refuses the run (exit 3) with a
//! message naming what was seen, and a target that cannot be reached is its
//! own error (exit 4). The check is repeated during the run: a target that
//! stops being a test backend aborts it. A test backend that says it is
//! degraded (a 503 `"status": "degraded"` with `"app_env": "test"`: its
//! pool or database failing) or does not answer in time is what a stress
//! run exists to observe: the run goes on and the re-check is recorded
//! ([`crate::report::HealthNote`]) for the diagnosis.
//!
//! The re-check also compares who answers with who answered first: the
//! deployment's identity (`app_env`, `environment`, `version`,
//! `llm_provider`, `retriever`, those the first answer had). Another
//! deployment behind the same URL (a DNS or proxy change, a different
//! version rolled out) aborts the run like a non-test answer; the same one
//! restarted (its `uptime_seconds` went back) is recorded and the run goes
//! on. A 5xx without a JSON body (a proxy in front of a backend that is
//! down) counts as no answer, not as a refusal.
//!
//! `--allow-non-test-backend` (or `LOADGEN_ALLOW_NON_TEST_BACKEND=1`, or the
//! k6-era `K6_ALLOW_NON_TEST_BACKEND=1`) lifts the `app_env` requirement; the
//! target must still answer.

use crate::http::{Client, Target};
use hyper::Method;
use std::sync::Arc;
use std::time::Duration;

/// The most of a health answer read (a small JSON object): a larger one is
/// refused, not kept.
pub const MAX_HEALTH_BODY: usize = 64 * 1024;

/// What the health endpoint said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Status ok and `app_env: "test"`.
    Test,
    /// It answered `app_env: "test"` but not healthy (a non-200 status or
    /// a status other than `ok`); the text says what it answered.
    Degraded(String),
    /// It answered, but is not (provably) a test backend; the text says why.
    NotTest(String),
    /// No HTTP answer at all; the text says why.
    Unreachable(String),
}

/// The health answer's fields that name the deployment: a re-check whose
/// answer differs in one of them is another deployment.
const IDENTITY_FIELDS: [&str; 5] = [
    "app_env",
    "environment",
    "version",
    "llm_provider",
    "retriever",
];

/// Who answered: the identity fields present in a health answer, each as
/// its JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity(Vec<(&'static str, String)>);

impl Identity {
    /// The identity fields of a health answer's body (none when it is not
    /// a JSON object).
    pub fn of(body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let Some(obj) = json.as_ref().and_then(|j| j.as_object()) else {
            return Identity::default();
        };
        Identity(
            IDENTITY_FIELDS
                .iter()
                .filter_map(|&f| obj.get(f).map(|v| (f, v.to_string())))
                .collect(),
        )
    }

    /// How `now` differs from this (the first) identity, field by field,
    /// or `None` when every field both have is the same. A field missing
    /// from `now` is no evidence: a struggling server may answer a shorter
    /// body (`app_env` itself is the verdict's business).
    pub fn changed_in(&self, now: &Identity) -> Option<String> {
        let changes: Vec<String> = self
            .0
            .iter()
            .filter_map(|(field, was)| {
                let (_, is) = now.0.iter().find(|(f, _)| f == field)?;
                (is != was).then(|| format!("{field} {was} -> {is}"))
            })
            .collect();
        (!changes.is_empty()).then(|| changes.join(", "))
    }
}

/// One health answer: the verdict, and (when it answered with JSON) the
/// identity it gave and its uptime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub verdict: Verdict,
    pub identity: Option<Identity>,
    pub uptime_seconds: Option<u64>,
}

/// Asks the health endpoint once. Never follows redirects.
pub async fn check(target: Arc<Target>, health_path: &str, timeout: Duration) -> Verdict {
    probe(target, health_path, timeout).await.verdict
}

/// [`check`], with who answered.
pub async fn probe(target: Arc<Target>, health_path: &str, timeout: Duration) -> Answer {
    let url = format!("{}{}", target.display(), health_path);
    let mut client = Client::new(target, timeout);
    let ex = client
        .send(Method::GET, health_path, &[], None, MAX_HEALTH_BODY)
        .await;
    let reply = match ex.result {
        Ok(r) => r,
        Err(kind) => {
            let why = match kind {
                "connect" => "connection failed",
                "timeout" => "no answer within the timeout",
                _ => "the connection broke",
            };
            let verdict = Verdict::Unreachable(format!("target unreachable: GET {url}: {why}"));
            return Answer {
                verdict,
                identity: None,
                uptime_seconds: None,
            };
        }
    };
    if ex.cut > 0 {
        let verdict = Verdict::NotTest(format!(
            "GET {url} answered {} with a body over {} KiB (not read: a health answer is a small JSON object)",
            reply.status,
            MAX_HEALTH_BODY / 1024
        ));
        return Answer {
            verdict,
            identity: None,
            uptime_seconds: None,
        };
    }
    let verdict = judge(&url, reply.status, &reply.body);
    let answered = matches!(verdict, Verdict::Test | Verdict::Degraded(_));
    let uptime_seconds = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|j| j.get("uptime_seconds").and_then(serde_json::Value::as_u64));
    Answer {
        verdict,
        identity: answered.then(|| Identity::of(&reply.body)),
        uptime_seconds,
    }
}

/// Judges a health answer; separated from the I/O so it can be tested on its own.
pub fn judge(url: &str, status: u16, body: &[u8]) -> Verdict {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> String {
        match json.as_ref().and_then(|j| j.get(name)) {
            Some(serde_json::Value::String(s)) => format!("{s:?}"),
            Some(other) => other.to_string(),
            None => "missing".to_string(),
        }
    };
    let (status_field, app_env) = (field("status"), field("app_env"));
    if (300..400).contains(&status) {
        return Verdict::NotTest(format!(
            "GET {url} answered a {status} redirect; redirects are not followed, point --base-url at the backend itself"
        ));
    }
    if json.is_none() && status >= 500 {
        // A proxy's error page for a backend that is down or swamped: no
        // answer from the backend, whoever it is.
        return Verdict::Unreachable(format!(
            "GET {url} answered {status} without a JSON body (a proxy in front of a backend that does not answer?)"
        ));
    }
    if json.is_none() {
        return Verdict::NotTest(format!(
            "GET {url} answered {status} without a JSON body, so app_env is unknown"
        ));
    }
    if status == 200 && status_field == "\"ok\"" && app_env == "\"test\"" {
        return Verdict::Test;
    }
    if app_env == "\"test\"" {
        return Verdict::Degraded(format!(
            "GET {url} answered {status} with status={status_field}, app_env=\"test\""
        ));
    }
    Verdict::NotTest(format!(
        "GET {url} answered {status} with status={status_field}, app_env={app_env}; \
         loadgen only loads a backend with status \"ok\" and app_env \"test\""
    ))
}

/// The refusal message for a verdict that is not `Test`, with the way out.
pub fn refusal(why: &str) -> String {
    format!(
        "guard refused the target: {why}. Pass --allow-non-test-backend \
         (or LOADGEN_ALLOW_NON_TEST_BACKEND=1) if you really mean to load it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_backend_that_is_ok_is_accepted() {
        let body = br#"{"status":"ok","app_env":"test","environment":"test"}"#;
        assert_eq!(judge("u", 200, body), Verdict::Test);
    }

    #[test]
    fn anything_else_is_refused_naming_what_was_seen() {
        let cases: [(u16, &[u8], &str); 5] = [
            (
                200,
                br#"{"status":"ok","app_env":"production"}"#,
                "app_env=\"production\"",
            ),
            (200, br#"{"status":"ok"}"#, "app_env=missing"),
            (
                503,
                br#"{"status":"degraded","app_env":"production"}"#,
                "answered 503",
            ),
            (200, b"<html>ok</html>", "without a JSON body"),
            (302, b"", "redirect"),
        ];
        for (status, body, expected) in cases {
            match judge("u", status, body) {
                Verdict::NotTest(why) => assert!(why.contains(expected), "{why}"),
                other => panic!("{status} {expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_proxy_error_page_is_no_answer_not_a_refusal() {
        match judge("u", 502, b"<html>Bad Gateway</html>") {
            Verdict::Unreachable(why) => assert!(why.contains("answered 502"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_deployment_is_told_apart_field_by_field() {
        let first = Identity::of(
            br#"{"status":"ok","app_env":"test","environment":"test","version":"0.1.0","llm_provider":"mock","uptime_seconds":5}"#,
        );
        assert_eq!(first.0.len(), 4, "{first:?}");
        // The same deployment, degraded and older: same identity.
        let same = Identity::of(
            br#"{"status":"degraded","app_env":"test","environment":"test","version":"0.1.0","llm_provider":"mock","uptime_seconds":900}"#,
        );
        assert_eq!(first.changed_in(&same), None);
        // A field the first answer lacked does not matter.
        let more = Identity::of(
            br#"{"app_env":"test","environment":"test","version":"0.1.0","llm_provider":"mock","retriever":"none"}"#,
        );
        assert_eq!(first.changed_in(&more), None);
        let other = Identity::of(
            br#"{"app_env":"test","environment":"test","version":"0.2.0","llm_provider":"openai"}"#,
        );
        assert_eq!(
            first.changed_in(&other).as_deref(),
            Some(r#"version "0.1.0" -> "0.2.0", llm_provider "mock" -> "openai""#)
        );
        // A shorter answer (a degraded one) is not another deployment.
        let bare = Identity::of(br#"{"status":"degraded","app_env":"test"}"#);
        assert_eq!(first.changed_in(&bare), None);
    }

    #[test]
    fn a_test_backend_that_is_not_healthy_is_degraded_not_refused() {
        for (status, body, expected) in [
            (
                503,
                br#"{"status":"degraded","app_env":"test"}"#.as_slice(),
                "answered 503 with status=\"degraded\"",
            ),
            (
                200,
                br#"{"status":"degraded","app_env":"test"}"#.as_slice(),
                "answered 200 with status=\"degraded\"",
            ),
            (500, br#"{"app_env":"test"}"#.as_slice(), "status=missing"),
        ] {
            match judge("u", status, body) {
                Verdict::Degraded(what) => assert!(what.contains(expected), "{what}"),
                other => panic!("{status}: {other:?}"),
            }
        }
    }
}
