//! Chat types as API.md defines them (conversations, messages,
//! attachments) and the validated inputs. Both sides, so the composer
//! checks a message with the server's own rules before sending it.

use serde::{Deserialize, Serialize};

use crate::model::error::ApiError;
use crate::model::user::User;

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest group title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Most members a group may be created with (besides its creator).
pub const MAX_GROUP_MEMBERS: usize = 100;
/// How long a typing signal holds, in milliseconds, after the last one.
pub const TYPING_EXPIRES_MS: i64 = 5_000;

/// Two people, or a named group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "direct" => Some(Self::Direct),
            "group" => Some(Self::Group),
            _ => None,
        }
    }
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: i64,
    /// The name it was uploaded with (shown, never used to store it).
    pub name: String,
    pub size: i64,
    /// Detected from the content.
    pub mime: String,
    pub url: String,
}

impl Attachment {
    /// Whether browsers may show it inline: a raster image type that
    /// cannot carry script.
    pub fn is_image(&self) -> bool {
        is_safe_image(&self.mime)
    }
}

/// Image types shown inline; everything else is a download.
pub fn is_safe_image(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub sender: User,
    pub body: String,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub client_id: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// How far a member has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMarker {
    pub user_id: i64,
    pub up_to_message_id: i64,
}

/// Whether a member is connected now, or when they last were.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberPresence {
    pub user_id: i64,
    pub online: bool,
    #[serde(default, deserialize_with = "crate::model::time::read_option")]
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A conversation as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: i64,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub members: Vec<User>,
    pub last_message: Option<Message>,
    /// Messages from others after this member's read marker.
    pub unread_count: i64,
    /// Who created it (manages a group's members).
    #[serde(default)]
    pub created_by: Option<i64>,
    /// Every member's read marker (for "seen" receipts).
    #[serde(default)]
    pub read_markers: Vec<ReadMarker>,
    /// The members' presence (for the list's dot).
    #[serde(default)]
    pub presence: Vec<MemberPresence>,
    /// Time of the last message, or of creation.
    #[serde(default, deserialize_with = "crate::model::time::read_option")]
    pub last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Conversation {
    /// Applies a `conversation_member_added` delta (a repeat changes nothing).
    pub fn member_added(&mut self, member: &User, read_up_to: i64) {
        if self.members.iter().any(|m| m.id == member.id) {
            return;
        }
        self.members.push(member.clone());
        self.read_markers.push(ReadMarker {
            user_id: member.id,
            up_to_message_id: read_up_to,
        });
        self.presence.push(MemberPresence {
            user_id: member.id,
            online: false,
            last_seen_at: None,
        });
    }

    /// Takes the live presence `known` has for the same members: presence
    /// learned from the stream is newer than the store's snapshot that a
    /// `conversation_updated` event carries (where nobody is online).
    pub fn keep_live_presence(&mut self, known: &Conversation) {
        for presence in &mut self.presence {
            if let Some(live) = known
                .presence
                .iter()
                .find(|p| p.user_id == presence.user_id)
            {
                presence.online = live.online;
            }
        }
    }

    /// Applies a `conversation_read`: `user_id` has read up to
    /// `up_to_message_id` (markers only move forward). When that is `me`
    /// and it covers the last message, nothing is unread any more.
    pub fn read_by(&mut self, user_id: i64, up_to_message_id: i64, me: i64) {
        match self.read_markers.iter_mut().find(|m| m.user_id == user_id) {
            Some(marker) => marker.up_to_message_id = marker.up_to_message_id.max(up_to_message_id),
            None => self.read_markers.push(ReadMarker {
                user_id,
                up_to_message_id,
            }),
        }
        let last = self.last_message.as_ref().map_or(0, |m| m.id);
        if user_id == me && up_to_message_id >= last {
            self.unread_count = 0;
        }
    }

    /// Applies a `conversation_member_removed` delta.
    pub fn member_removed(&mut self, user_id: i64) {
        self.members.retain(|m| m.id != user_id);
        self.read_markers.retain(|m| m.user_id != user_id);
        self.presence.retain(|p| p.user_id != user_id);
    }

    /// The other member of a direct conversation, as seen by `me`.
    pub fn peer(&self, me: i64) -> Option<&User> {
        (self.kind == ConversationKind::Direct)
            .then(|| self.members.iter().find(|m| m.id != me))
            .flatten()
    }

    /// What to call it: a group's title, or the other person's name.
    pub fn display_title(&self, me: i64) -> String {
        match (&self.title, self.peer(me)) {
            (Some(title), _) if self.kind == ConversationKind::Group => title.clone(),
            (_, Some(peer)) => peer.display_name.clone(),
            _ => "Conversation".to_owned(),
        }
    }

    /// A member's read marker (0 when they have read nothing).
    pub fn read_up_to(&self, user_id: i64) -> i64 {
        self.read_markers
            .iter()
            .find(|m| m.user_id == user_id)
            .map_or(0, |m| m.up_to_message_id)
    }

    /// How many members other than `sender` have read message `id`.
    pub fn seen_by(&self, id: i64, sender: i64) -> usize {
        self.read_markers
            .iter()
            .filter(|m| m.user_id != sender && m.up_to_message_id >= id)
            .count()
    }
}

/// `POST /api/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum NewConversation {
    Direct {
        with: String,
    },
    Group {
        title: String,
        #[serde(default)]
        members: Vec<String>,
    },
}

