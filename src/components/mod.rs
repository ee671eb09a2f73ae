//! Reusable UI pieces. Both sides.

pub mod form;
pub mod layout;
pub mod session;
