//! The error bodies every operation answers with, as schemas: the wire
//! format `crate::error` writes (`{"detail", "code"}`, and the 422
//! list of `{"loc", "msg", "type"}`).

use serde::Serialize;
use utoipa::ToSchema;

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
