//! The hub: live connections per user, each with a bounded queue. It is only
//! the fast path; the store is the truth, and a connection that misses
//! anything (dropped when its queue is full, or an announcement that arrives
//! out of order) catches up from the store. Server only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use tokio::sync::mpsc;

use crate::realtime::frames;
use crate::store::events::{Appended, StoredEvent};

/// One event as SSE bytes, serialized once and shared by every connection
/// that receives it: a stored event (`id:`, `event:`, `data:`) with its
/// user's sequence number, or an ephemeral one (no `id:`, `seq` 0) such as
/// typing and presence.
#[derive(Debug)]
pub struct Frame {
    pub user_id: i64,
    pub seq: i64,
    pub bytes: Bytes,
    /// When its transaction committed (stored events only): the start of
    /// the delivery latency the status page shows.
    pub committed_at: Option<Instant>,
}

impl Frame {
    /// Typing, presence: not stored, never replayed, skipped when late.
    pub fn is_ephemeral(&self) -> bool {
        self.seq == 0
    }
}

/// A user's first connection opened (`online`) or last one closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceChange {
    pub user_id: i64,
    pub online: bool,
}

/// Presence changes waiting for the presence task; beyond this they are
/// dropped (presence is ephemeral, and the next change corrects it).
const PRESENCE_QUEUE: usize = 4096;

/// A frame shared between queues.
pub type SharedFrame = Arc<Frame>;

impl Frame {
    /// The frame of a just-written event.
    pub fn appended(appended: &Appended) -> SharedFrame {
        Arc::new(Self {
            user_id: appended.user_id,
            seq: appended.seq,
            bytes: frames::stored(appended.seq, appended.kind, &appended.payload),
            committed_at: Some(Instant::now()),
        })
    }

    /// The SSE bytes of an event read back from the store.
    pub fn stored_bytes(event: &StoredEvent) -> Bytes {
        frames::stored(event.seq, &event.kind, &event.payload)
    }
}

struct Connection {
    id: u64,
    queue: mpsc::Sender<SharedFrame>,
}

/// Counters the status page reads.
#[derive(Debug, Default)]
pub struct HubCounters {
    pub frames_announced: AtomicU64,
    pub frames_queued: AtomicU64,
    pub slow_consumers_dropped: AtomicU64,
    pub connections_refused: AtomicU64,
}

struct Inner {
    users: Mutex<HashMap<i64, Vec<Connection>>>,
    /// Streams per user whose body still exists, whether or not the hub
    /// still feeds them: a stream dropped as a slow consumer keeps its
    /// socket until its body is gone, and keeps counting against the cap
    /// until then.
    open: Mutex<HashMap<i64, u32>>,
    presence: mpsc::Sender<PresenceChange>,
    presence_changes: Mutex<Option<mpsc::Receiver<PresenceChange>>>,
    next_id: AtomicU64,
    queue_capacity: usize,
    counters: HubCounters,
}

/// The set of live connections; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A live connection's receiving end; leaving the hub when dropped.
pub struct Subscription {
    hub: Hub,
    user_id: i64,
    id: u64,
    /// Frames for this connection. `None` from `recv` means the hub dropped
    /// the connection (its queue was full): end the stream so the client
    /// resumes from the store.
    pub frames: mpsc::Receiver<SharedFrame>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut open = self.hub.open_streams();
            if let Some(count) = open.get_mut(&self.user_id) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.user_id);
                }
            }
        }
        let mut users = self.hub.lock();
        let mut went_offline = false;
        if let Some(connections) = users.get_mut(&self.user_id) {
            connections.retain(|c| c.id != self.id);
            if connections.is_empty() {
                users.remove(&self.user_id);
                went_offline = true;
            }
        }
        drop(users);
        if went_offline {
            self.hub.presence_changed(self.user_id, false);
        }
    }
}

/// The user has as many connections as allowed.
#[derive(Debug)]
pub struct TooManyConnections;

impl Hub {
    /// A hub whose connections each buffer `queue_capacity` frames.
    pub fn new(queue_capacity: usize) -> Self {
        let (presence, presence_changes) = mpsc::channel(PRESENCE_QUEUE);
        Self {
            inner: Arc::new(Inner {
                users: Mutex::new(HashMap::new()),
                open: Mutex::new(HashMap::new()),
                presence,
                presence_changes: Mutex::new(Some(presence_changes)),
                next_id: AtomicU64::new(1),
                queue_capacity: queue_capacity.max(1),
                counters: HubCounters::default(),
            }),
        }
    }

