//! What server functions share: the application state and the caller,
//! found through the very extractors the REST routes use, so a server
//! function cannot check access differently from its route. Server only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use leptos::prelude::*;

use crate::model::error::{ApiError, Outcome};
use crate::server::error::AppError;
use crate::server::state::AppState;

/// The application state (provided to every server function by the router).
pub fn state() -> AppState {
    expect_context::<AppState>()
}

/// Runs extractor `T` (`CurrentUser`, `AdminUser`, ...) on the current
/// request, keeping its rejection (401, 403) as it is.
pub async fn extract<T>(state: &AppState) -> Result<T, AppError>
where
    T: FromRequestParts<AppState, Rejection = AppError>,
{
    let mut parts = use_context::<Parts>()
        .ok_or_else(|| AppError::Internal("server function without request parts".into()))?;
    T::from_request_parts(&mut parts, state).await
}

/// Middleware: a server function whose arguments could not be read
/// answers 400, as a REST route would. (server_fn answers every error it
/// raises itself with 500; the `validation` code in the body, set where the
/// error is converted, tells this one apart.)
pub async fn malformed_arguments_are_400(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;

    let response = next.run(request).await;
    let failed_server_fn = response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response
            .headers()
            .contains_key(leptos::server_fn::error::SERVER_FN_ERROR_HEADER);
    if !failed_server_fn {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error bodies are a few hundred bytes.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return AppError::Internal("unreadable server function error".into()).into_response();
    };
    let is_validation =
        serde_json::from_slice::<ApiError>(&bytes).is_ok_and(|error| error.code == "validation");
    if is_validation {
        parts.status = StatusCode::BAD_REQUEST;
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Splits a service result into an expected refusal (`Ok(Err)`, shown next
/// to the form) and a failure (`Err`).
pub fn outcome<T>(result: Result<T, AppError>) -> Result<Outcome<T>, ApiError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error @ AppError::Internal(_)) => Err(error.into()),
        Err(refusal) => Ok(Err(refusal.to_api_error())),
    }
}
