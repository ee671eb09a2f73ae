//! Web Push types as the API carries them: a browser's subscription as it
//! sends it, the devices a user has, and the payload Herald pushes (which
//! the service worker reads). Both sides.

use serde::{Deserialize, Serialize};

use crate::model::notification::{Category, Notification, NotificationAction, Priority};

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
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When a push last reached its push service.
    #[serde(default, deserialize_with = "crate::model::time::read_option")]
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
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The notification's buttons (shown where the browser supports
    /// notification actions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<NotificationAction>,
}

impl PushPayload {
    /// The most bytes of JSON one push may carry: a push service takes
    /// 4,096 bytes of encrypted record, of which aes128gcm's header (86),
    /// tag (16) and padding delimiter (1) leave 3,993.
    pub const MAX_BYTES: usize = 3_990;

    /// The payload for `notification`, cut to fit [`Self::MAX_BYTES`]: the
    /// actions go first (the click then opens the page, whose buttons
    /// remain), then the body, then the title, each to the longest start that fits
    /// (ended with "…"); past those the link and the key are left out (the
    /// click then opens the notification center, and the notification is
    /// tagged by id).
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
            actions: notification.actions.clone(),
        };
        let fits = |payload: &Self| json(payload).len() <= Self::MAX_BYTES;
        if !fits(&payload) {
            payload.actions.clear();
        }
        if !fits(&payload) {
            let body = std::mem::take(&mut payload.body);
            if fits(&payload) {
                payload.body = longest_fitting(&body, |cut| {
                    fits(&Self {
                        body: cut.to_owned(),
                        ..payload.clone()
                    })
                });
            } else {
                let title = std::mem::take(&mut payload.title);
                if !fits(&payload) {
                    payload.url = None;
                }
                if !fits(&payload) {
                    payload.key = None;
                }
                payload.title = longest_fitting(&title, |cut| {
                    fits(&Self {
                        title: cut.to_owned(),
                        ..payload.clone()
                    })
                });
            }
        }
        let text = json(&payload);
        (payload, text)
    }
}

fn json(payload: &PushPayload) -> String {
    serde_json::to_string(payload).unwrap_or_default()
}

/// The longest start of `text` (whole characters, ended with "…") that
/// `fits`, found by bisection over the character count; empty when none.
fn longest_fitting(text: &str, fits: impl Fn(&str) -> bool) -> String {
    // Byte offsets where a start of 1, 2, … characters ends.
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let cut = |n: usize| format!("{}…", &text[..ends[n]]);
    // The longest fitting start has `best` + 1 characters; bisect on it.
    let (mut fitting, mut too_long) = (0usize, ends.len());
    while fitting < too_long {
        let middle = (fitting + too_long) / 2;
        if fits(&cut(middle)) {
            fitting = middle + 1;
        } else {
            too_long = middle;
        }
    }
    match fitting {
        0 => String::new(),
        n => cut(n - 1),
    }
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
        n.actions = vec![
            NotificationAction {
                label: "\"".repeat(40),
                url: format!("https://example.com/{}", "a".repeat(1980)),
                method: crate::model::notification::ActionMethod::Post,
                body: Some(
                    crate::model::json::OpaqueJson::from_value(
                        &serde_json::json!({ "answer": "\"".repeat(1000) })
                    )
                    .unwrap()
                ),
            };
            3
        ];
        n
    }

    #[test]
    fn a_maximal_notification_fits_in_one_push() {
        let (payload, json) = PushPayload::fit(&maximal(), i64::MAX);
        assert!(json.len() <= PushPayload::MAX_BYTES, "{}", json.len());
        assert!(json.len() > PushPayload::MAX_BYTES - 12, "{}", json.len());
        assert_eq!(serde_json::from_str::<PushPayload>(&json).unwrap(), payload);
        assert!(payload.body.ends_with('…') || payload.body.is_empty());
        assert!(payload.actions.is_empty());
        println!("maximal push payload: {} bytes of JSON", json.len());
    }

    #[test]
    fn past_the_body_the_title_is_cut_and_then_the_link_and_key_go() {
        let mut n = Notification::example(1, Category::Job, Priority::Low);
        n.title = "\u{1}".repeat(200);
        n.body = "b".repeat(2000);
        n.url = Some(format!("/{}", "u".repeat(1999)));
        n.key = Some("\u{1}".repeat(200));
        let (payload, json) = PushPayload::fit(&n, 0);
        assert!(json.len() <= PushPayload::MAX_BYTES, "{}", json.len());
        assert!(payload.body.is_empty());
        assert!(payload.title.ends_with('…'), "{:?}", payload.title);
        assert_eq!(payload.url, n.url);
        assert_eq!(payload.key, n.key);
    }

    #[test]
    fn a_small_notification_is_pushed_whole() {
        let mut n = Notification::example(7, Category::Job, Priority::High);
        n.body = "Your shift starts at 9.".into();
        n.url = Some("/jobs/7".into());
        n.actions = vec![NotificationAction {
            label: "Accept".into(),
            url: "/jobs/7/accept".into(),
            method: crate::model::notification::ActionMethod::Post,
            body: None,
        }];
        let (payload, json) = PushPayload::fit(&n, 3);
        assert_eq!(payload.body, n.body);
        assert_eq!(payload.url, n.url);
        assert_eq!(payload.actions, n.actions);
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
