//! Building the status report and the sampler that feeds its history.
//! Server only.

use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

use crate::model::status::{
    DatabaseStatus, InstanceStatus, ProcessStatus, PushStatus, StatusReport, UserConnections,
};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::system::metrics::{PrometheusValues, Totals, process_figures};

/// Users listed under "most connections".
const TOP_USERS: usize = 10;

fn published_total(state: &AppState) -> u64 {
    state
        .hub
        .counters()
        .frames_announced
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Samples the counters every second (the sparklines), takes the latency
/// snapshot every minute, times a trivial query every second, and keeps the
/// Prometheus histogram drained. Runs until shutdown.
pub fn spawn_sampler(state: AppState) {
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        every_second.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                _ = every_second.tick() => {}
            }
            let metrics = &state.metrics;
            metrics.tick(Totals {
                published: published_total(&state),
                connections: state.hub.connections() as u64,
            });
            if ticks.is_multiple_of(60) {
                metrics.tick_minute();
            }
            if ticks.is_multiple_of(5) {
                metrics.upkeep();
            }
            ticks += 1;
            let started = Instant::now();
            match state.store.ping().await {
                Ok(()) => metrics.query_latency(started.elapsed()),
                Err(error) => tracing::warn!(%error, "status sampler: database ping failed"),
            }
        }
    });
}

/// The report of `GET /api/status` and the status page.
pub async fn report(state: &AppState) -> Result<StatusReport, AppError> {
    let metrics = &state.metrics;
    let counters = state.hub.counters();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let top = state.hub.top_users(TOP_USERS);
    let ids: Vec<i64> = top.iter().map(|(id, _)| *id).collect();
    let names = state.store.usernames(&ids).await?;
    let top_users = top
        .iter()
        .map(|(user_id, connections)| UserConnections {
            user_id: *user_id,
            username: names
                .iter()
                .find(|(id, _)| id == user_id)
                .map(|(_, name)| name.clone())
                .unwrap_or_default(),
            connections: *connections as u64,
        })
        .collect();
    let (pool_size, pool_idle, pool_max) = state.store.pool_use();
    let writer = state.store.writer_health();
    let (write_batches, writes, largest_write_batch) = writer.batches();
    let (query_latency_ms, query_latency_max_ms) = metrics.query_latency_ms();
    let (resident_memory_bytes, open_fds, fd_limit) = process_figures();
    let (delivery_latency_ms, latency_histogram) = metrics.latency();
    let instances = instances(state).await?;
    Ok(StatusReport {
        instance_id: state.store.node_id().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: metrics.uptime().as_secs(),
        connections: state.hub.connections() as u64,
        online_users: state.hub.online_users() as u64,
        events_published_total: published_total(state),
        events_delivered_total: metrics.delivered_total(),
        delivery_latency_ms,
        latency_histogram,
        replays_served_total: metrics.replays_total(),
        resets_total: metrics.resets_total(),
        slow_consumers_dropped_total: load(&counters.slow_consumers_dropped),
        connections_refused_total: load(&counters.connections_refused)
            + state.connections.refused(),
        rate_limited_total: metrics.rate_limited_total(),
        history: metrics.history(),
        database: DatabaseStatus {
            kind: state.store.backend().title().to_owned(),
            size_bytes: state.store.size_bytes().await?,
            pool_size,
            pool_idle,
            pool_max,
            query_latency_ms,
            query_latency_max_ms,
            write_fault: writer.fault().map(|fault| fault.code().to_owned()),
            write_batches,
            writes,
            largest_write_batch,
            write_conflicts_retried: writer.conflicts_retried(),
        },
        process: ProcessStatus {
            resident_memory_bytes,
            open_fds,
            fd_limit,
        },
        top_users,
        instances,
        push: push_status(state).await?,
        generated_at: chrono::Utc::now(),
    })
}

/// The push sender's counters and the subscriptions stored.
async fn push_status(state: &AppState) -> Result<PushStatus, AppError> {
    let stats = state.push.stats();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    Ok(PushStatus {
        subscriptions: u64::try_from(state.store.push_subscription_count().await?).unwrap_or(0),
        sent_total: load(&stats.sent),
        failed_total: load(&stats.failed),
        subscriptions_removed_total: load(&stats.removed),
        dropped_total: load(&stats.dropped),
        queue_depth: stats.queue_depth(),
    })
}

/// The live instances sharing the database; on SQLite just this one.
async fn instances(state: &AppState) -> Result<Vec<InstanceStatus>, AppError> {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let now = crate::server::clock::now_ms();
    let mut instances: Vec<InstanceStatus> = state
        .store
        .live_instances(now - crate::store::INSTANCE_SILENT_MS)
        .await?
        .into_iter()
        .map(
            |(instance_id, started_at, heartbeat_at, connections, online_users)| InstanceStatus {
                instance_id,
                connections: u64::try_from(connections).unwrap_or(0),
                online_users: u64::try_from(online_users).unwrap_or(0),
                started_at: time(started_at),
                heartbeat_at: time(heartbeat_at),
            },
        )
        .collect();
    // This instance's own figures are live, not a heartbeat old.
    let uptime_ms = i64::try_from(state.started_at.elapsed().as_millis()).unwrap_or(0);
    let own = InstanceStatus {
        instance_id: state.store.node_id().to_owned(),
        connections: state.hub.connections() as u64,
        online_users: state.hub.online_users() as u64,
        started_at: time(now - uptime_ms),
        heartbeat_at: time(now),
    };
    match instances
        .iter_mut()
        .find(|i| i.instance_id == own.instance_id)
    {
        Some(listed) => *listed = own,
        None => instances.push(own),
    }
    Ok(instances)
}

/// The Prometheus text of `GET /metrics`.
pub async fn prometheus(state: &AppState) -> Result<String, AppError> {
    let counters = state.hub.counters();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let (pool_size, pool_idle, _) = state.store.pool_use();
    let (resident_memory_bytes, open_fds, _) = process_figures();
    Ok(state.metrics.render_prometheus(&PrometheusValues {
        published: published_total(state),
        slow_consumers_dropped: load(&counters.slow_consumers_dropped),
        connections_refused: load(&counters.connections_refused) + state.connections.refused(),
        connections: state.hub.connections() as u64,
        online_users: state.hub.online_users() as u64,
        database_size_bytes: state.store.size_bytes().await?,
        pool_size,
        pool_idle,
        resident_memory_bytes,
        open_fds,
        push: push_status(state).await?,
        topic_values_published: load(&state.topics.counters.published),
        topic_values_delivered: load(&state.topics.counters.delivered),
        topics_subscribed: state.topics.sizes().1 as u64,
    }))
}
