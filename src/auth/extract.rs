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
use crate::auth::session::token_streams_of;
use crate::integrations::tokens;
use crate::server::clock::now_ms;
use crate::store::accounts::SessionHash;

/// Someone receiving notifications: a signed-in user (session cookie) or
/// a host app's user holding a connection token (`Authorization: Bearer`,
/// or `access_token` in the query of `GET /api/events` only, since
/// EventSource cannot send headers). Used by the routes an embedded client
/// needs: the event stream and poll, the notification list and read
/// state, topic subscriptions.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user: User,
    pub access: Access,
}

/// How a [`Recipient`] proved who they are.
#[derive(Debug, Clone)]
pub enum Access {
    Session(CurrentUser),
    Token {
        integration: String,
        /// Unix ms.
        expires_at: i64,
        /// Topic grants (`post:123`, `post:*`).
        topics: Vec<String>,
    },
}

impl Recipient {
    /// Where this recipient's streams register, so that ending it ends
    /// them: the session, or the user's token streams.
    pub fn streams_key(&self) -> SessionHash {
        match &self.access {
            Access::Session(current) => current.session,
            Access::Token { .. } => token_streams_of(self.user.id),
        }
    }

    /// When the session or token ends (Unix ms).
    pub fn expires_at(&self) -> i64 {
        match &self.access {
            Access::Session(current) => current.session_expires_at,
            Access::Token { expires_at, .. } => *expires_at,
        }
    }

    /// The session, for recording activity.
    pub fn session(&self) -> Option<&SessionHash> {
        match &self.access {
            Access::Session(current) => Some(&current.session),
            Access::Token { .. } => None,
        }
    }

    /// The topic grants of a connection token (none for a session).
    pub fn grants(&self) -> &[String] {
        match &self.access {
            Access::Session(_) => &[],
            Access::Token { topics, .. } => topics,
        }
    }
}

/// The path whose query may carry a connection token.
const STREAM_PATH: &str = "/api/events";

fn query_token(parts: &Parts) -> Option<String> {
    if parts.uri.path() != STREAM_PATH {
        return None;
    }
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).ok()?;
    pairs
        .into_iter()
        .find(|(name, _)| name == "access_token")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The user behind a connection token, if the token is valid, names an
/// integration that allows `origin` (the calling page's, when another
/// site's) and a provisioned user who is enabled.
async fn token_recipient(
    state: &AppState,
    token: &str,
    origin: Option<&str>,
) -> Result<Recipient, AppError> {
    let name = tokens::integration_of(token)?;
    let keys = state.integration_keys.current(&state.store).await?;
    let key = keys.get(&name).ok_or_else(tokens::invalid)?;
    let verified = tokens::verify(
        token,
        &name,
        &key.secret,
        state.config.public_url.as_str(),
        now_ms() / 1000,
    )?;
    if let Some(origin) = origin
        && !key.origins.iter().any(|allowed| allowed == origin)
    {
        return Err(AppError::forbidden(
            "origin_not_allowed",
            "This page's origin is not allowed for the token's integration.",
        ));
    }
    let user = state
        .store
        .enabled_external_user(&verified.external_id)
        .await?
        .ok_or_else(tokens::invalid)?;
    Ok(Recipient {
        user,
        access: Access::Token {
            integration: name,
            expires_at: verified.expires_at.saturating_mul(1000),
            topics: verified.topics,
        },
    })
}

impl FromRequestParts<AppState> for Recipient {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = match bearer(parts) {
            Some(token) => Some(token?),
            None => query_token(parts),
        };
        if let Some(token) = token {
            if !crate::integrations::tokens::is_connection_token(&token) {
                return Err(AppError::Unauthorized);
            }
            let origin = parts
                .headers
                .get(axum::http::header::ORIGIN)
                .filter(|_| crate::auth::csrf::is_cross_site(&parts.headers, &state.config))
                .map(|origin| origin.to_str().unwrap_or("null").to_owned());
            return token_recipient(state, &token, origin.as_deref()).await;
        }
        let current = CurrentUser::from_request_parts(parts, state).await?;
        Ok(Self {
            user: current.user.clone(),
            access: Access::Session(current),
        })
    }
}

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
