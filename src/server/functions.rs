//! What server functions share: the application state and the caller,
//! found through the very extractors the REST routes use, so a server
//! function cannot check access differently from its route. Server only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use leptos::prelude::*;

use crate::errors::{ApiError, Outcome};
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

/// Gives the server function's HTTP answer `status` (a refusal answers
/// like its REST route: 400, 401, 403, 404, 409, 413, 429).
pub fn answer_with(status: axum::http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
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
