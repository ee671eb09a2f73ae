//! Toasts for new notifications: at most three at a time, newest last,
//! hidden after a time that depends on the priority (urgent ones stay until
//! dismissed), paused while the pointer or focus is on them. Both sides
//! (toasts only ever appear in the browser).
//!
//! The region and its list are in the first download; the code that draws
//! a toast is a module of its own (`toasts`), fetched with the first toast:
//! most page loads show none.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::components::notification_actions::NotificationActions;
use crate::model::event::Event;
use crate::model::notification::{Notification, Priority};
use crate::notifications::api::mark_notification_read;
use crate::reactive::effect;
use crate::realtime::client::{Delivery, follow_link, use_realtime};

/// Toasts on screen at most; a fourth pushes out the oldest.
const MAX_VISIBLE: usize = 3;
/// The least time a toast with action buttons stays.
const ACTIONS_MS: i64 = 15_000;
/// How often remaining times are counted down.
const TICK_MS: i64 = 250;

/// How long a toast stays, by priority; `None`: until dismissed.
pub fn lifetime_ms(priority: Priority) -> Option<i64> {
    match priority {
        Priority::Low => Some(4_000),
        Priority::Normal => Some(6_000),
        Priority::High => Some(10_000),
        Priority::Urgent => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Toast {
    notification: Notification,
    remaining_ms: Option<i64>,
    paused: bool,
}

/// Adds a toast for `notification` (replacing an older one of it).
fn push(toasts: &mut Vec<Toast>, notification: Notification) {
    toasts.retain(|t| t.notification.id != notification.id);
    // Buttons need time to be read and reached.
    let at_least = if notification.actions.is_empty() {
        0
    } else {
        ACTIONS_MS
    };
    toasts.push(Toast {
        remaining_ms: lifetime_ms(notification.priority).map(|ms| ms.max(at_least)),
        notification,
        paused: false,
    });
    while toasts.len() > MAX_VISIBLE {
        toasts.remove(0);
    }
}

/// Counts down by `elapsed` and drops toasts whose time is up.
fn tick(toasts: &mut Vec<Toast>, elapsed: i64) {
    for toast in toasts.iter_mut().filter(|t| !t.paused) {
        if let Some(left) = toast.remaining_ms.as_mut() {
            *left -= elapsed;
        }
    }
    toasts.retain(|t| t.remaining_ms.is_none_or(|left| left > 0));
}

/// The toast region (bottom right); subscribes to live notifications.
#[component]
pub fn Toaster() -> impl IntoView {
    let realtime = use_realtime();
    let toasts = RwSignal::new(Vec::<Toast>::new());
    let draw = RwSignal::new(None::<DrawToast>);
    let fetching = StoredValue::new(false);
    // Toasts wait in the list until the drawing code is here; when it
    // cannot be fetched, the next toast tries again (the bell still counts
    // every notification).
    let fetch_drawing = move || {
        if draw.get_untracked().is_some() || fetching.get_value() {
            return;
        }
        fetching.set_value(true);
        spawn_local(async move {
            if let Ok(drawing) = toast_drawing().await {
                draw.set(Some(drawing));
            }
            fetching.set_value(false);
        });
    };

    realtime.subscribe(move |delivery: &Delivery| match &delivery.event {
        Event::Notification { notification, .. }
        | Event::NotificationUpdated { notification, .. } => {
            if delivery.live && realtime.should_alert(notification) {
                fetch_drawing();
                toasts.update(|list| push(list, notification.clone()));
            } else {
                toasts.update(|list| list.retain(|t| t.notification.id != notification.id));
            }
        }
        // Read or deleted anywhere: the toast has done its job.
        Event::NotificationsDeleted { ids, .. } => {
            toasts.update(|list| list.retain(|t| !ids.contains(&t.notification.id)));
        }
        event @ (Event::NotificationsRead { .. } | Event::NotificationsReadAll { .. }) => toasts
            .update(|list| {
                list.retain(|t| !event.reads(t.notification.id, t.notification.category))
            }),
        _ => {}
    });

    effect(move |_| {
        let _ = set_interval_with_handle(
            move || {
                if toasts.with_untracked(|list| list.iter().any(|t| t.remaining_ms.is_some())) {
                    toasts.update(|list| tick(list, TICK_MS));
                }
            },
            Duration::from_millis(TICK_MS as u64),
        );
    });

    let visible = move || {
        toasts
            .get()
            .into_iter()
            .map(|t| t.notification)
            .collect::<Vec<_>>()
    };
    view! {
        <section
            aria-label="New notifications"
            class="pointer-events-none fixed bottom-4 right-4 z-50 flex w-[calc(100%-2rem)] max-w-sm flex-col gap-2"
        >
            <For
                each=visible
                key=|n| (n.id, n.created_at)
                let:notification
            >
                {move || draw.get().map(|draw| draw(notification.clone(), toasts))}
            </For>
        </section>
    }
    .into_any()
}

/// Draws one toast.
type DrawToast = fn(Notification, RwSignal<Vec<Toast>>) -> AnyView;

/// The toast-drawing code, from its module (`fallible`: a failed download
/// is an `Err`). What it returns is a plain function, callable at once for
/// every later toast.
#[leptos::wasm_split::wasm_split(toasts, wasm_split_path = ::leptos::wasm_split, fallible)]
fn toast_drawing() -> Result<DrawToast, leptos::wasm_split::SplitLoaderError> {
    Ok(|notification, toasts| view! { <ToastCard notification toasts /> }.into_any())
}

#[component]
fn ToastCard(notification: Notification, toasts: RwSignal<Vec<Toast>>) -> impl IntoView {
    let navigate = use_navigate();
    let id = notification.id;
    let urgent = notification.priority == Priority::Urgent;
    let dismiss = move || toasts.update(|list| list.retain(|t| t.notification.id != id));
    let pause = move |paused: bool| {
        toasts.update(|list| {
            if let Some(toast) = list.iter_mut().find(|t| t.notification.id == id) {
                toast.paused = paused;
            }
        })
    };
    let open = notification.url.clone().map(|url| {
        move |_| {
            dismiss();
            spawn_local(async move {
                let _ = mark_notification_read(id).await;
            });
            follow_link(&url, &navigate);
        }
    });
    let accent = match notification.priority {
        Priority::Urgent => "border-l-red-600",
        Priority::High => "border-l-amber-500",
        Priority::Normal => "border-l-indigo-600",
        Priority::Low => "border-l-slate-400",
    };
    view! {
        <div
            role=if urgent { "alert" } else { "status" }
            aria-live=if urgent { "assertive" } else { "polite" }
            aria-atomic="true"
            data-testid="toast"
            data-id=id
            class=format!("pointer-events-auto rounded-lg border border-l-4 border-slate-200 bg-white p-3 shadow-lg dark:border-slate-700 dark:bg-slate-900 {accent}")
            on:mouseenter=move |_| pause(true)
            on:mouseleave=move |_| pause(false)
            on:focusin=move |_| pause(true)
            on:focusout=move |_| pause(false)
        >
            <div class="flex items-start gap-2">
                <div class="min-w-0 flex-1">
                    <p class="text-sm font-semibold" data-testid="toast-title">
                        {urgent.then_some("Urgent: ")}
                        {notification.title.clone()}
                    </p>
                    {(!notification.body.is_empty()).then(|| view! {
                        <p class="mt-0.5 line-clamp-2 text-sm text-slate-600 dark:text-slate-400">{notification.body.clone()}</p>
                    })}
                </div>
                <button
                    type="button"
                    aria-label="Dismiss"
                    class="rounded p-1 text-slate-400 hover:bg-slate-100 hover:text-slate-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:hover:bg-slate-800"
                    on:click=move |_| dismiss()
                >
                    <svg aria-hidden="true" viewBox="0 0 20 20" class="h-4 w-4" fill="currentColor">
                        <path d="M6.28 5.22a.75.75 0 0 0-1.06 1.06L8.94 10l-3.72 3.72a.75.75 0 1 0 1.06 1.06L10 11.06l3.72 3.72a.75.75 0 1 0 1.06-1.06L11.06 10l3.72-3.72a.75.75 0 0 0-1.06-1.06L10 8.94 6.28 5.22Z" />
                    </svg>
                </button>
            </div>
            <NotificationActions id actions=notification.actions.clone() on_open=move |_: ()| dismiss() />
            {open.map(|open| view! {
                <button
                    type="button"
                    class="mt-2 rounded-md bg-indigo-600 px-3 py-1 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                    on:click=open
                >
                    "Open"
                </button>
            })}
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::notification::Category;

    fn notification(id: i64, priority: Priority) -> Notification {
        Notification::example(id, Category::Job, priority)
    }

    #[test]
    fn at_most_three_newest_last() {
        let mut toasts = Vec::new();
        for id in 1..=5 {
            push(&mut toasts, notification(id, Priority::Normal));
        }
        let ids: Vec<i64> = toasts.iter().map(|t| t.notification.id).collect();
        assert_eq!(ids, [3, 4, 5]);
    }

    #[test]
    fn toasts_expire_by_priority_unless_paused_or_urgent() {
        let mut toasts = Vec::new();
        push(&mut toasts, notification(1, Priority::Low));
        push(&mut toasts, notification(2, Priority::High));
        push(&mut toasts, notification(3, Priority::Urgent));
        tick(&mut toasts, 5_000);
        let ids: Vec<i64> = toasts.iter().map(|t| t.notification.id).collect();
        assert_eq!(ids, [2, 3]);
        toasts[0].paused = true;
        tick(&mut toasts, 60_000);
        assert_eq!(toasts.len(), 2);
        toasts[0].paused = false;
        tick(&mut toasts, 5_000);
        let ids: Vec<i64> = toasts.iter().map(|t| t.notification.id).collect();
        assert_eq!(ids, [3]);
    }
}
