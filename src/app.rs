//! The application root: the HTML shell rendered by the server and the
//! router shared by server rendering and hydration. Both sides.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::auth::context::provide_session;
use crate::components::layout::Layout;
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
        <Stylesheet id="leptos" href="/pkg/herald.css" />
        <Title formatter=|page: String| if page.is_empty() { "Herald".to_owned() } else { format!("{page} · Herald") } />
        <Router>
            <Layout>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=|| view! { <RequireUser><DashboardPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view=|| view! { <RequireUser><NotificationsPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/status") view=|| view! { <RequireUser><RequireAdmin><StatusPage /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/users") view=|| view! { <RequireUser><RequireAdmin><UsersPage /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/tokens") view=|| view! { <RequireUser><RequireAdmin><TokensPage /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/api") view=|| view! { <RequireUser><RequireAdmin><ApiReferencePage /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/announce") view=|| view! { <RequireUser><RequireAdmin><SendNotificationPage announcement=true /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/notify") view=|| view! { <RequireUser><RequireAdmin><SendNotificationPage /></RequireAdmin></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/messages") view=|| view! { <RequireUser><MessagesPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/messages/:id") view=|| view! { <RequireUser><ConversationPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/settings") view=|| view! { <RequireUser><SettingsPage /></RequireUser> } ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/register") view=RegisterPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}
