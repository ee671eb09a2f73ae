//! Live topics (API.md's "Topics"): named latest values such as a post's
//! like count. A topic carries state, not history: subscribers get the
//! newest value, intermediate ones may be skipped. Both sides.

use serde::{Deserialize, Serialize};

use crate::model::error::ApiError;

/// Largest topic value, as JSON text.
pub const MAX_VALUE_BYTES: usize = 4096;

/// `namespace:rest`: 3–200 characters of `A-Z a-z 0-9 _ . - : @`, with a
/// namespace of 1–32 characters of `a-z 0-9 _ -` before the first colon
/// (`post:123`, `restaurant:42:orders`). The namespace decides who may
/// subscribe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TopicName(String);

impl TopicName {
    /// Checks `input`.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let valid = (3..=200).contains(&input.len())
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '@'))
            && input.split_once(':').is_some_and(|(namespace, rest)| {
                (1..=32).contains(&namespace.len())
                    && namespace.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    })
                    && !rest.is_empty()
            });
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(ApiError {
                code: "validation".into(),
                message: "A topic is namespace:name (post:123): up to 200 characters of A–Z, a–z, 0–9 and _ . - : @, the namespace in lower case.".into(),
                field: Some("topic".into()),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first colon.
    pub fn namespace(&self) -> &str {
        self.0
            .split_once(':')
            .map_or(&self.0, |(namespace, _)| namespace)
    }
}

impl<'de> Deserialize<'de> for TopicName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A topic grant in a connection token: a topic, or a prefix ending in
/// `*` (`post:*`).
pub fn grant_covers(grant: &str, topic: &TopicName) -> bool {
    match grant.strip_suffix('*') {
        Some(prefix) => topic.as_str().starts_with(prefix),
        None => grant == topic.as_str(),
    }
}

/// A topic's latest value as streams (`event: topic`) and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopicUpdate {
    pub topic: String,
    pub value: serde_json::Value,
    /// Grows by one per publish to the topic: a client keeps the highest.
    pub version: i64,
}

/// Who may subscribe to a namespace's topics (setting `topic_access`).
/// Holders of a connection token that grants the topic may always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicAccess {
    /// Any signed-in user (or connection-token holder).
    Users,
    /// Members of the channel named exactly like the topic.
    Channel,
    /// Only holders of a token grant.
    Grant,
}

impl TopicAccess {
    /// Parses a rule's name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "users" => Some(Self::Users),
            "channel" => Some(Self::Channel),
            "grant" => Some(Self::Grant),
            _ => None,
        }
    }
}

/// The namespace of Herald's own topics (its pages use them); reserved.
pub const HERALD_NAMESPACE: &str = "herald";

/// Admins' live status figures (open streams, users online).
pub const STATUS_TOPIC: &str = "herald:status";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_have_a_namespace() {
        let topic = TopicName::parse("post:123").unwrap();
        assert_eq!(topic.namespace(), "post");
        assert_eq!(
            TopicName::parse("restaurant:42:orders")
                .unwrap()
                .namespace(),
            "restaurant"
        );
        for bad in [
            "post",
            ":1",
            "post:",
            "Post:1",
            "a b:1",
            "post:1/2",
            &format!("p:{}", "x".repeat(199)),
        ] {
            assert!(TopicName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_cover_a_topic_or_a_prefix() {
        let topic = TopicName::parse("post:123").unwrap();
        assert!(grant_covers("post:123", &topic));
        assert!(grant_covers("post:*", &topic));
        assert!(grant_covers("*", &topic));
        assert!(!grant_covers("post:12", &topic));
        assert!(!grant_covers("user:*", &topic));
    }
}
