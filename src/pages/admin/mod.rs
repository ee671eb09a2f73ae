//! The admin area: status, users, API tokens, announcements, the send
//! form and the API reference. Admins only; anyone else gets the 404 page, and every server
//! function checks the role again. Both sides.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::context::use_session;
use crate::pages::not_found::NotFoundPage;

mod api;
mod send;
mod status;
mod tokens;
mod users;

pub use api::ApiReferencePage;
pub use send::SendNotificationPage;
pub use status::StatusPage;
pub use tokens::TokensPage;
pub use users::UsersPage;

/// Renders `children` for admins and the 404 page for everyone else, so
/// the admin pages do not even reveal that they exist. Used inside
/// `RequireUser`, whose `Suspense` has already waited for the user: a second
/// `Suspense` here would nest the pages' own `Transition`s one level deeper,
/// and the streamed HTML of that nesting does not hydrate.
#[component]
pub fn RequireAdmin(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let children = StoredValue::new(children);
    (move || match session.user() {
        Some(Ok(Some(user))) if user.is_admin() => children.read_value()().into_any(),
        _ => view! { <NotFoundPage /> }.into_any(),
    })
    .into_any()
}

/// The admin area's own navigation, above each admin page.
#[component]
pub fn AdminNav() -> impl IntoView {
    const ITEMS: [(&str, &str); 6] = [
        ("/admin/status", "Status"),
        ("/admin/users", "Users"),
        ("/admin/tokens", "API tokens"),
        ("/admin/announce", "Announcement"),
        ("/admin/notify", "Send notification"),
        ("/admin/api", "API reference"),
    ];
    view! {
        <nav aria-label="Administration" class="mb-6 overflow-x-auto border-b border-slate-200 dark:border-slate-800">
            <ul class="flex gap-1 text-sm font-medium">
                {ITEMS.into_iter().map(|(href, label)| view! {
                    <li>
                        <A
                            href=href
                            attr:class="block whitespace-nowrap border-b-2 border-transparent px-3 py-2 text-slate-600 hover:text-slate-900 aria-[current=page]:border-indigo-600 aria-[current=page]:text-indigo-700 dark:text-slate-300 dark:hover:text-white dark:aria-[current=page]:text-indigo-300"
                        >
                            {label}
                        </A>
                    </li>
                }).collect_view()}
            </ul>
        </nav>
    }
}
