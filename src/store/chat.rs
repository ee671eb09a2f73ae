//! Conversations, members and read markers, messages and attachments.
//! Every change writes its events for the members in the same
//! transaction, so chat inherits the event log's exact replay. Reads are
//! always scoped by membership: a query for a conversation the viewer is
//! not in finds nothing. Server only.

use super::accounts::{millis_to_time, user_from};
use super::events;
use super::notifications::{NewNotification, read_keyed_notification, write_notification};
use super::rows::{Backend, Columns, Row, args, id_list, ids_in};
use super::writer::WriteTx;
use super::{INSTANCE_SILENT_MS, Pool, Store, StoreError};
use crate::model::chat::{
    Attachment, Conversation, ConversationKind, MemberPresence, Message, ReadMarker, ValidMessage,
};
use crate::model::event::Event;
use crate::model::json::Deferred;
use crate::model::user::User;

/// The notification key that collapses a conversation's message
/// notifications into one per recipient.
pub fn notification_key(conversation_id: i64) -> String {
    format!("conversation:{conversation_id}")
}

/// What sending a message did.
#[derive(Debug)]
pub enum Sent {
    /// Written, with its events; `first_from_sender` when the sender had
    /// never written in this conversation before.
    New {
        message: Message,
        first_from_sender: bool,
    },
    /// The sender already sent a message with this `client_id`.
    Repeat(Message),
    /// An attachment id is not one of the sender's unsent uploads to this
    /// conversation.
    BadAttachments,
}

/// A new conversation.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub created_by: i64,
    /// Everyone in it, the creator included.
    pub members: Vec<i64>,
}

/// Who may do what in a conversation: its kind and creator, for a member.
#[derive(Debug, Clone, Copy)]
pub struct Membership {
    pub kind: ConversationKind,
    pub created_by: Option<i64>,
}

/// An uploaded file to record, before it is on any message.
#[derive(Debug)]
pub struct NewAttachment<'a> {
    pub conversation_id: i64,
    pub uploader: i64,
    /// The name shown to members (already cleaned).
    pub name: &'a str,
    pub size: i64,
    /// The sniffed type, never the client's claim.
    pub mime: &'a str,
    /// The generated file name under the uploads folder.
    pub stored_name: &'a str,
}

/// A stored attachment and the file behind it.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    pub attachment: Attachment,
    pub stored_name: String,
}

/// The messages whose ids are in the JSON list bound to `$1`.
fn messages_in_list(backend: Backend) -> &'static str {
    ids_in!(
        backend,
        "SELECT m.id, m.conversation_id, m.body, m.client_id, m.created_at,
                u.id AS sender_id, u.username, u.display_name, u.role
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.id IN ",
        1,
        " ORDER BY m.id"
    )
}

/// The attachments of the messages whose ids are in the JSON list.
fn attachments_in_list(backend: Backend) -> &'static str {
    ids_in!(
        backend,
        "SELECT id, message_id, name, size, mime FROM attachments WHERE message_id IN ",
        1,
        " ORDER BY id"
    )
}

/// A conversation and the viewer's read marker: (viewer, id).
const CONVERSATION_HEAD: &str =
    "SELECT c.kind, c.title, c.created_by, c.last_message_id, c.last_activity_at, m.read_up_to
     FROM conversations c
     JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1
     WHERE c.id = $2";

/// A conversation's members in the order they joined.
const CONVERSATION_MEMBERS: &str =
    "SELECT u.id, u.username, u.display_name, u.role, u.last_seen_at, m.read_up_to
     FROM conversation_members m JOIN users u ON u.id = m.user_id
     WHERE m.conversation_id = $1 ORDER BY m.joined_at, u.id";

/// Messages after the viewer's marker, not their own: (id, read_up_to, viewer).
const UNREAD_MESSAGES: &str =
    "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND id > $2 AND sender_id != $3";

const MEMBER_IDS: &str =
    "SELECT user_id FROM conversation_members WHERE conversation_id = $1 ORDER BY user_id";

