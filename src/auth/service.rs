//! Account operations shared by the REST routes and the server functions:
//! one implementation, so both behave the same. Server only.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::Cookie;

use crate::auth::device::{self, Device};
use crate::auth::session::CurrentUser;
use crate::auth::session::{self, hash_secret};
use crate::model::user::{
    AccountChange, CreatedToken, DisplayName, MAX_TOKEN_PUBLISH_RATE, Password, Role, User,
    UserAccount, Username,
};
use crate::server::client_ip::ClientIp;
use crate::server::clock::now_ms;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::accounts::{CreateUser, SessionHash, TokenInfo};

const HOUR_MS: i64 = 3_600_000;
/// A session's `last_seen_at` is written at most this often (or every half
/// idle period, when that is shorter).
const TOUCH_EVERY_MS: i64 = 60_000;

fn hash_error(error: crate::auth::password::HashError) -> AppError {
    AppError::Internal(error.to_string())
}

/// The user of a session cookie, if the session is valid. Expired sessions
/// and those of disabled users are deleted (and their streams ended).
pub async fn authenticate_session(
    state: &AppState,
    cookie_value: &str,
) -> Result<Option<CurrentUser>, AppError> {
    let hash = hash_secret(cookie_value);
    let Some(record) = state.store.session(&hash).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let idle_ms = i64::from(state.config.session_idle_secs.get()) * 1000;
    if record.disabled || record.expires_at <= now || record.last_seen_at + idle_ms <= now {
        end_sessions(state, &[hash]).await?;
        return Ok(None);
    }
    if now - record.last_seen_at >= TOUCH_EVERY_MS.min(idle_ms / 2) {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Some(CurrentUser {
        user: record.user,
        session: hash,
        session_expires_at: record.expires_at,
    }))
}

/// Marks a session as in use by a long-lived stream, so that the idle limit
/// does not end a session whose user is watching the app.
pub async fn keep_session_alive(state: &AppState, session: &SessionHash) -> Result<(), AppError> {
    state.store.touch_session(session, now_ms()).await?;
    Ok(())
}

/// The API token with this secret, if it is live.
pub async fn authenticate_token(
    state: &AppState,
    secret: &str,
) -> Result<Option<TokenInfo>, AppError> {
    if !secret.starts_with(session::TOKEN_PREFIX) {
        return Ok(None);
    }
    Ok(state
        .store
        .use_token(&hash_secret(secret), now_ms())
        .await?)
}

async fn end_sessions(state: &AppState, sessions: &[SessionHash]) -> Result<(), AppError> {
    for hash in sessions {
        state.store.delete_session(hash).await?;
    }
    state.live_sessions.end(sessions);
    state.bus.sessions_ended(sessions);
    Ok(())
}

/// Starts a session for `user` and returns its cookie.
async fn start_session(state: &AppState, user: &User) -> Result<Cookie<'static>, AppError> {
    let new = session::new_session();
    let now = now_ms();
    let lifetime_ms = i64::from(state.config.session_absolute_secs.get()) * 1000;
    state
        .store
        .create_session(&new.hash, user.id, now, now + lifetime_ms)
        .await?;
    Ok(session::session_cookie(
        &state.config,
        new.cookie_value,
        lifetime_ms / 1000,
    ))
}

/// What a registration form or request carries.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Registration {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Where a sign-in or registration comes from: the client's address (after
/// `trusted_proxies`) and the browser's device cookie, if it has one.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: ClientIp,
    pub device: Option<Device>,
}

impl Origin {
    /// The origin of a request with these headers from `ip`.
    pub fn of(state: &AppState, ip: ClientIp, headers: &HeaderMap) -> Self {
        Self {
            ip,
            device: device::from_headers(headers, &state.config, &state.device_key),
        }
    }
}

/// A successful sign-in: the user, the cookies to set, and how many wrong
/// passwords were tried against the account since its last sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub cookies: Vec<Cookie<'static>>,
    pub failed_attempts: i64,
}

fn too_many(code: &'static str, message: &str, retry_after_secs: u64) -> AppError {
    AppError::RateLimited {
        code,
        message: message.to_owned(),
        retry_after_secs,
    }
}

