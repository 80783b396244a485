//! Operational routes: health, liveness, metrics, pool figures, stats.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::messages;
use crate::error::ApiResult;
use crate::extract::Json;
use crate::state::AppState;

/// How long the health check waits for the database before saying degraded.
const HEALTH_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes, each with its OpenAPI operation (the aliases are handlers of
/// their own so that each path has its operation).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(health_alias))
        .routes(routes!(live))
        .routes(routes!(live_alias))
        .routes(routes!(metrics))
        .routes(routes!(metrics_alias))
        .routes(routes!(db_pool))
        .routes(routes!(stats))
        .routes(routes!(stats_alias))
}

/// `/api/health`'s body (200 or 503).
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` (503) when the database does not answer.
    #[schema(pattern = "^(ok|degraded)$")]
    pub status: String,
    pub message: String,
    /// `test` in test mode: the load generator's guard reads it.
    pub app_env: String,
    pub environment: String,
    pub version: String,
    /// `ok`, `unavailable` or `timeout`.
    pub database: String,
    pub llm_provider: String,
    pub retriever: String,
    pub uptime_seconds: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Live {
    #[schema(pattern = "^ok$")]
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct DbPool {
    pub size: u32,
    pub checked_out: u32,
    pub checked_in: u32,
    pub max_size: u32,
    pub usage_ratio: f64,
    pub acquire_timeout_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderStats {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub mean_latency_ms: f64,
}

#[derive(Serialize, ToSchema)]
pub struct HashingStats {
    pub waiting: i64,
    pub running: i64,
    pub hashed: u64,
    pub skipped: u64,
    pub shed: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    pub users: i64,
    pub sessions: i64,
    pub messages: i64,
    pub feedback: i64,
    pub provider: ProviderStats,
    pub retriever: String,
    pub password_hashing: HashingStats,
    pub db_pool: DbPool,
    pub uptime_seconds: u64,
}

/// Readiness: 200 when the database answers, 503 `degraded` otherwise. The
/// load generator's guard reads `app_env` here.
#[utoipa::path(get, path = "/api/health", tag = "ops", responses(
    (status = 200, description = "Healthy", body = Health),
    (status = 503, description = "The database does not answer (`status: degraded`)", body = Health),
))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db = tokio::time::timeout(HEALTH_DB_TIMEOUT, crate::db::ping(&state.pool)).await;
    let (status, db_state) = match db {
        Ok(Ok(_)) => (StatusCode::OK, "ok"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: database check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    };
    let cfg = &state.config;
    (
        status,
        axum::Json(json!({
            "status": if status == StatusCode::OK { "ok" } else { "degraded" },
            "message": if status == StatusCode::OK { "API is healthy" } else { "Database is unavailable" },
            "app_env": cfg.app_env,
            "environment": cfg.app_env,
            "version": cfg.version,
            "database": db_state,
            "llm_provider": state.llm.name(),
            "retriever": state.retriever.name(),
            "uptime_seconds": state.started.elapsed().as_secs(),
        })),
    )
}

/// Alias of `/api/health`.
#[utoipa::path(get, path = "/health", tag = "ops", responses(
    (status = 200, description = "Healthy", body = Health),
    (status = 503, description = "The database does not answer (`status: degraded`)", body = Health),
))]
async fn health_alias(state: State<AppState>) -> impl IntoResponse {
    health(state).await
}

/// Liveness: the process serves requests. Never touches the database, so an
/// orchestrator does not restart the API because Postgres is slow.
#[utoipa::path(get, path = "/api/health/live", tag = "ops", responses(
    (status = 200, description = "The process serves requests", body = Live),
))]
async fn live() -> axum::Json<Value> {
    axum::Json(json!({"status": "ok"}))
}

/// Alias of `/api/health/live`.
#[utoipa::path(get, path = "/livez", tag = "ops", responses(
    (status = 200, description = "The process serves requests", body = Live),
))]
async fn live_alias() -> axum::Json<Value> {
    live().await
}

fn pool_figures(state: &AppState) -> Value {
    let size = state.pool.size();
    let idle = u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX);
    let checked_out = size.saturating_sub(idle);
    let max = state.config.db_pool_size;
    let m = &state.metrics;
    m.db_pool_size.set(i64::from(size));
    m.db_pool_checked_out.set(i64::from(checked_out));
    m.db_pool_checked_in.set(i64::from(idle));
    m.db_pool_max.set(i64::from(max));
    let ratio = f64::from(checked_out) / f64::from(max.max(1));
    m.db_pool_usage_ratio.set(ratio);
    json!({
        "size": size,
        "checked_out": checked_out,
        "checked_in": idle,
        "max_size": max,
        "usage_ratio": ratio,
        "acquire_timeout_ms": state.config.db_acquire_timeout.as_millis() as u64,
    })
}

/// Prometheus text format.
#[utoipa::path(get, path = "/api/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    pool_figures(&state);
    let load = state.hasher.load();
    state.metrics.hash_queue_depth.set(load.waiting);
    state.metrics.hash_in_flight.set(load.running);
    if let Some((running, waiting)) = state.llm.engine_load() {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        state.metrics.mock_llm_running.set(gauge(running));
        state.metrics.mock_llm_waiting.set(gauge(waiting));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Alias of `/api/metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
))]
async fn metrics_alias(state: State<AppState>) -> impl IntoResponse {
    metrics(state).await
}

/// The database pool's figures.
#[utoipa::path(get, path = "/api/metrics/db-pool", tag = "ops", responses(
    (status = 200, description = "Pool figures", body = DbPool),
))]
async fn db_pool(State(state): State<AppState>) -> Json<Value> {
    Json(pool_figures(&state))
}

/// Row counts, provider and hashing statistics.
#[utoipa::path(get, path = "/api/stats", tag = "ops", responses(
    (status = 200, description = "Statistics", body = Stats),
    (status = 503, description = "The database is unavailable or saturated (`database_unavailable`)", body = crate::http::openapi::Error,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
async fn stats(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (users, sessions, messages, feedback) = messages::counts(&state.pool).await?;
    let m = &state.metrics;
    let name = state.llm.name();
    let calls = m.provider_calls.with_label_values(&[name]).get();
    let errors: u64 = ["rate_limited", "upstream", "timeout", "circuit_open"]
        .iter()
        .map(|k| m.provider_errors.with_label_values(&[name, k]).get())
        .sum();
    let latency = m.provider_latency.with_label_values(&[name]);
    let count = latency.get_sample_count();
    let load = state.hasher.load();
    Ok(Json(json!({
        "users": users,
        "sessions": sessions,
        "messages": messages,
        "feedback": feedback,
        "provider": {
            "name": name,
            "calls": calls,
            "errors": errors,
            "mean_latency_ms": if count == 0 { 0.0 } else { 1000.0 * latency.get_sample_sum() / count as f64 },
        },
        "retriever": state.retriever.name(),
        "password_hashing": {
            "waiting": load.waiting,
            "running": load.running,
            "hashed": load.hashed,
            "skipped": load.skipped,
            "shed": load.shed,
        },
        "db_pool": pool_figures(&state),
        "uptime_seconds": state.started.elapsed().as_secs(),
    })))
}

/// Alias of `/api/stats`.
#[utoipa::path(get, path = "/stats", tag = "ops", responses(
    (status = 200, description = "Statistics", body = Stats),
    (status = 503, description = "The database is unavailable or saturated (`database_unavailable`)", body = crate::http::openapi::Error,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
async fn stats_alias(state: State<AppState>) -> ApiResult<Json<Value>> {
    stats(state).await
}
