//! The push sender: turns committed notification events into Web Push
//! requests for users with no live event stream, and delivers them.
//!
//! The path of one push: the store's writer hands every committed batch to
//! the bus, which offers its notification events here ([`PushQueue::offer`]:
//! a `try_send`, so a full queue drops pushes, never slows a commit). The
//! dispatcher task keeps the events of users who hold no stream on this
//! instance, reads their subscriptions and preferences in one query, drops
//! users streaming on another instance (PostgreSQL), and starts one delivery
//! per subscription. A delivery encrypts the payload for the device
//! (RFC 8291), signs the VAPID header (RFC 8292) and POSTs to the push
//! service, `push_concurrency` at a time; 429 and 5xx are retried with
//! backoff (honouring `Retry-After`), 404 and 410 forget the subscription,
//! other refusals are recorded on it. Deliveries waiting or in flight are
//! bounded too ([`MAX_PENDING`]): past it the dispatcher waits, its queue
//! fills, and new pushes are dropped and counted. Pushes are a courtesy on
//! top of the stream: a dropped or failed push loses nothing, the event is
//! in the user's log for their next visit. Server only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::model::event::Event;
use crate::model::notification::{Category, Priority};
use crate::model::push::PushPayload;
use crate::push::queue::{PushInbox, PushStats};
use crate::push::service::push_origin;
use crate::push::vapid::Vapid;
use crate::server::clock::now_ms;
use crate::server::state::AppState;
use crate::store::events::Appended;
use crate::store::push::PushTarget;

/// Deliveries started and not finished (in flight or waiting to retry).
pub const MAX_PENDING: usize = 8192;
/// Attempts per delivery (the first and the retries).
const MAX_ATTEMPTS: u32 = 5;
/// The longest wait before a retry, whatever `Retry-After` asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(15 * 60);
/// A push service that has not answered by then has failed this attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often delivery times are written back to the subscriptions.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What every delivery shares.
struct Sender {
    state: AppState,
    vapid: Vapid,
    client: reqwest::Client,
    stats: Arc<PushStats>,
    /// Requests in flight at once (`push_concurrency`).
    requests: Semaphore,
    /// Deliveries started and not finished.
    pending: Arc<Semaphore>,
    /// Subscriptions that received a push since the last flush.
    delivered: Mutex<Vec<i64>>,
}

/// Starts the dispatcher; it runs until shutdown.
pub fn spawn(state: AppState, inbox: PushInbox, vapid: Vapid) -> Result<(), String> {
    let client = reqwest::Client::builder()
        // A push service answers where it is; following a redirect would
        // let an endpoint lead Herald anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the push client: {e}"))?;
    let sender = Arc::new(Sender {
        requests: Semaphore::new(state.config.push_concurrency.get()),
        pending: Arc::new(Semaphore::new(MAX_PENDING)),
        stats: state.push.shared_stats(),
        delivered: Mutex::default(),
        state,
        vapid,
        client,
    });
    tokio::spawn(dispatch(sender, inbox.into_receiver()));
    Ok(())
}

async fn dispatch(sender: Arc<Sender>, mut inbox: mpsc::Receiver<Vec<Appended>>) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = sender.state.shutdown.cancelled() => {
                flush_delivered(&sender).await;
                return;
            }
            _ = flush.tick() => flush_delivered(&sender).await,
            batch = inbox.recv() => {
                let Some(events) = batch else { return };
                let count = events.len() as i64;
                if let Err(error) = route(&sender, events).await {
                    tracing::warn!(%error, "pushes not sent: reading subscriptions failed");
                }
                sender.stats.dequeued(count);
            }
        }
    }
}

