//! Event retention: prunes the log by age and per-user count, on a timer.
//! Clients resuming from before the retained window get a `reset`. Server
//! only.

use std::time::Duration;

use crate::server::clock::now_ms;
use crate::server::state::AppState;

/// Runs retention once now and then every configured interval until shutdown.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.event_retention_interval_secs.get());
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            run_once(&state).await;
        }
    });
}

/// Prunes what is past the configured age and count.
pub async fn run_once(state: &AppState) {
    let max_age_ms = i64::from(state.config.event_retention_days.get()) * 86_400_000;
    let keep = i64::from(state.config.event_retention_per_user.get());
    match state.store.prune_events(now_ms() - max_age_ms, keep).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "event retention pruned the log"),
        Err(error) => tracing::warn!(%error, "event retention failed"),
    }
    crate::chat::service::prune_unsent_uploads(state).await;
    if let Err(error) = state.store.prune_idempotency_keys(now_ms()).await {
        tracing::warn!(%error, "pruning idempotency keys failed");
    }
    let keep = state.config.max_topic_values.get();
    if let Err(error) = state.store.prune_topic_values(now_ms(), keep).await {
        tracing::warn!(%error, "pruning topic values failed");
    }
    if let Err(error) = state.store.prune_rate_limits().await {
        tracing::warn!(%error, "pruning shared rate limits failed");
    }
}
