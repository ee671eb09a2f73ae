//! The conversations list (`/messages`): most recent first, with the last
//! message, an unread badge and, for direct chats, whether the other
//! person is online or when they were last seen; and "New conversation".
//! Kept current by the real-time context. Both sides (the server renders
//! the list; the browser keeps it live).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::auth::context::use_session;
use crate::chat::api::{create_conversation, get_conversation, list_conversations};
use crate::model::chat::{Conversation, ConversationKind, ConversationList, NewConversation};
use crate::model::event::{Ephemeral, Event};
use crate::model::json::JsonCodec;
use crate::realtime::client::{Delivery, LiveList, relative_time, use_realtime};

/// The signed-in user's id (0 while unknown).
pub fn my_id() -> Signal<i64> {
    let session = use_session();
    Signal::derive(move || match session.user() {
        Some(Ok(Some(user))) => user.id,
        _ => 0,
    })
}

/// Applies a stored event to a list of conversations, newest first.
/// `open` is the conversation on screen (its messages are read at once).
pub fn apply_to_list(list: &mut Vec<Conversation>, event: &Event, me: i64, open: Option<i64>) {
    match event {
        Event::Message { message } => {
            let Ok(message) = message.read() else {
                return;
            };
            if let Some(index) = list.iter().position(|c| c.id == message.conversation_id) {
                let mut conversation = list.remove(index);
                let newer = conversation
                    .last_message
                    .as_ref()
                    .is_none_or(|last| last.id < message.id);
                if newer {
                    if message.sender.id != me && open != Some(conversation.id) {
                        conversation.unread_count += 1;
                    }
                    conversation.last_activity_at = Some(message.created_at);
                    conversation.last_message = Some(message);
                }
                list.insert(0, conversation);
            }
        }
        Event::ConversationUpdated { conversation } => {
            let Ok(mut updated) = conversation.read() else {
                return;
            };
            if let Some(index) = list.iter().position(|c| c.id == updated.id) {
                let old = list.remove(index);
                updated.keep_live_presence(&old);
                list.insert(index.min(list.len()), updated);
            } else {
                list.insert(0, updated);
            }
        }
        Event::ConversationRemoved { conversation_id } => {
            list.retain(|c| c.id != *conversation_id);
        }
        Event::ConversationMemberAdded {
            conversation_id,
            member,
            read_up_to,
        } => {
            if let Some(conversation) = list.iter_mut().find(|c| c.id == *conversation_id) {
                conversation.member_added(member, *read_up_to);
            }
        }
        Event::ConversationMemberRemoved {
            conversation_id,
            user_id,
        } => {
            if let Some(conversation) = list.iter_mut().find(|c| c.id == *conversation_id) {
                conversation.member_removed(*user_id);
            }
        }
        Event::ConversationRead {
            conversation_id,
            user_id,
            up_to_message_id,
        } => {
            if let Some(conversation) = list.iter_mut().find(|c| c.id == *conversation_id) {
                conversation.read_by(*user_id, *up_to_message_id, me);
            }
        }
        _ => {}
    }
}

/// Applies a presence signal to every conversation with that member.
pub fn apply_presence(list: &mut [Conversation], event: &Ephemeral, now_ms: Option<i64>) {
    if let Ephemeral::Presence { user_id, online } = event {
        for conversation in list.iter_mut() {
            for presence in conversation.presence.iter_mut() {
                if presence.user_id == *user_id {
                    presence.online = *online;
                    if !*online {
                        presence.last_seen_at =
                            now_ms.and_then(chrono::DateTime::from_timestamp_millis);
                    }
                }
            }
        }
    }
}

/// "Online", "Last seen 5 min ago", or "Offline".
pub fn presence_text(
    conversation: &Conversation,
    me: i64,
    now_ms: Option<i64>,
) -> Option<(bool, String)> {
    let peer = conversation.peer(me)?;
    let presence = conversation
        .presence
        .iter()
        .find(|p| p.user_id == peer.id)?;
    if presence.online {
        return Some((true, "Online".to_owned()));
    }
    let text = match (presence.last_seen_at, now_ms) {
        (Some(seen), Some(now)) => {
            format!("Last seen {}", relative_time(seen.timestamp_millis(), now))
        }
        _ => "Offline".to_owned(),
    };
    Some((false, text))
}

