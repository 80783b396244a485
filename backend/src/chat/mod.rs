//! Chat sessions and chat turns: the `/api/chat/*` routes.

pub mod routes;
pub mod stream;
pub mod turn;
