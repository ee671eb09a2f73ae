//! Web Push: notifications reach people whose Herald tab is closed. The
//! wire types live in `model::push`; here are the server functions (both
//! sides) and, on the server, the VAPID key, the subscription routes and
//! the sender task. The browser's side is `browser` (subscribing from
//! Settings, the app badge; both sides, runs in the browser) and
//! `public/sw.js` (showing a push).

pub mod api;

pub mod browser;
#[cfg(feature = "ssr")]
pub mod queue;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod sender;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod vapid;
