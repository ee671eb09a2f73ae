//! The page's view of the event stream: one `Realtime` context with typed
//! signals (connection status, unread count, preferences, a clock) and a
//! listener list through which every applied event reaches the components,
//! in sequence order, exactly once. Both sides: on the server the context
//! holds the initial values the page renders with; the connection itself
//! (`connection`, hydrate only) runs in the browser.

use std::sync::Arc;

use leptos::prelude::*;

use crate::model::event::{Ephemeral, Event};
use crate::model::notification::{Notification, Preferences};

/// What the header's connection indicator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// The first connection of this page is being made.
    Connecting,
    /// Events arrive as they happen (a stream, or long-polling after
    /// repeated stream failures).
    Live,
    /// The connection was lost; retrying with backoff.
    Reconnecting,
    /// The browser says it has no network.
    Offline,
}

impl ConnectionStatus {
    /// The indicator's text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting",
            Self::Live => "Live",
            Self::Reconnecting => "Reconnecting",
            Self::Offline => "Offline",
        }
    }

    /// Parses [`label`](Self::label) (tabs relay the status by name).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Connecting,
            Self::Live,
            Self::Reconnecting,
            Self::Offline,
        ]
        .into_iter()
        .find(|s| s.label() == text)
    }
}

/// One stored event as the components receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub seq: i64,
    pub event: Event,
    /// Happened while this browser was connected, as opposed to backlog
    /// replayed after a reconnect. Only live events raise alerts.
    pub live: bool,
}

/// Keeps a list loaded from the server and the live deliveries in step:
/// deliveries that arrive while the list's snapshot is loading are held and
/// applied on top of it once it arrives. When the snapshot says which event
/// number it reflects ([`LiveList::loaded_at`]), what it already contains
/// is skipped, before and after it arrives; otherwise what applies them must
/// be idempotent (chat's appliers are: by message id, by read marker
/// maximum, by member id). Without this, a message delivered while the list
/// loads vanished when the older snapshot replaced the list. The
/// notification center and both chat pages use it.
#[derive(Clone, Copy)]
pub struct LiveList {
    /// `Some` while a snapshot is loading: the deliveries held meanwhile.
    held: StoredValue<Option<Vec<Delivery>>>,
    /// The event number the loaded snapshot reflects, when it says.
    cursor: StoredValue<Option<i64>>,
}

impl LiveList {
    /// A list with no snapshot loading yet.
    pub fn new() -> Self {
        Self {
            held: StoredValue::new(None),
            cursor: StoredValue::new(None),
        }
    }

    /// Subscribes `apply` to `realtime`'s deliveries, holding those that
    /// arrive while a snapshot loads.
    pub fn subscribe(self, realtime: Realtime, apply: impl Fn(&Delivery) + Send + Sync + 'static) {
        realtime.subscribe(move |delivery| {
            if self.admit(delivery) {
                apply(delivery);
            }
        });
    }

    /// A snapshot starts loading: hold deliveries until it arrives.
    pub fn loading(&self) {
        self.cursor.set_value(None);
        self.held.set_value(Some(Vec::new()));
    }

    /// Whether `delivery` may be applied now (`false`: held for later, or
    /// already in the snapshot).
    fn admit(&self, delivery: &Delivery) -> bool {
        let mut admitted = true;
        self.held.update_value(|held| {
            if let Some(held) = held {
                held.push(delivery.clone());
                admitted = false;
            }
        });
        admitted
            && self
                .cursor
                .get_value()
                .is_none_or(|cursor| delivery.seq > cursor)
    }

    /// The snapshot is in place (or failed): the deliveries held while it
    /// loaded, to apply on top of it, in order.
    pub fn loaded(&self) -> Vec<Delivery> {
        self.held
            .try_update_value(Option::take)
            .flatten()
            .unwrap_or_default()
    }

