//! The signed-in user for the UI: one context with the user resource and the
//! sign-in, registration and sign-out actions (which refresh it), and the
//! guard that sends anonymous visitors to the sign-in page. Both sides.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use crate::auth::api::{Login, Logout, Register, current_user};
use crate::model::error::ApiError;
use crate::model::user::User;

/// The session as the UI sees it. `Copy`: every field is an arena handle.
#[derive(Clone, Copy)]
pub struct Session {
    /// Who the page was loaded for.
    initial: Resource<Result<Option<User>, ApiError>>,
    /// Who the user is since a sign-in, registration or sign-out on this page.
    /// Set from the server's answer before the app navigates, so the next
    /// page never sees a stale "signed out".
    changed: RwSignal<Option<Option<User>>>,
    pub login: ServerAction<Login>,
    pub register: ServerAction<Register>,
    pub logout: ServerAction<Logout>,
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
    let login = ServerAction::<Login>::new();
    let register = ServerAction::<Register>::new();
    let logout = ServerAction::<Logout>::new();
    // Blocking: the server waits for it before sending the page head, so a
    // page that needs a user can still answer with a redirect.
    let initial = Resource::new_blocking(|| (), |_| current_user());
    provide_context(Session {
        initial,
        changed: RwSignal::new(None),
        login,
        register,
        logout,
    });
}

/// The session context.
pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Percent-encodes a path for a query parameter.
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Renders `children` for a signed-in user; sends anyone else to `/login`,
/// remembering where they were going.
#[component]
pub fn RequireUser(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || {
                session
                    .user()
                    .map(|result| match result {
                        Ok(Some(_)) => children.read_value()().into_any(),
                        Ok(None) => {
                            let search = location.search.get_untracked();
                            let here = if search.is_empty() {
                                location.pathname.get_untracked()
                            } else {
                                // The router's `search` has no leading "?".
                                format!("{}?{}", location.pathname.get_untracked(), search.trim_start_matches('?'))
                            };
                            let target = format!("/login?next={}", encode_component(&here));
                            view! { <Redirect path=target /> }.into_any()
                        }
                        Err(error) => {
                            view! {
                                <p role="alert" class="text-red-700 dark:text-red-300">
                                    {error.message}
                                </p>
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::encode_component;

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(encode_component("/messages/3"), "/messages/3");
        assert_eq!(encode_component("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
