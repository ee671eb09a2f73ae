//! The application root: the HTML shell rendered by the server and the
//! router shared by server rendering and hydration. Both sides.

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, path};

use crate::auth::context::provide_session;
use crate::components::layout::Layout;
use crate::components::load_error::LOAD_ERROR_SCRIPT;
use crate::components::session::RequireUser;
use crate::pages::admin::{
    ApiReferencePage, RequireAdmin, SendNotificationPage, StatusPage, TokensPage, UsersPage,
};
use crate::pages::conversation::ConversationPage;
use crate::pages::dashboard::DashboardPage;
use crate::pages::login::{LoginPage, RegisterPage};
use crate::pages::messages::MessagesPage;
use crate::pages::not_found::NotFoundPage;
use crate::pages::notifications::NotificationsPage;
use crate::pages::settings::SettingsPage;

/// Keeps the browser's `beforeinstallprompt` event in `window.heraldInstall`
/// (and forgets it once the app is installed), announcing each change with
/// a `herald-installable` event.
const INSTALL_OFFER_SCRIPT: &str = "addEventListener('beforeinstallprompt',function(e){\
e.preventDefault();window.heraldInstall=e;dispatchEvent(new Event('herald-installable'))});\
addEventListener('appinstalled',function(){window.heraldInstall=null;\
dispatchEvent(new Event('herald-installable'))});";

/// The document around the app; the server renders it once per page load.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::security::content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                // The on-screen keyboard shrinks the layout (and `dvh`), so the
                // chat composer stays above it.
                <meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content" />
                <meta name="color-scheme" content="light dark" />
                // The manifest holds one theme colour; these give the dark
                // theme its own.
                <meta name="theme-color" content="#4f46e5" media="(prefers-color-scheme: light)" />
                <meta name="theme-color" content="#020617" media="(prefers-color-scheme: dark)" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="apple-touch-icon" href="/icons/icon-192.png" />
                <link rel="manifest" href="/manifest.webmanifest" />
                // The browser may offer installation before the WASM runs:
                // keep its offer for the "Install app" button (layout.rs).
                <script nonce=leptos::nonce::use_nonce() inner_html=INSTALL_OFFER_SCRIPT></script>
                <script nonce=leptos::nonce::use_nonce() inner_html=LOAD_ERROR_SCRIPT></script>
                <HashedStylesheet id="leptos" options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
                <App />
            </body>
        </html>
    }
}

