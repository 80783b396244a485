//! The OpenAPI 3.1 document, served at `/api/openapi.json` in every
//! environment, generated from the code rather than written by hand.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which reads
//! the handler's `#[utoipa::path]` (method, path, parameters, request body,
//! responses) and adds the route and its operation together: a route cannot
//! exist without its operation, nor an operation without its route. The
//! request bodies are the extractors' own types (`ToSchema`); where a
//! handler validates beyond serde (lengths counted in characters after a
//! trim, a pattern, a NUL refused anywhere), the field's schema comes from
//! [`rules`], written next to the same constants the validators use, so
//! that "valid per the document" and "accepted by the server" are the same
//! set (schemathesis checks both directions in CI:
//! `tests/schemathesis/run.sh`).
//!
//! Responses every operation shares because of middleware or extractors
//! (500, the request timeout's 504, 413/415 for a body, 422 for a body or
//! parameters, 401 for a secured operation) are added by [`finish`] from
//! the operation's own shape, not listed by hand on each handler.
//!
//! This module assembles the document and serves it; its parts:
//! [`rules`] (field schemas shared with the validators), `error_schemas`
//! (the error bodies), `security` (the authentication schemes) and
//! `finish` (the pass that adds what the derive macros cannot say).

mod error_schemas;
mod finish;
pub mod rules;
mod security;

use std::sync::OnceLock;

use axum::extract::State;
use serde_json::{json, Value};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error_schemas::{Error, FieldErrorDoc, ValidationError};
use security::SecuritySchemes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatbench reference chatbot API",
        description = "Errors are `{\"detail\", \"code\"}`; 422 carries `detail` as a list of \
                       `{\"loc\",\"msg\",\"type\"}`. Every response carries `X-Request-ID`."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Error, ValidationError, FieldErrorDoc)),
    tags(
        (name = "ops", description = "Health, metrics, statistics, this document"),
        (name = "auth", description = "Accounts, log in and out"),
        (name = "chat", description = "Sessions, chat turns, feedback, sources"),
    )
)]
struct ApiDoc;

/// Every route the API serves, each with its operation.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::ops::router())
        .merge(crate::auth::routes::router())
        .merge(crate::chat::routes::router())
        .routes(routes!(openapi))
}

/// The document as served, for `version` (the `info.version`).
pub fn document(version: &str) -> Value {
    let (_, mut doc) = api().split_for_parts();
    doc.info.version = version.to_owned();
    let mut v = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    finish::finish(&mut v);
    v
}

/// The document, computed once per process.
static DOCUMENT: OnceLock<Value> = OnceLock::new();

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(
        DOCUMENT
            .get_or_init(|| document(&state.config.version))
            .clone(),
    )
}

