//! Alerts outside the page: browser notifications and the optional sound.
//! Raised only by the tab that holds the stream, only for live events the
//! user has not muted, and withdrawn when the notification is read or
//! deleted anywhere. Browser only (hydrate).
//!
//! The code that raises an alert is a module of its own (`alerts`),
//! fetched with the first alert: most page loads raise none. Alerts asked
//! for meanwhile wait in `pending`, where a read or a deletion withdraws
//! them as it closes shown ones.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{NotificationOptions, NotificationPermission};

use crate::model::event::Event;
use crate::model::notification::{Category, Notification, Priority};
use crate::notifications::api::mark_notification_read;
use crate::realtime::client::{Realtime, notification_permission, page_hidden};

/// Browser notifications kept open at most; older ones are closed.
const MAX_SHOWN: usize = 20;

/// A browser notification on screen and its click handler (kept alive as
/// long as the notification can be clicked).
struct Shown {
    id: i64,
    category: Category,
    notification: web_sys::Notification,
    _on_click: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.notification.set_onclick(None);
        self.notification.close();
    }
}

/// The leader's alert state. Cloning shares it.
#[derive(Clone)]
pub struct Alerts {
    navigate: Rc<dyn Fn(&str)>,
    shown: Rc<RefCell<Vec<Shown>>>,
    audio: Rc<RefCell<Option<web_sys::AudioContext>>>,
    raise: Rc<Cell<Option<Raise>>>,
    pending: Rc<RefCell<Vec<Pending>>>,
    fetching: Rc<Cell<bool>>,
}

/// An alert asked for before its code arrived.
struct Pending {
    notification: Notification,
    sound: bool,
    show: bool,
}

/// The code that raises alerts, from the `alerts` module.
#[derive(Clone, Copy)]
struct Raise {
    show: fn(&Alerts, &Notification),
    chime: fn(&Alerts, Priority),
}

/// [`Raise`], fetched (`fallible`: a failed download is an `Err`).
#[leptos::wasm_split::wasm_split(alerts, wasm_split_path = ::leptos::wasm_split, fallible)]
fn alert_code() -> Result<Raise, leptos::wasm_split::SplitLoaderError> {
    Ok(Raise {
        show: Alerts::show,
        chime: Alerts::chime,
    })
}

impl Alerts {
    /// Alerts whose clicks open links through `navigate`.
    pub fn new(navigate: Rc<dyn Fn(&str)>) -> Self {
        Self {
            navigate,
            shown: Rc::default(),
            audio: Rc::default(),
            raise: Rc::default(),
            pending: Rc::default(),
            fetching: Rc::default(),
        }
    }

    /// Raises the alerts of `notification` now, or once their code is here.
    fn raise(&self, notification: &Notification, sound: bool, show: bool) {
        if let Some(raise) = self.raise.get() {
            if sound {
                (raise.chime)(self, notification.priority);
            }
            if show {
                (raise.show)(self, notification);
            }
            return;
        }
        self.pending.borrow_mut().push(Pending {
            notification: notification.clone(),
            sound,
            show,
        });
        if self.fetching.replace(true) {
            return;
        }
        let this = self.clone();
        spawn_local(async move {
            let fetched = alert_code().await;
            this.fetching.set(false);
            // Not fetched (offline): these are dropped, as alerts raised
            // much later would mislead; the next alert tries again.
            let Ok(raise) = fetched else {
                this.pending.borrow_mut().clear();
                return;
            };
            this.raise.set(Some(raise));
            let pending = std::mem::take(&mut *this.pending.borrow_mut());
            if pending.iter().any(|p| p.sound)
                && let Some(urgent) = pending.iter().map(|p| p.notification.priority).max()
            {
                (raise.chime)(&this, urgent);
            }
            for waiting in pending.iter().filter(|p| p.show) {
                (raise.show)(&this, &waiting.notification);
            }
        });
    }

