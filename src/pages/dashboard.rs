//! The dashboard: the signed-in user's home, with what is new for them
//! since they last looked: unread notifications by category and the most
//! pressing ones, conversations with unread messages, and quick ways in.
//! Both sides: the server renders it whole, the browser keeps it live (any
//! event that changes the news loads it again).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::auth::context::use_session;
use crate::components::notification_actions::NotificationActions;
use crate::components::notification_center::PriorityBadge;
use crate::model::dashboard::{ConversationDigest, DashboardSummary};
use crate::model::event::Event;
use crate::model::json::JsonCodec;
use crate::model::notification::Notification;
use crate::notifications::api::load_dashboard;
use crate::reactive::effect;
use crate::realtime::client::{Delivery, use_realtime};

/// Card frame shared by the dashboard's sections.
const CARD: &str = "rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900";
/// A link that reads as a button.
const LINK_BUTTON: &str = "inline-flex min-h-11 items-center justify-center rounded-lg border border-slate-300 px-4 text-sm font-medium hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 dark:border-slate-700 dark:hover:bg-slate-800";

/// Home page.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let realtime = use_realtime();
    let session = use_session();
    // The first news, rendered by the server; later news replaces it.
    let first = Resource::<_, JsonCodec>::new_with_options(|| (), |_| load_dashboard(), false);
    let latest = RwSignal::new(None::<DashboardSummary>);
    let refresh = Refresh::new(latest);
    realtime.subscribe(move |delivery: &Delivery| {
        let relevant = !matches!(
            delivery.event,
            Event::ConversationMemberAdded { .. } | Event::ConversationMemberRemoved { .. }
        );
        if relevant {
            refresh.run();
        }
    });
    // The server's render reflects the events up to its cursor: the stream
    // replays the rest, or (when it started before the news arrived) the
    // news loads again. Browser only.
    let registered = StoredValue::new(false);
    effect(move |_| {
        if registered.get_value() {
            return;
        }
        if let Some(Ok(rendered)) = first.get() {
            registered.set_value(true);
            if !realtime.replay_after(rendered.cursor) {
                refresh.run();
            }
        }
    });
    // After a `reset` the news may be stale.
    effect(move |previous: Option<()>| {
        realtime.resets.track();
        if previous.is_some() {
            refresh.run();
        }
    });
    let greeting = move || match session.user() {
        Some(Ok(Some(user))) => format!("Hello, {}", user.display_name),
        _ => "Dashboard".to_owned(),
    };

    view! {
        <Title text="Dashboard" />
        <h1 class="text-2xl font-bold tracking-tight">"Dashboard"</h1>
        <Suspense fallback=|| view! { <p class="mt-4 text-slate-500 dark:text-slate-400">"Loading…"</p> }>
            // `try_get`: when signing out disposes the page, Suspense may
            // run this once more after its resource is gone.
            {move || {
                let first = first.try_get().flatten()?;
                Some(match latest.try_get().flatten().map(Ok).unwrap_or(first) {
                    Ok(summary) => view! { <News summary greeting=greeting() /> }.into_any(),
                    Err(error) => view! {
                        <p role="alert" class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
                            "Your news could not be loaded: " {error.message}
                        </p>
                    }.into_any(),
                })
            }}
        </Suspense>
        <QuickLinks />
    }
}

/// Loads the news again, one request at a time: changes that arrive while
/// one is under way make one more load when it is done. Answers that come
/// after the page has gone are dropped.
#[derive(Clone, Copy)]
struct Refresh {
    latest: RwSignal<Option<DashboardSummary>>,
    /// (a load is under way, another is wanted after it)
    state: StoredValue<(bool, bool)>,
}

impl Refresh {
    fn new(latest: RwSignal<Option<DashboardSummary>>) -> Self {
        Self {
            latest,
            state: StoredValue::new((false, false)),
        }
    }

    fn run(self) {
        let busy = self
            .state
            .try_update_value(|(loading, again)| {
                let busy = *loading;
                *loading = true;
                *again = busy;
                busy
            })
            .unwrap_or(true);
        if busy {
            return;
        }
        leptos::task::spawn_local(async move {
            loop {
                let answer = load_dashboard().await;
                if let Ok(summary) = answer
                    && self.latest.try_set(Some(summary)).is_some()
                {
                    return;
                }
                let again = self
                    .state
                    .try_update_value(|(loading, again)| {
                        let more = *again;
                        *again = false;
                        *loading = more;
                        more
                    })
                    .unwrap_or(false);
                if !again {
                    return;
                }
            }
        });
    }
}

/// "You have 3 unread notifications and 1 conversation with new messages."
fn summary_line(summary: &DashboardSummary) -> String {
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let conversations = summary.conversations.len() as i64;
    match (summary.unread_count, conversations) {
        (0, 0) => "You're all caught up.".to_owned(),
        (n, 0) => format!(
            "You have {}.",
            plural(n, "unread notification", "unread notifications")
        ),
        (0, c) => format!(
            "You have {} with new messages.",
            plural(c, "conversation", "conversations")
        ),
        (n, c) => format!(
            "You have {} and {} with new messages.",
            plural(n, "unread notification", "unread notifications"),
            plural(c, "conversation", "conversations")
        ),
    }
}

#[component]
fn News(summary: DashboardSummary, greeting: String) -> impl IntoView {
    let line = summary_line(&summary);
    view! {
        <p class="mt-1 text-slate-600 dark:text-slate-400">
            <span class="sr-only">{greeting}". "</span>
            <span data-testid="dashboard-summary" aria-live="polite">{line}</span>
        </p>
        <div class="mt-6 grid gap-4 md:grid-cols-2">
            <UnreadNotifications summary=summary.clone() />
            <UnreadConversations summary />
        </div>
    }
    .into_any()
}

