//! What the dashboard shows a person: what is new for them since they last
//! looked. Both sides.

use serde::{Deserialize, Serialize};

use crate::model::chat::Conversation;
use crate::model::notification::{Category, Notification};

/// Unread notifications of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    pub category: Category,
    pub unread: i64,
}

/// The signed-in user's news, read at `cursor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    /// Every unread notification.
    pub unread_count: i64,
    /// By category, in [`Category::ALL`]'s order; only categories with some.
    pub by_category: Vec<CategoryCount>,
    /// The unread notifications that matter most: urgent and high first,
    /// then the newest.
    pub pressing: Vec<Notification>,
    /// Conversations with unread messages, most recent first.
    pub conversations: Vec<ConversationDigest>,
    /// The user's latest event sequence number, read before the rest.
    pub cursor: i64,
}

/// A conversation as the dashboard lists it: what it is called for the
/// reader, how much of it is unread and the start of its last message.
/// Not the whole [`Conversation`]: the first download then reads no
/// conversation, message or member lists (the chat pages, a module of
/// their own, do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationDigest {
    pub id: i64,
    pub title: String,
    pub unread: i64,
    /// The last message's first characters ([`Self::PREVIEW_CHARS`]).
    pub preview: String,
}

impl ConversationDigest {
    /// Characters of the last message shown.
    pub const PREVIEW_CHARS: usize = 80;

    /// `conversation` as `me` sees it.
    pub fn of(conversation: &Conversation, me: i64) -> Self {
        Self {
            id: conversation.id,
            title: conversation.display_title(me),
            unread: conversation.unread_count,
            preview: conversation
                .last_message
                .as_ref()
                .map(|m| m.body.chars().take(Self::PREVIEW_CHARS).collect())
                .unwrap_or_default(),
        }
    }
}

impl DashboardSummary {
    /// Notifications listed under "New for you".
    pub const PRESSING: u32 = 5;
    /// Conversations listed under "Unread messages".
    pub const CONVERSATIONS: usize = 5;
}
