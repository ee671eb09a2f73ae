//! The browser's half of Web Push: whether this browser can take pushes,
//! subscribing it with the server's VAPID key, unsubscribing it, and the
//! app badge. Compiled on both sides so that components call it from
//! event handlers and effects without cfg gates; it only runs in the
//! browser (on the server every answer is "unsupported").

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::model::push::NewPushSubscription;

fn has(target: &JsValue, name: &str) -> bool {
    js_sys::Reflect::has(target, &JsValue::from_str(name)).unwrap_or(false)
}

/// Whether this browser can receive pushes: service workers, the Push API
/// and notifications (Safari on iOS only once the app is installed).
pub fn supported() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    has(&window.navigator(), "serviceWorker")
        && has(&window, "PushManager")
        && has(&window, "Notification")
}

/// The push manager of the active service worker, once it is ready.
async fn push_manager() -> Result<web_sys::PushManager, String> {
    let window = web_sys::window().ok_or("no window")?;
    let ready = window
        .navigator()
        .service_worker()
        .ready()
        .map_err(describe)?;
    let registration: web_sys::ServiceWorkerRegistration = JsFuture::from(ready)
        .await
        .map_err(describe)?
        .unchecked_into();
    registration.push_manager().map_err(describe)
}

/// This browser's current subscription, if it has one. Does not wait for
/// a service worker that may never come (`ready` would).
async fn current() -> Result<Option<web_sys::PushSubscription>, String> {
    if !supported() {
        return Ok(None);
    }
    let window = web_sys::window().ok_or("no window")?;
    let found = JsFuture::from(window.navigator().service_worker().get_registration())
        .await
        .map_err(describe)?;
    if found.is_undefined() || found.is_null() {
        return Ok(None);
    }
    let registration: web_sys::ServiceWorkerRegistration = found.unchecked_into();
    let manager = registration.push_manager().map_err(describe)?;
    let found = JsFuture::from(manager.get_subscription().map_err(describe)?)
        .await
        .map_err(describe)?;
    Ok((!found.is_null() && !found.is_undefined()).then(|| found.unchecked_into()))
}

/// The endpoint this browser is subscribed at, if any.
pub async fn current_endpoint() -> Option<String> {
    current().await.ok().flatten().map(|s| s.endpoint())
}

/// Subscribes this browser with the server's key (`public_key`, base64url)
/// and returns the subscription to send to the server. Ask for the
/// notification permission first, from a click.
pub async fn subscribe(public_key: &str) -> Result<NewPushSubscription, String> {
    let key = base64url_decode(public_key).ok_or("the server's push key is unreadable")?;
    let options = web_sys::PushSubscriptionOptionsInit::new();
    options.set_user_visible_only(true);
    options.set_application_server_key(&js_sys::Uint8Array::from(key.as_slice()));
    let manager = push_manager().await?;
    let subscription = JsFuture::from(manager.subscribe_with_options(&options).map_err(describe)?)
        .await
        .map_err(describe)?;
    // JSON.stringify calls the subscription's toJSON().
    let json = js_sys::JSON::stringify(&subscription)
        .map_err(describe)?
        .as_string()
        .unwrap_or_default();
    crate::model::json::from_str(&json)
        .map_err(|e| format!("the browser's subscription is unreadable: {e}"))
}

/// Unsubscribes this browser; returns the endpoint it had, if any.
pub async fn unsubscribe() -> Result<Option<String>, String> {
    let Some(subscription) = current().await? else {
        return Ok(None);
    };
    let endpoint = subscription.endpoint();
    JsFuture::from(subscription.unsubscribe().map_err(describe)?)
        .await
        .map_err(describe)?;
    Ok(Some(endpoint))
}

/// Shows `unread` on the installed app's icon (cleared at 0), where the
/// browser supports app badges.
pub fn set_app_badge(unread: i64) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    let (method, args) = if unread > 0 {
        (
            "setAppBadge",
            js_sys::Array::of1(&JsValue::from_f64(unread as f64)),
        )
    } else {
        ("clearAppBadge", js_sys::Array::new())
    };
    let Ok(function) = js_sys::Reflect::get(&navigator, &JsValue::from_str(method)) else {
        return;
    };
    if let Some(function) = function.dyn_ref::<js_sys::Function>()
        && let Ok(promise) = function.apply(&navigator, &args)
        && let Ok(promise) = promise.dyn_into::<js_sys::Promise>()
    {
        // Refused without an installed app, or without permission: the
        // badge is a nicety, so the refusal is ignored.
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

/// A browser error in words: its message when it is an Error.
fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "the browser refused".to_owned())
}

#[cfg(test)]
mod tests {
    use super::base64url_decode;

    #[test]
    fn keys_decode_from_base64url() {
        assert_eq!(base64url_decode("AQID").unwrap(), [1, 2, 3]);
        assert_eq!(base64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert_eq!(base64url_decode("AQ==").unwrap(), [1]);
        assert!(base64url_decode("A*").is_none());
    }
}