/// Every route the server answers, as (path, method): the one list both
/// tests read. A route added through `routes!` appears in the document by
/// construction; this list makes the change visible in review, the unit
/// test checks the document lists exactly these, and the integration test
/// `openapi_documents_every_route` probes each one on a live server.
pub const ROUTES: &[(&str, &str)] = &[
    ("/api/health", "get"),
    ("/health", "get"),
    ("/api/health/live", "get"),
    ("/livez", "get"),
    ("/api/metrics", "get"),
    ("/metrics", "get"),
    ("/api/metrics/db-pool", "get"),
    ("/api/stats", "get"),
    ("/stats", "get"),
    ("/api/openapi.json", "get"),
    ("/api/auth/register", "post"),
    ("/api/auth/login-json", "post"),
    ("/api/auth/login", "post"),
    ("/api/auth/token", "post"),
    ("/api/auth/logout", "post"),
    ("/api/auth/me", "get"),
    ("/api/chat/sessions", "post"),
    ("/api/chat/sessions", "get"),
    ("/api/chat/sessions/{session_id}", "get"),
    ("/api/chat/sessions/{session_id}", "delete"),
    ("/api/chat/sessions/{session_id}/messages", "post"),
    ("/api/chat/chat", "post"),
    ("/api/chat/stream", "post"),
    ("/api/chat/feedback", "post"),
    ("/api/chat/messages/{message_id}/sources", "get"),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                ops.insert((path.clone(), method.clone()));
            }
        }
        ops
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_exactly_the_routes() {
        let doc = document("9.9.9");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], "9.9.9");
        assert!(doc["info"]["title"].is_string());
        for (path, method) in ROUTES {
            let op = &doc["paths"][path][method];
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(
                op["responses"]["200"]["description"].is_string(),
                "{method} {path}"
            );
        }
        let want: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(operations(&doc), want);
        // Every $ref resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"").skip(1) {
            let name = r.split('"').next().unwrap_or_default();
            let name = name.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }

    #[test]
    fn login_and_register_document_503_hashing_overloaded_with_retry_after() {
        let doc = document("0");
        for path in [
            "/api/auth/register",
            "/api/auth/login-json",
            "/api/auth/login",
            "/api/auth/token",
        ] {
            let r = &doc["paths"][path]["post"]["responses"]["503"];
            assert!(
                r["description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("hashing_overloaded"),
                "{path}"
            );
            assert!(r["headers"]["Retry-After"].is_object(), "{path}");
            assert_eq!(
                r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{path}"
            );
            assert!(
                doc["paths"][path]["post"]["responses"]["429"]["headers"]["Retry-After"]
                    .is_object(),
                "{path}"
            );
        }
    }

    #[test]
    fn every_operation_documents_its_errors() {
        let doc = document("0");
        for (path, method) in ROUTES {
            let op = &doc["paths"][path][method];
            let responses = &op["responses"];
            for status in ["500", "504"] {
                assert!(responses[status].is_object(), "{method} {path} {status}");
            }
            if op.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(responses[status].is_object(), "{method} {path} {status}");
                }
            }
            if op.get("security").is_some() {
                assert!(responses["401"].is_object(), "{method} {path} 401");
            }
            if path.contains("/chat/") && *method != "get" && !path.ends_with("/sessions") {
                assert!(responses["403"].is_object(), "{method} {path} 403");
                assert!(responses["404"].is_object(), "{method} {path} 404");
            }
        }
        for path in [
            "/api/chat/chat",
            "/api/chat/stream",
            "/api/chat/sessions/{session_id}/messages",
        ] {
            let r = &doc["paths"][path]["post"]["responses"];
            assert!(r["504"]["description"]
                .as_str()
                .unwrap_or_default()
                .contains("provider_timeout"));
            assert!(r["503"]["headers"]["Retry-After"].is_object());
            assert!(r["502"].is_object());
        }
        assert!(
            doc["paths"]["/api/chat/stream"]["post"]["responses"]["200"]["content"]
                ["text/event-stream"]
                .is_object()
        );
        assert!(
            doc["paths"]["/api/metrics"]["get"]["responses"]["200"]["content"]["text/plain"]
                .is_object()
        );
        assert!(
            doc["paths"]["/api/auth/login"]["post"]["requestBody"]["content"]
                ["application/x-www-form-urlencoded"]
                .is_object()
        );
    }

    /// Routes outside `routes!` would be served but not documented: no
    /// module may add one with axum's own `route`, `route_service`, `nest`
    /// or `fallback`.
    #[test]
    fn no_route_bypasses_the_document() {
        fn scan(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    scan(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    // Production code only: a test module may name the calls.
                    let code_part = text.split("#[cfg(test)]").next().unwrap_or_default();
                    for (i, line) in code_part.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        for call in [
                            ".route(",
                            ".route_service(",
                            ".nest(",
                            ".nest_service(",
                            ".fallback(",
                        ] {
                            if code.contains(call) {
                                found.push(format!(
                                    "{}:{}: {}",
                                    path.display(),
                                    i + 1,
                                    line.trim()
                                ));
                            }
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        scan(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "routes outside utoipa_axum::routes!: {found:#?}"
        );
        assert!(!ROUTES.is_empty());
    }
    #[test]
    fn the_validators_limits_are_in_the_document() {
        let doc = document("0");
        let register = &doc["components"]["schemas"]["RegisterBody"];
        assert_eq!(register["properties"]["password"]["minLength"], 8);
        assert_eq!(register["properties"]["password"]["maxLength"], 128);
        assert_eq!(
            register["additionalProperties"]["$ref"],
            "#/components/schemas/JsonValue"
        );
        assert_eq!(
            doc["components"]["schemas"]["LoginForm"]["additionalProperties"]["type"],
            "string"
        );
        let turn = &doc["components"]["schemas"]["TurnBody"];
        assert_eq!(
            turn["properties"]["content"]["maxLength"],
            crate::chat::turn::MAX_CONTENT_CHARS
        );
        assert_eq!(turn["required"], json!(["content"]));
    }
}