fn attachment_from(row: &Row<'_>) -> Result<Attachment, StoreError> {
    let id: i64 = row.value("id")?;
    Ok(Attachment {
        id,
        name: row.value("name")?,
        size: row.value("size")?,
        mime: row.value("mime")?,
        url: format!("/api/attachments/{id}"),
    })
}

/// A message row, without its attachments (see [`with_attachments`]).
fn message_from(row: &Row<'_>) -> Result<Message, StoreError> {
    let role: String = row.value("role")?;
    Ok(Message {
        id: row.value("id")?,
        conversation_id: row.value("conversation_id")?,
        sender: crate::model::user::User {
            id: row.value("sender_id")?,
            username: row.value("username")?,
            display_name: row.value("display_name")?,
            role: crate::model::user::Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role}")))?,
        },
        body: row.value("body")?,
        created_at: millis_to_time(row.value("created_at")?),
        client_id: row.value("client_id")?,
        attachments: Vec::new(),
    })
}

/// An attachment row with the message it belongs to.
fn message_attachment_from(row: &Row<'_>) -> Result<(i64, Attachment), StoreError> {
    Ok((row.value("message_id")?, attachment_from(row)?))
}

/// Gives each message its attachments (`(message id, attachment)`, in order).
fn with_attachments(
    mut messages: Vec<Message>,
    attachments: Vec<(i64, Attachment)>,
) -> Vec<Message> {
    for (message_id, attachment) in attachments {
        if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
            message.attachments.push(attachment);
        }
    }
    messages
}

/// Messages with these ids (in id order), with their attachments.
async fn messages_by_ids(pool: &Pool, ids: &[i64]) -> Result<Vec<Message>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(ids)?;
    let backend = pool.backend();
    let messages = pool
        .all(messages_in_list(backend), &args![&list], message_from)
        .await?;
    let attachments = pool
        .all(
            attachments_in_list(backend),
            &args![&list],
            message_attachment_from,
        )
        .await?;
    Ok(with_attachments(messages, attachments))
}

/// One message as the writer's transaction sees it, with its attachments.
fn message_in_tx(tx: &mut WriteTx, id: i64) -> Result<Message, StoreError> {
    let list = id_list(&[id])?;
    let backend = tx.backend();
    let message = tx
        .opt(messages_in_list(backend), &args![&list], message_from)?
        .ok_or_else(|| StoreError::Corrupt(format!("message {id} vanished")))?;
    let attachments = tx.all(
        attachments_in_list(backend),
        &args![&list],
        message_attachment_from,
    )?;
    with_attachments(vec![message], attachments)
        .pop()
        .ok_or_else(|| StoreError::Corrupt(format!("message {id} vanished")))
}

/// The parts of a conversation as its viewer sees it, read by either side.
struct ConversationParts {
    id: i64,
    kind: String,
    title: Option<String>,
    created_by: Option<i64>,
    last_activity_at: i64,
    members: Vec<(User, i64, Option<i64>)>,
    last_message: Option<Message>,
    unread_count: i64,
}

impl ConversationParts {
    /// Presence `online` is left false: only the hub knows it.
    fn into_conversation(self) -> Result<Conversation, StoreError> {
        let kind = ConversationKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation kind {}", self.kind)))?;
        let mut members = Vec::with_capacity(self.members.len());
        let mut read_markers = Vec::with_capacity(self.members.len());
        let mut presence = Vec::with_capacity(self.members.len());
        for (user, read_up_to, last_seen_at) in self.members {
            read_markers.push(ReadMarker {
                user_id: user.id,
                up_to_message_id: read_up_to,
            });
            presence.push(MemberPresence {
                user_id: user.id,
                online: false,
                last_seen_at: last_seen_at.map(millis_to_time),
            });
            members.push(user);
        }
        Ok(Conversation {
            id: self.id,
            kind,
            title: self.title,
            members,
            last_message: self.last_message,
            unread_count: self.unread_count,
            created_by: self.created_by,
            read_markers,
            presence,
            last_activity_at: Some(millis_to_time(self.last_activity_at)),
        })
    }
}

