//! `/admin/tokens`: API tokens for services that publish. A new token's
//! secret is shown once, right after creation; revoking takes effect on
//! the token's next request. Both sides.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::auth::admin_api::{create_token, list_tokens, revoke_token};
use crate::components::form::{FormError, INPUT_CLASS};
use crate::model::error::ApiError;
use crate::model::json::JsonCodec;
use crate::model::user::{CreatedToken, TokenInfo};
use crate::pages::admin::AdminNav;
use crate::realtime::client::{relative_time, use_realtime};

/// The secret of the token just created, with a copy button.
#[component]
fn NewTokenSecret(created: CreatedToken) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = created.token.clone();
    let copy = move |_| {
        let secret = secret.clone();
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&secret);
            copied.set(true);
        }
    };
    view! {
        <section
            class="mt-4 rounded-xl border border-amber-300 bg-amber-50 p-4 dark:border-amber-800 dark:bg-amber-950"
            aria-labelledby="new-token-heading"
        >
            <h2 id="new-token-heading" class="font-semibold">{format!("Token “{}” created", created.info.name)}</h2>
            <p class="mt-1 text-sm">"Copy it now: it is stored hashed and will not be shown again."</p>
            <div class="mt-2 flex flex-wrap gap-2">
                <label for="new-token" class="sr-only">"New token"</label>
                <input
                    id="new-token"
                    data-testid="new-token"
                    readonly
                    class="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm dark:border-slate-700 dark:bg-slate-900"
                    value=created.token.clone()
                    on:focus=move |ev| {
                        use wasm_bindgen::JsCast;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                />
                <button
                    type="button"
                    class="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium hover:bg-slate-50 dark:border-slate-700 dark:bg-slate-900 dark:hover:bg-slate-800"
                    on:click=copy
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </section>
    }
}

#[component]
fn TokenRow(
    token: TokenInfo,
    on_revoked: Callback<i64>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let realtime = use_realtime();
    let confirming = RwSignal::new(false);
    let pending = RwSignal::new(false);
    let id = token.id;
    let name = token.name.clone();
    let created_ms = token.created_at.timestamp_millis();
    let limit = token
        .publish_rate_per_minute
        .map_or_else(|| "server default".to_owned(), |rate| rate.to_string());
    let used_ms = token.last_used_at.map(|t| t.timestamp_millis());
    let revoke = move |_| {
        if !confirming.get_untracked() {
            confirming.set(true);
            return;
        }
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match revoke_token(id).await {
                Ok(Ok(())) => on_revoked.run(id),
                Ok(Err(refusal)) | Err(refusal) => error.set(Some(refusal.message)),
            }
            pending.set(false);
            confirming.set(false);
        });
    };
    let button_name = {
        let name = name.clone();
        move || {
            if confirming.get() {
                format!("Confirm revoking {name}")
            } else {
                format!("Revoke {name}")
            }
        }
    };
    view! {
        <tr data-testid="token-row">
            <td class="py-2 pr-3 font-medium">{name.clone()}</td>
            <td class="py-2 pr-3">{token.created_by.clone()}</td>
            <td class="py-2 pr-3" data-testid="token-limit">{limit}</td>
            <td class="py-2 pr-3 text-slate-600 dark:text-slate-400">
                {move || realtime.now_ms.get().map(|now| relative_time(created_ms, now))}
            </td>
            <td class="py-2 pr-3 text-slate-600 dark:text-slate-400">
                {move || match (used_ms, realtime.now_ms.get()) {
                    (None, _) => "never".to_owned(),
                    (Some(used), Some(now)) => relative_time(used, now),
                    (Some(_), None) => String::new(),
                }}
            </td>
            <td class="py-2 text-right">
                <button
                    type="button"
                    aria-label=button_name
                    aria-disabled=move || pending.get().then_some("true")
                    class="rounded-md border border-red-300 px-3 py-1 text-sm font-medium text-red-700 hover:bg-red-50 aria-disabled:opacity-60 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
                    on:click=revoke
                    on:blur=move |_| confirming.set(false)
                >
                    {move || if confirming.get() { "Confirm revoke" } else { "Revoke" }}
                </button>
            </td>
        </tr>
    }
}

/// The limit as typed: empty for the server's default, else a whole
/// number the server then checks against its range.
fn parse_rate(typed: &str) -> Result<Option<u32>, ApiError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    typed.parse::<u32>().map(Some).map_err(|_| ApiError {
        code: "validation".into(),
        message: "Enter a whole number of publishes per minute, or leave it empty.".into(),
        field: Some("publish_rate_per_minute".into()),
    })
}

