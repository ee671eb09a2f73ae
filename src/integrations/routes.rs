//! REST routes for host applications (docs/API.md, "Embedding"):
//! provisioned users by external id, integrations, connection tokens. All
//! need an API token (or an admin's session). Server only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post, put};

use crate::auth::extract::Publisher;
use crate::integrations::service::{self, IntegrationRequest, MintRequest, ProvisionRequest};
use crate::model::integration::{
    ConnectionToken, ExternalId, ExternalUser, Integration, IntegrationName,
};
use crate::server::error::{ApiJson, AppError};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(
            Method::GET,
            "/api/external-users/{external_id}",
            get(show_user),
        )
        .summary("A provisioned user, by the host app's id")
        .answers::<ExternalUser>(StatusCode::OK),
        ApiRoute::new(
            Method::PUT,
            "/api/external-users/{external_id}",
            put(provision_user),
        )
        .summary("Create (201) or update (200) a provisioned user")
        .accepts::<ProvisionRequest>()
        .answers::<ExternalUser>(StatusCode::OK),
        ApiRoute::new(
            Method::DELETE,
            "/api/external-users/{external_id}",
            delete(delete_user),
        )
        .summary("Delete a provisioned user and all that is theirs; ends their streams")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/integrations", get(list_integrations))
            .summary("Integrations (no secrets)"),
        ApiRoute::new(Method::POST, "/api/integrations", post(create_integration))
            .summary("Create an integration; its secret is in this answer only")
            .accepts::<IntegrationRequest>()
            .answers::<Integration>(StatusCode::CREATED),
        ApiRoute::new(
            Method::PATCH,
            "/api/integrations/{name}",
            patch(update_integration),
        )
        .summary("Change an integration's origins or rotate its secret")
        .accepts::<IntegrationRequest>()
        .answers::<Integration>(StatusCode::OK),
        ApiRoute::new(
            Method::DELETE,
            "/api/integrations/{name}",
            delete(delete_integration),
        )
        .summary("Delete an integration; its tokens stop working")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::POST, "/api/connection-tokens", post(mint_token))
            .summary("Mint a connection token for a provisioned user")
            .accepts::<MintRequest>()
            .answers::<ConnectionToken>(StatusCode::CREATED),
    ]
}

fn integration_name(name: &str) -> Result<IntegrationName, AppError> {
    IntegrationName::parse(name).map_err(AppError::from)
}

async fn show_user(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(external_id): Path<String>,
) -> Result<Json<ExternalUser>, AppError> {
    let external_id = ExternalId::parse(&external_id)?;
    let user = state
        .store
        .external_user(&external_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(user))
}

/// 201 with the user when created, 200 when updated.
async fn provision_user(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(external_id): Path<String>,
    ApiJson(request): ApiJson<ProvisionRequest>,
) -> Result<(StatusCode, Json<ExternalUser>), AppError> {
    let external_id = ExternalId::parse(&external_id)?;
    let (user, created) = service::provision(&state, external_id, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(user)))
}

async fn delete_user(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(external_id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::delete_user(&state, &ExternalId::parse(&external_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_integrations(
    State(state): State<AppState>,
    _publisher: Publisher,
) -> Result<Json<serde_json::Value>, AppError> {
    let integrations = state.store.integrations().await?;
    Ok(Json(serde_json::json!({ "integrations": integrations })))
}

async fn create_integration(
    State(state): State<AppState>,
    _publisher: Publisher,
    ApiJson(request): ApiJson<IntegrationRequest>,
) -> Result<(StatusCode, Json<Integration>), AppError> {
    let integration = service::create_integration(&state, request).await?;
    Ok((StatusCode::CREATED, Json(integration)))
}

async fn update_integration(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<IntegrationRequest>,
) -> Result<Json<Integration>, AppError> {
    let name = integration_name(&name)?;
    Ok(Json(
        service::update_integration(&state, &name, request).await?,
    ))
}

async fn delete_integration(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    service::delete_integration(&state, &integration_name(&name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mint_token(
    State(state): State<AppState>,
    _publisher: Publisher,
    ApiJson(request): ApiJson<MintRequest>,
) -> Result<(StatusCode, Json<ConnectionToken>), AppError> {
    let token = service::mint(&state, request).await?;
    Ok((StatusCode::CREATED, Json(token)))
}
