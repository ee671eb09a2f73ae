//! The writer: every write that appends events goes through one thread
//! per store. It takes the commands waiting (up to [`MAX_BATCH`]), runs them in
//! ONE transaction, each inside its own SAVEPOINT so that a failing command
//! is rolled back and answered alone, commits, hands the appended events to
//! the bus, and only then answers each caller. One fsync covers a whole
//! batch (group commit), so the durable mode is also the fast one, and no
//! caller hears "accepted" before its events are on disk. Server only.
//!
//! Batches form by themselves: while one commits, the next commands queue
//! up. A lone command is its own batch and waits for nothing.
//!
//! The writer is a thread of its own with its own connection (rusqlite),
//! not a task on the pool: a batch is hundreds of short statements, and
//! each one on sqlx's driver is a round trip to its worker thread. Here a
//! batch runs start to finish on one thread, and only the fsync waits.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use sqlx::Connection as _;

use super::StoreError;
use super::events::Appended;
use super::rows::{Arg, Backend, Column, Columns, Row, bind_pg, numbered_for_sqlite};

/// Commands run in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// While the storage is full and nothing is written, how often the writer
/// looks whether space came back (so `/healthz` recovers even when every
/// client has stopped writing).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Free space the writer wants before it calls a full storage writable again.
const RECOVERED_BYTES: u64 = 256 * 1024;

/// Prepared statements the writer keeps: every write statement of the
/// store, so none is parsed twice.
const STATEMENT_CACHE: usize = 128;

/// Bytes an unprivileged process may still write on the file system that
/// holds `dir`; `None` when it cannot be asked.
fn disk_available(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a plain
    // struct that statvfs fills in; nothing is retained after the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Where committed events go: the bus. The writer calls it after COMMIT and
/// before it answers anyone, so a caller that got its answer can rely on
/// the hub having been told. It runs on the writer's thread: it must not
/// block.
pub trait OnCommit: Send + Sync + 'static {
    /// Events of one committed batch, in the order they were appended.
    fn committed(&self, events: Vec<Appended>);
}

/// How the writer opens its connection: the same database and settings as
/// the pool's.
#[derive(Debug, Clone)]
pub enum WriterOptions {
    Sqlite(SqliteWriterOptions),
    Postgres(Box<PgWriterOptions>),
}

/// The writer's PostgreSQL connection, and the instance's name in the
/// notifications its commits send.
#[derive(Debug, Clone)]
pub struct PgWriterOptions {
    pub connect: sqlx::postgres::PgConnectOptions,
    pub node: String,
}

/// The writer's SQLite connection.
#[derive(Debug, Clone)]
pub struct SqliteWriterOptions {
    /// The database file.
    pub path: PathBuf,
    /// `PRAGMA synchronous`: `"FULL"` or `"NORMAL"`.
    pub synchronous: &'static str,
    /// `PRAGMA max_page_count`.
    pub max_page_count: u64,
    /// How long to wait for a lock another connection holds.
    pub busy_timeout: Duration,
}

impl SqliteWriterOptions {
    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;
             PRAGMA max_page_count = {}; PRAGMA cache_size = -{WRITER_CACHE_KIB};
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
            self.synchronous, self.max_page_count
        ))?;
        Ok(conn)
    }
}

impl WriterOptions {
    fn connect(&self) -> Result<Conn, StoreError> {
        match self {
            Self::Sqlite(options) => Ok(Conn::Sqlite(options.connect()?)),
            Self::Postgres(options) => {
                // The writer's thread drives its connection with a runtime
                // of its own: each statement is awaited right there, with
                // no hand-off to another thread.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        StoreError::Write(format!("cannot start the writer's runtime: {e}"))
                    })?;
                let conn = runtime.block_on(sqlx::PgConnection::connect_with(&options.connect))?;
                Ok(Conn::Postgres(PgConn { runtime, conn }))
            }
        }
    }
}

/// The writer's PostgreSQL connection and the runtime that drives it.
pub(super) struct PgConn {
    runtime: tokio::runtime::Runtime,
    conn: sqlx::PgConnection,
}

/// The writer's connection.
pub(super) enum Conn {
    Sqlite(Connection),
    Postgres(PgConn),
}

