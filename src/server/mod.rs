//! The server side: configuration, state, HTTP routing, serving and
//! telemetry. Compiled only with the `ssr` feature.

pub mod assets;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod error;
pub mod functions;
pub mod openapi;
pub mod random;
pub mod rate_limit;
pub mod route;
pub mod router;
pub mod security;
pub mod serve;
pub mod state;
pub mod telemetry;
