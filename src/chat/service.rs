//! Chat rules, shared by the REST routes and the server functions:
//! membership on every call (404 for anyone else), the send rate, message
//! and attachment limits, typing and presence to the people who share a
//! conversation, and the collapsed "message" notification for members who
//! are not looking. Server only.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use crate::auth::service::now_ms;
use crate::auth::types::{User, Username};
use crate::chat::types::{
    Attachment, Conversation, ConversationKind, ConversationList, MAX_GROUP_MEMBERS,
    MAX_TITLE_CHARS, Message, MessagePage, NewConversation, SendMessage, is_safe_image,
};
use crate::notifications::types::{Category, Priority};
use crate::realtime::sse::ephemeral_frame;
use crate::realtime::types::Ephemeral;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::chat::{self as chat_store, Membership, NewAttachment, Sent, StoredAttachment};
use crate::store::notifications::NewNotification;

/// Conversations listed at most (most recent first).
const MAX_LISTED: u32 = 500;
/// A user counts as gone this long after their last connection closed
/// (a page reload is not worth an "offline").
const OFFLINE_GRACE: Duration = Duration::from_secs(3);
/// Uploads never sent with a message are forgotten after a day.
const UNSENT_UPLOAD_TTL_MS: i64 = 86_400_000;

/// The conversation `id` if `user` is a member; 404 otherwise, whether or
/// not it exists.
async fn member_of(state: &AppState, user: &User, id: i64) -> Result<Membership, AppError> {
    state
        .store
        .membership(id, user.id)
        .await?
        .ok_or(AppError::NotFound)
}

fn with_presence(state: &AppState, mut conversation: Conversation) -> Conversation {
    for presence in &mut conversation.presence {
        presence.online = state.hub.is_online(presence.user_id);
    }
    conversation
}

/// Resolves usernames to enabled users' ids, or a 400 naming the unknown.
async fn resolve(state: &AppState, field: &str, names: &[String]) -> Result<Vec<i64>, AppError> {
    let normalized: Vec<String> = names
        .iter()
        .map(|name| {
            Username::parse(name)
                .map(|u| u.as_str().to_owned())
                .unwrap_or_else(|_| name.trim().to_owned())
        })
        .collect();
    let (ids, unknown) = state.store.resolve_usernames(&normalized).await?;
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(AppError::validation(
            field,
            format!("Unknown users: {}.", unknown.join(", ")),
        ))
    }
}

/// Starts a conversation. A direct one that exists already is returned
/// with `false` (not created).
pub async fn create(
    state: &AppState,
    user: &User,
    request: NewConversation,
) -> Result<(Conversation, bool), AppError> {
    let now = now_ms();
    let (id, created, appended) = match request {
        NewConversation::Direct { with } => {
            let ids = resolve(state, "with", std::slice::from_ref(&with)).await?;
            let other = ids
                .first()
                .copied()
                .ok_or_else(|| AppError::validation("with", "Name the person to talk to."))?;
            if other == user.id {
                return Err(AppError::validation(
                    "with",
                    "A direct conversation needs someone else.",
                ));
            }
            if let Some(id) = state.store.find_direct(user.id, other).await? {
                (id, false, Vec::new())
            } else {
                state
                    .store
                    .create_conversation(
                        &chat_store::NewConversation {
                            kind: ConversationKind::Direct,
                            title: None,
                            created_by: user.id,
                            members: &[user.id, other],
                        },
                        now,
                    )
                    .await?
            }
        }
        NewConversation::Group { title, members } => {
            let title = title.trim();
            let length = title.chars().count();
            if length == 0 || length > MAX_TITLE_CHARS {
                return Err(AppError::validation(
                    "title",
                    format!("A group's title is 1 to {MAX_TITLE_CHARS} characters."),
                ));
            }
            if members.len() > MAX_GROUP_MEMBERS {
                return Err(AppError::validation(
                    "members",
                    format!("A group starts with at most {MAX_GROUP_MEMBERS} members."),
                ));
            }
            let mut ids = resolve(state, "members", &members).await?;
            ids.retain(|id| *id != user.id);
            ids.insert(0, user.id);
            state
                .store
                .create_conversation(
                    &chat_store::NewConversation {
                        kind: ConversationKind::Group,
                        title: Some(title),
                        created_by: user.id,
                        members: &ids,
                    },
                    now,
                )
                .await?
        }
    };
    state.hub.announce_all(&appended);
    Ok((get(state, user, id).await?, created))
}