/// A member row: the user, their read marker, when they were last seen.
fn member_from(row: &Row<'_>) -> Result<(User, i64, Option<i64>), StoreError> {
    Ok((
        user_from(row)?,
        row.value("read_up_to")?,
        row.value("last_seen_at")?,
    ))
}

/// The conversation as member `viewer` sees it; `None` when they are not
/// a member (or it does not exist).
async fn conversation_in(
    pool: &Pool,
    id: i64,
    viewer: i64,
) -> Result<Option<Conversation>, StoreError> {
    let Some(head) = pool
        .opt(CONVERSATION_HEAD, &args![viewer, id], conversation_head)
        .await?
    else {
        return Ok(None);
    };
    let members = pool
        .all(CONVERSATION_MEMBERS, &args![id], member_from)
        .await?;
    let last_message = match head.last_message_id {
        Some(message_id) => messages_by_ids(pool, &[message_id]).await?.pop(),
        None => None,
    };
    let unread_count: i64 = pool
        .scalar(UNREAD_MESSAGES, &args![id, head.read_up_to, viewer])
        .await?
        .unwrap_or(0);
    head.into_parts(id, members, last_message, unread_count)
        .into_conversation()
        .map(Some)
}

/// A conversation's own row and the viewer's read marker.
struct ConversationHead {
    read_up_to: i64,
    last_message_id: Option<i64>,
    kind: String,
    title: Option<String>,
    created_by: Option<i64>,
    last_activity_at: i64,
}

impl ConversationHead {
    fn into_parts(
        self,
        id: i64,
        members: Vec<(User, i64, Option<i64>)>,
        last_message: Option<Message>,
        unread_count: i64,
    ) -> ConversationParts {
        ConversationParts {
            id,
            kind: self.kind,
            title: self.title,
            created_by: self.created_by,
            last_activity_at: self.last_activity_at,
            members,
            last_message,
            unread_count,
        }
    }
}

fn conversation_head(row: &Row<'_>) -> Result<ConversationHead, StoreError> {
    Ok(ConversationHead {
        read_up_to: row.value("read_up_to")?,
        last_message_id: row.value("last_message_id")?,
        kind: row.value("kind")?,
        title: row.value("title")?,
        created_by: row.value("created_by")?,
        last_activity_at: row.value("last_activity_at")?,
    })
}

/// [`conversation_in`], inside the writer's transaction.
fn conversation_in_tx(
    tx: &mut WriteTx,
    id: i64,
    viewer: i64,
) -> Result<Option<Conversation>, StoreError> {
    let Some(head) = tx.opt(CONVERSATION_HEAD, &args![viewer, id], conversation_head)? else {
        return Ok(None);
    };
    let members = tx.all(CONVERSATION_MEMBERS, &args![id], member_from)?;
    let last_message = head
        .last_message_id
        .map(|message_id| message_in_tx(tx, message_id))
        .transpose()?;
    let unread_count: i64 = tx
        .scalar(UNREAD_MESSAGES, &args![id, head.read_up_to, viewer])?
        .unwrap_or(0);
    head.into_parts(id, members, last_message, unread_count)
        .into_conversation()
        .map(Some)
}

fn member_ids_in_tx(tx: &mut WriteTx, conversation_id: i64) -> Result<Vec<i64>, StoreError> {
    tx.all(MEMBER_IDS, &args![conversation_id], |row| row.at(0))
}

/// A conversation for a stored event: presence is live and per viewer
/// (who may see whom), so events carry none of it; clients ask for it.
fn without_presence(mut conversation: Conversation) -> Conversation {
    for presence in &mut conversation.presence {
        presence.online = false;
        presence.last_seen_at = None;
    }
    conversation
}

/// Appends one event, serialized once, to each of `members`.
fn append_to_all(
    tx: &mut WriteTx,
    members: &[i64],
    event: &Event,
    now: i64,
) -> Result<(), StoreError> {
    let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for &member in members {
        events::append_payload(tx, member, event.name(), payload.clone(), now)?;
    }
    Ok(())
}

