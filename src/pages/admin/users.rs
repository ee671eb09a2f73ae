//! `/admin/users`: find accounts, change their role, disable or enable
//! them (disabling ends their sessions and event streams at once). Both
//! sides.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::auth::admin_api::{list_accounts, update_account};
use crate::auth::context::use_session;
use crate::components::form::FormError;
use crate::model::json::JsonCodec;
use crate::model::user::{AccountChange, Role, UserAccount};
use crate::pages::admin::AdminNav;

/// One account row with its controls.
#[component]
fn AccountRow(
    account: UserAccount,
    is_me: bool,
    on_change: Callback<UserAccount>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let pending = RwSignal::new(false);
    let id = account.user.id;
    let username = account.user.username.clone();
    let apply = move |change: AccountChange| {
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match update_account(id, change).await {
                Ok(Ok(updated)) => on_change.run(updated),
                Ok(Err(refusal)) | Err(refusal) => error.set(Some(refusal.message)),
            }
            pending.set(false);
        });
    };
    let role = account.user.role;
    let disabled = account.disabled;
    let role_label = format!("Role of {username}");
    let toggle_label = if disabled { "Enable" } else { "Disable" };
    let toggle_name = format!("{toggle_label} {username}");
    view! {
        <tr data-testid="account-row" data-username=username.clone()>
            <td class="py-2 pr-3">
                <div class="font-medium">{username.clone()}</div>
                <div class="text-xs text-slate-500 dark:text-slate-400">{account.user.display_name.clone()}</div>
            </td>
            <td class="py-2 pr-3">
                <select
                    aria-label=role_label
                    class="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
                    disabled=is_me
                    on:change=move |ev| {
                        if let Some(role) = Role::parse(&event_target_value(&ev)) {
                            apply(AccountChange { role: Some(role), disabled: None });
                        }
                    }
                >
                    <option value="user" selected=role == Role::User>"User"</option>
                    <option value="admin" selected=role == Role::Admin>"Admin"</option>
                </select>
            </td>
            <td class="py-2 pr-3">
                <span
                    data-testid="account-state"
                    class=if disabled {
                        "rounded-full bg-red-100 px-2 py-0.5 text-xs font-medium text-red-800 dark:bg-red-950 dark:text-red-200"
                    } else {
                        "rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200"
                    }
                >
                    {if disabled { "Disabled" } else { "Active" }}
                </span>
            </td>
            <td class="py-2 text-right">
                {(!is_me).then(|| view! {
                    <button
                        type="button"
                        aria-label=toggle_name
                        aria-disabled=move || pending.get().then_some("true")
                        class="rounded-md border border-slate-300 px-3 py-1 text-sm font-medium hover:bg-slate-50 aria-disabled:opacity-60 dark:border-slate-700 dark:hover:bg-slate-800"
                        on:click=move |_| apply(AccountChange { role: None, disabled: Some(!disabled) })
                    >
                        {toggle_label}
                    </button>
                })}
            </td>
        </tr>
    }
}

/// `/admin/users`.
#[component]
pub fn UsersPage() -> impl IntoView {
    let session = use_session();
    let search = RwSignal::new(String::new());
    let accounts =
        Resource::<_, JsonCodec>::new_with_options(move || search.get(), list_accounts, false);
    // Rows changed here, shown in place of the listed ones until the next search.
    let changed = RwSignal::new(Vec::<UserAccount>::new());
    let error = RwSignal::new(None::<String>);
    let on_change = Callback::new(move |updated: UserAccount| {
        changed.update(|list| {
            list.retain(|a| a.user.id != updated.user.id);
            list.push(updated);
        });
    });
    Effect::new(move |_| {
        search.track();
        changed.set(Vec::new());
    });
    let my_id = move || session.user().and_then(|r| r.ok().flatten()).map(|u| u.id);

    view! {
        <Title text="Users" />
        <AdminNav />
        <h1 class="text-2xl font-bold tracking-tight">"Users"</h1>
        <div class="mt-4 max-w-md">
            <label for="user-search" class="block text-sm font-medium">"Search users"</label>
            <input
                id="user-search"
                type="search"
                placeholder="Username or name"
                class="mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 dark:border-slate-700 dark:bg-slate-900"
                prop:value=move || search.get()
                on:input=move |ev| search.set(event_target_value(&ev))
            />
        </div>
        <div class="mt-4"><FormError error=error /></div>
        <div class="mt-2 overflow-x-auto rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <Transition fallback=|| view! { <p class="text-slate-500 dark:text-slate-400">"Loading…"</p> }>
                {move || accounts.get().map(|result| match result {
                    Err(failure) => view! { <p role="alert" class="text-sm text-red-700 dark:text-red-300">{failure.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="text-sm text-slate-500 dark:text-slate-400">"No user matches."</p> }.into_any(),
                    Ok(list) => {
                        let me = my_id();
                        let overrides = changed.get();
                        view! {
                            <table class="w-full text-sm">
                                <caption class="sr-only">"Users"</caption>
                                <thead>
                                    <tr class="text-left text-xs text-slate-500 dark:text-slate-400">
                                        <th scope="col" class="pb-2 font-medium">"User"</th>
                                        <th scope="col" class="pb-2 font-medium">"Role"</th>
                                        <th scope="col" class="pb-2 font-medium">"State"</th>
                                        <th scope="col" class="pb-2"><span class="sr-only">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                                    {list.into_iter().map(|account| {
                                        let account = overrides
                                            .iter()
                                            .find(|a| a.user.id == account.user.id)
                                            .cloned()
                                            .unwrap_or(account);
                                        let is_me = me == Some(account.user.id);
                                        view! { <AccountRow account is_me on_change error /> }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                })}
            </Transition>
        </div>
    }
}