/// `POST /api/conversations/{id}/messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub attachment_ids: Vec<i64>,
}

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage {
    pub body: String,
    pub client_id: Option<String>,
    pub attachment_ids: Vec<i64>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: "validation".into(),
        message: message.into(),
        field: Some(field.into()),
    }
}

impl SendMessage {
    /// Checks API.md's limits: a body of 1 to 4,000 characters (it may be
    /// empty when files are attached), a short `client_id`, at most ten
    /// attachments.
    pub fn parse(self) -> Result<ValidMessage, ApiError> {
        let mut attachment_ids = self.attachment_ids;
        attachment_ids.sort_unstable();
        attachment_ids.dedup();
        if attachment_ids.len() > MAX_ATTACHMENTS {
            return Err(invalid(
                "attachment_ids",
                format!("A message can carry at most {MAX_ATTACHMENTS} files."),
            ));
        }
        let body = self.body.trim_end().to_owned();
        let body = if body.trim().is_empty() {
            String::new()
        } else {
            body
        };
        let length = body.chars().count();
        if length == 0 && attachment_ids.is_empty() {
            return Err(invalid("body", "Write a message first."));
        }
        if length > MAX_BODY_CHARS {
            return Err(invalid(
                "body",
                format!("Messages are at most {MAX_BODY_CHARS} characters ({length} now)."),
            ));
        }
        let client_id = match self.client_id {
            Some(id) if id.is_empty() || id.len() > 100 => {
                return Err(invalid("client_id", "client_id must be 1 to 100 bytes."));
            }
            other => other,
        };
        Ok(ValidMessage {
            body,
            client_id,
            attachment_ids,
        })
    }
}

/// `GET /api/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    /// The user's latest event sequence number, read before the list: a
    /// stream resumed from it misses nothing that changed the list after.
    #[serde(default)]
    pub cursor: i64,
}

/// `GET /api/conversations/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Older messages exist before the first one.
    #[serde(default)]
    pub has_more: bool,
}

impl MessagePage {
    /// Messages per page unless `limit` says otherwise.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest `limit`.
    pub const MAX_LIMIT: u32 = 100;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(presence: &[(i64, bool)]) -> Conversation {
        Conversation {
            id: 1,
            kind: ConversationKind::Group,
            title: Some("g".into()),
            members: Vec::new(),
            last_message: None,
            unread_count: 3,
            created_by: None,
            read_markers: Vec::new(),
            presence: presence
                .iter()
                .map(|&(user_id, online)| MemberPresence {
                    user_id,
                    online,
                    last_seen_at: None,
                })
                .collect(),
            last_activity_at: None,
        }
    }

    #[test]
    fn live_presence_outlives_a_stored_snapshot() {
        let known = group(&[(1, true), (2, false)]);
        let mut updated = group(&[(1, false), (2, false), (3, false)]);
        updated.keep_live_presence(&known);
        let online: Vec<bool> = updated.presence.iter().map(|p| p.online).collect();
        assert_eq!(online, vec![true, false, false]);
    }

    #[test]
    fn read_markers_only_move_forward_and_clear_my_unread_count() {
        let mut c = group(&[]);
        c.read_by(2, 5, 1);
        c.read_by(2, 4, 1);
        assert_eq!(
            c.read_markers,
            vec![ReadMarker {
                user_id: 2,
                up_to_message_id: 5
            }]
        );
        assert_eq!(c.unread_count, 3, "someone else read");
        c.read_by(1, 9, 1);
        assert_eq!(c.unread_count, 0);
    }

    fn send(body: &str, attachments: Vec<i64>) -> SendMessage {
        SendMessage {
            body: body.into(),
            client_id: None,
            attachment_ids: attachments,
        }
    }

    #[test]
    fn message_bodies_are_checked() {
        assert_eq!(send("hi  \n", vec![]).parse().unwrap().body, "hi");
        assert_eq!(
            send("  \n ", vec![]).parse().unwrap_err().field.as_deref(),
            Some("body")
        );
        assert_eq!(send("", vec![3]).parse().unwrap().body, "");
        assert!(send(&"é".repeat(4000), vec![]).parse().is_ok());
        assert!(send(&"é".repeat(4001), vec![]).parse().is_err());
        assert!(send("x", (1..=11).collect()).parse().is_err());
        assert_eq!(
            send("x", vec![2, 1, 2]).parse().unwrap().attachment_ids,
            vec![1, 2]
        );
        let long_id = SendMessage {
            client_id: Some("x".repeat(101)),
            ..send("x", vec![])
        };
        assert!(long_id.parse().is_err());
    }

    #[test]
    fn new_conversations_are_tagged_by_kind() {
        let direct: NewConversation =
            serde_json::from_value(serde_json::json!({"kind": "direct", "with": "bob"})).unwrap();
        assert_eq!(direct, NewConversation::Direct { with: "bob".into() });
        let group: NewConversation = serde_json::from_value(
            serde_json::json!({"kind": "group", "title": "Ops", "members": ["a", "b"]}),
        )
        .unwrap();
        assert!(matches!(group, NewConversation::Group { .. }));
        assert!(
            serde_json::from_value::<NewConversation>(serde_json::json!({"kind": "channel"}))
                .is_err()
        );
    }

    #[test]
    fn only_raster_images_are_inline() {
        assert!(is_safe_image("image/png"));
        assert!(!is_safe_image("image/svg+xml"));
        assert!(!is_safe_image("text/html"));
    }
}