/// Direct and group conversations. The server renders the list into the
/// HTML; the browser keeps it live.
#[component]
pub fn MessagesPage() -> impl IntoView {
    let first = Resource::<_, JsonCodec>::new_with_options(|| (), |_| list_conversations(), false);
    view! {
        <Title text="Messages" />
        <div class="flex flex-wrap items-center justify-between gap-3">
            <h1 class="text-2xl font-bold tracking-tight">"Messages"</h1>
        </div>
        <NewConversationForm />
        <section aria-labelledby="conversations-heading" class="mt-6">
            <h2 id="conversations-heading" class="sr-only">"Conversations"</h2>
            <Suspense fallback=|| view! { <p class="text-sm text-slate-500 dark:text-slate-400" role="status">"Loading conversations…"</p> }>
                // A failed first load: the list loads (and reports) it
                // itself in the browser.
                {move || first.try_get().flatten().map(|list| view! { <Conversations initial=list.ok() /> })}
            </Suspense>
        </section>
    }
    .into_any()
}

/// The list, from `initial` (rendered by the server) or loaded in the
/// browser, kept current by the real-time context.
#[component]
fn Conversations(initial: Option<ConversationList>) -> impl IntoView {
    let realtime = use_realtime();
    let me = my_id();
    let rendered_cursor = initial.as_ref().map(|list| list.cursor);
    let conversations = RwSignal::new(initial.map(|list| list.conversations).unwrap_or_default());
    let loaded = RwSignal::new(rendered_cursor.map(|_| Ok::<(), String>(())));

    let live = LiveList::new();
    let apply = move |delivery: &Delivery| {
        let me = me.get_untracked();
        // A stored event's presence is the store's (nobody online): a
        // conversation new to the list asks for its members' live presence,
        // since nobody's coming online will be announced again.
        let new_conversation = match &delivery.event {
            Event::ConversationUpdated { conversation } => conversation
                .read()
                .ok()
                .map(|conversation| conversation.id)
                .filter(|id| conversations.with_untracked(|list| list.iter().all(|c| c.id != *id))),
            _ => None,
        };
        conversations.update(|list| apply_to_list(list, &delivery.event, me, None));
        if let Some(id) = new_conversation {
            spawn_local(async move {
                if let Ok(Ok(fresh)) = get_conversation(id).await {
                    conversations.update(|list| {
                        if let Some(known) = list.iter_mut().find(|c| c.id == id) {
                            known.presence = fresh.presence;
                        }
                    });
                }
            });
        }
    };
    let load = move || {
        live.loading();
        spawn_local(async move {
            match list_conversations().await {
                Ok(list) => {
                    conversations.set(list.conversations);
                    for delivery in live.loaded() {
                        apply(&delivery);
                    }
                    loaded.set(Some(Ok(())));
                }
                Err(error) => {
                    // The next reset or visit loads again; held events are
                    // in the store.
                    live.loaded();
                    loaded.set(Some(Err(error.message)));
                }
            }
        });
    };
    // In the browser only: after hydration (unless the server rendered
    // the list and the stream replays what came after it), and again
    // after a reset.
    Effect::new(move |previous: Option<()>| {
        realtime.resets.track();
        let kept = previous.is_none()
            && rendered_cursor.is_some_and(|cursor| realtime.replay_after(cursor));
        if !kept {
            load();
        }
    });
    live.subscribe(realtime, apply);
    realtime.subscribe_ephemeral(move |event| {
        let now = realtime.now_ms.get_untracked();
        conversations.update(|list| apply_presence(list, event, now));
    });

    view! {
            {move || match loaded.get() {
                None => view! { <p class="text-sm text-slate-500 dark:text-slate-400" role="status">"Loading conversations…"</p> }.into_any(),
                Some(Err(message)) => view! {
                    <div role="alert" class="rounded-lg border border-red-300 bg-red-50 p-4 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
                        <p>{message}</p>
                        <button type="button" class="mt-2 font-medium underline" on:click=move |_| load()>"Try again"</button>
                    </div>
                }.into_any(),
                Some(Ok(())) if conversations.with(Vec::is_empty) => view! {
                    <div class="rounded-xl border border-dashed border-slate-300 p-8 text-center dark:border-slate-700">
                        <p class="font-semibold">"No conversations yet"</p>
                        <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"Start one above: a direct message, or a group."</p>
                    </div>
                }.into_any(),
                Some(Ok(())) => view! {
                    <ul class="divide-y divide-slate-200 overflow-hidden rounded-xl border border-slate-200 bg-white dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900" data-testid="conversation-list">
                        <For each=move || conversations.get() key=|c| (c.id, c.unread_count, c.last_message.as_ref().map(|m| m.id), c.presence.clone(), c.members.len()) let:conversation>
                            <ConversationRow conversation me />
                        </For>
                    </ul>
                }.into_any(),
            }}
    }
    .into_any()
}

