//! Events on the stream, as the server writes them and the browser reads
//! them (`event: <type>` + `data: <JSON with the same "type">`). Both sides.

use serde::{Deserialize, Serialize};

use crate::model::chat::{Conversation, Message};
use crate::model::notification::{Category, Notification};
use crate::model::user::User;

/// A stored event: it has a per-user sequence number (`id:`) and is
/// replayed to a client that resumes from an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
///
/// Every notification event carries `unread_count`: the recipient's number
/// of unread notifications once the change is applied. Written in the same
/// transaction, so a client that applies events in order always shows the
/// right count without asking. (Optional only for events stored before the
/// field existed.)
pub enum Event {
    Notification {
        notification: Notification,
        #[serde(default)]
        unread_count: Option<i64>,
    },
    NotificationUpdated {
        notification: Notification,
        #[serde(default)]
        unread_count: Option<i64>,
    },
    NotificationsRead {
        ids: Vec<i64>,
        #[serde(default)]
        unread_count: Option<i64>,
    },
    NotificationsReadAll {
        up_to_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<crate::model::notification::Category>,
        #[serde(default)]
        unread_count: Option<i64>,
    },
    NotificationsDeleted {
        ids: Vec<i64>,
        #[serde(default)]
        unread_count: Option<i64>,
    },
    /// A chat message, to every member of its conversation.
    Message { message: Message },
    /// A member read a conversation up to a message.
    ConversationRead {
        conversation_id: i64,
        user_id: i64,
        up_to_message_id: i64,
    },
    /// A conversation was created, or the recipient joined it: the whole
    /// conversation as the recipient sees it.
    ConversationUpdated { conversation: Conversation },
    /// Someone joined a group the recipient is in (`read_up_to`: their
    /// read marker, the group's last message when they joined).
    ConversationMemberAdded {
        conversation_id: i64,
        member: User,
        read_up_to: i64,
    },
    /// Someone left, or was removed from, a group the recipient is in.
    ConversationMemberRemoved { conversation_id: i64, user_id: i64 },
    /// The recipient is no longer a member of this conversation.
    ConversationRemoved { conversation_id: i64 },
}

impl Event {
    /// Whether this event marks the notification `id` (of `category`) read:
    /// it names it, or it is a "mark all read" up to at least `id` (of its
    /// category, when one was given). The one place this rule lives: the
    /// notification center, the toasts and the browser alerts all ask.
    pub fn reads(&self, id: i64, category: Category) -> bool {
        match self {
            Self::NotificationsRead { ids, .. } => ids.contains(&id),
            Self::NotificationsReadAll {
                up_to_id,
                category: only,
                ..
            } => id <= *up_to_id && only.is_none_or(|only| only == category),
            _ => false,
        }
    }

    /// Every stored event name, for clients that must subscribe by name
    /// (`EventSource.addEventListener`).
    pub const NAMES: [&'static str; 11] = [
        "notification",
        "notification_updated",
        "notifications_read",
        "notifications_read_all",
        "notifications_deleted",
        "message",
        "conversation_read",
        "conversation_updated",
        "conversation_member_added",
        "conversation_member_removed",
        "conversation_removed",
    ];

    /// The recipient's unread count after this event, when it carries one.
    pub fn unread_count(&self) -> Option<i64> {
        match self {
            Self::Notification { unread_count, .. }
            | Self::NotificationUpdated { unread_count, .. }
            | Self::NotificationsRead { unread_count, .. }
            | Self::NotificationsReadAll { unread_count, .. }
            | Self::NotificationsDeleted { unread_count, .. } => *unread_count,
            Self::Message { .. }
            | Self::ConversationRead { .. }
            | Self::ConversationUpdated { .. }
            | Self::ConversationMemberAdded { .. }
            | Self::ConversationMemberRemoved { .. }
            | Self::ConversationRemoved { .. } => None,
        }
    }

