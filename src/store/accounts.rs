//! Users, sessions, API tokens and login failures. Server only.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::rows::Columns;
use super::{Store, StoreError};
use crate::model::user::{Role, User, UserAccount};

/// A session hash: SHA-256 of the random id in the cookie.
pub type SessionHash = [u8; 32];

/// A stored session with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub disabled: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// Login material for a username.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub disabled: bool,
}

pub use crate::model::user::TokenInfo;

/// Outcome of creating a user.
#[derive(Debug)]
pub enum CreateUser {
    Created(User),
    UsernameTaken,
}

pub(super) fn millis_to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(super) fn user_from(row: &impl Columns) -> Result<User, StoreError> {
    let role: String = row.value("role")?;
    Ok(User {
        id: row.value("id")?,
        username: row.value("username")?,
        display_name: row.value("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role}")))?,
    })
}

fn account_from(row: &SqliteRow) -> Result<UserAccount, StoreError> {
    Ok(UserAccount {
        user: user_from(row)?,
        disabled: row.try_get("disabled")?,
        created_at: millis_to_time(row.try_get("created_at")?),
    })
}

fn token_from(row: &SqliteRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_by: row.try_get("created_by_name")?,
        created_at: millis_to_time(row.try_get("created_at")?),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(millis_to_time),
        publish_rate_per_minute: row.try_get("publish_rate_per_minute")?,
    })
}

const USER_COLUMNS: &str = "id, username, display_name, role, disabled, created_at";