/// Starts the deliveries of one committed batch. Cheap checks first: the
/// hub (in memory), then one query for the subscriptions of the users
/// left; only their events are parsed.
async fn route(sender: &Arc<Sender>, events: Vec<Appended>) -> Result<(), String> {
    let state = &sender.state;
    let mut streaming: HashMap<i64, bool> = HashMap::new();
    let offline: Vec<Appended> = events
        .into_iter()
        .filter(|event| {
            !*streaming
                .entry(event.user_id)
                .or_insert_with(|| state.hub.streams_of(event.user_id) > 0)
        })
        .collect();
    if offline.is_empty() {
        return Ok(());
    }
    let mut users: Vec<i64> = offline.iter().map(|e| e.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let targets = state
        .store
        .push_targets(&users)
        .await
        .map_err(|e| e.to_string())?;
    if targets.is_empty() {
        return Ok(());
    }
    let mut subscribed: Vec<i64> = targets.iter().map(|t| t.user_id).collect();
    subscribed.sort_unstable();
    subscribed.dedup();
    let elsewhere: HashSet<i64> = state
        .store
        .online_elsewhere(&subscribed, now_ms())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    // Per user: their devices and muted categories (the same on every row).
    let mut by_user: HashMap<i64, (Vec<Arc<PushTarget>>, Vec<Category>)> = HashMap::new();
    for target in targets {
        if !target.push || elsewhere.contains(&target.user_id) {
            continue;
        }
        let (devices, _) = by_user.entry(target.user_id).or_insert_with(|| {
            let muted = serde_json::from_str(&target.muted_categories).unwrap_or_default();
            (Vec::new(), muted)
        });
        devices.push(Arc::new(target));
    }
    for event in offline {
        let Some((devices, muted)) = by_user.get(&event.user_id) else {
            continue;
        };
        let (notification, unread_count) = match serde_json::from_str(&event.payload) {
            Ok(
                Event::Notification {
                    notification,
                    unread_count,
                }
                | Event::NotificationUpdated {
                    notification,
                    unread_count,
                },
            ) => (notification, unread_count.unwrap_or(0)),
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "unreadable notification event; not pushed");
                continue;
            }
        };
        if notification.read || muted.contains(&notification.category) {
            continue;
        }
        let (payload, json) = PushPayload::fit(&notification, unread_count);
        let message = Arc::new(Message::new(&payload, json));
        for device in devices {
            // Bounded: past MAX_PENDING this waits, and the queue behind
            // it fills instead of memory.
            let Ok(permit) = sender.pending.clone().acquire_owned().await else {
                return Ok(());
            };
            sender.stats.delivery_started();
            tokio::spawn(deliver(
                sender.clone(),
                device.clone(),
                message.clone(),
                permit,
            ));
        }
    }
    Ok(())
}

/// One push's content and headers, the same for each of a user's devices.
struct Message {
    json: String,
    urgency: &'static str,
    topic: Option<String>,
}

impl Message {
    fn new(payload: &PushPayload, json: String) -> Self {
        Self {
            json,
            urgency: urgency(payload.priority),
            topic: payload.key.as_deref().map(topic),
        }
    }
}

/// The `Urgency` header (RFC 8030 §5.3) for a priority.
fn urgency(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High | Priority::Urgent => "high",
    }
}

/// The `Topic` header for a notification key: at most 32 characters of
/// the URL-safe alphabet (RFC 8030 §5.4), so a hash of the key. A later
/// push with the same topic replaces one the service still holds.
fn topic(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut text = URL_SAFE_NO_PAD.encode(digest);
    text.truncate(32);
    text
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// The subscription no longer exists (404, 410).
    Gone,
    /// Worth another try after the given wait, if any was asked for.
    Retry(Option<Duration>, String),
    /// Refused for good.
    Refused(String),
}

