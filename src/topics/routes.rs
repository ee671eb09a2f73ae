//! REST routes of live topics (docs/API.md, "Topics"): host apps set a
//! topic's latest value with their API token; a stream's owner changes its
//! topics by naming its `connection_id`. Server only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;

use crate::auth::extract::{Publisher, Recipient};
use crate::model::topic::{TopicName, TopicUpdate};
use crate::server::clock::now_ms;
use crate::server::error::{ApiJson, ApiQuery, AppError};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;
use crate::topics::service::{self, Changed};

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/topics/{topic}", get(show))
            .summary("A topic's latest value")
            .answers::<crate::model::topic::TopicUpdate>(StatusCode::OK),
        ApiRoute::new(Method::PUT, "/api/topics/{topic}", put(publish))
            .summary("Set a topic's latest value (the body is the value, any JSON up to 4 KiB)"),
        ApiRoute::new(Method::DELETE, "/api/topics/{topic}", delete(clear))
            .summary("Clear a topic's value")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(
            Method::POST,
            "/api/topics/subscriptions",
            post(change_subscriptions),
        )
        .summary("Change the topics of one of your open streams (by connection_id)")
        .accepts::<ChangeRequest>(),
    ]
}

fn topic_name(name: &str) -> Result<TopicName, AppError> {
    TopicName::parse(name).map_err(AppError::from)
}

#[derive(Debug, Deserialize)]
struct PublishQuery {
    ttl_secs: Option<String>,
}

/// The body is the value itself (any JSON up to 4 KiB).
async fn publish(
    State(state): State<AppState>,
    publisher: Publisher,
    Path(topic): Path<String>,
    ApiQuery(query): ApiQuery<PublishQuery>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let topic = topic_name(&topic)?;
    let ttl_secs =
        match query.ttl_secs.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<u64>().ok().filter(|ttl| *ttl > 0).ok_or_else(
                || {
                    AppError::validation(
                        "ttl_secs",
                        "ttl_secs must be a positive number of seconds",
                    )
                },
            )?),
        };
    let value = service::parse_value(&body)?;
    crate::notifications::service::check_publish_rate(&state, &publisher, 1).await?;
    let version = service::publish(&state, &topic, value, ttl_secs).await?;
    Ok(Json(
        serde_json::json!({ "topic": topic.as_str(), "version": version }),
    ))
}

async fn show(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(topic): Path<String>,
) -> Result<Json<TopicUpdate>, AppError> {
    let topic = topic_name(&topic)?;
    let found = state
        .store
        .topic_values(std::slice::from_ref(&topic), now_ms())
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok(Json(found))
}

async fn clear(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(topic): Path<String>,
) -> Result<StatusCode, AppError> {
    if state.store.delete_topic_value(&topic_name(&topic)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// `POST /api/topics/subscriptions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    connection_id: String,
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    unsubscribe: Vec<String>,
}

/// 200 `{"topics": [...]}` when the stream is on this instance, 202 when
/// the change went to the instance that holds it.
async fn change_subscriptions(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiJson(request): ApiJson<ChangeRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let subscribe = service::parse_topics(&request.subscribe, "subscribe")?;
    let unsubscribe = service::parse_topics(&request.unsubscribe, "unsubscribe")?;
    match service::change(
        &state,
        &recipient,
        &request.connection_id,
        subscribe,
        unsubscribe,
    )
    .await?
    {
        Changed::Applied(topics) => Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "topics": topics })),
        )),
        Changed::Forwarded => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "forwarded": true })),
        )),
    }
}
