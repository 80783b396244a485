//! The application state shared by every handler.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenService;
use crate::config::Config;
use crate::llm::LlmProvider;
use crate::metrics::Metrics;
use crate::rate_limit::Limiters;
use crate::retriever::Retriever;

/// Cheap to clone: handlers receive it by value through `State`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub pool: PgPool,
    pub hasher: PasswordHasher,
    pub tokens: TokenService,
    pub llm: Arc<dyn LlmProvider>,
    pub retriever: Arc<dyn Retriever>,
    pub metrics: Metrics,
    pub limits: Limiters,
    pub started: Instant,
    /// Expires at the shutdown's drain deadline: open chat streams end then.
    pub drain: crate::shutdown::Drain,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
