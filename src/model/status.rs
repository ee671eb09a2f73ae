//! The status report behind `GET /api/status` and the admin status page.
//! Both sides: the server builds it, the page draws it.

use serde::{Deserialize, Serialize};

/// Delivery latency from commit to the write on the client's connection,
/// in milliseconds; `None` until something was delivered live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyPercentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One bar of the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBin {
    /// What the bar covers, e.g. "2–5 ms".
    pub label: String,
    pub count: u64,
}

/// Per-second samples over the last minutes, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Seconds between samples.
    pub interval_s: u32,
    /// Stored events committed per second.
    pub published: Vec<u32>,
    /// Stored events written to clients per second.
    pub delivered: Vec<u32>,
    /// Live event streams at each sample.
    pub connections: Vec<u32>,
}

/// The database as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    /// "SQLite" or "PostgreSQL".
    pub kind: String,
    /// Bytes on disk (database and write-ahead log).
    pub size_bytes: u64,
    /// Open pool connections, idle ones, and the pool's limit.
    pub pool_size: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// The latest round trip of a trivial query, and the slowest over the
    /// last minute, in milliseconds.
    pub query_latency_ms: Option<f64>,
    pub query_latency_max_ms: Option<f64>,
    /// Why writes fail right now (`storage_full`), if they do.
    #[serde(default)]
    pub write_fault: Option<String>,
    /// Write transactions run by the writer, the writes in them, and the
    /// most writes one transaction carried (group commit at work).
    #[serde(default)]
    pub write_batches: u64,
    #[serde(default)]
    pub writes: u64,
    #[serde(default)]
    pub largest_write_batch: u64,
    /// Writes run again after PostgreSQL chose them to break a deadlock
    /// with another instance (always 0 on SQLite).
    #[serde(default)]
    pub write_conflicts_retried: u64,
}

/// The server process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// Resident memory in bytes (Linux only).
    pub resident_memory_bytes: Option<u64>,
    /// Open file descriptors, and the most the process may hold.
    pub open_fds: Option<u64>,
    pub fd_limit: Option<u64>,
}

/// A user holding live connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserConnections {
    pub user_id: i64,
    pub username: String,
    pub connections: u64,
}

/// Everything the status page shows. The field names of API.md's minimum
/// (`connections`, `online_users`, `uptime_s`, `events_published_total`,
/// `events_delivered_total`, `delivery_latency_ms`) are part of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Random per process: tells instances behind one load balancer apart
    /// (the name it goes by among the instances of a cluster).
    pub instance_id: String,
    pub version: String,
    pub uptime_s: u64,
    /// Live event streams on this instance.
    pub connections: u64,
    /// Users with at least one live stream on this instance.
    pub online_users: u64,
    /// Stored events committed since start (one per recipient).
    pub events_published_total: u64,
    /// Stored events written to clients since start (live and replayed,
    /// streamed or polled; one per connection).
    pub events_delivered_total: u64,
    /// Over the last 15 minutes.
    pub delivery_latency_ms: LatencyPercentiles,
    pub latency_histogram: Vec<HistogramBin>,
    /// Streams that resumed with a backlog to replay from the store.
    pub replays_served_total: u64,
    /// Clients told to refetch (resume point outside the retained window).
    pub resets_total: u64,
    /// Connections dropped because their queue was full.
    pub slow_consumers_dropped_total: u64,
    /// Streams refused (too many for one user).
    pub connections_refused_total: u64,
    /// Requests answered 429.
    pub rate_limited_total: u64,
    pub history: History,
    pub database: DatabaseStatus,
    pub process: ProcessStatus,
    /// The users with the most live connections, most first.
    pub top_users: Vec<UserConnections>,
    /// The live instances sharing the database (this one included), oldest
    /// first; just this one on SQLite.
    #[serde(default)]
    pub instances: Vec<InstanceStatus>,
    /// Web Push since this instance started.
    #[serde(default)]
    pub push: PushStatus,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub generated_at: chrono::DateTime<chrono::Utc>,
}

/// Web Push as the status page shows it: counters of this instance since
/// it started, and the subscriptions stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushStatus {
    /// Devices subscribed, all users together.
    pub subscriptions: u64,
    /// Pushes a push service accepted.
    pub sent_total: u64,
    /// Pushes given up on (refused, or failing after every retry).
    pub failed_total: u64,
    /// Subscriptions forgotten: gone at their service (404, 410), or
    /// refused too many times in a row.
    pub subscriptions_removed_total: u64,
    /// Pushes dropped because the sender's queue was full.
    pub dropped_total: u64,
    /// Notifications and deliveries waiting or in flight.
    pub queue_depth: u64,
}

/// One instance of those sharing a PostgreSQL database, as it last
/// reported itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub instance_id: String,
    /// Live event streams on that instance.
    pub connections: u64,
    /// Users with a live stream on that instance.
    pub online_users: u64,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Its latest heartbeat (every few seconds while it runs).
    #[serde(deserialize_with = "crate::model::time::read")]
    pub heartbeat_at: chrono::DateTime<chrono::Utc>,
}

/// How the server and its database are doing, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    /// Herald's version.
    pub version: String,
    /// Seconds since this server process started.
    pub uptime_s: u64,
    /// Which database backs the store ("SQLite", "PostgreSQL").
    pub database: String,
    /// Schema migrations applied.
    pub schema_version: i64,
    /// Round-trip time of a trivial query, in milliseconds.
    pub db_latency_ms: f64,
    /// When the check ran (server clock, RFC 3339).
    #[serde(deserialize_with = "crate::model::time::read")]
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

/// One REST route as the admin API reference lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub method: String,
    pub path: String,
    /// The group (`notifications`, `topics`, ...).
    pub tag: String,
    pub summary: String,
    /// The schema of the JSON body it reads.
    pub request: Option<String>,
    /// The success status, and the schema of its JSON body when typed.
    pub status: u16,
    pub response: Option<String>,
}

/// The admin API reference: every route, and the schemas they name as
/// pretty JSON (from the OpenAPI document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiReference {
    pub routes: Vec<RouteInfo>,
    pub schemas: Vec<(String, String)>,
}
