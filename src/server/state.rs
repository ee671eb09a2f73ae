//! Application state shared by every handler and server function. Server only.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::auth::device::DeviceKey;
use crate::auth::password::PasswordHasherPool;
use crate::auth::session::LiveSessions;
use crate::chat::viewers::Viewers;
use crate::integrations::keys::IntegrationKeys;
use crate::push::queue::PushQueue;
use crate::push::vapid::Vapid;
use crate::realtime::bus::Bus;
use crate::realtime::hub::Hub;
use crate::server::config::Config;
use crate::server::rate_limit::{RateLimiter, WindowLimiter};
use crate::server::serve::ConnectionCounts;
use crate::store::Store;
use crate::system::metrics::Metrics;
use crate::topics::hub::TopicHub;

/// What every request can reach: one shared [`AppParts`]. Cloned per
/// request and per middleware layer (axum clones each route's service stack
/// for every request), so a clone is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state of a running server.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

/// The parts of [`AppState`]; all of them handles.
pub struct AppParts {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub store: Store,
    /// Cancelled when the server begins to shut down; long-lived streams end on it.
    pub shutdown: CancellationToken,
    pub started_at: Instant,
    pub hasher: PasswordHasherPool,
    /// Event streams by session, ended when their session ends.
    pub live_sessions: LiveSessions,
    /// Live event-stream connections per user. Read it (who is online,
    /// subscribe); events reach it only through the bus.
    pub hub: Hub,
    /// Where ephemeral signals go (committed events get there through the
    /// store's writer).
    pub bus: Bus,
    /// Publishes per admin or token per minute.
    pub publish_limiter: RateLimiter,
    /// Chat messages per user per minute.
    pub send_limiter: WindowLimiter,
    /// Who is looking at which conversation (no notification for them).
    pub viewers: Viewers,
    /// Delivery counters, latency and history for the status page.
    pub metrics: Metrics,
    /// Open client connections, and those refused by the caps.
    pub connections: Arc<ConnectionCounts>,
    /// Registrations per client address per hour.
    pub registration_limiter: WindowLimiter,
    /// Conversations started per user per minute.
    pub conversation_limiter: RateLimiter,
    /// Group membership changes per user per minute.
    pub membership_limiter: RateLimiter,
    /// Typing signals sent recently, to coalesce them.
    pub typing: crate::chat::typing::TypingGate,
    /// Signs the device cookies that exempt a browser from lockout.
    pub device_key: DeviceKey,
    /// Uploads being received at once.
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Where committed notifications wait for the push sender, and its
    /// counters.
    pub push: PushQueue,
    /// The key pair that signs Web Push requests.
    pub vapid: Vapid,
    /// Integrations' token keys and origins, cached.
    pub integration_keys: IntegrationKeys,
    /// Which stream here listens to which live topic.
    pub topics: TopicHub,
}
