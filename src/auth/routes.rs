//! REST routes of "Accounts" in API.md, plus user and token administration.
//! Server only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;
use serde_json::json;

use crate::auth::extract::{AdminUser, CurrentUser, MaybeUser, Publisher};
use crate::auth::service::{self, LoginRequest, Origin, PasswordChange, Registration};
use crate::auth::session;
use crate::model::user::AccountChange;
use crate::server::client_ip::ClientIp;
use crate::server::error::{ApiJson, ApiQuery, AppError, parse_id};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::POST, "/api/auth/register", post(register))
            .summary("Create an account and sign in (session cookie)")
            .status(StatusCode::CREATED),
        ApiRoute::new(Method::POST, "/api/auth/login", post(login))
            .summary("Sign in (session cookie)")
            .answers::<crate::model::user::User>(StatusCode::OK),
        ApiRoute::new(Method::POST, "/api/auth/logout", post(logout))
            .summary("Sign out; ends the session's streams")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/auth/me", get(me)).summary("The signed-in user"),
        ApiRoute::new(Method::POST, "/api/auth/password", post(change_password))
            .summary("Change the password; ends the other sessions")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/users", get(list_users)).summary("Users, for admins"),
        ApiRoute::new(Method::PATCH, "/api/users/{id}", patch(update_user))
            .summary("Change a user's role or disable them (admins)")
            .answers::<crate::model::user::UserAccount>(StatusCode::OK),
        ApiRoute::new(Method::GET, "/api/tokens", get(list_tokens)).summary("API tokens (admins)"),
        ApiRoute::new(Method::POST, "/api/tokens", post(create_token))
            .summary("Create an API token; its secret is in this answer only (admins)")
            .answers::<crate::model::user::CreatedToken>(StatusCode::CREATED),
        ApiRoute::new(Method::GET, "/api/tokens/current", get(current_token))
            .summary("The API token making the request")
            .answers::<crate::model::user::TokenInfo>(StatusCode::OK),
        ApiRoute::new(Method::DELETE, "/api/tokens/{id}", delete(revoke_token))
            .summary("Revoke an API token (admins)")
            .status(StatusCode::NO_CONTENT),
    ]
}

fn with_cookies(mut jar: CookieJar, cookies: Vec<Cookie<'static>>) -> CookieJar {
    for cookie in cookies {
        jar = jar.add(cookie);
    }
    jar
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    MaybeUser(previous): MaybeUser,
    jar: CookieJar,
    ApiJson(input): ApiJson<Registration>,
) -> Result<Response, AppError> {
    let origin = Origin::of(&state, ip, &headers);
    let signed_in = service::register(&state, &input, &origin, previous.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        with_cookies(jar, signed_in.cookies),
        Json(json!({ "user": signed_in.user })),
    )
        .into_response())
}

/// Besides `user`: `failed_attempts`, the wrong passwords tried against the
/// account since its last sign-in.
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    MaybeUser(previous): MaybeUser,
    jar: CookieJar,
    ApiJson(input): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    let origin = Origin::of(&state, ip, &headers);
    let signed_in = service::login(&state, &input, &origin, previous.as_ref()).await?;
    crate::notifications::service::report_failed_sign_ins(
        &state,
        &signed_in.user,
        signed_in.failed_attempts,
    )
    .await;
    Ok((
        with_cookies(jar, signed_in.cookies),
        Json(json!({ "user": signed_in.user, "failed_attempts": signed_in.failed_attempts })),
    )
        .into_response())
}

async fn logout(
    State(state): State<AppState>,
    MaybeUser(current): MaybeUser,
    jar: CookieJar,
) -> Result<Response, AppError> {
    // Signing out twice is not an error: the goal, no session, is reached.
    if let Some(current) = current {
        service::logout(&state, &current).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        jar.add(session::removal_cookie(&state.config)),
    )
        .into_response())
}

async fn me(current: CurrentUser) -> Json<serde_json::Value> {
    Json(json!({ "user": current.user }))
}

async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    current: CurrentUser,
    jar: CookieJar,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<Response, AppError> {
    let origin = Origin::of(&state, ip, &headers);
    let cookie = service::change_password(&state, &current, &input, &origin).await?;
    Ok((StatusCode::NO_CONTENT, jar.add(cookie)).into_response())
}

#[derive(Debug, Deserialize)]
struct UserQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let users = state
        .store
        .list_accounts(query.q.trim(), limit, query.offset.unwrap_or(0))
        .await?;
    Ok(Json(json!({ "users": users })))
}

async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<AccountChange>,
) -> Result<Json<serde_json::Value>, AppError> {
    let account = service::update_account(&state, &admin, parse_id(&id)?, &change).await?;
    Ok(Json(json!({ "user": account })))
}

async fn list_tokens(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(json!({ "tokens": state.store.list_tokens().await? })))
}

#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
    #[serde(default)]
    publish_rate_per_minute: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(input): ApiJson<NewToken>,
) -> Result<Response, AppError> {
    let created =
        service::create_token(&state, &admin, &input.name, input.publish_rate_per_minute).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// For integrators: which token is this? 401 when it is not a live token.
async fn current_token(publisher: Publisher) -> Result<Json<serde_json::Value>, AppError> {
    match publisher {
        Publisher::Token(token) => Ok(Json(json!({ "token": token }))),
        Publisher::Admin(_) => Err(AppError::validation(
            "authorization",
            "Send an API token as Authorization: Bearer <token>.",
        )),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::revoke_token(&state, &admin, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
