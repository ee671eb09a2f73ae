//! The bus: the one way events reach the hub. The store's writer hands it
//! every committed batch ([`OnCommit`]); services hand it ephemeral signals
//! (typing, presence), which are never stored, and the sessions they end.
//! On one node it feeds this process's hub directly. With several nodes on
//! PostgreSQL it also hands signals to the [`cluster`](super::cluster)
//! task, which sends them to the other instances; committed events reach
//! them through the notifications the writer sends inside each commit.
//! Server only.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use tokio::sync::mpsc;

use crate::push::queue::PushQueue;
use crate::realtime::hub::Hub;
use crate::store::accounts::SessionHash;
use crate::store::events::Appended;
use crate::store::writer::OnCommit;

/// Something the other instances must hear that is not a stored event.
#[derive(Debug)]
pub enum Signal {
    /// SSE bytes without `id:` for every connection of these users.
    Ephemeral { user_ids: Vec<i64>, bytes: Bytes },
    /// These sessions ended (sign-out, password change, account disabled):
    /// their streams end on every instance.
    SessionsEnded(Vec<SessionHash>),
    /// A token was revoked or an admin demoted or disabled: every
    /// instance forgets the tokens it found valid.
    TokensChanged,
    /// A user is (or stopped) looking at a conversation: no instance
    /// notifies them of its messages meanwhile.
    Viewing {
        user_id: i64,
        conversation_id: i64,
        viewing: bool,
    },
}

/// Signals waiting for the cluster task; beyond, the newest are dropped
/// (a burst this large is of typing and presence, which may be lost).
pub const SIGNAL_QUEUE: usize = 4096;

/// Carries committed and ephemeral events to the hub; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    hub: Hub,
    /// Notifications for users without a stream go on as Web Push.
    push: PushQueue,
    /// To the other instances, once this one joined a cluster.
    cluster: Arc<OnceLock<mpsc::Sender<Signal>>>,
}

impl Bus {
    /// A bus feeding `hub` (and offering committed notifications to
    /// `push`), on a single node until [`join_cluster`](Self::join_cluster).
    pub fn new(hub: Hub, push: PushQueue) -> Self {
        Self {
            hub,
            push,
            cluster: Arc::default(),
        }
    }

    /// From now on, signals also go to `cluster` (the task that sends them
    /// to the other instances). Returns false if it was set already.
    pub fn join_cluster(&self, cluster: mpsc::Sender<Signal>) -> bool {
        self.cluster.set(cluster).is_ok()
    }

    fn to_cluster(&self, signal: Signal) {
        if let Some(cluster) = self.cluster.get()
            && cluster.try_send(signal).is_err()
        {
            tracing::debug!("cluster signal queue full; signal dropped");
        }
    }

    /// An ephemeral event (SSE bytes without `id:`) for every connection of
    /// these users: not stored, never replayed, skipped by a full queue.
    pub fn ephemeral(&self, user_ids: &[i64], bytes: Bytes) {
        self.hub.announce_ephemeral(user_ids, bytes.clone());
        self.to_cluster(Signal::Ephemeral {
            user_ids: user_ids.to_vec(),
            bytes,
        });
    }

    /// Tells the other instances that these sessions ended (the caller ends
    /// this instance's streams of them).
    pub fn sessions_ended(&self, sessions: &[SessionHash]) {
        if !sessions.is_empty() {
            self.to_cluster(Signal::SessionsEnded(sessions.to_vec()));
        }
    }

    /// Tells the other instances that a user is (or stopped) looking at a
    /// conversation (this instance's registry has it already).
    pub fn viewing(&self, user_id: i64, conversation_id: i64, viewing: bool) {
        self.to_cluster(Signal::Viewing {
            user_id,
            conversation_id,
            viewing,
        });
    }

    /// Tells the other instances to forget the API tokens they found valid
    /// (this instance's store forgot its own already).
    pub fn tokens_changed(&self) {
        self.to_cluster(Signal::TokensChanged);
    }
}

impl OnCommit for Bus {
    fn committed(&self, events: Vec<Appended>) {
        self.hub.announce_all(&events);
        // Only the instance that wrote an event offers it for push, so a
        // cluster pushes it once.
        self.push.offer(events);
    }
}
