//! REST routes of "Chat" in API.md, plus `GET /api/conversations/{id}`,
//! `POST /api/conversations/{id}/viewing` and the attachment download
//! `GET /api/attachments/{id}`. Server only.

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use crate::auth::extract::CurrentUser;
use crate::chat::service;
use crate::model::chat::{
    Attachment, Conversation, ConversationList, Message, MessagePage, NewConversation, SendMessage,
};
use crate::server::error::{ApiJson, ApiQuery, AppError, parse_id};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;

/// Where files are uploaded; the one route with a larger body limit.
pub const UPLOAD_PATH: &str = "/api/conversations/{id}/attachments";

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/conversations", get(list))
            .summary("Your conversations, latest activity first"),
        ApiRoute::new(Method::POST, "/api/conversations", post(create))
            .summary("Start a direct or group conversation")
            .status(StatusCode::CREATED),
        ApiRoute::new(Method::GET, "/api/conversations/{id}", get(show))
            .summary("One conversation"),
        ApiRoute::new(
            Method::GET,
            "/api/conversations/{id}/messages",
            get(messages),
        )
        .summary("A page of a conversation's messages, newest first"),
        ApiRoute::new(Method::POST, "/api/conversations/{id}/messages", post(send))
            .summary("Send a message (idempotent by client_id)")
            .status(StatusCode::CREATED),
        ApiRoute::new(Method::POST, UPLOAD_PATH, post(upload))
            .summary("Upload an attachment (multipart) for a message to come")
            .status(StatusCode::CREATED),
        ApiRoute::new(Method::POST, "/api/conversations/{id}/typing", post(typing))
            .summary("Say you are typing (coalesced)")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::POST, "/api/conversations/{id}/read", post(read))
            .summary("Mark the conversation read up to a message")
            .status(StatusCode::NO_CONTENT),
        ApiRoute::new(
            Method::POST,
            "/api/conversations/{id}/viewing",
            post(viewing),
        )
        .summary("Say the page shows this conversation (no notifications meanwhile)")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(
            Method::POST,
            "/api/conversations/{id}/members",
            post(add_member),
        )
        .summary("Add members to a group"),
        ApiRoute::new(
            Method::DELETE,
            "/api/conversations/{id}/members/{username}",
            delete(remove_member),
        )
        .summary("Remove a member from a group (or leave it)")
        .status(StatusCode::NO_CONTENT),
        ApiRoute::new(Method::GET, "/api/attachments/{id}", get(download))
            .summary("Download an attachment (members only)"),
    ]
}

#[derive(Serialize)]
struct ConversationBody {
    conversation: Conversation,
}

#[derive(Serialize)]
struct MessageBody {
    message: Message,
}

#[derive(Serialize)]
struct AttachmentBody {
    attachment: Attachment,
}

async fn list(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<ConversationList>, AppError> {
    Ok(Json(service::list(&state, &current.user).await?))
}

async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    ApiJson(request): ApiJson<NewConversation>,
) -> Result<Response, AppError> {
    let (conversation, created) = service::create(&state, &current.user, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ConversationBody { conversation })).into_response())
}

async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationBody>, AppError> {
    let conversation = service::get(&state, &current.user, parse_id(&id)?).await?;
    Ok(Json(ConversationBody { conversation }))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn messages(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<MessagePage>, AppError> {
    let id = parse_id(&id)?;
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| AppError::validation("before", "before must be a message id."))?,
        ),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<u32>()
                .map_err(|_| AppError::validation("limit", "limit must be 1 to 100."))?,
        ),
    };
    Ok(Json(
        service::messages(&state, &current.user, id, before, limit).await?,
    ))
}

async fn send(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SendMessage>,
) -> Result<Response, AppError> {
    let message = service::send(&state, &current.user, parse_id(&id)?, request).await?;
    Ok((StatusCode::CREATED, Json(MessageBody { message })).into_response())
}

/// Membership, the concurrent-upload bound and the quota are checked
/// before a byte of the body is read; the file streams to disk.
async fn upload(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let slot = service::begin_upload(&state, &current.user, id, declared).await?;
    let mut multipart = multipart.map_err(|_| {
        AppError::UnsupportedMediaType("Upload the file as multipart/form-data.".into())
    })?;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(service::multipart_error)?
    {
        if field.name() != Some("file") {
            continue;
        }
        let attachment = service::receive_upload(&state, &current.user, id, slot, field).await?;
        return Ok((StatusCode::CREATED, Json(AttachmentBody { attachment })).into_response());
    }
    Err(AppError::validation(
        "file",
        "Send the file in a field named file.",
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Typing {
    is_typing: bool,
}

async fn typing(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Typing>,
) -> Result<StatusCode, AppError> {
    service::typing(&state, &current.user, parse_id(&id)?, input.is_typing).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    up_to_message_id: i64,
}

async fn read(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Read>,
) -> Result<StatusCode, AppError> {
    service::read(
        &state,
        &current.user,
        parse_id(&id)?,
        input.up_to_message_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Viewing {
    viewing: bool,
}

async fn viewing(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Viewing>,
) -> Result<StatusCode, AppError> {
    service::viewing(&state, &current.user, parse_id(&id)?, input.viewing).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    username: String,
}

async fn add_member(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AddMember>,
) -> Result<StatusCode, AppError> {
    service::add_member(&state, &current.user, parse_id(&id)?, &input.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    current: CurrentUser,
    Path((id, username)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::remove_member(&state, &current.user, parse_id(&id)?, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Serves a file to a member. Only raster images are `inline`; anything
/// else is a download, and nothing may be sniffed or run by the browser.
async fn download(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (stored, path) = service::attachment(&state, &current.user, parse_id(&id)?).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|error| {
        AppError::Internal(format!("attachment {} file: {error}", stored.stored_name))
    })?;
    let disposition = if service::inline(&stored) {
        "inline"
    } else {
        "attachment"
    };
    let name = &stored.attachment.name;
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let header_value = format!(
        "{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    );
    Response::builder()
        .header(header::CONTENT_TYPE, stored.attachment.mime.as_str())
        .header(header::CONTENT_LENGTH, stored.attachment.size)
        .header(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&header_value)
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self'; sandbox",
        )
        .header(header::CACHE_CONTROL, "private, max-age=86400")
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// RFC 5987 encoding for `filename*`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