#[component]
fn ConversationRow(conversation: Conversation, me: Signal<i64>) -> impl IntoView {
    let realtime = use_realtime();
    let me_now = me.get_untracked();
    let title = conversation.display_title(me_now);
    let href = format!("/messages/{}", conversation.id);
    let preview = match &conversation.last_message {
        Some(message) => {
            let who = if message.sender.id == me_now {
                "You".to_owned()
            } else if conversation.kind == ConversationKind::Group {
                message.sender.display_name.clone()
            } else {
                String::new()
            };
            let text = if message.body.is_empty() {
                message
                    .attachments
                    .first()
                    .map(|a| format!("Sent {}", a.name))
                    .unwrap_or_default()
            } else {
                message.body.chars().take(120).collect()
            };
            if who.is_empty() {
                text
            } else {
                format!("{who}: {text}")
            }
        }
        None => "No messages yet".to_owned(),
    };
    let unread = conversation.unread_count;
    let last_ms = conversation.last_activity_at.map(|t| t.timestamp_millis());
    let kind = conversation.kind;
    let members = conversation.members.len();
    let conversation_for_presence = conversation.clone();
    let presence =
        move || presence_text(&conversation_for_presence, me.get(), realtime.now_ms.get());
    view! {
        <li>
            <a href=href data-testid="conversation" class="flex items-center gap-3 px-4 py-3 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-indigo-500 dark:hover:bg-slate-800">
                <span aria-hidden="true" class="relative flex h-10 w-10 shrink-0 items-center justify-center rounded-full bg-indigo-100 text-sm font-semibold text-indigo-700 dark:bg-indigo-900 dark:text-indigo-200">
                    {title.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default()}
                </span>
                <span class="min-w-0 flex-1">
                    <span class="flex items-center gap-2">
                        <span class="truncate font-medium" data-testid="conversation-title">{title.clone()}</span>
                        {(kind == ConversationKind::Group).then(|| view! {
                            <span class="text-xs text-slate-500 dark:text-slate-400">{format!("{members} members")}</span>
                        })}
                        {move || presence().map(|(online, text)| view! {
                            <span class="flex items-center gap-1 text-xs text-slate-500 dark:text-slate-400" data-testid="presence" data-online=online.to_string()>
                                <span aria-hidden="true" class=if online { "h-2 w-2 rounded-full bg-emerald-500" } else { "h-2 w-2 rounded-full bg-slate-400" }></span>
                                {text}
                            </span>
                        })}
                    </span>
                    <span class="block truncate text-sm text-slate-600 dark:text-slate-400" data-testid="conversation-preview">{preview}</span>
                </span>
                <span class="flex shrink-0 flex-col items-end gap-1">
                    <span class="text-xs text-slate-500 dark:text-slate-400">
                        {move || match (last_ms, realtime.now_ms.get()) {
                            (Some(then), Some(now)) => relative_time(then, now),
                            _ => String::new(),
                        }}
                    </span>
                    {(unread > 0).then(|| view! {
                        <span data-testid="conversation-unread" aria-label=format!("{unread} unread") class="min-w-5 rounded-full bg-indigo-600 px-1.5 text-center text-xs font-semibold text-white">
                            {if unread > 99 { "99+".to_owned() } else { unread.to_string() }}
                        </span>
                    })}
                </span>
            </a>
        </li>
    }
    .into_any()
}

