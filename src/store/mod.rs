//! The store: every SQL query of Herald lives below this module, so handlers
//! never write SQL and a PostgreSQL implementation can follow behind the same
//! functions. Server only.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::server::config::{Config, Synchronous};
use writer::{OnCommit, WriteTx, Writer, WriterHealth, WriterOptions};

pub mod accounts;
pub mod chat;
pub mod events;
mod fan_out;
pub mod notifications;
mod rows;
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
            Self::Database(sqlx::Error::Database(error)) => {
                error.code().is_some_and(|code| code == "13")
                    || error.message().contains("disk is full")
            }
            Self::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => {
                error.code == rusqlite::ErrorCode::DiskFull
            }
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

/// A handle on the database; cheap to clone (a pool for reads and the
/// writes that append no events, and the writer for those that do).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
    /// API tokens recently found valid.
    tokens: Arc<accounts::TokenCache>,
}

impl Store {
    /// Opens (creating when missing) the configured database, brings its
    /// schema up to date, and starts the writer, which hands every committed
    /// event to `bus`.
    pub async fn open(config: &Config, bus: Arc<dyn OnCommit>) -> Result<Self, StoreError> {
        let url = config.database_url();
        if url.starts_with("postgres") {
            return Err(StoreError::Unsupported(
                "PostgreSQL is not supported by this build yet; unset DATABASE_URL to use SQLite"
                    .into(),
            ));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StoreError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str(&url)?
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
            WriterOptions {
                path: options.get_filename().to_path_buf(),
                synchronous: match config.db_synchronous {
                    Synchronous::Full => "FULL",
                    Synchronous::Normal => "NORMAL",
                },
                max_page_count: config.max_database_pages(),
                busy_timeout: Duration::from_millis(config.db_busy_timeout_ms.get()),
            },
            &config.data_dir,
            config.write_queue.get(),
            bus,
        )?;
        let store = Self {
            pool,
            writer,
            tokens: Arc::default(),
        };
        let mode = store.journal_mode().await?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unsupported(format!(
                "SQLite refused WAL journaling (mode is {mode}); is the data directory on a network file system?"
            )));
        }
        Ok(store)
    }

    /// Runs a write that appends events through the writer: in the next
    /// batch, answered after that batch committed and its events reached
    /// the bus. See [`Writer::run`].
    pub async fn write<T, F>(&self, command: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run(command).await
    }

    /// The write path's health (a full disk) and batch counters.
    pub fn writer_health(&self) -> &WriterHealth {
        self.writer.health()
    }

    /// SQLite's journal mode as the database reports it.
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Whether foreign keys are enforced on a pooled connection.
    pub async fn foreign_keys_enabled(&self) -> Result<bool, StoreError> {
        let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(on == 1)
    }

    /// Bytes the database occupies: its pages plus the write-ahead log.
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.pool)
            .await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&self.pool)
            .await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&self.pool)
                .await?;
        let wal = tokio::fs::metadata(format!("{file}-wal"))
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(u64::try_from(pages.saturating_mul(page_size)).unwrap_or(0) + wal)
    }

    /// Open connections, idle ones, and the pool's limit.
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (
            self.pool.size(),
            idle,
            self.pool.options().get_max_connections(),
        )
    }

    /// Usernames of these users (absent ones left out).
    pub async fn usernames(&self, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(sqlx::query_as(
            "SELECT id, username FROM users WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A round trip to the database, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Number of applied schema migrations.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Closes the pool, waiting for connections in use (checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
