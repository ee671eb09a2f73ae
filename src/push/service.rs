//! Subscribing devices, listing and removing them: shared by the REST
//! routes and the server functions. A subscription is parsed into a
//! [`Subscription`] (an allowed push service, a real P-256 key, a 16-byte
//! secret) before anything is stored. Server only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::model::push::{NewPushSubscription, PushDevice, PushDevices};
use crate::server::clock::now_ms;
use crate::server::config::PushServices;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::push::StoredDevice;

/// Longest endpoint accepted (the services' own are under 500 bytes).
const MAX_ENDPOINT_BYTES: usize = 2048;
/// Longest device label.
const MAX_LABEL_CHARS: usize = 100;

/// A subscription that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    /// Base64url without padding, decoding to an uncompressed P-256 point.
    pub p256dh: String,
    /// Base64url without padding, decoding to 16 bytes.
    pub auth: String,
    pub label: String,
}

/// The origin (`https://host[:port]`) and host of an endpoint Herald may
/// push to, or `None`.
pub fn push_origin(endpoint: &str, services: &PushServices) -> Option<(String, String)> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let allowed = url.username().is_empty()
        && url.password().is_none()
        && services.allows(url.scheme(), &host, url.port());
    allowed.then(|| (url.origin().ascii_serialization(), host))
}

/// Base64url (padded or not; the standard alphabet too) to bytes.
fn decode_key(text: &str) -> Option<Vec<u8>> {
    let text: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(text).ok()
}

impl Subscription {
    /// Checks what a browser sent; `user_agent` labels the device when it
    /// sent no label.
    pub fn parse(
        new: NewPushSubscription,
        services: &PushServices,
        user_agent: Option<&str>,
    ) -> Result<Self, AppError> {
        let endpoint = new.endpoint.trim().to_owned();
        if endpoint.len() > MAX_ENDPOINT_BYTES || push_origin(&endpoint, services).is_none() {
            return Err(AppError::validation(
                "endpoint",
                "endpoint must be the https:// URL of a push service this server sends to \
                 (its push_services setting).",
            ));
        }
        let p256dh = decode_key(&new.keys.p256dh)
            .filter(|bytes| bytes.len() == 65 && p256::PublicKey::from_sec1_bytes(bytes).is_ok())
            .ok_or_else(|| {
                AppError::validation(
                    "keys.p256dh",
                    "keys.p256dh must be the browser's P-256 public key (65 bytes, base64url).",
                )
            })?;
        let auth = decode_key(&new.keys.auth)
            .filter(|bytes| bytes.len() == 16)
            .ok_or_else(|| {
                AppError::validation(
                    "keys.auth",
                    "keys.auth must be the browser's 16-byte secret (base64url).",
                )
            })?;
        let label = match new.label.as_deref().map(str::trim) {
            Some(label) if !label.is_empty() => {
                if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                    return Err(AppError::validation(
                        "label",
                        format!("label must be 1 to {MAX_LABEL_CHARS} characters."),
                    ));
                }
                label.to_owned()
            }
            _ => device_label(user_agent.unwrap_or_default()),
        };
        Ok(Self {
            endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(p256dh),
            auth: URL_SAFE_NO_PAD.encode(auth),
            label,
        })
    }
}

