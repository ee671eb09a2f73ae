//! The browser's one connection to the event stream, shared by its tabs.
//! Browser only (hydrate).
//!
//! - Election (`tabs.rs`): the tabs of a user ask for one Web Lock; the tab
//!   that holds it (the leader) opens the `EventSource` and relays every
//!   event, and its status, to the others over a `BroadcastChannel`. When
//!   it closes, the lock passes to a waiting tab, which resumes from its
//!   own last event. Without Web Locks every tab leads its own stream.
//! - Resume: a new `EventSource` cannot send `Last-Event-ID`, so the URL
//!   carries `last_event_id`. Events pass the [`Sequencer`]: repeats are
//!   dropped, and a gap (a tab that joined late) is filled from
//!   `/api/events/poll` before anything later is applied.
//! - Failure (`transport.rs` holds the state): the stream is closed and
//!   re-created after a backoff with full jitter; after three failures in a
//!   row, long-polling carries the events while the stream keeps being
//!   retried. `online`/`offline` events from
//!   the browser reconnect at once or pause.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use serde_json::value::RawValue;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{EventSource, MessageEvent};

use crate::auth::context::{Session, use_session};
use crate::model::event::{Ephemeral, Event, PollAnswer, Sequenced};
use crate::model::json;
use crate::model::notification::Preferences;
use crate::reactive::effect;
use crate::realtime::alerts::Alerts;
use crate::realtime::client::{
    ConnectionStatus, Delivery, Realtime, backoff_ms, follow_link, page_hidden, use_hydrated,
};
use crate::realtime::relay::Relay;
use crate::realtime::sequencer::{Next, Sequencer};
use crate::realtime::tabs::{self, TabChannel};
use crate::realtime::transport::Transport;

/// Stream failures in a row after which long-polling starts.
const POLL_AFTER_FAILURES: u32 = 3;
/// How long one long-poll waits for news, in seconds.
const POLL_WAIT_SECS: u32 = 25;

/// The smallest list request: it answers the unread count and the cursor
/// the count belongs to. The connection speaks the HTTP API, like any
/// client, rather than calling page server functions.
const SNAPSHOT: &str = "/api/notifications?limit=1";

/// What the connection reads of [`SNAPSHOT`]'s answer (a notification
/// page; only these two members).
#[derive(serde::Deserialize)]
struct Snapshot {
    unread_count: i64,
    cursor: i64,
}

/// A connection's state. One per signed-in user per tab; shared by the
/// callbacks through `Rc<RefCell<..>>` (the browser runs them one at a
/// time; no borrow is held while components are called).
struct Inner {
    realtime: Realtime,
    session: Session,
    user_id: i64,
    navigate: Rc<dyn Fn(&str)>,
    alerts: Alerts,
    channel: Option<TabChannel>,
    /// In-order, exactly-once delivery.
    sequencer: Sequencer<Received>,
    /// Following another tab, streaming, polling, or stopped.
    transport: Transport,
    source: Option<EventSource>,
    handlers: Option<Rc<StreamHandlers>>,
    /// Events above this number arrived live: the snapshot's cursor until
    /// the first stream is ready (what happened since the page loaded is
    /// news), then each reconnection's `ready` cursor (what was missed
    /// while away is backlog).
    live_after: i64,
    /// A stream has been ready at least once in this connection.
    streamed_before: bool,
    /// Invalidates a scheduled reconnect when another one happens first.
    reconnect_token: u64,
    /// Resolving it releases the leader's Web Lock.
    release_lock: Option<js_sys::Function>,
    last_relayed_preferences: Option<Preferences>,
}

type Conn = Rc<RefCell<Inner>>;

/// An event on its way to the components: decoded, with the JSON it came
/// as (the leader relays that to the other tabs) and whether it arrived
/// live.
struct Received {
    event: Event,
    json: String,
    live: bool,
}

/// The `EventSource` listeners, created once per connection and added to
/// every stream it opens (so none is ever dropped while a stream might
/// still call it).
struct StreamHandlers {
    on_ready: Closure<dyn FnMut(MessageEvent)>,
    on_reset: Closure<dyn FnMut(MessageEvent)>,
    on_event: Closure<dyn FnMut(MessageEvent)>,
    on_ephemeral: Closure<dyn FnMut(MessageEvent)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
}