    /// The users going online and offline, for the one task that tells
    /// their contacts. `None` after the first call.
    pub fn take_presence_changes(&self) -> Option<mpsc::Receiver<PresenceChange>> {
        self.inner
            .presence_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn presence_changed(&self, user_id: i64, online: bool) {
        // Never waits: a full queue loses a presence blip, nothing more.
        let _ = self
            .inner
            .presence
            .try_send(PresenceChange { user_id, online });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Connection>>> {
        // Critical sections are single pushes/removals: never inconsistent.
        self.inner.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_streams(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
        self.inner.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection of `user_id`, at most `max` open per user (a
    /// stream counts until its Subscription is dropped).
    pub fn subscribe(&self, user_id: i64, max: u32) -> Result<Subscription, TooManyConnections> {
        {
            let mut open = self.open_streams();
            let count = open.entry(user_id).or_default();
            if *count >= max {
                drop(open);
                self.inner
                    .counters
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                return Err(TooManyConnections);
            }
            *count += 1;
        }
        let (queue, frames) = mpsc::channel(self.inner.queue_capacity);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut users = self.lock();
        let connections = users.entry(user_id).or_default();
        let first = connections.is_empty();
        connections.push(Connection { id, queue });
        drop(users);
        if first {
            self.presence_changed(user_id, true);
        }
        Ok(Subscription {
            hub: self.clone(),
            user_id,
            id,
            frames,
        })
    }

    /// Queues `frame` on every connection of its user. A full queue drops
    /// that connection (never waits): other users are never slowed down.
    #[cfg(test)]
    fn announce(&self, frame: SharedFrame) {
        self.announce_frames(vec![frame]);
    }

    /// Queues each frame on every connection of its user, in one pass
    /// under the lock (a broadcast to 10,000 users takes it once). A full
    /// queue drops that connection (never waits): other users are never
    /// slowed down.
    pub(in crate::realtime) fn announce_frames(&self, frames: Vec<SharedFrame>) {
        let counters = &self.inner.counters;
        counters
            .frames_announced
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        let mut queued = 0u64;
        let mut dropped = Vec::new();
        let mut gone = Vec::new();
        {
            let mut users = self.lock();
            for frame in frames {
                let Some(connections) = users.get_mut(&frame.user_id) else {
                    continue;
                };
                let before = connections.len();
                connections.retain(|connection| connection.queue.try_send(frame.clone()).is_ok());
                let kept = connections.len();
                queued += kept as u64;
                if kept < before {
                    dropped.push((frame.user_id, before - kept));
                }
                if kept == 0 {
                    users.remove(&frame.user_id);
                    if before > 0 {
                        gone.push(frame.user_id);
                    }
                }
            }
        }
        counters.frames_queued.fetch_add(queued, Ordering::Relaxed);
        for user_id in gone {
            self.presence_changed(user_id, false);
        }
        for (user_id, count) in dropped {
            counters
                .slow_consumers_dropped
                .fetch_add(count as u64, Ordering::Relaxed);
            tracing::info!(user_id, dropped = count, "slow consumer dropped");
        }
    }

    /// Those of `users` with a connection here.
    pub(in crate::realtime) fn connected_among(
        &self,
        users: impl IntoIterator<Item = i64>,
    ) -> Vec<i64> {
        let connected = self.lock();
        users
            .into_iter()
            .filter(|user| connected.contains_key(user))
            .collect()
    }

    /// How many streams `user_id` holds here.
    pub fn streams_of(&self, user_id: i64) -> u32 {
        self.open_streams().get(&user_id).copied().unwrap_or(0)
    }

    /// Every user with a stream here, and how many they hold.
    pub fn stream_counts(&self) -> Vec<(i64, u32)> {
        self.open_streams().iter().map(|(&u, &n)| (u, n)).collect()
    }

    /// Every user with a connection here.
    pub fn connected_users(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }

    /// Announces everything a committed transaction wrote. Only the bus
    /// calls it: nothing reaches a connection any other way. The frames
    /// are made before the lock is taken.
    pub(in crate::realtime) fn announce_all(&self, appended: &[Appended]) {
        self.announce_frames(appended.iter().map(Frame::appended).collect());
    }

    /// Queues an ephemeral event (SSE bytes without `id:`) on every
    /// connection of these users. A full queue skips it: ephemeral events
    /// may be lost, and must not cost anyone their connection.
    pub(in crate::realtime) fn announce_ephemeral(&self, user_ids: &[i64], bytes: Bytes) {
        let users = self.lock();
        for &user_id in user_ids {
            let Some(connections) = users.get(&user_id) else {
                continue;
            };
            let frame = Arc::new(Frame {
                user_id,
                seq: 0,
                bytes: bytes.clone(),
                committed_at: None,
            });
            for connection in connections {
                let _ = connection.queue.try_send(Arc::clone(&frame));
            }
        }
    }

    /// Live connections in total.
    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Users with at least one live connection.
    pub fn online_users(&self) -> usize {
        self.lock().len()
    }

    /// The `limit` users with the most live connections, most first.
    pub fn top_users(&self, limit: usize) -> Vec<(i64, usize)> {
        let mut users: Vec<(i64, usize)> = self
            .lock()
            .iter()
            .map(|(user_id, connections)| (*user_id, connections.len()))
            .collect();
        users.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        users.truncate(limit);
        users
    }

    /// Whether `user_id` has a live connection.
    pub fn is_online(&self, user_id: i64) -> bool {
        self.lock().contains_key(&user_id)
    }

    /// The hub's counters.
    pub fn counters(&self) -> &HubCounters {
        &self.inner.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(user_id: i64, seq: i64) -> SharedFrame {
        Arc::new(Frame {
            user_id,
            seq,
            bytes: frames::stored(seq, "notification", "{}"),
            committed_at: None,
        })
    }

    #[test]
    fn frames_reach_only_their_users_connections() {
        let hub = Hub::new(8);
        let mut alice1 = hub.subscribe(1, 4).unwrap();
        let mut alice2 = hub.subscribe(1, 4).unwrap();
        let mut bob = hub.subscribe(2, 4).unwrap();
        hub.announce(frame(1, 1));
        let a = alice1.frames.try_recv().unwrap();
        let b = alice2.frames.try_recv().unwrap();
        // Serialized once, shared.
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            a.bytes,
            Bytes::from("id: 1\nevent: notification\ndata: {}\n\n")
        );
        assert!(bob.frames.try_recv().is_err());
        assert_eq!((hub.connections(), hub.online_users()), (3, 2));
        drop(alice1);
        drop(alice2);
        assert_eq!((hub.connections(), hub.online_users()), (1, 1));
        assert!(!hub.is_online(1));
    }

    #[test]
    fn a_full_queue_drops_only_that_connection() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe(1, 4).unwrap();
        let mut fast = hub.subscribe(1, 4).unwrap();
        for seq in 1..=3 {
            hub.announce(frame(1, seq));
            // The fast one keeps up.
            assert_eq!(fast.frames.try_recv().unwrap().seq, seq);
        }
        // The slow one got what fitted, then its channel closed.
        assert_eq!(slow.frames.try_recv().unwrap().seq, 1);
        assert_eq!(slow.frames.try_recv().unwrap().seq, 2);
        assert!(matches!(
            slow.frames.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(
            hub.counters()
                .slow_consumers_dropped
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn presence_changes_on_first_and_last_connection_and_ephemeral_frames_skip_full_queues() {
        let hub = Hub::new(1);
        let mut changes = hub.take_presence_changes().unwrap();
        assert!(hub.take_presence_changes().is_none());
        let mut a = hub.subscribe(1, 4).unwrap();
        let b = hub.subscribe(1, 4).unwrap();
        assert_eq!(
            changes.try_recv().unwrap(),
            PresenceChange {
                user_id: 1,
                online: true
            }
        );
        hub.announce_ephemeral(&[1, 2], Bytes::from_static(b"event: typing\ndata: {}\n\n"));
        // The second one does not fit in a queue of one: skipped, not dropped.
        hub.announce_ephemeral(&[1], Bytes::from_static(b"event: typing\ndata: {}\n\n"));
        assert!(a.frames.try_recv().unwrap().is_ephemeral());
        assert_eq!(hub.connections(), 2);
        drop(a);
        assert!(changes.try_recv().is_err(), "still online through b");
        drop(b);
        assert_eq!(
            changes.try_recv().unwrap(),
            PresenceChange {
                user_id: 1,
                online: false
            }
        );
    }

    #[test]
    fn connections_per_user_are_capped() {
        let hub = Hub::new(2);
        let _a = hub.subscribe(1, 2).unwrap();
        let _b = hub.subscribe(1, 2).unwrap();
        assert!(hub.subscribe(1, 2).is_err());
        assert!(hub.subscribe(2, 2).is_ok());
    }
}
