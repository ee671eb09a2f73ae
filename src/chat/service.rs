//! Chat rules, shared by the REST routes and the server functions:
//! membership on every call (404 for anyone else), the send rate, message
//! and attachment limits, typing and presence to the people who share a
//! conversation, and the collapsed "message" notification for members who
//! are not looking. Server only.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::chat::{
    Attachment, Conversation, ConversationKind, ConversationList, MAX_GROUP_MEMBERS,
    MAX_TITLE_CHARS, Message, MessagePage, NewConversation, SendMessage, is_safe_image,
};
use crate::model::event::Ephemeral;
use crate::model::json::OpaqueJson;
use crate::model::notification::{Category, Priority};
use crate::model::user::{User, Username, is_invisible_format};
use crate::realtime::frames;
use crate::server::clock::now_ms;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::chat::{
    self as chat_store, AddMember, Membership, NewAttachment, Sent, StoredAttachment,
};
use crate::store::notifications::NewNotification;

/// Conversations listed at most (most recent first).
const MAX_LISTED: u32 = 500;
/// A user counts as gone this long after their last connection closed
/// (a page reload is not worth an "offline").
const OFFLINE_GRACE: Duration = Duration::from_secs(3);

/// How often an instance writes the stream counts that changed
/// (several instances).
const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(5);

/// Every this many heartbeats an instance writes all its presence rows,
/// not only those that changed: rows lost anyway (an UNLOGGED table after
/// a database crash, or swept while this instance could not renew its
/// `instances` row) come back within a minute.
const PRESENCE_FULL_EVERY: u32 = 12;
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

/// Fills in live presence, for the members `viewer` may see: those who
/// wrote in a conversation `viewer` is in and do not hide it. Everyone
/// else shows as offline, with no "last seen".
async fn with_presence(
    state: &AppState,
    viewer: i64,
    mut conversations: Vec<Conversation>,
) -> Result<Vec<Conversation>, AppError> {
    let mut candidates: Vec<i64> = conversations
        .iter()
        .flat_map(|c| c.presence.iter().map(|p| p.user_id))
        .filter(|id| *id != viewer)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let visible = state.store.presence_visible_to(viewer, &candidates).await?;
    let elsewhere = state.store.online_elsewhere(&visible, now_ms()).await?;
    for conversation in &mut conversations {
        for presence in &mut conversation.presence {
            if presence.user_id == viewer || visible.contains(&presence.user_id) {
                presence.online =
                    state.hub.is_online(presence.user_id) || elsewhere.contains(&presence.user_id);
            } else {
                presence.online = false;
                presence.last_seen_at = None;
            }
        }
    }
    Ok(conversations)
}

fn limited(what: &str, retry_after_secs: u64) -> AppError {
    AppError::RateLimited {
        code: "rate_limited",
        message: format!("You are {what} too fast. Try again in {retry_after_secs} s."),
        retry_after_secs,
    }
}

