//! Access tokens (JWT HS256) and the CSRF tokens derived from them.
//!
//! The CSRF token is stateless: an HMAC of the access token's `jti` under the
//! server secret. A cookie-authenticated write must echo it in
//! `X-CSRF-Token`; a cross-site page can make the browser send the cookie but
//! cannot read the login response, so it cannot know the token.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user id, as a string (RFC 7519 says `sub` is a string).
    pub sub: String,
    pub username: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

pub struct IssuedToken {
    pub token: String,
    pub csrf_token: String,
    pub expires_in: u64,
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    csrf_key: Vec<u8>,
    ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

impl TokenService {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        // Pin the algorithm: a token claiming `none` or RS256 is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            // A key of its own, so a CSRF token is never a valid JWT signature.
            csrf_key: [b"csrf:".as_slice(), secret.as_bytes()].concat(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: i64, username: &str) -> anyhow::Result<IssuedToken> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user_id.to_string(),
            username: username.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = self.sign(&claims)?;
        Ok(IssuedToken {
            csrf_token: self.csrf_for(&claims.jti),
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing token: {e}"))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    fn mac(&self, jti: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(jti.as_bytes());
        mac
    }

    pub fn csrf_for(&self, jti: &str) -> String {
        hex::encode(self.mac(jti).finalize().into_bytes())
    }

    /// Constant-time check of a presented CSRF token.
    pub fn csrf_matches(&self, jti: &str, presented: &str) -> bool {
        match hex::decode(presented) {
            Ok(bytes) => self.mac(jti).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_their_csrf() {
        let s = TokenService::new("secret", Duration::from_secs(60));
        let t = s.issue(7, "alice").unwrap();
        let c = s.verify(&t.token).unwrap();
        assert_eq!(c.user_id(), Some(7));
        assert!(s.csrf_matches(&c.jti, &t.csrf_token));
        assert!(!s.csrf_matches(&c.jti, "00"));
        assert!(!s.csrf_matches("other", &t.csrf_token));
    }

    #[test]
    fn tokens_from_another_secret_or_expired_are_refused() {
        let s = TokenService::new("secret", Duration::from_secs(60));
        let other = TokenService::new("other", Duration::from_secs(60));
        let t = other.issue(7, "alice").unwrap();
        assert!(matches!(s.verify(&t.token), Err(TokenError::Invalid)));
        let now = chrono::Utc::now().timestamp();
        let expired = s
            .sign(&Claims {
                sub: "7".into(),
                username: "alice".into(),
                iat: now - 120,
                exp: now - 60,
                jti: "x".into(),
            })
            .unwrap();
        assert!(matches!(s.verify(&expired), Err(TokenError::Expired)));
    }
}
