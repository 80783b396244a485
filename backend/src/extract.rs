//! Request extractors whose rejections speak the API's error shape.
//!
//! axum's own `Json`, `Form`, `Path` and `Query` reject with plain text; these
//! wrappers turn every rejection into the FastAPI-shaped JSON error with the
//! right status: 415 for a wrong content type, 413 for an oversized body, 422
//! with `{"loc","msg","type"}` entries for malformed or invalid input
//! (trailing characters after the JSON value included, and a body that is
//! not a JSON object).
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
        refuse_non_object(&bytes)?;
        refuse_nul_in_json(&bytes)?;
        Ok(Json(value))
    }
}

/// Every body this API takes is a JSON object. serde's derived structs also
/// accept an array of the fields in order (`["hi"]` as `{"content":"hi"}`),
/// which no client means and the OpenAPI document does not allow: a
/// well-formed array or scalar is refused as pydantic refuses it.
fn refuse_non_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::Validation(vec![FieldError {
            loc: vec![json!("body")],
            msg: "Input should be a valid dictionary or object to extract fields from".into(),
            kind: "model_attributes_type".into(),
        }])),
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

/// Integers as JSON Schema (and pydantic, the original's validator) read
/// them: `3` and `3.0` are the same integer, `3.5` is not one. serde's own
/// `i64` refuses `3.0`, which a client serialising numbers as floats (most
/// JavaScript and Python JSON code can) would be told is a type error.
/// Use with `#[serde(deserialize_with = "crate::extract::lax_int::...")]`.
pub mod lax_int {
    use std::fmt;

    use serde::de::{self, Deserializer, Unexpected, Visitor};

    struct Int<const MIN: i64, const MAX: i64>(&'static str);

    impl<'de, const MIN: i64, const MAX: i64> Visitor<'de> for Int<MIN, MAX> {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            if (MIN..=MAX).contains(&v) {
                Ok(v)
            } else {
                Err(E::invalid_value(Unexpected::Signed(v), &self))
            }
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            match i64::try_from(v) {
                Ok(v) => self.visit_i64(v),
                Err(_) => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
            }
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            // Whole and within -2^63 <= v < 2^63, so the cast is exact.
            const I64_RANGE: std::ops::Range<f64> =
                -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
            if v.fract() == 0.0 && I64_RANGE.contains(&v) {
                #[allow(clippy::cast_possible_truncation)]
                self.visit_i64(v as i64)
            } else if v.fract() == 0.0 {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(Int::<{ i64::MIN }, { i64::MAX }>("i64"))
    }

    pub fn i16<'de, D: Deserializer<'de>>(d: D) -> Result<i16, D::Error> {
        let v = d.deserialize_any(Int::<{ i16::MIN as i64 }, { i16::MAX as i64 }>("i16"))?;
        // In range by the visitor's bounds.
        Ok(i16::try_from(v).unwrap_or_default())
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("i64 or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                i64(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            #[serde(deserialize_with = "super::i64")]
            a: i64,
            #[serde(default, deserialize_with = "super::opt_i64")]
            b: Option<i64>,
            #[serde(default, deserialize_with = "super::i16")]
            c: i16,
        }

        fn parse(s: &str) -> Result<Body, String> {
            serde_json::from_str(s).map_err(|e| e.to_string())
        }

        #[test]
        fn whole_floats_are_integers_and_fractions_are_not() {
            let b = parse(r#"{"a": 7.0, "b": -30.0, "c": 5.0}"#).expect("whole floats");
            assert_eq!((b.a, b.b, b.c), (7, Some(-30), 5));
            let b = parse(r#"{"a": 7, "b": null}"#).expect("plain");
            assert_eq!((b.a, b.b, b.c), (7, None, 0));
            let e = parse(r#"{"a": 1.5}"#).err().unwrap_or_default();
            assert!(
                e.starts_with("invalid type: floating point `1.5`, expected i64"),
                "{e}"
            );
            for bad in [
                r#"{"a": 1e30}"#,
                r#"{"a": 9223372036854775808}"#,
                r#"{"a": 1, "c": 40000}"#,
                r#"{"a": "1"}"#,
            ] {
                assert!(parse(bad).is_err(), "{bad}");
            }
            assert_eq!(
                parse(r#"{"a": -9223372036854775808}"#).map(|b| b.a),
                Ok(i64::MIN)
            );
        }
    }
}

/// An integer read from a path segment or a query value: `544` or, as a
/// client that formats a whole float writes it, `544.0` (JSON Schema's
/// `integer`, which the document declares, takes both; pydantic too).
/// Anything else (`5.5`, `1e3`, `x`) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntParam(pub i64);

impl<'de> serde::Deserialize<'de> for IntParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IntParam;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("i64")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntParam, E> {
                Ok(IntParam(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntParam, E> {
                i64::try_from(v)
                    .map(IntParam)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntParam, E> {
                let whole = match v.split_once('.') {
                    Some((int, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => {
                        int
                    }
                    _ => v,
                };
                whole
                    .parse::<i64>()
                    .map(IntParam)
                    .map_err(|_| E::custom(format!("Input should be a valid i64, got {v:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod int_param_tests {
    use super::IntParam;

    #[test]
    fn whole_numbers_with_or_without_zero_decimals() {
        let parse = |s: &str| serde_json::from_value::<IntParam>(serde_json::json!(s)).ok();
        assert_eq!(parse("544"), Some(IntParam(544)));
        assert_eq!(parse("544.0"), Some(IntParam(544)));
        assert_eq!(parse("-3.00"), Some(IntParam(-3)));
        for bad in [
            "5.5",
            "1e3",
            "x",
            "",
            ".0",
            "5.",
            "9223372036854775808",
            "1.0.0",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
