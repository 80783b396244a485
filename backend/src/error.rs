//! The one error type that owns the wire format.
//!
//! Errors are FastAPI-shaped, as the original's clients expect, plus a
//! machine-readable code: `{"detail": "human text", "code": "snake_case"}`;
//! validation errors (422) carry `detail` as a list of `{"loc","msg","type"}`.
//! Causes (database errors, provider errors) are logged here and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One entry of a 422 `detail` list, as FastAPI/pydantic shape it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn body(field: &str, msg: impl Into<String>, kind: &str) -> Self {
        Self {
            loc: vec![json!("body"), json!(field)],
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    Client {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The database is unreachable or the pool is exhausted: answer fast.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("upstream provider failed: {detail}")]
    Provider {
        status: StatusCode,
        code: &'static str,
        detail: String,
        retry_after_secs: Option<u64>,
    },
    /// A bounded queue is full (password hashing): shed at once.
    #[error("{detail}")]
    Overloaded {
        code: &'static str,
        detail: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            detail: detail.into(),
        }
    }
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }
    pub fn field(field: &str, msg: impl Into<String>, kind: &str) -> Self {
        ApiError::Validation(vec![FieldError::body(field, msg, kind)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Client { status, .. } | ApiError::Provider { status, .. } => *status,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Database errors: pool exhaustion and lost connections are "unavailable"
/// (503, retry soon), and so is the server ending or refusing the session
/// (see [`server_unavailable`]); anything else is a bug or a broken schema
/// (500).
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| server_unavailable(&c)),
            _ => false,
        };
        if unavailable {
            ApiError::Unavailable(e)
        } else {
            ApiError::Internal(anyhow::Error::new(e).context("database query"))
        }
    }
}

/// SQLSTATEs that say the server went away or will not take work now, not
/// that the statement was wrong: class 08 (connection exception), 57P01
/// `admin_shutdown` (`pg_terminate_backend`, a fast shutdown), 57P02
/// `crash_shutdown`, 57P03 `cannot_connect_now` (starting up or shutting
/// down) and 53300 `too_many_connections`. Found by the fault suite
/// (`scripts/faults`): these were 500s during an outage.
fn server_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

pub fn json_error(status: StatusCode, code: &str, detail: impl Serialize) -> Response {
    (
        status,
        axum::Json(json!({ "detail": detail, "code": code })),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::Validation(errors) => json_error(status, "validation_error", errors),
            ApiError::Client { code, detail, .. } => json_error(status, code, detail),
            ApiError::RateLimited { retry_after_secs } => {
                let mut r = json_error(
                    status,
                    "rate_limited",
                    "Too many requests, retry after the delay in Retry-After",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                let mut r = json_error(
                    status,
                    "database_unavailable",
                    "The database is unavailable or saturated, retry shortly",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            ApiError::Provider {
                code,
                detail,
                retry_after_secs,
                ..
            } => {
                tracing::warn!(%code, %detail, "provider call failed");
                let mut r = json_error(status, code, detail);
                if let Some(secs) = retry_after_secs {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                r
            }
            ApiError::Overloaded {
                code,
                detail,
                retry_after_secs,
            } => {
                let mut r = json_error(status, code, detail);
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                json_error(status, "internal_error", "Internal server error")
            }
        }
    }
}

/// Is this database error the violation of the named unique constraint?
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint().is_some_and(|c| c == constraint)
        }
        _ => false,
    }
}
