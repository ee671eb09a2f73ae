//! The type of one REST route, in a module of its own: every domain's
//! `routes.rs` builds a list of them and the router collects the lists, so
//! neither imports the other. Server only.

use axum::http::Method;
use axum::routing::MethodRouter;

use crate::server::state::AppState;

/// One REST route: method, path and handler. Every API route is declared
/// through this list so that tests can walk all of them (for example to
/// check that each state-changing route refuses cross-site requests).
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

impl ApiRoute {
    /// A route entry.
    pub fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}
