//! The store: every SQL query of Herald lives below this module, so handlers
//! never write SQL. One implementation serves both backends: SQLite (the
//! embedded default) and PostgreSQL (several instances on one database).
//! Each statement is written once with `$1` placeholders and bound with
//! backend-neutral arguments ([`rows`]); where the dialects differ, it
//! names both. Server only.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::server::config::{Config, Synchronous};
pub use rows::Backend;
use rows::{Arg, Column, Columns, Row, bind_pg, bind_sqlite};
use writer::{
    OnCommit, PgWriterOptions, SqliteWriterOptions, WriteTx, Writer, WriterHealth, WriterOptions,
};

pub mod accounts;
pub mod channels;
pub mod chat;
pub mod events;
mod fan_out;
pub mod integrations;
pub mod limits;
pub mod notifications;
pub mod push;
mod rows;
pub mod topics;
pub mod writer;

/// Why the store could not be opened or answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An error on the writer's connection.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The writer's queue is full: try again in a moment.
    #[error("the writer is busy")]
    Busy,
    /// The disk (or the database's size limit) is full.
    #[error("the storage is full")]
    StorageFull,
    #[error("write failed: {0}")]
    Write(String),
}

impl StoreError {
    /// Whether SQLite reported a full disk (`SQLITE_FULL`, which it also
    /// answers for `ENOSPC`).
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::StorageFull => true,
            // SQLITE_FULL, or PostgreSQL's disk_full.
            Self::Database(sqlx::Error::Database(error)) => {
                error
                    .code()
                    .is_some_and(|code| code == "13" || code == "53100")
                    || error.message().contains("disk is full")
            }
            Self::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => {
                error.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }

    /// PostgreSQL broke a deadlock by failing this statement
    /// (`deadlock_detected`), could not serialize it
    /// (`serialization_failure`), or it waited for a lock longer than its
    /// transaction allows (`lock_not_available`): running it again may
    /// succeed.
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(error)) => error
                .code()
                .is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001" | "55P03")),
            _ => false,
        }
    }

    /// The same failure, for each command of a batch that shares it.
    pub fn replay(&self) -> Self {
        match self {
            Self::Busy => Self::Busy,
            Self::StorageFull => Self::StorageFull,
            other => Self::Write(other.to_string()),
        }
    }
}

/// A random name for this instance (12 hex digits: 48 bits, for a few
/// instances at a time).
fn new_node_id() -> String {
    crate::server::random::hex::<6>()
}

fn stored_event_of_user(row: &Row<'_>) -> Result<(i64, events::StoredEvent), StoreError> {
    Ok((
        row.value("user_id")?,
        events::StoredEvent {
            seq: row.value("seq")?,
            kind: row.value("kind")?,
            payload: row.value("payload")?,
        },
    ))
}

/// The pool of connections for reads and single-statement writes.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the rows it changed.
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => bind_sqlite(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
            Self::Postgres(pool) => bind_pg(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and maps every row.
    async fn all<R>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl FnMut(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        let mut map = map;
        match self {
            Self::Sqlite(pool) => {
                let rows = bind_sqlite(sqlx::query(sql), args).fetch_all(pool).await?;
                rows.iter().map(|row| map(&Row::Pooled(row))).collect()
            }
            Self::Postgres(pool) => {
                let rows = bind_pg(sqlx::query(sql), args).fetch_all(pool).await?;
                rows.iter().map(|row| map(&Row::Postgres(row))).collect()
            }
        }
    }

    /// Runs a query and maps its first row, if any.
    async fn opt<R>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Option<R>, StoreError> {
        match self {
            Self::Sqlite(pool) => {
                let row = bind_sqlite(sqlx::query(sql), args)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(|row| map(&Row::Pooled(row))).transpose()
            }
            Self::Postgres(pool) => {
                let row = bind_pg(sqlx::query(sql), args).fetch_optional(pool).await?;
                row.as_ref().map(|row| map(&Row::Postgres(row))).transpose()
            }
        }
    }

    /// Runs a query that must return a row, and maps it.
    async fn one<R>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.opt(sql, args, map)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for: {sql}")))
    }

    /// The first column of every row.
    async fn column<T: Column>(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, StoreError> {
        self.all(sql, args, |row| row.at(0)).await
    }

    /// The first column of the first row, if any.
    async fn scalar<T: Column>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, StoreError> {
        self.opt(sql, args, |row| row.at(0)).await
    }
}

/// An instance not heard from for this long (its row in `instances` is
/// renewed every 2 s) is gone: its presence rows no longer count, and
/// whichever instance sweeps them first announces their users offline.
pub const INSTANCE_SILENT_MS: i64 = 15_000;

/// A handle on the database; cheap to clone (a pool for reads and the
/// writes of one statement, and the writer for those that append events
/// or take several statements).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    writer: Writer,
    /// API tokens recently found valid.
    tokens: Arc<accounts::TokenCache>,
    /// This instance's name among those sharing a PostgreSQL database.
    node: Arc<str>,
}

