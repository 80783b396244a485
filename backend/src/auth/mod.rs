//! Authentication: password hashing, tokens, the current-user extractor and
//! the `/api/auth/*` routes.

pub mod current_user;
pub mod password;
pub mod routes;
pub mod tokens;
pub mod validate;

#[cfg(test)]
mod fuzz;

pub use current_user::{AuthVia, ClientIp, CurrentUser};
