//! Real-time delivery: the wire events shared with the browser, and (server
//! only) the Server-Sent Events route. Both sides for the types.

pub mod types;

#[cfg(feature = "ssr")]
pub mod hub;
#[cfg(feature = "ssr")]
pub mod retention;
#[cfg(feature = "ssr")]
pub mod sse;
