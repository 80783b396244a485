//! Seeding straight into the database, hashing on all cores with the
//! backend's own argon2 code and parameters.
//!
//! Safe to re-run and to run concurrently: a user is inserted only if the
//! username is free (the unique constraint decides races); an existing user
//! whose stored hash does not verify the fixture's password gets a new hash.

use anyhow::{bail, Context as _};
use backend::auth::password::PasswordHasher;
use backend::db::users::{self, InsertUserError};
use futures::stream::{self, StreamExt, TryStreamExt};
use sqlx::PgPool;

use crate::fixture::FixtureUser;
use crate::report::{Outcome, Refused, Report};

/// Refuses a database that does not look like a test database, unless told.
pub async fn guard(pool: &PgPool, allow_non_test: bool) -> anyhow::Result<()> {
    // Checked at compile time like the backend's statements; the `!` says
    // `current_database()` is never NULL.
    let name: String = sqlx::query_scalar!(r#"SELECT current_database() AS "name!""#)
        .fetch_one(pool)
        .await
        .context("connecting to the database")?;
    let app_env_test = std::env::var("APP_ENV").is_ok_and(|v| v.eq_ignore_ascii_case("test"));
    if name.to_ascii_lowercase().contains("test") || app_env_test || allow_non_test {
        return Ok(());
    }
    Err(Refused {
        target: format!("database {name:?}"),
        why: "its name does not contain \"test\" and APP_ENV is not \"test\" \
              (pass --allow-non-test to seed it anyway)"
            .to_owned(),
    }
    .into())
}

async fn seed_one(
    pool: &PgPool,
    hasher: &PasswordHasher,
    u: &FixtureUser,
) -> anyhow::Result<Outcome> {
    // Two tries: a concurrent seeder may insert the user between our look-up
    // and our insert; the second pass then verifies what it stored.
    for _ in 0..2 {
        match users::find_by_login(pool, &u.username).await? {
            Some(existing) if existing.username == u.username => {
                if hasher
                    .verify(u.password.clone(), Some(existing.password_hash))
                    .await?
                {
                    return Ok(Outcome::Unchanged);
                }
                let hash = hasher.hash(u.password.clone()).await?;
                users::set_password_hash(pool, existing.id, &hash).await?;
                return Ok(Outcome::Updated);
            }
            _ => {
                let hash = hasher.hash(u.password.clone()).await?;
                match users::insert(pool, &u.username, u.email.as_deref(), &hash).await {
                    Ok(_) => return Ok(Outcome::Created),
                    Err(InsertUserError::UsernameTaken) => continue,
                    Err(InsertUserError::EmailTaken) => {
                        bail!(
                            "user {:?}: e-mail {:?} belongs to another user",
                            u.username,
                            u.email
                        )
                    }
                    Err(InsertUserError::Db(e)) => return Err(e.into()),
                }
            }
        }
    }
    bail!(
        "user {:?} kept changing under a concurrent seeder",
        u.username
    )
}

pub async fn run(
    database_url: &str,
    users: &[FixtureUser],
    hasher: PasswordHasher,
    concurrency: usize,
    allow_non_test: bool,
) -> anyhow::Result<Report> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency).unwrap_or(8).clamp(1, 32))
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    guard(&pool, allow_non_test).await?;
    backend::db::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let outcomes: Vec<Outcome> = stream::iter(users)
        .map(|u| {
            let (pool, hasher) = (&pool, &hasher);
            async move {
                seed_one(pool, hasher, u)
                    .await
                    .with_context(|| format!("seeding {:?}", u.username))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    pool.close().await;
    let mut report = Report::default();
    outcomes.into_iter().for_each(|o| report.add(o));
    Ok(report)
}
