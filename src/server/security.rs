//! Response and request rules every route shares: the Content-Security-
//! Policy of HTML pages (with the per-response nonce Leptos puts on its
//! inline scripts), `Cache-Control: no-store` on pages and JSON (they carry
//! a user's data; shared caches and the back button must not keep them),
//! the request-body deadline, and the panic catcher. Server only.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::server::error::AppError;
use crate::server::state::AppState;

/// Sets the page's Content-Security-Policy header. Called while the shell
/// renders, where Leptos' nonce for this response is known; without one
/// (no server rendering context) nothing is set.
pub fn content_security_policy() {
    use leptos::prelude::use_context;

    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    // Notifications' POST actions may call these origins from the page.
    let action_origins: String = use_context::<crate::server::state::AppState>()
        .map(|state| {
            state
                .config
                .action_origins
                .iter()
                .map(|origin| format!(" {origin}"))
                .collect()
        })
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'{action_origins}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        &*nonce
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Middleware: HTML and JSON answers that say nothing about caching get
/// `Cache-Control: no-store`.
pub async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers();
    let personal = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html") || t.starts_with("application/json"));
    if personal && !headers.contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Middleware: a request body must arrive whole within
/// `body_read_timeout_secs` of the request's headers. A body still
/// arriving then fails the read, and the client gets 408 and a closed
/// connection instead of holding a worker and a socket indefinitely.
pub async fn body_deadline(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Most requests (page loads, event streams) have no body: no timer.
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let limit = Duration::from_secs(state.config.body_read_timeout_secs.get());
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
        expired: expired.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if expired.load(Ordering::Relaxed) {
        tracing::info!("request body too slow: 408");
        let mut response = AppError::RequestTimeout.into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

/// The body's deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a panic in a handler answers: a logged 500 in API.md's shape (the
/// connection stays usable), never a reset.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::Internal(format!("a request handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_generic_500() {
        async fn boom() -> &'static str {
            let text = "é";
            // Slicing inside a character panics, as the url check once did.
            &text[..1]
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("byte index"), "{body}");
    }
}
