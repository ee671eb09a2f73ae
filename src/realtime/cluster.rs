//! Several instances on one PostgreSQL database. Every committed event is
//! announced by the writer that wrote it, inside its transaction
//! (`NOTIFY herald_events`, `node|user:seq,…`); every instance listens,
//! reads the bodies of the events its own connections need from the store,
//! and hands them to its hub. Signals that are not stored (typing,
//! presence, sessions that ended, tokens to forget) go the same way on
//! `herald_signals`, sent by this module from the bus's queue.
//!
//! Nothing here is the source of truth: a connection that sees a gap reads
//! the store. What this module guarantees is that a gap is always seen:
//! when the listener's connection drops (or stays silent past a health
//! check, its own pings no longer coming back), it reconnects and hands
//! every connected user's latest stored event to the hub, which makes each
//! connection behind it catch up from the store. A lost notification
//! therefore never loses an event. Server only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::realtime::bus::{SIGNAL_QUEUE, Signal};
use crate::realtime::hub::Frame;
use crate::server::clock::now_ms;
use crate::server::state::AppState;
use crate::store::accounts::SessionHash;
use crate::store::events::StoredEvent;
use crate::store::writer::{
    EVENTS_CHANNEL, SIGNAL_PAYLOAD_BYTES as PAYLOAD_BYTES, SIGNALS_CHANNEL,
    parse_event_announcement,
};
use crate::store::{Backend, StoreError};

/// How often each instance pings itself through PostgreSQL (and renews
/// its row in the cluster view).
const PING_EVERY: Duration = Duration::from_secs(2);

/// A listener that has not heard its own ping for this long is taken for
/// dead (a half-open connection that no error reveals) and replaced.
const SILENT_LIMIT: Duration = Duration::from_secs(8);

/// Wait before trying to listen again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Users whose latest event is read per statement when resynchronizing.
const RESYNC_CHUNK: usize = 1_000;

/// Starts the cluster's tasks when the store is PostgreSQL (on SQLite
/// there is one instance, and nothing to do).
pub fn spawn(state: AppState) {
    if state.store.backend() != Backend::Postgres {
        return;
    }
    let (signals, outgoing) = mpsc::channel(SIGNAL_QUEUE);
    if !state.bus.join_cluster(signals) {
        return;
    }
    let heard_self = Arc::new(AtomicI64::new(now_ms()));
    let silent = Arc::new(Notify::new());
    tokio::spawn(send(state.clone(), outgoing));
    tokio::spawn(watch(state.clone(), heard_self.clone(), silent.clone()));
    tokio::spawn(listen(state, heard_self, silent));
}

/// Sends the bus's signals, and a ping every [`PING_EVERY`].
async fn send(state: AppState, mut outgoing: mpsc::Receiver<Signal>) {
    let node = state.store.node_id().to_owned();
    let started_at = now_ms();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let payloads = tokio::select! {
            () = state.shutdown.cancelled() => return,
            signal = outgoing.recv() => match signal {
                Some(signal) => encode(&node, signal),
                None => return,
            },
            _ = ping.tick() => {
                // The cluster view's row rides on the ping.
                let beat = state.store.instance_heartbeat(
                    started_at,
                    state.hub.connections() as u64,
                    state.hub.online_users() as u64,
                    now_ms(),
                );
                if let Err(error) = beat.await {
                    tracing::warn!(%error, "could not renew this instance's row");
                }
                vec![format!("{node}|p")]
            }
        };
        for payload in payloads {
            if let Err(error) = state.store.notify(SIGNALS_CHANNEL, &payload).await {
                tracing::warn!(%error, "could not signal the other instances");
            }
        }
    }
}

