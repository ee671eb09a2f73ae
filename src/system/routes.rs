//! `GET /api/status` (admins) and `GET /metrics` (admins, API tokens, or
//! a direct loopback connection when `metrics_allow_loopback` is on).
//! Server only.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::extract::{AdminUser, Publisher};
use crate::model::status::StatusReport;
use crate::server::error::AppError;
use crate::server::route::ApiRoute;
use crate::server::state::AppState;
use crate::system::status;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/status", get(status_json))
            .summary("Delivery health, counters and history (admins, API tokens)"),
        ApiRoute::new(Method::GET, "/metrics", get(metrics_text))
            .summary("Prometheus metrics (admins, API tokens)"),
    ]
}

async fn status_json(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<StatusReport>, AppError> {
    Ok(Json(status::report(&state).await?))
}

/// Headers a reverse proxy adds. A request carrying one came through a
/// proxy, so its loopback address says nothing about the real client.
const PROXY_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-for", "x-real-ip", "via"];

fn direct_loopback(peer: SocketAddr, headers: &HeaderMap) -> bool {
    peer.ip().is_loopback() && !PROXY_HEADERS.iter().any(|name| headers.contains_key(*name))
}

/// Allowed to scrape: an admin session or an API token, or, when
/// `metrics_allow_loopback` is on, a direct local connection (a Prometheus
/// agent on the host).
struct Scraper;

impl FromRequestParts<AppState> for Scraper {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        // Opt-in: behind a default reverse proxy on the same host, every
        // request arrives from loopback.
        if state.config.metrics_allow_loopback
            && peer.is_some_and(|peer| direct_loopback(peer, &parts.headers))
        {
            return Ok(Self);
        }
        Publisher::from_request_parts(parts, state).await?;
        Ok(Self)
    }
}

async fn metrics_text(
    State(state): State<AppState>,
    _scraper: Scraper,
) -> Result<Response, AppError> {
    let text = status::prometheus(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_loopback_connections_skip_authentication() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        assert!(direct_loopback(local, &HeaderMap::new()));
        assert!(!direct_loopback(local, &proxied));
        assert!(!direct_loopback(remote, &HeaderMap::new()));
        assert!(direct_loopback(
            "[::1]:80".parse().unwrap(),
            &HeaderMap::new()
        ));
    }
}