/// What adding a member did.
#[derive(Debug)]
pub enum AddMember {
    /// Added, with the events telling everyone.
    Added,
    /// They were a member already.
    AlreadyMember,
    /// The group has `max_group_members` members.
    Full,
}

impl Store {
    /// The direct conversation of these two users, if they have one.
    pub async fn find_direct(&self, a: i64, b: i64) -> Result<Option<i64>, StoreError> {
        self.pool
            .scalar(
                "SELECT id FROM conversations WHERE direct_key = $1",
                &args![&direct_key(a, b)],
            )
            .await
    }

    /// The conversation as `viewer` sees it; `None` unless they are a member.
    pub async fn conversation(
        &self,
        id: i64,
        viewer: i64,
    ) -> Result<Option<Conversation>, StoreError> {
        conversation_in(&self.pool, id, viewer).await
    }

    /// `viewer`'s conversations, most recent activity first (at most `limit`).
    pub async fn conversations(
        &self,
        viewer: i64,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError> {
        let ids: Vec<i64> = self
            .pool
            .column(
                "SELECT c.id FROM conversations c
                 JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1
                 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $2",
                &args![viewer, limit],
            )
            .await?;
        let mut conversations = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(conversation) = conversation_in(&self.pool, id, viewer).await? {
                conversations.push(conversation);
            }
        }
        Ok(conversations)
    }

    /// The conversation's kind and creator, if `user_id` is a member.
    pub async fn membership(
        &self,
        conversation_id: i64,
        user_id: i64,
    ) -> Result<Option<Membership>, StoreError> {
        self.pool
            .opt(
                "SELECT c.kind, c.created_by FROM conversations c
                 JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1
                 WHERE c.id = $2",
                &args![user_id, conversation_id],
                |row| {
                    let kind: String = row.value("kind")?;
                    Ok(Membership {
                        kind: ConversationKind::parse(&kind).ok_or_else(|| {
                            StoreError::Corrupt(format!("conversation kind {kind}"))
                        })?,
                        created_by: row.value("created_by")?,
                    })
                },
            )
            .await
    }

    /// Everyone in the conversation.
    pub async fn member_ids(&self, conversation_id: i64) -> Result<Vec<i64>, StoreError> {
        self.pool.column(MEMBER_IDS, &args![conversation_id]).await
    }

    /// Who may see `user_id`'s presence: the members of conversations in
    /// which `user_id` has written (opening a direct conversation with
    /// someone does not reveal when they are online), none when they hide
    /// it, unless `even_if_hidden`.
    pub async fn presence_audience(
        &self,
        user_id: i64,
        even_if_hidden: bool,
    ) -> Result<Vec<i64>, StoreError> {
        self.pool
            .column(
                "SELECT DISTINCT other.user_id FROM conversation_members other
                 WHERE other.user_id != $1
                   AND other.conversation_id IN
                       (SELECT DISTINCT conversation_id FROM messages WHERE sender_id = $1)
                   AND ($2 OR NOT EXISTS (SELECT 1 FROM users WHERE id = $1 AND hide_presence))",
                &args![user_id, even_if_hidden],
            )
            .await
    }

    /// Which of `candidates` `viewer` may see online: those who do not hide
    /// it and have written in a conversation `viewer` is in.
    pub async fn presence_visible_to(
        &self,
        viewer: i64,
        candidates: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        let list = id_list(candidates)?;
        let sql = ids_in!(
            self.backend(),
            "SELECT u.id FROM users u WHERE u.id IN ",
            1,
            " AND NOT u.hide_presence
               AND EXISTS (SELECT 1 FROM messages m
                   JOIN conversation_members mine
                     ON mine.conversation_id = m.conversation_id AND mine.user_id = $2
                   WHERE m.sender_id = u.id)"
        );
        self.pool.column(sql, &args![&list, viewer]).await
    }

