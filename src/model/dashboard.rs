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
    pub conversations: Vec<Conversation>,
    /// The user's latest event sequence number, read before the rest.
    pub cursor: i64,
}

impl DashboardSummary {
    /// Notifications listed under "New for you".
    pub const PRESSING: u32 = 5;
    /// Conversations listed under "Unread messages".
    pub const CONVERSATIONS: usize = 5;
}
