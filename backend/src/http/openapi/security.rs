//! The security schemes the document declares: how a secured operation
//! authenticates (bearer JWT, or the session cookie with its CSRF header).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

/// The schemes the `CurrentUser` extractor accepts: a bearer JWT, or the
/// `access_token` cookie (with `X-CSRF-Token` on POST/PUT/PATCH/DELETE).
pub(super) struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::current_user::COOKIE_NAME,
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The csrf_token issued at login; required with the cookie on POST, PUT, PATCH \
                 and DELETE",
            ))),
        );
    }
}
