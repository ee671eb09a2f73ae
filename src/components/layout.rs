//! The page frame: header with the product name and navigation, the main
//! area inside an error boundary, and the hydration marker. Both sides.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_navigate};

use crate::auth::api::{Logout, logout};
use crate::auth::context::use_session;
use crate::components::bell::{ConnectionIndicator, NotificationBell};
use crate::components::toasts::Toaster;
use crate::model::user::User;
use crate::reactive::effect;
use crate::realtime::client::use_hydrated;
use crate::realtime::provide_realtime;

/// One entry of the main navigation.
struct NavItem {
    href: &'static str,
    label: &'static str,
}

const NAV: [NavItem; 4] = [
    NavItem {
        href: "/",
        label: "Dashboard",
    },
    NavItem {
        href: "/notifications",
        label: "Notifications",
    },
    NavItem {
        href: "/messages",
        label: "Messages",
    },
    NavItem {
        href: "/settings",
        label: "Settings",
    },
];

/// Shown to admins after the main entries.
const ADMIN_NAV: NavItem = NavItem {
    href: "/admin/status",
    label: "Admin",
};

/// Frame around every page. The root of the routed app: it provides the
/// real-time context (which navigates, so it needs the router).
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    provide_realtime();
    // The attribute tells tests (and CSS) that the WASM has taken over the
    // whole page, a lazily loaded route included.
    let session = use_session();
    let hydrated = use_hydrated();

    view! {
        <div class="flex min-h-screen flex-col" data-hydrated=move || hydrated.get().then_some("true")>
            <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-indigo-600 focus:px-3 focus:py-2 focus:text-white">
                "Skip to content"
            </a>
            <header class="sticky top-0 z-30 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-900/90">
                <div class="mx-auto flex max-w-5xl items-center gap-3 px-3 py-1.5 sm:px-4 lg:gap-6 lg:py-3">
                    <A href="/" attr:class="flex min-h-11 shrink-0 items-center gap-2 text-lg font-semibold tracking-tight text-indigo-700 dark:text-indigo-300">
                        <img src="/favicon.svg" alt="" class="h-6 w-6" />
                        "Herald"
                    </A>
                    // `Suspense`, not `Transition`: the session's resource
                    // is read once (later changes are a signal's), so there
                    // is nothing to keep on screen while it reloads, and
                    // `Transition` brings its own machinery into the first
                    // download.
                    <Suspense fallback=|| ()>
                        {move || session.user().map(|result| match result {
                            Ok(Some(user)) => view! {
                                <MainNav admin=user.is_admin() placement=NavPlacement::Header />
                                <div class="ml-auto flex items-center gap-1 sm:gap-3">
                                    <ConnectionIndicator />
                                    <NotificationBell />
                                    <UserMenu user />
                                </div>
                            }.into_any(),
                            _ => view! {
                                <div class="ml-auto flex gap-2 text-sm font-medium">
                                    <A href="/login" attr:class="inline-flex min-h-11 items-center rounded-md px-3 text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800">"Sign in"</A>
                                    <A href="/register" attr:class="inline-flex min-h-11 items-center rounded-md bg-indigo-600 px-3 text-white hover:bg-indigo-500">"Create account"</A>
                                </div>
                            }.into_any(),
                        })}
                    </Suspense>
                    <InstallButton />
                </div>
            </header>
            <main id="main" class="mx-auto w-full max-w-5xl flex-1 px-4 py-6">
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                    {children()}
                </ErrorBoundary>
            </main>
            <Toaster />
            // Below the large breakpoint the main navigation is a tab bar
            // at the bottom of the screen, in reach of a thumb.
            <Suspense fallback=|| ()>
                {move || session.user().map(|result| match result {
                    Ok(Some(user)) => view! { <MainNav admin=user.is_admin() placement=NavPlacement::TabBar /> }.into_any(),
                    _ => ().into_any(),
                })}
            </Suspense>
            <footer class="border-t border-slate-200 py-4 pb-24 text-center text-xs text-slate-600 lg:pb-4 dark:border-slate-800 dark:text-slate-400">
                "Herald " {env!("CARGO_PKG_VERSION")}
            </footer>
        </div>
    }
    .into_any()
}

