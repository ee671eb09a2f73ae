//! The writer: every write that appends events goes through one task per
//! store. It takes the commands waiting (up to [`MAX_BATCH`]), runs them in
//! ONE transaction, each inside its own SAVEPOINT so that a failing command
//! is rolled back and answered alone, commits, hands the appended events to
//! the bus, and only then answers each caller. One fsync covers a whole
//! batch (group commit), so the durable mode is also the fast one, and no
//! caller hears "accepted" before its events are on disk. Server only.
//!
//! Batches form by themselves: while one commits, the next commands queue
//! up. A lone command is its own batch and waits for nothing.

use std::ops::{Deref, DerefMut};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::events::Appended;

/// Commands run in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// Where committed events go: the bus. The writer calls it after COMMIT and
/// before it answers anyone, so a caller that got its answer can rely on
/// the hub having been told.
pub trait OnCommit: Send + Sync + 'static {
    /// Events of one committed batch, in the order they were appended.
    fn committed(&self, events: Vec<Appended>);
}

/// The open transaction a command runs in: the writer's connection (the
/// store's write functions run their SQL on it) and the events appended so
/// far. A command that returns `Err` is rolled back to its savepoint; one
/// that returns `Ok` keeps everything it wrote, so write functions decide
/// before they write.
pub struct WriteTx {
    conn: SqliteConnection,
    appended: Vec<Appended>,
}

impl WriteTx {
    /// Records an event appended in this transaction, for the bus.
    pub(super) fn appended(&mut self, event: Appended) {
        self.appended.push(event);
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// A command with its answer channel, its type erased.
trait Command: Send {
    /// Runs the command in the open transaction; whether it succeeded.
    fn run<'t>(&'t mut self, tx: &'t mut WriteTx) -> BoxFuture<'t, bool>;
    /// Answers once the batch's fate is known: `committed` is the commit's
    /// outcome. A command that failed answers its own error; one that never
    /// ran answers the batch's.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Typed<T, F> {
    command: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Command for Typed<T, F>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut WriteTx) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let Some(command) = self.command.take() else {
                return false;
            };
            // A panic in one command must not take the writer down with it.
            let outcome = AssertUnwindSafe(command(tx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Write("a write command panicked".into())));
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
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

/// The write path's health, for `/healthz` and the status page.
#[derive(Debug, Default)]
pub struct WriterHealth {
    storage_full: AtomicBool,
    batches: AtomicU64,
    commands: AtomicU64,
    largest_batch: AtomicU64,
}

impl WriterHealth {
    /// Why writes fail right now, if they do.
    pub fn fault(&self) -> Option<&'static str> {
        self.storage_full
            .load(Ordering::Relaxed)
            .then_some("storage_full")
    }

    /// Transactions committed or attempted, commands run, largest batch.
    pub fn batches(&self) -> (u64, u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.commands.load(Ordering::Relaxed),
            self.largest_batch.load(Ordering::Relaxed),
        )
    }
}

/// The sending side of the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
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
    /// Opens the writer's own connection and starts its task. `queue` bounds
    /// the commands waiting; beyond it `run` answers [`StoreError::Busy`].
    pub async fn start(
        options: &SqliteConnectOptions,
        queue: usize,
        bus: Arc<dyn OnCommit>,
    ) -> Result<Self, StoreError> {
        let conn = options.connect().await?;
        let (jobs, receiver) = mpsc::channel(queue.max(1));
        let health = Arc::new(WriterHealth::default());
        let task = WriterTask {
            tx: WriteTx {
                conn,
                appended: Vec::new(),
            },
            options: options.clone(),
            bus,
            health: health.clone(),
        };
        tokio::spawn(task.run(receiver));
        Ok(Self { jobs, health })
    }

    /// The write path's health.
    pub fn health(&self) -> &WriterHealth {
        &self.health
    }

    /// Runs `command` in the next batch and answers once that batch has
    /// committed and its events are on the bus. Answers
    /// [`StoreError::Busy`] at once when the queue is full.
    pub async fn run<T, F>(&self, command: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(Typed {
            command: Some(command),
            outcome: None,
            answer,
        });
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy,
            mpsc::error::TrySendError::Closed(_) => StoreError::Write("the writer stopped".into()),
        })?;
        answered
            .await
            .map_err(|_| StoreError::Write("the writer dropped a command".into()))?
    }
}

struct WriterTask {
    tx: WriteTx,
    options: SqliteConnectOptions,
    bus: Arc<dyn OnCommit>,
    health: Arc<WriterHealth>,
}

impl WriterTask {
    async fn run(mut self, mut receiver: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.run_batch(std::mem::take(&mut batch)).await;
        }
    }

    async fn run_batch(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let count = jobs.len() as u64;
        self.health.batches.fetch_add(1, Ordering::Relaxed);
        self.health.commands.fetch_add(count, Ordering::Relaxed);
        self.health
            .largest_batch
            .fetch_max(count, Ordering::Relaxed);
        self.tx.appended.clear();
        if let Err(error) = self.execute("BEGIN IMMEDIATE").await {
            let error = self.classify(error);
            tracing::warn!(%error, "the writer could not begin a transaction");
            for job in jobs {
                job.answer(Err(error.replay()));
            }
            self.reconnect_after(&error).await;
            return;
        }
        let mut ran = Vec::with_capacity(jobs.len());
        let mut broken = None;
        for mut job in jobs {
            if broken.is_some() {
                ran.push(job);
                continue;
            }
            let mark = self.tx.appended.len();
            if let Err(error) = self.execute("SAVEPOINT command").await {
                broken = Some(self.classify(error));
                ran.push(job);
                continue;
            }
            let end = if job.run(&mut self.tx).await {
                self.execute("RELEASE command").await
            } else {
                // Its own failure: undone alone, the batch goes on.
                self.tx.appended.truncate(mark);
                match self.execute("ROLLBACK TO command").await {
                    Ok(()) => self.execute("RELEASE command").await,
                    Err(error) => Err(error),
                }
            };
            ran.push(job);
            if let Err(error) = end {
                broken = Some(self.classify(error));
            }
        }
        let outcome = match broken {
            Some(error) => Err(error),
            None => self.execute("COMMIT").await.map_err(|e| self.classify(e)),
        };
        match outcome {
            Ok(()) => {
                self.health.storage_full.store(false, Ordering::Relaxed);
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
                let _ = self.execute("ROLLBACK").await;
                self.tx.appended.clear();
                tracing::warn!(%error, commands = count, "a write batch failed");
                for job in ran {
                    job.answer(Err(error.replay()));
                }
                self.reconnect_after(&error).await;
            }
        }
    }

    async fn execute(&mut self, statement: &'static str) -> Result<(), StoreError> {
        sqlx::query(statement).execute(&mut self.tx.conn).await?;
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
    /// (an I/O error, a closed worker): open a fresh one.
    async fn reconnect_after(&mut self, error: &StoreError) {
        if matches!(error, StoreError::StorageFull) {
            return;
        }
        match self.options.connect().await {
            Ok(conn) => self.tx.conn = conn,
            Err(error) => tracing::error!(%error, "the writer could not reconnect"),
        }
    }
}