/// Creates an account and signs it in. At most
/// `registrations_per_ip_per_hour` accounts per client address.
pub async fn register(
    state: &AppState,
    input: &Registration,
    origin: &Origin,
    previous: Option<&CurrentUser>,
) -> Result<SignedIn, AppError> {
    if !state.config.registration_open {
        return Err(AppError::forbidden(
            "registration_closed",
            "Registration is closed on this server.",
        ));
    }
    let username = Username::parse(&input.username)?;
    let password = Password::parse(&input.password, "password")?;
    let display_name = DisplayName::parse(input.display_name.as_deref(), &username)?;
    if state.store.user_exists(username.as_str()).await? {
        return Err(taken());
    }
    state
        .registration_limiter
        .check(&format!("ip:{}", origin.ip))
        .await
        .map_err(|retry| {
            too_many(
                "rate_limited",
                "Too many accounts were created from your network. Try again later.",
                retry,
            )
        })?;
    let hash = state.hasher.hash(&password).await.map_err(hash_error)?;
    let created = state
        .store
        .create_user(
            username.as_str(),
            display_name.as_str(),
            &hash,
            Role::User,
            now_ms(),
        )
        .await?;
    let user = match created {
        CreateUser::Created(user) => user,
        CreateUser::UsernameTaken => return Err(taken()),
    };
    if let Some(previous) = previous {
        end_sessions(state, &[previous.session]).await?;
    }
    let session = start_session(state, &user).await?;
    let device = device::cookie(&state.config, &state.device_key, user.id, None);
    tracing::info!(user = %user.username, "account created");
    Ok(SignedIn {
        user,
        cookies: vec![session, device],
        failed_attempts: 0,
    })
}

fn taken() -> AppError {
    AppError::Conflict {
        code: "username_taken",
        message: "That username is taken.".into(),
        field: Some("username"),
    }
}

/// What a login form or request carries.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

fn invalid_credentials() -> AppError {
    AppError::InvalidCredentials
}

/// The throttling scopes of a password check against `account` (a valid
/// name, known or not; `None` for names no account can have): a browser
/// that signed in to this account before is limited per device only;
/// anyone else per account and per client address.
fn scopes(
    state: &AppState,
    account: Option<(&Username, Option<i64>)>,
    origin: &Origin,
) -> Vec<(String, u32)> {
    let config = &state.config;
    let known_device = match (account, &origin.device) {
        (Some((_, Some(user_id))), Some(device)) if device.user_id == user_id => Some(device),
        _ => None,
    };
    if let Some(device) = known_device {
        return vec![(
            format!("device:{}", device.device_id),
            config.login_failures_per_device_per_hour.get(),
        )];
    }
    let mut scopes = vec![(
        format!("ip:{}", origin.ip),
        config.login_failures_per_ip_per_hour.get(),
    )];
    if let Some((name, _)) = account {
        // Only valid names are stored: at most 32 characters each.
        scopes.push((
            format!("user:{}", name.as_str()),
            config.login_failures_per_account_per_hour.get(),
        ));
    }
    scopes
}

/// Reserves one password check under `scopes`, or answers 429 with the
/// time until the oldest failure of a full scope ages out.
async fn reserve_check(
    state: &AppState,
    scopes: &[(String, u32)],
    now: i64,
) -> Result<Vec<i64>, AppError> {
    if let Some(ids) = state
        .store
        .reserve_login_attempt(scopes, now - HOUR_MS, now)
        .await?
    {
        return Ok(ids);
    }
    let mut retry_ms = 0;
    for (scope, limit) in scopes {
        let (failures, oldest) = state.store.login_failures(scope, now - HOUR_MS).await?;
        if failures >= *limit {
            retry_ms = retry_ms.max(oldest.map_or(HOUR_MS, |at| at + HOUR_MS - now));
        }
    }
    Err(too_many(
        "too_many_attempts",
        "Too many failed sign-in attempts. Try again later.",
        u64::try_from(retry_ms / 1000 + 1).unwrap_or(1),
    ))
}

