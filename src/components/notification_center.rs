//! The Notification Center: tabs by status and category, the list with
//! read/unread state, priority and relative time, per-item actions, "Mark
//! all as read" and "Load more". Shown in the bell's panel and on the
//! `/notifications` page, kept current by the real-time context. Both
//! sides (the list loads in the browser).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::components::focus::focus_by_id;
use crate::components::notification_actions::NotificationActions;
use crate::model::event::Event;
use crate::model::notification::{
    Category, Notification, NotificationPage, NotificationQuery, Priority,
};
use crate::notifications::api::{
    delete_notification, list_notifications, mark_all_notifications_read, mark_notification_read,
    save_preferences,
};
use crate::realtime::client::{
    Delivery, LiveList, follow_link, notification_permission, relative_time,
    request_notification_permission, use_realtime,
};

/// A tab of the center.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    All,
    Unread,
    Only(Category),
}

const TABS: [Tab; 8] = [
    Tab::All,
    Tab::Unread,
    Tab::Only(Category::Job),
    Tab::Only(Category::Message),
    Tab::Only(Category::Comment),
    Tab::Only(Category::Payment),
    Tab::Only(Category::Social),
    Tab::Only(Category::System),
];

impl Tab {
    fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Unread => "Unread",
            Self::Only(category) => category.label(),
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Unread => "unread",
            Self::Only(category) => category.as_str(),
        }
    }

    fn query(self) -> NotificationQuery {
        NotificationQuery {
            unread_only: self == Self::Unread,
            category: match self {
                Self::Only(category) => Some(category),
                _ => None,
            },
            ..NotificationQuery::default()
        }
    }

    fn empty_text(self) -> String {
        match self {
            Self::All => {
                "You're all caught up. New notifications appear here as they arrive.".into()
            }
            Self::Unread => "No unread notifications.".into(),
            Self::Only(category) => {
                format!("No {} notifications.", category.label().to_lowercase())
            }
        }
    }
}

/// Where the list is.
#[derive(Debug, Clone, PartialEq)]
enum Loading {
    Pending,
    Loaded,
    Failed(String),
}

