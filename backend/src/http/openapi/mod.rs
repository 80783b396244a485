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

use std::sync::OnceLock;

use axum::extract::State;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// `{"detail": "human text", "code": "snake_case"}`: every error but 422.
#[derive(Serialize, ToSchema)]
pub struct Error {
    pub detail: String,
    /// Machine-readable, e.g. `not_authenticated`, `session_not_found`,
    /// `hashing_overloaded`, `database_unavailable`, `provider_timeout`.
    pub code: String,
}

/// One entry of a 422 `detail` list, as FastAPI/pydantic shape it.
#[derive(Serialize, ToSchema)]
pub struct FieldErrorDoc {
    /// Where: `["body", "username"]`, `["query", "limit"]`,
    /// `["path", "session_id"]`, `["body", <column>]` for malformed JSON.
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    /// `missing`, `type_error`, `string_length`, `string_too_long`,
    /// `string_pattern_mismatch`, `string_nul`, `json_invalid`, `parsing`,
    /// `value_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

/// A 422: `{"detail": [{"loc","msg","type"}], "code": "validation_error"}`.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    pub detail: Vec<FieldErrorDoc>,
    #[schema(pattern = "^validation_error$")]
    pub code: String,
}

/// The field rules the validators apply, as JSON Schema. Lengths are in
/// characters (Unicode scalar values, as `chars().count()` and JSON
/// Schema's `maxLength` both count); "trimmed" is Rust's `str::trim`, which
/// removes the `White_Space` characters listed in [`WS`].
pub mod rules {
    use serde_json::{json, Value};
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;

    use crate::auth::validate::{PASSWORD_MAX, PASSWORD_MIN};
    use crate::chat::turn::MAX_CONTENT_CHARS;

    /// The characters `str::trim` removes (Unicode `White_Space`), as a
    /// regex class body.
    pub const WS: &str =
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// Longest session title after the trim, in characters.
    pub const MAX_TITLE_CHARS: usize = 200;
    /// Longest feedback comment, in characters.
    pub const MAX_COMMENT_CHARS: usize = 2000;

    /// Any text but one with a NUL character, which every extractor
    /// refuses (`string_nul`): Postgres cannot store it.
    pub const NO_NUL: &str = r"^[^\x00]*$";

    fn schema(v: Value) -> RefOr<Schema> {
        // The literals below are valid schemas; a failure is a bug caught by
        // the document's tests, and an empty schema keeps the server up.
        serde_json::from_value(v).unwrap_or_else(|_| RefOr::T(Schema::default()))
    }

    pub fn text() -> RefOr<Schema> {
        schema(json!({"type": "string", "pattern": NO_NUL}))
    }

    pub fn text_or_null() -> RefOr<Schema> {
        schema(json!({"type": ["string", "null"], "pattern": NO_NUL}))
    }

    /// Text with at least one non-whitespace character (blank is refused).
    pub fn non_blank() -> String {
        format!(r"^[^\x00]*[^{WS}\x00][^\x00]*$")
    }

