//! The application root: the HTML shell rendered by the server and the
//! router shared by server rendering and hydration. Both sides.

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, lazy_route, path};

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

// The routes below are split out of the first download: each is its own
// WASM chunk (`cargo leptos build --split`), fetched when the route is first
// visited. On a direct load the server names the chunk in a `<link
// rel=preload>` from its own route match, so the browser fetches it beside
// the main module instead of after it. The data is loaded by the page
// itself: the server renders it into the HTML, and in-app navigation is
// the only time a page waits for its chunk and then its data.

/// On the server, adds `<link rel=preload>` tags for the chunks of the lazy
/// route `R` to the page's head (its view is `__<snake_case of R>_view` in
/// the split manifest, as `#[lazy_route]` names it). Leptos emits these itself,
/// but from a context it provides after rendering has begun, so in about
/// half of the loads measured here they were missing and the chunks were
/// fetched only once the main module ran. Where both appear the browser
/// fetches each file once. Nothing on the client.
fn preload_route_chunks<R: LazyRoute>() {
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
        // Keys end with a hash of the macro's call site.
        let prefix = format!("__{}_view_", snake_case(route_name::<R>()));
        let Some(modules) = chunks
            .iter()
            .find_map(|(key, modules)| key.starts_with(&prefix).then_some(modules))
        else {
            return;
        };
        let nonce = leptos::nonce::use_nonce()
            .map(|n| n.to_string())
            .unwrap_or_default();
        for module in modules {
            let _ = view! {
                <Link rel="preload" href=format!("{pkg_path}/{module}.wasm") as_="fetch" type_="application/wasm" crossorigin=nonce.clone() />
            }
            .to_html();
        }
        let _ = view! { <Link rel="modulepreload" href=format!("{pkg_path}/{split_js}") crossorigin=nonce /> }.to_html();
    }
}

/// The type's own name, without its module path.
#[cfg(feature = "ssr")]
fn route_name<R>() -> &'static str {
    let name = std::any::type_name::<R>();
    name.rsplit("::").next().unwrap_or(name)
}

/// `ApiReferenceRoute` -> `api_reference_route`.
#[cfg(feature = "ssr")]
fn snake_case(name: &str) -> String {
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::{ApiReferenceRoute, route_name, snake_case};

    #[test]
    fn route_types_name_their_views_as_lazy_route_does() {
        assert_eq!(
            snake_case(route_name::<ApiReferenceRoute>()),
            "api_reference_route"
        );
    }
}

/// `/notifications`, in its own chunk (with the bell panel's center, which
/// it shares).
pub struct NotificationsRoute;

#[lazy_route]
impl LazyRoute for NotificationsRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><NotificationsPage /></RequireUser> }.into_any()
    }
}

/// `/admin/status`, in its own chunk.
pub struct StatusRoute;

#[lazy_route]
impl LazyRoute for StatusRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><StatusPage /></RequireAdmin></RequireUser> }.into_any()
    }
}

/// `/admin/users`, in its own chunk.
pub struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><UsersPage /></RequireAdmin></RequireUser> }.into_any()
    }
}

/// `/admin/tokens`, in its own chunk.
pub struct TokensRoute;

#[lazy_route]
impl LazyRoute for TokensRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><TokensPage /></RequireAdmin></RequireUser> }.into_any()
    }
}

/// `/admin/api`, in its own chunk.
pub struct ApiReferenceRoute;

#[lazy_route]
impl LazyRoute for ApiReferenceRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><ApiReferencePage /></RequireAdmin></RequireUser> }
            .into_any()
    }
}

/// `/admin/announce`; shares the send form's chunk.
pub struct AnnounceRoute;

#[lazy_route]
impl LazyRoute for AnnounceRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><SendNotificationPage announcement=true /></RequireAdmin></RequireUser> }
            .into_any()
    }
}

/// `/admin/notify`; shares the send form's chunk.
pub struct SendNotificationRoute;

#[lazy_route]
impl LazyRoute for SendNotificationRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><RequireAdmin><SendNotificationPage /></RequireAdmin></RequireUser> }
            .into_any()
    }
}

/// `/messages`, in its own chunk.
pub struct MessagesRoute;

#[lazy_route]
impl LazyRoute for MessagesRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><MessagesPage /></RequireUser> }.into_any()
    }
}

/// `/messages/{id}`, in its own chunk.
pub struct ConversationRoute;

#[lazy_route]
impl LazyRoute for ConversationRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><ConversationPage /></RequireUser> }.into_any()
    }
}

/// `/settings`, in its own chunk.
pub struct SettingsRoute;

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireUser><SettingsPage /></RequireUser> }.into_any()
    }
}

/// `/login`, in its own chunk: a signed-in person's first page never needs it.
pub struct LoginRoute;

#[lazy_route]
impl LazyRoute for LoginRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <LoginPage /> }.into_any()
    }
}

/// `/register`; shares the sign-in page's chunk.
pub struct RegisterRoute;

#[lazy_route]
impl LazyRoute for RegisterRoute {
    fn data() -> Self {
        preload_route_chunks::<Self>();
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RegisterPage /> }.into_any()
    }
}
