//! Chat sessions and chat turns: the `/api/chat/*` routes.

pub mod provider_call;
pub mod routes;
pub mod stream;
pub mod turn;
