//! Who is calling: the `CurrentUser` extractor.
//!
//! The bearer header is tried first, then the `access_token` cookie. A
//! cookie-authenticated write (POST, PUT, PATCH, DELETE) must also carry
//! `X-CSRF-Token` matching the token issued at login; bearer requests need
//! none, since a browser never attaches a bearer header on its own.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use cookie::Cookie;

use super::tokens::TokenError;
use crate::error::ApiError;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "access_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    Bearer,
    Cookie,
}

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub via: AuthVia,
}

pub(super) fn bearer(parts: &Parts) -> Option<Result<String, ApiError>> {
    let value = parts.headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    Some(parsed.ok_or_else(|| {
        ApiError::unauthorized(
            "invalid_authorization_header",
            "Authorization header must be `Bearer <token>`",
        )
    }))
}

/// The `access_token` cookie (the first one, as a browser sends the most
/// specific first); tolerates a quoted value and the `"Bearer <jwt>"` form
/// some FastAPI apps store.
pub fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| {
            let v = c.value_trimmed();
            v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned()
        })
        .filter(|v| !v.is_empty())
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, via) = match bearer(parts) {
            Some(t) => (t?, AuthVia::Bearer),
            None => match cookie_token(parts) {
                Some(t) => (t, AuthVia::Cookie),
                None => {
                    return Err(ApiError::unauthorized(
                        "not_authenticated",
                        "Not authenticated",
                    ))
                }
            },
        };
        let claims = state.tokens.verify(&token).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized("token_expired", "Token has expired"),
            TokenError::Invalid => {
                ApiError::unauthorized("invalid_token", "Could not validate credentials")
            }
        })?;
        let id = claims.user_id().ok_or_else(|| {
            ApiError::unauthorized("invalid_token", "Could not validate credentials")
        })?;
        if via == AuthVia::Cookie && state.config.csrf_enforce && is_write(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if presented.is_empty() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_missing",
                    "Missing X-CSRF-Token header (required for cookie-authenticated writes)",
                ));
            }
            if !state.tokens.csrf_matches(&claims.jti, presented) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_invalid",
                    "X-CSRF-Token does not match the session",
                ));
            }
        }
        Ok(CurrentUser {
            id,
            username: claims.username,
            via,
        })
    }
}

/// The client's address for rate limiting (see `rate_limit`).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(state.limits.client_ip(parts)))
    }
}