    /// The snapshot is in place and reflects every event up to `cursor`:
    /// the held deliveries after it, to apply on top of it, in order.
    pub fn loaded_at(&self, cursor: i64) -> Vec<Delivery> {
        self.cursor.set_value(Some(cursor));
        let mut held = self.loaded();
        held.retain(|delivery| delivery.seq > cursor);
        held
    }
}

impl Default for LiveList {
    fn default() -> Self {
        Self::new()
    }
}

/// A component's interest in deliveries.
type Listener = Arc<dyn Fn(&Delivery) + Send + Sync>;
/// A component's interest in typing and presence, handed each signal's
/// name and JSON.
type EphemeralListener = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Whether the page has finished hydrating, a lazily loaded route's chunk
/// included. Provided by the browser's entry point (`hydrate` in lib.rs);
/// absent on the server, where it reads `false`. Anything that changes what
/// a route renders (the clock, the event stream) starts only once this is
/// true: the layout hydrates first and its effects run while the route's
/// chunk is still downloading, and a route that then rendered other content
/// than the server did would fail to hydrate.
#[derive(Clone)]
pub struct Hydrated(pub ArcRwSignal<bool>);

/// The page's [`Hydrated`] state, tracked.
pub fn use_hydrated() -> Signal<bool> {
    match use_context::<Hydrated>() {
        Some(Hydrated(done)) => Signal::derive(move || done.get()),
        None => Signal::stored(false),
    }
}

/// The real-time context. `Copy`: every field is an arena handle.
#[derive(Clone, Copy)]
pub struct Realtime {
    /// The header's indicator.
    pub status: RwSignal<ConnectionStatus>,
    /// The signed-in user's unread notifications, once known.
    pub unread: RwSignal<Option<i64>>,
    /// The signed-in user's preferences, once loaded.
    pub preferences: RwSignal<Option<Preferences>>,
    /// Bumped whenever the server said the page's state may be stale (a
    /// `reset`): lists refetch when it changes.
    pub resets: RwSignal<u64>,
    /// Browser time in Unix ms, refreshed every 30 s; `None` during server
    /// rendering, so relative times appear only after hydration.
    pub now_ms: RwSignal<Option<i64>>,
    /// Whether this tab holds the browser's one stream.
    pub leader: RwSignal<bool>,
    /// The oldest cursor of a list the server rendered into the page: the
    /// stream replays from it (see [`Realtime::replay_after`]).
    rendered_floor: StoredValue<Option<i64>>,
    /// Where this connection's stream started, once it has.
    started_at: StoredValue<Option<i64>>,
    listeners: StoredValue<Vec<(u64, Listener)>>,
    ephemeral_listeners: StoredValue<Vec<(u64, EphemeralListener)>>,
    next_listener: StoredValue<u64>,
}

impl Realtime {
    pub(super) fn new() -> Self {
        Self {
            status: RwSignal::new(ConnectionStatus::Connecting),
            unread: RwSignal::new(None),
            preferences: RwSignal::new(None),
            resets: RwSignal::new(0),
            now_ms: RwSignal::new(None),
            leader: RwSignal::new(false),
            rendered_floor: StoredValue::new(None),
            started_at: StoredValue::new(None),
            listeners: StoredValue::new(Vec::new()),
            ephemeral_listeners: StoredValue::new(Vec::new()),
            next_listener: StoredValue::new(0),
        }
    }

    /// A list arrived rendered by the server, reflecting every event up to
    /// `cursor`: the stream, when it starts, replays what came after, so
    /// nothing that happened between the render and the stream is lost.
    /// `false` once a stream has started: events it delivered before the
    /// list subscribed are gone for the list, which must load again.
    pub fn replay_after(&self, cursor: i64) -> bool {
        match self.started_at.get_value() {
            Some(_) => false,
            None => {
                self.rendered_floor
                    .update_value(|floor| *floor = Some(floor.map_or(cursor, |f| f.min(cursor))));
                true
            }
        }
    }