/// Keeps a connection open for whoever is signed in; called once by
/// `provide_realtime` in the browser.
pub fn run(realtime: Realtime) {
    let session = use_session();
    let navigate = use_navigate();
    let navigate: Rc<dyn Fn(&str)> = Rc::new(move |url: &str| follow_link(url, &navigate));
    let current: Rc<RefCell<Option<Conn>>> = Rc::new(RefCell::new(None));

    // The clock for relative times and the stream start once the whole
    // page has hydrated (see `Hydrated`), not during it.
    let hydrated = use_hydrated();
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) || !hydrated.get() {
            return started.unwrap_or(false);
        }
        let tick = move || realtime.now_ms.set(Some(js_sys::Date::now() as i64));
        tick();
        let _ = set_interval_with_handle(tick, Duration::from_secs(30));
        true
    });

    install_window_listeners(Rc::clone(&current));

    let current_for_preferences = Rc::clone(&current);
    effect(move |_| {
        if !hydrated.get() {
            return;
        }
        let user_id = match session.user() {
            Some(Ok(Some(user))) => Some(user.id),
            Some(Ok(None)) => None,
            // Still loading, or the check failed: keep what runs.
            _ => return,
        };
        let running = current.borrow().as_ref().map(|c| c.borrow().user_id);
        if running == user_id {
            return;
        }
        if let Some(old) = current.borrow_mut().take() {
            stop(&old);
        }
        if let Some(user_id) = user_id {
            *current.borrow_mut() = Some(start(realtime, session, user_id, Rc::clone(&navigate)));
        }
    });

    // Preferences changed in this tab (Settings): tell the other tabs.
    let preferences = realtime.preferences;
    effect(move |_| {
        let Some(value) = preferences.get() else {
            return;
        };
        let Some(conn) = current_for_preferences.borrow().clone() else {
            return;
        };
        let changed = conn.borrow().last_relayed_preferences.as_ref() != Some(&value);
        if changed {
            conn.borrow_mut().last_relayed_preferences = Some(value.clone());
            post(&conn, &Relay::Preferences { preferences: value });
        }
    });
}

fn start(realtime: Realtime, session: Session, user_id: i64, navigate: Rc<dyn Fn(&str)>) -> Conn {
    let alerts = Alerts::new(Rc::clone(&navigate));
    let conn: Conn = Rc::new(RefCell::new(Inner {
        realtime,
        session,
        user_id,
        navigate,
        alerts,
        channel: None,
        sequencer: Sequencer::default(),
        transport: Transport::Following,
        source: None,
        handlers: None,
        live_after: i64::MAX,
        streamed_before: false,
        reconnect_token: 0,
        release_lock: None,
        last_relayed_preferences: None,
    }));
    realtime.status.set(ConnectionStatus::Connecting);
    let for_relay = Rc::clone(&conn);
    let channel = TabChannel::open(user_id, move |relay| on_relay(&for_relay, relay));
    conn.borrow_mut().channel = channel;
    spawn_local(bootstrap(Rc::clone(&conn)));
    conn
}

/// Ends a connection (sign-out, another user): closes the stream, leaves
/// the channel and releases the lock so another tab of that user can lead.
fn stop(conn: &Conn) {
    let mut inner = conn.borrow_mut();
    inner.transport.stop();
    inner.reconnect_token += 1;
    if let Some(source) = inner.source.take() {
        source.close();
    }
    if let Some(channel) = inner.channel.take() {
        channel.close();
    }
    if let Some(release) = inner.release_lock.take() {
        let _ = release.call0(&JsValue::NULL);
    }
    inner.alerts.close_all();
    inner.realtime.leader.set(false);
    inner.realtime.unread.set(None);
    inner.realtime.forget_stream();
}