    pub fn username() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "description": "3 to 50 letters, digits, '_', '-' or '.' (surrounding whitespace is trimmed)",
            "pattern": format!(r"^[{WS}]*[A-Za-z0-9_.-]{{3,50}}[{WS}]*$"),
        }))
    }

    /// Trimmed; blank means none. Otherwise `local@domain` with no
    /// whitespace, the domain holding a dot neither first nor last (and at
    /// most 254 bytes, a limit in bytes no JSON Schema keyword expresses).
    pub fn email() -> RefOr<Schema> {
        let c = format!(r"[^@{WS}\x00]");
        let d = format!(r"[^@.{WS}\x00]");
        schema(json!({
            "type": ["string", "null"],
            "description": "An e-mail address, at most 254 bytes; blank or null means none",
            "pattern": format!(r"^[{WS}]*(?:{c}+@{d}{c}*\.{c}*{d})?[{WS}]*$"),
        }))
    }

    pub fn password() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": PASSWORD_MIN,
            "maxLength": PASSWORD_MAX,
            "pattern": NO_NUL,
        }))
    }

    /// A message: not blank, at most `MAX_CONTENT_CHARS` characters.
    pub fn content() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "maxLength": MAX_CONTENT_CHARS,
            "pattern": non_blank(),
        }))
    }

    /// A title: trimmed, blank or null means "New chat", at most
    /// `MAX_TITLE_CHARS` characters once trimmed.
    pub fn title() -> RefOr<Schema> {
        let inner = MAX_TITLE_CHARS - 2;
        schema(json!({
            "type": ["string", "null"],
            "description": "At most 200 characters once trimmed; blank or null means \"New chat\"",
            "pattern": format!(r"^[{WS}]*(?:[^{WS}\x00](?:[^\x00]{{0,{inner}}}[^{WS}\x00])?)?[{WS}]*$"),
        }))
    }

    pub fn comment() -> RefOr<Schema> {
        schema(json!({
            "type": ["string", "null"],
            "maxLength": MAX_COMMENT_CHARS,
            "pattern": NO_NUL,
        }))
    }

    /// -1 (thumbs down), or 1 to 5 (thumbs up is 1).
    pub fn rating() -> RefOr<Schema> {
        schema(json!({"type": "integer", "enum": [-1, 1, 2, 3, 4, 5]}))
    }

    pub fn id() -> RefOr<Schema> {
        schema(json!({"type": "integer", "format": "int64"}))
    }

    pub fn id_or_null() -> RefOr<Schema> {
        schema(json!({"type": ["integer", "null"], "format": "int64"}))
    }

    /// The JSON login: `username` (or, when it is absent or null, `email`)
    /// must hold a non-blank login; the first present one is used. An
    /// `anyOf` across fields, which utoipa's object model cannot hold: the
    /// document takes it as JSON ([`super::finish`]).
    pub fn login_json() -> Value {
        let nb = non_blank();
        json!({
            "type": "object",
            "required": ["password"],
            "properties": {
                "username": {"type": ["string", "null"], "pattern": super::rules::NO_NUL, "description": "username or e-mail address"},
                "email": {"type": ["string", "null"], "pattern": super::rules::NO_NUL, "description": "used when username is absent or null"},
                "password": {"type": "string", "pattern": super::rules::NO_NUL},
            },
            "anyOf": [
                {"required": ["username"], "properties": {"username": {"type": "string", "pattern": nb}}},
                {"required": ["email"], "properties": {"username": {"type": "null"}, "email": {"type": "string", "pattern": nb}}},
            ],
        })
    }

    /// One event of `/api/chat/stream`, as OpenAPI 3.1 describes an event
    /// stream (the schema is each event's): `data` is JSON, one of the
    /// three frames.
    pub fn stream_event() -> Value {
        let int = json!({"type": "integer", "format": "int64"});
        json!({
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": {"type": "string"},
                "id": {"type": "string"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"oneOf": [
                        {"type": "object", "required": ["type", "token"], "properties": {
                            "type": {"const": "token"}, "token": {"type": "string"}}},
                        {"type": "object", "required": ["type", "session_id", "message_id", "user_message_id", "sources", "usage"], "properties": {
                            "type": {"const": "done"}, "session_id": int, "message_id": int, "user_message_id": int,
                            "sources": {"type": "array", "items": {"type": "object"}},
                            "usage": {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"], "properties": {
                                "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}}}},
                        {"type": "object", "required": ["type", "message", "code"], "properties": {
                            "type": {"const": "error"}, "message": {"type": "string"},
                            "code": {"type": "string", "description": "why the stream ended: the provider error's kind (e.g. `timeout`, `too_large` past a size cap), `store_failed`, or `shutting_down` (the server's drain deadline passed); nothing of the turn was stored"}}},
                    ]},
                },
            },
        })
    }
}

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

/// The schemes the `CurrentUser` extractor accepts: a bearer JWT, or the
/// `access_token` cookie (with `X-CSRF-Token` on POST/PUT/PATCH/DELETE).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::current_user::COOKIE_NAME,
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The csrf_token issued at login; required with the cookie on POST, PUT, PATCH \
                 and DELETE",
            ))),
        );
    }
}

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
    finish(&mut v);
    v
}

/// A JSON value holding no NUL character in a string or a key: what the
/// body extractors accept wherever a request object allows more members.
fn json_without_nul() -> Value {
    json!({
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": rules::NO_NUL},
            {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
            {"type": "object", "propertyNames": {"pattern": rules::NO_NUL},
             "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}},
        ]
    })
}

fn error_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
    })
}

