//! What the embedding routes do: provision users by external id, manage
//! integrations, mint and check connection tokens. Server only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::auth::session::token_streams_of;
use crate::integrations::tokens;
use crate::model::integration::{
    ConnectionToken, ExternalId, ExternalUser, Integration, IntegrationName, WebOrigin,
};
use crate::model::topic::TopicName;
use crate::model::user::{DisplayName, Password, Username};
use crate::server::clock::now_ms;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::accounts::SessionHash;
use crate::store::integrations::{Provision, Provisioned};

/// Most origins one integration may list.
pub const MAX_ORIGINS: usize = 50;

/// Prefix of integration secrets, so leaked ones are easy to spot.
pub const SECRET_PREFIX: &str = "hsec_";

/// The fields of `PUT /api/external-users/{external_id}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

/// A username for a new provisioned user who was given none: stable for
/// the external id, and unlike any a person picks.
fn generated_username(external_id: &ExternalId) -> String {
    let digest = Sha256::digest(external_id.as_str().as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("ext-{hex}")
}

/// Ends every stream and session of `user_id` here and on the other
/// instances.
fn end_streams(state: &AppState, user_id: i64, mut ended: Vec<SessionHash>) {
    ended.push(token_streams_of(user_id));
    state.live_sessions.end(&ended);
    state.bus.sessions_ended(&ended);
    state.bus.tokens_changed();
}

/// Creates (`true`) or updates (`false`) the user with `external_id`.
pub async fn provision(
    state: &AppState,
    external_id: ExternalId,
    request: ProvisionRequest,
) -> Result<(ExternalUser, bool), AppError> {
    let username = request
        .username
        .as_deref()
        .map(Username::parse)
        .transpose()?;
    let password_hash = match request.password.as_deref() {
        Some(password) => {
            let password = Password::parse(password, "password")?;
            Some(
                state
                    .hasher
                    .hash(&password)
                    .await
                    .map_err(|e| AppError::Internal(e.to_string()))?,
            )
        }
        None => None,
    };
    let existing = state.store.external_user(&external_id).await?;
    // The name an empty display name falls back to.
    let effective = match (&username, &existing) {
        (Some(name), _) => name.clone(),
        (None, Some(user)) => Username::parse(&user.username)?,
        (None, None) => Username::parse(&generated_username(&external_id))?,
    };
    let display_name = match (request.display_name.as_deref(), &existing) {
        (Some(name), _) => Some(DisplayName::parse(Some(name), &effective)?),
        // A new user is shown by their external id, when that is a fine name.
        (None, None) => Some(
            DisplayName::parse(Some(external_id.as_str()), &effective)
                .or_else(|_| DisplayName::parse(None, &effective))?,
        ),
        (None, Some(_)) => None,
    };
    let provision = Provision {
        username: if existing.is_none() {
            Some(effective.as_str().to_owned())
        } else {
            username.map(|name| name.as_str().to_owned())
        },
        display_name: display_name.map(|name| name.as_str().to_owned()),
        external_id,
        password_hash,
        disabled: request.disabled,
    };
    match state.store.provision_user(provision, now_ms()).await? {
        Provisioned::Created(user) => Ok((user, true)),
        Provisioned::Updated { user, ended } => {
            if user.disabled {
                end_streams(state, user.id, ended);
            } else if !ended.is_empty() {
                // A new password: signed-in sessions end, token streams stay.
                state.live_sessions.end(&ended);
                state.bus.sessions_ended(&ended);
            }
            Ok((user, false))
        }
        Provisioned::UsernameTaken => Err(AppError::Conflict {
            code: "username_taken",
            message: "That username is taken.".into(),
            field: Some("username"),
        }),
    }
}

/// Deletes the user with `external_id` and all that is theirs, and ends
/// their streams.
pub async fn delete_user(state: &AppState, external_id: &ExternalId) -> Result<(), AppError> {
    let (user_id, ended) = state
        .store
        .delete_external_user(external_id)
        .await?
        .ok_or(AppError::NotFound)?;
    end_streams(state, user_id, ended);
    Ok(())
}

/// A new integration secret: 256 random bits, prefixed. The HMAC key is
/// the secret's text itself, as JWT libraries take it.
fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(crate::server::random::bytes::<32>())
    )
}

/// The fields of `POST /api/integrations` and `PATCH
/// /api/integrations/{name}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    #[serde(default)]
    pub rotate_secret: bool,
}

fn parse_origins(origins: &[String]) -> Result<Vec<WebOrigin>, AppError> {
    if origins.len() > MAX_ORIGINS {
        return Err(AppError::validation(
            "origins",
            format!("List at most {MAX_ORIGINS} origins."),
        ));
    }
    let mut parsed = origins
        .iter()
        .map(|origin| WebOrigin::parse(origin))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    parsed.dedup();
    Ok(parsed)
}

