//! One conversation (`/messages/{id}`): the history (older messages load
//! on scroll-up without moving what is on screen), day separators, a "New
//! messages" divider, per-message status (sending… / sent / seen, "seen by
//! N" in groups), "alice is typing…", the composer with optimistic sending
//! and retry, attachments, and a group's member management. Both sides
//! (the conversation loads in the browser).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::JsCast;

use crate::auth::context::use_session;
use crate::chat::api::{
    add_member, get_conversation, list_messages, mark_conversation_read, post_message,
    remove_member, send_typing, set_viewing,
};
use crate::model::chat::{
    Attachment, Conversation, ConversationKind, Message, SendMessage, TYPING_EXPIRES_MS,
};
use crate::model::event::{Ephemeral, Event};
use crate::model::user::User;
use crate::pages::messages::{apply_presence, presence_text};
use crate::realtime::client::{Delivery, LiveList, human_size, page_hidden, use_realtime};

/// Where a message of this page is.
#[derive(Debug, Clone, PartialEq)]
enum SendState {
    Sent,
    Sending,
    Failed(String),
}

/// A message on screen: sent, or still the user's own optimistic copy.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    message: Message,
    state: SendState,
}

impl Item {
    /// Stable across the optimistic copy and the stored message.
    fn key(&self) -> String {
        match &self.message.client_id {
            Some(client_id) => format!("c:{client_id}"),
            None => format!("m:{}", self.message.id),
        }
    }
}

/// Where the page is.
#[derive(Debug, Clone, PartialEq)]
enum Loading {
    Pending,
    Loaded,
    NotFound,
    Removed,
    Failed(String),
}

/// A file picked for the next message.
#[derive(Debug, Clone, PartialEq)]
struct PendingFile {
    local_id: u64,
    name: String,
    state: Result<Option<Attachment>, String>,
}

/// A row of the history.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    Day(String),
    NewMessages,
    Message(Item),
}

impl Row {
    fn key(&self) -> String {
        match self {
            Self::Day(label) => format!("d:{label}"),
            Self::NewMessages => "new".to_owned(),
            Self::Message(item) => format!("{}:{:?}", item.key(), item.state),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Year, month (0-based), day, hour and minute of `ms`: in the browser's
/// time zone once hydrated (`local`), in UTC while rendering on the server.
fn date_parts(ms: i64, local: bool) -> (i32, u32, u32, u32, u32) {
    if local {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        (
            date.get_full_year() as i32,
            date.get_month(),
            date.get_date(),
            date.get_hours(),
            date.get_minutes(),
        )
    } else {
        use chrono::{Datelike, Timelike};
        let time = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        (
            time.year(),
            time.month0(),
            time.day(),
            time.hour(),
            time.minute(),
        )
    }
}

/// "Today", "Yesterday" or "Nov 22, 2026".
fn day_label(ms: i64, now_ms: Option<i64>) -> String {
    let local = now_ms.is_some();
    let (year, month, day, _, _) = date_parts(ms, local);
    if let Some(now) = now_ms {
        let today = date_parts(now, true);
        if (today.0, today.1, today.2) == (year, month, day) {
            return "Today".to_owned();
        }
        let yesterday = date_parts(now - 86_400_000, true);
        if (yesterday.0, yesterday.1, yesterday.2) == (year, month, day) {
            return "Yesterday".to_owned();
        }
    }
    format!("{} {day}, {year}", MONTHS[month as usize % 12])
}

fn time_label(ms: i64, local: bool) -> String {
    let (_, _, _, hour, minute) = date_parts(ms, local);
    format!("{hour:02}:{minute:02}")
}

/// The history with its day separators and the "New messages" divider.
fn rows(items: &[Item], first_unread: Option<i64>, now_ms: Option<i64>) -> Vec<Row> {
    let mut rows = Vec::with_capacity(items.len() + 4);
    let mut day = String::new();
    for item in items {
        let label = day_label(item.message.created_at.timestamp_millis(), now_ms);
        if label != day {
            rows.push(Row::Day(label.clone()));
            day = label;
        }
        if first_unread == Some(item.message.id) && item.state == SendState::Sent {
            rows.push(Row::NewMessages);
        }
        rows.push(Row::Message(item.clone()));
    }
    rows
}

/// Adds or replaces `message` (stored messages by id, the user's own
/// optimistic copies by `client_id`), stored ones in id order, unsent ones
/// last.
fn upsert(items: &mut Vec<Item>, message: Message) {
    items.retain(|item| {
        item.message.id != message.id
            && !(item.state != SendState::Sent
                && message.client_id.is_some()
                && item.message.client_id == message.client_id)
    });
    let at = items
        .iter()
        .position(|item| item.state != SendState::Sent || item.message.id > message.id)
        .unwrap_or(items.len());
    items.insert(
        at,
        Item {
            message,
            state: SendState::Sent,
        },
    );
}

fn new_client_id() -> String {
    format!(
        "{:x}-{:x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e15) as u64
    )
}

/// Uploads `file` to the conversation (the REST route: server functions
/// do not stream files).
async fn upload_file(conversation_id: i64, file: web_sys::File) -> Result<Attachment, String> {
    let failed = |_| "The file could not be uploaded. Try again.".to_owned();
    let form = web_sys::FormData::new().map_err(failed)?;
    form.append_with_blob_and_filename("file", &file, &file.name())
        .map_err(failed)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&form);
    let window = web_sys::window().ok_or("No window.")?;
    let url = format!("/api/conversations/{conversation_id}/attachments");
    let response =
        wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&url, &init))
            .await
            .map_err(failed)?
            .dyn_into::<web_sys::Response>()
            .map_err(failed)?;
    let text = wasm_bindgen_futures::JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Uploaded {
        attachment: Attachment,
    }
    #[derive(serde::Deserialize)]
    struct Refused {
        error: crate::model::error::ApiError,
    }
    if response.status() == 201 {
        crate::model::json::from_str::<Uploaded>(&text)
            .map(|u| u.attachment)
            .map_err(|_| "The server's answer was not understood.".to_owned())
    } else {
        Err(crate::model::json::from_str::<Refused>(&text)
            .map(|r| r.error.message)
            .unwrap_or_else(|_| format!("The upload failed ({}).", response.status())))
    }
}