    /// Records when `user_id` was last connected. Through the writer: when
    /// many streams end at once (a restart, a network outage), their users'
    /// writes share its transactions instead of queueing for SQLite's lock.
    pub async fn set_last_seen(&self, user_id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.exec(
                "UPDATE users SET last_seen_at = $1 WHERE id = $2",
                &args![now, user_id],
            )?;
            Ok(())
        })
        .await
    }

    /// A page of the conversation's messages before `before`, oldest first,
    /// and whether older ones exist. The caller checks membership.
    pub async fn messages(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let mut ids: Vec<i64> = self
            .pool
            .column(
                "SELECT id FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &args![conversation_id, before.unwrap_or(i64::MAX), i64::from(limit) + 1],
            )
            .await?;
        let has_more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        ids.reverse();
        Ok((messages_by_ids(&self.pool, &ids).await?, has_more))
    }

    /// The message `sender` sent to `conversation_id` with `client_id`, if
    /// any (a client_id is scoped to its conversation).
    pub async fn message_by_client_id(
        &self,
        conversation_id: i64,
        sender: i64,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let id: Option<i64> = self
            .pool
            .scalar(
                "SELECT id FROM messages WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3",
                &args![conversation_id, sender, client_id],
            )
            .await?;
        match id {
            Some(id) => Ok(messages_by_ids(&self.pool, &[id]).await?.pop()),
            None => Ok(None),
        }
    }

    /// Bytes of `user_id`'s uploads not yet on any message.
    pub async fn unsent_upload_bytes(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .pool
            .scalar(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments
                 WHERE uploader_id = $1 AND message_id IS NULL",
                &args![user_id],
            )
            .await?
            .unwrap_or(0))
    }

    /// Records an uploaded file (not yet on any message), unless the
    /// uploader's unsent files would then exceed `quota` bytes (`None`).
    /// One statement: concurrent uploads cannot overshoot together.
    pub async fn create_attachment(
        &self,
        new: &NewAttachment<'_>,
        quota: u64,
        now: i64,
    ) -> Result<Option<Attachment>, StoreError> {
        let id: Option<i64> = self
            .pool
            .scalar(
                "INSERT INTO attachments (conversation_id, uploader_id, name, size, mime, stored_name, created_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE (SELECT COALESCE(SUM(size), 0) FROM attachments
                        WHERE uploader_id = $2 AND message_id IS NULL) + $4 <= $8
                 RETURNING id",
                &args![
                    new.conversation_id,
                    new.uploader,
                    new.name,
                    new.size,
                    new.mime,
                    new.stored_name,
                    now,
                    i64::try_from(quota).unwrap_or(i64::MAX)
                ],
            )
            .await?;
        let Some(id) = id else { return Ok(None) };
        Ok(Some(Attachment {
            id,
            name: new.name.to_owned(),
            size: new.size,
            mime: new.mime.to_owned(),
            url: format!("/api/attachments/{id}"),
        }))
    }

    /// An attachment `viewer` may download: one on a message of a
    /// conversation they are in, or their own upload not sent yet.
    pub async fn attachment_for(
        &self,
        id: i64,
        viewer: i64,
    ) -> Result<Option<StoredAttachment>, StoreError> {
        self.pool
            .opt(
                "SELECT a.id, a.name, a.size, a.mime, a.stored_name FROM attachments a
                 JOIN conversation_members m ON m.conversation_id = a.conversation_id AND m.user_id = $1
                 WHERE a.id = $2 AND (a.message_id IS NOT NULL OR a.uploader_id = $1)",
                &args![viewer, id],
                |row| {
                    Ok(StoredAttachment {
                        attachment: attachment_from(row)?,
                        stored_name: row.value("stored_name")?,
                    })
                },
            )
            .await
    }

    /// Forgets uploads never sent with a message and older than
    /// `older_than`; returns their file names, to delete.
    pub async fn prune_unsent_attachments(
        &self,
        older_than: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.pool
            .column(
                "DELETE FROM attachments WHERE message_id IS NULL AND created_at < $1 RETURNING stored_name",
                &args![older_than],
            )
            .await
    }
}

