//! The per-user event log. Server only.
//!
//! `append` runs inside the writer's transaction, next to the domain write
//! it describes, and records the event for the bus: it bumps the user's counter row (`user_counters.event_seq`) and
//! inserts the event with that number. The counter row is locked by the
//! update until commit, so numbers are gap-free and commit-ordered per user
//! on any backend (a global autoincrement would not be on PostgreSQL).

use super::rows::{Columns, args};
use super::writer::WriteTx;
use super::{Store, StoreError};
use crate::model::event::Event;

/// An event as written: who, which number, and its JSON. Handed to the bus
/// after the transaction commits.
#[derive(Debug, Clone)]
pub struct Appended {
    pub user_id: i64,
    pub seq: i64,
    pub kind: &'static str,
    pub payload: String,
}

/// A stored event read back for replay.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub kind: String,
    pub payload: String,
}

/// The replayable window of a user's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The latest sequence number (0 before the first event).
    pub cursor: i64,
    /// The highest number removed by retention; events after it are stored.
    pub pruned: i64,
}

impl Window {
    /// Whether a client that has seen everything up to `seen` can be
    /// brought up to date from the log without a gap.
    pub fn can_resume_from(&self, seen: i64) -> bool {
        seen >= self.pruned && seen <= self.cursor
    }
}

/// Appends `event` to `user_id`'s log inside `tx`.
pub fn append(tx: &mut WriteTx, user_id: i64, event: &Event, now: i64) -> Result<(), StoreError> {
    let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    append_payload(tx, user_id, event.name(), payload, now)
}

/// Appends an event already serialized (`payload`, named `kind`): an
/// event sent to many users is serialized once.
pub fn append_payload(
    tx: &mut WriteTx,
    user_id: i64,
    kind: &'static str,
    payload: String,
    now: i64,
) -> Result<(), StoreError> {
    let seq: i64 = tx.one(
        "UPDATE user_counters SET event_seq = event_seq + 1 WHERE user_id = $1 RETURNING event_seq",
        &args![user_id],
        |row| row.at(0),
    )?;
    tx.exec(
        "INSERT INTO events (user_id, seq, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        &args![user_id, seq, kind, &payload, now],
    )?;
    tx.appended(Appended {
        user_id,
        seq,
        kind,
        payload,
    });
    Ok(())
}

impl Store {
    /// The user's latest sequence number and retention floor.
    pub async fn event_window(&self, user_id: i64) -> Result<Window, StoreError> {
        self.pool
            .one(
                "SELECT event_seq, pruned_seq FROM user_counters WHERE user_id = $1",
                &args![user_id],
                |row| {
                    Ok(Window {
                        cursor: row.value("event_seq")?,
                        pruned: row.value("pruned_seq")?,
                    })
                },
            )
            .await
    }

    /// Up to `limit` events of `user_id` after `after`, in order.
    pub async fn events_after(
        &self,
        user_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.pool
            .all(
                "SELECT seq, kind, payload FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &args![user_id, after, limit],
                |row| {
                    Ok(StoredEvent {
                        seq: row.value("seq")?,
                        kind: row.value("kind")?,
                        payload: row.value("payload")?,
                    })
                },
            )
            .await
    }

    /// Retention: removes events created before `older_than` and all but the
    /// newest `keep_per_user` of each user, raising each affected user's
    /// `pruned_seq` in the same transaction so that a resume from before it
    /// is answered with a reset, never a silent gap. Returns events removed.
    pub async fn prune_events(
        &self,
        older_than: i64,
        keep_per_user: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |tx| {
            let raise = tx.backend().pick(
                "UPDATE user_counters AS c SET pruned_seq = MAX(pruned_seq, (
                     SELECT MAX(e.seq) FROM events e
                     WHERE e.user_id = c.user_id AND (e.created_at < $1 OR e.seq <= c.event_seq - $2)))
                 WHERE EXISTS (SELECT 1 FROM events e
                     WHERE e.user_id = c.user_id AND (e.created_at < $1 OR e.seq <= c.event_seq - $2))",
                "UPDATE user_counters AS c SET pruned_seq = GREATEST(pruned_seq, (
                     SELECT MAX(e.seq) FROM events e
                     WHERE e.user_id = c.user_id AND (e.created_at < $1 OR e.seq <= c.event_seq - $2)))
                 WHERE EXISTS (SELECT 1 FROM events e
                     WHERE e.user_id = c.user_id AND (e.created_at < $1 OR e.seq <= c.event_seq - $2))",
            );
            tx.exec(raise, &args![older_than, keep_per_user])?;
            tx.exec(
                "DELETE FROM events WHERE seq <= (SELECT pruned_seq FROM user_counters c WHERE c.user_id = events.user_id)",
                &[],
            )
        })
        .await
    }
}
