//! Sending a notification to chosen users or everyone, and the system
//! announcement (a `system` notification to everyone). Both sides.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::form::FormError;
use crate::components::test_notification::TestNotificationButton;
use crate::model::error::ApiError;
use crate::model::notification::{Category, NotificationDraft, Priority, Recipients};
use crate::notifications::api::send_notification;
use crate::pages::admin::AdminNav;

/// Splits "alice, bob carol" into usernames.
fn parse_usernames(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(|name| name.trim_start_matches('@').to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `/admin/notify`: the send form; with `announcement`, `/admin/announce`:
/// the same form fixed to everyone and the `system` category.
#[component]
pub fn SendNotificationPage(#[prop(optional)] announcement: bool) -> impl IntoView {
    let everyone = RwSignal::new(announcement);
    let usernames = RwSignal::new(String::new());
    let category = RwSignal::new(Category::System);
    let priority = RwSignal::new(Priority::Normal);
    let title = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let url = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let sent = RwSignal::new(None::<usize>);

    let field_error = move |field: &'static str| {
        Signal::derive(move || error.get().and_then(|e| e.for_field(field)))
    };
    let form_error = Signal::derive(move || {
        error
            .get()
            .filter(|e| !matches!(e.field.as_deref(), Some("to" | "title" | "body" | "url")))
            .map(|e| e.message)
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let to = if everyone.get_untracked() {
            Recipients::Everyone
        } else {
            Recipients::Users(parse_usernames(&usernames.get_untracked()))
        };
        if to == Recipients::Users(Vec::new()) {
            error.set(Some(ApiError {
                code: "validation".into(),
                message: "Name at least one user, or choose Everyone.".into(),
                field: Some("to".into()),
            }));
            return;
        }
        let draft = NotificationDraft {
            to,
            category: category.get_untracked(),
            priority: priority.get_untracked(),
            title: title.get_untracked(),
            body: body.get_untracked(),
            url: Some(url.get_untracked()).filter(|u| !u.trim().is_empty()),
        };
        pending.set(true);
        error.set(None);
        sent.set(None);
        spawn_local(async move {
            match send_notification(draft).await {
                Ok(Ok(recipients)) => {
                    sent.set(Some(recipients));
                    title.set(String::new());
                    body.set(String::new());
                    url.set(String::new());
                }
                Ok(Err(refusal)) | Err(refusal) => error.set(Some(refusal)),
            }
            pending.set(false);
        });
    };

    let input_class = "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 aria-invalid:border-red-500 dark:border-slate-700 dark:bg-slate-900";
    let error_text = |field: &'static str| {
        let message = field_error(field);
        view! {
            <p id=format!("send-{field}-error") class="text-sm text-red-700 dark:text-red-300" class:hidden=move || message.get().is_none()>
                {move || message.get()}
            </p>
        }
    };
    let invalid = move |field: &'static str| {
        let message = field_error(field);
        move || message.get().is_some().then_some("true")
    };

    view! {
        <Title text=if announcement { "System announcement" } else { "Send a notification" } />
        <AdminNav />
        <h1 class="text-2xl font-bold tracking-tight">
            {if announcement { "System announcement" } else { "Send a notification" }}
        </h1>
        <p class="mt-1 text-slate-600 dark:text-slate-400">
            {if announcement {
                "A system notification to every user: shown at once to everyone online, and waiting in the Notification Center for everyone else."
            } else {
                "Delivered at once to everyone who is online, and waiting in the Notification Center for everyone else."
            }}
        </p>
        <form
            class="mt-6 max-w-2xl space-y-4 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900"
            on:submit=submit
            novalidate
        >
            <fieldset class="space-y-2" class:hidden=announcement>
                <legend class="text-sm font-medium">"Recipients"</legend>
                <div class="flex flex-wrap gap-4 text-sm">
                    <label class="flex items-center gap-2">
                        <input type="radio" name="audience" prop:checked=move || !everyone.get() on:change=move |_| everyone.set(false) />
                        "Specific users"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="audience" prop:checked=move || everyone.get() on:change=move |_| everyone.set(true) />
                        "Everyone"
                    </label>
                </div>
                <Show when=move || !everyone.get()>
                    <label for="send-to" class="block text-sm font-medium">"Usernames"</label>
                    <input
                        id="send-to"
                        class=input_class
                        placeholder="alice, bob"
                        aria-describedby="send-to-error"
                        aria-invalid=invalid("to")
                        prop:value=move || usernames.get()
                        on:input=move |ev| usernames.set(event_target_value(&ev))
                    />
                </Show>
                {error_text("to")}
            </fieldset>
            <div class="grid gap-4 sm:grid-cols-2">
                <div class="space-y-1" class:hidden=announcement>
                    <label for="send-category" class="block text-sm font-medium">"Category"</label>
                    <select
                        id="send-category"
                        class=input_class
                        on:change=move |ev| {
                            if let Some(c) = Category::parse(&event_target_value(&ev)) {
                                category.set(c);
                            }
                        }
                    >
                        {Category::ALL.into_iter().map(|c| view! {
                            <option value=c.as_str() selected=move || category.get() == c>{c.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="space-y-1">
                    <label for="send-priority" class="block text-sm font-medium">"Priority"</label>
                    <select
                        id="send-priority"
                        class=input_class
                        on:change=move |ev| {
                            if let Some(p) = Priority::parse(&event_target_value(&ev)) {
                                priority.set(p);
                            }
                        }
                    >
                        {Priority::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=move || priority.get() == p>{p.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
            </div>
            <div class="space-y-1">
                <label for="send-title" class="block text-sm font-medium">"Title"</label>
                <input
                    id="send-title"
                    class=input_class
                    required
                    maxlength="200"
                    aria-describedby="send-title-error"
                    aria-invalid=invalid("title")
                    prop:value=move || title.get()
                    on:input=move |ev| title.set(event_target_value(&ev))
                />
                {error_text("title")}
            </div>
            <div class="space-y-1">
                <label for="send-body" class="block text-sm font-medium">"Message"</label>
                <textarea
                    id="send-body"
                    rows="3"
                    maxlength="2000"
                    class=input_class
                    aria-describedby="send-body-error"
                    aria-invalid=invalid("body")
                    prop:value=move || body.get()
                    on:input=move |ev| body.set(event_target_value(&ev))
                ></textarea>
                {error_text("body")}
            </div>
            <div class="space-y-1">
                <label for="send-url" class="block text-sm font-medium">"Link (optional)"</label>
                <input
                    id="send-url"
                    class=input_class
                    placeholder="/jobs/42 or https://…"
                    aria-describedby="send-url-error"
                    aria-invalid=invalid("url")
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                />
                {error_text("url")}
            </div>
            <FormError error=form_error />
            <div class="flex flex-wrap items-center gap-3">
                <button
                    type="submit"
                    aria-disabled=move || pending.get().then_some("true")
                    class="rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:opacity-60"
                >
                    {move || match (pending.get(), announcement) {
                        (true, _) => "Sending…",
                        (false, true) => "Send announcement",
                        (false, false) => "Send notification",
                    }}
                </button>
                <p role="status" class="text-sm text-emerald-700 dark:text-emerald-300" data-testid="send-result">
                    {move || sent.get().map(|n| format!("Sent to {n} {}.", if n == 1 { "user" } else { "users" }))}
                </p>
            </div>
        </form>
        {(!announcement).then(|| view! {
            <section aria-labelledby="test-heading" class="mt-8 max-w-2xl border-t border-slate-200 pt-6 dark:border-slate-800">
                <h2 id="test-heading" class="font-semibold">"Try it on yourself"</h2>
                <p class="mb-3 mt-1 text-sm text-slate-600 dark:text-slate-400">
                    "A test notification to your own account: the badge, a toast and, when this page is in the background, a browser notification."
                </p>
                <TestNotificationButton />
            </section>
        })}
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::parse_usernames;

    #[test]
    fn usernames_split_on_commas_and_spaces() {
        assert_eq!(
            parse_usernames(" alice, @bob  carol,,"),
            ["alice", "bob", "carol"]
        );
        assert!(parse_usernames(" , ").is_empty());
    }
}