/// The reactive app: layout around the routed pages.
///
/// Every route renders `Async`: the server waits for the page's resources
/// (the session and each page's first data, all local queries of a few
/// milliseconds) and sends the page whole. With out-of-order streaming the
/// session's `Suspense` sometimes streamed after the head, and the page's
/// `<title>` (measured: 5 loads in 15) or a redirect to `/login` was lost.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session();

    view! {
        <Title formatter=|page: String| if page.is_empty() { "Herald".to_owned() } else { format!("{page} · Herald") } />
        <Router>
            <Layout>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=|| view! { <RequireUser><DashboardPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view={Lazy::<NotificationsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/status") view={Lazy::<StatusRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/tokens") view={Lazy::<TokensRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/api") view={Lazy::<ApiReferenceRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/announce") view={Lazy::<AnnounceRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/notify") view={Lazy::<SendNotificationRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/messages") view={Lazy::<MessagesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/messages/:id") view={Lazy::<ConversationRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/register") view={Lazy::<RegisterRoute>::new()} ssr=SsrMode::Async />
                    // Unknown paths as a route rather than only the fallback:
                    // leaving the fallback for a lazy route and then another
                    // route within a second showed the first route's page
                    // at the second's address (leptos_router 0.8.17; about
                    // one try in three from the 404 page to /messages to
                    // /notifications). The server does not register it (see
                    // `server::router`): unknown paths reach the file
                    // handler first, which renders this page with a 404.
                    <Route path=path!("/*any") view=NotFoundPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}

// The routes below are split out of the first download, by area: chat,
// settings, the admin pages, the sign-in pages and the notification center
// (its page and the bell's panel) are one WASM module each, fetched when
// one of their pages is first visited (`cargo leptos build --split`). An
// area per module rather than a module per route (`#[lazy_route]`): code
// that several modules share is cut into a chunk per set of modules that
// use it, and with a module per route one conversation needed 55 files, a
// round trip each on a slow network. On a direct load the server names the
// module's files in `<link rel=preload>` tags from its own route match, so
// the browser fetches them beside the main module instead of after it. The
// data is loaded by the page itself: the server renders it into the HTML,
// and in-app navigation is the only time a page waits for its module and
// then its data.

/// On the server, adds `<link rel=preload>` tags for the files of the split
/// module `module` (its name in the split manifest) to the page's head.
/// Leptos emits these itself, but from a context it provides after
/// rendering has begun, so in about half of the loads measured here they
/// were missing and the chunks were fetched only once the main module ran.
/// Where both appear the browser fetches each file once. Nothing on the
/// client.
fn preload_module(module: &'static str) {
    #[cfg(feature = "ssr")]
    {
        use leptos_meta::Link;

        let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else {
            return;
        };
        let Some(manifest) = manifest.0.try_read_value() else {
            return;
        };
        let (pkg_path, chunks, split_js) = &*manifest;
        let Some(files) = chunks.get(module) else {
            return;
        };
        let nonce = leptos::nonce::use_nonce()
            .map(|n| n.to_string())
            .unwrap_or_default();
        for file in files {
            let _ = view! {
                <Link rel="preload" href=format!("{pkg_path}/{file}.wasm") as_="fetch" type_="application/wasm" crossorigin=nonce.clone() />
            }
            .to_html();
        }
        let _ = view! { <Link rel="modulepreload" href=format!("{pkg_path}/{split_js}") crossorigin=nonce /> }.to_html();
    }
    #[cfg(not(feature = "ssr"))]
    let _ = module;
}

/// Declares lazy routes that share one split module: for each route a unit
/// struct whose `LazyRoute` impl preloads the module on the server and
/// renders the page from it, and the module's one entry point, which
/// renders the page a route names.
macro_rules! split_area {
    (
        $(#[$area_meta:meta])*
        module $module:ident, entry $entry:ident, preload $preload:ident;
        $( $(#[$route_meta:meta])* $route:ident => $page:expr; )+
    ) => {
        $(
            $(#[$route_meta])*
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    preload_module(stringify!($module));
                    Self
                }

                async fn view(_this: Self) -> AnyView {
                    $entry(stringify!($route)).await
                }

                async fn preload() {
                    $preload().await;
                }
            }
        )+

        $(#[$area_meta])*
        #[leptos::wasm_split::wasm_split($module, wasm_split_path = ::leptos::wasm_split, preload($preload))]
        fn $entry(route: &'static str) -> AnyView {
            $( if route == stringify!($route) { return $page; } )+
            unreachable!("every route of the area is listed")
        }
    };
}

split_area! {
    /// Chat: the conversation list and one conversation.
    module chat, entry chat_view, preload preload_chat;
    /// `/messages`.
    MessagesRoute => view! { <RequireUser><MessagesPage /></RequireUser> }.into_any();
    /// `/messages/{id}`.
    ConversationRoute => view! { <RequireUser><ConversationPage /></RequireUser> }.into_any();
}

split_area! {
    /// The notification center's page; the bell's panel (`components::bell`)
    /// adds its own entry to the same module.
    module notification_center, entry notifications_view, preload preload_notifications;
    /// `/notifications`.
    NotificationsRoute => view! { <RequireUser><NotificationsPage /></RequireUser> }.into_any();
}

split_area! {
    /// Settings.
    module settings, entry settings_view, preload preload_settings;
    /// `/settings`.
    SettingsRoute => view! { <RequireUser><SettingsPage /></RequireUser> }.into_any();
}

split_area! {
    /// The admin area.
    module admin, entry admin_view, preload preload_admin;
    /// `/admin/status`.
    StatusRoute => admin(|| view! { <StatusPage /> }.into_any());
    /// `/admin/users`.
    UsersRoute => admin(|| view! { <UsersPage /> }.into_any());
    /// `/admin/tokens`.
    TokensRoute => admin(|| view! { <TokensPage /> }.into_any());
    /// `/admin/api`.
    ApiReferenceRoute => admin(|| view! { <ApiReferencePage /> }.into_any());
    /// `/admin/announce`.
    AnnounceRoute => admin(|| view! { <SendNotificationPage announcement=true /> }.into_any());
    /// `/admin/notify`.
    SendNotificationRoute => admin(|| view! { <SendNotificationPage /> }.into_any());
}

/// An admin page, for admins only.
fn admin(page: fn() -> AnyView) -> AnyView {
    view! { <RequireUser><RequireAdmin>{move || page()}</RequireAdmin></RequireUser> }.into_any()
}

split_area! {
    /// The sign-in pages: a signed-in person's first page never needs them.
    module sign_in, entry sign_in_view, preload preload_sign_in;
    /// `/login`.
    LoginRoute => view! { <LoginPage /> }.into_any();
    /// `/register`.
    RegisterRoute => view! { <RegisterPage /> }.into_any();
}
