//! Per-client rate limits for login, registration and chat.
//!
//! Off by default under `APP_ENV=test` (load tests come from one address).
//! The client is the socket peer; `X-Forwarded-For` is believed only when the
//! peer is a configured trusted proxy, so a client cannot choose its bucket.
//!
//! Every address seen leaves a key behind; keys whose window has passed
//! (a fresh key would behave the same) are pruned at most every
//! `prune_every` by the check that finds the time due, so memory is bounded
//! by the clients of the last window rather than by every client ever seen.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    prune_every: Duration,
    last_prune: Mutex<Instant>,
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
            prune_every: Duration::from_secs(10),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// Keys held across the three limiters.
    pub fn key_count(&self) -> usize {
        self.login.len() + self.register.len() + self.chat.len()
    }

    /// Drops the keys whose window has passed. One check does it when due;
    /// the others never wait for it (`try_lock`).
    fn prune_if_due(&self) {
        let Ok(mut last) = self.last_prune.try_lock() else {
            return;
        };
        if last.elapsed() < self.prune_every {
            return;
        }
        *last = Instant::now();
        for limiter in [&self.login, &self.register, &self.chat] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
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
        let verdict = limiter.check_key(&ip);
        self.prune_if_due();
        verdict.map_err(|not_until| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32) -> RateLimits {
        RateLimits {
            enabled: true,
            login_per_minute: per_minute,
            register_per_minute: per_minute,
            chat_per_minute: per_minute,
            trusted_proxies: Vec::new(),
        }
    }

    /// Every client address seen once leaves a key behind; once its window
    /// has passed the key carries no state and is pruned, so memory is
    /// bounded by the clients of the last window, not by all clients ever.
    #[test]
    fn keys_whose_window_has_passed_are_pruned() {
        // 6,000 a minute: one request's window is 10 ms.
        let mut l = Limiters::new(&limits(6000));
        // No pruning while the keys are made (on a loaded machine the loop
        // can outlast a window), then at every check.
        l.prune_every = Duration::from_secs(3600);
        let metrics = Metrics::new().unwrap();
        for i in 0..200u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            l.check(Route::Chat, Some(ip), &metrics).unwrap();
            l.check(Route::Login, Some(ip), &metrics).unwrap();
        }
        assert_eq!(l.key_count(), 400);
        l.prune_every = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(60));
        l.check(Route::Chat, Some(IpAddr::from([10, 9, 8, 7])), &metrics)
            .unwrap();
        assert_eq!(l.key_count(), 1, "only the newest client's key is left");
    }

    /// A key whose window is still running is kept: pruning never forgets a
    /// client that is being limited.
    #[test]
    fn a_limited_client_is_not_forgotten_by_pruning() {
        let mut l = Limiters::new(&limits(1));
        l.prune_every = Duration::ZERO;
        let metrics = Metrics::new().unwrap();
        let ip = IpAddr::from([192, 0, 2, 1]);
        l.check(Route::Chat, Some(ip), &metrics).unwrap();
        l.check(Route::Chat, Some(IpAddr::from([192, 0, 2, 2])), &metrics)
            .unwrap();
        assert_eq!(l.key_count(), 2);
        assert!(l.check(Route::Chat, Some(ip), &metrics).is_err());
    }
}