/// The writer's page cache: the pages every batch touches (the users'
/// index leaves) stay in memory instead of being read back each time.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// The write-ahead log is cut back to this size after it restarts.
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// How long the checkpointer lets commits gather before it copies the
/// write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the write-ahead log into the database file on a thread of its
/// own, so that the writer's commits seldom wait for that copy. The
/// writer keeps SQLite's automatic checkpoint (every 1000 pages of log),
/// which then finds almost everything copied already, and only a
/// checkpoint in the writer's own thread can let the log restart from its
/// beginning: one running beside it never catches up with a writer that
/// never stops, and the log would grow without end. A PASSIVE checkpoint
/// never blocks the writer. Commits `nudge` it; it ends when the writer
/// does.
fn start_checkpointer(options: &SqliteWriterOptions) -> Result<SyncSender<()>, StoreError> {
    let conn = options.connect()?;
    let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("herald-checkpoint".into())
        .spawn(move || {
            let checkpoint = || {
                if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::debug!(%error, "checkpoint failed");
                }
            };
            while nudged.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_EVERY);
                checkpoint();
            }
            checkpoint();
        })
        .map_err(|e| StoreError::Write(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(nudge)
}

/// The open transaction a command runs in: the writer's connection (the
/// store's write functions run their SQL on it through [`exec`](Self::exec),
/// [`all`](Self::all) and their kin) and the events appended so far. A
/// command that returns `Err` is rolled back to its savepoint; one that
/// returns `Ok` keeps everything it wrote, so write functions decide
/// before they write.
pub struct WriteTx {
    conn: Conn,
    appended: Vec<Appended>,
}

impl WriteTx {
    /// Records an event appended in this transaction, for the bus.
    pub(super) fn appended(&mut self, event: Appended) {
        self.appended.push(event);
    }

    /// The dialect of the writer's connection.
    pub(super) fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for statements only SQLite has.
    pub(super) fn sqlite(&mut self) -> Option<&mut Connection> {
        match &mut self.conn {
            Conn::Sqlite(conn) => Some(conn),
            Conn::Postgres(_) => None,
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub(super) fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let changed = conn
                    .prepare_cached(&numbered_for_sqlite(sql))?
                    .execute(rusqlite::params_from_iter(args))?;
                Ok(changed as u64)
            }
            Conn::Postgres(PgConn { runtime, conn }) => {
                let done = runtime.block_on(bind_pg(sqlx::query(sql), args).execute(&mut *conn))?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Runs a query and maps every row.
    pub(super) fn all<R>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(&numbered_for_sqlite(sql))?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                let mut mapped = Vec::new();
                while let Some(row) = rows.next()? {
                    mapped.push(map(&Row::Writer(row))?);
                }
                Ok(mapped)
            }
            Conn::Postgres(PgConn { runtime, conn }) => {
                let rows =
                    runtime.block_on(bind_pg(sqlx::query(sql), args).fetch_all(&mut *conn))?;
                rows.iter().map(|row| map(&Row::Postgres(row))).collect()
            }
        }
    }

    /// Runs a query and maps its first row, if any.
    pub(super) fn opt<R>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Option<R>, StoreError> {
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(&numbered_for_sqlite(sql))?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                match rows.next()? {
                    Some(row) => map(&Row::Writer(row)).map(Some),
                    None => Ok(None),
                }
            }
            Conn::Postgres(PgConn { runtime, conn }) => {
                let row =
                    runtime.block_on(bind_pg(sqlx::query(sql), args).fetch_optional(&mut *conn))?;
                row.as_ref().map(|row| map(&Row::Postgres(row))).transpose()
            }
        }
    }

    /// Runs a query that must return a row, and maps it.
    pub(super) fn one<R>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.opt(sql, args, map)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for: {sql}")))
    }

    /// The first column of the first row, if any.
    pub(super) fn scalar<T: Column>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, StoreError> {
        self.opt(sql, args, |row| row.at(0))
    }

    /// Runs a statement without arguments and outside the statement cache
    /// (BEGIN, SAVEPOINT, COMMIT).
    fn control(&mut self, statement: &str) -> Result<(), StoreError> {
        match &mut self.conn {
            Conn::Sqlite(conn) => conn.execute_batch(statement)?,
            Conn::Postgres(PgConn { runtime, conn }) => {
                runtime.block_on(sqlx::raw_sql(statement).execute(&mut *conn))?;
            }
        }
        Ok(())
    }
}

