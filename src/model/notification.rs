//! Notification types as API.md defines them. Both sides.

use serde::{Deserialize, Serialize};

use crate::model::json::OpaqueJson;
use crate::model::user::User;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Job,
    Message,
    Comment,
    Payment,
    Social,
    System,
}

impl Category {
    /// Every category, in the order the UI lists them.
    pub const ALL: [Self; 6] = [
        Self::Job,
        Self::Message,
        Self::Comment,
        Self::Payment,
        Self::Social,
        Self::System,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Message => "message",
            Self::Comment => "comment",
            Self::Payment => "payment",
            Self::Social => "social",
            Self::System => "system",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The plural label of the Notification Center's tab.
    pub fn label(self) -> &'static str {
        match self {
            Self::Job => "Jobs",
            Self::Message => "Messages",
            Self::Comment => "Comments",
            Self::Payment => "Payments",
            Self::Social => "Social",
            Self::System => "System",
        }
    }
}

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Self; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The label shown on the priority badge.
    pub fn label(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Normal => "Normal",
            Self::High => "High",
            Self::Urgent => "Urgent",
        }
    }
}

/// One notification of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub category: Category,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub key: Option<String>,
    pub read: bool,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub actor: Option<User>,
    /// The publisher's JSON object, passed on unread.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<serde_json::Value>))]
    pub data: Option<OpaqueJson>,
    /// Up to three buttons; events stored before actions existed have none.
    #[serde(default)]
    pub actions: Vec<NotificationAction>,
}

/// What a notification's button does when used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ActionMethod {
    /// Opens `url` (a page of this site or of the host app).
    #[default]
    #[serde(rename = "GET")]
    Open,
    /// Sends `body` to `url` from the browser, as the user's answer.
    #[serde(rename = "POST")]
    Post,
}

impl ActionMethod {
    fn is_open(&self) -> bool {
        *self == Self::Open
    }
}

/// One button of a notification: `{"label", "url"}` opens a page;
/// `{"label", "method": "POST", "url", "body"?}` calls the publisher's
/// endpoint from the user's browser. Using either marks the notification
/// read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationAction {
    pub label: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "ActionMethod::is_open")]
    pub method: ActionMethod,
    /// The JSON a POST action sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<serde_json::Value>))]
    pub body: Option<OpaqueJson>,
}

#[cfg(test)]
impl Notification {
    /// An unread notification with made-up text, for unit tests.
    pub(crate) fn example(id: i64, category: Category, priority: Priority) -> Self {
        Self {
            id,
            category,
            priority,
            title: format!("n{id}"),
            body: String::new(),
            url: None,
            key: None,
            read: false,
            created_at: chrono::DateTime::UNIX_EPOCH,
            actor: None,
            data: None,
            actions: Vec::new(),
        }
    }
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub muted_categories: Vec<Category>,
    pub sound: bool,
    pub browser_notifications: bool,
    /// Nobody sees whether this user is online (or when they last were).
    #[serde(default)]
    pub hide_presence: bool,
    /// Web Push to the user's subscribed devices while no Herald page of
    /// theirs is open. On unless turned off (subscribing a device is the
    /// opt-in); a client that leaves it out does not turn it off.
    #[serde(default = "push_default")]
    pub push: bool,
}

fn push_default() -> bool {
    true
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            muted_categories: Vec::new(),
            sound: false,
            browser_notifications: false,
            hide_presence: false,
            push: push_default(),
        }
    }
}

/// Which notifications to list: the filters of `GET /api/notifications`,
/// already parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationQuery {
    pub unread_only: bool,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Only notifications with a smaller id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 100 (20 when absent).
    pub limit: Option<u32>,
}

impl NotificationQuery {
    /// Page size when the query names none.
    pub const DEFAULT_LIMIT: u32 = 20;
    /// Largest page.
    pub const MAX_LIMIT: u32 = 100;

    /// Whether `notification` belongs in this query's list (ignoring paging).
    pub fn matches(&self, notification: &Notification) -> bool {
        (!self.unread_only || !notification.read)
            && self.category.is_none_or(|c| c == notification.category)
            && self.priority.is_none_or(|p| p == notification.priority)
    }
}

/// One page of a user's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub unread_count: i64,
    /// The user's latest event sequence number when the page was read: a
    /// stream resumed from it misses nothing that happened afterwards.
    pub cursor: i64,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// Who a notification sent from the admin form goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    Everyone,
    Users(Vec<String>),
}

/// The admin form's notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDraft {
    pub to: Recipients,
    pub category: Category,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert!(Priority::Urgent > Priority::Low);
    }

    #[test]
    fn queries_match_their_filters() {
        let mut item = Notification::example(1, Category::Job, Priority::High);
        let unread = NotificationQuery {
            unread_only: true,
            ..Default::default()
        };
        let payments = NotificationQuery {
            category: Some(Category::Payment),
            ..Default::default()
        };
        assert!(NotificationQuery::default().matches(&item));
        assert!(unread.matches(&item));
        assert!(!payments.matches(&item));
        item.read = true;
        assert!(!unread.matches(&item));
    }
}