impl Store {
    /// Creates a user; reports a taken username instead of failing.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<CreateUser, StoreError> {
        let result = sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, role, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => Ok(CreateUser::Created(User {
                id: row.try_get("id")?,
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                role,
            })),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Ok(CreateUser::UsernameTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `username` an admin, creating it with `password_hash` if missing.
    /// Returns whether the user was created.
    pub async fn ensure_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let created = sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, role, created_at)
             VALUES (?1, ?1, ?2, 'admin', ?3)
             ON CONFLICT (username) DO UPDATE SET role = 'admin'
             RETURNING (created_at = ?3) AS created",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?
        .try_get("created")?;
        Ok(created)
    }

    /// Whether a user of that name exists.
    pub async fn user_exists(&self, username: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The password hash and state of `username`, if it exists.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Credentials {
                user: user_from(&row)?,
                password_hash: row.try_get("password_hash")?,
                disabled: row.try_get("disabled")?,
            })
        })
        .transpose()
    }

    /// The password hash of user `id`.
    pub async fn password_hash(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// One account by id.
    pub async fn account(&self, id: i64) -> Result<Option<UserAccount>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// Accounts whose username or display name contains `search`, by name.
    pub async fn list_accounts(
        &self,
        search: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<UserAccount>, StoreError> {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE username LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1 ESCAPE '\\'
             ORDER BY username LIMIT ?2 OFFSET ?3"
        ))
        .bind(pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from).collect()
    }

    /// Changes a role. Returns false when the user does not exist.
    pub async fn set_role(&self, id: i64, role: Role) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        // A demoted admin's tokens stop working at once.
        self.tokens.forget_all();
        Ok(done.rows_affected() == 1)
    }

    /// Disables or enables a user; disabling deletes all its sessions in the
    /// same transaction. Returns the deleted sessions, or None when the user
    /// does not exist.
    pub async fn set_disabled(
        &self,
        id: i64,
        disabled: bool,
    ) -> Result<Option<Vec<SessionHash>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let ended = if disabled {
            delete_sessions_of(&mut tx, id, None).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        self.tokens.forget_all();
        Ok(Some(ended))
    }

    /// Replaces a password hash and deletes every session of the user except
    /// `keep`. Returns the deleted sessions.
    pub async fn set_password(
        &self,
        id: i64,
        password_hash: &str,
        keep: Option<&SessionHash>,
    ) -> Result<Vec<SessionHash>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let ended = delete_sessions_of(&mut tx, id, keep).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Stores a new session.
    pub async fn create_session(
        &self,
        hash: &SessionHash,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&hash[..])
        .bind(user_id)
        .bind(now)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session and its user.
    pub async fn session(&self, hash: &SessionHash) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.role, u.disabled,
                    s.created_at, s.last_seen_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                user: user_from(&row)?,
                disabled: row.try_get("disabled")?,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Records activity on a session (for idle expiry). Through the writer:
    /// a reconnect storm's touches share its transactions instead of each
    /// taking SQLite's write lock from the pool.
    pub async fn touch_session(&self, hash: &SessionHash, now: i64) -> Result<(), StoreError> {
        let hash = *hash;
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id_hash = ?",
            )?
            .execute(rusqlite::params![now, &hash[..]])?;
            Ok(())
        })
        .await
    }

    /// Deletes one session.
    pub async fn delete_session(&self, hash: &SessionHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(&hash[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes sessions past their absolute expiry or idle for longer than
    /// `idle_ms`. Returns how many.
    pub async fn prune_sessions(&self, now: i64, idle_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at <= ?1 - ?2")
                .bind(now)
                .bind(idle_ms)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Stores a new API token (its hash) and returns its listing.
    pub async fn create_token(
        &self,
        name: &str,
        hash: &[u8; 32],
        created_by: &User,
        publish_rate_per_minute: Option<u32>,
        now: i64,
    ) -> Result<TokenInfo, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, created_by, created_at, publish_rate_per_minute)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(&hash[..])
        .bind(created_by.id)
        .bind(now)
        .bind(publish_rate_per_minute)
        .fetch_one(&self.pool)
        .await?;
        Ok(TokenInfo {
            id,
            name: name.to_owned(),
            created_by: created_by.username.clone(),
            created_at: millis_to_time(now),
            last_used_at: None,
            publish_rate_per_minute,
        })
    }

    /// Tokens that are not revoked, newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, u.username AS created_by_name, t.created_at, t.last_used_at, t.publish_rate_per_minute
             FROM api_tokens t JOIN users u ON u.id = t.created_by
             WHERE t.revoked_at IS NULL ORDER BY t.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from).collect()
    }

    /// Revokes a token. Returns false when there was no live token `id`.
    pub async fn revoke_token(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        self.tokens.forget_all();
        Ok(done.rows_affected() == 1)
    }

    /// The live token with this hash, recording its use (at most once a minute).
    /// Only tokens whose creator is still an enabled admin work: demoting
    /// or disabling an admin stops every token they made.
    ///
    /// A token checked in the last minute is answered from memory (see
    /// [`TokenCache`]): a publisher sending thousands of notifications a
    /// second does not ask the database who it is each time.
    pub async fn use_token(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<TokenInfo>, StoreError> {
        let generation = match self.tokens.get(hash, now) {
            Cached::Fresh(token) => return Ok(Some(token)),
            Cached::Missing { generation } => generation,
        };
        let row = sqlx::query(
            "SELECT t.id, t.name, u.username AS created_by_name, t.created_at, t.last_used_at, t.publish_rate_per_minute
             FROM api_tokens t JOIN users u ON u.id = t.created_by
             WHERE t.token_hash = ? AND t.revoked_at IS NULL
               AND u.role = 'admin' AND u.disabled = 0",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from(&row)?;
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at.timestamp_millis() > 60_000);
        if stale {
            sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .bind(now)
                .bind(token.id)
                .execute(&self.pool)
                .await?;
        }
        self.tokens.put(*hash, &token, now, generation);
        Ok(Some(token))
    }

    /// Reserves one password check under every scope at once: inserts a
    /// failure row per scope, unless some scope already has `limit`
    /// failures since `since`. One statement, so concurrent attempts cannot
    /// all pass the check before any is counted. Returns the new rows (to
    /// release on success), or `None` when a limit is reached.
    pub async fn reserve_login_attempt(
        &self,
        scopes: &[(String, u32)],
        since: i64,
        now: i64,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let names: Vec<&str> = scopes.iter().map(|(name, _)| name.as_str()).collect();
        let limits: Vec<(&str, u32)> = scopes.iter().map(|(n, l)| (n.as_str(), *l)).collect();
        let names =
            serde_json::to_string(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let limits =
            serde_json::to_string(&limits).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO login_failures (scope, at)
             SELECT value, ?1 FROM json_each(?2)
             WHERE NOT EXISTS (
                 SELECT 1 FROM json_each(?3) AS l
                 WHERE (SELECT COUNT(*) FROM login_failures f
                        WHERE f.scope = json_extract(l.value, '$[0]') AND f.at > ?4)
                       >= json_extract(l.value, '$[1]'))
             RETURNING id",
        )
        .bind(now)
        .bind(&names)
        .bind(&limits)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok((!ids.is_empty()).then_some(ids))
    }

    /// Forgets reserved attempts that turned out to be right.
    pub async fn release_login_attempts(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("DELETE FROM login_failures WHERE id IN (SELECT value FROM json_each(?))")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts a wrong password against user `id`, for the owner to see.
    pub async fn note_failed_sign_in(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The wrong passwords tried against user `id` since the last call.
    pub async fn take_failed_sign_ins(&self, id: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT failed_sign_ins FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
        if count > 0 {
            sqlx::query("UPDATE users SET failed_sign_ins = failed_sign_ins - ? WHERE id = ?")
                .bind(count)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// The secret called `name`, created from `generate` on first use and
    /// kept for good (every instance sharing the database agrees on it).
    pub async fn secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(generate())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Failures under `scope` since `since`, and the oldest of them.
    pub async fn login_failures(
        &self,
        scope: &str,
        since: i64,
    ) -> Result<(u32, Option<i64>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE scope = ? AND at > ?",
        )
        .bind(scope)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get::<i64, _>("n")? as u32, row.try_get("oldest")?))
    }

    /// Forgets the failures under `scope` (after a successful login).
    pub async fn clear_login_failures(&self, scope: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE scope = ?")
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes failures recorded before `before`.
    pub async fn prune_login_failures(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at <= ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn delete_sessions_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    user_id: i64,
    keep: Option<&SessionHash>,
) -> Result<Vec<SessionHash>, StoreError> {
    let keep: &[u8] = keep.map(|k| &k[..]).unwrap_or(&[]);
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "DELETE FROM sessions WHERE user_id = ? AND id_hash != ? RETURNING id_hash",
    )
    .bind(user_id)
    .bind(keep)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|bytes| <SessionHash>::try_from(bytes.as_slice()).ok())
        .collect())
}