async fn deliver(
    sender: Arc<Sender>,
    device: Arc<PushTarget>,
    message: Arc<Message>,
    _pending: OwnedSemaphorePermit,
) {
    let mut reason = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let outcome = {
            let Ok(_request) = sender.requests.acquire().await else {
                break;
            };
            send(&sender, &device, &message).await
        };
        match outcome {
            Attempt::Delivered => {
                sender.stats.sent.fetch_add(1, Ordering::Relaxed);
                sender
                    .delivered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(device.id);
                return finish(&sender);
            }
            Attempt::Gone => {
                match sender.state.store.push_gone(device.id).await {
                    Ok(true) => {
                        sender.stats.removed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            subscription = device.id,
                            "push subscription gone; forgotten"
                        );
                    }
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "could not forget a push subscription"),
                }
                sender.stats.failed.fetch_add(1, Ordering::Relaxed);
                return finish(&sender);
            }
            Attempt::Refused(why) => {
                reason = why;
                break;
            }
            Attempt::Retry(wait, why) => {
                reason = why;
                if attempt + 1 == MAX_ATTEMPTS {
                    break;
                }
                sender.stats.retried.fetch_add(1, Ordering::Relaxed);
                let wait = wait.unwrap_or_else(|| backoff(attempt)).min(MAX_RETRY_WAIT);
                tokio::select! {
                    () = sender.state.shutdown.cancelled() => return finish(&sender),
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    sender.stats.failed.fetch_add(1, Ordering::Relaxed);
    tracing::info!(subscription = device.id, reason, "push failed");
    match sender.state.store.push_failed(device.id, &reason).await {
        Ok(true) => {
            sender.stats.removed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "could not record a push failure"),
    }
    finish(&sender);
}

fn finish(sender: &Sender) {
    sender.stats.dequeued(1);
}

/// 1, 2, 4, 8 s... with a quarter of jitter either way, so that retries
/// after a service's hiccup do not arrive together.
fn backoff(attempt: u32) -> Duration {
    let base = 1000u64 << attempt.min(10);
    let jitter = u64::from(crate::server::random::bytes::<2>()[0]) * base / 512;
    Duration::from_millis(base * 3 / 4 + jitter)
}

async fn send(sender: &Sender, device: &PushTarget, message: &Message) -> Attempt {
    // Checked again: the allowlist may have shrunk since it subscribed.
    let Some((origin, _)) = push_origin(&device.endpoint, &sender.state.config.push_services)
    else {
        return Attempt::Refused("the push service is no longer in push_services".into());
    };
    let keys = URL_SAFE_NO_PAD
        .decode(&device.p256dh)
        .ok()
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .zip(
            URL_SAFE_NO_PAD
                .decode(&device.auth)
                .ok()
                .filter(|auth| auth.len() == 16),
        );
    let Some((public, auth)) = keys else {
        return Attempt::Refused("the subscription's keys are unusable".into());
    };
    let auth = web_push_native::Auth::clone_from_slice(&auth);
    let body = match web_push_native::encrypt(message.json.clone().into_bytes(), &public, &auth) {
        Ok(body) => body,
        Err(error) => return Attempt::Refused(format!("encryption failed: {error}")),
    };
    let now = now_ms() / 1000;
    let mut request = sender
        .client
        .post(&device.endpoint)
        .header("TTL", sender.state.config.push_ttl_secs.get())
        .header("Urgency", message.urgency)
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("Authorization", sender.vapid.authorization(&origin, now))
        .body(body);
    if let Some(topic) = &message.topic {
        request = request.header("Topic", topic);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Attempt::Retry(None, format!("push service unreachable: {error}")),
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::Delivered;
    }
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        return Attempt::Gone;
    }
    let why = format!("push service answered {status}");
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry_after);
        return Attempt::Retry(wait, why);
    }
    Attempt::Refused(why)
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.timestamp_millis() - now_ms();
    Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
}

async fn flush_delivered(sender: &Sender) {
    let ids = std::mem::take(&mut *sender.delivered.lock().unwrap_or_else(|e| e.into_inner()));
    if ids.is_empty() {
        return;
    }
    if let Err(error) = sender.state.store.push_delivered(&ids, now_ms()).await {
        tracing::warn!(%error, "could not record push deliveries");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_short_url_safe_and_stable() {
        let t = topic("order:42");
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(t, topic("order:42"));
        assert_ne!(t, topic("order:43"));
    }

    #[test]
    fn urgency_follows_priority() {
        assert_eq!(urgency(Priority::Low), "low");
        assert_eq!(urgency(Priority::Normal), "normal");
        assert_eq!(urgency(Priority::Urgent), "high");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        for attempt in 0..4 {
            let base = 1000u64 << attempt;
            let wait = backoff(attempt).as_millis() as u64;
            assert!(
                wait >= base * 3 / 4 && wait <= base * 5 / 4,
                "{attempt}: {wait}"
            );
        }
    }
}
