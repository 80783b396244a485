//! The field rules the validators apply, as JSON Schema. Lengths are in
//! characters (Unicode scalar values, as `chars().count()` and JSON
//! Schema's `maxLength` both count); "trimmed" is Rust's `str::trim`, which
//! removes the `White_Space` characters listed in [`WS`].

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

use crate::auth::validate::{PASSWORD_MAX, PASSWORD_MIN};
use crate::chat::turn::MAX_CONTENT_CHARS;

/// The characters `str::trim` removes (Unicode `White_Space`), as a
/// regex class body.
pub const WS: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::http::openapi::rules;

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
}