/// Where the main navigation is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NavPlacement {
    /// In the header, on large screens.
    Header,
    /// A tab bar fixed to the bottom of smaller screens.
    TabBar,
}

/// The primary navigation. `A` marks the current page with
/// `aria-current="page"`, which both assistive tech and the styling use.
/// Drawn twice, once per placement; CSS shows one of them, so assistive
/// tech meets one "Main" navigation at any width.
#[component]
fn MainNav(admin: bool, placement: NavPlacement) -> impl IntoView {
    let location = use_location();
    let items = NAV.iter().chain(admin.then_some(&ADMIN_NAV));
    match placement {
        NavPlacement::Header => view! {
            <nav aria-label="Main" class="hidden flex-1 lg:block">
                <ul class="flex gap-1 text-sm font-medium">
                    {items
                        .map(|item| view! {
                            <li>
                                <A
                                    href=item.href
                                    attr:class="block rounded-md px-3 py-1.5 text-slate-700 hover:bg-slate-100 hover:text-slate-900 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white dark:aria-[current=page]:bg-indigo-950 dark:aria-[current=page]:text-indigo-300"
                                >
                                    {item.label}
                                </A>
                            </li>
                        })
                        .collect_view()}
                </ul>
            </nav>
        }
        .into_any(),
        NavPlacement::TabBar => view! {
            // Hidden inside a conversation, which has its own way back and
            // needs the room for the composer above the keyboard.
            <nav
                aria-label="Main"
                data-testid="tab-bar"
                class="fixed inset-x-0 bottom-0 z-30 border-t border-slate-200 bg-white/95 pb-[env(safe-area-inset-bottom)] backdrop-blur lg:hidden dark:border-slate-800 dark:bg-slate-900/95"
                class:hidden=move || in_conversation(&location.pathname.get())
            >
                <ul class="mx-auto flex max-w-xl">
                    {items
                        .map(|item| view! {
                            <li class="flex-1">
                                <A
                                    href=item.href
                                    attr:class="flex min-h-14 flex-col items-center justify-center gap-0.5 px-0.5 text-[0.68rem] font-medium text-slate-700 hover:text-slate-900 aria-[current=page]:text-indigo-700 focus-visible:outline focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-indigo-600 dark:text-slate-300 dark:hover:text-white dark:aria-[current=page]:text-indigo-300"
                                >
                                    <NavIcon href=item.href />
                                    <span>{item.label}</span>
                                </A>
                            </li>
                        })
                        .collect_view()}
                </ul>
            </nav>
        }
        .into_any(),
    }
}

/// Whether `path` is one conversation (`/messages/{id}`).
fn in_conversation(path: &str) -> bool {
    path.strip_prefix("/messages/")
        .is_some_and(|rest| !rest.is_empty())
}

