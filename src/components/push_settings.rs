//! Settings' "Push notifications on this device": subscribes this browser
//! to Web Push from a click (the permission prompt needs one), shows what
//! happened in words, and lists the user's devices with "Remove" (the
//! switch for every device is with the other preferences). Both sides; the browser work runs
//! only after hydration.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::push::PushDevice;
use crate::push::api::{
    list_push_devices, push_key, remove_push_device, subscribe_push, unsubscribe_push,
};
use crate::push::browser;
use crate::realtime::client::{
    notification_permission, relative_time, request_notification_permission, use_realtime,
};

/// Where this browser stands.
#[derive(Debug, Clone, PartialEq)]
enum DeviceState {
    /// Not known yet (before hydration, or while asking the browser).
    Checking,
    Unsupported,
    /// The user (or the browser) refused notifications for this site.
    Blocked,
    Off,
    On,
    Working(&'static str),
    Failed(String),
}

impl DeviceState {
    fn describe(&self) -> String {
        match self {
            Self::Checking => "Checking this browser…".into(),
            Self::Unsupported => "This browser cannot receive push notifications. On an iPhone or iPad, add Herald to the Home Screen first.".into(),
            Self::Blocked => "Your browser blocks notifications from this site. Allow them in the site settings, then try again.".into(),
            Self::Off => "This device does not receive push notifications.".into(),
            Self::On => "This device receives push notifications while no Herald tab is open.".into(),
            Self::Working(what) => (*what).into(),
            Self::Failed(message) => format!("That did not work: {message}"),
        }
    }
}

/// The section; see the module docs.
#[component]
pub fn PushSettings() -> impl IntoView {
    let realtime = use_realtime();
    let state = RwSignal::new(DeviceState::Checking);
    let devices = RwSignal::new(None::<Result<Vec<PushDevice>, String>>);
    let reload = move || {
        spawn_local(async move {
            devices.set(Some(
                list_push_devices()
                    .await
                    .map(|list| list.subscriptions)
                    .map_err(|e| e.message),
            ));
        });
    };
    Effect::new(move |_| {
        reload();
        if !browser::supported() {
            state.set(DeviceState::Unsupported);
            return;
        }
        if notification_permission() == Some(web_sys::NotificationPermission::Denied) {
            state.set(DeviceState::Blocked);
            return;
        }
        spawn_local(async move {
            let subscribed = browser::current_endpoint().await.is_some();
            state.set(if subscribed {
                DeviceState::On
            } else {
                DeviceState::Off
            });
        });
    });

    let turn_on = move |_| {
        state.set(DeviceState::Working("Asking your browser…"));
        spawn_local(async move {
            // Asked from this click: browsers allow the prompt only then.
            match request_notification_permission().await {
                Some(web_sys::NotificationPermission::Granted) => {}
                Some(web_sys::NotificationPermission::Denied) => {
                    return state.set(DeviceState::Blocked);
                }
                _ => {
                    return state.set(DeviceState::Failed(
                        "notifications were not allowed.".into(),
                    ));
                }
            }
            state.set(DeviceState::Working("Subscribing this device…"));
            let key = match push_key().await {
                Ok(key) => key,
                Err(error) => return state.set(DeviceState::Failed(error.message)),
            };
            let subscription = match browser::subscribe(&key).await {
                Ok(subscription) => subscription,
                Err(message) => return state.set(DeviceState::Failed(message)),
            };
            match subscribe_push(subscription).await {
                Ok(Ok(_)) => state.set(DeviceState::On),
                Ok(Err(refusal)) => {
                    // The server will not push there: leave no subscription
                    // behind that nothing uses.
                    let _ = browser::unsubscribe().await;
                    state.set(DeviceState::Failed(refusal.message));
                }
                Err(error) => state.set(DeviceState::Failed(error.message)),
            }
            reload();
        });
    };
    let turn_off = move |_| {
        state.set(DeviceState::Working("Turning push off on this device…"));
        spawn_local(async move {
            match browser::unsubscribe().await {
                Ok(Some(endpoint)) => {
                    if let Err(error) = unsubscribe_push(endpoint).await {
                        return state.set(DeviceState::Failed(error.message));
                    }
                    state.set(DeviceState::Off);
                }
                Ok(None) => state.set(DeviceState::Off),
                Err(message) => state.set(DeviceState::Failed(message)),
            }
            reload();
        });
    };
    let remove = move |id: i64| {
        spawn_local(async move {
            if let Err(error) = remove_push_device(id).await {
                state.set(DeviceState::Failed(error.message));
            }
            reload();
        });
    };
    let button_class = "min-h-11 rounded-md px-3 py-1.5 text-sm font-medium focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-50";

    view! {
        <section aria-labelledby="push-heading" data-testid="push-settings" class="mt-6 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 id="push-heading" class="font-semibold">"Push notifications on this device"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                "Herald can notify this device while no Herald tab is open, even with the browser closed. Muted categories are not pushed; a notification you read elsewhere first is not shown."
            </p>
            <p aria-live="polite" data-testid="push-state" class="mt-3 text-sm">
                {move || state.get().describe()}
            </p>
            <div class="mt-3 flex flex-wrap gap-3">
                {move || match state.get() {
                    DeviceState::On => view! {
                        <button type="button" data-testid="push-toggle" class=format!("{button_class} border border-slate-300 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800") on:click=turn_off>
                            "Turn off on this device"
                        </button>
                    }.into_any(),
                    DeviceState::Off | DeviceState::Failed(_) => view! {
                        <button type="button" data-testid="push-toggle" class=format!("{button_class} bg-indigo-600 text-white hover:bg-indigo-700") on:click=turn_on>
                            "Turn on push notifications"
                        </button>
                    }.into_any(),
                    _ => ().into_any(),
                }}
            </div>
            <h3 class="mt-5 text-sm font-medium">"Your devices"</h3>
            <div data-testid="push-devices" class="mt-2">
                {move || match devices.get() {
                    None => view! { <p class="text-sm text-slate-500 dark:text-slate-400">"Loading devices…"</p> }.into_any(),
                    Some(Err(message)) => view! { <p role="alert" class="text-sm text-red-700 dark:text-red-400">{format!("Your devices could not be loaded: {message}")}</p> }.into_any(),
                    Some(Ok(list)) if list.is_empty() => view! {
                        <p class="text-sm text-slate-500 dark:text-slate-400">"No device receives push notifications yet."</p>
                    }.into_any(),
                    Some(Ok(list)) => view! {
                        <ul class="divide-y divide-slate-100 dark:divide-slate-800">
                            {list.into_iter().map(|device| {
                                let now = realtime.now_ms.get().unwrap_or(0);
                                let added = relative_time(device.created_at.timestamp_millis(), now);
                                let last = device.last_push_at.map_or_else(
                                    || "no push yet".to_owned(),
                                    |t| format!("last push {}", relative_time(t.timestamp_millis(), now)),
                                );
                                let remove_label = format!("Remove {}", device.label);
                                let id = device.id;
                                view! {
                                    <li class="flex flex-wrap items-center justify-between gap-2 py-2" data-testid="push-device">
                                        <div class="text-sm">
                                            <p class="font-medium">{device.label.clone()}</p>
                                            <p class="text-xs text-slate-500 dark:text-slate-400">
                                                {format!("{} · added {added} · {last}", device.service)}
                                            </p>
                                            {device.last_error.map(|error| view! {
                                                <p class="text-xs text-amber-700 dark:text-amber-400">{format!("Pushes are failing: {error}")}</p>
                                            })}
                                        </div>
                                        <button
                                            type="button"
                                            aria-label=remove_label
                                            class=format!("{button_class} border border-slate-300 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800")
                                            on:click=move |_| remove(id)
                                        >
                                            "Remove"
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}
