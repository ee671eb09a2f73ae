//! The queue between the bus and the push sender: the bus offers every
//! committed batch here, on the writer's thread, and must never wait; the
//! sender's dispatcher reads it. Its own module so that the bus, below the
//! services, does not import the sender. Server only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::store::events::Appended;

/// Committed batches waiting for the dispatcher.
const QUEUE_BATCHES: usize = 1024;

/// Counters for the status page and `/metrics`.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Pushes a push service accepted.
    pub sent: AtomicU64,
    /// Pushes given up on (refused, or still failing after every retry).
    pub failed: AtomicU64,
    /// Subscriptions forgotten: gone at their service, or refusing pushes.
    pub removed: AtomicU64,
    /// Pushes dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Attempts repeated after a 429, a 5xx or a network error.
    pub retried: AtomicU64,
    /// Notification events queued and deliveries not yet finished.
    queued: AtomicI64,
}

impl PushStats {
    /// Events and deliveries waiting or in flight.
    pub fn queue_depth(&self) -> u64 {
        u64::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// A delivery started: it counts until [`dequeued`](Self::dequeued).
    pub fn delivery_started(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` queued events or deliveries are done.
    pub fn dequeued(&self, count: i64) {
        self.queued.fetch_sub(count, Ordering::Relaxed);
    }
}

/// Where the bus offers committed events; cheap to clone.
#[derive(Clone)]
pub struct PushQueue {
    sender: mpsc::Sender<Vec<Appended>>,
    stats: Arc<PushStats>,
}

/// The dispatcher's end of the queue, handed to [`spawn`].
pub struct PushInbox(mpsc::Receiver<Vec<Appended>>);

impl PushInbox {
    /// The receiving end, for the dispatcher.
    pub fn into_receiver(self) -> mpsc::Receiver<Vec<Appended>> {
        self.0
    }
}

impl PushQueue {
    /// A queue and the inbox its dispatcher reads.
    pub fn new() -> (Self, PushInbox) {
        let (sender, receiver) = mpsc::channel(QUEUE_BATCHES);
        let queue = Self {
            sender,
            stats: Arc::default(),
        };
        (queue, PushInbox(receiver))
    }

    /// The counters.
    pub fn stats(&self) -> &PushStats {
        &self.stats
    }

    /// The counters, for the sender to share.
    pub fn shared_stats(&self) -> Arc<PushStats> {
        self.stats.clone()
    }

    /// Offers a committed batch: its new and replaced notifications are
    /// queued, the rest is ignored. Never waits.
    pub fn offer(&self, mut events: Vec<Appended>) {
        events.retain(|e| matches!(e.kind, "notification" | "notification_updated"));
        if events.is_empty() {
            return;
        }
        let count = events.len() as i64;
        match self.sender.try_send(events) {
            Ok(()) => {
                self.stats.queued.fetch_add(count, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats
                    .dropped
                    .fetch_add(count.unsigned_abs(), Ordering::Relaxed);
                tracing::warn!(count, "push queue full; pushes dropped");
            }
        }
    }
}
