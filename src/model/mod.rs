//! The model floor: every wire type, compiled on both sides. The server
//! serializes these and the browser deserializes the same types, so there
//! are no hand-written JSON shapes. Input types here cannot hold invalid
//! values ("parse, don't validate"), and the rules that belong to a type
//! (limits, unread counting, applying a membership change) live next to it.
//! Nothing here imports a Herald module above it: the store, the hub, the
//! routes, the server functions and the pages all build on this floor.

pub mod channel;
pub mod chat;
pub mod dashboard;
pub mod error;
pub mod event;
pub mod integration;
pub mod json;
pub mod notification;
pub mod push;
pub mod status;
pub mod time;
pub mod topic;
pub mod user;
