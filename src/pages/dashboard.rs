//! The dashboard: the signed-in user's home. Both sides.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::system::{SystemReport, system_info};

/// Home page.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard" />
        <h1 class="text-2xl font-bold tracking-tight">"Dashboard"</h1>
        <p class="mt-1 text-slate-600 dark:text-slate-400">
            "Notifications and messages arrive here the moment they are sent."
        </p>
        <div class="mt-6 grid gap-4 md:grid-cols-2">
            <SystemCard />
        </div>
    }
}

/// Server and database health, re-checked on demand.
#[component]
fn SystemCard() -> impl IntoView {
    let (checks, set_checks) = signal(0_u32);
    let info = Resource::new(move || checks.get(), |_| system_info());

    view! {
        <section aria-labelledby="system-heading" class="rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <div class="flex items-center justify-between gap-4">
                <h2 id="system-heading" class="font-semibold">"Server"</h2>
                <button
                    type="button"
                    class="rounded-md border border-slate-300 px-3 py-1 text-sm font-medium hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-slate-700 dark:hover:bg-slate-800"
                    on:click=move |_| set_checks.update(|n| *n += 1)
                >
                    "Check now"
                </button>
            </div>
            <div aria-live="polite" data-testid="system-status" class="mt-3 text-sm">
                <Transition fallback=|| view! { <p class="text-slate-500">"Checking…"</p> }>
                    {move || info.get().map(|result| match result {
                        Ok(info) => view! { <SystemFacts info /> }.into_any(),
                        Err(error) => view! {
                            <p class="text-red-700 dark:text-red-300">"Unreachable: " {error.to_string()}</p>
                        }.into_any(),
                    })}
                </Transition>
            </div>
        </section>
    }
}

#[component]
fn SystemFacts(info: SystemReport) -> impl IntoView {
    let checked = info.checked_at.format("%H:%M:%S%.3f UTC").to_string();
    view! {
        <dl class="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1">
            <dt class="text-slate-500 dark:text-slate-400">"Status"</dt>
            <dd class="font-medium text-emerald-700 dark:text-emerald-400">"Operational"</dd>
            <dt class="text-slate-500 dark:text-slate-400">"Database"</dt>
            <dd>{format!("{} (schema {}), answered in {:.2} ms", info.database, info.schema_version, info.db_latency_ms)}</dd>
            <dt class="text-slate-500 dark:text-slate-400">"Version"</dt>
            <dd>{info.version}</dd>
            <dt class="text-slate-500 dark:text-slate-400">"Up for"</dt>
            <dd>{format_duration(info.uptime_s)}</dd>
            <dt class="text-slate-500 dark:text-slate-400">"Checked"</dt>
            <dd data-testid="checked-at">{checked}</dd>
        </dl>
    }
}

/// "3 d 4 h", "5 h 2 min", "42 s": the two largest units.
pub fn format_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(42), "42 s");
        assert_eq!(format_duration(125), "2 min 5 s");
        assert_eq!(format_duration(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(format_duration(2 * 86_400 + 5 * 3600), "2 d 5 h");
        assert_eq!(format_duration(12), "12 s");
        assert_eq!(format_duration(250), "4 min 10 s");
        assert_eq!(format_duration(7_500), "2 h 5 min");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3_600), "3 d 4 h");
    }
}
