//! Refuses cross-site state-changing requests (403 `cross_site`), with or
//! without a cookie: a cross-site form that signs a logged-out visitor in
//! to the attacker's account (login CSRF) is refused like one that acts
//! with the visitor's session. A request authenticated only by an
//! `Authorization` header (an integrator's token, no cookie) is not a
//! browser acting for someone and passes. Applied as a layer to the whole
//! router, so every REST route and server function is covered, including
//! ones added later. Server only.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::config::Config;
use crate::server::error::AppError;
use crate::server::state::AppState;

/// Middleware: see the module docs.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let token_only = request.headers().contains_key(header::AUTHORIZATION)
        && !request.headers().contains_key(header::COOKIE);
    if changes_state && !token_only && is_cross_site(request.headers(), &state.config) {
        tracing::info!(method = %request.method(), path = request.uri().path(), "cross-site request refused");
        return AppError::CrossSite.into_response();
    }
    next.run(request).await
}

/// Whether the browser says the request comes from another site. Requests
/// without either header (non-browser clients) are not cross-site.
pub fn is_cross_site(headers: &HeaderMap, config: &Config) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // "none": the user typed the address or used a bookmark.
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return true;
        }
    }
    match headers.get(header::ORIGIN) {
        None => false,
        Some(origin) => {
            let Ok(origin) = origin.to_str() else {
                return true;
            };
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let same_as_host = host.is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            });
            !(same_as_host || origin == config.public_url.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_passes_and_other_sites_do_not() {
        let config = Config::default();
        let h = |p| is_cross_site(&headers(p), &config);
        assert!(!h(&[]));
        assert!(!h(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(!h(&[
            ("host", "herald.local"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(!h(&[("sec-fetch-site", "same-origin")]));
        assert!(!h(&[("sec-fetch-site", "none")]));
        assert!(h(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.example")
        ]));
        assert!(h(&[("host", "127.0.0.1:3000"), ("origin", "null")]));
        assert!(h(&[("sec-fetch-site", "cross-site")]));
        assert!(h(&[("sec-fetch-site", "same-site")]));
        assert!(h(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
            ("sec-fetch-site", "cross-site")
        ]));
    }
}
