//! Registration, login (JSON, form, cookie), tokens and CSRF.

use backend::auth::tokens::{Claims, TokenService};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_then_login_json_sets_the_cookie_and_returns_tokens() {
    let app = app().await;
    let (s, v) = post_json(
        &app,
        "/api/auth/register",
        json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "User registered successfully");
    assert_eq!(v["username"], "alice");
    assert!(v["id"].as_i64().unwrap() > 0);
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'alice'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );

    let r = client()
        .post(format!("{}/api/auth/login-json", app.base_url))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(cookie.starts_with(&format!(
        "access_token={}",
        v["access_token"].as_str().unwrap()
    )));
    for attr in ["HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=14400"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert_eq!(v["status"], "success");
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["username"], "alice");
    assert_eq!(v["expires_in"], 14400);
    assert_eq!(v["csrf_token"].as_str().unwrap().len(), 64);

    // Login by e-mail works too.
    let (s, _) = post_json(
        &app,
        "/api/auth/login-json",
        json!({"email": "alice@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post_json(
        &app,
        "/api/auth/login-json",
        json!({"username": "ALICE@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn login_with_unknown_user_is_indistinguishable_from_wrong_password() {
    let app = app().await;
    register(&app, "bob").await;
    let (s1, v1) = post_json(
        &app,
        "/api/auth/login-json",
        json!({"username": "bob", "password": "not-the-password"}),
    )
    .await;
    let (s2, v2) = post_json(
        &app,
        "/api/auth/login-json",
        json!({"username": "nobody", "password": "not-the-password"}),
    )
    .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &v1), (s2, &v2));
    assert_eq!(v1["detail"], "Incorrect username or password");
}

#[tokio::test]
async fn duplicate_username_or_email_is_a_400_in_the_original_words() {
    let app = app().await;
    post_json(
        &app,
        "/api/auth/register",
        json!({"username": "carol", "email": "c@example.com", "password": PASSWORD}),
    )
    .await;
    let (s, v) = post_json(
        &app,
        "/api/auth/register",
        json!({"username": "carol", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["detail"], "Username already registered");
    assert_eq!(v["code"], "username_taken");
    let (s, v) = post_json(
        &app,
        "/api/auth/register",
        json!({"username": "carol2", "email": "C@Example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["detail"], "Email already registered");
}

#[tokio::test]
async fn registration_rejects_bad_input_naming_the_field() {
    let app = app().await;
    let cases = [
        (json!({"password": PASSWORD}), "username", "missing"),
        (json!({"username": "dave"}), "password", "missing"),
        (
            json!({"username": "ab", "password": PASSWORD}),
            "username",
            "string_length",
        ),
        (
            json!({"username": "has space", "password": PASSWORD}),
            "username",
            "string_pattern_mismatch",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            "password",
            "string_length",
        ),
        (
            json!({"username": "dave", "password": "x".repeat(129)}),
            "password",
            "string_length",
        ),
        (
            json!({"username": "dave", "email": "not-an-email", "password": PASSWORD}),
            "email",
            "value_error",
        ),
        (
            json!({"username": 42, "password": PASSWORD}),
            "username",
            "type_error",
        ),
    ];
    for (body, field, kind) in cases {
        let (s, v) = post_json(&app, "/api/auth/register", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["code"], "validation_error", "{body}");
        let first = &v["detail"][0];
        assert_eq!(first["loc"], json!(["body", field]), "{body}: {v}");
        assert_eq!(first["type"], kind, "{body}: {v}");
        assert!(first["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(count(&app, "users").await, 0, "nothing stored");
}

#[tokio::test]
async fn oauth2_form_routes_issue_tokens_and_the_cookie_route_sets_it() {
    let app = app().await;
    register(&app, "erin").await;
    let r = client()
        .post(format!("{}/api/auth/token", app.base_url))
        .form(&[
            ("username", "erin"),
            ("password", PASSWORD),
            ("grant_type", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("set-cookie").is_none(),
        "token route sets no cookie"
    );
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "bearer");
    let token = v["access_token"].as_str().unwrap().to_owned();
    let r = client()
        .get(format!("{}/api/auth/me", app.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["username"], "erin");

    let r = client()
        .post(format!("{}/api/auth/login", app.base_url))
        .form(&[("username", "erin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("access_token="));
    assert_eq!(r.status(), StatusCode::OK);

    let r = client()
        .post(format!("{}/api/auth/token", app.base_url))
        .form(&[("username", "erin"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .post(format!("{}/api/auth/token", app.base_url))
        .json(&json!({"username": "erin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn me_works_with_bearer_or_cookie_and_logout_clears_the_cookie() {
    let app = app().await;
    let who = user(&app, "frank").await;
    let r = client()
        .get(format!("{}/api/auth/me", app.base_url))
        .header("cookie", &who.cookie)
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["id"], who.user_id);
    let r = client()
        .post(format!("{}/api/auth/logout", app.base_url))
        .header("cookie", &who.cookie)
        .send()
        .await
        .unwrap();
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cleared.starts_with("access_token=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test]
async fn expired_tampered_and_foreign_tokens_are_refused() {
    let app = app().await;
    let who = user(&app, "grace").await;
    let tokens = TokenService::new(app.config.secret_key.expose(), app.config.access_token_ttl);
    let now = chrono::Utc::now().timestamp();
    let expired = tokens
        .sign(&Claims {
            sub: who.user_id.to_string(),
            username: "grace".into(),
            iat: now - 7200,
            exp: now - 3600,
            jti: "j".into(),
        })
        .unwrap();
    let foreign = TokenService::new("another-secret", app.config.access_token_ttl)
        .issue(who.user_id, "grace")
        .unwrap()
        .token;
    // Swap the payload for one naming another user, keeping the signature.
    let parts: Vec<&str> = who.token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forged_payload = b64.encode(
        json!({"sub": "999", "username": "mallory", "exp": now + 3600, "iat": now, "jti": "x"})
            .to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let none_alg = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(json!({"sub": who.user_id.to_string(), "username": "grace", "exp": now + 3600, "iat": now, "jti": "x"}).to_string())
    );
    let cases = [
        (expired.as_str(), "token_expired"),
        (foreign.as_str(), "invalid_token"),
        (tampered.as_str(), "invalid_token"),
        (none_alg.as_str(), "invalid_token"),
        ("garbage", "invalid_token"),
    ];
    for (token, code) in cases {
        let r = client()
            .get(format!("{}/api/auth/me", app.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(v["code"], code, "{token}: {v}");
    }
    for (header, code) in [
        ("Basic abc", "invalid_authorization_header"),
        ("Bearer ", "invalid_authorization_header"),
    ] {
        let r = client()
            .get(format!("{}/api/auth/me", app.base_url))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(v["code"], code);
    }
    let (s, v) = get_json(&app, "/api/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "not_authenticated");
}

#[tokio::test]
async fn csrf_is_enforced_on_cookie_writes_and_not_on_bearer_writes() {
    let app = app().await;
    let who = user(&app, "heidi").await;
    let url = format!("{}/api/chat/sessions", app.base_url);
    let send = |csrf: Option<&str>| {
        let mut rb = client()
            .post(&url)
            .header("cookie", &who.cookie)
            .json(&json!({"title": "t"}));
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        rb.send()
    };
    let (s, v) = json_of(send(None).await.unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "csrf_missing");
    let (s, v) = json_of(send(Some(&"0".repeat(64))).await.unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "csrf_invalid");
    // Another login's CSRF token does not fit this cookie.
    let other = login(&app, "heidi").await;
    let (s, _) = json_of(send(Some(&other.csrf)).await.unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        count(&app, "chat_sessions").await,
        0,
        "refused writes store nothing"
    );
    let (s, _) = json_of(send(Some(&who.csrf)).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    // Cookie reads need no CSRF; bearer writes need none either.
    let r = client()
        .get(&url)
        .header("cookie", &who.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/sessions",
        Some(json!({"title": "b"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(count(&app, "chat_sessions").await, 2);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_when_enabled() {
    let app = app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "2"),
    ])
    .await;
    register(&app, "ivan").await;
    let body = json!({"username": "ivan", "password": PASSWORD});
    for _ in 0..2 {
        let (s, _) = post_json(&app, "/api/auth/login-json", body.clone()).await;
        assert_eq!(s, StatusCode::OK);
    }
    let r = client()
        .post(format!("{}/api/auth/login-json", app.base_url))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&body)
        .send()
        .await
        .unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let (s, v) = json_of(r).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted X-Forwarded-For picks no new bucket"
    );
    assert_eq!(v["code"], "rate_limited");
}

#[tokio::test]
async fn the_cookie_follows_the_secure_and_samesite_settings_and_is_read_in_every_form() {
    let app = app_with(&[
        ("AUTH_COOKIE_SECURE", "true"),
        ("AUTH_COOKIE_SAMESITE", "strict"),
    ])
    .await;
    register(&app, "henry").await;
    let r = client()
        .post(format!("{}/api/auth/login-json", app.base_url))
        .json(&json!({"username": "henry", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap();
    assert!(
        cookie.starts_with(&format!("access_token={token};")),
        "{cookie}"
    );
    for attr in [
        "HttpOnly",
        "Path=/",
        "SameSite=Strict",
        "Max-Age=14400",
        "Secure",
    ] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }

    // Among other cookies, quoted, or in the `Bearer <jwt>` form some
    // FastAPI apps store: the same user each time.
    for header in [
        format!("theme=dark; access_token={token}; lang=fr"),
        format!("access_token=\"{token}\""),
        format!("access_token=\"Bearer {token}\""),
    ] {
        let r = client()
            .get(format!("{}/api/auth/me", app.base_url))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        let (s, v) = json_of(r).await;
        assert_eq!(s, StatusCode::OK, "{header}: {v}");
        assert_eq!(v["username"], "henry", "{header}");
    }
    // An empty cookie is no cookie.
    let r = client()
        .get(format!("{}/api/auth/me", app.base_url))
        .header("cookie", "access_token=")
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "not_authenticated");

    let r = client()
        .post(format!("{}/api/auth/logout", app.base_url))
        .send()
        .await
        .unwrap();
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with("access_token=;"), "{cleared}");
    for attr in ["Max-Age=0", "Path=/", "SameSite=Strict", "Secure"] {
        assert!(cleared.contains(attr), "{attr} missing from {cleared}");
    }
}

/// The hashing queue used to be unbounded: a login storm on one slot waited
/// seconds in line. Past HASH_QUEUE_MAX a login is shed at once, a 503 with
/// Retry-After in the JSON error shape.
#[tokio::test]
async fn a_login_burst_past_the_hash_queue_is_shed_fast_with_retry_after() {
    let app = app_with(&[("HASH_CONCURRENCY", "1"), ("HASH_QUEUE_MAX", "1")]).await;
    register(&app, "burst").await;
    let logins = (0..16).map(|_| {
        let url = format!("{}/api/auth/login-json", app.base_url);
        async move {
            let started = std::time::Instant::now();
            let r = client()
                .post(url)
                .json(&json!({"username": "burst", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let took = started.elapsed();
            let (s, v) = json_of(r).await;
            (s, v, retry_after, took)
        }
    });
    let answers = futures::future::join_all(logins).await;
    let shed: Vec<_> = answers
        .iter()
        .filter(|(s, ..)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!shed.is_empty(), "no login was shed: {answers:?}");
    assert!(
        answers.iter().any(|(s, ..)| *s == StatusCode::OK),
        "the queue still serves: {answers:?}"
    );
    for (s, v, _, _) in &answers {
        assert!(
            *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE,
            "{s} {v}"
        );
    }
    for (_, v, retry_after, took) in shed {
        assert_eq!(v["code"], "hashing_overloaded", "{v}");
        assert!(v["detail"].is_string(), "{v}");
        let secs: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(secs >= 1, "{secs}");
        assert!(
            *took < std::time::Duration::from_millis(500),
            "shed at once, not after queueing: {took:?}"
        );
    }
    let (_, stats) = get_json(&app, "/api/stats").await;
    assert!(
        stats["password_hashing"]["shed"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

/// Logins whose clients hang up while they wait for the one hashing slot
/// cost no hash: counted as skipped, not hashed.
#[tokio::test]
async fn logins_whose_clients_left_while_queued_are_never_hashed() {
    // A hash (256 MiB, most of a second) much slower than the clients'
    // patience (150 ms), which is ample to reach the queue.
    let app = app_with(&[
        ("HASH_CONCURRENCY", "1"),
        ("HASH_QUEUE_MAX", "64"),
        ("ARGON2_MEMORY_KIB", "262144"),
    ])
    .await;
    register(&app, "quitter").await;
    let (_, before) = get_json(&app, "/api/stats").await;
    let hashed_before = before["password_hashing"]["hashed"].as_u64().unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(150))
        .build()
        .unwrap();
    let logins = (0..10).map(|_| {
        impatient
            .post(format!("{}/api/auth/login-json", app.base_url))
            .json(&json!({"username": "quitter", "password": PASSWORD}))
            .send()
    });
    for r in futures::future::join_all(logins).await {
        assert!(r.is_err(), "the client gave up first: {r:?}");
    }
    // Let the slot work through whatever is still queued.
    let mut stats = before;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stats = get_json(&app, "/api/stats").await.1;
        let h = &stats["password_hashing"];
        if h["waiting"] == 0 && h["running"] == 0 {
            break;
        }
    }
    let h = &stats["password_hashing"];
    let hashed = h["hashed"].as_u64().unwrap() - hashed_before;
    let skipped = h["skipped"].as_u64().unwrap();
    // The first login takes the slot before its client leaves; the rest
    // wait behind it and are gone by their turn.
    assert!(hashed <= 2, "abandoned logins were hashed: {stats}");
    assert!(skipped >= 5, "{stats}");
}
