//! The pass over the generated document that adds what the derive
//! macros cannot say: the responses every operation shares, the JSON
//! schemas utoipa's model cannot hold, request objects' extra members
//! and the `int64` bounds.

use serde_json::{json, Value};

use super::rules;

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
pub(super) fn finish(doc: &mut Value) {
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
