//! The signed-in user as the page knows it: one context with the user
//! resource. (Signing in, registering and signing out belong to their
//! pages and the user menu, which record the user with
//! [`Session::set_user`].) UI components, pages and the real-time
//! connection read it; it imports no UI. Both sides.

use leptos::prelude::*;

use crate::auth::api::current_user;
use crate::model::error::ApiError;
use crate::model::json::JsonCodec;
use crate::model::user::User;

/// The session as the UI sees it. `Copy`: every field is an arena handle.
#[derive(Clone, Copy)]
pub struct Session {
    /// Who the page was loaded for.
    initial: Resource<Result<Option<User>, ApiError>, JsonCodec>,
    /// Who the user is since a sign-in, registration or sign-out on this page.
    /// Set from the server's answer before the app navigates, so the next
    /// page never sees a stale "signed out".
    changed: RwSignal<Option<Option<User>>>,
}

impl Session {
    /// The current user: `None` while loading, then `Ok(None)` when signed out.
    pub fn user(&self) -> Option<Result<Option<User>, ApiError>> {
        match self.changed.get() {
            Some(user) => Some(Ok(user)),
            None => self.initial.get(),
        }
    }

    /// Records a user the server has just signed in or out.
    pub fn set_user(&self, user: Option<User>) {
        self.changed.set(Some(user));
    }
}

/// Provides the session context; call once at the app root.
pub fn provide_session() {
    // Blocking: the server waits for it before sending the page head, so a
    // page that needs a user can still answer with a redirect.
    let initial = Resource::<_, JsonCodec>::new_with_options(|| (), |_| current_user(), true);
    provide_context(Session {
        initial,
        changed: RwSignal::new(None),
    });
}

/// The session context.
pub fn use_session() -> Session {
    expect_context::<Session>()
}
