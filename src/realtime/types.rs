//! Events on the stream, as the server writes them and the browser reads
//! them (`event: <type>` + `data: <JSON with the same "type">`). Both sides.

use serde::{Deserialize, Serialize};

use crate::notifications::types::Notification;

/// A stored event: it has a per-user sequence number (`id:`) and is
/// replayed to a client that resumes from an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Notification {
        notification: Notification,
    },
    NotificationUpdated {
        notification: Notification,
    },
    NotificationsRead {
        ids: Vec<i64>,
    },
    NotificationsReadAll {
        up_to_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<crate::notifications::types::Category>,
    },
    NotificationsDeleted {
        ids: Vec<i64>,
    },
}

impl Event {
    /// The SSE event name (equal to the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Notification { .. } => "notification",
            Self::NotificationUpdated { .. } => "notification_updated",
            Self::NotificationsRead { .. } => "notifications_read",
            Self::NotificationsReadAll { .. } => "notifications_read_all",
            Self::NotificationsDeleted { .. } => "notifications_deleted",
        }
    }
}

/// An ephemeral event: not stored, no `id:`, never replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ephemeral {
    /// First frame of every stream: the user's latest sequence number.
    Ready { cursor: i64 },
    /// The resume point is outside the stored window: refetch state.
    Reset { cursor: i64 },
}

impl Ephemeral {
    /// The SSE event name (equal to the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::Reset { .. } => "reset",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_with_their_name() {
        let events = [
            Event::NotificationsRead { ids: vec![1, 2] },
            Event::NotificationsReadAll {
                up_to_id: 9,
                category: None,
            },
            Event::NotificationsDeleted { ids: vec![3] },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.name());
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        }
        let ready = Ephemeral::Ready { cursor: 7 };
        assert_eq!(
            serde_json::to_value(&ready).unwrap(),
            serde_json::json!({"type": "ready", "cursor": 7})
        );
        assert_eq!(Ephemeral::Reset { cursor: 1 }.name(), "reset");
    }

    #[test]
    fn polled_events_carry_their_id_beside_the_type() {
        let polled = Sequenced {
            id: 4,
            event: Event::NotificationsDeleted { ids: vec![3] },
        };
        let json = serde_json::to_value(&polled).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 4, "type": "notifications_deleted", "ids": [3]})
        );
        assert_eq!(serde_json::from_value::<Sequenced>(json).unwrap(), polled);
    }
}