/// The conversation page.
#[component]
pub fn ConversationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .with(|p| p.get("id"))
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(0)
    });
    view! {
        // A fresh page state per conversation.
        {move || {
            let id = id.get();
            view! { <Conversation id /> }
        }}
    }
    .into_any()
}

#[component]
fn Conversation(id: i64) -> impl IntoView {
    let realtime = use_realtime();
    let session = use_session();
    let me = Signal::derive(move || match session.user() {
        Some(Ok(Some(user))) => Some(user),
        _ => None,
    });
    let my_id = move || me.with_untracked(|m| m.as_ref().map_or(0, |u| u.id));

    let conversation = RwSignal::new(None::<Conversation>);
    let items = RwSignal::new(Vec::<Item>::new());
    let has_more = RwSignal::new(false);
    let loading = RwSignal::new(Loading::Pending);
    let loading_older = RwSignal::new(false);
    let first_unread = RwSignal::new(None::<i64>);
    let typing = RwSignal::new(Vec::<(User, f64)>::new());
    let notice = RwSignal::new(None::<String>);
    let files = RwSignal::new(Vec::<PendingFile>::new());
    let draft = RwSignal::new(String::new());
    let log_ref = NodeRef::<leptos::html::Div>::new();
    let read_requested = StoredValue::new(0_i64);
    let typing_sent_at = StoredValue::new(0_f64);
    let next_file = StoredValue::new(0_u64);

    let scroll_to_bottom = move || {
        request_animation_frame(move || {
            if let Some(log) = log_ref.get_untracked() {
                log.set_scroll_top(log.scroll_height());
            }
        });
    };
    let near_bottom = move || {
        log_ref
            .get_untracked()
            .is_none_or(|log| log.scroll_height() - log.scroll_top() - log.client_height() < 120)
    };
    // Reads everything on screen, when the page is seen.
    let mark_read = move || {
        if page_hidden() {
            return;
        }
        let me = my_id();
        let newest = items.with_untracked(|list| {
            list.iter()
                .filter(|i| i.state == SendState::Sent)
                .map(|i| i.message.id)
                .max()
                .unwrap_or(0)
        });
        let marker = conversation.with_untracked(|c| c.as_ref().map_or(0, |c| c.read_up_to(me)));
        if newest > marker && newest > read_requested.get_value() {
            read_requested.set_value(newest);
            spawn_local(async move {
                let _ = mark_conversation_read(id, newest).await;
            });
        }
    };

    let live = LiveList::new();
    let apply = move |delivery: &Delivery| match &delivery.event {
        Event::Message { message } => {
            let Ok(message) = message.read() else {
                return;
            };
            if message.conversation_id != id {
                return;
            }
            let follow = near_bottom() || message.sender.id == my_id();
            typing.update(|list| list.retain(|(user, _)| user.id != message.sender.id));
            items.update(|list| upsert(list, message.clone()));
            conversation.update(|c| {
                if let Some(c) = c {
                    c.last_message = Some(message);
                }
            });
            if follow {
                scroll_to_bottom();
            }
            mark_read();
        }
        Event::ConversationRead {
            conversation_id,
            user_id,
            up_to_message_id,
        } if *conversation_id == id => conversation.update(|c| {
            if let Some(c) = c {
                c.read_by(*user_id, *up_to_message_id, my_id());
            }
        }),
        Event::ConversationUpdated {
            conversation: updated,
        } => {
            let Ok(mut updated) = updated.read() else {
                return;
            };
            if updated.id != id {
                return;
            }
            conversation.update(|c| {
                if let Some(old) = c {
                    updated.keep_live_presence(old);
                }
                *c = Some(updated);
            });
        }
        Event::ConversationRemoved { conversation_id } if *conversation_id == id => {
            loading.set(Loading::Removed)
        }
        Event::ConversationMemberAdded {
            conversation_id,
            member,
            read_up_to,
        } if *conversation_id == id => conversation.update(|c| {
            if let Some(c) = c {
                c.member_added(member, *read_up_to);
            }
        }),
        Event::ConversationMemberRemoved {
            conversation_id,
            user_id,
        } if *conversation_id == id => conversation.update(|c| {
            if let Some(c) = c {
                c.member_removed(*user_id);
            }
        }),
        _ => {}
    };
    let load = move || {
        loading.set(Loading::Pending);
        live.loading();
        spawn_local(async move {
            let (found, page) = (get_conversation(id).await, list_messages(id, None).await);
            match (found, page) {
                (Ok(Ok(found)), Ok(Ok(page))) => {
                    let me = my_id();
                    let marker = found.read_up_to(me);
                    first_unread.set(
                        page.messages
                            .iter()
                            .find(|m| m.id > marker && m.sender.id != me)
                            .map(|m| m.id),
                    );
                    let mut list = Vec::new();
                    for message in page.messages {
                        upsert(&mut list, message);
                    }
                    items.set(list);
                    has_more.set(page.has_more);
                    conversation.set(Some(found));
                    loading.set(Loading::Loaded);
                    // What was delivered while the page loaded goes on top.
                    for delivery in live.loaded() {
                        apply(&delivery);
                    }
                    scroll_to_bottom();
                    mark_read();
                    if !page_hidden() {
                        let _ = set_viewing(id, true).await;
                    }
                }
                (Ok(Err(refusal)), _) | (_, Ok(Err(refusal))) if refusal.code == "not_found" => {
                    live.loaded();
                    loading.set(Loading::NotFound)
                }
                (Ok(Err(error)) | Err(error), _) | (_, Ok(Err(error)) | Err(error)) => {
                    live.loaded();
                    loading.set(Loading::Failed(error.message))
                }
            }
        });
    };
    Effect::new(move |_| {
        realtime.resets.track();
        load();
    });

    live.subscribe(realtime, apply);
    realtime.subscribe_ephemeral(move |event| match event {
        Ephemeral::Typing {
            conversation_id,
            user,
            is_typing,
        } if *conversation_id == id && user.id != my_id() => typing.update(|list| {
            list.retain(|(other, _)| other.id != user.id);
            if *is_typing {
                list.push((user.clone(), js_sys::Date::now() + TYPING_EXPIRES_MS as f64));
            }
        }),
        Ephemeral::Presence { .. } => {
            let now = realtime.now_ms.get_untracked();
            conversation.update(|c| {
                if let Some(c) = c {
                    apply_presence(std::slice::from_mut(c), event, now);
                }
            });
        }
        _ => {}
    });

    // Browser only: typing expiry, "I am looking" renewals and the page's
    // visibility.
    Effect::new(move |_| {
        let tick = set_interval_with_handle(
            move || {
                let now = js_sys::Date::now();
                if typing.with_untracked(|list| list.iter().any(|(_, until)| *until <= now)) {
                    typing.update(|list| list.retain(|(_, until)| *until > now));
                }
            },
            Duration::from_millis(500),
        );
        let renew = set_interval_with_handle(
            move || {
                if !page_hidden() {
                    spawn_local(async move {
                        let _ = set_viewing(id, true).await;
                    });
                }
            },
            Duration::from_secs(30),
        );
        let visibility = window_event_listener_untyped("visibilitychange", move |_| {
            let visible = !page_hidden();
            spawn_local(async move {
                let _ = set_viewing(id, visible).await;
            });
            if visible {
                mark_read();
            }
        });
        on_cleanup(move || {
            if let Ok(handle) = tick {
                handle.clear();
            }
            if let Ok(handle) = renew {
                handle.clear();
            }
            visibility.remove();
            spawn_local(async move {
                let _ = set_viewing(id, false).await;
            });
        });
    });

    let load_older = move || {
        if loading_older.get_untracked() || !has_more.get_untracked() {
            return;
        }
        let Some(oldest) = items.with_untracked(|list| {
            list.iter()
                .filter(|i| i.state == SendState::Sent)
                .map(|i| i.message.id)
                .min()
        }) else {
            return;
        };
        loading_older.set(true);
        let before = log_ref
            .get_untracked()
            .map(|log| (log.scroll_height(), log.scroll_top()));
        spawn_local(async move {
            match list_messages(id, Some(oldest)).await {
                Ok(Ok(page)) => {
                    items.update(|list| {
                        for message in page.messages {
                            upsert(list, message);
                        }
                    });
                    has_more.set(page.has_more);
                    // What was on screen stays where it was.
                    request_animation_frame(move || {
                        if let (Some(log), Some((height, top))) = (log_ref.get_untracked(), before)
                        {
                            log.set_scroll_top(log.scroll_height() - height + top);
                        }
                        loading_older.set(false);
                    });
                }
                Ok(Err(error)) | Err(error) => {
                    notice.set(Some(error.message));
                    loading_older.set(false);
                }
            }
        });
    };

    let deliver = move |client_id: String, request: SendMessage| {
        spawn_local(async move {
            let answer = post_message(id, request).await;
            match answer {
                Ok(Ok(message)) => {
                    notice.set(None);
                    items.update(|list| upsert(list, message));
                }
                Ok(Err(refusal)) | Err(refusal) => {
                    notice.set(Some(refusal.message.clone()));
                    items.update(|list| {
                        for item in list.iter_mut() {
                            if item.message.client_id.as_deref() == Some(client_id.as_str())
                                && item.state != SendState::Sent
                            {
                                item.state = SendState::Failed(refusal.message.clone());
                            }
                        }
                    });
                }
            }
        });
    };
    let retry = move |client_id: String| {
        let request = items.with_untracked(|list| {
            list.iter()
                .find(|i| i.message.client_id.as_deref() == Some(client_id.as_str()))
                .map(|i| SendMessage {
                    body: i.message.body.clone(),
                    client_id: Some(client_id.clone()),
                    attachment_ids: i.message.attachments.iter().map(|a| a.id).collect(),
                })
        });
        if let Some(request) = request {
            items.update(|list| {
                for item in list.iter_mut() {
                    if item.message.client_id.as_deref() == Some(client_id.as_str()) {
                        item.state = SendState::Sending;
                    }
                }
            });
            deliver(client_id, request);
        }
    };
    let send = move || {
        let Some(user) = me.get_untracked() else {
            return;
        };
        if files.with_untracked(|f| f.iter().any(|f| matches!(f.state, Ok(None)))) {
            notice.set(Some("Wait for the files to finish uploading.".into()));
            return;
        }
        let attachments: Vec<Attachment> = files.with_untracked(|f| {
            f.iter()
                .filter_map(|f| f.state.clone().ok().flatten())
                .collect()
        });
        let client_id = new_client_id();
        let request = SendMessage {
            body: draft.get_untracked(),
            client_id: Some(client_id.clone()),
            attachment_ids: attachments.iter().map(|a| a.id).collect(),
        };
        let valid = match request.clone().parse() {
            Ok(valid) => valid,
            Err(error) => {
                if !(draft.with_untracked(|d| d.trim().is_empty()) && attachments.is_empty()) {
                    notice.set(Some(error.message));
                }
                return;
            }
        };
        notice.set(None);
        draft.set(String::new());
        files.set(Vec::new());
        items.update(|list| {
            list.push(Item {
                message: Message {
                    id: i64::MAX,
                    conversation_id: id,
                    sender: user,
                    body: valid.body,
                    created_at: chrono::DateTime::from_timestamp_millis(js_sys::Date::now() as i64)
                        .unwrap_or_default(),
                    client_id: Some(client_id.clone()),
                    attachments,
                },
                state: SendState::Sending,
            })
        });
        scroll_to_bottom();
        if typing_sent_at.get_value() > 0.0 {
            typing_sent_at.set_value(0.0);
            spawn_local(async move {
                let _ = send_typing(id, false).await;
            });
        }
        deliver(client_id, request);
    };
    let on_input = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
        let now = js_sys::Date::now();
        if now - typing_sent_at.get_value() > 3_000.0 && !draft.with_untracked(|d| d.is_empty()) {
            typing_sent_at.set_value(now);
            spawn_local(async move {
                let _ = send_typing(id, true).await;
            });
        }
    };
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(list) = input.files() else { return };
        for index in 0..list.length() {
            let Some(file) = list.get(index) else {
                continue;
            };
            let local_id = next_file.get_value();
            next_file.set_value(local_id + 1);
            let too_big = file.size() > 10.0 * 1_048_576.0;
            files.update(|f| {
                f.push(PendingFile {
                    local_id,
                    name: file.name(),
                    state: if too_big {
                        Err("Files are at most 10 MB.".into())
                    } else {
                        Ok(None)
                    },
                })
            });
            if too_big {
                continue;
            }
            spawn_local(async move {
                let result = upload_file(id, file).await;
                files.update(|f| {
                    if let Some(pending) = f.iter_mut().find(|p| p.local_id == local_id) {
                        pending.state = result.map(Some);
                    }
                });
            });
        }
        input.set_value("");
    };

    let title = move || {
        conversation.with(|c| {
            c.as_ref()
                .map(|c| c.display_title(me.with(|m| m.as_ref().map_or(0, |u| u.id))))
                .unwrap_or_else(|| "Conversation".to_owned())
        })
    };
    let history = Memo::new(move |_| {
        items.with(|list| rows(list, first_unread.get(), realtime.now_ms.get()))
    });
    let typing_text = move || {
        typing.with(|list| match list.as_slice() {
            [] => None,
            [(one, _)] => Some(format!("{} is typing…", one.display_name)),
            [(a, _), (b, _)] => Some(format!(
                "{} and {} are typing…",
                a.display_name, b.display_name
            )),
            more => Some(format!("{} people are typing…", more.len())),
        })
    };

    view! {
        <Title text=title />
        {move || match loading.get() {
            Loading::Pending => view! { <p role="status" class="text-sm text-slate-500 dark:text-slate-400">"Loading the conversation…"</p> }.into_any(),
            Loading::NotFound => view! {
                <div class="rounded-xl border border-slate-200 p-8 text-center dark:border-slate-800">
                    <h1 class="text-xl font-semibold">"Conversation not found"</h1>
                    <p class="mt-2 text-sm text-slate-600 dark:text-slate-400">"It does not exist, or you are not a member."</p>
                    <a href="/messages" class="mt-4 inline-block font-medium text-indigo-600 underline dark:text-indigo-300">"Back to messages"</a>
                </div>
            }.into_any(),
            Loading::Removed => view! {
                <div role="alert" class="rounded-xl border border-slate-200 p-8 text-center dark:border-slate-800">
                    <h1 class="text-xl font-semibold">"You are no longer in this conversation"</h1>
                    <a href="/messages" class="mt-4 inline-block font-medium text-indigo-600 underline dark:text-indigo-300">"Back to messages"</a>
                </div>
            }.into_any(),
            Loading::Failed(message) => view! {
                <div role="alert" class="rounded-lg border border-red-300 bg-red-50 p-4 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
                    <p>{message}</p>
                    <button type="button" class="mt-2 font-medium underline" on:click=move |_| load()>"Try again"</button>
                </div>
            }.into_any(),
            Loading::Loaded => view! {
                <div class="flex h-[calc(100dvh-7.5rem)] min-h-64 flex-col lg:h-[calc(100dvh-9rem)] lg:min-h-96">
                    <header class="flex flex-wrap items-center justify-between gap-2 border-b border-slate-200 pb-3 dark:border-slate-800">
                        <div class="min-w-0">
                            <a href="/messages" class="text-sm text-indigo-600 hover:underline dark:text-indigo-300">"← Messages"</a>
                            <h1 class="truncate text-xl font-bold tracking-tight">{title}</h1>
                            {move || conversation.with(|c| c.as_ref().and_then(|c| presence_text(c, my_id(), realtime.now_ms.get()))).map(|(online, text)| view! {
                                <p class="flex items-center gap-1 text-xs text-slate-500 dark:text-slate-400" data-testid="presence" data-online=online.to_string()>
                                    <span aria-hidden="true" class=if online { "h-2 w-2 rounded-full bg-emerald-500" } else { "h-2 w-2 rounded-full bg-slate-400" }></span>
                                    {text}
                                </p>
                            })}
                        </div>
                        {move || conversation.with(|c| c.as_ref().filter(|c| c.kind == ConversationKind::Group).map(|c| c.id)).map(|_| view! {
                            <Members conversation me=Signal::derive(my_id) notice />
                        })}
                    </header>
                    <div node_ref=log_ref role="log" aria-live="polite" aria-label="Messages" tabindex="0" data-testid="message-log"
                        class="flex-1 space-y-2 overflow-y-auto py-4 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                        on:scroll=move |_| {
                            if log_ref.get_untracked().is_some_and(|log| log.scroll_top() < 80) {
                                load_older();
                            }
                        }>
                        <Show when=move || has_more.get()>
                            <div class="text-center">
                                <button type="button" class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-300" on:click=move |_| load_older()>
                                    {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                                </button>
                            </div>
                        </Show>
                        <Show when=move || items.with(Vec::is_empty)>
                            <p class="py-8 text-center text-sm text-slate-500 dark:text-slate-400">"No messages yet. Say hello!"</p>
                        </Show>
                        <For each=move || history.get() key=Row::key let:row>
                            <HistoryRow row conversation me=Signal::derive(my_id) retry />
                        </For>
                    </div>
                    <p class="h-5 text-sm italic text-slate-500 dark:text-slate-400" data-testid="typing-indicator" aria-live="polite">{typing_text}</p>
                    {move || notice.get().map(|text| view! {
                        <p role="alert" data-testid="composer-notice" class="mb-2 rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">{text}</p>
                    })}
                    <form class="border-t border-slate-200 pt-3 dark:border-slate-800"
                        on:submit=move |ev| { ev.prevent_default(); send(); }>
                        <ul class="mb-2 flex flex-wrap gap-2 text-xs" aria-label="Files to send">
                            <For each=move || files.get() key=|f| (f.local_id, format!("{:?}", f.state)) let:file>
                                <li class="flex items-center gap-1 rounded-full bg-slate-100 px-2 py-1 dark:bg-slate-800">
                                    <span>{file.name.clone()}</span>
                                    <span class="text-slate-500 dark:text-slate-400">{match &file.state {
                                        Ok(None) => "uploading…".to_owned(),
                                        Ok(Some(a)) => human_size(u64::try_from(a.size).unwrap_or(0)),
                                        Err(e) => e.clone(),
                                    }}</span>
                                    <button type="button" class="font-bold" aria-label=format!("Remove {}", file.name)
                                        on:click=move |_| files.update(|f| f.retain(|p| p.local_id != file.local_id))>"×"</button>
                                </li>
                            </For>
                        </ul>
                        <div class="flex items-end gap-2">
                            <label class="flex min-h-11 cursor-pointer items-center rounded-lg border border-slate-300 px-3 text-sm focus-within:ring-2 focus-within:ring-indigo-500 dark:border-slate-700">
                                <span>"Attach"</span>
                                <input type="file" multiple class="sr-only" aria-label="Attach files" data-testid="attach" on:change=on_files />
                            </label>
                            <textarea id="composer" aria-label="Message" rows="2" placeholder="Write a message…"
                                class="min-h-11 min-w-0 flex-1 resize-y rounded-lg border border-slate-300 bg-white px-3 py-2 text-base sm:text-sm dark:border-slate-700 dark:bg-slate-950"
                                prop:value=move || draft.get()
                                on:input=on_input
                                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                                        ev.prevent_default();
                                        send();
                                    }
                                }></textarea>
                            <button type="submit" class="min-h-11 rounded-lg bg-indigo-600 px-4 text-sm font-semibold text-white hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">"Send"</button>
                        </div>
                        <p class="mt-1 text-xs text-slate-500 dark:text-slate-400">"Enter sends; Shift+Enter starts a new line."</p>
                    </form>
                </div>
            }.into_any(),
        }}
    }
    .into_any()
}

