//! Property tests of what the auth layer reads from a request (see
//! `llm/fuzz.rs` for why proptest and how to run the long form): the
//! Authorization header, the `access_token` cookie, the CSRF header and
//! the token itself, for any bytes a client can send.

use std::time::Duration;

use axum::http::{header, HeaderValue, Request};
use proptest::prelude::*;

use super::current_user::{bearer, cookie_token, COOKIE_NAME};
use super::tokens::TokenService;
use crate::llm::fuzz::config;

/// The request parts of a GET carrying `headers` (values a client could
/// send: anything `HeaderValue` accepts).
fn parts(headers: &[(header::HeaderName, Vec<u8>)]) -> axum::http::request::Parts {
    let mut req = Request::builder().uri("/api/auth/me");
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            req = req.header(name, v);
        }
    }
    req.body(())
        .map(|r| r.into_parts().0)
        .unwrap_or_else(|_| Request::new(()).into_parts().0)
}

/// A token-like string: JWT-shaped base64url segments, or anything.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,43}",
        "\\PC{0,40}",
    ]
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        token_text().prop_map(|t| format!("Bearer {t}").into_bytes()),
        token_text().prop_map(|t| format!("{COOKIE_NAME}={t}; other=1").into_bytes()),
        token_text().prop_map(|t| format!("a=b; {COOKIE_NAME}=\"Bearer {t}\"").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..48),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_authorization_or_cookie_header_is_read_without_panicking(
        auth in header_bytes(),
        cookie in header_bytes(),
        csrf in header_bytes(),
    ) {
        let p = parts(&[
            (header::AUTHORIZATION, auth),
            (header::COOKIE, cookie),
            (header::HeaderName::from_static("x-csrf-token"), csrf),
        ]);
        if let Some(Ok(t)) = bearer(&p) {
            prop_assert!(!t.is_empty());
        }
        if let Some(t) = cookie_token(&p) {
            prop_assert!(!t.is_empty());
        }
    }

    #[test]
    fn a_bearer_header_or_cookie_gives_back_its_token(t in "[A-Za-z0-9_.-]{1,60}") {
        let p = parts(&[(header::AUTHORIZATION, format!("Bearer {t}").into_bytes())]);
        prop_assert_eq!(bearer(&p).and_then(Result::ok), Some(t.clone()));
        let p = parts(&[(header::COOKIE, format!("x=1; {COOKIE_NAME}={t}").into_bytes())]);
        prop_assert_eq!(cookie_token(&p), Some(t));
    }

    #[test]
    fn no_forged_token_or_csrf_is_accepted(
        text in token_text(),
        presented in prop_oneof!["[0-9a-fA-F]{0,70}", "\\PC{0,70}"],
        flip in any::<(usize, u8)>(),
    ) {
        let s = TokenService::new("a fuzzing secret of enough length", Duration::from_secs(60));
        prop_assert!(s.verify(&text).is_err());
        let issued = s.issue(7, "alice");
        prop_assert!(issued.is_ok());
        let Ok(issued) = issued else { return Ok(()) };
        let claims = s.verify(&issued.token);
        prop_assert!(claims.is_ok());
        let Ok(claims) = claims else { return Ok(()) };
        // A token with one byte changed is refused, or (a change that
        // decodes to the same bytes) carries the very same claims.
        let mut forged = issued.token.clone().into_bytes();
        let at = flip.0 % forged.len();
        forged[at] = flip.1;
        if let Ok(forged) = String::from_utf8(forged) {
            if let Ok(c) = s.verify(&forged) {
                prop_assert_eq!(c, claims.clone());
            }
        }
        // Only the issued CSRF token (in any letter case) matches.
        let matches = s.csrf_matches(&claims.jti, &presented);
        prop_assert_eq!(matches, presented.eq_ignore_ascii_case(&issued.csrf_token));
        prop_assert!(s.csrf_matches(&claims.jti, &issued.csrf_token));
    }
}
