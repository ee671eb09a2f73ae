//! The conversations list. Both sides.

use leptos::prelude::*;
use leptos_meta::Title;

/// Direct and group conversations.
#[component]
pub fn MessagesPage() -> impl IntoView {
    view! {
        <Title text="Messages" />
        <h1 class="text-2xl font-bold tracking-tight">"Messages"</h1>
        <section class="mt-6 rounded-xl border border-dashed border-slate-300 p-8 text-center dark:border-slate-700">
            <h2 class="font-semibold">"No conversations yet"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                "Direct and group conversations will be listed here, most recent first."
            </p>
        </section>
    }
}