    /// The SSE event name (equal to the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Notification { .. } => "notification",
            Self::NotificationUpdated { .. } => "notification_updated",
            Self::NotificationsRead { .. } => "notifications_read",
            Self::NotificationsReadAll { .. } => "notifications_read_all",
            Self::NotificationsDeleted { .. } => "notifications_deleted",
            Self::Message { .. } => "message",
            Self::ConversationRead { .. } => "conversation_read",
            Self::ConversationUpdated { .. } => "conversation_updated",
            Self::ConversationMemberAdded { .. } => "conversation_member_added",
            Self::ConversationMemberRemoved { .. } => "conversation_member_removed",
            Self::ConversationRemoved { .. } => "conversation_removed",
        }
    }
}

/// An ephemeral event: not stored, no `id:`, never replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ephemeral {
    /// First frame of every stream: the user's latest sequence number, and
    /// the stream's id for changing its topics.
    Ready {
        cursor: i64,
        #[serde(default)]
        connection_id: String,
    },
    /// The resume point is outside the stored window: refetch state.
    Reset { cursor: i64 },
    /// Someone started or stopped typing in a conversation the recipient
    /// is in.
    Typing {
        conversation_id: i64,
        user: User,
        is_typing: bool,
    },
    /// Someone the recipient shares a conversation with connected or left.
    Presence { user_id: i64, online: bool },
    /// The connection token expired and the stream ends: fetch a new token
    /// and reconnect (resuming with the last event id).
    TokenExpired {},
}

impl Ephemeral {
    /// The ephemeral events a page hands to its components (the others
    /// steer the connection itself).
    pub const RELAYED: [&'static str; 2] = ["typing", "presence"];

    /// The SSE event name (equal to the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::Reset { .. } => "reset",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::TokenExpired {} => "token_expired",
        }
    }
}

