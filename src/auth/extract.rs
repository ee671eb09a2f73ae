//! Extractors that make access checks impossible to forget: a handler that
//! takes `CurrentUser`, `AdminUser` or `Publisher` cannot run for anyone
//! else, and a handler with none of them stands out in review. Server
//! functions use the same types through `leptos_axum::extract_with_state`.
//! Server only.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;

use crate::auth::service;
use crate::auth::session::cookie_name;
use crate::model::user::User;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::accounts::TokenInfo;

pub use crate::auth::session::CurrentUser;

/// A signed-in user, or nobody. Never rejects.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// A signed-in admin. 401 when signed out, 403 for other users.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

/// Who may publish: an admin session or an API token (`Authorization: Bearer`).
#[derive(Debug, Clone)]
pub enum Publisher {
    Admin(User),
    Token(TokenInfo),
}

impl Publisher {
    /// Rate limits and logs key on this.
    pub fn key(&self) -> String {
        match self {
            Self::Admin(user) => format!("user:{}", user.id),
            Self::Token(token) => format!("token:{}", token.id),
        }
    }
}

fn session_cookie(parts: &Parts, state: &AppState) -> Option<String> {
    CookieJar::from_headers(&parts.headers)
        .get(cookie_name(&state.config))
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}

fn bearer(parts: &Parts) -> Option<Result<String, AppError>> {
    let value = parts.headers.get(AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Some(token.ok_or(AppError::Unauthorized))
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(found) = parts.extensions.get::<MaybeUser>() {
            return Ok(found.clone());
        }
        let found = match session_cookie(parts, state) {
            Some(value) => service::authenticate_session(state, &value).await?,
            None => None,
        };
        // Several extractors in one request look the session up once.
        let found = MaybeUser(found);
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(AppError::Unauthorized)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.user.is_admin() {
            Ok(Self(current))
        } else {
            Err(AppError::forbidden(
                "forbidden",
                "This needs an administrator.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Publisher {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(token) = bearer(parts) {
            return service::authenticate_token(state, &token?)
                .await?
                .map(Self::Token)
                .ok_or(AppError::Unauthorized);
        }
        let AdminUser(admin) = AdminUser::from_request_parts(parts, state).await?;
        Ok(Self::Admin(admin.user))
    }
}