/// `/admin/tokens`.
#[component]
pub fn TokensPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let tokens =
        Resource::<_, JsonCodec>::new_with_options(move || reload.get(), |_| list_tokens(), false);
    let name = RwSignal::new(String::new());
    let rate = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let form_error = RwSignal::new(None::<ApiError>);
    let list_error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<CreatedToken>);
    let on_revoked = Callback::new(move |_id: i64| reload.update(|n| *n += 1));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        form_error.set(None);
        let requested = name.get_untracked();
        let limit = match parse_rate(&rate.get_untracked()) {
            Ok(limit) => limit,
            Err(refusal) => {
                form_error.set(Some(refusal));
                pending.set(false);
                return;
            }
        };
        spawn_local(async move {
            match create_token(requested, limit).await {
                Ok(Ok(token)) => {
                    created.set(Some(token));
                    name.set(String::new());
                    rate.set(String::new());
                    reload.update(|n| *n += 1);
                }
                Ok(Err(refusal)) | Err(refusal) => form_error.set(Some(refusal)),
            }
            pending.set(false);
        });
    };
    let name_error = Signal::derive(move || form_error.get().and_then(|e| e.for_field("name")));
    let rate_error = Signal::derive(move || {
        form_error
            .get()
            .and_then(|e| e.for_field("publish_rate_per_minute"))
    });
    let other_error = Signal::derive(move || {
        form_error
            .get()
            .filter(|e| !matches!(e.field.as_deref(), Some("name" | "publish_rate_per_minute")))
            .map(|e| e.message)
    });

    view! {
        <Title text="API tokens" />
        <AdminNav />
        <h1 class="text-2xl font-bold tracking-tight">"API tokens"</h1>
        <p class="mt-1 text-slate-600 dark:text-slate-400">
            "Services publish notifications with " <code class="font-mono text-sm">"Authorization: Bearer <token>"</code> "."
        </p>
        <form class="mt-4 flex max-w-xl flex-wrap items-end gap-3" on:submit=submit novalidate>
            <div class="min-w-0 flex-1 space-y-1">
                <label for="token-name" class="block text-sm font-medium">"Token name"</label>
                <input
                    id="token-name"
                    maxlength="100"
                    placeholder="billing-service"
                    aria-describedby="token-name-error"
                    aria-invalid=move || name_error.get().is_some().then_some("true")
                    class=INPUT_CLASS
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </div>
            <div class="w-48 space-y-1">
                <label for="token-rate" class="block text-sm font-medium">"Publishes per minute"</label>
                <input
                    id="token-rate"
                    inputmode="numeric"
                    placeholder="server default"
                    aria-describedby="token-rate-hint token-rate-error"
                    aria-invalid=move || rate_error.get().is_some().then_some("true")
                    class=INPUT_CLASS
                    prop:value=move || rate.get()
                    on:input=move |ev| rate.set(event_target_value(&ev))
                />
            </div>
            <button
                type="submit"
                aria-disabled=move || pending.get().then_some("true")
                class="rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 aria-disabled:opacity-60"
            >
                {move || if pending.get() { "Creating…" } else { "Create token" }}
            </button>
            <p id="token-name-error" class="w-full text-sm text-red-700 dark:text-red-300" class:hidden=move || name_error.get().is_none()>
                {move || name_error.get()}
            </p>
            <p id="token-rate-error" class="w-full text-sm text-red-700 dark:text-red-300" class:hidden=move || rate_error.get().is_none()>
                {move || rate_error.get()}
            </p>
            <p id="token-rate-hint" class="w-full text-xs text-slate-500 dark:text-slate-400">
                "Leave the limit empty for the server's default (publish_rate_per_minute). A batch counts each of its notifications."
            </p>
        </form>
        <FormError error=other_error />
        {move || created.get().map(|created| view! { <NewTokenSecret created /> })}
        <div class="mt-4"><FormError error=list_error /></div>
        <div class="mt-2 overflow-x-auto rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <Transition fallback=|| view! { <p class="text-slate-500 dark:text-slate-400">"Loading…"</p> }>
                {move || tokens.get().map(|result| match result {
                    Err(failure) => view! { <p role="alert" class="text-sm text-red-700 dark:text-red-300">{failure.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="text-sm text-slate-500 dark:text-slate-400">"No tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="w-full text-sm">
                            <caption class="sr-only">"API tokens"</caption>
                            <thead>
                                <tr class="text-left text-xs text-slate-500 dark:text-slate-400">
                                    <th scope="col" class="pb-2 font-medium">"Name"</th>
                                    <th scope="col" class="pb-2 font-medium">"Created by"</th>
                                    <th scope="col" class="pb-2 font-medium">"Publishes / min"</th>
                                    <th scope="col" class="pb-2 font-medium">"Created"</th>
                                    <th scope="col" class="pb-2 font-medium">"Last used"</th>
                                    <th scope="col" class="pb-2"><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                                {list.into_iter().map(|token| view! { <TokenRow token on_revoked error=list_error /> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </div>
    }
}
