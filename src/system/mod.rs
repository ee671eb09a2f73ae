//! System facts: the dashboard's vital signs, and the admin status report
//! with its metrics, `/api/status` and `/metrics`. Types and server
//! function stubs compile on both sides; `metrics`, `status` and `routes`
//! are server only.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::errors::ApiError;
use crate::system::types::StatusReport;

#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod status;
pub mod types;

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
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

/// Checks the database and reports the server's vital signs, to signed-in
/// users only (version and uptime help an attacker, not a stranger).
#[server(prefix = "/fn", endpoint = "system_info")]
pub async fn system_info() -> Result<SystemReport, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::error::AppError;
    use crate::server::functions;

    let state = functions::state();
    functions::extract::<CurrentUser>(&state).await?;
    let started = std::time::Instant::now();
    let internal = |e: crate::store::StoreError| -> ApiError {
        tracing::error!(error = %e, "system_info: database check failed");
        AppError::Unavailable.into()
    };
    state.store.ping().await.map_err(internal)?;
    let db_latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let schema_version = state.store.schema_version().await.map_err(internal)?;
    Ok(SystemReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.started_at.elapsed().as_secs(),
        database: "SQLite".to_owned(),
        schema_version,
        db_latency_ms,
        checked_at: chrono::Utc::now(),
    })
}

/// The admin status report (admins only), as `GET /api/status` answers it.
#[server(prefix = "/fn", endpoint = "admin/status")]
pub async fn admin_status() -> Result<StatusReport, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let _admin: AdminUser = functions::extract(&state).await?;
    Ok(status::report(&state).await?)
}
