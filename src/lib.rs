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
/// server-rendered DOM, first fetching the chunk of a lazily loaded route
/// when the page is one (`app.rs`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use leptos::prelude::{ArcRwSignal, Set, provide_context};

    components::load_error::install_panic_hook();
    // `leptos::mount::hydrate_lazy`, plus the moment it is done (which
    // starts Leptos' executor itself).
    let done = ArcRwSignal::new(false);
    let for_app = done.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let page = leptos::mount::hydrate_from_async(
            leptos::prelude::document()
                .body()
                .expect("the page has a body"),
            move || {
                provide_context(realtime::client::Hydrated(for_app));
                app::App()
            },
        )
        .await;
        done.set(true);
        page.forget();
    });
    service_worker::register();
}
