//! Events on the stream, as the server writes them and the browser reads
//! them (`event: <type>` + `data: <JSON with the same "type">`). Both sides.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::chat::{Conversation, Message};
use crate::model::json::Deferred;
use crate::model::notification::{Category, Notification};
use crate::model::user::User;

/// Declares an internally tagged enum of events (`{"type": "<name>",
/// ...fields}`) from one list of variants, and from the same list:
/// - `name()` and `NAMES`, the wire names (the SSE event names);
/// - `decode(name, json)`, which reads one variant from its JSON.
///
/// Why `decode` rather than a derived `Deserialize` in the browser: serde
/// reads an internally tagged enum by buffering the whole object into its
/// private `Content` tree and then reading the variant from that, which
/// compiles every nested type's deserializer a second time, for `Content`.
/// That was over 120 KB of the first WASM download (of 1.8 MB before
/// `wasm-opt`). The stream names each event (`event:`), and `decode` reads
/// that variant's fields straight from the text.
///
/// The server reads events the same way: its `Deserialize` (server only,
/// so that browser code cannot reach for it) reads the `type`, then
/// [`decode`]s. A derived reading would buffer the object, and the text
/// that [`Deferred`] and [`OpaqueJson`] keep would be gone. So events are
/// read from JSON text (`serde_json::from_str`), never from a
/// `serde_json::Value`.
///
/// [`decode`]: Event::decode
/// [`OpaqueJson`]: crate::model::json::OpaqueJson
macro_rules! tagged_events {
    (
        $(#[$enum_meta:meta])*
        pub enum $enum:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $name:literal {
                    $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
                }
            ),* $(,)?
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type")]
        pub enum $enum {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $name)]
                $variant { $( $(#[$field_meta])* $field: $ty ),* },
            )*
        }

        impl $enum {
            /// Every wire name (SSE event name, equal to the JSON `type`),
            /// in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The SSE event name (equal to the JSON `type`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } => $name, )*
                }
            }

            /// Reads the variant named `name` from its JSON object; other
            /// members (`type` among them) are ignored.
            pub fn decode(name: &str, json: &str) -> Result<Self, serde_json::Error> {
                match name {
                    $(
                        $name => {
                            #[derive(Deserialize)]
                            struct Fields {
                                $( $(#[$field_meta])* $field: $ty ),*
                            }
                            let Fields { $($field),* } = crate::model::json::from_str(json)?;
                            Ok(Self::$variant { $($field),* })
                        }
                    )*
                    _ => Err(<serde_json::Error as serde::de::Error>::unknown_variant(
                        name,
                        Self::NAMES,
                    )),
                }
            }
        }

        /// Reads `{"type": ..., ...}` from JSON text (see the macro).
        #[cfg(feature = "ssr")]
        impl<'de> Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
                let head: Head = crate::model::json::from_str(raw.get())
                    .map_err(serde::de::Error::custom)?;
                Self::decode(&head.name, raw.get()).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An event's `type` (and, when polled, its `id`), read before the rest.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default)]
    id: Option<i64>,
    #[serde(rename = "type", borrow)]
    name: Cow<'a, str>,
}

tagged_events! {
    /// A stored event: it has a per-user sequence number (`id:`) and is
    /// replayed to a client that resumes from an earlier one.
    ///
    /// Every notification event carries `unread_count`: the recipient's number
    /// of unread notifications once the change is applied. Written in the same
    /// transaction, so a client that applies events in order always shows the
    /// right count without asking. (Optional only for events stored before the
    /// field existed.)
    pub enum Event {
        Notification = "notification" {
            notification: Notification,
            #[serde(default)]
            unread_count: Option<i64>,
        },
        NotificationUpdated = "notification_updated" {
            notification: Notification,
            #[serde(default)]
            unread_count: Option<i64>,
        },
        NotificationsRead = "notifications_read" {
            ids: Vec<i64>,
            #[serde(default)]
            unread_count: Option<i64>,
        },
        NotificationsReadAll = "notifications_read_all" {
            up_to_id: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            category: Option<Category>,
            #[serde(default)]
            unread_count: Option<i64>,
        },
        NotificationsDeleted = "notifications_deleted" {
            ids: Vec<i64>,
            #[serde(default)]
            unread_count: Option<i64>,
        },
        /// A chat message, to every member of its conversation. (Read by
        /// the chat pages only: see [`Deferred`].)
        Message = "message" { message: Deferred<Message> },
        /// A member read a conversation up to a message.
        ConversationRead = "conversation_read" {
            conversation_id: i64,
            user_id: i64,
            up_to_message_id: i64,
        },
        /// A conversation was created, or the recipient joined it: the whole
        /// conversation as the recipient sees it.
        ConversationUpdated = "conversation_updated" { conversation: Deferred<Conversation> },
        /// Someone joined a group the recipient is in (`read_up_to`: their
        /// read marker, the group's last message when they joined).
        ConversationMemberAdded = "conversation_member_added" {
            conversation_id: i64,
            member: User,
            read_up_to: i64,
        },
        /// Someone left, or was removed from, a group the recipient is in.
        ConversationMemberRemoved = "conversation_member_removed" {
            conversation_id: i64,
            user_id: i64,
        },
        /// The recipient is no longer a member of this conversation.
        ConversationRemoved = "conversation_removed" { conversation_id: i64 },
    }
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
}

tagged_events! {
    /// An ephemeral event: not stored, no `id:`, never replayed.
    pub enum Ephemeral {
        /// First frame of every stream: the user's latest sequence number, and
        /// the stream's id for changing its topics.
        Ready = "ready" {
            cursor: i64,
            #[serde(default)]
            connection_id: String,
        },
        /// The resume point is outside the stored window: refetch state.
        Reset = "reset" { cursor: i64 },
        /// Someone started or stopped typing in a conversation the recipient
        /// is in.
        Typing = "typing" {
            conversation_id: i64,
            user: User,
            is_typing: bool,
        },
        /// Someone the recipient shares a conversation with connected or left.
        Presence = "presence" { user_id: i64, online: bool },
        /// The connection token expired and the stream ends: fetch a new token
        /// and reconnect (resuming with the last event id).
        TokenExpired = "token_expired" {},
    }
}

impl Ephemeral {
    /// The ephemeral events a page hands to its components (the others
    /// steer the connection itself).
    pub const RELAYED: [&'static str; 2] = ["typing", "presence"];
}

/// A stored event with its sequence number, as `/api/events/poll` lists it
/// (`{"id": seq, "type": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequenced {
    pub id: i64,
    #[serde(flatten)]
    pub event: Event,
}

impl Sequenced {
    /// Reads one from its JSON the way [`Event::decode`] does: first the
    /// id and the type, then that type's fields.
    pub fn decode(json: &str) -> Result<Self, serde_json::Error> {
        let head: Head = crate::model::json::from_str(json)?;
        let id = head
            .id
            .ok_or_else(|| <serde_json::Error as serde::de::Error>::missing_field("id"))?;
        Ok(Self {
            id,
            event: Event::decode(&head.name, json)?,
        })
    }
}

/// Reads `{"id": ..., "type": ..., ...}` from JSON text, as events are.
#[cfg(feature = "ssr")]
impl<'de> Deserialize<'de> for Sequenced {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Self::decode(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// `GET /api/events/poll`'s answer. The browser reads its events as raw
/// JSON (`PollAnswer<&RawValue>`) and each with [`Sequenced::decode`],
/// keeping the text to relay to its other tabs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollAnswer<E = Sequenced> {
    pub events: Vec<E>,
    /// The user's latest sequence number.
    pub cursor: i64,
    /// The resume point is outside the stored window: refetch state.
    pub reset: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

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
            assert_eq!(
                serde_json::from_str::<Event>(&json.to_string()).unwrap(),
                event
            );
        }
        // Events stored before `unread_count` existed still parse.
        let old: Event =
            serde_json::from_str(r#"{"type": "notifications_read", "ids": [5]}"#).unwrap();
        assert_eq!(old.unread_count(), None);
        // Notifications stored before actions existed have none.
        let before_actions: Event = serde_json::from_str(
            &serde_json::json!({
                "type": "notification", "unread_count": 1, "notification": {
                    "id": 1, "category": "job", "priority": "high", "title": "t", "body": "b",
                    "url": null, "key": null, "read": false, "created_at": "2026-01-01T00:00:00Z",
                    "actor": null, "data": null
                }
            })
            .to_string(),
        )
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
            // From text: a message's or conversation's reader keeps the
            // text it was given (`Deferred`), which a `Value` has not.
            let event: Event = serde_json::from_str(&sample.to_string())
                .unwrap_or_else(|e| panic!("{sample}: {e}"));
            assert_eq!(sample["type"], event.name());
            assert_eq!(serde_json::to_value(&event).unwrap(), sample);
            // The browser's reading gives the same event, from the text as
            // the server writes it (`type` first) and with the members in
            // another order (a `Value` writes them sorted).
            let written = serde_json::to_string(&event).unwrap();
            assert_eq!(Event::decode(event.name(), &written).unwrap(), event);
            let sorted = sample.to_string();
            assert_eq!(Event::decode(event.name(), &sorted).unwrap(), event);
            names.push(event.name());
        }
        assert_eq!(names, Event::NAMES, "every name has a sample, in order");
    }

    #[test]
    fn decoding_refuses_unknown_types_and_missing_fields() {
        let unknown = Event::decode("party", r#"{"type": "party"}"#).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown variant `party`"),
            "{unknown}"
        );
        assert!(
            Event::decode(
                "conversation_removed",
                r#"{"type": "conversation_removed"}"#
            )
            .is_err()
        );
        assert!(Event::decode("message", "not json").is_err());
        // Optional members keep their defaults, as the derived reading does.
        assert_eq!(
            Event::decode("notifications_read", r#"{"ids": [5]}"#).unwrap(),
            Event::NotificationsRead {
                ids: vec![5],
                unread_count: None
            }
        );
        assert_eq!(
            Ephemeral::decode("token_expired", r#"{"type": "token_expired"}"#).unwrap(),
            Ephemeral::TokenExpired {}
        );
        assert_eq!(
            Ephemeral::decode("ready", r#"{"type": "ready", "cursor": 3}"#).unwrap(),
            Ephemeral::Ready {
                cursor: 3,
                connection_id: String::new()
            }
        );
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
        assert_eq!(
            serde_json::from_str::<Sequenced>(&json.to_string()).unwrap(),
            polled
        );
        assert_eq!(Sequenced::decode(&json.to_string()).unwrap(), polled);
        let answer = PollAnswer {
            events: vec![
                polled.clone(),
                Sequenced {
                    id: 5,
                    event: Event::ConversationRemoved { conversation_id: 9 },
                },
            ],
            cursor: 5,
            reset: false,
        };
        let text = serde_json::to_string(&answer).unwrap();
        let raw: PollAnswer<&RawValue> = serde_json::from_str(&text).unwrap();
        assert_eq!((raw.cursor, raw.reset), (5, false));
        let events: Vec<Sequenced> = raw
            .events
            .iter()
            .map(|e| Sequenced::decode(e.get()).unwrap())
            .collect();
        assert_eq!(events, answer.events);
        assert!(
            Sequenced::decode(r#"{"type": "conversation_removed", "conversation_id": 9}"#).is_err(),
            "no id"
        );
    }
}