/// Creates an integration; its secret is in the answer only.
pub async fn create_integration(
    state: &AppState,
    request: IntegrationRequest,
) -> Result<Integration, AppError> {
    let name = IntegrationName::parse(request.name.as_deref().unwrap_or_default())?;
    let origins = parse_origins(request.origins.as_deref().unwrap_or_default())?;
    let secret = new_secret();
    let mut created = state
        .store
        .create_integration(&name, secret.as_bytes(), &origins, now_ms())
        .await?
        .ok_or_else(|| AppError::Conflict {
            code: "name_taken",
            message: "An integration with this name exists.".into(),
            field: Some("name"),
        })?;
    integrations_changed(state);
    created.secret = Some(secret);
    Ok(created)
}

/// Changes an integration's origins and, on request, its secret (then in
/// the answer; tokens signed with the old one stop working).
pub async fn update_integration(
    state: &AppState,
    name: &IntegrationName,
    request: IntegrationRequest,
) -> Result<Integration, AppError> {
    if request.name.is_some() {
        return Err(AppError::validation(
            "name",
            "An integration cannot be renamed; create another.",
        ));
    }
    let origins = request.origins.as_deref().map(parse_origins).transpose()?;
    let secret = request.rotate_secret.then(new_secret);
    let mut updated = state
        .store
        .update_integration(
            name,
            origins.as_deref(),
            secret.as_deref().map(str::as_bytes),
        )
        .await?
        .ok_or(AppError::NotFound)?;
    integrations_changed(state);
    updated.secret = secret;
    Ok(updated)
}

/// Deletes an integration: its tokens stop working at once.
pub async fn delete_integration(state: &AppState, name: &IntegrationName) -> Result<(), AppError> {
    if !state.store.delete_integration(name).await? {
        return Err(AppError::NotFound);
    }
    integrations_changed(state);
    Ok(())
}

fn integrations_changed(state: &AppState) {
    state.integration_keys.forget();
    // The other instances reload theirs on the same signal.
    state.bus.tokens_changed();
}

/// The fields of `POST /api/connection-tokens`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub integration: String,
    pub external_id: String,
    pub ttl_secs: Option<i64>,
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Default lifetime of a minted token, in seconds.
pub const DEFAULT_TTL_SECS: i64 = 3600;

/// Checks a topic grant: a topic, or a prefix of one ending in `*`.
pub fn parse_grant(grant: &str) -> Result<String, AppError> {
    let bad = || {
        AppError::validation(
            "topics",
            format!("{grant:?} is not a topic (post:123) or a prefix ending in * (post:*)."),
        )
    };
    match grant.strip_suffix('*') {
        Some("") => Ok(grant.to_owned()),
        Some(prefix) => {
            // A prefix is valid when some topic starting with it is.
            let probe = if prefix.contains(':') {
                format!("{prefix}x")
            } else {
                format!("{prefix}:x")
            };
            TopicName::parse(&probe).map_err(|_| bad())?;
            Ok(grant.to_owned())
        }
        None => TopicName::parse(grant)
            .map(|_| grant.to_owned())
            .map_err(|_| bad()),
    }
}

/// Signs a connection token for a provisioned user.
pub async fn mint(state: &AppState, request: MintRequest) -> Result<ConnectionToken, AppError> {
    let name = IntegrationName::parse(&request.integration)
        .map_err(|e| AppError::validation("integration", e.message))?;
    let external_id = ExternalId::parse(&request.external_id)?;
    let ttl = request.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(60..=tokens::MAX_TTL_SECS).contains(&ttl) {
        return Err(AppError::validation(
            "ttl_secs",
            format!("ttl_secs must be 60 to {}.", tokens::MAX_TTL_SECS),
        ));
    }
    if request.topics.len() > tokens::MAX_GRANTS {
        return Err(AppError::validation(
            "topics",
            format!("Grant at most {} topics.", tokens::MAX_GRANTS),
        ));
    }
    let grants = request
        .topics
        .iter()
        .map(|grant| parse_grant(grant))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = state.integration_keys.current(&state.store).await?;
    let key = keys
        .get(name.as_str())
        .ok_or_else(|| AppError::validation("integration", "No integration has this name."))?;
    let user = state.store.external_user(&external_id).await?;
    if user.is_none_or(|user| user.disabled) {
        return Err(AppError::validation(
            "external_id",
            "No enabled provisioned user has this external id.",
        ));
    }
    let now = now_ms() / 1000;
    let expires_at = now + ttl;
    let token = tokens::sign(
        name.as_str(),
        &key.secret,
        state.config.public_url.as_str(),
        external_id.as_str(),
        now,
        expires_at,
        &grants,
    );
    Ok(ConnectionToken {
        token,
        expires_at: chrono::DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_topics_or_prefixes() {
        assert!(parse_grant("post:123").is_ok());
        assert!(parse_grant("post:*").is_ok());
        assert!(parse_grant("post*").is_ok());
        assert!(parse_grant("*").is_ok());
        assert!(parse_grant("Post:*").is_err());
        assert!(parse_grant("post").is_err());
        assert!(parse_grant("a b:*").is_err());
    }

    #[test]
    fn generated_usernames_are_valid_and_stable() {
        let id = ExternalId::parse("User|42").unwrap();
        let name = generated_username(&id);
        assert_eq!(name, generated_username(&id));
        assert!(Username::parse(&name).is_ok());
    }
}
