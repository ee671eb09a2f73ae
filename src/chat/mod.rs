//! Direct and group chat: the wire types and server functions (both
//! sides) and, on the server, the rules, routes and the "who is looking"
//! registry. Messages are stored events, so chat inherits exact replay.

pub mod api;

#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod typing;
#[cfg(feature = "ssr")]
pub mod viewers;
