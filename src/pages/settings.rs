//! Personal settings: which notifications alert, with sound or not,
//! browser notifications, and Web Push to this and the user's other devices. Saved through the preferences API as soon as a
//! control changes, and shared live with the user's other tabs. Both sides.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::push_settings::PushSettings;
use crate::components::test_notification::TestNotificationButton;
use crate::model::notification::{Category, Preferences};
use crate::notifications::api::save_preferences;
use crate::realtime::client::{
    Realtime, notification_permission, request_notification_permission, use_realtime,
};

/// The user's preferences.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <h1 class="text-2xl font-bold tracking-tight">"Settings"</h1>
        <NotificationSettings />
        <PushSettings />
        <PrivacySettings />
        <section aria-labelledby="appearance-heading" class="mt-6 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 id="appearance-heading" class="font-semibold">"Appearance"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
                "Herald follows your device's light or dark setting; change it there and every open Herald tab follows."
            </p>
        </section>
    }
    .into_any()
}

/// Whether others may see that the user is online.
#[component]
fn PrivacySettings() -> impl IntoView {
    let realtime = use_realtime();
    let state = RwSignal::new(SaveState::Idle);
    let hidden = move || {
        realtime
            .preferences
            .with(|p| p.as_ref().is_some_and(|p| p.hide_presence))
    };
    let toggle = move |ev: leptos::ev::Event| {
        let hide = event_target_checked(&ev);
        save_change(realtime, state, move |p| p.hide_presence = hide);
    };
    view! {
        <section aria-labelledby="privacy-heading" class="mt-6 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 id="privacy-heading" class="font-semibold">"Privacy"</h2>
                <p aria-live="polite" class="text-sm text-slate-500 dark:text-slate-400">
                    {move || state.get().describe()}
                </p>
            </div>
            <label class="mt-3 flex items-center gap-2 text-sm">
                <input
                    type="checkbox"
                    data-testid="hide-presence"
                    class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-indigo-500 dark:text-indigo-300"
                    disabled=move || realtime.preferences.with(Option::is_none)
                    aria-describedby="presence-hint"
                    prop:checked=hidden
                    on:change=toggle
                />
                "Hide when I am online"
            </label>
            <p id="presence-hint" class="ml-6 text-xs text-slate-500 dark:text-slate-400">
                "Only people in conversations where you have written can see that you are online. Turn this on and nobody can."
            </p>
        </section>
    }
}

/// Applies `change` to the preferences at once (every tab follows) and
/// saves them, reporting progress in `state`.
fn save_change(
    realtime: Realtime,
    state: RwSignal<SaveState>,
    change: impl FnOnce(&mut Preferences),
) {
    let Some(mut preferences) = realtime.preferences.get_untracked() else {
        return;
    };
    change(&mut preferences);
    realtime.preferences.set(Some(preferences.clone()));
    state.set(SaveState::Saving);
    spawn_local(async move {
        match save_preferences(preferences).await {
            Ok(saved) => {
                realtime.preferences.set(Some(saved));
                state.set(SaveState::Saved);
            }
            Err(error) => state.set(SaveState::Failed(error.message)),
        }
    });
}

/// What saving says, announced politely.
#[derive(Debug, Clone, PartialEq)]
enum SaveState {
    Idle,
    Saving,
    Saved,
    Failed(String),
}

impl SaveState {
    fn describe(&self) -> String {
        match self {
            Self::Idle => String::new(),
            Self::Saving => "Saving…".into(),
            Self::Saved => "Saved".into(),
            Self::Failed(message) => format!("Not saved: {message}"),
        }
    }
}

