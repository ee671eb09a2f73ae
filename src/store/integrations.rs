//! Users provisioned by a host app's own id, and integrations (connection
//! token secrets and browser origins). Server only.

use super::accounts::{SessionHash, delete_sessions_of, millis_to_time, user_from};
use super::rows::{Columns, Row, args};
use super::{Store, StoreError};
use crate::model::integration::{
    ExternalId, ExternalUser, Integration, IntegrationName, WebOrigin,
};
use crate::model::user::User;

/// A provisioned user's fields, validated.
#[derive(Debug, Clone)]
pub struct Provision {
    pub external_id: ExternalId,
    /// Taken by a new user; for an existing one, `None` keeps the name.
    pub username: Option<String>,
    pub display_name: Option<String>,
    /// An argon2 hash: set a password (the user may then sign in).
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

/// What provisioning did.
#[derive(Debug)]
pub enum Provisioned {
    Created(ExternalUser),
    Updated {
        user: ExternalUser,
        /// Sessions ended (the user was disabled or got a new password).
        ended: Vec<SessionHash>,
    },
    UsernameTaken,
}

/// An integration's signing key and origins, for checking its tokens.
#[derive(Debug, Clone)]
pub struct IntegrationKey {
    pub name: String,
    pub secret: Vec<u8>,
    pub origins: Vec<String>,
}

const EXTERNAL_COLUMNS: &str = "id, external_id, username, display_name, password_hash != '' AS has_password, disabled, created_at";

fn external_user_from(row: &Row<'_>) -> Result<ExternalUser, StoreError> {
    Ok(ExternalUser {
        id: row.value("id")?,
        external_id: row.value("external_id")?,
        username: row.value("username")?,
        display_name: row.value("display_name")?,
        has_password: row.value("has_password")?,
        disabled: row.value("disabled")?,
        created_at: millis_to_time(row.value("created_at")?),
    })
}

fn origins_from(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("origins: {e}")))
}

fn integration_from(row: &Row<'_>) -> Result<Integration, StoreError> {
    Ok(Integration {
        name: row.value("name")?,
        origins: origins_from(&row.value::<String>("origins")?)?,
        created_at: millis_to_time(row.value("created_at")?),
        secret: None,
    })
}

fn is_unique_violation(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
            e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        }
        _ => false,
    }
}

impl Store {
    /// Creates or updates the user with `provision.external_id`.
    pub async fn provision_user(
        &self,
        provision: Provision,
        now: i64,
    ) -> Result<Provisioned, StoreError> {
        let result = self
            .write(move |tx| {
                let select = format!("SELECT {EXTERNAL_COLUMNS} FROM users WHERE external_id = $1");
                let external_id = provision.external_id.as_str();
                let existing = tx.opt(&select, &args![external_id], external_user_from)?;
                let Some(existing) = existing else {
                    let username = provision.username.clone().unwrap_or_default();
                    let display_name = provision
                        .display_name
                        .clone()
                        .unwrap_or_else(|| username.clone());
                    let hash = provision.password_hash.clone().unwrap_or_default();
                    tx.exec(
                        "INSERT INTO users (username, display_name, password_hash, role, disabled, created_at, external_id)
                         VALUES ($1, $2, $3, 'user', $4, $5, $6)",
                        &args![
                            &username,
                            &display_name,
                            &hash,
                            provision.disabled.unwrap_or(false),
                            now,
                            external_id
                        ],
                    )?;
                    let user = tx.one(&select, &args![external_id], external_user_from)?;
                    return Ok(Provisioned::Created(user));
                };
                if let Some(username) = &provision.username {
                    tx.exec(
                        "UPDATE users SET username = $1 WHERE id = $2",
                        &args![username, existing.id],
                    )?;
                }
                if let Some(display_name) = &provision.display_name {
                    tx.exec(
                        "UPDATE users SET display_name = $1 WHERE id = $2",
                        &args![display_name, existing.id],
                    )?;
                }
                let mut ended = Vec::new();
                if let Some(hash) = &provision.password_hash {
                    tx.exec(
                        "UPDATE users SET password_hash = $1 WHERE id = $2",
                        &args![hash, existing.id],
                    )?;
                    ended = delete_sessions_of(tx, existing.id, None)?;
                }
                if let Some(disabled) = provision.disabled {
                    tx.exec(
                        "UPDATE users SET disabled = $1 WHERE id = $2",
                        &args![disabled, existing.id],
                    )?;
                    if disabled {
                        ended.extend(delete_sessions_of(tx, existing.id, None)?);
                    }
                }
                let user = tx.one(&select, &args![external_id], external_user_from)?;
                Ok(Provisioned::Updated { user, ended })
            })
            .await;
        match result {
            Err(error) if is_unique_violation(&error) => Ok(Provisioned::UsernameTaken),
            other => {
                self.tokens.forget_all();
                other
            }
        }
    }

    /// The provisioned user with `external_id`.
    pub async fn external_user(
        &self,
        external_id: &ExternalId,
    ) -> Result<Option<ExternalUser>, StoreError> {
        self.pool
            .opt(
                &format!("SELECT {EXTERNAL_COLUMNS} FROM users WHERE external_id = $1"),
                &args![external_id.as_str()],
                external_user_from,
            )
            .await
    }

