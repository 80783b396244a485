//! Middleware: request ids, metrics, the request timeout, and the JSON error
//! fallback for responses that did not come from a handler (unknown route,
//! wrong method).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::json_error;
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// An incoming id is echoed when it is short printable ASCII; otherwise one
/// is made, so every log line and response can be correlated.
fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

#[derive(Clone)]
pub struct RequestId(pub HeaderValue);

/// Outermost layer: request id, tracing span, metrics, in-flight gauge.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .filter(|v| valid_request_id(v))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        });
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %String::from_utf8_lossy(id.as_bytes()),
        %method,
        %route
    );
    let started = Instant::now();
    state.metrics.http_in_flight.inc();
    let mut res = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    state.metrics.http_in_flight.dec();
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state.metrics.observe_http(&method, &route, status, elapsed);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(
                status,
                elapsed_ms = elapsed.as_millis() as u64,
                "request failed"
            );
        } else {
            tracing::debug!(status, elapsed_ms = elapsed.as_millis() as u64, "request");
        }
    });
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// Bounds every request's time; a handler still running is dropped (its
/// transaction, if any, rolls back) and the client gets a JSON 504.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit: Duration = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => json_error(
            StatusCode::GATEWAY_TIMEOUT,
            "request_timeout",
            format!(
                "The request took longer than {} s and was abandoned",
                limit.as_secs_f64()
            ),
        ),
    }
}

/// Rewrites non-JSON error responses (axum's plain-text 404/405/413/...) into
/// the API's JSON error shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "Not Found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method Not Allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request timed out"),
        s if s.is_server_error() => ("internal_error", "Internal server error"),
        _ => ("bad_request", "Bad request"),
    };
    let (mut parts, _) = res.into_parts();
    let mut fresh = json_error(status, code, detail);
    // Keep headers such as Allow (405) and Retry-After.
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in parts.headers.iter() {
        fresh.headers_mut().insert(k.clone(), v.clone());
    }
    fresh
}

/// A handler panic becomes a JSON 500 rather than a dropped connection.
pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal server error",
    )
    .into_response()
}