    /// The connection starts its stream after the snapshot's `cursor`, or
    /// earlier where a server-rendered list needs it: the position to
    /// start from.
    #[cfg(feature = "hydrate")]
    pub(super) fn start_stream(&self, cursor: i64) -> i64 {
        let start = self
            .rendered_floor
            .get_value()
            .map_or(cursor, |floor| floor.min(cursor));
        self.started_at.set_value(Some(start));
        start
    }

    /// The connection ended (sign-out, another user): the next one starts
    /// afresh.
    #[cfg(feature = "hydrate")]
    pub(super) fn forget_stream(&self) {
        self.started_at.set_value(None);
        self.rendered_floor.set_value(None);
    }

    /// Calls `listener` with every event applied from now on, until the
    /// calling component is dropped.
    pub fn subscribe(&self, listener: impl Fn(&Delivery) + Send + Sync + 'static) {
        let id = self.next_listener.get_value();
        self.next_listener.set_value(id + 1);
        self.listeners
            .update_value(|all| all.push((id, Arc::new(listener))));
        let listeners = self.listeners;
        on_cleanup(move || {
            listeners.try_update_value(|all| all.retain(|(other, _)| *other != id));
        });
    }

    /// Calls `listener` with every typing and presence signal from now on,
    /// until the calling component is dropped. The signals are read here,
    /// in the listener's code, not by the connection: only the chat pages
    /// listen, and the first download then carries no reader for them.
    pub fn subscribe_ephemeral(&self, listener: impl Fn(&Ephemeral) + Send + Sync + 'static) {
        let id = self.next_listener.get_value();
        self.next_listener.set_value(id + 1);
        let listener: EphemeralListener = Arc::new(move |name: &str, json: &str| {
            if let Ok(event) = Ephemeral::decode(name, json) {
                listener(&event);
            }
        });
        self.ephemeral_listeners
            .update_value(|all| all.push((id, listener)));
        let listeners = self.ephemeral_listeners;
        on_cleanup(move || {
            listeners.try_update_value(|all| all.retain(|(other, _)| *other != id));
        });
    }

    /// Hands a typing or presence signal (its name and JSON, as the stream
    /// carried it) to every interested component.
    pub fn dispatch_ephemeral(&self, name: &str, json: &str) {
        let listeners: Vec<EphemeralListener> = self
            .ephemeral_listeners
            .with_value(|all| all.iter().map(|(_, l)| Arc::clone(l)).collect());
        for listener in listeners {
            listener(name, json);
        }
    }

    /// Hands an applied event to every listener. Listeners are cloned out
    /// first, so one that subscribes or unsubscribes does not deadlock.
    pub fn dispatch(&self, delivery: &Delivery) {
        let listeners: Vec<Listener> = self
            .listeners
            .with_value(|all| all.iter().map(|(_, l)| Arc::clone(l)).collect());
        for listener in listeners {
            listener(delivery);
        }
    }

    /// Whether `notification` should be toasted or raised: not read and not
    /// in a category the user muted.
    pub fn should_alert(&self, notification: &Notification) -> bool {
        !notification.read
            && self.preferences.with_untracked(|p| {
                p.as_ref()
                    .is_none_or(|p| !p.muted_categories.contains(&notification.category))
            })
    }

    /// Whether the user wants a sound with new notifications.
    pub fn sound_on(&self) -> bool {
        self.preferences
            .with_untracked(|p| p.as_ref().is_some_and(|p| p.sound))
    }
}

/// The real-time context.
pub fn use_realtime() -> Realtime {
    expect_context::<Realtime>()
}

/// Opens a notification's link: a path on this site through the router
/// (`navigate`), anything else (an http(s) URL) as a page load.
pub fn follow_link(url: &str, navigate: impl Fn(&str, leptos_router::NavigateOptions)) {
    if url.starts_with('/') {
        navigate(url, leptos_router::NavigateOptions::default());
    } else if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
}

