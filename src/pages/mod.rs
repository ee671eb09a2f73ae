//! One module per routed page. Both sides.

pub mod admin;
pub mod conversation;
pub mod dashboard;
pub mod login;
pub mod messages;
pub mod not_found;
pub mod notifications;
pub mod settings;
