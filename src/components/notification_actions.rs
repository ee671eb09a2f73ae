//! A notification's action buttons, shown in the notification center and
//! in toasts. An open action follows its link; a POST action sends its
//! body to the publisher's endpoint from the browser (the click is the
//! user's consent) and reports how that went. Using either marks the
//! notification read. Both sides (the buttons act in the browser).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::model::notification::{ActionMethod, NotificationAction};
use crate::notifications::api::mark_notification_read;
use crate::realtime::client::follow_link;

/// Where a POST action stands.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Idle,
    Sending,
    Done,
    Failed(String),
}

/// The buttons of notification `id`. `on_open` runs when an open action
/// leaves for its page (a panel closes, a toast goes); a POST action stays
/// to say how it went (the read event then settles toasts and lists).
#[component]
pub fn NotificationActions(
    id: i64,
    actions: Vec<NotificationAction>,
    #[prop(optional, into)] on_open: Option<Callback<()>>,
) -> impl IntoView {
    (!actions.is_empty()).then(|| {
        view! {
            <div class="relative z-10 mt-2 flex flex-wrap gap-2" data-testid="notification-actions">
                {actions
                    .into_iter()
                    .enumerate()
                    .map(|(index, action)| view! { <ActionButton id action primary=index == 0 on_open /> })
                    .collect_view()}
            </div>
        }
    })
}

/// The first action is the primary one.
fn button_class(primary: bool) -> &'static str {
    if primary {
        "inline-flex min-h-11 items-center rounded-md bg-indigo-600 sm:min-h-9 px-3 py-1 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:opacity-60"
    } else {
        "inline-flex min-h-11 items-center rounded-md border border-slate-300 sm:min-h-9 px-3 py-1 text-sm font-medium text-slate-800 hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:opacity-60 dark:border-slate-600 dark:text-slate-100 dark:hover:bg-slate-800"
    }
}

#[component]
fn ActionButton(
    id: i64,
    action: NotificationAction,
    primary: bool,
    on_open: Option<Callback<()>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let label = action.label.clone();
    match action.method {
        ActionMethod::Open => {
            let url = action.url.clone();
            let open = move |ev: leptos::ev::MouseEvent| {
                ev.prevent_default();
                spawn_local(async move {
                    let _ = mark_notification_read(id).await;
                });
                if let Some(callback) = on_open {
                    callback.run(());
                }
                follow_link(&url, &navigate);
            };
            view! {
                <a href=action.url class=button_class(primary) data-testid="notification-action" on:click=open>
                    {label}
                </a>
            }
            .into_any()
        }
        ActionMethod::Post => {
            let sent = RwSignal::new(Sent::Idle);
            let send = move |_| {
                if matches!(sent.get_untracked(), Sent::Sending | Sent::Done) {
                    return;
                }
                sent.set(Sent::Sending);
                let action = action.clone();
                spawn_local(async move {
                    match call(&action).await {
                        Ok(()) => {
                            sent.set(Sent::Done);
                            let _ = mark_notification_read(id).await;
                        }
                        Err(message) => sent.set(Sent::Failed(message)),
                    }
                });
            };
            view! {
                <button
                    type="button"
                    class=button_class(primary)
                    data-testid="notification-action"
                    aria-disabled=move || matches!(sent.get(), Sent::Sending | Sent::Done).then_some("true")
                    on:click=send
                >
                    {move || match sent.get() {
                        Sent::Sending => format!("{label}…"),
                        Sent::Done => format!("{label} ✓"),
                        _ => label.clone(),
                    }}
                </button>
                <span role="status" class="self-center text-xs text-slate-600 empty:hidden dark:text-slate-300" data-testid="notification-action-status">
                    {move || match sent.get() {
                        Sent::Done => Some("Sent.".to_owned()),
                        Sent::Failed(message) => Some(message),
                        Sent::Idle | Sent::Sending => None,
                    }}
                </span>
            }
            .into_any()
        }
    }
}

/// Sends a POST action: its body as JSON (none when it has none), with
/// the browser's cookies for the endpoint's site.
#[cfg(feature = "hydrate")]
async fn call(action: &NotificationAction) -> Result<(), String> {
    let request = gloo_net::http::Request::post(&action.url)
        .credentials(web_sys::RequestCredentials::Include);
    let request = match &action.body {
        // Sent as the publisher wrote it.
        Some(body) => request
            .header("Content-Type", "application/json")
            .body(body.get()),
        None => request.build(),
    }
    .map_err(|_| "Could not send.".to_owned())?;
    match request.send().await {
        Ok(response) if response.ok() => Ok(()),
        Ok(response) => Err(format!(
            "Not done: the server answered {}.",
            response.status()
        )),
        Err(_) => Err("Could not reach the server. Try again.".to_owned()),
    }
}

/// Server rendering never sends actions.
#[cfg(not(feature = "hydrate"))]
async fn call(_: &NotificationAction) -> Result<(), String> {
    Err("Actions are sent from the browser.".to_owned())
}