/// Payloads for a signal: `node|e|user,user|<SSE bytes>`,
/// `node|s|<hash hex>,…`, `node|t` or `node|v|user|conversation:0|1`,
/// each within [`PAYLOAD_BYTES`].
fn encode(node: &str, signal: Signal) -> Vec<String> {
    match signal {
        Signal::Ephemeral { user_ids, bytes } => {
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return Vec::new();
            };
            let room = PAYLOAD_BYTES.saturating_sub(node.len() + text.len() + 8);
            if room < 24 {
                tracing::debug!(bytes = text.len(), "ephemeral event too large to signal");
                return Vec::new();
            }
            chunks(&user_ids, room, |ids| format!("{node}|e|{ids}|{text}"))
        }
        Signal::SessionsEnded(sessions) => {
            let hex: Vec<String> = sessions.iter().map(hex).collect();
            chunks(&hex, PAYLOAD_BYTES - node.len() - 4, |list| {
                format!("{node}|s|{list}")
            })
        }
        Signal::TokensChanged => vec![format!("{node}|t")],
        Signal::Viewing {
            user_id,
            conversation_id,
            viewing,
        } => vec![format!(
            "{node}|v|{user_id}|{conversation_id}:{}",
            u8::from(viewing)
        )],
    }
}

/// `items` joined by commas in pieces of at most `room` bytes, each made
/// into a payload by `payload`.
fn chunks<T: ToString>(items: &[T], room: usize, payload: impl Fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    let mut list = String::new();
    for item in items {
        let item = item.to_string();
        if !list.is_empty() && list.len() + item.len() + 1 > room {
            out.push(payload(&list));
            list.clear();
        }
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str(&item);
    }
    if !list.is_empty() {
        out.push(payload(&list));
    }
    out
}

fn hex(hash: &SessionHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<SessionHash> {
    if text.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// Wakes the listener when its own pings stopped coming back.
async fn watch(state: AppState, heard_self: Arc<AtomicI64>, silent: Arc<Notify>) {
    let mut check = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = check.tick() => {}
        }
        let quiet_ms = now_ms() - heard_self.load(Ordering::Relaxed);
        if quiet_ms > SILENT_LIMIT.as_millis() as i64 {
            tracing::warn!(
                quiet_ms,
                "the cluster listener heard nothing; reconnecting it"
            );
            // Counted from now: the new listener gets its own chance.
            heard_self.store(now_ms(), Ordering::Relaxed);
            silent.notify_one();
        }
    }
}

