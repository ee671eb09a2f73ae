//! Web Push types as the API carries them: a browser's subscription as it
//! sends it, the devices a user has, and the payload Herald pushes (which
//! the service worker reads). Both sides.

use serde::{Deserialize, Serialize};

use crate::model::notification::{Category, Notification, Priority};

/// The VAPID public key browsers subscribe with (`GET /api/push/key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushKey {
    /// The uncompressed P-256 point, base64url without padding: what
    /// `pushManager.subscribe({applicationServerKey})` takes.
    pub public_key: String,
}

/// The keys of a subscription, as `PushSubscription.toJSON()` names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// `POST /api/push/subscriptions`: `PushSubscription.toJSON()` as the
/// browser gives it (its `expirationTime` is accepted and ignored), with an
/// optional label for the device list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPushSubscription {
    pub endpoint: String,
    pub keys: PushSubscriptionKeys,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One device that receives the user's pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevice {
    pub id: i64,
    /// "Chrome on Android", from the browser that subscribed (or the
    /// label it sent).
    pub label: String,
    /// The push service's host (`fcm.googleapis.com`): which browser
    /// family delivers to it, never the secret endpoint itself.
    pub service: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When a push last reached its push service.
    pub last_push_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the latest push failed, while it keeps failing.
    pub last_error: Option<String>,
}

/// `GET /api/push/subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevices {
    pub subscriptions: Vec<PushDevice>,
}

/// What one push carries, encrypted for the device: enough for the service
/// worker to show the notification, badge the app and open the right page
/// without asking the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPayload {
    /// The notification's id (marked read when the notification is used).
    pub id: i64,
    pub title: String,
    pub body: String,
    /// Where a click leads; `null` for the notification center.
    pub url: Option<String>,
    pub category: Category,
    pub priority: Priority,
    /// The publisher's key: a replacement replaces the shown notification.
    pub key: Option<String>,
    /// The user's unread notifications once this one arrived: the badge.
    pub unread_count: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl PushPayload {
    /// The most bytes of JSON one push may carry: a push service takes
    /// 4,096 bytes of encrypted record, of which aes128gcm's header (86),
    /// tag (16) and padding delimiter (1) leave 3,993.
    pub const MAX_BYTES: usize = 3_990;

    /// The payload for `notification`, cut to fit [`Self::MAX_BYTES`]: the
    /// body first, then the title; past those the link and the key are
    /// left out (the click then opens the notification center, and the
    /// notification is tagged by id).
    pub fn fit(notification: &Notification, unread_count: i64) -> (Self, String) {
        let mut payload = Self {
            id: notification.id,
            title: notification.title.clone(),
            body: notification.body.clone(),
            url: notification.url.clone(),
            category: notification.category,
            priority: notification.priority,
            key: notification.key.clone(),
            unread_count,
            created_at: notification.created_at,
        };
        loop {
            let json = serde_json::to_string(&payload).unwrap_or_default();
            let excess = json.len().saturating_sub(Self::MAX_BYTES);
            if excess == 0 {
                return (payload, json);
            }
            if !payload.body.is_empty() {
                payload.body = shorten(&payload.body, excess);
            } else if payload.title.chars().count() > 1 {
                payload.title = shorten(&payload.title, excess);
            } else if payload.url.is_some() {
                payload.url = None;
            } else if payload.key.is_some() {
                payload.key = None;
            } else {
                // Unreachable with API.md's limits; an empty title fits.
                payload.title.clear();
                return (
                    payload.clone(),
                    serde_json::to_string(&payload).unwrap_or_default(),
                );
            }
        }
    }
}

/// `text` less at least `excess` bytes (escaping can make a character
/// cost more than its UTF-8 length, hence the loop in the caller), cut at a
/// character boundary and ended with an ellipsis.
fn shorten(text: &str, excess: usize) -> String {
    const ELLIPSIS: char = '…';
    let keep = text
        .trim_end_matches(ELLIPSIS)
        .len()
        .saturating_sub(excess + ELLIPSIS.len_utf8());
    let mut end = keep;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        return String::new();
    }
    let mut cut = text[..end].to_owned();
    cut.push(ELLIPSIS);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maximal() -> Notification {
        let mut n = Notification::example(i64::MAX, Category::Payment, Priority::Urgent);
        // API.md's limits, with the characters that cost most as JSON.
        n.title = "\"é".repeat(100);
        n.body = "\u{1}\"💸".repeat(666) + "ab";
        n.url = Some(format!("https://example.com/{}", "a".repeat(1980)));
        n.key = Some("\\".repeat(200));
        n
    }

    #[test]
    fn a_maximal_notification_fits_in_one_push() {
        let (payload, json) = PushPayload::fit(&maximal(), i64::MAX);
        assert!(json.len() <= PushPayload::MAX_BYTES, "{}", json.len());
        assert_eq!(serde_json::from_str::<PushPayload>(&json).unwrap(), payload);
        assert!(payload.body.ends_with('…') || payload.body.is_empty());
        println!("maximal push payload: {} bytes of JSON", json.len());
    }

    #[test]
    fn a_small_notification_is_pushed_whole() {
        let mut n = Notification::example(7, Category::Job, Priority::High);
        n.body = "Your shift starts at 9.".into();
        n.url = Some("/jobs/7".into());
        let (payload, json) = PushPayload::fit(&n, 3);
        assert_eq!(payload.body, n.body);
        assert_eq!(payload.url, n.url);
        assert_eq!(payload.unread_count, 3);
        assert!(json.len() < 400);
    }

    #[test]
    fn a_long_body_is_cut_at_a_character_with_an_ellipsis() {
        let mut n = Notification::example(1, Category::Social, Priority::Normal);
        n.body = "ü".repeat(2000);
        let (payload, json) = PushPayload::fit(&n, 0);
        assert!(json.len() <= PushPayload::MAX_BYTES);
        assert!(json.len() > PushPayload::MAX_BYTES - 10, "{}", json.len());
        assert!(payload.body.ends_with('…'));
        assert!(payload.body.trim_end_matches('…').chars().all(|c| c == 'ü'));
    }
}