/// A command with its answer channel, its type erased.
trait Command: Send {
    /// Runs the command in the open transaction; `last_try` when it will
    /// not be run again.
    fn run(&mut self, tx: &mut WriteTx, last_try: bool) -> Ran;
    /// Answers once the batch's fate is known: `committed` is the commit's
    /// outcome. A command that failed answers its own error; one that never
    /// ran answers the batch's.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Ok,
    Failed,
    /// Failed because the storage is full.
    StorageFull,
    /// Chosen by PostgreSQL to break a deadlock (or a serialization
    /// failure), or gave up waiting for a lock, with another instance's
    /// transaction: worth running again in a transaction of its own.
    Conflict,
}

struct Typed<T, F> {
    command: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Command for Typed<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteTx) -> Result<T, StoreError> + Clone + Send + 'static,
{
    fn run(&mut self, tx: &mut WriteTx, last_try: bool) -> Ran {
        // On PostgreSQL a command may have to run again (a deadlock with
        // another instance): it keeps a copy until its last try.
        let command = if last_try {
            self.command.take()
        } else {
            self.command.clone()
        };
        let Some(command) = command else {
            return Ran::Failed;
        };
        // A panic in one command must not take the writer down with it.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| command(tx)))
            .unwrap_or_else(|_| Err(StoreError::Write("a write command panicked".into())));
        let ran = match &outcome {
            Ok(_) => Ran::Ok,
            Err(error) if error.is_storage_full() => Ran::StorageFull,
            Err(error) if error.is_conflict() => Ran::Conflict,
            Err(_) => Ran::Failed,
        };
        self.outcome = Some(match ran {
            Ran::StorageFull => Err(StoreError::StorageFull),
            _ => outcome,
        });
        ran
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(batch)) => Err(batch),
            (None, Ok(())) => Err(StoreError::Write("the command did not run".into())),
        };
        // The caller may have gone away (a closed request): nothing to tell.
        let _ = self.answer.send(answer);
    }
}

type Job = Box<dyn Command>;

/// Why writes fail right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// The disk, or the database's size limit, is full.
    StorageFull,
}

impl WriteFault {
    /// The machine-readable code (`/healthz`, the status report).
    pub fn code(self) -> &'static str {
        match self {
            Self::StorageFull => "storage_full",
        }
    }

    /// What it means, for an operator.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::StorageFull => {
                "the disk or the database's size limit is full; writes fail until space is freed"
            }
        }
    }
}

/// The write path's health, for `/healthz` and the status page.
#[derive(Debug, Default)]
pub struct WriterHealth {
    storage_full: AtomicBool,
    batches: AtomicU64,
    commands: AtomicU64,
    largest_batch: AtomicU64,
    conflicts_retried: AtomicU64,
}

impl WriterHealth {
    /// Why writes fail right now, if they do.
    pub fn fault(&self) -> Option<WriteFault> {
        self.storage_full
            .load(Ordering::Relaxed)
            .then_some(WriteFault::StorageFull)
    }

    /// Transactions committed or attempted, commands run, largest batch.
    pub fn batches(&self) -> (u64, u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.commands.load(Ordering::Relaxed),
            self.largest_batch.load(Ordering::Relaxed),
        )
    }

    /// Commands run again after losing a deadlock to another instance.
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried.load(Ordering::Relaxed)
    }
}

/// The sending side of the writer; cheap to clone. The thread ends when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Writer {
    jobs: SyncSender<Job>,
    /// Commands sent and not yet taken by the writer.
    waiting: Arc<AtomicUsize>,
    health: Arc<WriterHealth>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("health", &self.health)
            .finish()
    }
}

impl Writer {
    /// Starts the writer's thread and opens its own connection there (a
    /// PostgreSQL connection belongs to the runtime that opened it, and the
    /// writer's runtime lives on that thread). `queue` bounds the commands
    /// waiting; beyond it `run` answers [`StoreError::Busy`].
    pub async fn start(
        options: WriterOptions,
        data_dir: &Path,
        queue: usize,
        bus: Arc<dyn OnCommit>,
    ) -> Result<Self, StoreError> {
        let checkpoint = match &options {
            WriterOptions::Sqlite(sqlite) => Some(start_checkpointer(sqlite)?),
            WriterOptions::Postgres(_) => None,
        };
        let (jobs, receiver) = std::sync::mpsc::sync_channel(queue.max(1));
        let health = Arc::new(WriterHealth::default());
        let waiting = Arc::new(AtomicUsize::new(0));
        let (opened, open) = oneshot::channel();
        let data_dir = data_dir.to_path_buf();
        let (task_health, task_waiting) = (health.clone(), waiting.clone());
        std::thread::Builder::new()
            .name("herald-writer".into())
            .spawn(move || {
                let conn = match options.connect() {
                    Ok(conn) => conn,
                    Err(error) => {
                        let _ = opened.send(Err(error));
                        return;
                    }
                };
                let _ = opened.send(Ok(()));
                let task = WriterTask {
                    tx: WriteTx {
                        conn,
                        appended: Vec::new(),
                    },
                    options,
                    data_dir,
                    bus,
                    health: task_health,
                    waiting: task_waiting,
                    checkpoint,
                };
                task.run(receiver);
            })
            .map_err(|e| StoreError::Write(format!("cannot start the writer thread: {e}")))?;
        open.await
            .map_err(|_| StoreError::Write("the writer thread ended at start".into()))??;
        Ok(Self {
            jobs,
            waiting,
            health,
        })
    }