/// Chat writes that append events; they run in the writer's transaction.
impl WriteTx {
    /// Creates a conversation with its members and tells each of them.
    /// A direct conversation that appeared meanwhile is returned instead
    /// (`false`: not created).
    pub fn create_conversation(
        &mut self,
        new: &NewConversation,
        now: i64,
    ) -> Result<(i64, bool), StoreError> {
        let key = match (new.kind, new.members.as_slice()) {
            (ConversationKind::Direct, [a, b]) => Some(direct_key(*a, *b)),
            _ => None,
        };
        if let Some(key) = &key {
            let existing: Option<i64> = self.scalar(
                "SELECT id FROM conversations WHERE direct_key = $1",
                &args![key],
            )?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        let id: i64 = self.one(
            "INSERT INTO conversations (kind, title, created_by, direct_key, last_activity_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            &args![new.kind.as_str(), &new.title, new.created_by, &key, now],
            |row| row.at(0),
        )?;
        for &member in &new.members {
            self.exec(
                "INSERT INTO conversation_members (conversation_id, user_id, joined_at) VALUES ($1, $2, $3)",
                &args![id, member, now],
            )?;
        }
        // A new conversation looks the same to every member (nothing read,
        // nothing unread): serialized once, written to each.
        if let Some(conversation) = conversation_in_tx(self, id, new.created_by)? {
            let event = Event::ConversationUpdated {
                conversation: Deferred::new(&without_presence(conversation))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            };
            append_to_all(self, &new.members, &event, now)?;
        }
        Ok((id, true))
    }

    /// Writes a message in ONE transaction with: its attachments linked, the
    /// conversation's activity, the sender's read marker, a `message` event
    /// for every member (serialized once), and for each of `notify` (members
    /// not looking at the conversation) the conversation's collapsed
    /// "message" notification, made by `notification` from their unread
    /// count in it.
    pub fn send_message(
        &mut self,
        conversation_id: i64,
        sender: i64,
        message: &ValidMessage,
        notify: &[i64],
        notification: impl Fn(i64) -> NewNotification,
        now: i64,
    ) -> Result<Sent, StoreError> {
        if let Some(client_id) = &message.client_id {
            let existing: Option<i64> = self.scalar(
                "SELECT id FROM messages WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3",
                &args![conversation_id, sender, client_id],
            )?;
            if let Some(id) = existing {
                return message_in_tx(self, id).map(Sent::Repeat);
            }
        }
        let wrote_before = self
            .opt(
                "SELECT 1 FROM messages WHERE sender_id = $1 AND conversation_id = $2 LIMIT 1",
                &args![sender, conversation_id],
                |_| Ok(()),
            )?
            .is_some();
        let attachment_list = id_list(&message.attachment_ids)?;
        if !message.attachment_ids.is_empty() {
            let sql = ids_in!(
                self.backend(),
                "SELECT COUNT(*) FROM attachments WHERE id IN ",
                1,
                " AND conversation_id = $2 AND uploader_id = $3 AND message_id IS NULL"
            );
            let usable: i64 = self
                .scalar(sql, &args![&attachment_list, conversation_id, sender])?
                .unwrap_or(0);
            if usable != message.attachment_ids.len() as i64 {
                return Ok(Sent::BadAttachments);
            }
        }
        let id: i64 = self.one(
            "INSERT INTO messages (conversation_id, sender_id, body, client_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &args![
                conversation_id,
                sender,
                &message.body,
                &message.client_id,
                now
            ],
            |row| row.at(0),
        )?;
        if !message.attachment_ids.is_empty() {
            let sql = ids_in!(
                self.backend(),
                "UPDATE attachments SET message_id = $2 WHERE id IN ",
                1,
                ""
            );
            self.exec(sql, &args![&attachment_list, id])?;
        }
        self.exec(
            "UPDATE conversations SET last_message_id = $1, last_activity_at = $2 WHERE id = $3",
            &args![id, now, conversation_id],
        )?;
        self.exec(
            "UPDATE conversation_members SET read_up_to = $1 WHERE conversation_id = $2 AND user_id = $3",
            &args![id, conversation_id, sender],
        )?;
        let written = message_in_tx(self, id)?;
        let event = Event::Message {
            message: Deferred::new(&written).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        };
        let members = member_ids_in_tx(self, conversation_id)?;
        append_to_all(self, &members, &event, now)?;
        for &recipient in notify {
            if recipient == sender || !members.contains(&recipient) {
                continue;
            }
            let unread: i64 = self
                .scalar(
                    "SELECT COUNT(*) FROM messages msg
                     JOIN conversation_members m ON m.conversation_id = msg.conversation_id AND m.user_id = $1
                     WHERE msg.conversation_id = $2 AND msg.id > m.read_up_to AND msg.sender_id != $1",
                    &args![recipient, conversation_id],
                )?
                .unwrap_or(0);
            write_notification(self, recipient, &notification(unread), now)?;
        }
        Ok(Sent::New {
            message: written,
            first_from_sender: !wrote_before,
        })
    }

