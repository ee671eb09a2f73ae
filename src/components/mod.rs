//! Reusable UI pieces. Both sides.

pub mod bell;
pub mod focus;
pub mod form;
pub mod layout;
pub mod load_error;
pub mod notification_actions;
pub mod notification_center;
pub mod push_settings;
pub mod session;
pub mod test_notification;
pub mod toasts;
