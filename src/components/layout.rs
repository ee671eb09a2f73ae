//! The page frame: header with the product name and navigation, the main
//! area inside an error boundary, and the hydration marker. Both sides.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::auth::context::use_session;
use crate::components::bell::{ConnectionIndicator, NotificationBell};
use crate::components::toasts::Toaster;
use crate::model::user::User;
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
    // Effects run only in the browser: the attribute tells tests (and CSS)
    // that the WASM has taken over the page.
    let session = use_session();
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <div class="flex min-h-screen flex-col" data-hydrated=move || hydrated.get().then_some("true")>
            <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-indigo-600 focus:px-3 focus:py-2 focus:text-white">
                "Skip to content"
            </a>
            <header class="relative z-30 border-b border-slate-200 bg-white/80 backdrop-blur dark:border-slate-800 dark:bg-slate-900/80">
                <div class="mx-auto flex max-w-5xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
                    <A href="/" attr:class="flex items-center gap-2 text-lg font-semibold tracking-tight text-indigo-600 dark:text-indigo-400">
                        <img src="/favicon.svg" alt="" class="h-6 w-6" />
                        "Herald"
                    </A>
                    <Transition fallback=|| ()>
                        {move || session.user().map(|result| match result {
                            Ok(Some(user)) => view! {
                                <MainNav admin=user.is_admin() />
                                <div class="ml-auto flex items-center gap-3">
                                    <ConnectionIndicator />
                                    <NotificationBell />
                                    <UserMenu user />
                                </div>
                            }.into_any(),
                            _ => view! {
                                <div class="ml-auto flex gap-2 text-sm font-medium">
                                    <A href="/login" attr:class="rounded-md px-3 py-1.5 text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800">"Sign in"</A>
                                    <A href="/register" attr:class="rounded-md bg-indigo-600 px-3 py-1.5 text-white hover:bg-indigo-500">"Create account"</A>
                                </div>
                            }.into_any(),
                        })}
                    </Transition>
                    <InstallButton />
                </div>
            </header>
            <main id="main" class="mx-auto w-full max-w-5xl flex-1 px-4 py-6">
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                    {children()}
                </ErrorBoundary>
            </main>
            <Toaster />
            <footer class="border-t border-slate-200 py-4 text-center text-xs text-slate-500 dark:border-slate-800 dark:text-slate-400">
                "Herald " {env!("CARGO_PKG_VERSION")}
            </footer>
        </div>
    }
    .into_any()
}

/// The primary navigation. `A` marks the current page with
/// `aria-current="page"`, which both assistive tech and the styling use.
#[component]
fn MainNav(admin: bool) -> impl IntoView {
    view! {
        <nav aria-label="Main" class="flex-1">
            <ul class="flex flex-wrap gap-1 text-sm font-medium">
                {NAV
                    .iter()
                    .chain(admin.then_some(&ADMIN_NAV))
                    .map(|item| {
                        view! {
                            <li>
                                <A
                                    href=item.href
                                    attr:class="block rounded-md px-3 py-1.5 text-slate-600 hover:bg-slate-100 hover:text-slate-900 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white dark:aria-[current=page]:bg-indigo-950 dark:aria-[current=page]:text-indigo-300"
                                >
                                    {item.label}
                                </A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </nav>
    }
    .into_any()
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
    Effect::new(move |_| offered.set(install_offer().is_some()));
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
    view! {
        <Show when=move || offered.get()>
            <button
                type="button"
                data-testid="install-app"
                class="min-h-11 rounded-md border border-indigo-300 px-3 py-1.5 text-sm font-medium text-indigo-700 hover:bg-indigo-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-indigo-700 dark:text-indigo-300 dark:hover:bg-indigo-950"
                on:click=install
            >
                "Install app"
            </button>
        </Show>
    }
}

/// The signed-in user's name and the "Sign out" action, in a disclosure
/// (`details`) that works with keyboard and screen readers without script.
#[component]
fn UserMenu(user: User) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = session.logout.value().get() {
            // A browser signed out of stops receiving the account's pushes
            // (a shared computer); its push service then answers 410 and
            // the server forgets the device.
            leptos::task::spawn_local(async {
                let _ = crate::push::browser::unsubscribe().await;
            });
            session.set_user(None);
            navigate("/login", NavigateOptions::default());
        }
    });
    let initial = user
        .display_name
        .chars()
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    view! {
        <details class="relative" data-testid="user-menu">
            <summary class="flex cursor-pointer list-none items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-slate-100 dark:hover:bg-slate-800" aria-label=format!("Account menu for {}", user.display_name)>
                <span aria-hidden="true" class="flex h-7 w-7 items-center justify-center rounded-full bg-indigo-600 text-xs font-semibold text-white">{initial}</span>
                <span class="hidden sm:inline">{user.display_name.clone()}</span>
            </summary>
            <div class="absolute right-0 z-20 mt-2 w-56 rounded-lg border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-900">
                <p class="px-2 py-1 text-xs text-slate-500 dark:text-slate-400">
                    "Signed in as " <span class="font-medium text-slate-700 dark:text-slate-200">"@" {user.username.clone()}</span>
                </p>
                <ActionForm action=session.logout>
                    <button type="submit" class="mt-1 w-full rounded-md px-2 py-1.5 text-left text-sm hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:hover:bg-slate-800">
                        "Sign out"
                    </button>
                </ActionForm>
            </div>
        </details>
    }
    .into_any()
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
