//! Notifications: the wire types (both sides) and, on the server, the
//! publish, list and state-change routes, and the channels a publish can
//! address.

pub mod api;

#[cfg(feature = "ssr")]
pub mod channels;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;

pub use crate::model::notification::{
    Category, Notification, NotificationDraft, NotificationPage, NotificationQuery, Preferences,
    Priority, Recipients,
};