/// The tab bar's icon for a destination (Heroicons outline paths).
#[component]
fn NavIcon(href: &'static str) -> impl IntoView {
    let path = match href {
        "/" => {
            "m2.25 12 8.954-8.955a1.126 1.126 0 0 1 1.591 0L21.75 12M4.5 9.75v10.125c0 .621.504 1.125 1.125 1.125H9.75v-4.875c0-.621.504-1.125 1.125-1.125h2.25c.621 0 1.125.504 1.125 1.125V21h4.125c.621 0 1.125-.504 1.125-1.125V9.75M8.25 21h8.25"
        }
        "/notifications" => {
            "M14.857 17.082a23.848 23.848 0 0 0 5.454-1.31A8.967 8.967 0 0 1 18 9.75V9A6 6 0 0 0 6 9v.75a8.967 8.967 0 0 1-2.312 6.022c1.733.64 3.56 1.085 5.455 1.31m5.714 0a24.255 24.255 0 0 1-5.714 0m5.714 0a3 3 0 1 1-5.714 0"
        }
        "/messages" => {
            "M8.625 12a.375.375 0 1 1-.75 0 .375.375 0 0 1 .75 0Zm4.125 0a.375.375 0 1 1-.75 0 .375.375 0 0 1 .75 0Zm4.125 0a.375.375 0 1 1-.75 0 .375.375 0 0 1 .75 0ZM2.25 12.76c0 1.6 1.123 2.994 2.707 3.227 1.087.16 2.185.283 3.293.369V21l4.076-4.076a1.526 1.526 0 0 1 1.037-.443 48.282 48.282 0 0 0 5.68-.494c1.584-.233 2.707-1.626 2.707-3.228V6.741c0-1.602-1.123-2.995-2.707-3.228A48.394 48.394 0 0 0 12 3c-2.392 0-4.744.175-7.043.513C3.373 3.746 2.25 5.14 2.25 6.741v6.018Z"
        }
        "/settings" => {
            "M10.5 6h9.75M10.5 6a1.5 1.5 0 1 1-3 0m3 0a1.5 1.5 0 1 0-3 0M3.75 6H7.5m3 12h9.75m-9.75 0a1.5 1.5 0 0 1-3 0m3 0a1.5 1.5 0 0 0-3 0m-3.75 0H7.5m9-6h3.75m-3.75 0a1.5 1.5 0 0 1-3 0m3 0a1.5 1.5 0 0 0-3 0m-9.75 0h9.75"
        }
        _ => {
            "M9 12.75 11.25 15 15 9.75m-3-7.036A11.959 11.959 0 0 1 3.598 6 11.99 11.99 0 0 0 3 9.749c0 5.592 3.824 10.29 9 11.623 5.176-1.332 9-6.03 9-11.622 0-1.31-.21-2.571-.598-3.751h-.152c-3.196 0-6.1-1.248-8.25-3.285Z"
        }
    };
    view! {
        <svg aria-hidden="true" viewBox="0 0 24 24" class="h-6 w-6" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">
            <path d=path />
        </svg>
    }
}

/// The browser's offer to install Herald, kept by the shell's script.
fn install_offer() -> Option<wasm_bindgen::JsValue> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window, &wasm_bindgen::JsValue::from_str("heraldInstall"))
        .ok()
        .filter(wasm_bindgen::JsValue::is_object)
}

