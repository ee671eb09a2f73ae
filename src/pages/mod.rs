//! One module per routed page. Both sides.

pub mod dashboard;
pub mod login;
pub mod messages;
pub mod not_found;
pub mod settings;
