//! Cross-cutting HTTP concerns: middleware and the operational routes.

pub mod middleware;
pub mod openapi;
pub mod ops;