#[component]
fn HistoryRow(
    row: Row,
    conversation: RwSignal<Option<Conversation>>,
    me: Signal<i64>,
    retry: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let realtime = use_realtime();
    match row {
        Row::Day(label) => view! {
            <div role="separator" class="my-3 flex items-center gap-3 text-xs font-medium text-slate-500 dark:text-slate-400" data-testid="day-separator">
                <span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>{label}<span class="h-px flex-1 bg-slate-200 dark:bg-slate-800"></span>
            </div>
        }
        .into_any(),
        Row::NewMessages => view! {
            <div role="separator" class="my-3 flex items-center gap-3 text-xs font-semibold text-red-600" data-testid="new-messages">
                <span class="h-px flex-1 bg-red-300"></span>"New messages"<span class="h-px flex-1 bg-red-300"></span>
            </div>
        }
        .into_any(),
        Row::Message(item) => {
            let message = item.message.clone();
            let mine = message.sender.id == me.get_untracked();
            let group = conversation
                .with_untracked(|c| c.as_ref().is_some_and(|c| c.kind == ConversationKind::Group));
            let id = message.id;
            let sender_id = message.sender.id;
            let client_id = message.client_id.clone().unwrap_or_default();
            let created_ms = message.created_at.timestamp_millis();
            let status = move || match &item.state {
                SendState::Sending => view! { <span data-testid="message-status">"Sending…"</span> }.into_any(),
                SendState::Failed(reason) => {
                    let client_id = client_id.clone();
                    view! {
                        <span data-testid="message-status" class="text-red-600" title=reason.clone()>"Not sent"</span>
                        <button type="button" class="ml-2 font-semibold text-red-700 underline" on:click=move |_| retry(client_id.clone())>"Retry"</button>
                    }
                    .into_any()
                }
                SendState::Sent => {
                    let text = conversation.with(|c| match c {
                        Some(c) if c.kind == ConversationKind::Group => match c.seen_by(id, sender_id) {
                            0 => "Sent".to_owned(),
                            n => format!("Seen by {n}"),
                        },
                        Some(c) if c.seen_by(id, sender_id) > 0 => "Seen".to_owned(),
                        _ => "Sent".to_owned(),
                    });
                    view! { <span data-testid="message-status">{text}</span> }.into_any()
                }
            };
            let attachments = message
                .attachments
                .iter()
                .map(|a| {
                    if a.is_image() {
                        view! {
                            <a href=a.url.clone() target="_blank" rel="noopener" class="block">
                                <img src=a.url.clone() alt=a.name.clone() loading="lazy" data-testid="attachment-image" class="mt-1 max-h-64 max-w-full rounded-lg" />
                            </a>
                        }
                        .into_any()
                    } else {
                        view! {
                            <a href=a.url.clone() download=a.name.clone() data-testid="attachment-file" class="mt-1 block underline">
                                {format!("{} ({})", a.name, human_size(u64::try_from(a.size).unwrap_or(0)))}
                            </a>
                        }
                        .into_any()
                    }
                })
                .collect_view();
            view! {
                <div class=if mine { "flex justify-end" } else { "flex justify-start" } data-testid="message" data-mine=mine.to_string()>
                    <div class=if mine {
                        "max-w-[80%] rounded-2xl rounded-br-sm bg-indigo-600 px-3 py-2 text-white"
                    } else {
                        "max-w-[80%] rounded-2xl rounded-bl-sm bg-white px-3 py-2 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800"
                    }>
                        {(group && !mine).then(|| view! {
                            <p class="text-xs font-semibold text-indigo-700 dark:text-indigo-300" data-testid="message-sender">{message.sender.display_name.clone()}</p>
                        })}
                        {(!mine && !group).then(|| view! { <span class="sr-only">{format!("{}: ", message.sender.display_name)}</span> })}
                        {mine.then(|| view! { <span class="sr-only">"You: "</span> })}
                        <p class="whitespace-pre-wrap break-words" data-testid="message-body">{message.body.clone()}</p>
                        {attachments}
                        <p class=if mine { "mt-1 text-right text-[11px] text-indigo-100" } else { "mt-1 text-[11px] text-slate-500" }>
                            <time datetime=message.created_at.to_rfc3339()>{move || time_label(created_ms, realtime.now_ms.get().is_some())}</time>
                            {mine.then(|| view! { " · " {status} })}
                        </p>
                    </div>
                </div>
            }
            .into_any()
        }
    }
}

