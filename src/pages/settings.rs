//! Personal settings. Both sides.

use leptos::prelude::*;
use leptos_meta::Title;

/// The user's preferences.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <h1 class="text-2xl font-bold tracking-tight">"Settings"</h1>
        <section aria-labelledby="appearance-heading" class="mt-6 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 id="appearance-heading" class="font-semibold">"Appearance"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                "Herald follows your device's light or dark setting; change it there and every open Herald tab follows."
            </p>
        </section>
    }
}
