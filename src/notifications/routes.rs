//! REST routes of "Notifications" in API.md. Server only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;

use crate::auth::extract::{CurrentUser, Publisher, Recipient};
use crate::model::notification::{
    Category, NotificationPage, NotificationQuery, Preferences, Priority,
};
use crate::notifications::service::{self, PublishRequest};
use crate::server::clock::now_ms;
use crate::server::error::{ApiJson, ApiQuery, AppError, parse_id};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;
use crate::store::notifications::Idempotency;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/notifications", get(list))
            .summary("Your notifications, newest first, with the unread count")
            .answers::<crate::model::notification::NotificationPage>(StatusCode::OK),
        ApiRoute::new(Method::POST, "/api/notifications", post(publish))
            .summary("Publish a notification to users, everyone, a channel or external ids")
            .accepts::<service::PublishRequest>()
            .answers::<service::Published>(StatusCode::ACCEPTED),
        ApiRoute::new(
            Method::POST,
            "/api/notifications/batch",
            post(publish_batch),
        )
        .summary(
            "Publish up to 1,000 notifications, each with its own audience, in one transaction",
        )
        .status(StatusCode::ACCEPTED),
        ApiRoute::new(
            Method::POST,
            "/api/notifications/{id}/read",
            post(mark_read),
        )
        .summary("Mark a notification read")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(
            Method::POST,
            "/api/notifications/read-all",
            post(mark_all_read),
        )
        .summary("Mark all (or one category's) notifications read")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/notifications/{id}", get(show))
            .summary("One of your notifications"),
        ApiRoute::new(Method::DELETE, "/api/notifications/{id}", delete(remove))
            .summary("Delete one of your notifications")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/preferences", get(preferences))
            .summary("Your notification preferences")
            .answers::<crate::model::notification::Preferences>(StatusCode::OK),
        ApiRoute::new(
            Method::PUT,
            "/api/preferences",
            axum::routing::put(save_preferences),
        )
        .summary("Save your notification preferences")
        .accepts::<crate::model::notification::Preferences>()
        .answers::<crate::model::notification::Preferences>(StatusCode::OK),
    ]
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    category: Option<String>,
    priority: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

fn optional<T>(
    value: Option<&str>,
    field: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, AppError> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => parse(text)
            .map(Some)
            .ok_or_else(|| AppError::validation(field, format!("{field} {text:?} is not valid"))),
    }
}

async fn list(
    State(state): State<AppState>,
    current: Recipient,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<NotificationPage>, AppError> {
    let unread_only = match query.status.as_deref() {
        None | Some("") | Some("all") => false,
        Some("unread") => true,
        Some(_) => {
            return Err(AppError::validation(
                "status",
                "status must be all or unread",
            ));
        }
    };
    let query = NotificationQuery {
        unread_only,
        category: optional(query.category.as_deref(), "category", Category::parse)?,
        priority: optional(query.priority.as_deref(), "priority", Priority::parse)?,
        before: optional(query.before.as_deref(), "before", |t| t.parse::<i64>().ok())?,
        limit: optional(query.limit.as_deref(), "limit", |t| t.parse::<u32>().ok())?,
    };
    Ok(Json(
        service::list_page(&state, current.user.id, &query).await?,
    ))
}

async fn publish(
    State(state): State<AppState>,
    publisher: Publisher,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PublishRequest>,
) -> Result<Response, AppError> {
    service::check_publish_rate(&state, &publisher, 1).await?;
    let publish = request.parse(&publisher, &state.config.action_origins)?;
    idempotent(
        &state,
        &publisher,
        &headers,
        service::publish(&state, &publish),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    /// Each one a publish request; checked one by one.
    notifications: Vec<serde_json::Value>,
}

async fn publish_batch(
    State(state): State<AppState>,
    publisher: Publisher,
    headers: HeaderMap,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Response, AppError> {
    let batch = service::publish_batch(&state, &publisher, request.notifications);
    idempotent(&state, &publisher, &headers, batch).await
}

/// Runs a publish once per `Idempotency-Key` (when the request has one):
/// a retry gets the first answer, a retry while the first still runs gets
/// 409, and a publish that failed frees the key for the next try. The
/// answer is 202 with `work`'s JSON.
async fn idempotent<T: serde::Serialize>(
    state: &AppState,
    publisher: &Publisher,
    headers: &HeaderMap,
    work: impl Future<Output = Result<T, AppError>>,
) -> Result<Response, AppError> {
    let work = async {
        let done = work.await?;
        serde_json::to_value(&done).map_err(|e| AppError::Internal(e.to_string()))
    };
    let caller = publisher.key();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let Some(key) = key else {
        return Ok((StatusCode::ACCEPTED, Json(work.await?)).into_response());
    };
    if key.len() > 200 {
        return Err(AppError::validation(
            "Idempotency-Key",
            "Idempotency-Key must be at most 200 characters.",
        ));
    }
    match state
        .store
        .reserve_idempotency_key(&caller, &key, now_ms())
        .await?
    {
        Idempotency::Reserved => {}
        Idempotency::InProgress => {
            return Err(AppError::Conflict {
                code: "idempotency_in_progress",
                message: "A request with this Idempotency-Key is still being processed.".into(),
                field: None,
            });
        }
        Idempotency::Done { status, response } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
            let body: serde_json::Value =
                serde_json::from_str(&response).map_err(|e| AppError::Internal(e.to_string()))?;
            return Ok((status, Json(body)).into_response());
        }
    }
    match work.await {
        Ok(body) => {
            state
                .store
                .complete_idempotency_key(
                    &caller,
                    &key,
                    StatusCode::ACCEPTED.as_u16(),
                    &body.to_string(),
                )
                .await?;
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Err(error) => {
            // Nothing (or only whole batches) written: let a retry run again.
            state.store.release_idempotency_key(&caller, &key).await?;
            Err(error)
        }
    }
}

async fn mark_read(
    State(state): State<AppState>,
    current: Recipient,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::mark_read(&state, current.user.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadAll {
    category: Option<Category>,
}

async fn mark_all_read(
    State(state): State<AppState>,
    current: Recipient,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    // The body is optional: `{}`, `{"category": ...}` or nothing at all.
    let input: ReadAll = if body.iter().all(u8::is_ascii_whitespace) {
        ReadAll::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::Validation {
            message: format!("Invalid JSON body: {e}"),
            field: None,
        })?
    };
    service::mark_all_read(&state, current.user.id, input.category).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"notification"}`: one of the caller's notifications (the service
/// worker asks whether a pushed one was read meanwhile).
async fn show(
    State(state): State<AppState>,
    current: Recipient,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let notification = state
        .store
        .notification(current.user.id, parse_id(&id)?)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(serde_json::json!({ "notification": notification })))
}

async fn remove(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::delete(&state, current.user.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn preferences(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Preferences>, AppError> {
    Ok(Json(state.store.preferences(current.user.id).await?))
}

async fn save_preferences(
    State(state): State<AppState>,
    current: CurrentUser,
    ApiJson(preferences): ApiJson<Preferences>,
) -> Result<Json<Preferences>, AppError> {
    Ok(Json(
        service::save_preferences(&state, current.user.id, preferences).await?,
    ))
}