/// The user's conversations, most recent activity first.
pub async fn list(state: &AppState, user: &User) -> Result<ConversationList, AppError> {
    let conversations = state.store.conversations(user.id, MAX_LISTED).await?;
    Ok(ConversationList {
        conversations: conversations
            .into_iter()
            .map(|c| with_presence(state, c))
            .collect(),
    })
}

/// One conversation, for a member.
pub async fn get(state: &AppState, user: &User, id: i64) -> Result<Conversation, AppError> {
    let conversation = state
        .store
        .conversation(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(with_presence(state, conversation))
}

/// A page of messages before `before`, oldest first.
pub async fn messages(
    state: &AppState,
    user: &User,
    id: i64,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<MessagePage, AppError> {
    member_of(state, user, id).await?;
    let limit = limit.unwrap_or(MessagePage::DEFAULT_LIMIT);
    if !(1..=MessagePage::MAX_LIMIT).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("limit must be 1 to {}.", MessagePage::MAX_LIMIT),
        ));
    }
    let (messages, has_more) = state.store.messages(id, before, limit).await?;
    Ok(MessagePage { messages, has_more })
}

/// The collapsed notification about conversation `conversation` for a
/// member with `unread` unread messages in it, the newest being `message`.
fn message_notification(
    conversation: &Conversation,
    message: &Message,
    unread: i64,
) -> NewNotification {
    let sender = &message.sender.display_name;
    let preview = if message.body.is_empty() {
        match message.attachments.first() {
            Some(file) => format!("Sent {}", file.name),
            None => String::new(),
        }
    } else {
        message.body.chars().take(200).collect()
    };
    let (title, body) = match (conversation.kind, &conversation.title) {
        (ConversationKind::Group, Some(group)) => (
            if unread > 1 {
                format!("{unread} new messages in {group}")
            } else {
                format!("New message in {group}")
            },
            format!("{sender}: {preview}"),
        ),
        _ => (
            if unread > 1 {
                format!("{unread} new messages from {sender}")
            } else {
                format!("New message from {sender}")
            },
            preview,
        ),
    };
    NewNotification {
        category: Category::Message,
        priority: Priority::Normal,
        title: title.chars().take(200).collect(),
        body: body.chars().take(2000).collect(),
        url: Some(format!("/messages/{}", conversation.id)),
        key: Some(chat_store::notification_key(conversation.id)),
        actor: Some(message.sender.clone()),
        data: Some(serde_json::json!({
            "conversation_id": conversation.id,
            "unread": unread,
        })),
    }
}

