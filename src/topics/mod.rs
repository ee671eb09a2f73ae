//! Live topics: named latest values (a post's like count) that host apps
//! publish and open streams subscribe to. The wire types are in
//! `model::topic` (both sides); this module is the server's: the hub of
//! subscriptions per stream, the publish and subscription service, and the
//! REST routes. Server only (declared under `ssr` by the crate root).

pub mod hub;
pub mod routes;
pub mod service;
