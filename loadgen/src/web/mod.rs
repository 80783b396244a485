//! `loadgen web [--base-url URL] [ADDR]`: runs started and stopped from the
//! browser, as Locust's web UI (default `127.0.0.1:8089`, Locust's port).
//!
//! - `GET /`: the control page (`loadgen/assets/web/`): the form, Start,
//!   Stop, the result files, and the live report page in a frame;
//! - `GET /live/`, `GET /live/events`: the live report page and its
//!   events, the very ones of `run --dashboard` ([`Board`]);
//! - `POST /api/runs` (the form as JSON, [`RunForm`]): resolved by
//!   [`plan::resolve_form`] exactly as the same `loadgen run` command line,
//!   then guarded as a run is ([`app::check_guard`]). 400 for a bad value,
//!   403 when the guard refuses (with its reason), 502 when the target
//!   cannot be reached, 409 while another run goes on; errors are
//!   `{"error":{"code","message"}}`;
//! - `POST /api/stop`: ends the running run early (interrupted);
//! - `GET /api/status`: state, last error, verdict, result files;
//! - `GET /results/{name}`: summary.json, summary.txt, report.html and the
//!   Locust CSV trio of the last finished run (what `--out` writes).
//!
//! The runs go through [`app::run_with`], so they are the command line's
//! runs; the terminal stays quiet.

use crate::app;
use crate::dashboard::Board;
use crate::exit::{ExitCode, Failure};
use crate::plan::{self, RunForm, WebPlan};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

const TEMPLATE: &str = include_str!("../../assets/web/index.html");
const SCRIPT: &str = include_str!("../../assets/web/web.js");

/// The files a finished run leaves, as `--out` names them.
const RESULT_FILES: [&str; 6] = [
    "summary.json",
    "summary.txt",
    "report.html",
    "loadgen_stats.csv",
    "loadgen_stats_history.csv",
    "loadgen_failures.csv",
];

