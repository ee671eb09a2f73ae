//! REST routes of channels (docs/API.md, "Channels"): named, durable
//! audiences that integrators manage with their API token (or an admin
//! with their session) and publish to with `"to": {"channel": name}`.
//! Server only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, put};
use serde::Deserialize;

use crate::auth::extract::Publisher;
use crate::model::channel::{Channel, ChannelMembers, ChannelName};
use crate::model::user::Username;
use crate::server::clock::now_ms;
use crate::server::error::{ApiJson, ApiQuery, AppError};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;
use crate::store::channels::MembersAdded;

/// Usernames one request may add.
const MAX_ADDED: usize = 10_000;
/// Members per page when the query names no `limit`.
const DEFAULT_PAGE: u32 = 100;
/// Largest page of members.
const MAX_PAGE: u32 = 1_000;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/channels", get(list)).summary("Channels, by name"),
        ApiRoute::new(Method::GET, "/api/channels/{name}", get(show)).summary("One channel"),
        ApiRoute::new(Method::DELETE, "/api/channels/{name}", delete(remove))
            .summary("Delete a channel (its members stay users)")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/channels/{name}/members", get(members))
            .summary("A page of a channel's members")
            .answers::<crate::model::channel::ChannelMembers>(StatusCode::OK),
        ApiRoute::new(
            Method::PUT,
            "/api/channels/{name}/members",
            put(add_members),
        )
        .summary("Add members (creates the channel when missing)"),
        ApiRoute::new(
            Method::DELETE,
            "/api/channels/{name}/members/{username}",
            delete(remove_member),
        )
        .summary("Remove a member")
        .status(StatusCode::NO_CONTENT),
    ]
}

fn channel_name(name: &str) -> Result<ChannelName, AppError> {
    ChannelName::parse(name).map_err(|e| AppError::validation("channel", e.message))
}

async fn list(
    State(state): State<AppState>,
    _publisher: Publisher,
) -> Result<Json<serde_json::Value>, AppError> {
    let channels = state.store.channels().await?;
    Ok(Json(serde_json::json!({ "channels": channels })))
}

async fn show(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let channel: Channel = state
        .store
        .channel(&channel_name(&name)?)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(serde_json::json!({ "channel": channel })))
}

async fn remove(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    if state.store.delete_channel(&channel_name(&name)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Debug, Deserialize)]
struct MembersQuery {
    after: Option<String>,
    limit: Option<String>,
}

async fn members(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<MembersQuery>,
) -> Result<Json<ChannelMembers>, AppError> {
    let name = channel_name(&name)?;
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                AppError::validation("limit", format!("limit must be 1 to {MAX_PAGE}."))
            })?,
    };
    if state.store.channel(&name).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let after = query.after.unwrap_or_default();
    Ok(Json(
        state.store.channel_members(&name, &after, limit).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMembers {
    users: Vec<String>,
}

async fn add_members(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<AddMembers>,
) -> Result<Json<serde_json::Value>, AppError> {
    let name = channel_name(&name)?;
    if request.users.is_empty() || request.users.len() > MAX_ADDED {
        return Err(AppError::validation(
            "users",
            format!("users must name 1 to {MAX_ADDED} users."),
        ));
    }
    let mut users: Vec<String> = request
        .users
        .iter()
        .map(|name| {
            Username::parse(name)
                .map(|u| u.as_str().to_owned())
                .unwrap_or_else(|_| name.clone())
        })
        .collect();
    users.sort();
    users.dedup();
    match state
        .store
        .add_channel_members(&name, users, now_ms())
        .await?
    {
        MembersAdded::Unknown(unknown) => Err(AppError::validation(
            "users",
            format!("Unknown users: {}.", unknown.join(", ")),
        )),
        MembersAdded::Added { channel, added } => Ok(Json(serde_json::json!({
            "channel": channel,
            "added": added,
        }))),
    }
}

async fn remove_member(
    State(state): State<AppState>,
    _publisher: Publisher,
    Path((name, username)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let name = channel_name(&name)?;
    let username = Username::parse(&username)
        .map(|u| u.as_str().to_owned())
        .unwrap_or(username);
    if state.store.remove_channel_member(&name, &username).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}
