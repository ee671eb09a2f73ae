//! The bus: the one way events reach the hub. The store's writer hands it
//! every committed batch ([`OnCommit`]); services hand it ephemeral signals
//! (typing, presence), which are never stored. On one node it feeds this
//! process's hub directly; with several nodes it is where a commit becomes
//! a cross-node announcement (user, sequence) that every node's hub reads
//! back from the store. Server only.

use axum::body::Bytes;

use crate::realtime::hub::Hub;
use crate::store::events::Appended;
use crate::store::writer::OnCommit;

/// Carries committed and ephemeral events to the hub; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    hub: Hub,
}

impl Bus {
    /// A bus feeding `hub`, on a single node.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }

    /// An ephemeral event (SSE bytes without `id:`) for every connection of
    /// these users: not stored, never replayed, skipped by a full queue.
    pub fn ephemeral(&self, user_ids: &[i64], bytes: Bytes) {
        self.hub.announce_ephemeral(user_ids, bytes);
    }
}

impl OnCommit for Bus {
    fn committed(&self, events: Vec<Appended>) {
        self.hub.announce_all(&events);
    }
}
