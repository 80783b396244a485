//! `/api/auth/*`: register, log in (JSON, OAuth2 form, cookie), log out, me.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use cookie::Cookie;
use serde::Deserialize;
use serde_json::{json, Value};

use super::current_user::COOKIE_NAME;
use super::password::QueueFull;
use super::{validate, ClientIp, CurrentUser};
use crate::config::SameSite;
use crate::db::users::{self, InsertUserError};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Form, Json};
use crate::rate_limit::Route;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login-json", post(login_json))
        .route("/api/auth/login", post(login_form))
        .route("/api/auth/token", post(token_form))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

#[derive(Deserialize)]
struct RegisterBody {
    username: String,
    #[serde(default)]
    email: Option<String>,
    password: String,
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Route::Register, ip, &state.metrics)?;
    let username = body.username.trim();
    let email = body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let mut errors = Vec::new();
    validate::username(username, &mut errors);
    if let Some(e) = email {
        validate::email(e, &mut errors);
    }
    validate::password(&body.password, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Cheap pre-check so a duplicate does not cost a hash; the unique
    // constraints below still decide races.
    if users::find_by_login(&state.pool, username)
        .await?
        .is_some_and(|u| u.username == username)
    {
        return Err(username_taken());
    }
    if let Some(e) = email {
        if users::email_taken(&state.pool, e).await? {
            return Err(email_taken());
        }
    }
    let hash = hash_timed(&state, body.password).await?;
    let id = users::insert(&state.pool, username, email, &hash)
        .await
        .map_err(|e| match e {
            InsertUserError::UsernameTaken => username_taken(),
            InsertUserError::EmailTaken => email_taken(),
            InsertUserError::Db(e) => e.into(),
        })?;
    tracing::info!(user_id = id, %username, "user registered");
    Ok(Json(json!({
        "message": "User registered successfully",
        "id": id,
        "username": username,
        "email": email,
    })))
}

fn username_taken() -> ApiError {
    ApiError::bad_request("username_taken", "Username already registered")
}

fn email_taken() -> ApiError {
    ApiError::bad_request("email_taken", "Email already registered")
}

async fn hash_timed(state: &AppState, password: String) -> ApiResult<String> {
    let _t = state.metrics.hash_latency.start_timer();
    state.hasher.hash(password).await.map_err(hashing_failed)
}

/// A full hashing queue is a fast 503 with Retry-After; anything else is
/// an internal error.
fn hashing_failed(e: anyhow::Error) -> ApiError {
    match e.downcast_ref::<QueueFull>() {
        Some(full) => ApiError::Overloaded {
            code: "hashing_overloaded",
            detail: "Too many logins and registrations in progress, retry after the delay in \
                     Retry-After"
                .into(),
            retry_after_secs: full.retry_after_secs,
        },
        None => ApiError::Internal(e),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    password: String,
}

/// The OAuth2 password form (`grant_type`, `scope` and client fields are
/// accepted and ignored, as FastAPI's `OAuth2PasswordRequestForm` does).
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

struct Authenticated {
    user_id: i64,
    username: String,
}

/// Checks credentials. Unknown user and wrong password cost the same hash
/// and produce the same 401.
async fn authenticate(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    login: &str,
    password: String,
) -> ApiResult<Authenticated> {
    state.limits.check(Route::Login, ip, &state.metrics)?;
    let user = if login.is_empty() {
        None
    } else {
        users::find_by_login(&state.pool, login).await?
    };
    let ok = {
        let _t = state.metrics.hash_latency.start_timer();
        state
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await
            .map_err(hashing_failed)?
    };
    match user {
        Some(u) if ok => Ok(Authenticated {
            user_id: u.id,
            username: u.username,
        }),
        _ => Err(ApiError::unauthorized(
            "invalid_credentials",
            "Incorrect username or password",
        )),
    }
}

/// The session cookie: `access_token=<jwt>; HttpOnly; SameSite=<config>;
/// Path=/; Max-Age=<ttl>`, plus `Secure` when `AUTH_COOKIE_SECURE`.
fn session_cookie(state: &AppState, token: String, max_age: u64) -> Cookie<'static> {
    let cfg = &state.config;
    let same_site = match cfg.auth_cookie_samesite {
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::None => cookie::SameSite::None,
    };
    Cookie::build((COOKIE_NAME, token))
        .http_only(true)
        .path("/")
        .same_site(same_site)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .secure(cfg.auth_cookie_secure)
        .build()
}

fn set_cookie(cookie: &Cookie<'_>) -> HeaderValue {
    // A JWT is base64url and dots, the attributes are fixed: always a valid
    // header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Issues a token and answers with the cookie and the login body.
fn login_response(state: &AppState, who: Authenticated) -> ApiResult<impl IntoResponse> {
    let issued = state.tokens.issue(who.user_id, &who.username)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        set_cookie(&session_cookie(
            state,
            issued.token.clone(),
            issued.expires_in,
        )),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((
        headers,
        Json(json!({
            "user_id": who.user_id,
            "username": who.username,
            "status": "success",
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "csrf_token": issued.csrf_token,
        })),
    ))
}

async fn login_json(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let login = body
        .username
        .or(body.email)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if login.is_empty() {
        return Err(ApiError::field("username", "Field required", "missing"));
    }
    let who = authenticate(&state, ip, &login, body.password).await?;
    login_response(&state, who)
}

async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ApiResult<impl IntoResponse> {
    let who = authenticate(&state, ip, form.username.trim(), form.password).await?;
    login_response(&state, who)
}

async fn token_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ApiResult<impl IntoResponse> {
    let who = authenticate(&state, ip, form.username.trim(), form.password).await?;
    let issued = state.tokens.issue(who.user_id, &who.username)?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(json!({
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "user_id": who.user_id,
            "username": who.username,
        })),
    ))
}

async fn logout(State(state): State<AppState>) -> impl IntoResponse {
    // Same name, path and attributes, empty, `Max-Age=0` and an `Expires` in
    // the past: the browser drops it.
    let mut cleared = session_cookie(&state, String::new(), 0);
    cleared.make_removal();
    (
        [(header::SET_COOKIE, set_cookie(&cleared))],
        Json(json!({"message": "Logged out successfully", "status": "success"})),
    )
}

async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    let row = users::find_by_id(&state.pool, user.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "User no longer exists"))?;
    Ok(Json(json!({
        "id": row.id,
        "username": row.username,
        "email": row.email,
    })))
}
