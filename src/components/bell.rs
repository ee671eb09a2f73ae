//! The header's real-time pieces: the connection indicator and the
//! notification bell with its unread badge and panel. Both sides; the
//! panel's Notification Center is a WASM chunk of its own.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::components::focus::{focus_by_id, focus_on_or_nowhere};
use crate::components::notification_center::NotificationCenter;
use crate::reactive::effect;
use crate::realtime::client::{ConnectionStatus, use_realtime};

/// The badge's text: hidden at 0, "99+" above 99.
pub fn badge_text(unread: i64) -> Option<String> {
    match unread {
        ..=0 => None,
        1..=99 => Some(unread.to_string()),
        _ => Some("99+".to_owned()),
    }
}

/// `Live`, `Connecting`, `Reconnecting` or `Offline`, with a coloured dot.
#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let realtime = use_realtime();
    let status = realtime.status;
    let dot = move || match status.get() {
        ConnectionStatus::Live => "bg-emerald-500",
        ConnectionStatus::Connecting | ConnectionStatus::Reconnecting => {
            "bg-amber-500 motion-safe:animate-pulse"
        }
        ConnectionStatus::Offline => "bg-slate-400",
    };
    view! {
        <p class="flex items-center gap-1.5 text-xs font-medium text-slate-600 dark:text-slate-300" title="Real-time connection">
            <span aria-hidden="true" class=move || format!("inline-block h-2 w-2 rounded-full {}", dot())></span>
            <span
                data-testid="connection-status"
                data-leader=move || if realtime.leader.get() { "true" } else { "false" }
                aria-live="polite"
            >
                {move || status.get().label()}
            </span>
        </p>
    }
    .into_any()
}

/// The bell: a button named "Notifications" with the live unread count;
/// opens the Notification Center in a panel.
#[component]
pub fn NotificationBell() -> impl IntoView {
    let realtime = use_realtime();
    let open = RwSignal::new(false);
    let location = use_location();
    // Following a link (or any navigation) closes the panel.
    effect(move |_| {
        location.pathname.track();
        open.set(false);
    });
    // Opening moves focus into the panel: to its first tab, or to the
    // dialog itself while the center is still on its way (`PanelCenter`
    // then moves it to the tab, unless the person has moved it meanwhile;
    // after "Try again", whose button is gone, it does).
    effect(move |_| {
        if open.get() {
            request_animation_frame(|| {
                if !focus_by_id("panel-tab-all") {
                    focus_by_id("notification-panel");
                }
            });
        }
    });
    // Escape closes the panel wherever focus is (an item that re-renders
    // after being read takes focus with it).
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && open.get_untracked() {
            close_panel(open);
        }
    });
    on_cleanup(move || escape.remove());
    // The installed app's icon shows the same count while a page runs (the
    // service worker sets it from pushes while none does).
    effect(move |_| {
        if let Some(unread) = realtime.unread.get() {
            crate::push::browser::set_app_badge(unread);
        }
    });
    let badge = move || realtime.unread.get().and_then(badge_text);
    let described = move || {
        realtime
            .unread
            .get()
            .filter(|n| *n > 0)
            .map(|n| format!("{n} unread"))
    };
    let close = move || close_panel(open);
    view! {
        <div class="relative">
            <button
                type="button"
                id="notification-bell"
                aria-describedby="notification-bell-count"
                aria-haspopup="dialog"
                aria-expanded=move || if open.get() { "true" } else { "false" }
                aria-controls="notification-panel"
                class="relative flex h-11 w-11 items-center justify-center rounded-full text-slate-600 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white"
                on:click=move |_| open.update(|o| *o = !*o)
                // The center's chunk is fetched when someone is about to
                // open the panel, so that it is there by the click.
                on:pointerenter=move |_| preload_center()
                on:touchstart=move |_| preload_center()
                on:focus=move |_| preload_center()
            >
                // Named by its content (not `aria-label`), so the name holds
                // all the text it shows.
                <span class="sr-only">"Notifications"</span>
                <svg aria-hidden="true" viewBox="0 0 24 24" class="h-6 w-6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">
                    <path d="M14.857 17.082a23.848 23.848 0 0 0 5.454-1.31A8.967 8.967 0 0 1 18 9.75V9A6 6 0 0 0 6 9v.75a8.967 8.967 0 0 1-2.312 6.022c1.733.64 3.56 1.085 5.455 1.31m5.714 0a24.255 24.255 0 0 1-5.714 0m5.714 0a3 3 0 1 1-5.714 0" />
                </svg>
                <span
                    data-testid="unread-badge"
                    aria-hidden="true"
                    class="absolute -right-0.5 -top-0.5 min-w-5 rounded-full bg-red-600 px-1 text-center text-[0.7rem] font-semibold leading-5 text-white"
                    class:hidden=move || badge().is_none()
                >
                    {badge}
                </span>
            </button>
            <span id="notification-bell-count" class="sr-only">{described}</span>
            // A closure rather than `<Show>`: each `Show` is its own
            // compiled component in the first download.
            {move || open.get().then(|| view! {
                // A click outside closes the panel.
                <div class="fixed inset-0 z-30" aria-hidden="true" on:click=move |_| close()></div>
                <div
                    id="notification-panel"
                    tabindex="-1"
                    role="dialog"
                    aria-label="Notification center"
                    class="fixed inset-x-2 top-16 z-40 rounded-xl border border-slate-200 bg-white p-3 shadow-xl sm:absolute sm:inset-x-auto sm:right-0 sm:top-full sm:mt-2 sm:w-[28rem] dark:border-slate-700 dark:bg-slate-900"
                >
                    <div class="mb-2 flex items-center justify-between">
                        <h2 class="text-base font-semibold">"Notifications"</h2>
                        <A href="/notifications" attr:class="text-sm font-medium text-indigo-700 hover:underline dark:text-indigo-300">
                            "View all"
                        </A>
                    </div>
                    <PanelCenter on_follow=Callback::new(move |()| open.set(false)) open />
                </div>
            })}
        </div>
    }
    .into_any()
}