    /// Raises or withdraws alerts for an applied event.
    pub fn on_event(&self, realtime: &Realtime, event: &Event, live: bool) {
        match event {
            Event::Notification { notification, .. }
            | Event::NotificationUpdated { notification, .. } => {
                // A replaced notification's old alert is stale either way.
                self.close(|id, _| id == notification.id);
                if live && realtime.should_alert(notification) {
                    let sound = realtime.sound_on();
                    let wanted = realtime
                        .preferences
                        .with_untracked(|p| p.as_ref().is_some_and(|p| p.browser_notifications));
                    let show = wanted && page_hidden() && permission_granted();
                    if sound || show {
                        self.raise(notification, sound, show);
                    }
                }
            }
            Event::NotificationsDeleted { ids, .. } => {
                self.close(|id, _| ids.contains(&id));
            }
            Event::NotificationsRead { .. } | Event::NotificationsReadAll { .. } => {
                self.close(|id, category| event.reads(id, category));
            }
            // Chat alerts come through the "message" notification.
            Event::Message { .. }
            | Event::ConversationRead { .. }
            | Event::ConversationUpdated { .. }
            | Event::ConversationMemberAdded { .. }
            | Event::ConversationMemberRemoved { .. }
            | Event::ConversationRemoved { .. } => {}
        }
    }

    /// Closes every open browser notification (sign-out).
    pub fn close_all(&self) {
        self.pending.borrow_mut().clear();
        self.shown.borrow_mut().clear();
    }

    /// Closes the shown alerts of the notifications `which` names (by id
    /// and category), and withdraws those still waiting for their code.
    fn close(&self, which: impl Fn(i64, Category) -> bool) {
        self.pending
            .borrow_mut()
            .retain(|p| !which(p.notification.id, p.notification.category));
        // Dropping a `Shown` closes it.
        let closed: Vec<Shown> = {
            let mut shown = self.shown.borrow_mut();
            let (closed, kept) = shown.drain(..).partition(|s| which(s.id, s.category));
            *shown = kept;
            closed
        };
        drop(closed);
    }

    fn show(&self, item: &Notification) {
        let options = NotificationOptions::new();
        options.set_body(&item.body);
        options.set_tag(&format!("herald-{}", item.id));
        options.set_icon("/favicon.svg");
        options.set_require_interaction(item.priority == Priority::Urgent);
        let Ok(notification) = web_sys::Notification::new_with_options(&item.title, &options)
        else {
            return;
        };
        let navigate = Rc::clone(&self.navigate);
        let id = item.id;
        let target = item.url.clone().unwrap_or_else(|| "/notifications".into());
        let shown = Rc::clone(&self.shown);
        let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
            }
            spawn_local(async move {
                let _ = mark_notification_read(id).await;
            });
            navigate(&target);
            // Deferred: this closure is owned by the entry being removed.
            let shown = Rc::clone(&shown);
            set_timeout(
                move || shown.borrow_mut().retain(|s| s.id != id),
                std::time::Duration::ZERO,
            );
        });
        notification.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        let mut shown = self.shown.borrow_mut();
        shown.push(Shown {
            id,
            category: item.category,
            notification,
            _on_click: on_click,
        });
        if shown.len() > MAX_SHOWN {
            shown.remove(0);
        }
    }

    /// A short two-tone chime made with Web Audio (no sound file to load);
    /// higher for urgent notifications. Browsers keep audio silent until the
    /// user has interacted with the page; then it plays.
    fn chime(&self, priority: Priority) {
        let mut audio = self.audio.borrow_mut();
        if audio.is_none() {
            *audio = web_sys::AudioContext::new().ok();
        }
        let Some(context) = audio.as_ref() else {
            return;
        };
        let _ = context.resume();
        let base = if priority == Priority::Urgent {
            880.0
        } else {
            660.0
        };
        let start = context.current_time();
        for (step, frequency) in [(0.0, base), (0.12, base * 1.5)] {
            let (Ok(oscillator), Ok(gain)) = (context.create_oscillator(), context.create_gain())
            else {
                return;
            };
            oscillator.frequency().set_value(frequency as f32);
            let at = start + step;
            let _ = gain.gain().set_value_at_time(0.0001, at);
            let _ = gain
                .gain()
                .exponential_ramp_to_value_at_time(0.2, at + 0.02);
            let _ = gain
                .gain()
                .exponential_ramp_to_value_at_time(0.0001, at + 0.25);
            let _ = oscillator
                .connect_with_audio_node(&gain)
                .and_then(|_| gain.connect_with_audio_node(&context.destination()));
            let _ = oscillator.start_with_when(at);
            let _ = oscillator.stop_with_when(at + 0.3);
        }
    }
}

fn permission_granted() -> bool {
    notification_permission() == Some(NotificationPermission::Granted)
}
