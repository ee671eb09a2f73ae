//! Reusable UI pieces. Both sides.

pub mod layout;
