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
    use crate::model::status::RouteInfo;
    use crate::server::functions;

    let state = functions::state();
    let _admin: AdminUser = functions::extract(&state).await?;
    let routes = crate::server::router::api_routes();
    let document = crate::server::openapi::document(&routes);
    let mut infos: Vec<RouteInfo> = routes
        .iter()
        .map(|route| RouteInfo {
            method: route.method.to_string(),
            path: route.path.to_owned(),
            tag: crate::server::openapi::tag_of(route.path),
            summary: route.doc.summary.unwrap_or_default().to_owned(),
            request: route.doc.request.as_ref().map(|r| r.name.clone()),
            status: route
                .doc
                .response
                .as_ref()
                .map_or(route.doc.status, |(s, _)| *s),
            response: route.doc.response.as_ref().map(|(_, r)| r.name.clone()),
        })
        .collect();
    infos.sort_by(|a, b| (&a.tag, &a.path, &a.method).cmp(&(&b.tag, &b.path, &b.method)));
    let schemas = document
        .components
        .map(|components| {
            components
                .schemas
                .into_iter()
                .map(|(name, schema)| {
                    let json = serde_json::to_string_pretty(&schema).unwrap_or_default();
                    (name, json)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ApiReference {
        routes: infos,
        schemas,
    })
}