    /// The write path's health.
    pub fn health(&self) -> &WriterHealth {
        &self.health
    }

    /// Commands waiting for the writer.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `command` in the next batch and answers once that batch has
    /// committed and its events are on the bus. Answers
    /// [`StoreError::Busy`] at once when the queue is full. The command
    /// runs on the writer's thread: plain synchronous SQL, no awaiting.
    pub async fn run<T, F>(&self, command: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTx) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(Typed {
            command: Some(command),
            outcome: None,
            answer,
        });
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.jobs.try_send(job) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(match error {
                TrySendError::Full(_) => StoreError::Busy,
                TrySendError::Disconnected(_) => StoreError::Write("the writer stopped".into()),
            });
        }
        answered
            .await
            .map_err(|_| StoreError::Write("the writer dropped a command".into()))?
    }
}

/// How many times a command that loses deadlocks runs before its error is
/// its answer.
const CONFLICT_TRIES: u32 = 4;

/// How a PostgreSQL batch begins on its first try: a row lock awaited
/// longer than this fails the statement (`lock_not_available`), and the
/// command runs again after the commit.
const LOCK_WAIT: &str = "BEGIN; SET LOCAL lock_timeout = '50ms'";

/// The PostgreSQL channel of committed events' announcements.
pub const EVENTS_CHANNEL: &str = "herald_events";

/// The PostgreSQL channel of signals that are not stored (typing, ended
/// sessions, topic values, ...; see `realtime::cluster`).
pub const SIGNALS_CHANNEL: &str = "herald_signals";

/// Longest signal payload sent: PostgreSQL refuses 8000 bytes and more.
pub const SIGNAL_PAYLOAD_BYTES: usize = 7_800;

/// Longest announcement payload: PostgreSQL refuses 8000 bytes and more.
const ANNOUNCEMENT_BYTES: usize = 7_800;