    /// Moves `user_id`'s read marker forward to `up_to` (at most the newest
    /// message), tells every member (`conversation_read`), and marks the
    /// conversation's message notification read once everything is read.
    /// Nothing is written when the marker would not move.
    pub fn mark_conversation_read(
        &mut self,
        conversation_id: i64,
        user_id: i64,
        up_to: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let marker: Option<(i64, i64)> = self.opt(
            "SELECT m.read_up_to, COALESCE(c.last_message_id, 0)
             FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.conversation_id = $1 AND m.user_id = $2",
            &args![conversation_id, user_id],
            |row| Ok((row.at(0)?, row.at(1)?)),
        )?;
        let Some((current, last_id)) = marker else {
            return Ok(());
        };
        let target = up_to.min(last_id);
        if target <= current {
            return Ok(());
        }
        self.exec(
            "UPDATE conversation_members SET read_up_to = $1 WHERE conversation_id = $2 AND user_id = $3",
            &args![target, conversation_id, user_id],
        )?;
        let event = Event::ConversationRead {
            conversation_id,
            user_id,
            up_to_message_id: target,
        };
        let members = member_ids_in_tx(self, conversation_id)?;
        append_to_all(self, &members, &event, now)?;
        if target >= last_id {
            read_keyed_notification(self, user_id, &notification_key(conversation_id), now)?;
        }
        Ok(())
    }

    /// Adds a member to a group (their unread count starts at zero) and
    /// tells everyone.
    pub fn add_member(
        &mut self,
        conversation_id: i64,
        user_id: i64,
        max_members: u32,
        now: i64,
    ) -> Result<AddMember, StoreError> {
        let member_ids = member_ids_in_tx(self, conversation_id)?;
        if member_ids.contains(&user_id) {
            return Ok(AddMember::AlreadyMember);
        }
        if member_ids.len() >= max_members as usize {
            return Ok(AddMember::Full);
        }
        let read_up_to: i64 = self.one(
            "INSERT INTO conversation_members (conversation_id, user_id, read_up_to, joined_at)
             SELECT id, $1, COALESCE(last_message_id, 0), $2 FROM conversations WHERE id = $3
             RETURNING read_up_to",
            &args![user_id, now, conversation_id],
            |row| row.at(0),
        )?;
        // The newcomer gets the whole conversation; everyone else a small
        // delta, serialized once. Growing a group costs O(members), not
        // O(members²).
        if let Some(conversation) = conversation_in_tx(self, conversation_id, user_id)? {
            let member = conversation
                .members
                .iter()
                .find(|m| m.id == user_id)
                .cloned();
            let event = Event::ConversationUpdated {
                conversation: Deferred::new(&without_presence(conversation))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            };
            events::append(self, user_id, &event, now)?;
            if let Some(member) = member {
                let delta = Event::ConversationMemberAdded {
                    conversation_id,
                    member,
                    read_up_to,
                };
                append_to_all(self, &member_ids, &delta, now)?;
            }
        }
        Ok(AddMember::Added)
    }