#[component]
fn UnreadNotifications(summary: DashboardSummary) -> impl IntoView {
    let empty = summary.pressing.is_empty();
    view! {
        <section aria-labelledby="news-heading" class=CARD data-testid="dashboard-notifications">
            <div class="flex items-baseline justify-between gap-3">
                <h2 id="news-heading" class="font-semibold">"New for you"</h2>
                <span class="text-sm text-slate-600 dark:text-slate-400" data-testid="dashboard-unread">
                    {format!("{} unread", summary.unread_count)}
                </span>
            </div>
            {(!summary.by_category.is_empty()).then(|| view! {
                <ul class="mt-3 flex flex-wrap gap-2" aria-label="Unread by category">
                    {summary.by_category.iter().map(|count| view! {
                        <li
                            class="rounded-full bg-indigo-50 px-3 py-1 text-sm text-indigo-900 dark:bg-indigo-950 dark:text-indigo-100"
                            data-testid="dashboard-category"
                            data-category=count.category.as_str()
                        >
                            {count.category.label()} " " <span class="font-semibold tabular-nums">{count.unread}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {if empty {
                view! {
                    <p class="mt-3 text-sm text-slate-600 dark:text-slate-400">
                        "No unread notifications. New ones appear here the moment they are sent."
                    </p>
                }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 dark:divide-slate-800">
                        {summary.pressing.into_iter().map(|item| view! { <PressingItem item /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <div class="mt-4">
                <A href="/notifications" attr:class=LINK_BUTTON>"Open the notification center"</A>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn PressingItem(item: Notification) -> impl IntoView {
    let href = item
        .url
        .clone()
        .unwrap_or_else(|| "/notifications".to_owned());
    view! {
        <li class="py-2" data-testid="dashboard-notification" data-id=item.id>
            <div class="flex items-start gap-2">
                <a href=href class="min-w-0 flex-1 text-sm font-medium hover:underline focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600">
                    {item.title.clone()}
                </a>
                <PriorityBadge priority=item.priority />
            </div>
            {(!item.body.is_empty()).then(|| view! {
                <p class="mt-0.5 line-clamp-2 text-sm text-slate-600 dark:text-slate-400">{item.body.clone()}</p>
            })}
            <NotificationActions id=item.id actions=item.actions.clone() />
        </li>
    }
    .into_any()
}

#[component]
fn UnreadConversations(summary: DashboardSummary) -> impl IntoView {
    let empty = summary.conversations.is_empty();
    view! {
        <section aria-labelledby="chats-heading" class=CARD data-testid="dashboard-conversations">
            <h2 id="chats-heading" class="font-semibold">"Unread messages"</h2>
            {if empty {
                view! {
                    <p class="mt-3 text-sm text-slate-600 dark:text-slate-400">"No unread messages."</p>
                }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 dark:divide-slate-800">
                        {summary.conversations.into_iter().map(|conversation| {
                            let ConversationDigest { id, title, unread, preview } = conversation;
                            view! {
                                <li data-testid="dashboard-conversation">
                                    <a
                                        href=format!("/messages/{id}")
                                        class="flex min-h-11 items-center gap-3 py-2 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:hover:bg-slate-800"
                                    >
                                        <span class="min-w-0 flex-1">
                                            <span class="block truncate text-sm font-medium">{title}</span>
                                            <span class="block truncate text-sm text-slate-600 dark:text-slate-400">{preview}</span>
                                        </span>
                                        <span class="min-w-6 rounded-full bg-indigo-600 px-1.5 text-center text-xs font-semibold text-white">
                                            {unread} <span class="sr-only">" unread"</span>
                                        </span>
                                    </a>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <div class="mt-4">
                <A href="/messages" attr:class=LINK_BUTTON>"Start a conversation"</A>
            </div>
        </section>
    }
    .into_any()
}

/// The ways in that every user has, and the server's status for admins.
#[component]
fn QuickLinks() -> impl IntoView {
    let session = use_session();
    let admin = move || matches!(session.user(), Some(Ok(Some(user))) if user.is_admin());
    view! {
        <nav aria-label="Quick links" class="mt-6">
            <ul class="flex flex-wrap gap-2">
                <li><A href="/notifications" attr:class=LINK_BUTTON>"Notifications"</A></li>
                <li><A href="/messages" attr:class=LINK_BUTTON>"Messages"</A></li>
                <li><A href="/settings" attr:class=LINK_BUTTON>"Notification settings"</A></li>
                {move || admin().then(|| view! {
                    <li><A href="/admin/status" attr:class=LINK_BUTTON>"Server status"</A></li>
                })}
            </ul>
        </nav>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(unread: i64, conversations: usize) -> DashboardSummary {
        DashboardSummary {
            unread_count: unread,
            by_category: Vec::new(),
            pressing: Vec::new(),
            conversations: vec![
                ConversationDigest {
                    id: 1,
                    title: "Bob".into(),
                    unread: 1,
                    preview: String::new(),
                };
                conversations
            ],
            cursor: 0,
        }
    }

    #[test]
    fn the_summary_line_reads_naturally() {
        assert_eq!(summary_line(&summary(0, 0)), "You're all caught up.");
        assert_eq!(
            summary_line(&summary(1, 0)),
            "You have 1 unread notification."
        );
        assert_eq!(
            summary_line(&summary(9, 2)),
            "You have 9 unread notifications and 2 conversations with new messages."
        );
        assert_eq!(
            summary_line(&summary(0, 1)),
            "You have 1 conversation with new messages."
        );
    }
}
