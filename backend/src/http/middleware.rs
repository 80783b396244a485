//! Middleware: the pieces of the layer stack (`crate::router`) that are ours.
//!
//! Request ids and the request span come from tower-http (`SetRequestId`,
//! `PropagateRequestId`, `TraceLayer`); this module gives them the id's
//! validity rule, the span's fields and the log line. What tower-http has no
//! equivalent for stays here: the Prometheus HTTP metrics, the request
//! timeout that answers the API's JSON 504 (tower-http's `TimeoutLayer`
//! answers an empty body), and the JSON error fallback for responses that
//! did not come from a handler (unknown route, wrong method).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use prometheus::IntGauge;
use tracing::Span;

use crate::error::json_error;
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// An incoming id is echoed when it is short printable ASCII; otherwise one
/// is made, so every log line and response can be correlated.
fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

/// Runs before tower-http's `SetRequestId`, which keeps any incoming id: an
/// invalid one is removed here so that a fresh UUID replaces it instead of
/// being echoed into logs and responses.
pub fn drop_invalid_request_id(mut req: Request) -> Request {
    let invalid = req
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|v| !valid_request_id(v));
    if invalid {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// The request span (for `TraceLayer`): the request id that
/// `SetRequestId` settled on, the method and the matched route.
pub fn request_span(req: &Request) -> Span {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = %route
    )
}

/// The one log line per request (for `TraceLayer`, inside the request span):
/// server errors at WARN, the rest at DEBUG.
pub fn log_response(res: &Response, latency: Duration, _span: &Span) {
    let status = res.status().as_u16();
    let elapsed_ms = latency.as_millis() as u64;
    if status >= 500 {
        tracing::warn!(status, elapsed_ms, "request failed");
    } else {
        tracing::debug!(status, elapsed_ms, "request");
    }
}

/// The method as a metric label: the standard methods by name, any other
/// (a client may send any token) as `OTHER`, so invented methods cannot
/// add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Counts a request in flight for as long as it lives: decremented on drop,
/// so a request whose future is dropped (the client hung up) is uncounted
/// too, not only one that returns a response.
struct InFlight(IntGauge);

impl InFlight {
    fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The HTTP metrics: `chatbot_http_requests_total`, the latency histogram
/// and the in-flight gauge, labelled by method, matched route and status.
/// tower-http has no Prometheus equivalent, so this stays ours.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let in_flight = InFlight::enter(&state.metrics.http_in_flight);
    let res = next.run(req).await;
    drop(in_flight);
    state
        .metrics
        .observe_http(method, &route, res.status().as_u16(), started.elapsed());
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