    /// Removes a member: they get `conversation_removed` (and nothing from
    /// it afterwards), the others a `conversation_member_removed`. `false`
    /// when they were not a member.
    pub fn remove_member(
        &mut self,
        conversation_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let removed = self.exec(
            "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
            &args![conversation_id, user_id],
        )?;
        if removed == 0 {
            return Ok(false);
        }
        events::append(
            self,
            user_id,
            &Event::ConversationRemoved { conversation_id },
            now,
        )?;
        let others = member_ids_in_tx(self, conversation_id)?;
        let delta = Event::ConversationMemberRemoved {
            conversation_id,
            user_id,
        };
        append_to_all(self, &others, &delta, now)?;
        Ok(true)
    }
}

fn direct_key(a: i64, b: i64) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

/// Presence across instances (PostgreSQL): one row per user and instance
/// holding a stream of theirs, alive as long as that instance's row in
/// `instances` is renewed. On SQLite there is one instance, and its hub
/// alone knows who is online: these answer as if no other instance existed.
impl Store {
    /// Records that `user_id`'s first stream on this instance opened.
    pub async fn presence_here(&self, user_id: i64) -> Result<(), StoreError> {
        self.presence_counts(&[(user_id, 1)]).await
    }

    /// Records that `user_id`'s last stream on this instance ended; answers
    /// whether they are now offline everywhere.
    pub async fn presence_gone_here(&self, user_id: i64, now: i64) -> Result<bool, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(true);
        }
        self.pool
            .exec(
                "DELETE FROM presence WHERE user_id = $1 AND node = $2",
                &args![user_id, self.node_id()],
            )
            .await?;
        Ok(self.online_elsewhere(&[user_id], now).await?.is_empty())
    }

    /// Records how many streams each of `streams`' users holds on this
    /// instance (those whose count changed, or all of them now and then).
    pub async fn presence_counts(&self, streams: &[(i64, u32)]) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite || streams.is_empty() {
            return Ok(());
        }
        let counts: std::collections::BTreeMap<i64, u32> = streams.iter().copied().collect();
        let counts =
            serde_json::to_string(&counts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.pool
            .exec(
                "INSERT INTO presence (user_id, node, streams)
                 SELECT key::bigint, $2, value::integer FROM jsonb_each_text($1::jsonb)
                 WHERE EXISTS (SELECT 1 FROM users WHERE id = key::bigint)
                 ON CONFLICT (user_id, node) DO UPDATE SET streams = excluded.streams",
                &args![&counts, self.node_id()],
            )
            .await?;
        Ok(())
    }

    /// Deletes the rows of instances not heard from for
    /// [`INSTANCE_SILENT_MS`], and answers the users who are offline
    /// everywhere as a result. Each such row is deleted by one instance
    /// only, so each such user is announced once.
    pub async fn presence_orphaned(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(Vec::new());
        }
        // The outer query sees the table as it was before the DELETE: the
        // rows still alive are those of live instances.
        self.pool
            .column(
                "WITH gone AS (
                     DELETE FROM presence p WHERE NOT EXISTS
                         (SELECT 1 FROM instances i WHERE i.node = p.node AND i.heartbeat_at >= $1)
                     RETURNING user_id)
                 SELECT DISTINCT g.user_id FROM gone g
                 WHERE NOT EXISTS (SELECT 1 FROM presence p JOIN instances i ON i.node = p.node
                                   WHERE p.user_id = g.user_id AND i.heartbeat_at >= $1)",
                &args![now - INSTANCE_SILENT_MS],
            )
            .await
    }

    /// Those of `users` with a stream on another live instance.
    pub async fn online_elsewhere(&self, users: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        if self.backend() == Backend::Sqlite || users.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(users)?;
        self.pool
            .column(
                "SELECT DISTINCT p.user_id FROM presence p JOIN instances i ON i.node = p.node
                 WHERE p.user_id IN (SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))
                   AND p.node <> $2 AND i.heartbeat_at >= $3",
                &args![&list, self.node_id(), now - INSTANCE_SILENT_MS],
            )
            .await
    }
}
