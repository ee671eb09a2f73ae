//! System facts: the dashboard's vital signs, and the admin status report
//! with its metrics, `/api/status` and `/metrics`. Types and server
//! function stubs compile on both sides; `metrics`, `status` and `routes`
//! are server only.

use leptos::prelude::*;

use crate::model::error::ApiError;
pub use crate::model::status::SystemReport;
use crate::model::status::{ApiReference, StatusReport};

#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod status;

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
        database: state.store.backend().title().to_owned(),
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

/// Every REST route with its summary and schemas, for the admin API
/// reference page (admins only; `/api/openapi.json` is the same for
/// programs).
#[server(prefix = "/fn", endpoint = "admin/api_reference")]
pub async fn load_api_reference() -> Result<ApiReference, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::error::AppError;
    use crate::server::functions;

    let state = functions::state();
    // Read before the first await: a server function called while the page
    // renders may resume without the request's context.
    let parts = use_context::<axum::http::request::Parts>();
    let _admin: AdminUser = functions::extract(&state).await?;
    // Built once by the router from its route list (`server::openapi`).
    let reference = parts
        .as_ref()
        .and_then(|parts| {
            parts
                .extensions
                .get::<std::sync::Arc<ApiReference>>()
                .cloned()
        })
        .ok_or_else(|| {
            AppError::Internal(format!(
                "the API reference is not attached to {:?}",
                parts.as_ref().map(|p| (&p.method, &p.uri))
            ))
        })?;
    Ok(ApiReference::clone(&reference))
}
