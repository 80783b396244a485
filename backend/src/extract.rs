//! Request extractors whose rejections speak the API's error shape.
//!
//! axum's own `Json`, `Form`, `Path` and `Query` reject with plain text; these
//! wrappers turn every rejection into the FastAPI-shaped JSON error with the
//! right status: 415 for a wrong content type, 413 for an oversized body, 422
//! with `{"loc","msg","type"}` entries for malformed or invalid input
//! (trailing characters after the JSON value included).
//!
//! Text Postgres cannot store is refused here, once for every handler: a NUL
//! character (valid JSON as `"\u0000"`, valid form/query input as `%00`)
//! anywhere in a body or query string is a 422 naming where it was, instead
//! of a 500 when the database refuses the byte. (Lone surrogates, the other
//! text a `text` column cannot hold, are already refused by serde_json as
//! malformed JSON, and form decoding replaces invalid UTF-8.)

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{ApiError, FieldError};

/// A JSON body. Missing fields and wrong types name the offending field.
pub struct Json<T>(pub T);

/// An `application/x-www-form-urlencoded` body (the OAuth2 password form).
pub struct Form<T>(pub T);

/// Path parameters; a non-integer id is a 422 naming the parameter.
pub struct Path<T>(pub T);

/// Query parameters, with the same 422 shape.
pub struct Query<T>(pub T);

fn content_type_is(headers: &HeaderMap, wanted: &str) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if wanted == "application/json" {
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    } else {
        mime == wanted
    }
}

fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body is too large",
        )
    } else {
        ApiError::bad_request("bad_body", "Could not read the request body")
    }
}

const NUL_MSG: &str = "String should not contain the NUL character (\\u0000)";

fn nul_error(loc: Vec<serde_json::Value>) -> ApiError {
    ApiError::Validation(vec![FieldError {
        loc,
        msg: NUL_MSG.into(),
        kind: "string_nul".into(),
    }])
}

/// Where the first NUL is in a JSON value (a key or a string), as a `loc`.
fn nul_in_value(v: &serde_json::Value, loc: &mut Vec<serde_json::Value>) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            loc.push(json!(i));
            let found = nul_in_value(item, loc);
            if !found {
                loc.pop();
            }
            found
        }),
        serde_json::Value::Object(map) => map.iter().any(|(k, item)| {
            loc.push(json!(k));
            let found = k.contains('\0') || nul_in_value(item, loc);
            if !found {
                loc.pop();
            }
            found
        }),
        _ => false,
    }
}

/// A JSON text can hold a NUL only as the escape `\u0000` (a raw control
/// byte is malformed JSON), so the body is walked only when that escape
/// appears; the walk finds where (and ignores an escaped `\\u0000`).
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == br"\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    let mut loc = vec![json!("body")];
    if nul_in_value(&value, &mut loc) {
        return Err(nul_error(loc));
    }
    Ok(())
}

/// Form and query pairs, percent-decoded: a NUL in a name or a value.
fn refuse_nul_in_pairs(bytes: &[u8], root: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(bytes).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        Some((k, _)) => Err(nul_error(vec![json!(root), json!(k)])),
        None => Ok(()),
    }
}

/// Turns a serde error at a path into a pydantic-like field error.
fn field_error(path: &serde_path_to_error::Path, err: &str, root: &str) -> FieldError {
    let mut loc = vec![json!(root)];
    let p = path.to_string();
    if p != "." {
        loc.extend(p.split('.').map(|s| json!(s)));
    }
    // serde reports a missing field on its parent, naming it in backticks.
    if let Some(name) = err
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        loc.push(json!(name));
        return FieldError {
            loc,
            msg: "Field required".into(),
            kind: "missing".into(),
        };
    }
    let kind = if err.starts_with("invalid type") {
        "type_error"
    } else if err.starts_with("unknown variant") || err.starts_with("invalid value") {
        "value_error"
    } else {
        "invalid"
    };
    // Drop serde_json's " at line 1 column 9" suffix: the loc says where.
    let msg = err.split(" at line ").next().unwrap_or(err).to_owned();
    FieldError {
        loc,
        msg,
        kind: kind.into(),
    }
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = match serde_path_to_error::deserialize(&mut de) {
            Ok(v) => v,
            Err(e) => {
                let inner = e.inner();
                if inner.is_syntax() || inner.is_eof() {
                    return Err(json_invalid(inner));
                }
                return Err(ApiError::Validation(vec![field_error(
                    e.path(),
                    &inner.to_string(),
                    "body",
                )]));
            }
        };
        // Only whitespace may follow the value: `{"a":1} xyz` is as
        // malformed as any other broken JSON, not a valid object.
        de.end().map_err(|e| json_invalid(&e))?;
        refuse_nul_in_json(&bytes)?;
        Ok(Json(value))
    }
}

/// Malformed JSON: a 422 `json_invalid` at the column where it broke.
fn json_invalid(e: &serde_json::Error) -> ApiError {
    ApiError::Validation(vec![FieldError {
        loc: vec![json!("body"), json!(e.column())],
        msg: format!("JSON decode error: {e}"),
        kind: "json_invalid".into(),
    }])
}

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/x-www-form-urlencoded`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
        let form = serde_path_to_error::deserialize(de)
            .map(Form)
            .map_err(|e| {
                ApiError::Validation(vec![field_error(e.path(), &e.inner().to_string(), "body")])
            })?;
        refuse_nul_in_pairs(&bytes, "body")?;
        Ok(form)
    }
}

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => {
                // A single-value rejection does not say which parameter it
                // was; the raw parameters do.
                let only_key = axum::extract::RawPathParams::from_request_parts(parts, state)
                    .await
                    .ok()
                    .and_then(|raw| {
                        let keys: Vec<String> = raw.iter().map(|(k, _)| k.to_owned()).collect();
                        (keys.len() == 1).then(|| keys[0].clone())
                    });
                Err(path_rejection(rejection, only_key))
            }
        }
    }
}

fn path_rejection(r: PathRejection, only_key: Option<String>) -> ApiError {
    use axum::extract::path::ErrorKind;
    match r {
        PathRejection::FailedToDeserializePathParams(e) => {
            let (key, msg) = match e.kind() {
                ErrorKind::ParseErrorAtKey {
                    key,
                    value,
                    expected_type,
                } => (
                    key.clone(),
                    format!("Input should be a valid {expected_type}, got {value:?}"),
                ),
                ErrorKind::ParseErrorAtIndex {
                    index,
                    value,
                    expected_type,
                } => (
                    index.to_string(),
                    format!("Input should be a valid {expected_type}, got {value:?}"),
                ),
                ErrorKind::ParseError {
                    value,
                    expected_type,
                } => (
                    only_key.unwrap_or_else(|| "path".to_owned()),
                    format!("Input should be a valid {expected_type}, got {value:?}"),
                ),
                other => (
                    only_key.unwrap_or_else(|| "path".to_owned()),
                    other.to_string(),
                ),
            };
            ApiError::Validation(vec![FieldError {
                loc: vec![json!("path"), json!(key)],
                msg,
                kind: "parsing".into(),
            }])
        }
        other => ApiError::Internal(anyhow::anyhow!("path extraction: {other}")),
    }
}

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let q = serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                ApiError::Validation(vec![field_error(e.path(), &e.inner().to_string(), "query")])
            })?;
        refuse_nul_in_pairs(query.as_bytes(), "query")?;
        Ok(q)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