/// The center. `id_prefix` keeps element ids unique when the panel and the
/// page are on screen together; `on_follow` runs after an item's link is
/// followed (the panel closes).
/// `initial`: the first page of "All", when the server rendered it into
/// the page (the list then needs no request after hydration).
#[component]
pub fn NotificationCenter(
    id_prefix: &'static str,
    #[prop(default = false)] compact: bool,
    #[prop(optional, into)] on_follow: Option<Callback<()>>,
    #[prop(default = None)] initial: Option<NotificationPage>,
) -> impl IntoView {
    let realtime = use_realtime();
    let tab = RwSignal::new(Tab::All);
    let rendered_cursor = initial.as_ref().map(|page| page.cursor);
    let (first_items, first_next, first_state) = match initial {
        Some(page) => (page.notifications, page.next_before, Loading::Loaded),
        None => (Vec::new(), None, Loading::Pending),
    };
    let items = RwSignal::new(first_items);
    let next_before = RwSignal::new(first_next);
    let loading = RwSignal::new(first_state);
    let loading_more = RwSignal::new(false);
    let action_error = RwSignal::new(None::<String>);
    // Deliveries wait while a page loads; those the page reflects are skipped.
    let live = LiveList::new();
    if let Some(cursor) = rendered_cursor {
        live.loaded_at(cursor);
    }
    // Answers to superseded requests (an earlier tab) are dropped.
    let generation = StoredValue::new(0_u64);

    let load = move |current: Tab| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        live.loading();
        loading.set(Loading::Pending);
        spawn_local(async move {
            let answer = list_notifications(current.query()).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            match answer {
                Ok(page) => {
                    // Events that arrived while the page loaded and are not
                    // in it (committed after its cursor) go on top of it.
                    let mut list = page.notifications;
                    let query = current.query();
                    for delivery in live.loaded_at(page.cursor) {
                        apply(&mut list, &query, &delivery.event);
                    }
                    items.set(list);
                    next_before.set(page.next_before);
                    loading.set(Loading::Loaded);
                }
                Err(error) => {
                    // Nothing to put them on: the next load brings them.
                    live.loaded();
                    loading.set(Loading::Failed(error.message));
                }
            }
        });
    };
    // Browser only (effects do not run on the server): load on open, on a
    // tab change and when the stream says state must be refetched. A list
    // the server rendered is kept when the stream replays what came after
    // it.
    Effect::new(move |previous: Option<()>| {
        realtime.resets.track();
        let current = tab.get();
        let kept = previous.is_none()
            && rendered_cursor.is_some_and(|cursor| realtime.replay_after(cursor));
        if !kept {
            load(current);
        }
    });

    live.subscribe(realtime, move |delivery: &Delivery| {
        let query = tab.get_untracked().query();
        items.update(|list| apply(list, &query, &delivery.event));
    });

    let load_more = move |_| {
        let Some(before) = next_before.get_untracked() else {
            return;
        };
        loading_more.set(true);
        let mine = generation.get_value();
        let mut query = tab.get_untracked().query();
        query.before = Some(before);
        spawn_local(async move {
            let answer = list_notifications(query).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            loading_more.set(false);
            match answer {
                Ok(page) => {
                    items.update(|list| {
                        for item in page.notifications {
                            insert(list, item);
                        }
                    });
                    next_before.set(page.next_before);
                }
                Err(error) => action_error.set(Some(error.message)),
            }
        });
    };

    let mark_all = move |_| {
        let category = match tab.get_untracked() {
            Tab::Only(category) => Some(category),
            _ => None,
        };
        items.update(|list| {
            for item in list.iter_mut() {
                if category.is_none_or(|c| c == item.category) {
                    item.read = true;
                }
            }
        });
        spawn_local(async move {
            if let Err(error) = mark_all_notifications_read(category).await {
                action_error.set(Some(error.message));
            }
        });
    };

    let select = move |index: usize| {
        tab.set(TABS[index]);
        focus_by_id(&format!("{id_prefix}-tab-{}", TABS[index].slug()));
    };
    let on_tab_key = move |ev: leptos::ev::KeyboardEvent| {
        let current = TABS
            .iter()
            .position(|t| *t == tab.get_untracked())
            .unwrap_or(0);
        let target = match ev.key().as_str() {
            "ArrowRight" => (current + 1) % TABS.len(),
            "ArrowLeft" => (current + TABS.len() - 1) % TABS.len(),
            "Home" => 0,
            "End" => TABS.len() - 1,
            _ => return,
        };
        ev.prevent_default();
        select(target);
    };

    let panel_id = format!("{id_prefix}-notifications-panel");
    let unread_now = move || realtime.unread.get().unwrap_or(0);

    view! {
        <div class="flex flex-col gap-3" data-testid=format!("{id_prefix}-center")>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <div
                    role="tablist"
                    aria-label="Filter notifications"
                    class="-mx-1 flex gap-1 overflow-x-auto px-1 pb-1 text-sm"
                    on:keydown=on_tab_key
                >
                    {TABS
                        .into_iter()
                        .enumerate()
                        .map(|(index, this)| {
                            let selected = move || tab.get() == this;
                            view! {
                                <button
                                    type="button"
                                    role="tab"
                                    id=format!("{id_prefix}-tab-{}", this.slug())
                                    aria-controls=panel_id.clone()
                                    aria-selected=move || if selected() { "true" } else { "false" }
                                    tabindex=move || if selected() { "0" } else { "-1" }
                                    class="min-h-11 shrink-0 rounded-full border px-3 py-1 font-medium transition-colors sm:min-h-0 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-indigo-600 border-slate-200 text-slate-600 hover:bg-slate-100 aria-selected:border-indigo-600 aria-selected:bg-indigo-600 aria-selected:text-white dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800"
                                    on:click=move |_| select(index)
                                >
                                    {this.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <button
                    type="button"
                    class="min-h-11 rounded-md px-2 py-1 text-sm font-medium text-indigo-700 sm:min-h-0 hover:bg-indigo-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 aria-disabled:cursor-not-allowed aria-disabled:opacity-50 dark:text-indigo-300 dark:hover:bg-indigo-950"
                    aria-disabled=move || (unread_now() == 0).then_some("true")
                    on:click=move |ev| {
                        if unread_now() > 0 {
                            mark_all(ev);
                        }
                    }
                >
                    "Mark all as read"
                </button>
            </div>
            <PermissionPrompt />
            <div role="alert" class="empty:hidden text-sm text-red-700 dark:text-red-300">
                {move || action_error.get()}
            </div>
            <div
                role="tabpanel"
                id=panel_id.clone()
                aria-labelledby=move || format!("{id_prefix}-tab-{}", tab.get().slug())
                aria-busy=move || (loading.get() == Loading::Pending).then_some("true")
                class=if compact { "max-h-[60vh] overflow-y-auto" } else { "" }
            >
                {move || match loading.get() {
                    Loading::Pending => view! {
                        <p class="py-8 text-center text-sm text-slate-500 dark:text-slate-400">"Loading notifications…"</p>
                    }.into_any(),
                    Loading::Failed(message) => view! {
                        <div role="alert" class="rounded-lg border border-red-200 bg-red-50 p-4 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
                            <p>"Notifications could not be loaded: " {message}</p>
                            <button
                                type="button"
                                class="mt-2 min-h-11 rounded-md border border-red-300 px-3 py-1 font-medium sm:min-h-0 hover:bg-red-100 dark:border-red-800 dark:hover:bg-red-900"
                                on:click=move |_| load(tab.get_untracked())
                            >
                                "Try again"
                            </button>
                        </div>
                    }.into_any(),
                    Loading::Loaded => view! {
                        <Show
                            when=move || !items.with(Vec::is_empty)
                            fallback=move || view! {
                                <p class="py-8 text-center text-sm text-slate-500 dark:text-slate-400" data-testid="notifications-empty">
                                    {tab.get().empty_text()}
                                </p>
                            }
                        >
                            <ul class="divide-y divide-slate-100 dark:divide-slate-800" data-testid="notification-list">
                                <For
                                    each=move || items.get()
                                    key=|item| (item.id, item.created_at)
                                    let:item
                                >
                                    <NotificationItem item items action_error on_follow />
                                </For>
                            </ul>
                            <Show when=move || next_before.get().is_some()>
                                <div class="pt-3 text-center">
                                    <button
                                        type="button"
                                        class="min-h-11 rounded-md border border-slate-300 px-4 py-1.5 text-sm font-medium sm:min-h-0 hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-slate-700 dark:hover:bg-slate-800"
                                        aria-disabled=move || loading_more.get().then_some("true")
                                        on:click=load_more
                                    >
                                        {move || if loading_more.get() { "Loading…" } else { "Load more" }}
                                    </button>
                                </div>
                            </Show>
                        </Show>
                    }.into_any(),
                }}
            </div>
        </div>
    }
    .into_any()
}

/// Applies an event to a loaded list of `query`.
fn apply(list: &mut Vec<Notification>, query: &NotificationQuery, event: &Event) {
    match event {
        Event::Notification { notification, .. } => {
            if query.matches(notification) {
                insert(list, notification.clone());
            }
        }
        Event::NotificationUpdated { notification, .. } => {
            list.retain(|item| item.id != notification.id);
            if query.matches(notification) {
                insert(list, notification.clone());
            }
        }
        Event::NotificationsRead { .. } | Event::NotificationsReadAll { .. } => {
            for item in list
                .iter_mut()
                .filter(|item| event.reads(item.id, item.category))
            {
                item.read = true;
            }
        }
        Event::NotificationsDeleted { ids, .. } => list.retain(|item| !ids.contains(&item.id)),
        // Chat events change no notification.
        Event::Message { .. }
        | Event::ConversationRead { .. }
        | Event::ConversationUpdated { .. }
        | Event::ConversationMemberAdded { .. }
        | Event::ConversationMemberRemoved { .. }
        | Event::ConversationRemoved { .. } => {}
    }
}

/// Inserts or replaces `item`, keeping the list newest (highest id) first.
fn insert(list: &mut Vec<Notification>, item: Notification) {
    match list.binary_search_by(|probe| item.id.cmp(&probe.id)) {
        Ok(found) => list[found] = item,
        Err(at) => list.insert(at, item),
    }
}

/// The item's main control covers the whole card (`after:` overlay).
const STRETCHED: &str = "after:absolute after:inset-0 focus-visible:outline-none focus-visible:after:rounded-md focus-visible:after:outline focus-visible:after:outline-2 focus-visible:after:outline-indigo-600";

/// One notification. The title is the item's main control (stretched over
/// the whole card): it marks the notification read and follows its link.
#[component]
fn NotificationItem(
    item: Notification,
    items: RwSignal<Vec<Notification>>,
    action_error: RwSignal<Option<String>>,
    on_follow: Option<Callback<()>>,
) -> impl IntoView {
    let realtime = use_realtime();
    let navigate = use_navigate();
    let id = item.id;
    // Kept by id, so reading an item updates it in place (focus stays).
    let unread =
        Signal::derive(move || items.with(|list| list.iter().any(|i| i.id == id && !i.read)));
    let title_id = format!("notification-{id}-title");
    let created_ms = item.created_at.timestamp_millis();
    let created_iso = item.created_at.to_rfc3339();

    let has_link = item.url.is_some();
    let follow = {
        let url = item.url.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            let unread = unread.get_untracked();
            if unread {
                items.update(|list| {
                    if let Some(found) = list.iter_mut().find(|i| i.id == id) {
                        found.read = true;
                    }
                });
            }
            let url = url.clone();
            let navigate = navigate.clone();
            spawn_local(async move {
                if unread && let Err(error) = mark_notification_read(id).await {
                    action_error.set(Some(error.message));
                }
                if let Some(url) = url {
                    follow_link(&url, navigate);
                }
            });
            if let Some(callback) = on_follow
                && has_link
            {
                callback.run(());
            }
        }
    };
    let remove = move |_| {
        let removed = items.with_untracked(|list| list.iter().position(|i| i.id == id));
        let backup = items.with_untracked(|list| list.iter().find(|i| i.id == id).cloned());
        items.update(|list| list.retain(|i| i.id != id));
        spawn_local(async move {
            if let Err(error) = delete_notification(id).await {
                if let (Some(_), Some(item)) = (removed, backup) {
                    items.update(|list| insert(list, item));
                }
                action_error.set(Some(error.message));
            }
        });
    };

    let actor = item.actor.as_ref().map(|a| a.display_name.clone());
    let href = item.url.clone();
    let title = item.title.clone();
    let delete_label = format!("Delete notification: {}", item.title);
    view! {
        <li
            class="group relative flex gap-3 px-2 py-3 hover:bg-slate-50 focus-within:bg-slate-50 dark:hover:bg-slate-800/60 dark:focus-within:bg-slate-800/60"
            data-testid="notification-item"
            data-id=id
            data-read=move || if unread.get() { "false" } else { "true" }
        >
            <span class="mt-1.5 flex h-2.5 w-2.5 shrink-0 items-center justify-center" data-testid="unread-marker" class:invisible=move || !unread.get()>
                <span aria-hidden="true" class="h-2.5 w-2.5 rounded-full bg-indigo-600 dark:bg-indigo-400"></span>
                {move || unread.get().then(|| view! { <span class="sr-only">"Unread: "</span> })}
            </span>
            <div class="min-w-0 flex-1">
                <div class="flex items-start gap-2">
                    <h3 id=title_id class="min-w-0 flex-1 text-sm" class:font-semibold=move || unread.get()>
                        {match href {
                            Some(href) => view! {
                                <a href=href class=STRETCHED on:click=follow>{title}</a>
                            }.into_any(),
                            None => view! {
                                <button type="button" class=format!("text-left {STRETCHED}") on:click=follow>{title}</button>
                            }.into_any(),
                        }}
                    </h3>
                    <PriorityBadge priority=item.priority />
                </div>
                {(!item.body.is_empty()).then(|| view! {
                    <p class="mt-0.5 line-clamp-2 text-sm text-slate-600 dark:text-slate-400">{item.body.clone()}</p>
                })}
                <p class="mt-1 flex flex-wrap gap-x-2 text-xs text-slate-500 dark:text-slate-400">
                    {actor.map(|name| view! { <span data-testid="notification-actor">{name}</span> })}
                    <time datetime=created_iso.clone() title=created_iso data-testid="notification-time">
                        {move || realtime.now_ms.get().map(|now| relative_time(created_ms, now))}
                    </time>
                    <span>{item.category.label()}</span>
                </p>
                <NotificationActions id actions=item.actions.clone() on_open=move |_: ()| {
                    if let Some(callback) = on_follow {
                        callback.run(());
                    }
                } />
            </div>
            <button
                type="button"
                aria-label=delete_label
                title="Delete"
                class="relative z-10 -mr-2 -mt-2 flex h-11 w-11 shrink-0 items-center justify-center self-start rounded text-slate-500 opacity-60 sm:m-0 sm:h-auto sm:w-auto sm:p-1 hover:bg-slate-200 hover:text-slate-700 group-hover:opacity-100 focus-visible:opacity-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:hover:bg-slate-700 dark:hover:text-slate-200"
                on:click=remove
            >
                <svg aria-hidden="true" viewBox="0 0 20 20" class="h-4 w-4" fill="currentColor">
                    <path d="M6.28 5.22a.75.75 0 0 0-1.06 1.06L8.94 10l-3.72 3.72a.75.75 0 1 0 1.06 1.06L10 11.06l3.72 3.72a.75.75 0 1 0 1.06-1.06L11.06 10l3.72-3.72a.75.75 0 0 0-1.06-1.06L10 8.94 6.28 5.22Z" />
                </svg>
            </button>
        </li>
    }
    .into_any()
}

/// The priority in words (colour alone would not tell everyone).
#[component]
pub fn PriorityBadge(priority: Priority) -> impl IntoView {
    let colours = match priority {
        Priority::Low => "bg-slate-100 text-slate-600 dark:bg-slate-800 dark:text-slate-300",
        Priority::Normal => "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-200",
        Priority::High => "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
        Priority::Urgent => "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
    };
    view! {
        <span
            class=format!("shrink-0 rounded-full px-2 py-0.5 text-xs font-medium {colours}")
            data-testid="priority-badge"
        >
            <span class="sr-only">"Priority: "</span>
            {priority.label()}
        </span>
    }
    .into_any()
}

/// Offers browser notifications to a user who has not decided yet. The
/// browser's prompt opens only from this click.
#[component]
fn PermissionPrompt() -> impl IntoView {
    let realtime = use_realtime();
    // Read in the browser after hydration; the server renders nothing.
    let undecided = RwSignal::new(false);
    Effect::new(move |_| {
        undecided.set(notification_permission() == Some(web_sys::NotificationPermission::Default));
    });
    let enable = move |_| {
        spawn_local(async move {
            let answer = request_notification_permission().await;
            undecided.set(false);
            if answer == Some(web_sys::NotificationPermission::Granted)
                && let Some(mut preferences) = realtime.preferences.get_untracked()
            {
                preferences.browser_notifications = true;
                if let Ok(saved) = save_preferences(preferences).await {
                    realtime.preferences.set(Some(saved));
                }
            }
        });
    };
    view! {
        <Show when=move || undecided.get()>
            <div class="flex flex-wrap items-center justify-between gap-2 rounded-lg border border-indigo-200 bg-indigo-50 px-3 py-2 text-sm text-indigo-900 dark:border-indigo-900 dark:bg-indigo-950 dark:text-indigo-100">
                <p>"Get a browser notification when Herald is in the background."</p>
                <button
                    type="button"
                    class="min-h-11 rounded-md bg-indigo-600 px-3 py-1 font-medium text-white hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 sm:min-h-0"
                    on:click=enable
                >
                    "Turn on"
                </button>
            </div>
        </Show>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, category: Category) -> Notification {
        Notification::example(id, category, Priority::Normal)
    }

    #[test]
    fn events_keep_a_loaded_list_current() {
        let all = NotificationQuery::default();
        let mut list = vec![item(5, Category::Job), item(3, Category::Payment)];
        apply(
            &mut list,
            &all,
            &Event::Notification {
                notification: item(9, Category::Social),
                unread_count: Some(3),
            },
        );
        // A repeat replaces instead of duplicating.
        apply(
            &mut list,
            &all,
            &Event::Notification {
                notification: item(9, Category::Social),
                unread_count: Some(3),
            },
        );
        assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), [9, 5, 3]);
        apply(
            &mut list,
            &all,
            &Event::NotificationsReadAll {
                up_to_id: 5,
                category: Some(Category::Job),
                unread_count: Some(2),
            },
        );
        assert_eq!(
            list.iter().map(|i| i.read).collect::<Vec<_>>(),
            [false, true, false]
        );
        apply(
            &mut list,
            &all,
            &Event::NotificationsDeleted {
                ids: vec![9],
                unread_count: Some(1),
            },
        );
        assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), [5, 3]);
    }

    #[test]
    fn filtered_lists_take_only_their_own() {
        let payments = Tab::Only(Category::Payment).query();
        let mut list = vec![item(3, Category::Payment)];
        apply(
            &mut list,
            &payments,
            &Event::Notification {
                notification: item(4, Category::Job),
                unread_count: None,
            },
        );
        assert_eq!(list.len(), 1);
        assert!(Tab::Unread.query().unread_only);
    }
}