/// How long a checked token is answered from memory (and how often its
/// `last_used_at` is recorded).
const TOKEN_RECHECK_MS: i64 = 60_000;

/// Tokens kept in memory at most; beyond, the cache starts over.
const TOKEN_CACHE_ENTRIES: usize = 1024;

/// API tokens recently found valid, by hash. Anything that can stop a
/// token (revoking it, demoting or disabling its creator) empties the
/// cache, and a lookup that began before such a change never puts its
/// answer in (the generation moved), so a revoked token is refused by
/// the very next request. Several instances (PostgreSQL) must also carry
/// that change across nodes.
#[derive(Debug, Default)]
pub(super) struct TokenCache {
    entries: std::sync::Mutex<TokenEntries>,
}

#[derive(Debug, Default)]
struct TokenEntries {
    generation: u64,
    by_hash: std::collections::HashMap<[u8; 32], (TokenInfo, i64)>,
}

/// What the cache knows of a token.
pub(super) enum Cached {
    /// Checked less than a minute ago.
    Fresh(TokenInfo),
    /// Ask the database; hand `generation` back to [`TokenCache::put`].
    Missing { generation: u64 },
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, TokenEntries> {
        // A panic while holding it cannot leave the map half-changed.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn get(&self, hash: &[u8; 32], now: i64) -> Cached {
        let entries = self.lock();
        match entries.by_hash.get(hash) {
            Some((token, checked_at)) if now - checked_at <= TOKEN_RECHECK_MS => {
                Cached::Fresh(token.clone())
            }
            _ => Cached::Missing {
                generation: entries.generation,
            },
        }
    }

    pub(super) fn put(&self, hash: [u8; 32], token: &TokenInfo, now: i64, generation: u64) {
        let mut entries = self.lock();
        if entries.generation != generation {
            return;
        }
        if entries.by_hash.len() >= TOKEN_CACHE_ENTRIES {
            entries.by_hash.clear();
        }
        entries.by_hash.insert(hash, (token.clone(), now));
    }

    pub(super) fn forget_all(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.by_hash.clear();
    }
}