/// What the form is starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Starting {
    Direct,
    Group,
}

/// "New conversation": a direct one by username, or a group with a title
/// and members.
#[component]
fn NewConversationForm() -> impl IntoView {
    let navigate = use_navigate();
    let kind = RwSignal::new(Starting::Direct);
    let with = RwSignal::new(String::new());
    let title = RwSignal::new(String::new());
    let members = RwSignal::new(String::new());
    let error = RwSignal::new(None::<crate::model::error::ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = match kind.get_untracked() {
            Starting::Direct => NewConversation::Direct {
                with: with.get_untracked().trim().to_owned(),
            },
            Starting::Group => NewConversation::Group {
                title: title.get_untracked(),
                members: members
                    .get_untracked()
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        };
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let answer = create_conversation(request).await;
            busy.set(false);
            match answer {
                Ok(Ok(conversation)) => navigate(
                    &format!("/messages/{}", conversation.id),
                    Default::default(),
                ),
                Ok(Err(refusal)) | Err(refusal) => error.set(Some(refusal)),
            }
        });
    };
    let field_error =
        move |field: &'static str| error.with(|e| e.as_ref().and_then(|e| e.for_field(field)));
    let input_class = "mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-950";

    view! {
        <details class="mt-4 rounded-xl border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
            <summary class="cursor-pointer font-medium">"New conversation"</summary>
            <form class="mt-4 space-y-4" on:submit=submit novalidate>
                <fieldset class="flex gap-4 text-sm">
                    <legend class="sr-only">"Kind"</legend>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="kind" checked=move || kind.get() == Starting::Direct on:change=move |_| kind.set(Starting::Direct) />
                        "Direct message"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="kind" checked=move || kind.get() == Starting::Group on:change=move |_| kind.set(Starting::Group) />
                        "Group"
                    </label>
                </fieldset>
                <Show when=move || kind.get() == Starting::Direct>
                    <div>
                        <label for="new-direct-with" class="block text-sm font-medium">"Username"</label>
                        <input id="new-direct-with" class=input_class autocomplete="off" bind:value=with
                            aria-invalid=move || field_error("with").is_some().to_string() aria-describedby="new-direct-with-error" />
                        <p id="new-direct-with-error" class="mt-1 text-sm text-red-700 dark:text-red-300">{move || field_error("with")}</p>
                    </div>
                </Show>
                <Show when=move || kind.get() == Starting::Group>
                    <div>
                        <label for="new-group-title" class="block text-sm font-medium">"Group title"</label>
                        <input id="new-group-title" class=input_class bind:value=title
                            aria-invalid=move || field_error("title").is_some().to_string() aria-describedby="new-group-title-error" />
                        <p id="new-group-title-error" class="mt-1 text-sm text-red-700 dark:text-red-300">{move || field_error("title")}</p>
                    </div>
                    <div>
                        <label for="new-group-members" class="block text-sm font-medium">"Members (usernames, separated by commas)"</label>
                        <input id="new-group-members" class=input_class autocomplete="off" bind:value=members
                            aria-invalid=move || field_error("members").is_some().to_string() aria-describedby="new-group-members-error" />
                        <p id="new-group-members-error" class="mt-1 text-sm text-red-700 dark:text-red-300">{move || field_error("members")}</p>
                    </div>
                </Show>
                {move || error.get().filter(|e| e.field.is_none()).map(|e| view! {
                    <p role="alert" class="text-sm text-red-700 dark:text-red-300">{e.message}</p>
                })}
                <button type="submit" disabled=move || busy.get() class="rounded-lg bg-indigo-600 px-4 py-2 text-sm font-semibold text-white hover:bg-indigo-500 disabled:opacity-60">
                    {move || if kind.get() == Starting::Direct { "Start conversation" } else { "Create group" }}
                </button>
            </form>
        </details>
    }
    .into_any()
}