/// Sends a message. A repeated `client_id` returns the first message
/// without sending again (and without spending the rate budget).
pub async fn send(
    state: &AppState,
    user: &User,
    id: i64,
    request: SendMessage,
) -> Result<Message, AppError> {
    member_of(state, user, id).await?;
    let message = request.parse()?;
    if let Some(client_id) = &message.client_id
        && let Some(first) = state.store.message_by_client_id(user.id, client_id).await?
    {
        return Ok(first);
    }
    state
        .send_limiter
        .check(&format!("user:{}", user.id))
        .map_err(|retry_after_secs| AppError::RateLimited {
            code: "rate_limited",
            message: format!(
                "You are sending messages too fast. You can send again in {retry_after_secs} s."
            ),
            retry_after_secs,
        })?;
    let conversation = state
        .store
        .conversation(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let notify: Vec<i64> = conversation
        .members
        .iter()
        .map(|m| m.id)
        .filter(|&member| member != user.id && !state.viewers.is_viewing(member, id))
        .collect();
    // The notification is built from the message being written: its
    // sender and body are known before the insert.
    let draft = Message {
        id: 0,
        conversation_id: id,
        sender: user.clone(),
        body: message.body.clone(),
        created_at: chrono::Utc::now(),
        client_id: message.client_id.clone(),
        attachments: Vec::new(),
    };
    let sent = state
        .store
        .send_message(
            id,
            user.id,
            &message,
            &notify,
            |unread| message_notification(&conversation, &draft, unread),
            now_ms(),
        )
        .await?;
    match sent {
        Sent::New(message, appended) => {
            state.hub.announce_all(&appended);
            Ok(message)
        }
        Sent::Repeat(first) => Ok(first),
        Sent::BadAttachments => Err(AppError::validation(
            "attachment_ids",
            "Attach files uploaded to this conversation and not sent yet.",
        )),
    }
}

/// Moves the user's read marker forward (204 even when it does not move).
pub async fn read(state: &AppState, user: &User, id: i64, up_to: i64) -> Result<(), AppError> {
    member_of(state, user, id).await?;
    let appended = state
        .store
        .mark_conversation_read(id, user.id, up_to, now_ms())
        .await?;
    state.hub.announce_all(&appended);
    Ok(())
}

/// Tells the other members that the user is (or stopped) typing.
pub async fn typing(
    state: &AppState,
    user: &User,
    id: i64,
    is_typing: bool,
) -> Result<(), AppError> {
    member_of(state, user, id).await?;
    let mut others = state.store.member_ids(id).await?;
    others.retain(|member| *member != user.id);
    let frame = ephemeral_frame(&Ephemeral::Typing {
        conversation_id: id,
        user: user.clone(),
        is_typing,
    })?;
    state.hub.announce_ephemeral(&others, frame);
    Ok(())
}

/// Records that the user is (or stopped) looking at the conversation.
pub async fn viewing(
    state: &AppState,
    user: &User,
    id: i64,
    viewing: bool,
) -> Result<(), AppError> {
    member_of(state, user, id).await?;
    state.viewers.set(user.id, id, viewing);
    Ok(())
}

fn groups_only(membership: &Membership) -> Result<(), AppError> {
    if membership.kind == ConversationKind::Group {
        Ok(())
    } else {
        Err(AppError::Conflict {
            code: "not_a_group",
            message: "Members can only be changed in group conversations.".into(),
            field: None,
        })
    }
}

/// Adds `username` to a group; only its creator may.
pub async fn add_member(
    state: &AppState,
    user: &User,
    id: i64,
    username: &str,
) -> Result<(), AppError> {
    let membership = member_of(state, user, id).await?;
    groups_only(&membership)?;
    if membership.created_by != Some(user.id) {
        return Err(AppError::forbidden(
            "forbidden",
            "Only the group's creator can add members.",
        ));
    }
    let ids = resolve(state, "username", &[username.to_owned()]).await?;
    let Some(&member) = ids.first() else {
        return Err(AppError::validation("username", "Name someone to add."));
    };
    if let Some(appended) = state.store.add_member(id, member, now_ms()).await? {
        state.hub.announce_all(&appended);
    }
    Ok(())
}

/// Removes `username` from a group: its creator may remove anyone else,
/// every member may leave.
pub async fn remove_member(
    state: &AppState,
    user: &User,
    id: i64,
    username: &str,
) -> Result<(), AppError> {
    let membership = member_of(state, user, id).await?;
    groups_only(&membership)?;
    let leaving = Username::parse(username).is_ok_and(|name| name.as_str() == user.username);
    let creator = membership.created_by == Some(user.id);
    if leaving && creator {
        return Err(AppError::Conflict {
            code: "creator_cannot_leave",
            message: "The group's creator cannot leave it.".into(),
            field: None,
        });
    }
    if !leaving && !creator {
        return Err(AppError::forbidden(
            "forbidden",
            "Only the group's creator can remove members.",
        ));
    }
    let member = match state
        .store
        .resolve_usernames(&[username.to_lowercase()])
        .await?
    {
        (ids, _) if !ids.is_empty() => ids[0],
        _ => return Err(AppError::NotFound),
    };
    match state.store.remove_member(id, member, now_ms()).await? {
        Some(appended) => {
            state.viewers.set(member, id, false);
            state.hub.announce_all(&appended);
            Ok(())
        }
        None => Err(AppError::NotFound),
    }
}

/// The upload folder under the data directory.
pub fn uploads_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("uploads")
}

