//! Real-time delivery: the wire events shared with the browser, the page's
//! real-time context (both sides), the browser's connection and alerts
//! (hydrate only), and the server's bus, hub and Server-Sent Events routes
//! (ssr only).

pub mod client;
pub mod sequencer;

#[cfg(feature = "hydrate")]
mod alerts;
#[cfg(feature = "hydrate")]
mod connection;

#[cfg(feature = "ssr")]
pub mod bus;
#[cfg(feature = "ssr")]
pub mod frames;
#[cfg(feature = "ssr")]
pub mod hub;
#[cfg(feature = "ssr")]
pub mod retention;
#[cfg(feature = "ssr")]
pub mod sse;
