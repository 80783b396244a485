//! Per-client rate limits for login, registration and chat.
//!
//! Off by default under `APP_ENV=test` (load tests come from one address).
//! The client is the socket peer; `X-Forwarded-For` is believed only when the
//! peer is a configured trusted proxy, so a client cannot choose its bucket.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimits;
use crate::error::ApiError;
use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy)]
pub enum Route {
    Login,
    Register,
    Chat,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Login => "login",
            Route::Register => "register",
            Route::Chat => "chat",
        }
    }
}

pub struct Limiters {
    enabled: bool,
    trusted: Vec<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    register: DefaultKeyedRateLimiter<IpAddr>,
    chat: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        Self {
            enabled: cfg.enabled,
            trusted: cfg.trusted_proxies.clone(),
            login: RateLimiter::keyed(per_minute(cfg.login_per_minute)),
            register: RateLimiter::keyed(per_minute(cfg.register_per_minute)),
            chat: RateLimiter::keyed(per_minute(cfg.chat_per_minute)),
        }
    }

    /// The client address: the peer, or the nearest untrusted hop of
    /// `X-Forwarded-For` when the peer is a trusted proxy.
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())?;
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let hop = forwarded
            .rsplit(',')
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .find(|ip| !self.trusted.contains(ip));
        Some(hop.unwrap_or(peer))
    }

    pub fn check(
        &self,
        route: Route,
        client: Option<IpAddr>,
        metrics: &Metrics,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let Some(ip) = client else {
            return Ok(());
        };
        let limiter = match route {
            Route::Login => &self.login,
            Route::Register => &self.register,
            Route::Chat => &self.chat,
        };
        limiter.check_key(&ip).map_err(|not_until| {
            metrics
                .rate_limited
                .with_label_values(&[route.label()])
                .inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}