/// "Install app": shown only while the browser offers to install Herald
/// (it fired `beforeinstallprompt`), hidden once it is installed or the
/// offer was answered.
#[component]
fn InstallButton() -> impl IntoView {
    use wasm_bindgen::JsCast;

    let offered = RwSignal::new(false);
    let changed = window_event_listener_untyped("herald-installable", move |_| {
        offered.set(install_offer().is_some());
    });
    on_cleanup(move || changed.remove());
    effect(move |_| offered.set(install_offer().is_some()));
    let install = move |_| {
        let Some(offer) = install_offer() else {
            return offered.set(false);
        };
        let prompt = js_sys::Reflect::get(&offer, &wasm_bindgen::JsValue::from_str("prompt"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(prompt) = prompt {
            // The browser's own dialog; the offer is single-use whatever
            // the answer.
            let _ = prompt.call0(&offer);
        }
        if let Some(window) = web_sys::window() {
            let _ = js_sys::Reflect::set(
                &window,
                &wasm_bindgen::JsValue::from_str("heraldInstall"),
                &wasm_bindgen::JsValue::NULL,
            );
        }
        offered.set(false);
    };
    // A closure rather than `<Show>`, as in the bell: each `Show` is its
    // own compiled component in the first download.
    move || {
        offered.get().then(|| {
            view! {
                <button
                    type="button"
                    data-testid="install-app"
                    class="min-h-11 rounded-md border border-indigo-300 px-3 py-1.5 text-sm font-medium text-indigo-700 hover:bg-indigo-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-indigo-700 dark:text-indigo-300 dark:hover:bg-indigo-950"
                    on:click=install
                >
                    "Install app"
                </button>
            }
        })
    }
}

/// The signed-in user's name and the "Sign out" action, in a disclosure
/// (`details`) that works with keyboard and screen readers without script.
#[component]
fn UserMenu(user: User) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let sign_out = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlFormElement>(t).ok());
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match sign_out_here().await {
                Ok(signing_out) => {
                    if signing_out.await {
                        session.set_user(None);
                        navigate("/login", NavigateOptions::default());
                    }
                }
                // Without its module the form posts as it would without
                // script: the server signs out and sends the page on.
                Err(_) => {
                    if let Some(form) = form {
                        let _ = form.submit();
                    }
                }
            }
        });
    };
    let logout_url = <Logout as ServerFn>::url();
    let initial = user
        .display_name
        .chars()
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    view! {
        <details class="relative" data-testid="user-menu">
            <summary class="flex min-h-11 min-w-11 cursor-pointer list-none items-center justify-center gap-2 rounded-md px-1 text-sm hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 sm:px-2 dark:hover:bg-slate-800">
                <span aria-hidden="true" class="flex h-7 w-7 items-center justify-center rounded-full bg-indigo-600 text-xs font-semibold text-white">{initial}</span>
                // Named by its content: "Account menu for" is for assistive
                // tech; the name shows from the small breakpoint up.
                <span class="sr-only">"Account menu for "</span>
                <span class="sr-only sm:not-sr-only">{user.display_name.clone()}</span>
            </summary>
            <div class="absolute right-0 z-20 mt-2 w-56 rounded-lg border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-900">
                <p class="px-2 py-1 text-xs text-slate-500 dark:text-slate-400">
                    "Signed in as " <span class="font-medium text-slate-700 dark:text-slate-200">"@" {user.username.clone()}</span>
                </p>
                // A plain form posting to the server function (it works
                // before the WASM runs); once hydrated the action sends it.
                // Not `ActionForm`: that decodes the form's fields with
                // serde_qs, a parser the first download would carry for a
                // form that has none.
                <form method="post" action=logout_url
                    on:submit=sign_out>
                    <button type="submit" class="mt-1 min-h-11 w-full rounded-md px-2 text-left text-sm hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:hover:bg-slate-800">
                        "Sign out"
                    </button>
                </form>
            </div>
        </details>
    }
    .into_any()
}

/// Signs out (`true` when the server did): in a module of its own
/// (`sign_out`), fetched when the person signs out. Not a `ServerAction`:
/// on hydration that reads a no-script error back from the URL, a base64
/// and JSON decoder the first download would carry.
#[leptos::wasm_split::wasm_split(sign_out, wasm_split_path = ::leptos::wasm_split, fallible)]
fn sign_out_here()
-> Result<std::pin::Pin<Box<dyn Future<Output = bool>>>, leptos::wasm_split::SplitLoaderError> {
    Ok(Box::pin(async {
        if logout().await.is_err() {
            return false;
        }
        // A browser signed out of stops receiving the account's pushes (a
        // shared computer); its push service then answers 410 and the
        // server forgets the device.
        leptos::task::spawn_local(async {
            let _ = crate::push::browser::unsubscribe().await;
        });
        true
    }))
}

/// What a page shows when rendering it failed.
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <section role="alert" class="rounded-lg border border-red-200 bg-red-50 p-4 text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
            <h1 class="text-lg font-semibold">"Something went wrong"</h1>
            <ul class="mt-2 list-disc pl-5 text-sm">
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
            <p class="mt-3 text-sm">"Reload the page to try again."</p>
        </section>
    }
    .into_any()
}
