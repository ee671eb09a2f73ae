//! Channels: named, durable audiences a publish can address (API.md's
//! "Channels"). Both sides.

use serde::{Deserialize, Serialize};

use crate::model::error::ApiError;
use crate::model::user::User;

/// 1–100 characters of `a-z 0-9 _ . - :` (`restaurant:42`, `admins`).
/// Not lower-cased: a channel is named by a program, which should get
/// back exactly the name it used, and a name with capitals is refused
/// rather than silently merged with another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelName(String);

impl ChannelName {
    /// Checks `input`.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let length = input.chars().count();
        let allowed = |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-' | ':')
        };
        if (1..=100).contains(&length) && input.chars().all(allowed) {
            Ok(Self(input.to_owned()))
        } else {
            Err(ApiError {
                code: "validation".into(),
                message: "A channel name is 1 to 100 characters of a–z, 0–9 and _ . - :".into(),
                field: Some("channel".into()),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Channel {
    pub name: String,
    pub member_count: i64,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A page of a channel's members, by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelMembers {
    pub members: Vec<User>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::ChannelName;

    #[test]
    fn names_are_checked_not_rewritten() {
        assert_eq!(
            ChannelName::parse("restaurant:42").unwrap().as_str(),
            "restaurant:42"
        );
        assert!(ChannelName::parse("admins").is_ok());
        for bad in ["", "Admins", "a b", "x/y", &"a".repeat(101)] {
            assert!(ChannelName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
