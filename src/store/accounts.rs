//! Users, sessions, API tokens and login failures. Server only.

use super::rows::{Backend, Columns, Row, args};
use super::writer::WriteTx;
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

pub(super) fn user_from(row: &Row<'_>) -> Result<User, StoreError> {
    let role: String = row.value("role")?;
    Ok(User {
        id: row.value("id")?,
        username: row.value("username")?,
        display_name: row.value("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role}")))?,
    })
}

fn account_from(row: &Row<'_>) -> Result<UserAccount, StoreError> {
    Ok(UserAccount {
        user: user_from(row)?,
        disabled: row.value("disabled")?,
        created_at: millis_to_time(row.value("created_at")?),
    })
}

fn token_from(row: &Row<'_>) -> Result<TokenInfo, StoreError> {
    let rate: Option<i64> = row.value("publish_rate_per_minute")?;
    Ok(TokenInfo {
        id: row.value("id")?,
        name: row.value("name")?,
        created_by: row.value("created_by_name")?,
        created_at: millis_to_time(row.value("created_at")?),
        last_used_at: row
            .value::<Option<i64>>("last_used_at")?
            .map(millis_to_time),
        publish_rate_per_minute: rate.and_then(|rate| u32::try_from(rate).ok()),
    })
}

const USER_COLUMNS: &str = "id, username, display_name, role, disabled, created_at";

const TOKEN_COLUMNS: &str = "SELECT t.id, t.name, u.username AS created_by_name, t.created_at,
        t.last_used_at, t.publish_rate_per_minute
    FROM api_tokens t JOIN users u ON u.id = t.created_by";

impl Store {
    /// Forgets every API token found valid (another instance revoked one,
    /// or demoted or disabled an admin).
    pub fn forget_tokens(&self) {
        self.tokens.forget_all();
    }