/// Checks credentials and starts a new session (never reusing an old id).
/// Unknown users and wrong passwords get the same answer in about the same
/// time. Every password check is counted BEFORE it runs (and forgotten
/// when it succeeds), so the limits hold however many arrive at once.
pub async fn login(
    state: &AppState,
    input: &LoginRequest,
    origin: &Origin,
    previous: Option<&CurrentUser>,
) -> Result<SignedIn, AppError> {
    let now = now_ms();
    let username = Username::parse(&input.username).ok();
    let credentials = match &username {
        Some(username) => state.store.credentials(username.as_str()).await?,
        None => None,
    };
    let account = username
        .as_ref()
        .map(|name| (name, credentials.as_ref().map(|c| c.user.id)));
    let reserved = reserve_check(state, &scopes(state, account, origin), now).await?;

    let matches = state
        .hasher
        .verify(
            &input.password,
            credentials.as_ref().map(|c| c.password_hash.as_str()),
        )
        .await
        .map_err(hash_error)?;
    let credentials = match credentials {
        Some(credentials) if matches => credentials,
        Some(credentials) => {
            state.store.note_failed_sign_in(credentials.user.id).await?;
            return Err(invalid_credentials());
        }
        None => return Err(invalid_credentials()),
    };
    state.store.release_login_attempts(&reserved).await?;
    if credentials.disabled {
        return Err(AppError::forbidden(
            "account_disabled",
            "This account is disabled.",
        ));
    }
    if let Some(previous) = previous {
        end_sessions(state, &[previous.session]).await?;
    }
    let user = credentials.user;
    let session = start_session(state, &user).await?;
    let device = device::cookie(
        &state.config,
        &state.device_key,
        user.id,
        origin.device.as_ref(),
    );
    // The caller tells the owner (notifications::service::report_failed_sign_ins).
    let failed_attempts = state.store.take_failed_sign_ins(user.id).await?;
    tracing::info!(user = %user.username, failed_attempts, "signed in");
    Ok(SignedIn {
        user,
        cookies: vec![session, device],
        failed_attempts,
    })
}

/// Ends the session and closes its event streams.
pub async fn logout(state: &AppState, current: &CurrentUser) -> Result<(), AppError> {
    end_sessions(state, &[current.session]).await
}

/// What a password change carries.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the password, ends every session of the user (closing their
/// streams) and signs the caller in again with a new session. The current
/// password check goes through the sign-in throttle.
pub async fn change_password(
    state: &AppState,
    current: &CurrentUser,
    input: &PasswordChange,
    origin: &Origin,
) -> Result<Cookie<'static>, AppError> {
    let new_password = Password::parse(&input.new_password, "new_password")?;
    let name = Username::parse(&current.user.username)?;
    let scopes = scopes(state, Some((&name, Some(current.user.id))), origin);
    let reserved = reserve_check(state, &scopes, now_ms()).await?;
    let stored = state.store.password_hash(current.user.id).await?;
    let matches = state
        .hasher
        .verify(&input.current_password, stored.as_deref())
        .await
        .map_err(hash_error)?;
    if !matches {
        return Err(AppError::validation(
            "current_password",
            "The current password is wrong.",
        ));
    }
    state.store.release_login_attempts(&reserved).await?;
    let hash = state.hasher.hash(&new_password).await.map_err(hash_error)?;
    let ended = state
        .store
        .set_password(current.user.id, &hash, None)
        .await?;
    state.live_sessions.end(&ended);
    state.bus.sessions_ended(&ended);
    tracing::info!(user = %current.user.username, sessions = ended.len(), "password changed");
    start_session(state, &current.user).await
}

/// Why the configured admin could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum AdminBootstrapError {
    /// An account of that name exists with another password: it is not
    /// promoted (someone may have registered the name first).
    #[error("the existing account `{0}` has another password")]
    PasswordMismatch(String),
    #[error("{0}")]
    Failed(#[from] AppError),
}

impl From<crate::store::StoreError> for AdminBootstrapError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Failed(error.into())
    }
}

