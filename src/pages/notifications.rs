//! The full-page Notification Center. Both sides: the server renders the
//! first page of the list into the HTML; the browser keeps it live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::notification_center::NotificationCenter;
use crate::model::json::JsonCodec;
use crate::model::notification::NotificationQuery;
use crate::notifications::api::list_notifications;

/// `/notifications`.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let first_page = Resource::<_, JsonCodec>::new_with_options(
        || (),
        |_| list_notifications(NotificationQuery::default()),
        false,
    );
    view! {
        <Title text="Notifications" />
        <h1 class="text-2xl font-bold tracking-tight">"Notifications"</h1>
        <section class="mt-6 rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <Suspense fallback=|| view! {
                <p class="py-8 text-center text-sm text-slate-500 dark:text-slate-400">"Loading notifications…"</p>
            }>
                {move || first_page.try_get().flatten().map(|page| {
                    // A failed first page: the center loads (and reports) it
                    // itself in the browser.
                    view! { <NotificationCenter id_prefix="page" initial=page.ok() /> }
                })}
            </Suspense>
        </section>
    }
}