/// `node|user:seq,user:seq,…` payloads covering `events`.
fn event_announcements(node: &str, events: &[Appended]) -> Vec<String> {
    use std::fmt::Write as _;
    let mut payloads = Vec::new();
    let mut current = String::new();
    for event in events {
        if current.len() + 42 > ANNOUNCEMENT_BYTES {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(node);
            current.push('|');
        } else {
            current.push(',');
        }
        let _ = write!(current, "{}:{}", event.user_id, event.seq);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// The `(user, seq)` pairs of an announcement and the instance that sent
/// it; `None` for anything else.
pub fn parse_event_announcement(payload: &str) -> Option<(&str, Vec<(i64, i64)>)> {
    let (node, pairs) = payload.split_once('|')?;
    let pairs = pairs
        .split(',')
        .map(|pair| {
            let (user, seq) = pair.split_once(':')?;
            Some((user.parse().ok()?, seq.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((node, pairs))
}

struct WriterTask {
    tx: WriteTx,
    options: WriterOptions,
    /// Where the database lives, to ask the disk for free space.
    data_dir: PathBuf,
    bus: Arc<dyn OnCommit>,
    health: Arc<WriterHealth>,
    waiting: Arc<AtomicUsize>,
    /// Tells the checkpointer that the log grew (SQLite).
    checkpoint: Option<SyncSender<()>>,
}

impl WriterTask {
    fn run(mut self, receiver: Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = if self.health.fault().is_some() {
                match receiver.recv_timeout(PROBE_INTERVAL) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.probe();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match receiver.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.waiting.fetch_sub(batch.len(), Ordering::Relaxed);
            self.run_batch(std::mem::take(&mut batch));
        }
    }

    /// Whether the storage has room again: space within the database's
    /// size limit (free pages and pages below the limit) and on the disk.
    /// A trial write is no test: a small one can fit where a real one
    /// does not.
    fn probe(&mut self) {
        if self.tx.backend() == Backend::Postgres {
            // The database's disk is not ours to measure: the next write
            // finds out.
            self.health.storage_full.store(false, Ordering::Relaxed);
            return;
        }
        match self.available_bytes() {
            Ok(available) if available >= RECOVERED_BYTES => {
                tracing::info!(available, "the storage has room again");
                self.health.storage_full.store(false, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "storage probe failed"),
        }
    }

    fn available_bytes(&mut self) -> Result<u64, StoreError> {
        let Some(conn) = self.tx.sqlite() else {
            return Ok(u64::MAX);
        };
        let pragma = |name: &str| -> Result<i64, StoreError> {
            Ok(conn.query_row(name, [], |row| row.get(0))?)
        };
        let free = pragma("PRAGMA freelist_count")?;
        let count = pragma("PRAGMA page_count")?;
        let max = pragma("PRAGMA max_page_count")?;
        let size = pragma("PRAGMA page_size")?;
        let pages = free.saturating_add(max.saturating_sub(count).max(0));
        let within_limit = u64::try_from(pages.saturating_mul(size)).unwrap_or(0);
        Ok(within_limit.min(disk_available(&self.data_dir).unwrap_or(u64::MAX)))
    }

    fn run_batch(&mut self, jobs: Vec<Job>) {
        let mut jobs: Vec<(Job, u32)> = jobs.into_iter().map(|job| (job, 1)).collect();
        // Commands that lost a deadlock run again in a transaction of their
        // own, once this one has committed and released its locks.
        while !jobs.is_empty() {
            jobs = self.run_transaction(jobs);
        }
    }

    /// Runs `jobs` (each with its try number) in one transaction and
    /// answers them; returns those to run again.
    fn run_transaction(&mut self, jobs: Vec<(Job, u32)>) -> Vec<(Job, u32)> {
        let started = Instant::now();
        let count = jobs.len() as u64;
        self.health.batches.fetch_add(1, Ordering::Relaxed);
        self.health.commands.fetch_add(count, Ordering::Relaxed);
        self.health
            .largest_batch
            .fetch_max(count, Ordering::Relaxed);
        self.tx.appended.clear();
        // On PostgreSQL a first try waits at most LOCK_WAIT for a row
        // another instance's transaction holds, then gives way (see
        // `Ran::Conflict`): waiting longer is what a deadlock looks like,
        // which PostgreSQL itself would only break after a second. Retries
        // hold no other locks when they start, so they wait as long as it
        // takes.
        let retrying = jobs.iter().any(|(_, tries)| *tries > 1);
        let begin = match self.tx.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres if retrying => "BEGIN",
            Backend::Postgres => LOCK_WAIT,
        };
        if let Err(error) = self.execute(begin) {
            let error = self.classify(error);
            tracing::warn!(%error, "the writer could not begin a transaction");
            for (job, _) in jobs {
                job.answer(Err(error.replay()));
            }
            self.reconnect_after(&error);
            return Vec::new();
        }
        // A batch of one needs no savepoint: the transaction is its own.
        // Except on PostgreSQL, where a command that loses a deadlock is
        // rolled back to its savepoint and runs again after the commit.
        let postgres = self.tx.backend() == Backend::Postgres;
        let alone = jobs.len() == 1 && !postgres;
        let mut ran = Vec::with_capacity(jobs.len());
        let mut again = Vec::new();
        let mut broken = None;
        let mut full = false;
        let mut failed_alone = false;
        for (mut job, tries) in jobs {
            if broken.is_some() {
                ran.push(job);
                continue;
            }
            let mark = self.tx.appended.len();
            if !alone && let Err(error) = self.execute("SAVEPOINT command") {
                broken = Some(self.classify(error));
                ran.push(job);
                continue;
            }
            let last_try = !postgres || tries >= CONFLICT_TRIES;
            let outcome = job.run(&mut self.tx, last_try);
            if outcome == Ran::Conflict && !last_try {
                // Retrying here could meet the same cycle: the locks this
                // transaction's earlier commands hold are part of it.
                self.health
                    .conflicts_retried
                    .fetch_add(1, Ordering::Relaxed);
                self.tx.appended.truncate(mark);
                if let Err(error) = self
                    .execute("ROLLBACK TO command")
                    .and_then(|()| self.execute("RELEASE command"))
                {
                    broken = Some(self.classify(error));
                    ran.push(job);
                } else {
                    again.push((job, tries + 1));
                }
                continue;
            }
            if outcome == Ran::StorageFull {
                full = true;
                self.health.storage_full.store(true, Ordering::Relaxed);
            }
            let end = if outcome == Ran::Ok {
                if alone {
                    Ok(())
                } else {
                    self.execute("RELEASE command")
                }
            } else {
                // Its own failure: undone alone, the batch goes on.
                self.tx.appended.truncate(mark);
                if alone {
                    failed_alone = true;
                    Ok(())
                } else {
                    match self.execute("ROLLBACK TO command") {
                        Ok(()) => self.execute("RELEASE command"),
                        Err(error) => Err(error),
                    }
                }
            };
            ran.push(job);
            if let Err(error) = end {
                broken = Some(self.classify(error));
            }
        }
        let outcome = match broken {
            // SQLite may roll the whole transaction back on a full disk: the
            // savepoint is gone, and the batch failed for want of space.
            Some(_) if full => Err(StoreError::StorageFull),
            Some(error) => Err(error),
            // The only command failed: nothing to keep. Its own error is
            // its answer; the batch itself went fine.
            None if failed_alone => {
                let _ = self.execute("ROLLBACK");
                Ok(())
            }
            None => self
                .announce_to_cluster()
                .and_then(|()| self.execute("COMMIT"))
                .map_err(|e| self.classify(e)),
        };
        match outcome {
            Ok(()) => {
                // Full when a command of this batch could not find space,
                // even though the others committed.
                self.health.storage_full.store(full, Ordering::Relaxed);
                // Full: a checkpoint is already due.
                if let Some(checkpoint) = &self.checkpoint {
                    let _ = checkpoint.try_send(());
                }
                let events = std::mem::take(&mut self.tx.appended);
                if !events.is_empty() {
                    self.bus.committed(events);
                }
                for job in ran {
                    job.answer(Ok(()));
                }
                let took = started.elapsed();
                if took.as_millis() > 1000 {
                    tracing::warn!(?took, commands = count, "slow write batch");
                }
            }
            Err(error) => {
                // SQLite may have rolled back already; a second rollback
                // only reports that nothing is open.
                let _ = self.execute("ROLLBACK");
                self.tx.appended.clear();
                tracing::warn!(%error, commands = count, "a write batch failed");
                for job in ran.into_iter().chain(again.drain(..).map(|(job, _)| job)) {
                    job.answer(Err(error.replay()));
                }
                self.reconnect_after(&error);
            }
        }
        again
    }

    fn execute(&mut self, statement: &str) -> Result<(), StoreError> {
        self.tx.control(statement)
    }

    /// On PostgreSQL, tells every instance which events this batch
    /// appended: `NOTIFY` inside the transaction is delivered when, and
    /// only if, it commits, so no instance hears of an event before it can
    /// read it, and a crash right after the commit loses no announcement.
    /// Each payload names this instance (which announced its own events
    /// already) and `user:seq` pairs, within PostgreSQL's 8000-byte limit.
    fn announce_to_cluster(&mut self) -> Result<(), StoreError> {
        let WriterOptions::Postgres(options) = &self.options else {
            return Ok(());
        };
        if self.tx.appended.is_empty() {
            return Ok(());
        }
        let payloads = event_announcements(&options.node, &self.tx.appended);
        for payload in &payloads {
            self.tx.exec(
                "SELECT pg_notify($1, $2)",
                &super::rows::args![EVENTS_CHANNEL, payload.as_str()],
            )?;
        }
        Ok(())
    }

    /// A full disk (or database size limit) is reported as such and
    /// remembered until a batch commits again.
    fn classify(&self, error: StoreError) -> StoreError {
        if error.is_storage_full() {
            self.health.storage_full.store(true, Ordering::Relaxed);
            StoreError::StorageFull
        } else {
            error
        }
    }

    /// After an error other than a full disk the connection may be unusable
    /// (an I/O error): open a fresh one.
    fn reconnect_after(&mut self, error: &StoreError) {
        if matches!(error, StoreError::StorageFull) {
            return;
        }
        match self.options.connect() {
            Ok(conn) => self.tx.conn = conn,
            Err(error) => tracing::error!(%error, "the writer could not reconnect"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::model::event::Event;
    use crate::model::user::Role;
    use crate::server::config::Config;
    use crate::store::Store;
    use crate::store::accounts::CreateUser;
    use crate::store::events;

    /// A bus that remembers what it was handed.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(i64, i64)>>);

    impl OnCommit for Recorder {
        fn committed(&self, events: Vec<Appended>) {
            let mut seen = self.0.lock().unwrap();
            seen.extend(events.iter().map(|e| (e.user_id, e.seq)));
        }
    }

    async fn open(dir: &tempfile::TempDir, bus: Arc<Recorder>) -> Store {
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        Store::open(&config, bus).await.unwrap()
    }

    async fn user(store: &Store, name: &str) -> i64 {
        match store
            .create_user(name, name, "x", Role::User, 0)
            .await
            .unwrap()
        {
            CreateUser::Created(user) => user.id,
            CreateUser::UsernameTaken => panic!("taken"),
        }
    }

    fn marker(id: i64) -> Event {
        Event::NotificationsDeleted {
            ids: vec![id],
            unread_count: None,
        }
    }

    /// Appends one event for `user_id`; fails after writing when `fail`.
    async fn append_then(
        store: &Store,
        user_id: i64,
        id: i64,
        fail: bool,
    ) -> Result<(), StoreError> {
        store
            .write(move |tx| {
                events::append(tx, user_id, &marker(id), 0)?;
                if fail {
                    return Err(StoreError::Write(format!("command {id} refused")));
                }
                Ok(())
            })
            .await
    }

    /// Starts a command that keeps the writer busy until released; returns
    /// once the writer is running it.
    async fn hold_the_writer(
        store: &Store,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (release, held) = oneshot::channel::<()>();
        let (running, started) = oneshot::channel::<()>();
        let blocker = tokio::spawn({
            let store = store.clone();
            async move {
                // Commands must be Clone; the channels' ends are taken once.
                let running = Arc::new(std::sync::Mutex::new(Some(running)));
                let held = Arc::new(std::sync::Mutex::new(Some(held)));
                store
                    .write(move |_tx| {
                        if let Some(running) = running.lock().unwrap().take() {
                            let _ = running.send(());
                        }
                        if let Some(held) = held.lock().unwrap().take() {
                            let _ = held.blocking_recv();
                        }
                        Ok(())
                    })
                    .await
            }
        });
        started.await.unwrap();
        (release, blocker)
    }

    async fn until_waiting(store: &Store, count: usize) {
        while store.writer.waiting() < count {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn announcements_stay_under_postgres_limit_and_parse_back() {
        let events: Vec<Appended> = (1..=5_000)
            .map(|user_id| Appended {
                user_id: 9_000_000_000 + user_id,
                seq: 1_000_000 + user_id,
                kind: "notification",
                payload: String::new(),
            })
            .collect();
        let payloads = event_announcements("node-a", &events);
        assert!(payloads.len() > 1);
        let mut pairs = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000, "{}", payload.len());
            let (node, some) = parse_event_announcement(payload).unwrap();
            assert_eq!(node, "node-a");
            pairs.extend(some);
        }
        let expected: Vec<(i64, i64)> = events.iter().map(|e| (e.user_id, e.seq)).collect();
        assert_eq!(pairs, expected);
        assert!(parse_event_announcement("node|1:x").is_none());
    }

    #[tokio::test]
    async fn a_failing_command_is_undone_alone_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Arc::new(Recorder::default());
        let store = open(&dir, bus.clone()).await;
        let alice = user(&store, "alice").await;
        // Hold the writer inside a command so that the next three queue up
        // and run as one batch.
        let (release, blocker) = hold_the_writer(&store).await;
        let (batches_before, _, _) = store.writer_health().batches();
        let first = tokio::spawn({
            let store = store.clone();
            async move { append_then(&store, alice, 1, false).await }
        });
        let second = tokio::spawn({
            let store = store.clone();
            async move { append_then(&store, alice, 2, true).await }
        });
        let third = tokio::spawn({
            let store = store.clone();
            async move { append_then(&store, alice, 3, false).await }
        });
        until_waiting(&store, 3).await;
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert!(first.await.unwrap().is_ok());
        let refused = second.await.unwrap().unwrap_err();
        assert!(
            refused.to_string().contains("command 2 refused"),
            "{refused}"
        );
        assert!(third.await.unwrap().is_ok());
        let (batches_after, _, largest) = store.writer_health().batches();
        assert_eq!(
            batches_after,
            batches_before + 1,
            "the three ran in one batch"
        );
        assert!(largest >= 3);

        // Gap-free: the refused command's number was never used.
        let stored = store.events_after(alice, 0, 10).await.unwrap();
        let seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert!(stored[0].payload.contains("[1]") && stored[1].payload.contains("[3]"));
        assert_eq!(*bus.0.lock().unwrap(), vec![(alice, 1), (alice, 2)]);
    }

    #[tokio::test]
    async fn the_answer_comes_after_the_commit_and_the_bus() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Arc::new(Recorder::default());
        let store = open(&dir, bus.clone()).await;
        let bob = user(&store, "bob").await;
        for id in 1..=20 {
            append_then(&store, bob, id, false).await.unwrap();
            // Answered: durable (a pool connection reads it) and announced.
            assert_eq!(store.event_window(bob).await.unwrap().cursor, id);
            assert_eq!(bus.0.lock().unwrap().last(), Some(&(bob, id)));
        }
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            write_queue: std::num::NonZeroUsize::new(1).unwrap(),
            ..Config::default()
        };
        let store = Store::open(&config, Arc::new(Recorder::default()))
            .await
            .unwrap();
        let (release, blocker) = hold_the_writer(&store).await;
        // The writer is busy with the blocker: one command fits the queue…
        let queued = tokio::spawn({
            let store = store.clone();
            async move { store.write(|_tx| Ok(())).await }
        });
        until_waiting(&store, 1).await;
        // …the next is refused without waiting.
        let refused = store.write(|_tx| Ok(())).await;
        assert!(matches!(refused, Err(StoreError::Busy)), "{refused:?}");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        queued.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_unread_count_follows_every_change_to_notifications() {
        use crate::model::notification::{Category, Priority};
        use crate::store::notifications::NewNotification;

        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, Arc::new(Recorder::default())).await;
        let carol = user(&store, "carol").await;
        let new = |key: Option<&str>| NewNotification {
            category: Category::System,
            priority: Priority::Normal,
            title: "t".into(),
            body: String::new(),
            url: None,
            key: key.map(str::to_owned),
            actor: None,
            data: None,
            actions: Vec::new(),
        };
        let counted = || async {
            let kept = store.unread_count(carol).await.unwrap();
            let stored = store
                .list_notifications(carol, &Default::default(), None, 1000)
                .await
                .unwrap()
                .iter()
                .filter(|n| !n.read)
                .count() as i64;
            assert_eq!(kept, stored, "the kept count matches the rows");
            kept
        };
        let publish = |key: Option<&'static str>| {
            let notification = new(key);
            store.write(move |tx| tx.publish_notifications(&[carol], &notification, 1))
        };
        let first = publish(None).await.unwrap()[0];
        let keyed = publish(Some("k")).await.unwrap()[0];
        publish(None).await.unwrap();
        assert_eq!(counted().await, 3);
        store
            .write(move |tx| tx.mark_read(carol, keyed, 2))
            .await
            .unwrap();
        assert_eq!(counted().await, 2);
        // Replacing a read notification by its key makes it unread again.
        assert_eq!(publish(Some("k")).await.unwrap()[0], keyed);
        assert_eq!(counted().await, 3);
        store
            .write(move |tx| tx.delete_notification(carol, first, 3))
            .await
            .unwrap();
        assert_eq!(counted().await, 2);
        store
            .write(move |tx| tx.mark_all_read(carol, None, 4))
            .await
            .unwrap();
        assert_eq!(counted().await, 0);
        // Deleting a read notification leaves the count alone.
        store
            .write(move |tx| tx.delete_notification(carol, keyed, 5))
            .await
            .unwrap();
        assert_eq!(counted().await, 0);
    }

    #[tokio::test]
    async fn the_write_ahead_log_restarts_under_a_steady_stream_of_writes() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            db_synchronous: crate::server::config::Synchronous::Normal,
            ..Config::default()
        };
        let store = Store::open(&config, Arc::new(Recorder::default()))
            .await
            .unwrap();
        let dana = user(&store, "dana").await;
        // About 48 MB of events, one command after another: without a
        // checkpoint in the writer's own thread the log would hold it all
        // (it grew to 140 MB when the writer turned SQLite's off).
        let body = "x".repeat(12 * 1024);
        for _ in 0..4000 {
            let payload = format!("{{\"pad\":\"{body}\"}}");
            store
                .write(move |tx| events::append_payload(tx, dana, "padding", payload, 0))
                .await
                .unwrap();
        }
        let wal = std::fs::metadata(dir.path().join("herald.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(wal < 24 * 1024 * 1024, "the log grew to {wal} bytes");
    }
}
