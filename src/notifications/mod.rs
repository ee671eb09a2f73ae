//! Notifications: the wire types (both sides) and, on the server, the
//! publish, list and state-change routes.

pub mod api;
pub mod types;

#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;

pub use types::{
    Category, Notification, NotificationDraft, NotificationPage, NotificationQuery, Preferences,
    Priority, Recipients,
};
