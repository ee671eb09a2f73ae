//! Host applications embedding Herald (API.md's "Embedding"): users
//! provisioned by the host app's own id, integrations (a connection-token
//! signing secret and the browser origins allowed to call Herald) and
//! connection tokens. Both sides (the types are plain data; only the
//! server uses most of them).

use serde::{Deserialize, Serialize};

use crate::model::error::ApiError;

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: "validation".into(),
        message: message.into(),
        field: Some(field.into()),
    }
}

/// The host application's id of a user: 1–128 characters of
/// `A-Z a-z 0-9 _ . - : @ |` (ids, emails, `tenant|42`). Kept exactly as
/// given: the host app looks users up by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ExternalId(String);

impl ExternalId {
    /// Checks `input`.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '@' | '|');
        if (1..=128).contains(&input.len()) && input.chars().all(allowed) {
            Ok(Self(input.to_owned()))
        } else {
            Err(invalid(
                "external_id",
                "An external id is 1 to 128 characters of A–Z, a–z, 0–9 and _ . - : @ |",
            ))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A provisioned user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExternalUser {
    pub id: i64,
    pub external_id: String,
    pub username: String,
    pub display_name: String,
    /// Whether a password is set (then the user may also sign in to
    /// Herald's own pages).
    pub has_password: bool,
    pub disabled: bool,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// 1–64 characters of `a-z 0-9 _ . -`: the `kid` of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IntegrationName(String);

impl IntegrationName {
    /// Checks `input`.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
        if (1..=64).contains(&input.len()) && input.chars().all(allowed) {
            Ok(Self(input.to_owned()))
        } else {
            Err(invalid(
                "name",
                "An integration name is 1 to 64 characters of a–z, 0–9 and _ . -",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A browser origin, `scheme://host[:port]`, as the `Origin` header sends
/// it (lower case, no path, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct WebOrigin(String);

impl WebOrigin {
    /// Checks and normalises `input` (`https://Shop.Example/` →
    /// `https://shop.example`).
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let bad = || {
            invalid(
                "origins",
                format!(
                    "{input:?} is not an origin such as https://shop.example or http://localhost:8080."
                ),
            )
        };
        let text = input.trim().trim_end_matches('/').to_ascii_lowercase();
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                (host, Some(port))
            }
            _ => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
        if !host_ok || port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(bad());
        }
        Ok(Self(text))
    }

    /// The origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An integration as the API shows it; `secret` only in the answer that
/// created or rotated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Integration {
    pub name: String,
    pub origins: Vec<String>,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The HMAC-SHA256 key for offline connection tokens, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A connection token and when it expires, as `POST
/// /api/connection-tokens` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConnectionToken {
    pub token: String,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_keep_their_case_and_refuse_paths() {
        assert_eq!(ExternalId::parse("User|42").unwrap().as_str(), "User|42");
        assert!(ExternalId::parse("ann@shop.example").is_ok());
        for bad in ["", "a/b", "a b", "é", &"a".repeat(129)] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_are_normalised_like_the_origin_header() {
        let parse = |s| WebOrigin::parse(s).map(|o| o.as_str().to_owned());
        assert_eq!(
            parse("https://Shop.Example/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(parse("http://[::1]:3000").unwrap(), "http://[::1]:3000");
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example/path",
            "https://shop.example:99999",
            "https://a b",
            "*",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn integration_names_are_lower_case_words() {
        assert!(IntegrationName::parse("shop-prod").is_ok());
        assert!(IntegrationName::parse("Shop").is_err());
        assert!(IntegrationName::parse("").is_err());
    }
}