/// What the generated document cannot say through the derive macros:
/// - the responses every operation shares (see the module doc);
/// - request objects accept members they do not name, as serde does, but
///   no NUL anywhere (a form's extra fields are text);
/// - an `int64` is an `i64`: the bounds serde enforces.
fn finish(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["JsonValue"] = json_without_nul();
    schemas["LoginBody"] = rules::login_json();
    doc["paths"]["/api/chat/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"] = rules::stream_event();
    let mut request_objects: Vec<(String, bool)> = Vec::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let has_body = op.get("requestBody").is_some();
                if let Some(content) = op["requestBody"]["content"].as_object() {
                    for (mime, media) in content {
                        if let Some(r) = media["schema"]["$ref"].as_str() {
                            let name = r.rsplit('/').next().unwrap_or_default().to_owned();
                            request_objects.push((name, mime.as_str() != "application/json"));
                        }
                    }
                }
                let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
                let secured = op.get("security").is_some();
                let responses = op["responses"].as_object_mut();
                let Some(responses) = responses else { continue };
                let mut add = |status: &str, v: Value| {
                    responses.entry(status.to_owned()).or_insert(v);
                };
                if has_body || has_params {
                    add("422", error_response(
                        "Invalid input: a missing or mistyped field, a rule broken, malformed JSON \
                         (`json_invalid`), a body that is not an object (`model_attributes_type`), \
                         a NUL character anywhere (`string_nul`)",
                        "ValidationError",
                    ));
                }
                if has_body {
                    add(
                        "413",
                        error_response(
                            "The body is larger than MAX_BODY_BYTES (`payload_too_large`)",
                            "Error",
                        ),
                    );
                    add(
                        "415",
                        error_response(
                            "Wrong or missing Content-Type (`unsupported_media_type`)",
                            "Error",
                        ),
                    );
                }
                if secured {
                    add("401", error_response(
                        "No credentials, or a bad, expired or revoked token (`not_authenticated`, \
                         `invalid_token`, `token_expired`, `invalid_authorization_header`)",
                        "Error",
                    ));
                }
                add(
                    "500",
                    error_response(
                        "A bug (`internal_error`); nothing more is disclosed",
                        "Error",
                    ),
                );
                add("504", error_response(
                    "The request outlived REQUEST_TIMEOUT_SECONDS and was abandoned (`request_timeout`)",
                    "Error",
                ));
            }
        }
    }
    request_objects.sort();
    request_objects.dedup();
    for (name, form) in request_objects {
        let s = &mut doc["components"]["schemas"][&name];
        if s["type"] != "object" {
            continue;
        }
        s["propertyNames"] = json!({"pattern": rules::NO_NUL});
        s["additionalProperties"] = if form {
            json!({"type": "string", "pattern": rules::NO_NUL})
        } else {
            json!({"$ref": "#/components/schemas/JsonValue"})
        };
    }
    bound_int64(doc);
}

fn bound_int64(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("int64") {
                map.entry("minimum").or_insert(json!(i64::MIN));
                map.entry("maximum").or_insert(json!(i64::MAX));
            }
            map.values_mut().for_each(bound_int64);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_int64),
        _ => {}
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Every route the server answers, as (path, method). A route added
    /// through `routes!` appears in the document by construction; this
    /// list makes the change visible in review, and the integration test
    /// `openapi_documents_every_route` probes each one on a live server.
    const ROUTES: &[(&str, &str)] = &[
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

    /// The field rules are the validators' (spot checks of the patterns
    /// against the same inputs the validators see).
    #[test]
    fn rules_survive_utoipa_model() {
        // A rule goes through utoipa's schema model, which drops what it
        // cannot hold: each must come out with every keyword it was given.
        type Rule = fn() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;
        let all: [(&str, Rule, &[&str], bool); 11] = [
            ("text", rules::text, &["pattern"], false),
            ("text_or_null", rules::text_or_null, &["pattern"], true),
            ("username", rules::username, &["pattern"], false),
            ("email", rules::email, &["pattern"], true),
            (
                "password",
                rules::password,
                &["pattern", "minLength", "maxLength"],
                false,
            ),
            ("content", rules::content, &["pattern", "maxLength"], false),
            ("title", rules::title, &["pattern"], true),
            ("comment", rules::comment, &["pattern", "maxLength"], true),
            ("rating", rules::rating, &["enum"], false),
            ("id", rules::id, &["format"], false),
            ("id_or_null", rules::id_or_null, &["format"], true),
        ];
        for (name, f, keys, nullable) in all {
            let v = serde_json::to_value(f()).unwrap_or_default();
            for key in keys {
                assert!(v.get(key).is_some(), "{name} lost {key}: {v}");
            }
            assert_eq!(
                v["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("null"))),
                nullable,
                "{name}: {v}"
            );
        }
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
