//! The tabs of one user share one stream: a Web Lock elects the tab that
//! holds it, and a `BroadcastChannel` carries what it relays to the others.
//! HTTP/1.1 allows six connections per origin, so one stream per browser is
//! what keeps a seventh tab working. This module is the mechanism; the
//! connection decides what to relay and what a relay means. Browser only
//! (hydrate).

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::realtime::relay::Relay;

/// The channel to the same user's other tabs.
pub struct TabChannel {
    channel: BroadcastChannel,
}

impl TabChannel {
    /// Joins `user_id`'s channel; `on_relay` hears every other tab. `None`
    /// where the browser has no `BroadcastChannel` (each tab then stands
    /// alone).
    pub fn open(user_id: i64, mut on_relay: impl FnMut(Relay) + 'static) -> Option<Self> {
        let channel = BroadcastChannel::new(&format!("herald:{user_id}")).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            if let Some(text) = message.data().as_string()
                && let Some(relay) = Relay::decode(&text)
            {
                on_relay(relay);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // Lives as long as the channel, which lives as long as the page or
        // until `close`.
        on_message.forget();
        Some(Self { channel })
    }

    /// Tells the other tabs.
    pub fn post(&self, relay: &Relay) {
        let _ = self
            .channel
            .post_message(&JsValue::from_str(&relay.encode()));
    }

    /// Leaves the channel.
    pub fn close(self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// Asks for `user_id`'s stream lock. When this tab is granted it, `granted`
/// receives the function that releases it and says whether to keep it
/// (`false`: released at once). The lock is otherwise held until released,
/// or until the tab closes. Returns `false` when the browser has no Web
/// Locks (older browsers, plain-http origins): the caller leads at once.
pub fn request_stream_lock(
    user_id: i64,
    granted: impl FnOnce(js_sys::Function) -> bool + 'static,
) -> bool {
    let locks = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("locks")).ok())
        .filter(|locks| !locks.is_undefined() && !locks.is_null());
    let Some(locks) = locks else {
        return false;
    };
    let Some(request) = js_sys::Reflect::get(&locks, &JsValue::from_str("request"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return false;
    };
    let on_grant = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        let mut release = None;
        // Held until resolved.
        let held = js_sys::Promise::new(&mut |resolve, _reject| release = Some(resolve));
        if release.is_some_and(granted) {
            held
        } else {
            js_sys::Promise::resolve(&JsValue::UNDEFINED)
        }
    });
    let name = JsValue::from_str(&format!("herald-stream:{user_id}"));
    if let Ok(promise) = request.call2(&locks, &name, &on_grant) {
        // A rejected request (the page unloading) is not an error.
        let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
        let _ = promise.unchecked_into::<js_sys::Promise>().catch(&ignore);
        ignore.forget();
    }
    true
}