/// A stored event with its sequence number, as `/api/events/poll` lists it
/// (`{"id": seq, "type": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequenced {
    pub id: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// `GET /api/events/poll`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollAnswer {
    pub events: Vec<Sequenced>,
    /// The user's latest sequence number.
    pub cursor: i64,
    /// The resume point is outside the stored window: refetch state.
    pub reset: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_rule_covers_named_ids_and_mark_all_read_by_category() {
        let read = Event::NotificationsRead {
            ids: vec![3],
            unread_count: None,
        };
        assert!(read.reads(3, Category::Job));
        assert!(!read.reads(4, Category::Job));
        let all = Event::NotificationsReadAll {
            up_to_id: 10,
            category: None,
            unread_count: None,
        };
        assert!(all.reads(10, Category::Social));
        assert!(!all.reads(11, Category::Social), "newer than the click");
        let jobs = Event::NotificationsReadAll {
            up_to_id: 10,
            category: Some(Category::Job),
            unread_count: None,
        };
        assert!(jobs.reads(2, Category::Job));
        assert!(!jobs.reads(2, Category::Social), "another category");
        let deleted = Event::NotificationsDeleted {
            ids: vec![3],
            unread_count: None,
        };
        assert!(!deleted.reads(3, Category::Job));
    }

    #[test]
    fn events_are_tagged_with_their_name() {
        let events = [
            Event::NotificationsRead {
                ids: vec![1, 2],
                unread_count: Some(4),
            },
            Event::NotificationsReadAll {
                up_to_id: 9,
                category: None,
                unread_count: Some(0),
            },
            Event::NotificationsDeleted {
                ids: vec![3],
                unread_count: None,
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.name());
            assert!(Event::NAMES.contains(&event.name()));
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        }
        // Events stored before `unread_count` existed still parse.
        let old: Event =
            serde_json::from_value(serde_json::json!({"type": "notifications_read", "ids": [5]}))
                .unwrap();
        assert_eq!(old.unread_count(), None);
        // Notifications stored before actions existed have none.
        let before_actions: Event = serde_json::from_value(serde_json::json!({
            "type": "notification", "unread_count": 1, "notification": {
                "id": 1, "category": "job", "priority": "high", "title": "t", "body": "b",
                "url": null, "key": null, "read": false, "created_at": "2026-01-01T00:00:00Z",
                "actor": null, "data": null
            }
        }))
        .unwrap();
        let Event::Notification { notification, .. } = before_actions else {
            panic!("not a notification");
        };
        assert!(notification.actions.is_empty());
        let ready = Ephemeral::Ready {
            cursor: 7,
            connection_id: "n.1.ab".into(),
        };
        assert_eq!(
            serde_json::to_value(&ready).unwrap(),
            serde_json::json!({"type": "ready", "cursor": 7, "connection_id": "n.1.ab"})
        );
        assert_eq!(
            serde_json::to_value(Ephemeral::TokenExpired {}).unwrap(),
            serde_json::json!({"type": "token_expired"})
        );
        assert_eq!(Ephemeral::Reset { cursor: 1 }.name(), "reset");
    }

    /// Every stored event type, from its JSON: it parses, names itself
    /// after its `type`, is listed in `NAMES`, and serializes back the same.
    #[test]
    fn every_stored_event_round_trips_under_its_name() {
        let user =
            serde_json::json!({"id": 2, "username": "bob", "display_name": "Bob", "role": "user"});
        let notification = serde_json::json!({
            "id": 1, "category": "job", "priority": "high", "title": "t", "body": "b",
            "url": null, "key": null, "read": false, "created_at": "2026-01-01T00:00:00Z",
            "actor": user, "data": null,
            "actions": [{"label": "Open", "url": "/jobs/1"},
                        {"label": "Accept", "url": "/jobs/1/accept", "method": "POST", "body": {"a": 1}}]
        });
        let message = serde_json::json!({
            "id": 3, "conversation_id": 4, "sender": user, "body": "hi",
            "created_at": "2026-01-01T00:00:00Z", "client_id": null, "attachments": []
        });
        let conversation = serde_json::json!({
            "id": 4, "kind": "group", "title": "Team", "members": [user], "last_message": message,
            "unread_count": 1, "created_by": 2, "read_markers": [], "presence": [],
            "last_activity_at": null
        });
        let samples = [
            serde_json::json!({"type": "notification", "notification": notification, "unread_count": 1}),
            serde_json::json!({"type": "notification_updated", "notification": notification, "unread_count": 1}),
            serde_json::json!({"type": "notifications_read", "ids": [1], "unread_count": 0}),
            serde_json::json!({"type": "notifications_read_all", "up_to_id": 1, "category": "job", "unread_count": 0}),
            serde_json::json!({"type": "notifications_deleted", "ids": [1], "unread_count": 0}),
            serde_json::json!({"type": "message", "message": message}),
            serde_json::json!({"type": "conversation_read", "conversation_id": 4, "user_id": 2, "up_to_message_id": 3}),
            serde_json::json!({"type": "conversation_updated", "conversation": conversation}),
            serde_json::json!({"type": "conversation_member_added", "conversation_id": 4, "member": user, "read_up_to": 3}),
            serde_json::json!({"type": "conversation_member_removed", "conversation_id": 4, "user_id": 2}),
            serde_json::json!({"type": "conversation_removed", "conversation_id": 4}),
        ];
        let mut names: Vec<&str> = Vec::new();
        for sample in samples {
            let event: Event =
                serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{sample}: {e}"));
            assert_eq!(sample["type"], event.name());
            assert_eq!(serde_json::to_value(&event).unwrap(), sample);
            names.push(event.name());
        }
        assert_eq!(names, Event::NAMES, "every name has a sample, in order");
    }

    #[test]
    fn polled_events_carry_their_id_beside_the_type() {
        let polled = Sequenced {
            id: 4,
            event: Event::NotificationsDeleted {
                ids: vec![3],
                unread_count: Some(2),
            },
        };
        let json = serde_json::to_value(&polled).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 4, "type": "notifications_deleted", "ids": [3], "unread_count": 2})
        );
        assert_eq!(serde_json::from_value::<Sequenced>(json).unwrap(), polled);
    }
}
