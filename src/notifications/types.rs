//! Notification types as API.md defines them. Both sides.

use serde::{Deserialize, Serialize};

use crate::auth::types::User;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
}

/// One notification of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub category: Category,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub key: Option<String>,
    pub read: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub actor: Option<User>,
    pub data: Option<serde_json::Value>,
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub muted_categories: Vec<Category>,
    pub sound: bool,
    pub browser_notifications: bool,
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
}