#[component]
fn NotificationSettings() -> impl IntoView {
    let realtime = use_realtime();
    let state = RwSignal::new(SaveState::Idle);
    let blocked = RwSignal::new(false);
    Effect::new(move |_| {
        blocked.set(notification_permission() == Some(web_sys::NotificationPermission::Denied));
    });

    let save = move |change: Box<dyn FnOnce(&mut Preferences) + Send>| {
        save_change(realtime, state, change);
    };
    let muted = move |category: Category| {
        realtime.preferences.with(|p| {
            p.as_ref()
                .is_some_and(|p| p.muted_categories.contains(&category))
        })
    };
    let toggle_browser = move |ev: leptos::ev::Event| {
        let wanted = event_target_checked(&ev);
        if !wanted {
            save(Box::new(|p| p.browser_notifications = false));
            return;
        }
        // Asked from this click: browsers allow the prompt only then.
        spawn_local(async move {
            let answer = request_notification_permission().await;
            let granted = answer == Some(web_sys::NotificationPermission::Granted);
            blocked.set(answer == Some(web_sys::NotificationPermission::Denied));
            save(Box::new(move |p| p.browser_notifications = granted));
        });
    };
    let loaded = move || realtime.preferences.with(Option::is_some);
    let sound = move || {
        realtime
            .preferences
            .with(|p| p.as_ref().is_some_and(|p| p.sound))
    };
    let browser = move || {
        realtime
            .preferences
            .with(|p| p.as_ref().is_some_and(|p| p.browser_notifications))
    };
    let push = move || {
        realtime
            .preferences
            .with(|p| p.as_ref().is_none_or(|p| p.push))
    };

    view! {
        <section aria-labelledby="notifications-heading" class="mt-6 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 id="notifications-heading" class="font-semibold">"Notifications"</h2>
                <p aria-live="polite" class="text-sm text-slate-500 dark:text-slate-400" data-testid="preferences-state">
                    {move || state.get().describe()}
                </p>
            </div>
            <fieldset class="mt-4" disabled=move || !loaded()>
                <legend class="text-sm font-medium">"Mute categories"</legend>
                <p class="text-sm text-slate-600 dark:text-slate-400">
                    "Muted notifications still reach the Notification Center, without a toast, sound or browser notification."
                </p>
                <div class="mt-2 grid grid-cols-2 gap-2 sm:grid-cols-3">
                    {Category::ALL
                        .into_iter()
                        .map(|category| view! {
                            <label class="flex items-center gap-2 text-sm">
                                <input
                                    type="checkbox"
                                    class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-indigo-500 dark:text-indigo-300"
                                    prop:checked=move || muted(category)
                                    on:change=move |ev| {
                                        let mute = event_target_checked(&ev);
                                        save(Box::new(move |p| {
                                            p.muted_categories.retain(|c| *c != category);
                                            if mute {
                                                p.muted_categories.push(category);
                                            }
                                        }));
                                    }
                                />
                                {category.label()}
                            </label>
                        })
                        .collect_view()}
                </div>
            </fieldset>
            <div class="mt-5 space-y-3">
                <label class="flex items-center gap-2 text-sm">
                    <input
                        type="checkbox"
                        class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-indigo-500 dark:text-indigo-300"
                        disabled=move || !loaded()
                        prop:checked=sound
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            save(Box::new(move |p| p.sound = on));
                        }
                    />
                    "Play a sound for new notifications"
                </label>
                <div>
                    <label class="flex items-center gap-2 text-sm">
                        <input
                            type="checkbox"
                            class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-indigo-500 dark:text-indigo-300"
                            disabled=move || !loaded()
                            aria-describedby="browser-notifications-hint"
                            prop:checked=browser
                            on:change=toggle_browser
                        />
                        "Browser notifications when Herald is in the background"
                    </label>
                    <p id="browser-notifications-hint" class="ml-6 text-xs text-slate-500 dark:text-slate-400">
                        {move || if blocked.get() {
                            "Your browser blocks notifications from this site. Allow them in the site settings, then turn this on again."
                        } else {
                            "Your browser asks for permission the first time you turn this on."
                        }}
                    </p>
                </div>
                <div>
                    <label class="flex items-center gap-2 text-sm">
                        <input
                            type="checkbox"
                            data-testid="push-preference"
                            class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-indigo-500 dark:text-indigo-300"
                            disabled=move || !loaded()
                            aria-describedby="push-preference-hint"
                            prop:checked=push
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                save(Box::new(move |p| p.push = on));
                            }
                        />
                        "Push notifications to my devices while Herald is closed"
                    </label>
                    <p id="push-preference-hint" class="ml-6 text-xs text-slate-500 dark:text-slate-400">
                        "Each device is subscribed below, under “Push notifications on this device”."
                    </p>
                </div>
            </div>
            <div class="mt-5 border-t border-slate-100 pt-4 dark:border-slate-800">
                <TestNotificationButton />
            </div>
        </section>
    }
    .into_any()
}