/// Loads the snapshot (unread count and the cursor it belongs to) and
/// the preferences, then joins the election.
async fn bootstrap(conn: Conn) {
    let realtime = conn.borrow().realtime;
    let mut attempt = 0;
    let page = loop {
        match fetch_json::<Snapshot>(SNAPSHOT).await {
            Ok(page) => break page,
            Err(_) => {
                if conn.borrow().transport.stopped() {
                    return;
                }
                realtime.status.set(ConnectionStatus::Reconnecting);
                sleep(backoff_ms(attempt, js_sys::Math::random()).max(250)).await;
                attempt += 1;
            }
        }
    };
    if conn.borrow().transport.stopped() {
        return;
    }
    let next = {
        let mut inner = conn.borrow_mut();
        inner.live_after = page.cursor;
        // A list rendered by the server may be older than the snapshot:
        // the stream then replays from the list's cursor (as backlog).
        let start = realtime.start_stream(page.cursor);
        inner.sequencer.start(start)
    };
    realtime.unread.set(Some(page.unread_count));
    proceed(&conn, next);
    if let Ok(preferences) = fetch_json::<Preferences>("/api/preferences").await {
        conn.borrow_mut().last_relayed_preferences = Some(preferences.clone());
        realtime.preferences.set(Some(preferences));
    }
    elect(&conn);
}

/// Waits for the user's stream lock; leads once it is granted. Meanwhile
/// this tab follows whoever holds it.
fn elect(conn: &Conn) {
    let user_id = conn.borrow().user_id;
    let for_grant = Rc::clone(conn);
    let requested = tabs::request_stream_lock(user_id, move |release| {
        if for_grant.borrow().transport.stopped() {
            return false;
        }
        for_grant.borrow_mut().release_lock = Some(release);
        lead(&for_grant);
        true
    });
    if requested {
        post(conn, &Relay::Hello);
    } else {
        lead(conn);
    }
}

/// Becomes the tab that holds the stream.
fn lead(conn: &Conn) {
    let realtime = {
        let mut inner = conn.borrow_mut();
        if !inner.transport.lead() {
            return;
        }
        inner.handlers = Some(Rc::new(stream_handlers(conn)));
        inner.realtime
    };
    realtime.leader.set(true);
    open_stream(conn);
}

fn stream_handlers(conn: &Conn) -> StreamHandlers {
    let for_ready = Rc::clone(conn);
    let on_ready = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        if let Some((Cursor { cursor }, _)) = parse_data(&message, Cursor::decode) {
            on_stream_ready(&for_ready, cursor);
        }
    });
    let for_reset = Rc::clone(conn);
    let on_reset = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        if let Some((Cursor { cursor }, _)) = parse_data(&message, Cursor::decode) {
            handle_reset(&for_reset, cursor, true);
        }
    });
    let for_event = Rc::clone(conn);
    let on_event = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let Ok(seq) = message.last_event_id().parse::<i64>() else {
            return;
        };
        if let Some((event, json)) = parse_data(&message, Event::decode) {
            let live = seq > for_event.borrow().live_after;
            deliver(&for_event, seq, Received { event, json, live });
        }
    });
    let for_ephemeral = Rc::clone(conn);
    let on_ephemeral = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        // Passed on unread: the chat pages read typing and presence.
        let Some(json) = message.data().as_string() else {
            return;
        };
        let name = message.type_();
        let realtime = for_ephemeral.borrow().realtime;
        realtime.dispatch_ephemeral(&name, &json);
        post(&for_ephemeral, &Relay::Ephemeral { name, json });
    });
    let for_error = Rc::clone(conn);
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        on_stream_error(&for_error);
    });
    StreamHandlers {
        on_ready,
        on_reset,
        on_event,
        on_ephemeral,
        on_error,
    }
}

/// A stream message's data, decoded by its event name, and its text.
/// The `ready` and `reset` signals, as far as the connection reads them
/// (not with [`Ephemeral::decode`], whose typing and presence readers only
/// the chat pages need).
#[derive(serde::Deserialize)]
struct Cursor {
    cursor: i64,
}

impl Cursor {
    fn decode(_name: &str, json: &str) -> Result<Self, serde_json::Error> {
        json::from_str(json)
    }
}

fn parse_data<T>(
    message: &MessageEvent,
    decode: fn(&str, &str) -> Result<T, serde_json::Error>,
) -> Option<(T, String)> {
    let json = message.data().as_string()?;
    let decoded = decode(&message.type_(), &json).ok()?;
    Some((decoded, json))
}

