//! `/api/auth/*`: register, log in (JSON, OAuth2 form, cookie), log out, me.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use cookie::Cookie;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::current_user::COOKIE_NAME;
use super::password::QueueFull;
use super::{validate, ClientIp, CurrentUser};
use crate::config::SameSite;
use crate::db::users::{self, InsertUserError};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Form, Json};
use crate::http::openapi::{rules, Error};
use crate::rate_limit::Route;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login_json))
        .routes(routes!(login_form))
        .routes(routes!(token_form))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(schema_with = rules::username)]
    username: String,
    #[serde(default)]
    #[schema(schema_with = rules::email)]
    email: Option<String>,
    #[schema(schema_with = rules::password)]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    /// "User registered successfully"
    message: &'static str,
    id: i64,
    username: String,
    email: Option<String>,
}

/// Login and registration share the hashing queue: a full queue answers at
/// once with 503 `hashing_overloaded` and Retry-After; a database in trouble
/// answers 503 `database_unavailable` with Retry-After too.
const HASHING_503: &str = "`hashing_overloaded` (the password-hashing queue is full) or \
                           `database_unavailable`: retry after Retry-After seconds";

/// Registers an account. A duplicate username or e-mail is a 400 with the
/// original's words, which its seeding script relies on.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, description = "`username_taken` (\"Username already registered\") or `email_taken`", body = Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = HASHING_503, body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Json<Registered>> {
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
    Ok(Json(Registered {
        message: "User registered successfully",
        id,
        username: username.to_owned(),
        email: email.map(str::to_owned),
    }))
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
pub struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    password: String,
}

/// The body's rules span fields (username, else email): the document takes
/// them from `rules::login_json` as JSON; this is the name's placeholder.
impl utoipa::PartialSchema for LoginBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new().into()
    }
}

impl ToSchema for LoginBody {}

/// The OAuth2 password form (`grant_type`, `scope` and client fields are
/// accepted and ignored, as FastAPI's `OAuth2PasswordRequestForm` does).
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    /// Username or e-mail address.
    #[schema(schema_with = rules::text)]
    username: String,
    #[schema(schema_with = rules::text)]
    password: String,
}

/// The login body (with the `access_token` cookie).
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    user_id: i64,
    username: String,
    /// "success"
    status: &'static str,
    access_token: String,
    /// "bearer"
    token_type: &'static str,
    /// Seconds.
    expires_in: u64,
    /// Send it back as `X-CSRF-Token` on cookie-authenticated writes.
    csrf_token: String,
}

/// The OAuth2 password flow's answer: a bearer token, no cookie.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// "bearer"
    token_type: &'static str,
    /// Seconds.
    expires_in: u64,
    user_id: i64,
    username: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    message: &'static str,
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    email: Option<String>,
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
        Json(LoginResponse {
            user_id: who.user_id,
            username: who.username,
            status: "success",
            access_token: issued.token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            csrf_token: issued.csrf_token,
        }),
    ))
}

/// Logs in with JSON: sets the cookie and returns the token and CSRF token.
#[utoipa::path(post, path = "/api/auth/login-json", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in; the `access_token` cookie is set", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "access_token=<jwt>; HttpOnly; Path=/; SameSite; Max-Age"))),
        (status = 401, description = "`invalid_credentials`: \"Incorrect username or password\", the same for an unknown user and a wrong password", body = Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = HASHING_503, body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
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

/// Logs in with the OAuth2 password form: sets the cookie, as login-json.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in; the `access_token` cookie is set", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "access_token=<jwt>; HttpOnly; Path=/; SameSite; Max-Age"))),
        (status = 401, description = "`invalid_credentials`: \"Incorrect username or password\", the same for an unknown user and a wrong password", body = Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = HASHING_503, body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ApiResult<impl IntoResponse> {
    let who = authenticate(&state, ip, form.username.trim(), form.password).await?;
    login_response(&state, who)
}

/// OAuth2 password flow: a bearer token, no cookie.
#[utoipa::path(post, path = "/api/auth/token", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: \"Incorrect username or password\"", body = Error),
        (status = 429, description = "Rate limited (`rate_limited`)", body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = HASHING_503, body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn token_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ApiResult<impl IntoResponse> {
    let who = authenticate(&state, ip, form.username.trim(), form.password).await?;
    let issued = state.tokens.issue(who.user_id, &who.username)?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(TokenResponse {
            access_token: issued.token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            user_id: who.user_id,
            username: who.username,
        }),
    ))
}

/// Clears the cookie. Needs no credentials: a JWT is stateless, so there
/// is nothing to revoke server-side.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses(
    (status = 200, description = "The cookie is cleared", body = LoggedOut,
        headers(("Set-Cookie" = String, description = "access_token=; Max-Age=0"))),
))]
async fn logout(State(state): State<AppState>) -> impl IntoResponse {
    // Same name, path and attributes, empty, `Max-Age=0` and an `Expires` in
    // the past: the browser drops it.
    let mut cleared = session_cookie(&state, String::new(), 0);
    cleared.make_removal();
    (
        [(header::SET_COOKIE, set_cookie(&cleared))],
        Json(LoggedOut {
            message: "Logged out successfully",
            status: "success",
        }),
    )
}

/// The caller.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 503, description = "`database_unavailable`", body = Error,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Me>> {
    let row = users::find_by_id(&state.pool, user.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "User no longer exists"))?;
    Ok(Json(Me {
        id: row.id,
        username: row.username,
        email: row.email,
    }))
}
