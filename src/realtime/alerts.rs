//! Alerts outside the page: browser notifications and the optional sound.
//! Raised only by the tab that holds the stream, only for live events the
//! user has not muted, and withdrawn when the notification is read or
//! deleted anywhere. Browser only (hydrate).

use std::cell::RefCell;
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
}

impl Alerts {
    /// Alerts whose clicks open links through `navigate`.
    pub fn new(navigate: Rc<dyn Fn(&str)>) -> Self {
        Self {
            navigate,
            shown: Rc::default(),
            audio: Rc::default(),
        }
    }

    /// Raises or withdraws alerts for an applied event.
    pub fn on_event(&self, realtime: &Realtime, event: &Event, live: bool) {
        match event {
            Event::Notification { notification, .. }
            | Event::NotificationUpdated { notification, .. } => {
                // A replaced notification's old alert is stale either way.
                self.close(|shown| shown.id == notification.id);
                if live && realtime.should_alert(notification) {
                    if realtime.sound_on() {
                        self.chime(notification.priority);
                    }
                    let wanted = realtime
                        .preferences
                        .with_untracked(|p| p.as_ref().is_some_and(|p| p.browser_notifications));
                    if wanted && page_hidden() && permission_granted() {
                        self.show(notification);
                    }
                }
            }
            Event::NotificationsDeleted { ids, .. } => {
                self.close(|shown| ids.contains(&shown.id));
            }
            Event::NotificationsRead { .. } | Event::NotificationsReadAll { .. } => {
                self.close(|shown| event.reads(shown.id, shown.category));
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
        self.shown.borrow_mut().clear();
    }

    fn close(&self, which: impl Fn(&Shown) -> bool) {
        // Dropping a `Shown` closes it.
        let closed: Vec<Shown> = {
            let mut shown = self.shown.borrow_mut();
            let (closed, kept) = shown.drain(..).partition(|s| which(s));
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
