//! The guard that sends anonymous visitors to the sign-in page, and the
//! encoding of the page they wanted. The session context itself lives in
//! `auth/context.rs`. Both sides.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use crate::auth::context::use_session;

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
        <Suspense fallback=|| view! { <p class="text-slate-500 dark:text-slate-400">"Loading…"</p> }>
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
