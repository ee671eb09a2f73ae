//! Registers the service worker (`public/sw.js`): an offline page when the
//! network is gone, and the app's files kept for it. Browser only.
//!
//! Where service workers are missing (an old browser, or plain HTTP other
//! than localhost) nothing is registered and the app works as before.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Registers `/sw.js` for the whole origin. Its URL names this release, so
/// a new release installs a new worker, which drops the old one's cache.
pub fn register() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    let supported =
        js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false);
    if !supported {
        return;
    }
    let script = concat!("/sw.js?build=", env!("CARGO_PKG_VERSION"));
    let registering = navigator.service_worker().register(script);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = JsFuture::from(registering).await {
            leptos::logging::warn!("the service worker was not registered: {error:?}");
        }
    });
}
