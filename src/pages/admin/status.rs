//! `/admin/status`: is real-time delivery healthy? Connections, throughput
//! sparklines over 15 minutes, delivery latency, failure counters, the
//! database, the process and the busiest users, refreshed every 2 s while
//! the page is visible. Both sides (rendered on the server, refreshed in
//! the browser).

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::json::JsonCodec;
use crate::model::status::{HistogramBin, LatencyPercentiles, StatusReport};
use crate::pages::admin::AdminNav;
use crate::realtime::client::{human_size, page_hidden};
use crate::system::admin_status;

/// Seconds the sparklines span (the server keeps this much history).
const HISTORY_SECONDS: usize = 900;
const SPARK_HEIGHT: f64 = 40.0;

fn ms_text(value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(ms) if ms < 10.0 => format!("{ms:.2} ms"),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.2} s", ms / 1000.0),
    }
}

/// Thousands separated by a thin space: "12 345".
fn count_text(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// The one-line verdict at the top of the page.
fn verdict(report: &StatusReport) -> (&'static str, &'static str) {
    let ok = (
        "Delivery healthy",
        "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200",
    );
    let warn = (
        "Delivery slow",
        "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
    );
    let bad = (
        "Database slow",
        "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
    );
    if report.database.write_fault.as_deref() == Some("storage_full") {
        return (
            "Writes failing: storage full",
            "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
        );
    }
    if report
        .database
        .query_latency_max_ms
        .is_some_and(|ms| ms > 1000.0)
    {
        return bad;
    }
    match report.delivery_latency_ms.p99 {
        Some(p99) if p99 > 1000.0 => warn,
        Some(_) => ok,
        None => (
            "No live deliveries yet",
            "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200",
        ),
    }
}

/// The polyline points of `values`, right-aligned on a 15-minute axis.
fn spark_points(values: &[u32]) -> (String, u32) {
    let peak = values.iter().copied().max().unwrap_or(0).max(1);
    let offset = HISTORY_SECONDS.saturating_sub(values.len());
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = offset + i;
            let y = SPARK_HEIGHT - f64::from(*v) / f64::from(peak) * (SPARK_HEIGHT - 2.0) - 1.0;
            format!("{x},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    (points, peak)
}

/// A 15-minute line of per-second values, described in words for screen
/// readers (latest and peak).
#[component]
fn Sparkline(values: Vec<u32>, what: &'static str, testid: &'static str) -> impl IntoView {
    let (points, _) = spark_points(&values);
    // The true peak (the scale's is at least 1, to draw a flat line).
    let peak = values.iter().copied().max().unwrap_or(0);
    let latest = values.last().copied().unwrap_or(0);
    let description = format!("{what} over the last 15 minutes: now {latest}, peak {peak}.");
    view! {
        <svg
            role="img"
            aria-label=description
            data-testid=testid
            class="mt-2 h-10 w-full text-indigo-500"
            viewBox=format!("0 0 {HISTORY_SECONDS} {SPARK_HEIGHT}")
            preserveAspectRatio="none"
        >
            <line x1="0" x2=HISTORY_SECONDS.to_string() y1="39.5" y2="39.5" class="stroke-slate-200 dark:stroke-slate-700" stroke-width="1" vector-effect="non-scaling-stroke" />
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" />
        </svg>
        // The axis, so that a spike at the right edge reads as "just now".
        <p aria-hidden="true" class="flex justify-between text-[0.65rem] text-slate-600 dark:text-slate-400">
            <span>"15 min ago"</span>
            <span>{format!("peak {peak}")}</span>
            <span>"now"</span>
        </p>
    }
}

/// A headline number with a label, an optional detail line and sparkline.
#[component]
fn StatCard(
    label: &'static str,
    value: String,
    testid: &'static str,
    #[prop(optional, into)] detail: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <section class="rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 class="text-sm font-medium text-slate-600 dark:text-slate-400">{label}</h2>
            <p class="mt-1 text-2xl font-semibold tabular-nums" data-testid=testid>{value}</p>
            {detail.map(|d| view! {
                <p class="text-xs text-slate-500 dark:text-slate-400" data-testid=format!("{testid}-detail")>{d}</p>
            })}
            {children.map(|c| c())}
        </section>
    }
}

/// A titled panel of label/value rows.
#[component]
fn FactsPanel(title: &'static str, rows: Vec<(&'static str, String)>) -> impl IntoView {
    view! {
        <section class="rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 class="font-semibold">{title}</h2>
            <dl class="mt-2 divide-y divide-slate-100 text-sm dark:divide-slate-800">
                {rows.into_iter().map(|(label, value)| view! {
                    <div class="flex justify-between gap-4 py-1.5">
                        <dt class="text-slate-600 dark:text-slate-400">{label}</dt>
                        <dd class="text-right font-medium tabular-nums">{value}</dd>
                    </div>
                }).collect_view()}
            </dl>
        </section>
    }
}

