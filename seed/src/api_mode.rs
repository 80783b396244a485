//! Seeding through a running backend's API, for when its database is not
//! reachable: register each user; "already registered" counts as present,
//! and a login tells whether the fixture's password still works.

use anyhow::{bail, Context as _};
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::fixture::FixtureUser;
use crate::report::{Outcome, Refused, Report};

/// Refuses a backend whose `/api/health` does not say `app_env: "test"`.
pub async fn guard(client: &Client, base: &str, allow_non_test: bool) -> anyhow::Result<()> {
    let url = format!("{base}/api/health");
    let r = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let app_env = body.get("app_env").and_then(Value::as_str);
    if app_env == Some("test") || allow_non_test {
        return Ok(());
    }
    Err(Refused {
        target: base.to_owned(),
        why: format!(
            "GET /api/health answered {status} with app_env {} (expected \"test\"; \
             pass --allow-non-test to seed it anyway)",
            app_env.map_or_else(|| "missing".to_owned(), |e| format!("{e:?}"))
        ),
    }
    .into())
}

async fn seed_one(client: &Client, base: &str, u: &FixtureUser) -> anyhow::Result<Outcome> {
    let mut body = json!({"username": u.username, "password": u.password});
    if let Some(e) = &u.email {
        body["email"] = json!(e);
    }
    let r = client
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    if status == StatusCode::OK {
        return Ok(Outcome::Created);
    }
    let detail = answer.get("detail").and_then(Value::as_str).unwrap_or("");
    if status == StatusCode::BAD_REQUEST && detail.contains("already registered") {
        let login = client
            .post(format!("{base}/api/auth/login-json"))
            .json(&json!({"username": u.username, "password": u.password}))
            .send()
            .await?;
        return match login.status() {
            StatusCode::OK => Ok(Outcome::Unchanged),
            StatusCode::UNAUTHORIZED => Ok(Outcome::Stale),
            s => bail!("logging in as {:?} to check it: {s}", u.username),
        };
    }
    bail!("registering {:?}: {status} {answer}", u.username)
}

pub async fn run(
    base: &str,
    users: &[FixtureUser],
    concurrency: usize,
    allow_non_test: bool,
) -> anyhow::Result<Report> {
    let base = base.trim_end_matches('/');
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    guard(&client, base, allow_non_test).await?;
    let outcomes: Vec<Outcome> = stream::iter(users)
        .map(|u| {
            let client = &client;
            async move { seed_one(client, base, u).await }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut report = Report::default();
    outcomes.into_iter().for_each(|o| report.add(o));
    Ok(report)
}
