//! "Send me a test notification": a button that asks the server to notify
//! the signed-in user, so they can see a toast, the badge and (when the page
//! is hidden) a browser notification without anyone else. Used by Settings
//! and the admin send form. Both sides.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::notifications::api::send_test_notification;

/// The button and, beside it, what became of the last click.
#[component]
pub fn TestNotificationButton() -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let send = move |_| {
        outcome.set(None);
        spawn_local(async move {
            outcome.set(Some(send_test_notification().await.map_err(|e| e.message)));
        });
    };
    view! {
        <div class="flex flex-wrap items-center gap-3">
            <button
                type="button"
                class="rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-slate-700 dark:hover:bg-slate-800"
                on:click=send
            >
                "Send me a test notification"
            </button>
            <p aria-live="polite" class="text-sm text-slate-600 dark:text-slate-400">
                {move || match outcome.get() {
                    None => String::new(),
                    Some(Ok(())) => "Sent. It should appear in a moment.".into(),
                    Some(Err(message)) => message,
                }}
            </p>
        </div>
    }
}
