//! REST routes of Web Push (docs/API.md, "Web Push"). Server only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::auth::extract::CurrentUser;
use crate::model::push::{NewPushSubscription, PushDevices, PushKey};
use crate::push::service::{self, Subscription};
use crate::server::error::{ApiJson, AppError, parse_id};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/push/key", get(key))
            .summary("The VAPID public key for pushManager.subscribe"),
        ApiRoute::new(Method::GET, "/api/push/subscriptions", get(list))
            .summary("Your devices subscribed to Web Push"),
        ApiRoute::new(Method::POST, "/api/push/subscriptions", post(subscribe))
            .summary("Subscribe this browser to Web Push (201; 200 when known)")
            .status(StatusCode::CREATED),
        ApiRoute::new(
            Method::DELETE,
            "/api/push/subscriptions/{id}",
            delete(remove),
        )
        .summary("Remove a device")
        .status(StatusCode::NO_CONTENT),
    ]
}

/// The VAPID public key: public by nature, so no sign-in is needed.
async fn key(State(state): State<AppState>) -> Json<PushKey> {
    Json(PushKey {
        public_key: state.vapid.public_key().to_owned(),
    })
}

async fn list(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<PushDevices>, AppError> {
    Ok(Json(service::devices(&state, current.user.id).await?))
}

async fn subscribe(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewPushSubscription>,
) -> Result<impl IntoResponse, AppError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let subscription = Subscription::parse(new, &state.config.push_services, user_agent)?;
    let (device, created) = service::subscribe(&state, current.user.id, subscription).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(serde_json::json!({ "subscription": device }))))
}

async fn remove(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::remove(&state, current.user.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
