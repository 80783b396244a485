//! The users table. Statements checked at compile time against the
//! migrations (offline data in `.sqlx/`).

use sqlx::{FromRow, PgPool};

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
}

/// Why a new user could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn insert(
    pool: &PgPool,
    username: &str,
    email: Option<&str>,
    password_hash: &str,
) -> Result<i64, InsertUserError> {
    sqlx::query_scalar!(
        "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) RETURNING id",
        username,
        email,
        password_hash,
    )
    .fetch_one(pool)
    .await
    .map_err(|e| {
        if crate::error::is_unique_violation(&e, "users_username_key") {
            InsertUserError::UsernameTaken
        } else if crate::error::is_unique_violation(&e, "users_email_key") {
            InsertUserError::EmailTaken
        } else {
            InsertUserError::Db(e)
        }
    })
}

/// A user by username, or by e-mail when the login contains an `@` and no
/// user has that exact username.
pub async fn find_by_login(pool: &PgPool, login: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        "SELECT id, username, email, password_hash FROM users
         WHERE username = $1 OR (strpos($1, '@') > 0 AND lower(email) = lower($1))
         ORDER BY (username = $1) DESC
         LIMIT 1",
        login,
    )
    .fetch_optional(pool)
    .await
}

pub async fn find_by_id(pool: &PgPool, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        "SELECT id, username, email, password_hash FROM users WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await
}

pub async fn email_taken(pool: &PgPool, email: &str) -> Result<bool, sqlx::Error> {
    // `EXISTS` is never NULL; the `!` tells the macro so.
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1)) AS "taken!""#,
        email,
    )
    .fetch_one(pool)
    .await
}

pub async fn set_password_hash(pool: &PgPool, id: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        id,
        hash,
    )
    .execute(pool)
    .await
    .map(|_| ())
}