/// A group's members: its creator adds and removes them, anyone else may
/// leave.
#[component]
fn Members(
    conversation: RwSignal<Option<Conversation>>,
    me: Signal<i64>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let session = use_session();
    let username = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let id = move || conversation.with_untracked(|c| c.as_ref().map_or(0, |c| c.id));
    let creator =
        move || conversation.with(|c| c.as_ref().and_then(|c| c.created_by)) == Some(me.get());
    let members =
        move || conversation.with(|c| c.as_ref().map(|c| c.members.clone()).unwrap_or_default());
    let remove = move |name: String| {
        let id = id();
        spawn_local(async move {
            match remove_member(id, name).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => notice.set(Some(e.message)),
            }
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = username.get_untracked().trim().to_owned();
        if name.is_empty() {
            return;
        }
        let id = id();
        spawn_local(async move {
            match add_member(id, name).await {
                Ok(Ok(())) => {
                    username.set(String::new());
                    error.set(None);
                }
                Ok(Err(e)) | Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <details class="relative">
            <summary class="cursor-pointer rounded-lg border border-slate-300 px-3 py-1.5 text-sm dark:border-slate-700">
                {move || format!("Members ({})", members().len())}
            </summary>
            <div class="absolute right-0 z-20 mt-2 w-72 rounded-xl border border-slate-200 bg-white p-3 shadow-lg dark:border-slate-800 dark:bg-slate-900">
                <ul class="space-y-1 text-sm" data-testid="members">
                    <For each=members key=|u| u.id let:member>
                        <li class="flex items-center justify-between gap-2">
                            <span>{member.display_name.clone()} <span class="text-slate-500 dark:text-slate-400">{format!("@{}", member.username)}</span></span>
                            {
                                let name = member.username.clone();
                                let member_id = member.id;
                                move || (creator() && member_id != me.get()).then(|| {
                                    let name = name.clone();
                                    view! {
                                        <button type="button" class="text-xs font-medium text-red-700 underline" aria-label=format!("Remove {name}")
                                            on:click=move |_| remove(name.clone())>"Remove"</button>
                                    }
                                })
                            }
                        </li>
                    </For>
                </ul>
                <Show when=creator fallback=move || view! {
                    <button type="button" class="mt-3 text-sm font-medium text-red-700 underline"
                        on:click=move |_| {
                            let me_name = session.user().and_then(|u| u.ok().flatten()).map(|u| u.username);
                            if let Some(name) = me_name { remove(name) }
                        }>"Leave group"</button>
                }>
                    <form class="mt-3 flex gap-2" on:submit=add>
                        <label for="add-member" class="sr-only">"Username to add"</label>
                        <input id="add-member" placeholder="Username" bind:value=username autocomplete="off"
                            class="min-w-0 flex-1 rounded-lg border border-slate-300 px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950" />
                        <button type="submit" class="rounded-lg bg-indigo-600 px-3 py-1 text-sm font-semibold text-white">"Add"</button>
                    </form>
                    {move || error.get().map(|e| view! { <p role="alert" class="mt-1 text-xs text-red-700">{e}</p> })}
                </Show>
            </div>
        </details>
    }
    .into_any()
}