/// The type of a file from its first bytes: a known format, UTF-8 text, or
/// opaque bytes. The name and the client's claim are never consulted.
pub fn sniff(content: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(content) {
        return kind.mime_type();
    }
    if std::str::from_utf8(content).is_ok() {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// A file name safe to show and to put in a header: no path, no control
/// characters, at most 200 characters.
fn clean_name(name: Option<&str>) -> String {
    let base = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect::<String>();
    let base = base.trim().to_owned();
    if base.is_empty() || base == "." || base == ".." {
        "file".to_owned()
    } else {
        base
    }
}

/// Stores an uploaded file under a generated name and records it.
pub async fn upload(
    state: &AppState,
    user: &User,
    id: i64,
    name: Option<&str>,
    content: Bytes,
) -> Result<Attachment, AppError> {
    member_of(state, user, id).await?;
    if content.is_empty() {
        return Err(AppError::validation("file", "The file is empty."));
    }
    if content.len() > state.config.max_attachment_bytes.get() {
        return Err(AppError::PayloadTooLarge);
    }
    let mime = sniff(&content);
    let dir = uploads_dir(state);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::Internal(format!("uploads folder: {e}")))?;
    let stored_name = random_name();
    let path = dir.join(&stored_name);
    tokio::fs::write(&path, &content)
        .await
        .map_err(|e| AppError::Internal(format!("writing an upload: {e}")))?;
    let recorded = state
        .store
        .create_attachment(
            &NewAttachment {
                conversation_id: id,
                uploader: user.id,
                name: &clean_name(name),
                size: content.len() as i64,
                mime,
                stored_name: &stored_name,
            },
            now_ms(),
        )
        .await;
    match recorded {
        Ok(attachment) => Ok(attachment),
        Err(error) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(error.into())
        }
    }
}

/// An attachment the user may download, and where its file is.
pub async fn attachment(
    state: &AppState,
    user: &User,
    id: i64,
) -> Result<(StoredAttachment, PathBuf), AppError> {
    let stored = state
        .store
        .attachment_for(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let path = uploads_dir(state).join(&stored.stored_name);
    Ok((stored, path))
}

/// Whether an attachment may be shown inline (a raster image).
pub fn inline(stored: &StoredAttachment) -> bool {
    is_safe_image(&stored.attachment.mime)
}

fn random_name() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut random = [0u8; 16];
    OsRng.fill_bytes(&mut random);
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tells each user's contacts when they come online or go offline, and
/// records "last seen". Runs until shutdown.
pub fn spawn_presence(state: AppState) {
    let Some(mut changes) = state.hub.take_presence_changes() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                () = state.shutdown.cancelled() => break,
                change = changes.recv() => match change {
                    Some(change) => change,
                    None => break,
                },
            };
            if change.online {
                announce_presence(&state, change.user_id, true).await;
            } else {
                let state = state.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(OFFLINE_GRACE).await;
                    if !state.hub.is_online(change.user_id) {
                        if let Err(error) =
                            state.store.set_last_seen(change.user_id, now_ms()).await
                        {
                            tracing::warn!(%error, "could not record last seen");
                        }
                        announce_presence(&state, change.user_id, false).await;
                    }
                });
            }
        }
    });
}

async fn announce_presence(state: &AppState, user_id: i64, online: bool) {
    let contacts = match state.store.contact_ids(user_id).await {
        Ok(contacts) => contacts,
        Err(error) => {
            tracing::warn!(%error, "presence: contacts unavailable");
            return;
        }
    };
    if let Ok(frame) = ephemeral_frame(&Ephemeral::Presence { user_id, online }) {
        state.hub.announce_ephemeral(&contacts, frame);
    }
}

/// Forgets uploads that were never sent, and deletes their files.
pub async fn prune_unsent_uploads(state: &AppState) {
    match state
        .store
        .prune_unsent_attachments(now_ms() - UNSENT_UPLOAD_TTL_MS)
        .await
    {
        Ok(names) => {
            let dir = uploads_dir(state);
            for name in names {
                let _ = tokio::fs::remove_file(dir.join(name)).await;
            }
        }
        Err(error) => tracing::warn!(%error, "pruning unsent uploads failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_content() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];
        assert_eq!(sniff(&png), "image/png");
        assert_eq!(
            sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "text/plain"
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(&[0x80, 0x81, 0x82, 0x83]), "application/octet-stream");
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("C:\\x\\report.pdf")), "report.pdf");
        assert_eq!(clean_name(Some("a\"b\r\n.txt")), "ab.txt");
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some("..")), "file");
    }
}