/// Where the runs stand.
#[derive(Default)]
struct Slot {
    /// Set while a run goes on: sending `true` stops it.
    stop: Option<watch::Sender<bool>>,
    /// Runs started so far (names their result folders).
    runs: u64,
    /// `idle`, `running`, `done` or `failed`.
    state: &'static str,
    /// The last refusal or failure, as shown in the page.
    error: Option<String>,
    /// The last finished run's verdict and exit code.
    verdict: Option<(&'static str, i32)>,
    /// The last finished run's result folder.
    results: Option<PathBuf>,
}

struct Web {
    plan: WebPlan,
    board: Board,
    slot: Mutex<Slot>,
    /// Result folders live here (one per run), removed when the server ends.
    dir: PathBuf,
}

impl Web {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the page until Ctrl-C.
pub async fn serve(plan: WebPlan) -> Result<ExitCode, Failure> {
    let listener = tokio::net::TcpListener::bind(plan.addr)
        .await
        .map_err(|e| Failure::usage(format!("web {}: cannot listen there: {e}", plan.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Internal(e.into()))?;
    let dir = std::env::temp_dir().join(format!("loadgen-web-{}", std::process::id()));
    let web = Arc::new(Web {
        plan,
        board: Board::default(),
        slot: Mutex::new(Slot {
            state: "idle",
            ..Slot::default()
        }),
        dir: dir.clone(),
    });
    let app = Router::new()
        .route("/", get(page))
        .route(
            "/live/",
            get(|State(w): State<Arc<Web>>| w.board.clone().page()),
        )
        .route(
            "/live/events",
            get(|State(w): State<Arc<Web>>| w.board.clone().events()),
        )
        .route("/api/runs", post(start))
        .route("/api/stop", post(stop))
        .route("/api/status", get(status))
        .route("/results/{name}", get(result_file))
        .with_state(web);
    eprintln!("loadgen: web UI on http://{addr}/");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    served.map_err(|e| Failure::Internal(e.into()))?;
    Ok(ExitCode::Ok)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; frame-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
    )
}

async fn page() -> impl IntoResponse {
    let body = TEMPLATE
        .replacen("{{CSP}}", &csp(), 1)
        .replacen("{{SCRIPT}}", SCRIPT, 1);
    ([(header::CACHE_CONTROL, "no-store")], Html(body))
}

async fn start(
    State(web): State<Arc<Web>>,
    form: Result<Json<RunForm>, JsonRejection>,
) -> Response {
    let Json(form) = match form {
        Ok(form) => form,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.body_text()),
    };
    let plan = match plan::resolve_form(&form, &web.plan.users_file, &web.plan.env) {
        Ok(plan) => plan,
        Err(failure) => return refused(&web, &failure),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let run = {
        let mut slot = web.slot();
        if slot.stop.is_some() {
            return error(
                StatusCode::CONFLICT,
                "busy",
                "a run is going on: stop it or wait for it to end (one run at a time)",
            );
        }
        slot.stop = Some(stop_tx);
        slot.runs += 1;
        slot.runs
    };
    // The guard answers here, so the page shows a refusal at once.
    if let Err(failure) = app::check_guard(&plan).await {
        web.slot().stop = None;
        return refused(&web, &failure);
    }
    {
        let mut slot = web.slot();
        slot.state = "running";
        slot.error = None;
        slot.verdict = None;
        slot.results = None;
    }
    web.board.clear();
    let task_web = Arc::clone(&web);
    tokio::spawn(async move {
        let web = task_web;
        let result = app::run_with(plan, Some(&web.board), Some(stop_rx)).await;
        let dir = web.dir.join(format!("run-{run}"));
        let outcome = result.and_then(|report| {
            web.board.publish(&report, true);
            app::write_results(&report, &dir)?;
            Ok(report)
        });
        let mut slot = web.slot();
        slot.stop = None;
        match outcome {
            Ok(report) => {
                let data = crate::html::build(&report, &Default::default());
                slot.state = "done";
                slot.verdict = Some((data.verdict.status, data.verdict.exit_code));
                slot.results = Some(dir);
            }
            Err(failure) => {
                slot.state = "failed";
                slot.error = Some(message(&failure));
            }
        }
    });
    (StatusCode::ACCEPTED, Json(json!({ "run": run }))).into_response()
}

fn message(failure: &Failure) -> String {
    match failure {
        Failure::Usage(m) | Failure::GuardRefused(m) | Failure::Unreachable(m) => m.clone(),
        Failure::Internal(e) => format!("internal error: {e:#}"),
    }
}

/// The answer to a Start that cannot run, remembered for the page.
fn refused(web: &Web, failure: &Failure) -> Response {
    let text = message(failure);
    web.slot().error = Some(text.clone());
    let (status, code) = match failure {
        Failure::Usage(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        Failure::GuardRefused(_) => (StatusCode::FORBIDDEN, "guard_refused"),
        Failure::Unreachable(_) => (StatusCode::BAD_GATEWAY, "unreachable"),
        Failure::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, &text)
}

async fn stop(State(web): State<Arc<Web>>) -> Response {
    match &web.slot().stop {
        Some(stop) => {
            stop.send_replace(true);
            Json(json!({ "stopping": true })).into_response()
        }
        None => error(StatusCode::CONFLICT, "not_running", "no run is going on"),
    }
}

async fn status(State(web): State<Arc<Web>>) -> Json<serde_json::Value> {
    let slot = web.slot();
    let downloads: Vec<&str> = if slot.results.is_some() {
        RESULT_FILES.to_vec()
    } else {
        Vec::new()
    };
    Json(json!({
        "state": slot.state,
        "base_url": web.plan.base_url,
        "error": slot.error,
        "verdict": slot.verdict.map(|v| v.0),
        "exit_code": slot.verdict.map(|v| v.1),
        "downloads": downloads,
    }))
}

async fn result_file(State(web): State<Arc<Web>>, Path(name): Path<String>) -> Response {
    let Some(name) = RESULT_FILES.iter().find(|n| **n == name) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such result file");
    };
    let Some(dir) = web.slot().results.clone() else {
        return error(StatusCode::NOT_FOUND, "not_found", "no finished run yet");
    };
    match tokio::fs::read(dir.join(name)).await {
        Ok(bytes) => {
            let kind = match name.rsplit('.').next() {
                Some("json") => "application/json",
                Some("html") => "text/html; charset=utf-8",
                Some("csv") => "text/csv; charset=utf-8",
                _ => "text/plain; charset=utf-8",
            };
            let disposition = format!("attachment; filename=\"{name}\"");
            (
                [
                    (header::CONTENT_TYPE, kind.to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("cannot read {name}: {e}"),
        ),
    }
}
