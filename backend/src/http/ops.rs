//! Operational routes: health, liveness, metrics, pool figures, stats.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::db::messages;
use crate::error::ApiResult;
use crate::extract::Json;
use crate::state::AppState;

/// How long the health check waits for the database before saying degraded.
const HEALTH_DB_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/health", get(health))
        .route("/api/health/live", get(live))
        .route("/livez", get(live))
        .route("/api/metrics", get(metrics))
        .route("/metrics", get(metrics))
        .route("/api/metrics/db-pool", get(db_pool))
        .route("/api/stats", get(stats))
        .route("/stats", get(stats))
}

/// Readiness: 200 when the database answers, 503 `degraded` otherwise. The
/// load generator's guard reads `app_env` here.
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

/// Liveness: the process serves requests. Never touches the database, so an
/// orchestrator does not restart the API because Postgres is slow.
async fn live() -> axum::Json<Value> {
    axum::Json(json!({"status": "ok"}))
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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    pool_figures(&state);
    let load = state.hasher.load();
    state.metrics.hash_queue_depth.set(load.waiting);
    state.metrics.hash_in_flight.set(load.running);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn db_pool(State(state): State<AppState>) -> Json<Value> {
    Json(pool_figures(&state))
}

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