/// Whether this browser may show notifications: `None` when it cannot
/// show any (no Notification API). Browser only at run time.
pub fn notification_permission() -> Option<web_sys::NotificationPermission> {
    let window = web_sys::window()?;
    js_sys::Reflect::has(&window, &wasm_bindgen::JsValue::from_str("Notification"))
        .unwrap_or(false)
        .then(web_sys::Notification::permission)
}

/// Asks for permission to show notifications. Browsers allow the prompt
/// only from a user's click, so call this from a click handler.
pub async fn request_notification_permission() -> Option<web_sys::NotificationPermission> {
    notification_permission()?;
    let promise = web_sys::Notification::request_permission().ok()?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    web_sys::NotificationPermission::from_js_value(&answer)
}

/// Reconnection delay with exponential backoff and full jitter: a uniform
/// draw (`random` in 0..1) below 1 s · 2^attempt, capped at 30 s. Full
/// jitter spreads a crowd of clients that lost the same server.
pub fn backoff_ms(attempt: u32, random: f64) -> u32 {
    let ceiling = 1_000u32.saturating_mul(1u32 << attempt.min(5)).min(30_000);
    (f64::from(ceiling) * random.clamp(0.0, 1.0)) as u32
}

/// Whether the page is in a background tab or minimised (false outside a
/// browser).
pub fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// "1.5 MB", "12 KB", "300 B".
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1_024.0;
    match bytes {
        0..1_024 => format!("{bytes} B"),
        1_024..1_048_576 => format!("{:.0} KB", bytes as f64 / KIB),
        1_048_576..1_073_741_824 => format!("{:.1} MB", bytes as f64 / (KIB * KIB)),
        _ => format!("{:.2} GB", bytes as f64 / (KIB * KIB * KIB)),
    }
}

/// "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", or the
/// date, for a time `then_ms` seen at `now_ms` (both Unix ms).
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - then_ms).max(0) / 1000;
    match seconds {
        0..45 => "just now".to_owned(),
        45..3_600 => format!("{} min ago", (seconds / 60).max(1)),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "yesterday".to_owned(),
        172_800..604_800 => format!("{} days ago", seconds / 86_400),
        _ => chrono::DateTime::from_timestamp_millis(then_ms)
            .map(|t| {
                use chrono::Datelike;
                // By hand: chrono's `format` would bring its whole
                // formatting engine into the WASM.
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let month = MONTHS[t.month0() as usize];
                format!("{month} {}, {}", t.day(), t.year())
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_thirty_seconds_with_full_jitter() {
        assert_eq!(backoff_ms(0, 1.0), 1_000);
        assert_eq!(backoff_ms(1, 1.0), 2_000);
        assert_eq!(backoff_ms(4, 1.0), 16_000);
        assert_eq!(backoff_ms(5, 1.0), 30_000);
        assert_eq!(backoff_ms(40, 1.0), 30_000);
        assert_eq!(backoff_ms(3, 0.0), 0);
        assert_eq!(backoff_ms(3, 0.5), 4_000);
    }

    #[test]
    fn times_read_naturally() {
        let now = 1_700_000_000_000;
        assert_eq!(relative_time(now - 10_000, now), "just now");
        assert_eq!(relative_time(now + 5_000, now), "just now");
        assert_eq!(relative_time(now - 60_000, now), "1 min ago");
        assert_eq!(relative_time(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(relative_time(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(relative_time(now - 4 * 86_400_000, now), "4 days ago");
        assert_eq!(relative_time(0, now), "Jan 1, 1970");
    }

    #[test]
    fn statuses_round_trip_by_label() {
        for status in [
            ConnectionStatus::Connecting,
            ConnectionStatus::Live,
            ConnectionStatus::Reconnecting,
            ConnectionStatus::Offline,
        ] {
            assert_eq!(ConnectionStatus::parse(status.label()), Some(status));
        }
    }
}