fn group_full(max: u32) -> AppError {
    AppError::Conflict {
        code: "group_full",
        message: format!("A group has at most {max} members."),
        field: None,
    }
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
    state
        .conversation_limiter
        .check(&format!("user:{}", user.id))
        .await
        .map_err(|retry| limited("starting conversations", retry))?;
    let (id, created) = match request {
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
                (id, false)
            } else {
                create_in_store(
                    state,
                    chat_store::NewConversation {
                        kind: ConversationKind::Direct,
                        title: None,
                        created_by: user.id,
                        members: vec![user.id, other],
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
            ids.sort_unstable();
            ids.dedup();
            ids.insert(0, user.id);
            let max = state.config.max_group_members.get();
            if ids.len() > max as usize {
                return Err(group_full(max));
            }
            create_in_store(
                state,
                chat_store::NewConversation {
                    kind: ConversationKind::Group,
                    title: Some(title.to_owned()),
                    created_by: user.id,
                    members: ids,
                },
                now,
            )
            .await?
        }
    };
    Ok((get(state, user, id).await?, created))
}

async fn create_in_store(
    state: &AppState,
    new: chat_store::NewConversation,
    now: i64,
) -> Result<(i64, bool), AppError> {
    Ok(state
        .store
        .write(move |tx| tx.create_conversation(&new, now))
        .await?)
}

/// The user's conversations, most recent activity first.
pub async fn list(state: &AppState, user: &User) -> Result<ConversationList, AppError> {
    // First: whatever changes the list after it is replayed on top of it
    // (the list's appliers take a repeat as a no-op).
    let cursor = state.store.event_window(user.id).await?.cursor;
    let conversations = state.store.conversations(user.id, MAX_LISTED).await?;
    Ok(ConversationList {
        conversations: with_presence(state, user.id, conversations).await?,
        cursor,
    })
}

/// One conversation, for a member.
pub async fn get(state: &AppState, user: &User, id: i64) -> Result<Conversation, AppError> {
    let conversation = state
        .store
        .conversation(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    with_presence(state, user.id, vec![conversation])
        .await?
        .pop()
        .ok_or(AppError::NotFound)
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
        data: OpaqueJson::from_value(&serde_json::json!({
            "conversation_id": conversation.id,
            "unread": unread,
        }))
        .ok(),
        actions: Vec::new(),
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
        && let Some(first) = state
            .store
            .message_by_client_id(id, user.id, client_id)
            .await?
    {
        return Ok(first);
    }
    state
        .send_limiter
        .check(&format!("user:{}", user.id))
        .await
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
    let sender = user.id;
    let now = now_ms();
    let sent = state
        .store
        .write(move |tx| {
            tx.send_message(
                id,
                sender,
                &message,
                &notify,
                |unread| message_notification(&conversation, &draft, unread),
                now,
            )
        })
        .await?;
    match sent {
        Sent::New {
            message,
            first_from_sender,
        } => {
            // A first message makes the sender's presence visible to this
            // conversation's members: they are told at once.
            if first_from_sender && is_online(state, user.id).await {
                announce_presence(state, user.id, true).await;
            }
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
    let (reader, now) = (user.id, now_ms());
    state
        .store
        .write(move |tx| tx.mark_conversation_read(id, reader, up_to, now))
        .await?;
    Ok(())
}

/// Tells the other members that the user is (or stopped) typing; at most
/// one unchanged signal per 2 s goes out (the rest are accepted and
/// dropped: typing is ephemeral).
pub async fn typing(
    state: &AppState,
    user: &User,
    id: i64,
    is_typing: bool,
) -> Result<(), AppError> {
    member_of(state, user, id).await?;
    if !state.typing.admit(user.id, id, is_typing) {
        return Ok(());
    }
    let mut others = state.store.member_ids(id).await?;
    others.retain(|member| *member != user.id);
    let frame = frames::ephemeral(&Ephemeral::Typing {
        conversation_id: id,
        user: user.clone(),
        is_typing,
    })?;
    state.bus.ephemeral(&others, frame);
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
    state.bus.viewing(user.id, id, viewing);
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
    state
        .membership_limiter
        .check(&format!("user:{}", user.id))
        .await
        .map_err(|retry| limited("changing members", retry))?;
    let ids = resolve(state, "username", &[username.to_owned()]).await?;
    let Some(&member) = ids.first() else {
        return Err(AppError::validation("username", "Name someone to add."));
    };
    let max = state.config.max_group_members.get();
    let now = now_ms();
    let added = state
        .store
        .write(move |tx| tx.add_member(id, member, max, now))
        .await?;
    match added {
        AddMember::Added | AddMember::AlreadyMember => {}
        AddMember::Full => return Err(group_full(max)),
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
    state
        .membership_limiter
        .check(&format!("user:{}", user.id))
        .await
        .map_err(|retry| limited("changing members", retry))?;
    let member = match state
        .store
        .resolve_usernames(&[username.to_lowercase()])
        .await?
    {
        (ids, _) if !ids.is_empty() => ids[0],
        _ => return Err(AppError::NotFound),
    };
    let now = now_ms();
    let removed = state
        .store
        .write(move |tx| tx.remove_member(id, member, now))
        .await?;
    if !removed {
        return Err(AppError::NotFound);
    }
    state.viewers.set(member, id, false);
    state.bus.viewing(member, id, false);
    Ok(())
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
/// characters, no invisible or direction-changing characters
/// (`U+202E gnp.exe` would show as `exe.png`), at most 200 characters.
fn clean_name(name: Option<&str>) -> String {
    let base = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && !is_invisible_format(*c))
        .take(200)
        .collect::<String>();
    let base = base.trim().to_owned();
    if base.is_empty() || base == "." || base == ".." {
        "file".to_owned()
    } else {
        base
    }
}

/// The right to receive one upload: checked before its body is read.
pub struct UploadSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// The uploader's unsent bytes when the upload began.
    unsent: u64,
}

fn quota_exceeded(quota: u64) -> AppError {
    AppError::QuotaExceeded(format!(
        "Your files not yet sent take more than {} MiB; send or wait for them to expire (a day) first.",
        quota >> 20
    ))
}

/// Checks, before any of the body is read, that `user` is a member, that
/// an upload slot is free (`max_concurrent_uploads`), and that the
/// declared size fits their quota of unsent uploads.
pub async fn begin_upload(
    state: &AppState,
    user: &User,
    id: i64,
    declared_bytes: Option<u64>,
) -> Result<UploadSlot, AppError> {
    member_of(state, user, id).await?;
    let max = state.config.max_attachment_bytes.get() as u64;
    if declared_bytes.is_some_and(|declared| declared > max + 64 * 1024) {
        return Err(AppError::PayloadTooLarge);
    }
    let permit = state
        .uploads
        .clone()
        .try_acquire_owned()
        .map_err(|_| AppError::RateLimited {
            code: "rate_limited",
            message: "The server is receiving many files right now; try again in a moment.".into(),
            retry_after_secs: 2,
        })?;
    let unsent = u64::try_from(state.store.unsent_upload_bytes(user.id).await?).unwrap_or(0);
    let quota = state.config.upload_quota_bytes.get();
    // The declared length includes the multipart framing: only a clear
    // excess is refused here; the exact size is checked as it streams.
    if unsent >= quota || unsent + declared_bytes.unwrap_or(0).saturating_sub(64 * 1024) > quota {
        return Err(quota_exceeded(quota));
    }
    Ok(UploadSlot {
        _permit: permit,
        unsent,
    })
}

/// An upload's multipart errors in API.md's shape.
pub fn multipart_error(error: axum::extract::multipart::MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::Validation {
            message: format!("Invalid upload: {}", error.body_text()),
            field: Some("file".into()),
        }
    }
}

/// Bytes kept in memory to recognize a file's type.
const SNIFF_BYTES: usize = 8192;

/// Streams the `file` field to a new file in the uploads folder, within
/// the size limit and the quota, and records it.
pub async fn receive_upload(
    state: &AppState,
    user: &User,
    id: i64,
    slot: UploadSlot,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Attachment, AppError> {
    use tokio::io::AsyncWriteExt;

    let name = clean_name(field.file_name());
    let dir = uploads_dir(state);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::Internal(format!("uploads folder: {e}")))?;
    let stored_name = random_name();
    let path = dir.join(&stored_name);
    let limit = state.config.max_attachment_bytes.get() as u64;
    let quota = state.config.upload_quota_bytes.get();
    let received = async {
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| AppError::Internal(format!("creating an upload: {e}")))?;
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut size: u64 = 0;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            size += chunk.len() as u64;
            if size > limit {
                return Err(AppError::PayloadTooLarge);
            }
            if slot.unsent + size > quota {
                return Err(quota_exceeded(quota));
            }
            if head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| AppError::Internal(format!("writing an upload: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| AppError::Internal(format!("writing an upload: {e}")))?;
        if size == 0 {
            return Err(AppError::validation("file", "The file is empty."));
        }
        let recorded = state
            .store
            .create_attachment(
                &NewAttachment {
                    conversation_id: id,
                    uploader: user.id,
                    name: &name,
                    size: size as i64,
                    mime: sniff_head(&head, size),
                    stored_name: &stored_name,
                },
                quota,
                now_ms(),
            )
            .await?;
        recorded.ok_or_else(|| quota_exceeded(quota))
    }
    .await;
    if received.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    received
}

/// The type of a file from its first bytes (`head`, of a file of `size`
/// bytes): text only when the whole head is valid UTF-8, allowing for a
/// character cut at the head's end.
fn sniff_head(head: &[u8], size: u64) -> &'static str {
    if (head.len() as u64) < size
        && let Err(error) = std::str::from_utf8(head)
        && error.error_len().is_none()
    {
        return sniff(&head[..error.valid_up_to()]);
    }
    sniff(head)
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
    crate::server::random::hex::<16>()
}

/// Tells each user's contacts when they come online or go offline, and
/// records "last seen". Runs until shutdown.
pub fn spawn_presence(state: AppState) {
    let Some(mut changes) = state.hub.take_presence_changes() else {
        return;
    };
    tokio::spawn(async move {
        let mut heartbeat = tokio::time::interval(PRESENCE_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = Reported::default();
        loop {
            let change = tokio::select! {
                () = state.shutdown.cancelled() => break,
                _ = heartbeat.tick() => {
                    presence_heartbeat(&state, &mut reported).await;
                    continue;
                }
                change = changes.recv() => match change {
                    Some(change) => change,
                    None => break,
                },
            };
            if change.online {
                match state.store.presence_here(change.user_id).await {
                    Ok(()) => {
                        reported.streams.insert(change.user_id, 1);
                    }
                    Err(error) => tracing::warn!(%error, "could not record presence"),
                }
                announce_presence(&state, change.user_id, true).await;
            } else {
                reported.streams.remove(&change.user_id);
                let state = state.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(OFFLINE_GRACE).await;
                    if state.hub.is_online(change.user_id) {
                        return;
                    }
                    // Another instance may still hold a stream of theirs:
                    // then that one announces them offline, later.
                    match state
                        .store
                        .presence_gone_here(change.user_id, now_ms())
                        .await
                    {
                        Ok(_) if state.hub.is_online(change.user_id) => {
                            // Back between the check and the delete: the
                            // row they need again.
                            let streams = state.hub.streams_of(change.user_id);
                            let row = [(change.user_id, streams.max(1))];
                            if let Err(error) = state.store.presence_counts(&row).await {
                                tracing::warn!(%error, "could not record presence");
                            }
                        }
                        Ok(true) => went_offline(&state, change.user_id).await,
                        Ok(false) => {}
                        Err(error) => tracing::warn!(%error, "could not record presence"),
                    }
                });
            }
        }
    });
}

/// What this instance last wrote of its presence rows.
#[derive(Default)]
struct Reported {
    streams: HashMap<i64, u32>,
    beats: u32,
}

/// With several instances: writes the stream counts that changed since the
/// last heartbeat (all of them now and then), and announces offline the
/// users whose only instance stopped without saying so (it stopped
/// renewing its `instances` row). Nothing on SQLite.
async fn presence_heartbeat(state: &AppState, reported: &mut Reported) {
    let now = now_ms();
    let here: HashMap<i64, u32> = state.hub.stream_counts().into_iter().collect();
    let everything = reported.beats.is_multiple_of(PRESENCE_FULL_EVERY);
    let changed: Vec<(i64, u32)> = here
        .iter()
        .filter(|&(user, streams)| everything || reported.streams.get(user) != Some(streams))
        .map(|(&user, &streams)| (user, streams))
        .collect();
    match state.store.presence_counts(&changed).await {
        Ok(()) => {
            reported.streams = here;
            reported.beats = reported.beats.wrapping_add(1);
        }
        Err(error) => {
            tracing::warn!(%error, "could not record presence");
            // Write everything once the database answers again.
            reported.beats = 0;
        }
    }
    match state.store.presence_orphaned(now).await {
        Ok(users) => {
            for user_id in users {
                if !state.hub.is_online(user_id) {
                    went_offline(state, user_id).await;
                }
            }
        }
        Err(error) => tracing::warn!(%error, "could not expire presence"),
    }
}

/// Records "last seen" and tells `user_id`'s contacts they left.
async fn went_offline(state: &AppState, user_id: i64) {
    if let Err(error) = state.store.set_last_seen(user_id, now_ms()).await {
        tracing::warn!(%error, "could not record last seen");
    }
    announce_presence(state, user_id, false).await;
}

/// Whether `user_id` has a stream on this instance or, with several
/// instances, on another one.
pub async fn is_online(state: &AppState, user_id: i64) -> bool {
    if state.hub.is_online(user_id) {
        return true;
    }
    match state.store.online_elsewhere(&[user_id], now_ms()).await {
        Ok(elsewhere) => !elsewhere.is_empty(),
        Err(error) => {
            tracing::warn!(%error, "presence: other instances unavailable");
            false
        }
    }
}

/// Tells the people who could see `user_id` online that they just hid
/// their presence (as if they left), or that they show it again.
pub async fn announce_visibility(state: &AppState, user_id: i64, hidden: bool) {
    if !hidden {
        announce_presence(state, user_id, true).await;
        return;
    }
    // Hidden now: the audience is empty by definition, so tell the people
    // who could see them until now.
    match state.store.presence_audience(user_id, true).await {
        Ok(audience) => {
            if let Ok(frame) = frames::ephemeral(&Ephemeral::Presence {
                user_id,
                online: false,
            }) {
                state.bus.ephemeral(&audience, frame);
            }
        }
        Err(error) => tracing::warn!(%error, "presence: audience unavailable"),
    }
}

async fn announce_presence(state: &AppState, user_id: i64, online: bool) {
    let contacts = match state.store.presence_audience(user_id, false).await {
        Ok(contacts) => contacts,
        Err(error) => {
            tracing::warn!(%error, "presence: contacts unavailable");
            return;
        }
    };
    if let Ok(frame) = frames::ephemeral(&Ephemeral::Presence { user_id, online }) {
        state.bus.ephemeral(&contacts, frame);
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
        assert_eq!(clean_name(Some("\u{202e}gnp.exe")), "gnp.exe");
        assert_eq!(clean_name(Some("a\u{200b}b\u{2066}.txt")), "ab.txt");
    }
}