/// Opens a stream resuming after the last applied event.
fn open_stream(conn: &Conn) {
    let mut inner = conn.borrow_mut();
    if !inner.transport.leading() || inner.source.is_some() {
        return;
    }
    let Some(handlers) = inner.handlers.clone() else {
        return;
    };
    let last = inner.sequencer.last().unwrap_or(0);
    let Ok(source) = EventSource::new(&format!("/api/events?last_event_id={last}")) else {
        return;
    };
    let listen = |name: &str, handler: &js_sys::Function| {
        let _ = source.add_event_listener_with_callback(name, handler);
    };
    listen("ready", handlers.on_ready.as_ref().unchecked_ref());
    listen("reset", handlers.on_reset.as_ref().unchecked_ref());
    for name in Event::NAMES {
        listen(name, handlers.on_event.as_ref().unchecked_ref());
    }
    for name in Ephemeral::RELAYED {
        listen(name, handlers.on_ephemeral.as_ref().unchecked_ref());
    }
    source.set_onerror(Some(handlers.on_error.as_ref().unchecked_ref()));
    inner.source = Some(source);
}

fn on_stream_ready(conn: &Conn, cursor: i64) {
    {
        let mut inner = conn.borrow_mut();
        if inner.streamed_before {
            inner.live_after = cursor;
        }
        inner.streamed_before = true;
        inner.transport.stream_ready();
    }
    set_status(conn, ConnectionStatus::Live);
}

/// The stream failed (network, server gone, or a non-200 answer): close it
/// and try again after a backoff, long-polling meanwhile if it keeps failing.
fn on_stream_error(conn: &Conn) {
    let (failure, token) = {
        let mut inner = conn.borrow_mut();
        if let Some(source) = inner.source.take() {
            source.close();
        }
        let Some(failure) = inner.transport.stream_failed(POLL_AFTER_FAILURES) else {
            return;
        };
        inner.reconnect_token += 1;
        (failure, inner.reconnect_token)
    };
    if !browser_online() {
        // The `online` event reconnects.
        set_status(conn, ConnectionStatus::Offline);
        return;
    }
    // While long-polling delivers, the indicator stays `Live`.
    if !failure.still_delivering {
        set_status(conn, ConnectionStatus::Reconnecting);
    }
    if failure.start_polling {
        spawn_local(poll_loop(Rc::clone(conn)));
    }
    let delay = backoff_ms(failure.attempt, js_sys::Math::random());
    let for_retry = Rc::clone(conn);
    set_timeout(
        move || {
            if for_retry.borrow().reconnect_token == token {
                open_stream(&for_retry);
            }
        },
        Duration::from_millis(u64::from(delay)),
    );
}

/// Long-polls `/api/events/poll` while the stream keeps failing. The first
/// answer is backlog; later ones are live.
async fn poll_loop(conn: Conn) {
    let mut first = true;
    let mut failures = 0;
    loop {
        let after = {
            let inner = conn.borrow();
            if !inner.transport.polling() {
                return;
            }
            inner.sequencer.last().unwrap_or(0)
        };
        let wait = if first { 0 } else { POLL_WAIT_SECS };
        match fetch_poll(after, wait, !first).await {
            Ok(answer) => {
                failures = 0;
                if answer.reset {
                    handle_reset(&conn, answer.cursor, true);
                } else {
                    for (seq, received) in answer.events {
                        deliver(&conn, seq, received);
                    }
                }
                first = false;
                let still_polling = conn.borrow().transport.polling();
                if still_polling && browser_online() {
                    set_status(&conn, ConnectionStatus::Live);
                }
            }
            Err(PollError::SignedOut) => {
                // The session ended elsewhere (signed out in another tab,
                // expired, disabled): this page is signed out too.
                let (session, navigate) = {
                    let inner = conn.borrow();
                    (inner.session, Rc::clone(&inner.navigate))
                };
                session.set_user(None);
                navigate("/login");
                return;
            }
            Err(PollError::Failed) => {
                if browser_online() {
                    set_status(&conn, ConnectionStatus::Reconnecting);
                }
                sleep(backoff_ms(failures, js_sys::Math::random()).max(500)).await;
                failures += 1;
            }
        }
    }
}

enum PollError {
    SignedOut,
    Failed,
}

/// Asks `/api/events/poll` for the events after `after`, waiting up to
/// `wait` seconds for one. Each event is decoded by its type and keeps its
/// JSON text (see [`Received`]); one that does not decode is left out, as
/// the stream leaves it out.
async fn fetch_poll(
    after: i64,
    wait: u32,
    live: bool,
) -> Result<PollAnswer<(i64, Received)>, PollError> {
    let text = fetch_text(&format!("/api/events/poll?after={after}&wait={wait}")).await?;
    read_poll_answer(text, live)
        .await
        .ok()
        .flatten()
        .ok_or(PollError::Failed)
}