impl Store {
    /// Opens (creating when missing) the configured database, brings its
    /// schema up to date, and starts the writer, which hands every committed
    /// event to `bus`. A `postgres://` URL selects PostgreSQL; anything else
    /// is a SQLite file.
    pub async fn open(config: &Config, bus: Arc<dyn OnCommit>) -> Result<Self, StoreError> {
        let url = config.database_url();
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Self::open_postgres(config, &url, bus).await;
        }
        Self::open_sqlite(config, &url, bus).await
    }

    async fn open_postgres(
        config: &Config,
        url: &str,
        bus: Arc<dyn OnCommit>,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("herald");
        let node = new_node_id();
        let pool = PgPoolOptions::new()
            .max_connections(config.db_max_connections.get())
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let writer = Writer::start(
            WriterOptions::Postgres(Box::new(PgWriterOptions {
                connect: options,
                node: node.clone(),
            })),
            &config.data_dir,
            config.write_queue.get(),
            bus,
        )
        .await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            writer,
            tokens: Arc::default(),
            node: node.into(),
        })
    }

    async fn open_sqlite(
        config: &Config,
        url: &str,
        bus: Arc<dyn OnCommit>,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StoreError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the log at every commit: nothing acknowledged is lost
            // to a power cut. The writer's batches pay it once per batch.
            // NORMAL survives a crash of Herald but not of the machine.
            .synchronous(match config.db_synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            // SQLite answers "full" beyond it, as it does on a full disk.
            .pragma("max_page_count", config.max_database_pages().to_string())
            .busy_timeout(Duration::from_millis(config.db_busy_timeout_ms.get()));
        let pool = SqlitePoolOptions::new()
            .max_connections(config.db_max_connections.get())
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let writer = Writer::start(
            WriterOptions::Sqlite(SqliteWriterOptions {
                path: options.get_filename().to_path_buf(),
                synchronous: match config.db_synchronous {
                    Synchronous::Full => "FULL",
                    Synchronous::Normal => "NORMAL",
                },
                max_page_count: config.max_database_pages(),
                busy_timeout: Duration::from_millis(config.db_busy_timeout_ms.get()),
            }),
            &config.data_dir,
            config.write_queue.get(),
            bus,
        )
        .await?;
        let store = Self {
            pool: Pool::Sqlite(pool),
            writer,
            tokens: Arc::default(),
            node: new_node_id().into(),
        };
        let mode = store.journal_mode().await?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unsupported(format!(
                "SQLite refused WAL journaling (mode is {mode}); is the data directory on a network file system?"
            )));
        }
        Ok(store)
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// This instance's name in the notifications it sends to the others.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// A listener on PostgreSQL's notification `channels`, on a connection
    /// of its own. `None` on SQLite, where one instance is all there is.
    pub async fn listen(
        &self,
        channels: &[&str],
    ) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Some(listener))
    }

    /// Sends `payload` on PostgreSQL's notification `channel` (nothing on
    /// SQLite).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if let Pool::Postgres(_) = &self.pool {
            self.pool
                .exec("SELECT pg_notify($1, $2)", &rows::args![channel, payload])
                .await?;
        }
        Ok(())
    }

    /// The events with these `(user, seq)` numbers, by user and number.
    pub async fn events_at(
        &self,
        numbers: &[(i64, i64)],
    ) -> Result<Vec<(i64, events::StoredEvent)>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let list =
            serde_json::to_string(numbers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = self.backend().pick(
            "SELECT e.user_id, e.seq, e.kind, e.payload FROM json_each($1) AS n
             JOIN events e ON e.user_id = json_extract(n.value, '$[0]') AND e.seq = json_extract(n.value, '$[1]')
             ORDER BY e.user_id, e.seq",
            // One index lookup per pair, whatever the planner believes of
            // the table: as a plain join it chose a sequential scan of the
            // whole log (14 ms a call at 100,000 events, measured), since
            // it cannot tell how few pairs the JSON holds.
            "SELECT e.user_id, e.seq, e.kind, e.payload FROM jsonb_array_elements($1::jsonb) AS n
             CROSS JOIN LATERAL (
                 SELECT user_id, seq, kind, payload FROM events
                 WHERE user_id = (n.value->>0)::bigint AND seq = (n.value->>1)::bigint
                 LIMIT 1) e
             ORDER BY e.user_id, e.seq",
        );
        self.pool
            .all(sql, &rows::args![&list], stored_event_of_user)
            .await
    }

    /// Renews this instance's row in the cluster view (PostgreSQL; nothing
    /// on SQLite), and deletes the rows of instances gone for an hour.
    pub async fn instance_heartbeat(
        &self,
        started_at: i64,
        connections: u64,
        online_users: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(());
        }
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool
            .exec(
                "INSERT INTO instances (node, started_at, heartbeat_at, connections, online_users)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (node) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                     connections = excluded.connections, online_users = excluded.online_users",
                &rows::args![
                    self.node_id(),
                    started_at,
                    now,
                    count(connections),
                    count(online_users)
                ],
            )
            .await?;
        self.pool
            .exec(
                "DELETE FROM instances WHERE heartbeat_at < $1",
                &rows::args![now - 3_600_000],
            )
            .await?;
        Ok(())
    }

    /// The instances heard from since `since` (PostgreSQL), oldest first:
    /// `(id, started_at, heartbeat_at, connections, online_users)`.
    pub async fn live_instances(
        &self,
        since: i64,
    ) -> Result<Vec<(String, i64, i64, i64, i64)>, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(Vec::new());
        }
        self.pool
            .all(
                "SELECT node, started_at, heartbeat_at, connections, online_users FROM instances
                 WHERE heartbeat_at >= $1 ORDER BY started_at, node",
                &rows::args![since],
                |row| {
                    Ok((
                        row.value("node")?,
                        row.value("started_at")?,
                        row.value("heartbeat_at")?,
                        row.value("connections")?,
                        row.value("online_users")?,
                    ))
                },
            )
            .await
    }

    /// The latest stored event of each of `users` that has one.
    pub async fn latest_events(
        &self,
        users: &[i64],
    ) -> Result<Vec<(i64, events::StoredEvent)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let list = rows::id_list(users)?;
        let sql = rows::ids_in!(
            self.backend(),
            "SELECT e.user_id, e.seq, e.kind, e.payload FROM user_counters c
             JOIN events e ON e.user_id = c.user_id AND e.seq = c.event_seq
             WHERE c.user_id IN ",
            1,
            ""
        );
        self.pool
            .all(sql, &rows::args![&list], stored_event_of_user)
            .await
    }

    /// Runs a write that appends events through the writer: in the next
    /// batch, answered after that batch committed and its events reached
    /// the bus. See [`Writer::run`].
    pub async fn write<T, F>(&self, command: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        self.writer.run(command).await
    }

    /// The write path's health (a full disk) and batch counters.
    pub fn writer_health(&self) -> &WriterHealth {
        self.writer.health()
    }

    /// The journal mode as SQLite reports it; PostgreSQL's write-ahead
    /// log is always on ("wal").
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        match self.pool.backend() {
            Backend::Sqlite => Ok(self
                .pool
                .scalar("PRAGMA journal_mode", &[])
                .await?
                .unwrap_or_default()),
            Backend::Postgres => Ok("wal".into()),
        }
    }

    /// Whether foreign keys are enforced on a pooled connection (always on
    /// PostgreSQL).
    pub async fn foreign_keys_enabled(&self) -> Result<bool, StoreError> {
        match self.pool.backend() {
            Backend::Sqlite => {
                let on: Option<i64> = self.pool.scalar("PRAGMA foreign_keys", &[]).await?;
                Ok(on == Some(1))
            }
            Backend::Postgres => Ok(true),
        }
    }

    /// Bytes the database occupies: SQLite's pages plus its write-ahead
    /// log, or PostgreSQL's `pg_database_size`.
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 = match &self.pool {
            Pool::Postgres(_) => self
                .pool
                .scalar("SELECT pg_database_size(current_database())", &[])
                .await?
                .unwrap_or(0),
            Pool::Sqlite(_) => {
                let pages: i64 = self
                    .pool
                    .scalar("PRAGMA page_count", &[])
                    .await?
                    .unwrap_or(0);
                let page_size: i64 = self
                    .pool
                    .scalar("PRAGMA page_size", &[])
                    .await?
                    .unwrap_or(0);
                let file: String = self
                    .pool
                    .scalar(
                        "SELECT file FROM pragma_database_list WHERE name = 'main'",
                        &[],
                    )
                    .await?
                    .unwrap_or_default();
                let wal = tokio::fs::metadata(format!("{file}-wal"))
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                pages
                    .saturating_mul(page_size)
                    .saturating_add(i64::try_from(wal).unwrap_or(i64::MAX))
            }
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Open connections, idle ones, and the pool's limit.
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let (size, idle, max) = match &self.pool {
            Pool::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Pool::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        (size, u32::try_from(idle).unwrap_or(u32::MAX), max)
    }

    /// Usernames of these users (absent ones left out).
    pub async fn usernames(&self, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        let ids = rows::id_list(ids)?;
        let sql = rows::ids_in!(
            self.backend(),
            "SELECT id, username FROM users WHERE id IN ",
            1,
            ""
        );
        self.pool
            .all(sql, &rows::args![&ids], |row| {
                Ok((row.value("id")?, row.value("username")?))
            })
            .await
    }

    /// A round trip to the database, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.exec("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Number of applied schema migrations.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .pool
            .scalar(
                "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM _sqlx_migrations WHERE success",
                &[],
            )
            .await?
            .unwrap_or(0))
    }

    /// Closes the pool, waiting for connections in use (checkpoints the WAL).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
