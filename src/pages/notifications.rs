//! The full-page Notification Center. Both sides.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::notification_center::NotificationCenter;

/// `/notifications`.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    view! {
        <Title text="Notifications" />
        <h1 class="text-2xl font-bold tracking-tight">"Notifications"</h1>
        <section class="mt-6 rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <NotificationCenter id_prefix="page" />
        </section>
    }
}