/// Creates the configured admin, or makes an existing user of that name
/// admin when its password is the configured one.
pub async fn ensure_admin(state: &AppState) -> Result<(), AdminBootstrapError> {
    let config = &state.config;
    if config.admin_username.is_empty() {
        return Ok(());
    }
    let username = Username::parse(&config.admin_username)
        .map_err(|e| AppError::Internal(format!("HERALD_ADMIN_USERNAME: {}", e.message)))?;
    let password = Password::parse(&config.admin_password, "password")
        .map_err(|e| AppError::Internal(format!("HERALD_ADMIN_PASSWORD: {}", e.message)))?;
    if let Some(existing) = state.store.credentials(username.as_str()).await? {
        let matches = state
            .hasher
            .verify(password.expose(), Some(&existing.password_hash))
            .await
            .map_err(hash_error)?;
        if !matches {
            return Err(AdminBootstrapError::PasswordMismatch(
                username.as_str().to_owned(),
            ));
        }
        if !existing.user.is_admin() {
            state.store.set_role(existing.user.id, Role::Admin).await?;
            tracing::warn!(admin = %username.as_str(), "existing account made admin (its password matches HERALD_ADMIN_PASSWORD)");
        }
        return Ok(());
    }
    let hash = state.hasher.hash(&password).await.map_err(hash_error)?;
    let created = state
        .store
        .ensure_admin(username.as_str(), &hash, now_ms())
        .await?;
    tracing::info!(admin = %username.as_str(), created, "admin account ensured");
    Ok(())
}

/// Applies `change` to user `id`. Admins cannot demote or disable
/// themselves, so an instance cannot lose its last way in by accident.
pub async fn update_account(
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
    change: &AccountChange,
) -> Result<UserAccount, AppError> {
    if id == admin.user.id && (change.role == Some(Role::User) || change.disabled == Some(true)) {
        return Err(AppError::Conflict {
            code: "self_change",
            message: "You cannot demote or disable your own account.".into(),
            field: None,
        });
    }
    if state.store.account(id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    if let Some(role) = change.role {
        state.store.set_role(id, role).await?;
        state.bus.tokens_changed();
    }
    if let Some(disabled) = change.disabled
        && let Some(mut ended) = state.store.set_disabled(id, disabled).await?
    {
        if disabled {
            // Streams opened with connection tokens end too.
            ended.push(session::token_streams_of(id));
        }
        state.live_sessions.end(&ended);
        state.bus.sessions_ended(&ended);
        state.bus.tokens_changed();
    }
    state.store.account(id).await?.ok_or(AppError::NotFound)
}

/// Creates an API token named `name`; its secret is in the answer only.
pub async fn create_token(
    state: &AppState,
    admin: &CurrentUser,
    name: &str,
    publish_rate_per_minute: Option<u32>,
) -> Result<CreatedToken, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "Name the token (1 to 100 characters).",
        ));
    }
    if publish_rate_per_minute.is_some_and(|rate| rate == 0 || rate > MAX_TOKEN_PUBLISH_RATE) {
        return Err(AppError::validation(
            "publish_rate_per_minute",
            format!(
                "publish_rate_per_minute must be 1 to {MAX_TOKEN_PUBLISH_RATE}, or left out for the server's default."
            ),
        ));
    }
    let (token, hash) = session::new_token();
    let info = state
        .store
        .create_token(name, &hash, &admin.user, publish_rate_per_minute, now_ms())
        .await?;
    tracing::info!(token = %info.name, by = %admin.user.username, "API token created");
    Ok(CreatedToken { info, token })
}

/// Revokes token `id` at once: its next request is refused.
pub async fn revoke_token(state: &AppState, admin: &CurrentUser, id: i64) -> Result<(), AppError> {
    if state.store.revoke_token(id, now_ms()).await? {
        state.bus.tokens_changed();
        tracing::info!(token = id, by = %admin.user.username, "API token revoked");
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Deletes expired sessions and aged-out login failures, every few minutes.
pub fn spawn_maintenance(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            let idle_ms = i64::from(state.config.session_idle_secs.get()) * 1000;
            if let Err(error) = state.store.prune_sessions(now, idle_ms).await {
                tracing::warn!(%error, "pruning sessions failed");
            }
            if let Err(error) = state.store.prune_login_failures(now - HOUR_MS).await {
                tracing::warn!(%error, "pruning login failures failed");
            }
        }
    });
}
