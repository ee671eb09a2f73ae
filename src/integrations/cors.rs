//! CORS for embedded clients: a page on an origin that some integration
//! lists may call the routes a browser client needs (the event stream and
//! poll, the notification list and read state, topic subscriptions) with a
//! connection token. No credentials are allowed: cookies never cross, the
//! token in the `Authorization` header (or the stream's query) is the only
//! proof, and it must belong to an integration that lists the calling
//! origin (checked by the `Recipient` extractor). Server only.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header, request::Parts};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::server::state::AppState;

/// Whether a browser on another origin may call `path`.
pub fn is_embeddable(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["api", "events"]
            | ["api", "events", "poll"]
            | ["api", "notifications"]
            | ["api", "notifications", "read-all"]
            | ["api", "notifications", _]
            | ["api", "notifications", _, "read"]
            | ["api", "topics", "subscriptions"]
    )
}

/// The layer: answers preflights and marks answers readable for the
/// listed origins, on the embeddable routes only.
pub fn layer(state: &AppState) -> CorsLayer {
    let state = state.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(
            move |origin: HeaderValue, parts: &Parts| {
                let state = state.clone();
                let embeddable = is_embeddable(parts.uri.path());
                async move {
                    let Ok(origin) = origin.to_str() else {
                        return false;
                    };
                    embeddable
                        && state
                            .integration_keys
                            .allows_origin(&state.store, origin)
                            .await
                }
            },
        ))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::is_embeddable;

    #[test]
    fn only_the_client_routes_are_embeddable() {
        for path in [
            "/api/events",
            "/api/events/poll",
            "/api/notifications",
            "/api/notifications/12/read",
            "/api/notifications/read-all",
            "/api/topics/subscriptions",
        ] {
            assert!(is_embeddable(path), "{path}");
        }
        for path in [
            "/api/tokens",
            "/api/auth/login",
            "/api/users/1",
            "/api/connection-tokens",
            "/",
        ] {
            assert!(!is_embeddable(path), "{path}");
        }
    }
}