/// Reads a poll answer (`None` when it is not one), in a module of its own
/// (`poll`): events arrive by the stream, and a page whose stream works
/// never downloads this. Fetched with the first poll answer (not before:
/// while the server is down, fetching it would only fail); a failed
/// download is a failed poll, retried like one.
#[leptos::wasm_split::wasm_split(poll, wasm_split_path = ::leptos::wasm_split, fallible)]
fn read_poll_answer(
    text: String,
    live: bool,
) -> Result<Option<PollAnswer<(i64, Received)>>, leptos::wasm_split::SplitLoaderError> {
    let Ok(answer) = json::from_str::<PollAnswer<&RawValue>>(&text) else {
        return Ok(None);
    };
    let events = answer
        .events
        .iter()
        .filter_map(|raw| {
            let json = raw.get();
            let Sequenced { id, event } = Sequenced::decode(json).ok()?;
            let json = json.to_owned();
            Some((id, Received { event, json, live }))
        })
        .collect();
    Ok(Some(PollAnswer {
        events,
        cursor: answer.cursor,
        reset: answer.reset,
    }))
}

/// A GET of the HTTP API, decoded.
async fn fetch_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, PollError> {
    json::from_str(&fetch_text(url).await?).map_err(|_| PollError::Failed)
}

/// A GET of the HTTP API, as text.
async fn fetch_text(url: &str) -> Result<String, PollError> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|_| PollError::Failed)?;
    match response.status() {
        200 => response.text().await.map_err(|_| PollError::Failed),
        401 => Err(PollError::SignedOut),
        _ => Err(PollError::Failed),
    }
}

/// Takes an event from the stream, a poll or another tab.
fn deliver(conn: &Conn, seq: i64, received: Received) {
    let next = {
        let mut inner = conn.borrow_mut();
        if inner.transport.stopped() {
            return;
        }
        inner.sequencer.offer(seq, received)
    };
    proceed(conn, next);
}

/// Does what the sequencer answered: applies events in order, then starts
/// filling a gap from the store when one was found.
fn proceed(conn: &Conn, next: Next<Received>) {
    for (seq, received) in next.apply {
        apply(conn, seq, received);
    }
    if let Some(after) = next.fill_after {
        // The gap's events are as live as the first one that waited for them.
        let live = conn
            .borrow()
            .sequencer
            .first_held()
            .is_none_or(|held| held.live);
        spawn_local(fill_gap(Rc::clone(conn), after, live));
    }
}

/// Applies one event in order: the unread count, the relay to the other
/// tabs, alerts, then the components.
fn apply(conn: &Conn, seq: i64, received: Received) {
    let Received { event, json, live } = received;
    let (realtime, leading) = {
        let inner = conn.borrow();
        (inner.realtime, inner.transport.leading())
    };
    if let Some(count) = event.unread_count() {
        realtime.unread.set(Some(count));
    }
    if leading {
        post(
            conn,
            &Relay::Event {
                id: seq,
                name: event.name().to_owned(),
                json,
                live,
            },
        );
        // Only the leader raises browser notifications and plays the sound:
        // once per browser, however many tabs are open.
        let alerts = conn.borrow().alerts.clone();
        alerts.on_event(&realtime, &event, live);
    }
    realtime.dispatch(&Delivery { seq, event, live });
}

/// Fetches the events after `after` from the store, applies them, then
/// whatever arrived meanwhile.
async fn fill_gap(conn: Conn, mut after: i64, live: bool) {
    let mut failures = 0;
    loop {
        if conn.borrow().transport.stopped() {
            return;
        }
        match fetch_poll(after, 0, live).await {
            Ok(answer) if answer.reset => {
                handle_reset(&conn, answer.cursor, false);
                break;
            }
            Ok(answer) => {
                let page = conn.borrow_mut().sequencer.fill_page(answer.events);
                for (seq, received) in page {
                    apply(&conn, seq, received);
                }
                after = conn.borrow().sequencer.last().unwrap_or(after);
                if after >= answer.cursor {
                    break;
                }
            }
            Err(PollError::SignedOut) => return,
            Err(PollError::Failed) => {
                sleep(backoff_ms(failures, js_sys::Math::random()).max(250)).await;
                failures += 1;
            }
        }
    }
    let next = conn.borrow_mut().sequencer.fill_done();
    proceed(&conn, next);
}