    /// The enabled user with `external_id`, as streams see users.
    pub async fn enabled_external_user(
        &self,
        external_id: &str,
    ) -> Result<Option<User>, StoreError> {
        self.pool
            .opt(
                "SELECT id, username, display_name, role FROM users
                 WHERE external_id = $1 AND NOT disabled",
                &args![external_id],
                user_from,
            )
            .await
    }

    /// Deletes the provisioned user with `external_id` and everything that
    /// is theirs (notifications, events, messages, memberships, devices).
    /// Returns the user's id and ended sessions, or `None` when absent.
    pub async fn delete_external_user(
        &self,
        external_id: &ExternalId,
    ) -> Result<Option<(i64, Vec<SessionHash>)>, StoreError> {
        let external_id = external_id.as_str().to_owned();
        let deleted = self
            .write(move |tx| {
                let id: Option<i64> = tx.scalar(
                    "SELECT id FROM users WHERE external_id = $1",
                    &args![&external_id],
                )?;
                let Some(id) = id else { return Ok(None) };
                let ended = delete_sessions_of(tx, id, None)?;
                tx.exec("DELETE FROM users WHERE id = $1", &args![id])?;
                Ok(Some((id, ended)))
            })
            .await?;
        self.tokens.forget_all();
        Ok(deleted)
    }

    /// The enabled users of these external ids, in the same order, and
    /// the ids that match none.
    pub async fn external_user_ids(
        &self,
        external_ids: &[String],
    ) -> Result<(Vec<i64>, Vec<String>), StoreError> {
        let mut ids = Vec::with_capacity(external_ids.len());
        let mut unknown = Vec::new();
        for chunk in external_ids.chunks(500) {
            let list =
                serde_json::to_string(chunk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let sql = self.pool.backend().pick(
                "SELECT external_id, id FROM users WHERE NOT disabled
                 AND external_id IN (SELECT value FROM json_each($1))",
                "SELECT external_id, id FROM users WHERE NOT disabled
                 AND external_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
            );
            let found: std::collections::HashMap<String, i64> = self
                .pool
                .all(sql, &args![&list], |row| Ok((row.at(0)?, row.at(1)?)))
                .await?
                .into_iter()
                .collect();
            for external_id in chunk {
                match found.get(external_id) {
                    Some(id) => ids.push(*id),
                    None => unknown.push(external_id.clone()),
                }
            }
        }
        Ok((ids, unknown))
    }

    /// Creates integration `name`; `None` when the name is taken.
    pub async fn create_integration(
        &self,
        name: &IntegrationName,
        secret: &[u8],
        origins: &[WebOrigin],
        now: i64,
    ) -> Result<Option<Integration>, StoreError> {
        let origins: Vec<&str> = origins.iter().map(WebOrigin::as_str).collect();
        let origins =
            serde_json::to_string(&origins).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let created = self
            .pool
            .opt(
                "INSERT INTO integrations (name, secret, origins, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING RETURNING name, origins, created_at",
                &args![name.as_str(), secret, &origins, now],
                integration_from,
            )
            .await?;
        Ok(created)
    }

    /// Every integration, by name (without secrets).
    pub async fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.pool
            .all(
                "SELECT name, origins, created_at FROM integrations ORDER BY name",
                &[],
                integration_from,
            )
            .await
    }

    /// Changes an integration's origins and, with `secret`, its key.
    /// `None` when there is no such integration.
    pub async fn update_integration(
        &self,
        name: &IntegrationName,
        origins: Option<&[WebOrigin]>,
        secret: Option<&[u8]>,
    ) -> Result<Option<Integration>, StoreError> {
        if let Some(origins) = origins {
            let origins: Vec<&str> = origins.iter().map(WebOrigin::as_str).collect();
            let origins =
                serde_json::to_string(&origins).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.pool
                .exec(
                    "UPDATE integrations SET origins = $1 WHERE name = $2",
                    &args![&origins, name.as_str()],
                )
                .await?;
        }
        if let Some(secret) = secret {
            self.pool
                .exec(
                    "UPDATE integrations SET secret = $1 WHERE name = $2",
                    &args![secret, name.as_str()],
                )
                .await?;
        }
        self.pool
            .opt(
                "SELECT name, origins, created_at FROM integrations WHERE name = $1",
                &args![name.as_str()],
                integration_from,
            )
            .await
    }

    /// Deletes integration `name`; false when absent.
    pub async fn delete_integration(&self, name: &IntegrationName) -> Result<bool, StoreError> {
        Ok(self
            .pool
            .exec(
                "DELETE FROM integrations WHERE name = $1",
                &args![name.as_str()],
            )
            .await?
            > 0)
    }

    /// Every integration's key and origins.
    pub async fn integration_keys(&self) -> Result<Vec<IntegrationKey>, StoreError> {
        self.pool
            .all(
                "SELECT name, secret, origins FROM integrations",
                &[],
                |row| {
                    Ok(IntegrationKey {
                        name: row.value("name")?,
                        secret: row.value("secret")?,
                        origins: origins_from(&row.value::<String>("origins")?)?,
                    })
                },
            )
            .await
    }
}