    /// Creates a user; reports a taken username instead of failing.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<CreateUser, StoreError> {
        let result = self
            .pool
            .one(
                "INSERT INTO users (username, display_name, password_hash, role, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &args![username, display_name, password_hash, role.as_str(), now],
                |row| row.value::<i64>("id"),
            )
            .await;
        match result {
            Ok(id) => Ok(CreateUser::Created(User {
                id,
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                role,
            })),
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Ok(CreateUser::UsernameTaken)
            }
            Err(e) => Err(e),
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
        self.pool
            .one(
                "INSERT INTO users (username, display_name, password_hash, role, created_at)
                 VALUES ($1, $1, $2, 'admin', $3)
                 ON CONFLICT (username) DO UPDATE SET role = 'admin'
                 RETURNING (created_at = $3) AS created",
                &args![username, password_hash, now],
                |row| row.value("created"),
            )
            .await
    }

    /// Whether a user of that name exists.
    pub async fn user_exists(&self, username: &str) -> Result<bool, StoreError> {
        Ok(self
            .pool
            .opt(
                "SELECT 1 FROM users WHERE username = $1",
                &args![username],
                |_| Ok(()),
            )
            .await?
            .is_some())
    }

    /// The password hash and state of `username`, if it exists.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        self.pool
            .opt(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"),
                &args![username],
                |row| {
                    Ok(Credentials {
                        user: user_from(row)?,
                        password_hash: row.value("password_hash")?,
                        disabled: row.value("disabled")?,
                    })
                },
            )
            .await
    }

    /// The password hash of user `id`.
    pub async fn password_hash(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.pool
            .scalar("SELECT password_hash FROM users WHERE id = $1", &args![id])
            .await
    }

    /// One account by id.
    pub async fn account(&self, id: i64) -> Result<Option<UserAccount>, StoreError> {
        self.pool
            .opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &args![id],
                account_from,
            )
            .await
    }

    /// Accounts whose username or display name contains `search` (ignoring
    /// ASCII case), by name.
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
        // SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE does.
        let like = match self.backend() {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        };
        self.pool
            .all(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE username {like} $1 ESCAPE '\\' OR display_name {like} $1 ESCAPE '\\'
                     ORDER BY username LIMIT $2 OFFSET $3"
                ),
                &args![&pattern, limit, offset],
                account_from,
            )
            .await
    }

    /// Changes a role. Returns false when the user does not exist.
    pub async fn set_role(&self, id: i64, role: Role) -> Result<bool, StoreError> {
        let changed = self
            .pool
            .exec(
                "UPDATE users SET role = $1 WHERE id = $2",
                &args![role.as_str(), id],
            )
            .await?;
        // A demoted admin's tokens stop working at once.
        self.tokens.forget_all();
        Ok(changed == 1)
    }

    /// Disables or enables a user; disabling deletes all its sessions in the
    /// same transaction. Returns the deleted sessions, or None when the user
    /// does not exist.
    pub async fn set_disabled(
        &self,
        id: i64,
        disabled: bool,
    ) -> Result<Option<Vec<SessionHash>>, StoreError> {
        let ended = self
            .write(move |tx| {
                let changed = tx.exec(
                    "UPDATE users SET disabled = $1 WHERE id = $2",
                    &args![disabled, id],
                )?;
                if changed == 0 {
                    return Ok(None);
                }
                Ok(Some(if disabled {
                    delete_sessions_of(tx, id, None)?
                } else {
                    Vec::new()
                }))
            })
            .await?;
        self.tokens.forget_all();
        Ok(ended)
    }

    /// Replaces a password hash and deletes every session of the user except
    /// `keep`. Returns the deleted sessions.
    pub async fn set_password(
        &self,
        id: i64,
        password_hash: &str,
        keep: Option<&SessionHash>,
    ) -> Result<Vec<SessionHash>, StoreError> {
        let password_hash = password_hash.to_owned();
        let keep = keep.copied();
        self.write(move |tx| {
            tx.exec(
                "UPDATE users SET password_hash = $1 WHERE id = $2",
                &args![&password_hash, id],
            )?;
            delete_sessions_of(tx, id, keep.as_ref())
        })
        .await
    }

    /// Stores a new session.
    pub async fn create_session(
        &self,
        hash: &SessionHash,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.pool
            .exec(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
                &args![&hash[..], user_id, now, expires_at],
            )
            .await?;
        Ok(())
    }

    /// The session and its user.
    pub async fn session(&self, hash: &SessionHash) -> Result<Option<SessionRecord>, StoreError> {
        self.pool
            .opt(
                "SELECT u.id, u.username, u.display_name, u.role, u.disabled,
                        s.created_at, s.last_seen_at, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1",
                &args![&hash[..]],
                |row| {
                    Ok(SessionRecord {
                        user: user_from(row)?,
                        disabled: row.value("disabled")?,
                        created_at: row.value("created_at")?,
                        last_seen_at: row.value("last_seen_at")?,
                        expires_at: row.value("expires_at")?,
                    })
                },
            )
            .await
    }

    /// Records activity on a session (for idle expiry). Through the writer:
    /// a reconnect storm's touches share its transactions instead of each
    /// taking SQLite's write lock from the pool.
    pub async fn touch_session(&self, hash: &SessionHash, now: i64) -> Result<(), StoreError> {
        let hash = *hash;
        self.write(move |tx| {
            let sql = tx.backend().pick(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, $1) WHERE id_hash = $2",
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2",
            );
            tx.exec(sql, &args![now, &hash[..]])?;
            Ok(())
        })
        .await
    }

    /// Deletes one session.
    pub async fn delete_session(&self, hash: &SessionHash) -> Result<(), StoreError> {
        self.pool
            .exec("DELETE FROM sessions WHERE id_hash = $1", &args![&hash[..]])
            .await?;
        Ok(())
    }

    /// Deletes sessions past their absolute expiry or idle for longer than
    /// `idle_ms`. Returns how many.
    pub async fn prune_sessions(&self, now: i64, idle_ms: i64) -> Result<u64, StoreError> {
        self.pool
            .exec(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2",
                &args![now, idle_ms],
            )
            .await
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
        let id: i64 = self
            .pool
            .one(
                "INSERT INTO api_tokens (name, token_hash, created_by, created_at, publish_rate_per_minute)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &args![name, &hash[..], created_by.id, now, publish_rate_per_minute],
                |row| row.at(0),
            )
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
        self.pool
            .all(
                &format!("{TOKEN_COLUMNS} WHERE t.revoked_at IS NULL ORDER BY t.id DESC"),
                &[],
                token_from,
            )
            .await
    }

    /// Revokes a token. Returns false when there was no live token `id`.
    pub async fn revoke_token(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .pool
            .exec(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &args![now, id],
            )
            .await?;
        self.tokens.forget_all();
        Ok(changed == 1)
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
        let token = self
            .pool
            .opt(
                &format!(
                    "{TOKEN_COLUMNS} WHERE t.token_hash = $1 AND t.revoked_at IS NULL
                       AND u.role = 'admin' AND NOT u.disabled"
                ),
                &args![&hash[..]],
                token_from,
            )
            .await?;
        let Some(token) = token else { return Ok(None) };
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at.timestamp_millis() > 60_000);
        if stale {
            self.pool
                .exec(
                    "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
                    &args![now, token.id],
                )
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
        let sql = self.backend().pick(
            "INSERT INTO login_failures (scope, at)
             SELECT value, $1 FROM json_each($2)
             WHERE NOT EXISTS (
                 SELECT 1 FROM json_each($3) AS l
                 WHERE (SELECT COUNT(*) FROM login_failures f
                        WHERE f.scope = json_extract(l.value, '$[0]') AND f.at > $4)
                       >= json_extract(l.value, '$[1]'))
             RETURNING id",
            // Concurrent attempts would each count before the others
            // commit: see the locks taken below.
            "INSERT INTO login_failures (scope, at)
             SELECT value, $1 FROM jsonb_array_elements_text($2::jsonb)
             WHERE NOT EXISTS (
                 SELECT 1 FROM jsonb_array_elements($3::jsonb) AS l
                 WHERE (SELECT COUNT(*) FROM login_failures f
                        WHERE f.scope = l.value->>0 AND f.at > $4)
                       >= (l.value->>1)::bigint)
             RETURNING id",
        );
        let ids: Vec<i64> = match &self.pool {
            // On PostgreSQL, concurrent attempts (from this instance's pool
            // or another instance) would each count before the others
            // commit and all pass. A transaction-level advisory lock per
            // scope, taken in name order, makes them take turns; the count
            // runs as a statement of its own after the locks, so it sees
            // every attempt committed while it waited.
            super::Pool::Postgres(pool) => {
                let mut scopes: Vec<&str> = scopes.iter().map(|(name, _)| name.as_str()).collect();
                scopes.sort_unstable();
                let mut tx = pool.begin().await?;
                for scope in scopes {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(scope)
                        .execute(&mut *tx)
                        .await?;
                }
                let rows =
                    super::rows::bind_pg(sqlx::query(sql), &args![now, &names, &limits, since])
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                rows.iter()
                    .map(|row| sqlx::Row::try_get::<i64, _>(row, 0))
                    .collect::<Result<_, _>>()?
            }
            super::Pool::Sqlite(_) => {
                self.pool
                    .column(sql, &args![now, &names, &limits, since])
                    .await?
            }
        };
        Ok((!ids.is_empty()).then_some(ids))
    }

    /// Forgets reserved attempts that turned out to be right.
    pub async fn release_login_attempts(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = super::rows::id_list(ids)?;
        let sql = super::rows::ids_in!(
            self.backend(),
            "DELETE FROM login_failures WHERE id IN ",
            1,
            ""
        );
        self.pool.exec(sql, &args![&ids]).await?;
        Ok(())
    }

    /// Counts a wrong password against user `id`, for the owner to see.
    pub async fn note_failed_sign_in(&self, id: i64) -> Result<(), StoreError> {
        self.pool
            .exec(
                "UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE id = $1",
                &args![id],
            )
            .await?;
        Ok(())
    }

    /// The wrong passwords tried against user `id` since the last call.
    pub async fn take_failed_sign_ins(&self, id: i64) -> Result<i64, StoreError> {
        self.write(move |tx| {
            let count: i64 = tx
                .scalar(
                    "SELECT failed_sign_ins FROM users WHERE id = $1",
                    &args![id],
                )?
                .unwrap_or(0);
            if count > 0 {
                tx.exec(
                    "UPDATE users SET failed_sign_ins = failed_sign_ins - $1 WHERE id = $2",
                    &args![count, id],
                )?;
            }
            Ok(count)
        })
        .await
    }

    /// The secret called `name`, created from `generate` on first use and
    /// kept for good (every instance sharing the database agrees on it).
    pub async fn secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let fresh = generate();
        self.pool
            .exec(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &args![name, fresh.as_slice()],
            )
            .await?;
        self.pool
            .one(
                "SELECT value FROM secrets WHERE name = $1",
                &args![name],
                |row| row.at(0),
            )
            .await
    }

    /// Failures under `scope` since `since`, and the oldest of them.
    pub async fn login_failures(
        &self,
        scope: &str,
        since: i64,
    ) -> Result<(u32, Option<i64>), StoreError> {
        self.pool
            .one(
                "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE scope = $1 AND at > $2",
                &args![scope, since],
                |row| {
                    let count: i64 = row.value("n")?;
                    Ok((u32::try_from(count).unwrap_or(u32::MAX), row.value("oldest")?))
                },
            )
            .await
    }

    /// Forgets the failures under `scope` (after a successful login).
    pub async fn clear_login_failures(&self, scope: &str) -> Result<(), StoreError> {
        self.pool
            .exec("DELETE FROM login_failures WHERE scope = $1", &args![scope])
            .await?;
        Ok(())
    }

    /// Deletes failures recorded before `before`.
    pub async fn prune_login_failures(&self, before: i64) -> Result<u64, StoreError> {
        self.pool
            .exec("DELETE FROM login_failures WHERE at <= $1", &args![before])
            .await
    }
}

/// Deletes `user_id`'s sessions but `keep`, inside the writer's transaction.
pub(super) fn delete_sessions_of(
    tx: &mut WriteTx,
    user_id: i64,
    keep: Option<&SessionHash>,
) -> Result<Vec<SessionHash>, StoreError> {
    let keep: &[u8] = keep.map(|k| &k[..]).unwrap_or(&[]);
    let rows: Vec<Vec<u8>> = tx.all(
        "DELETE FROM sessions WHERE user_id = $1 AND id_hash != $2 RETURNING id_hash",
        &args![user_id, keep],
        |row| row.at(0),
    )?;
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