/// Listens for the other instances' announcements, for good: a dropped or
/// silent connection is replaced, and every replacement resynchronizes.
async fn listen(state: AppState, heard_self: Arc<AtomicI64>, silent: Arc<Notify>) {
    let node = state.store.node_id().to_owned();
    loop {
        let mut listener = match state.store.listen(&[EVENTS_CHANNEL, SIGNALS_CHANNEL]).await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen to the other instances; retrying");
                tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_AFTER) => continue,
                }
            }
        };
        tracing::info!(node, "listening to the other instances");
        // Whatever was announced while nobody listened is in the store.
        if let Err(error) = resync(&state).await {
            tracing::warn!(%error, "resynchronizing after (re)connecting failed");
        }
        loop {
            // Only a listener being given up is ever cancelled mid-read.
            let received = tokio::select! {
                () = state.shutdown.cancelled() => return,
                () = silent.notified() => break,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    let outcome = handle(
                        &state,
                        &node,
                        notification.channel(),
                        notification.payload(),
                    )
                    .await;
                    match outcome {
                        Ok(true) => heard_self.store(now_ms(), Ordering::Relaxed),
                        Ok(false) => {}
                        Err(error) => {
                            // A body could not be read: start over, which
                            // resynchronizes everyone.
                            tracing::warn!(%error, "reading announced events failed");
                            break;
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!("the cluster listener lost its connection; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the cluster listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Acts on one notification; `true` when it was this instance's own ping.
async fn handle(
    state: &AppState,
    node: &str,
    channel: &str,
    payload: &str,
) -> Result<bool, StoreError> {
    if channel == EVENTS_CHANNEL {
        let Some((from, numbers)) = parse_event_announcement(payload) else {
            tracing::debug!(payload, "unreadable announcement");
            return Ok(false);
        };
        if from != node {
            deliver(state, numbers).await?;
        }
        return Ok(false);
    }
    let mut parts = payload.splitn(4, '|');
    let (Some(from), Some(kind)) = (parts.next(), parts.next()) else {
        return Ok(false);
    };
    if from == node {
        return Ok(kind == "p");
    }
    match kind {
        "e" => {
            if let (Some(ids), Some(bytes)) = (parts.next(), parts.next()) {
                let ids: Vec<i64> = ids.split(',').filter_map(|id| id.parse().ok()).collect();
                state
                    .hub
                    .announce_ephemeral(&ids, Bytes::copy_from_slice(bytes.as_bytes()));
            }
        }
        "s" => {
            let sessions: Vec<SessionHash> = parts
                .next()
                .unwrap_or_default()
                .split(',')
                .filter_map(unhex)
                .collect();
            state.live_sessions.end(&sessions);
        }
        "t" => {
            state.store.forget_tokens();
            state.integration_keys.forget();
        }
        "o" => {
            if let (Some(a), Some(b)) = (parts.next(), parts.next()) {
                crate::topics::service::apply_remote_value(state, &format!("{a}|{b}"));
            }
        }
        "u" => {
            if let (Some(a), Some(b)) = (parts.next(), parts.next()) {
                crate::topics::service::apply_forwarded(state, &format!("{a}|{b}")).await;
            }
        }
        "v" => {
            let (Some(user), Some(rest)) = (parts.next(), parts.next()) else {
                return Ok(false);
            };
            let (Ok(user_id), Some((conversation, viewing))) = (user.parse(), rest.split_once(':'))
            else {
                return Ok(false);
            };
            if let Ok(conversation_id) = conversation.parse() {
                state.viewers.set(user_id, conversation_id, viewing == "1");
            }
        }
        _ => {}
    }
    Ok(false)
}

/// Reads the announced events that connections here need and hands them
/// to the hub.
async fn deliver(state: &AppState, numbers: Vec<(i64, i64)>) -> Result<(), StoreError> {
    let connected: std::collections::HashSet<i64> = state
        .hub
        .connected_among(numbers.iter().map(|&(user, _)| user))
        .into_iter()
        .collect();
    if connected.is_empty() {
        return Ok(());
    }
    let wanted: Vec<(i64, i64)> = numbers
        .into_iter()
        .filter(|(user, _)| connected.contains(user))
        .collect();
    let events = state.store.events_at(&wanted).await?;
    announce(state, events);
    Ok(())
}

/// Hands each connected user's latest stored event to the hub: every
/// connection that is behind it sees a gap and catches up from the store;
/// the others already have it and ignore it.
async fn resync(state: &AppState) -> Result<(), StoreError> {
    let users = state.hub.connected_users();
    for chunk in users.chunks(RESYNC_CHUNK) {
        let events = state.store.latest_events(chunk).await?;
        announce(state, events);
    }
    if let Err(error) = crate::topics::service::resync(state).await {
        tracing::warn!(error = %error, "could not read the topics announced meanwhile");
    }
    Ok(())
}

fn announce(state: &AppState, events: Vec<(i64, StoredEvent)>) {
    let now = Instant::now();
    let frames = events
        .iter()
        .map(|(user_id, event)| {
            Arc::new(Frame {
                user_id: *user_id,
                seq: event.seq,
                bytes: Frame::stored_bytes(event),
                committed_at: Some(now),
            })
        })
        .collect();
    state.hub.announce_frames(frames);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_fit_postgres_and_session_hashes_round_trip() {
        let sessions: Vec<SessionHash> = (0..300u16)
            .map(|i| {
                let mut hash = [0u8; 32];
                hash[..2].copy_from_slice(&i.to_be_bytes());
                hash
            })
            .collect();
        let payloads = encode("n1", Signal::SessionsEnded(sessions.clone()));
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000);
            let list = payload.strip_prefix("n1|s|").unwrap();
            back.extend(list.split(',').map(|h| unhex(h).unwrap()));
        }
        assert_eq!(back, sessions);

        let bytes = Bytes::from_static(b"event: typing\ndata: {\"a\":1}\n\n");
        let user_ids: Vec<i64> = (1..=5_000).collect();
        let payloads = encode("n1", Signal::Ephemeral { user_ids, bytes });
        let mut ids = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000);
            let mut parts = payload.splitn(4, '|');
            assert_eq!(parts.next(), Some("n1"));
            assert_eq!(parts.next(), Some("e"));
            ids.extend(
                parts
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|id| id.parse::<i64>().unwrap()),
            );
            assert_eq!(parts.next(), Some("event: typing\ndata: {\"a\":1}\n\n"));
        }
        assert_eq!(ids, (1..=5_000).collect::<Vec<_>>());
    }
}
