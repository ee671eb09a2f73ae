//! Herald: real-time notifications and chat over Server-Sent Events.
//!
//! One crate, two builds: with `ssr` it is the server (axum + Leptos SSR), with
//! `hydrate` it is the WASM that takes over the server-rendered page. Modules
//! compiled on both sides hold the shared wire types and the UI; server-only
//! modules are gated below.

pub mod app;
pub mod auth;
pub mod chat;
pub mod components;
pub mod model;
pub mod notifications;
pub mod pages;
pub mod push;
pub mod realtime;
pub mod system;

#[cfg(feature = "ssr")]
pub mod integrations;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "hydrate")]
pub mod service_worker;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod topics;

/// Entry point of the WASM build: attaches the reactive app to the
/// server-rendered DOM.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    service_worker::register();
}