#[component]
fn LatencyPanel(latency: LatencyPercentiles, histogram: Vec<HistogramBin>) -> impl IntoView {
    let peak = histogram.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let total: u64 = histogram.iter().map(|b| b.count).sum();
    let percentile = |name: &'static str, value: Option<f64>, testid: &'static str| {
        view! {
            <div class="rounded-lg bg-slate-50 px-3 py-2 dark:bg-slate-800">
                <dt class="text-xs font-medium text-slate-500 dark:text-slate-400">{name}</dt>
                <dd class="text-lg font-semibold tabular-nums" data-testid=testid>{ms_text(value)}</dd>
            </div>
        }
    };
    view! {
        <section class="rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900 lg:col-span-2">
            <h2 class="font-semibold">"Delivery latency"</h2>
            <p class="text-xs text-slate-500 dark:text-slate-400">
                "From the commit of an event to its write on a client's connection, last 15 minutes ("
                {count_text(total)} " live deliveries)."
            </p>
            <dl class="mt-3 grid grid-cols-3 gap-2">
                {percentile("p50", latency.p50, "latency-p50")}
                {percentile("p95", latency.p95, "latency-p95")}
                {percentile("p99", latency.p99, "latency-p99")}
            </dl>
            <table class="mt-3 w-full text-xs" data-testid="latency-histogram">
                <caption class="sr-only">"Deliveries by latency"</caption>
                <thead class="sr-only">
                    <tr><th scope="col">"Latency"</th><th scope="col">"Share"</th><th scope="col">"Deliveries"</th></tr>
                </thead>
                <tbody>
                    {histogram.into_iter().map(|bin| {
                        let width = bin.count as f64 / peak as f64 * 100.0;
                        view! {
                            <tr>
                                <th scope="row" class="w-24 whitespace-nowrap py-0.5 pr-2 text-left font-normal text-slate-600 dark:text-slate-400">{bin.label}</th>
                                <td class="py-0.5" aria-hidden="true">
                                    <div class="h-3 rounded-sm bg-indigo-500" style=format!("width: {width:.1}%; min-width: {}", if bin.count > 0 { "2px" } else { "0" })></div>
                                </td>
                                <td class="w-16 py-0.5 pl-2 text-right tabular-nums">{count_text(bin.count)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

fn last(values: &[u32]) -> u32 {
    values.last().copied().unwrap_or(0)
}

#[component]
fn StatusView(report: StatusReport) -> impl IntoView {
    let (verdict_text, verdict_class) = verdict(&report);
    let history = report.history;
    let own_id = report.instance_id.clone();
    let fds = match (report.process.open_fds, report.process.fd_limit) {
        (Some(open), Some(limit)) => format!("{} of {}", count_text(open), count_text(limit)),
        (Some(open), None) => count_text(open),
        _ => "—".to_owned(),
    };
    let database = report.database;
    let counters = vec![
        ("Replays served", count_text(report.replays_served_total)),
        ("Resets (refetch)", count_text(report.resets_total)),
        (
            "Slow consumers dropped",
            count_text(report.slow_consumers_dropped_total),
        ),
        (
            "Connections refused",
            count_text(report.connections_refused_total),
        ),
        (
            "Rate-limited requests",
            count_text(report.rate_limited_total),
        ),
    ];
    let database_rows = vec![
        ("Engine", database.kind.clone()),
        ("Size", human_size(database.size_bytes)),
        (
            "Pool",
            format!(
                "{} open, {} idle, {} max",
                database.pool_size, database.pool_idle, database.pool_max
            ),
        ),
        ("Query latency", ms_text(database.query_latency_ms)),
        (
            "Slowest, last minute",
            ms_text(database.query_latency_max_ms),
        ),
        (
            "Writes",
            match database.write_fault.as_deref() {
                None => "accepted".to_owned(),
                Some("storage_full") => "failing: the storage is full".to_owned(),
                Some(other) => format!("failing: {other}"),
            },
        ),
        ("Write transactions", {
            let mut text = format!(
                "{} for {} writes (largest {})",
                count_text(database.write_batches),
                count_text(database.writes),
                count_text(database.largest_write_batch)
            );
            if database.write_conflicts_retried > 0 {
                text.push_str(&format!(
                    "; {} run again after a deadlock",
                    count_text(database.write_conflicts_retried)
                ));
            }
            text
        }),
    ];
    let push = report.push;
    let push_rows = vec![
        ("Devices subscribed", count_text(push.subscriptions)),
        ("Pushes sent", count_text(push.sent_total)),
        ("Pushes failed", count_text(push.failed_total)),
        (
            "Devices removed",
            count_text(push.subscriptions_removed_total),
        ),
        ("Dropped (queue full)", count_text(push.dropped_total)),
        ("Waiting or in flight", count_text(push.queue_depth)),
    ];
    let process_rows = vec![
        (
            "Memory (resident)",
            report
                .process
                .resident_memory_bytes
                .map(human_size)
                .unwrap_or_else(|| "—".to_owned()),
        ),
        ("Open files", fds),
    ];
    view! {
        <div class="flex flex-wrap items-center gap-x-4 gap-y-2">
            <span class=format!("rounded-full px-3 py-1 text-sm font-semibold {verdict_class}") data-testid="status-verdict">{verdict_text}</span>
            <p class="text-sm text-slate-600 dark:text-slate-400">
                "Instance " <code data-testid="instance-id" class="font-mono">{report.instance_id}</code>
                " · Herald " {report.version}
                " · up " <span data-testid="uptime">{format_duration(report.uptime_s)}</span>
            </p>
        </div>
        <div class="mt-4 grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
            <StatCard label="Live connections" value=count_text(report.connections) testid="status-connections">
                <Sparkline values=history.connections what="Live connections" testid="sparkline-connections" />
            </StatCard>
            <StatCard label="Online users" value=count_text(report.online_users) testid="status-online-users" />
            <StatCard
                label="Events published / s"
                value=count_text(u64::from(last(&history.published)))
                testid="status-published-rate"
                detail=format!("{} since start", count_text(report.events_published_total))
            >
                <Sparkline values=history.published what="Events published per second" testid="sparkline-published" />
            </StatCard>
            <StatCard
                label="Events delivered / s"
                value=count_text(u64::from(last(&history.delivered)))
                testid="status-delivered-rate"
                detail=format!("{} since start", count_text(report.events_delivered_total))
            >
                <Sparkline values=history.delivered what="Events delivered per second" testid="sparkline-delivered" />
            </StatCard>
        </div>
        <div class="mt-4 grid gap-4 lg:grid-cols-4">
            <LatencyPanel latency=report.delivery_latency_ms histogram=report.latency_histogram />
            <div class="space-y-4">
                <FactsPanel title="Delivery problems" rows=counters />
                <FactsPanel title="Web Push" rows=push_rows />
            </div>
            <div class="space-y-4">
                <FactsPanel title="Database" rows=database_rows />
                <FactsPanel title="Process" rows=process_rows />
            </div>
        </div>
        <section class="mt-4 rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 class="font-semibold">"Instances"</h2>
            <p class="mt-1 text-sm text-slate-500 dark:text-slate-400">
                "Every instance sharing this database, as it last reported itself (every 2 s). The figures above are this instance's."
            </p>
            <div class="overflow-x-auto">
            <table class="mt-2 w-full text-sm" data-testid="instances">
                <thead>
                    <tr class="text-left text-xs text-slate-500 dark:text-slate-400">
                        <th scope="col" class="py-1 font-medium">"Instance"</th>
                        <th scope="col" class="py-1 text-right font-medium">"Connections"</th>
                        <th scope="col" class="py-1 text-right font-medium">"Online users"</th>
                        <th scope="col" class="py-1 text-right font-medium">"Up"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                    {report.instances.into_iter().map(|i| {
                        let this = i.instance_id == own_id;
                        let up = (report.generated_at - i.started_at).num_seconds().max(0) as u64;
                        view! {
                            <tr>
                                <td class="py-1.5 font-mono">
                                    {i.instance_id}
                                    {this.then(|| view! { <span class="ml-2 font-sans text-xs text-slate-500 dark:text-slate-400">"(this one)"</span> })}
                                </td>
                                <td class="py-1.5 text-right tabular-nums">{count_text(i.connections)}</td>
                                <td class="py-1.5 text-right tabular-nums">{count_text(i.online_users)}</td>
                                <td class="py-1.5 text-right tabular-nums">{format_duration(up)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
        <section class="mt-4 rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h2 class="font-semibold">"Most connections"</h2>
            {if report.top_users.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500 dark:text-slate-400">"Nobody is connected."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-2 w-full text-sm" data-testid="top-users">
                        <thead>
                            <tr class="text-left text-xs text-slate-500 dark:text-slate-400">
                                <th scope="col" class="py-1 font-medium">"User"</th>
                                <th scope="col" class="py-1 text-right font-medium">"Connections"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                            {report.top_users.into_iter().map(|u| view! {
                                <tr>
                                    <td class="py-1.5">{u.username}</td>
                                    <td class="py-1.5 text-right tabular-nums">{count_text(u.connections)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// The instance's open streams and users online as the `herald:status`
/// topic pushes them the moment they change (between the 2-second
/// refreshes), over a stream of this page's own. Browser only; `None`
/// until the first value.
fn live_figures() -> RwSignal<Option<(u64, u64)>> {
    let live = RwSignal::new(None);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;

        use crate::model::topic::{STATUS_TOPIC, TopicUpdate};

        let url = format!("/api/events?topics={STATUS_TOPIC}");
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on_topic = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let update = event
                    .data()
                    .as_string()
                    .and_then(|data| crate::model::json::from_str::<TopicUpdate>(&data).ok());
                if let Some(update) = update.filter(|u| u.topic == STATUS_TOPIC) {
                    let streams = update.value["streams"].as_u64().unwrap_or(0);
                    let online = update.value["users_online"].as_u64().unwrap_or(0);
                    live.set(Some((streams, online)));
                }
            },
        );
        let _ = source.add_event_listener_with_callback("topic", on_topic.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, on_topic));
        on_cleanup(move || held.0.close());
    });
    live
}

/// `/admin/status`.
#[component]
pub fn StatusPage() -> impl IntoView {
    let live = live_figures();
    let refresh = RwSignal::new(0u64);
    let report = Resource::<_, JsonCodec>::new_with_options(
        move || refresh.get(),
        |_| admin_status(),
        false,
    );

    // Browser only: refresh every 2 s while the page is visible.
    Effect::new(move |_| {
        let timer = set_interval_with_handle(
            move || {
                if !page_hidden() {
                    refresh.update(|n| *n += 1);
                }
            },
            Duration::from_secs(2),
        );
        on_cleanup(move || {
            if let Ok(handle) = timer {
                handle.clear();
            }
        });
    });

    view! {
        <Title text="Status" />
        <AdminNav />
        <h1 class="text-2xl font-bold tracking-tight">"Status"</h1>
        <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">"This instance, refreshed every 2 seconds."</p>
        {move || live.get().map(|(streams, online)| view! {
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400" data-testid="live-figures">
                "Right now: " <span class="font-semibold tabular-nums" data-testid="live-streams">{count_text(streams)}</span>
                " open streams, " <span class="font-semibold tabular-nums" data-testid="live-online">{count_text(online)}</span>
                " users online (live, this page's own stream included)."
            </p>
        })}
        <div class="mt-4">
            <Transition fallback=|| view! { <p class="text-slate-500 dark:text-slate-400">"Loading…"</p> }>
                {move || report.get().map(|result| match result {
                    Ok(report) => view! { <StatusView report /> }.into_any(),
                    Err(error) => view! {
                        <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
                            "The status could not be loaded: " {error.message}
                        </p>
                    }.into_any(),
                })}
            </Transition>
        </div>
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
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(42), "42 s");
        assert_eq!(format_duration(125), "2 min 5 s");
        assert_eq!(format_duration(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(format_duration(2 * 86_400 + 5 * 3600), "2 d 5 h");
        assert_eq!(format_duration(250), "4 min 10 s");
        assert_eq!(format_duration(7_500), "2 h 5 min");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3_600), "3 d 4 h");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count_text(7), "7");
        assert_eq!(count_text(12_345), "12\u{2009}345");
        assert_eq!(count_text(1_000_000), "1\u{2009}000\u{2009}000");
    }

    #[test]
    fn sparklines_are_right_aligned_and_scaled_to_the_peak() {
        let (points, peak) = spark_points(&[0, 5, 10]);
        assert_eq!(peak, 10);
        assert_eq!(points, "897,39.0 898,20.0 899,1.0");
    }
}