/// The server cannot replay from where this page was: start over from
/// `cursor` and have every list refetch.
fn handle_reset(conn: &Conn, cursor: i64, relay: bool) {
    let realtime = {
        let mut inner = conn.borrow_mut();
        inner.sequencer.reset(cursor);
        inner.realtime
    };
    if relay && conn.borrow().transport.leading() {
        post(conn, &Relay::Reset { cursor });
    }
    realtime.resets.update(|n| *n += 1);
    let for_count = Rc::clone(conn);
    spawn_local(async move {
        if let Ok(page) = fetch_json::<Snapshot>(SNAPSHOT).await
            && !for_count.borrow().transport.stopped()
        {
            realtime.unread.set(Some(page.unread_count));
        }
    });
}

fn on_relay(conn: &Conn, relay: Relay) {
    let (leading, realtime) = {
        let inner = conn.borrow();
        if inner.transport.stopped() {
            return;
        }
        (inner.transport.leading(), inner.realtime)
    };
    match relay {
        Relay::Hello if leading => {
            let status = realtime.status.get_untracked().label().to_owned();
            post(conn, &Relay::Status { status });
        }
        Relay::Status { status } if !leading => {
            if let Some(status) = ConnectionStatus::parse(&status) {
                realtime.status.set(status);
            }
        }
        Relay::Event {
            id,
            name,
            json,
            live,
        } if !leading => {
            if let Ok(event) = Event::decode(&name, &json) {
                deliver(conn, id, Received { event, json, live });
            }
        }
        Relay::Reset { cursor } if !leading => handle_reset(conn, cursor, false),
        Relay::Ephemeral { name, json } if !leading => {
            realtime.dispatch_ephemeral(&name, &json);
        }
        Relay::Preferences { preferences } => {
            conn.borrow_mut().last_relayed_preferences = Some(preferences.clone());
            realtime.preferences.set(Some(preferences));
        }
        _ => {}
    }
}

/// Sets this tab's indicator and, from the leader, every other tab's.
fn set_status(conn: &Conn, status: ConnectionStatus) {
    let (realtime, leading) = {
        let inner = conn.borrow();
        (inner.realtime, inner.transport.leading())
    };
    realtime.status.set(status);
    if leading {
        post(
            conn,
            &Relay::Status {
                status: status.label().to_owned(),
            },
        );
    }
}

fn post(conn: &Conn, relay: &Relay) {
    if let Some(channel) = &conn.borrow().channel {
        channel.post(relay);
    }
}

fn browser_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// `offline` pauses the stream (and says so); `online` reconnects at once
/// with the backoff reset; a tab coming back into view reconnects a stream
/// that is waiting out a long backoff.
fn install_window_listeners(current: Rc<RefCell<Option<Conn>>>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let for_offline = Rc::clone(&current);
    let offline = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let Some(conn) = for_offline.borrow().clone() else {
            return;
        };
        {
            let mut inner = conn.borrow_mut();
            inner.reconnect_token += 1;
            if let Some(source) = inner.source.take() {
                source.close();
            }
        }
        set_status(&conn, ConnectionStatus::Offline);
    });
    let for_online = Rc::clone(&current);
    let online = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        if let Some(conn) = for_online.borrow().clone() {
            reconnect_now(&conn);
        }
    });
    let for_visible = current;
    let visible = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let hidden = page_hidden();
        if let Some(conn) = for_visible.borrow().clone()
            && !hidden
            && conn.borrow().source.is_none()
        {
            reconnect_now(&conn);
        }
    });
    let _ = window.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref());
    let _ = window.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
    if let Some(document) = window.document() {
        let _ = document
            .add_event_listener_with_callback("visibilitychange", visible.as_ref().unchecked_ref());
    }
    // Page-lifetime listeners.
    offline.forget();
    online.forget();
    visible.forget();
}

fn reconnect_now(conn: &Conn) {
    let leading = {
        let mut inner = conn.borrow_mut();
        inner.transport.retry_now();
        inner.reconnect_token += 1;
        inner.transport.leading()
    };
    if leading {
        set_status(conn, ConnectionStatus::Reconnecting);
        open_stream(conn);
    } else {
        post(conn, &Relay::Hello);
    }
}

async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ =
                window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