/// The panel's Notification Center. Most page loads never open the panel,
/// so its code is not in the first download: it is fetched when the pointer
/// or focus comes to the bell ([`preload_center`]), at the latest on the
/// click. When it cannot be fetched (offline, or Herald was updated), the
/// panel says so and offers to try again; the rest of the page keeps
/// working (a route's chunk that fails stops the page instead).
#[component]
fn PanelCenter(on_follow: Callback<()>, open: RwSignal<bool>) -> impl IntoView {
    let attempt = RwSignal::new(0_u32);
    let retry = move |_| attempt.update(|n| *n += 1);
    view! {
        <Suspense fallback=|| view! {
            <p role="status" class="py-8 text-center text-sm text-slate-500 dark:text-slate-400">"Loading notifications…"</p>
        }>
            {move || {
                attempt.track();
                Suspend::new(async move {
                    match panel_center(on_follow).await {
                        Ok(center) => {
                            request_animation_frame(move || {
                                let waiting = focus_on_or_nowhere("notification-panel");
                                if open.get_untracked() && waiting {
                                    focus_by_id("panel-tab-all");
                                }
                            });
                            center
                        }
                        Err(_) => view! {
                            <div role="alert" class="py-6 text-center text-sm">
                                <p>"The notification center could not be downloaded. Check the connection and try again."</p>
                                <button type="button" on:click=retry
                                    class="mt-3 min-h-11 rounded-md border border-slate-300 px-4 font-medium hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-slate-700 dark:hover:bg-slate-800">
                                    "Try again"
                                </button>
                            </div>
                        }
                        .into_any(),
                    }
                })
            }}
        </Suspense>
    }
    .into_any()
}

/// The center inside the panel, split into its own chunk (`fallible`: a
/// failed download is an `Err`, not the panic a lazy route's would be).
#[leptos::wasm_split::wasm_split(
    notification_center,
    wasm_split_path = ::leptos::wasm_split,
    preload(preload_center_chunk),
    fallible
)]
fn panel_center(on_follow: Callback<()>) -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
    Ok(view! { <NotificationCenter id_prefix="panel" compact=true on_follow /> }.into_any())
}

/// Starts fetching the panel's chunk (once; a failure shows when the panel
/// opens).
fn preload_center() {
    leptos::task::spawn_local(async {
        let _ = preload_center_chunk().await;
    });
}

/// Closes the panel and gives focus back to the bell.
fn close_panel(open: RwSignal<bool>) {
    open.set(false);
    focus_by_id("notification-bell");
}

#[cfg(test)]
mod tests {
    use super::badge_text;

    #[test]
    fn badge_hides_at_zero_and_caps_at_99() {
        assert_eq!(badge_text(0), None);
        assert_eq!(badge_text(-1), None);
        assert_eq!(badge_text(7).as_deref(), Some("7"));
        assert_eq!(badge_text(99).as_deref(), Some("99"));
        assert_eq!(badge_text(100).as_deref(), Some("99+"));
    }
}
