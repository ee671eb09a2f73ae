//! `/admin/api`: the API reference for integrators, rendered from the same
//! route list and model schemas as `/api/openapi.json`: every route by
//! group with its summary, the body it reads and what it answers, and the
//! schemas below. Both sides (rendered on the server).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::json::JsonCodec;
use crate::model::status::{ApiReference, RouteInfo};
use crate::pages::admin::AdminNav;
use crate::system::load_api_reference;

fn method_class(method: &str) -> &'static str {
    match method {
        "GET" => "bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200",
        "POST" => "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
        "PUT" | "PATCH" => "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
        _ => "bg-rose-100 text-rose-900 dark:bg-rose-950 dark:text-rose-200",
    }
}

fn schema_link(name: Option<String>) -> impl IntoView {
    name.map(|name| {
        let href = format!("#schema-{name}");
        view! { <a class="font-mono text-indigo-700 underline dark:text-indigo-300" href=href>{name}</a> }
    })
}

#[component]
fn RouteRow(route: RouteInfo) -> impl IntoView {
    view! {
        <tr class="border-t border-slate-200 align-top dark:border-slate-800" data-testid="api-route">
            <td class="py-2 pr-2">
                <span class=format!("rounded px-1.5 py-0.5 font-mono text-xs font-semibold {}", method_class(&route.method))>{route.method.clone()}</span>
            </td>
            <td class="break-all py-2 pr-2 font-mono text-xs">{route.path.clone()}</td>
            <td class="py-2 pr-2">{route.summary.clone()}</td>
            <td class="py-2 pr-2 text-xs">{schema_link(route.request.clone())}</td>
            <td class="py-2 text-xs">
                <span class="tabular-nums">{route.status}</span>
                " "
                {schema_link(route.response.clone())}
            </td>
        </tr>
    }
}

#[component]
fn Reference(reference: ApiReference) -> impl IntoView {
    let mut groups: Vec<(String, Vec<RouteInfo>)> = Vec::new();
    for route in reference.routes {
        match groups.last_mut() {
            Some((tag, routes)) if *tag == route.tag => routes.push(route),
            _ => groups.push((route.tag.clone(), vec![route])),
        }
    }
    view! {
        {groups.into_iter().map(|(tag, routes)| {
            let heading = format!("api-group-{tag}");
            let labelled_by = heading.clone();
            view! {
                <section class="mt-6" aria-labelledby=labelled_by>
                    <h2 id=heading class="text-lg font-semibold">{tag}</h2>
                    <div class="overflow-x-auto">
                        <table class="mt-2 w-full text-sm">
                            <thead class="text-left text-xs uppercase text-slate-500 dark:text-slate-400">
                                <tr>
                                    <th scope="col" class="pr-2">"Method"</th>
                                    <th scope="col" class="pr-2">"Path"</th>
                                    <th scope="col" class="pr-2">"What it does"</th>
                                    <th scope="col" class="pr-2">"Body"</th>
                                    <th scope="col">"Answer"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {routes.into_iter().map(|route| view! { <RouteRow route /> }.into_any()).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </section>
            }
            .into_any()
        }).collect_view()}
        <section class="mt-8" aria-labelledby="api-schemas">
            <h2 id="api-schemas" class="text-lg font-semibold">"Schemas"</h2>
            {reference.schemas.into_iter().map(|(name, json)| {
                let anchor = format!("schema-{name}");
                view! {
                <details id=anchor class="mt-2 rounded-md border border-slate-200 dark:border-slate-800">
                    <summary class="cursor-pointer px-3 py-2 font-mono text-sm">{name}</summary>
                    <pre class="overflow-x-auto px-3 pb-3 text-xs">{json}</pre>
                </details>
                }
                .into_any()
            }).collect_view()}
        </section>
    }
    .into_any()
}

/// `/admin/api`.
#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference =
        Resource::<_, JsonCodec>::new_with_options(|| (), |_| load_api_reference(), false);
    view! {
        <Title text="API reference" />
        <AdminNav />
        <h1 class="text-2xl font-bold tracking-tight">"API reference"</h1>
        <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
            "Every REST route of this server. Programs read the same as OpenAPI 3.1 at "
            <a class="font-mono text-indigo-700 underline dark:text-indigo-300" href="/api/openapi.json" rel="external">"/api/openapi.json"</a>
            "; errors are " <code class="font-mono">"{\"error\": {\"code\", \"message\", \"field\"?}}"</code> "."
        </p>
        <Transition fallback=|| view! { <p class="mt-4 text-slate-500 dark:text-slate-400">"Loading…"</p> }>
            {move || reference.get().map(|result| match result {
                Ok(reference) => view! { <Reference reference /> }.into_any(),
                Err(error) => view! {
                    <p role="alert" class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
                        "The reference could not be loaded: " {error.message}
                    </p>
                }.into_any(),
            })}
        </Transition>
    }
}
