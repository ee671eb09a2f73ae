//! Real-time delivery: the wire events shared with the browser, the page's
//! real-time context (both sides), the browser's connection and alerts
//! (hydrate only), and the server's bus, hub and Server-Sent Events routes
//! (ssr only).

pub mod client;
pub mod relay;
pub mod sequencer;
pub mod transport;

#[cfg(feature = "hydrate")]
mod alerts;
#[cfg(feature = "hydrate")]
mod connection;
#[cfg(feature = "hydrate")]
mod tabs;

#[cfg(feature = "ssr")]
pub mod bus;
#[cfg(feature = "ssr")]
pub mod cluster;
#[cfg(feature = "ssr")]
pub mod frames;
#[cfg(feature = "ssr")]
pub mod hub;
#[cfg(feature = "ssr")]
pub mod retention;
#[cfg(feature = "ssr")]
pub mod sse;

/// Provides the real-time context and, in the browser, keeps a connection
/// open while someone is signed in. Call once, at the root of the routed
/// app (it needs the router for navigation from browser notifications).
/// It lives here, above both, so that the context never imports the
/// connection that feeds it.
pub fn provide_realtime() {
    let realtime = client::Realtime::new();
    leptos::prelude::provide_context(realtime);
    #[cfg(feature = "hydrate")]
    connection::run(realtime);
}
