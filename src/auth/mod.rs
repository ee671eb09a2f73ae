//! Accounts, sessions and access control.
//!
//! Shared with the browser: the `User` type, input types that can only hold
//! valid values, the server functions behind the login, registration and
//! sign-out UI, and the page's session context. Server only: password hashing, sessions and tokens, the
//! extractors every handler uses (`CurrentUser`, `AdminUser`, `Publisher`),
//! the REST routes and the cross-site request guard.

pub mod admin_api;
pub mod api;
pub mod context;

#[cfg(feature = "ssr")]
pub mod csrf;
#[cfg(feature = "ssr")]
pub mod device;
#[cfg(feature = "ssr")]
pub mod extract;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;

pub use crate::model::user::{DisplayName, Password, Role, User, Username};