/// "Chrome on Android" from a User-Agent header, as far as it tells.
pub fn device_label(user_agent: &str) -> String {
    let has = |needle: &str| user_agent.contains(needle);
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        "Browser"
    };
    let system = if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPod") {
        Some("iOS")
    } else if has("iPad") {
        Some("iPadOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

fn device(stored: StoredDevice) -> PushDevice {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let service = reqwest::Url::parse(&stored.endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    PushDevice {
        id: stored.id,
        label: stored.label,
        service,
        created_at: time(stored.created_at),
        last_push_at: stored.last_push_at.map(time),
        last_error: stored.last_error,
    }
}

/// Stores `user_id`'s subscription; returns the device and whether it is
/// new (201) or was subscribed before (200).
pub async fn subscribe(
    state: &AppState,
    user_id: i64,
    subscription: Subscription,
) -> Result<(PushDevice, bool), AppError> {
    let (id, created) = state
        .store
        .save_push_subscription(
            user_id,
            subscription.endpoint,
            subscription.p256dh,
            subscription.auth,
            subscription.label,
            now_ms(),
        )
        .await?;
    let device = state
        .store
        .push_devices(user_id)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .map(device)
        .ok_or(AppError::NotFound)?;
    Ok((device, created))
}

/// `user_id`'s devices, newest first.
pub async fn devices(state: &AppState, user_id: i64) -> Result<PushDevices, AppError> {
    Ok(PushDevices {
        subscriptions: state
            .store
            .push_devices(user_id)
            .await?
            .into_iter()
            .map(device)
            .collect(),
    })
}

/// Forgets `user_id`'s device `id` (404 when they have none such).
pub async fn remove(state: &AppState, user_id: i64, id: i64) -> Result<(), AppError> {
    if state.store.delete_push_subscription(user_id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::push::PushSubscriptionKeys;

    const P256DH: &str =
        "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    fn new(endpoint: &str, p256dh: &str, auth: &str) -> NewPushSubscription {
        NewPushSubscription {
            endpoint: endpoint.into(),
            keys: PushSubscriptionKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
            label: None,
        }
    }

    fn field_of(result: Result<Subscription, AppError>) -> String {
        match result {
            Err(AppError::Validation { field, .. }) => field.unwrap_or_default(),
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn a_browser_subscription_is_accepted_and_labelled() {
        let services = PushServices::default();
        let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/130.0.0.0 Mobile Safari/537.36";
        let sub = Subscription::parse(
            new("https://fcm.googleapis.com/fcm/send/abc:def", P256DH, AUTH),
            &services,
            Some(ua),
        )
        .unwrap();
        assert_eq!(sub.label, "Chrome on Android");
        assert_eq!(sub.p256dh, P256DH);
        assert_eq!(sub.auth, AUTH);
        // Padded keys are the same keys.
        let padded = Subscription::parse(
            new("https://fcm.googleapis.com/x", P256DH, &format!("{AUTH}==")),
            &services,
            None,
        )
        .unwrap();
        assert_eq!(padded.auth, AUTH);
    }

    #[test]
    fn endpoints_off_the_allowlist_and_broken_keys_are_refused() {
        let services = PushServices::default();
        for endpoint in [
            "http://fcm.googleapis.com/fcm/send/x",
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1:3000/api/auth/logout",
            "https://fcm.googleapis.com.evil.example/x",
            "https://user:pw@fcm.googleapis.com/x",
            "fcm.googleapis.com/x",
            "",
        ] {
            let parsed = Subscription::parse(new(endpoint, P256DH, AUTH), &services, None);
            assert_eq!(field_of(parsed), "endpoint", "{endpoint}");
        }
        let endpoint = "https://fcm.googleapis.com/x";
        let not_on_curve = format!("B{}", "A".repeat(86));
        assert_eq!(
            field_of(Subscription::parse(
                new(endpoint, &not_on_curve, AUTH),
                &services,
                None
            )),
            "keys.p256dh"
        );
        assert_eq!(
            field_of(Subscription::parse(
                new(endpoint, P256DH, "c2hvcnQ"),
                &services,
                None
            )),
            "keys.auth"
        );
    }

    #[test]
    fn labels_name_the_browser_and_system() {
        assert_eq!(
            device_label(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/17.5 Safari/605.1.15"
            ),
            "Safari on macOS"
        );
        assert_eq!(
            device_label(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
            ),
            "Firefox on Windows"
        );
        assert_eq!(
            device_label(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(device_label("curl/8.5"), "Browser");
    }
}
