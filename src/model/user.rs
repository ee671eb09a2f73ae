//! Account types on the wire and the validated inputs. Both sides, so the
//! browser can check a form before sending it with the server's own rules.

use serde::{Deserialize, Serialize};

use crate::model::error::ApiError;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A user as API.md shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl User {
    /// Whether the user may use the admin routes.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A user as administrators see it (with account state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserAccount {
    #[serde(flatten)]
    pub user: User,
    pub disabled: bool,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: "validation".into(),
        message: message.into(),
        field: Some(field.into()),
    }
}

/// 3–32 characters of `a-z 0-9 _ . -`, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Lower-cases and checks `input` (surrounding spaces are ignored).
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let name = input.trim().to_lowercase();
        let length = name.chars().count();
        if !(3..=32).contains(&length) {
            return Err(invalid(
                "username",
                "Username must be 3 to 32 characters long.",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(invalid(
                "username",
                "Username may contain only letters a–z, digits, and _ . -",
            ));
        }
        Ok(Self(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–128 characters. Never logged or shown (no `Display`, redacted `Debug`).
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Checks the length rule, counting characters (not bytes).
    pub fn parse(input: &str, field: &str) -> Result<Self, ApiError> {
        let length = input.chars().count();
        if length < 8 {
            return Err(invalid(
                field,
                "Password must be at least 8 characters long.",
            ));
        }
        if length > 128 {
            return Err(invalid(
                field,
                "Password must be at most 128 characters long.",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// 1–64 characters, no control characters; defaults to the username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// Characters that are invisible or change the direction of the text
/// around them: zero-width spaces and joiners, bidi embeddings, overrides
/// and isolates, the byte-order mark. In a name they only serve to
/// disguise it (`U+202E gnp.exe` shows as `exe.png`).
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{FEFF}'
    )
}

impl DisplayName {
    /// Trims and checks `input`; empty means "use the username". Invisible
    /// and direction-changing characters are removed.
    pub fn parse(input: Option<&str>, username: &Username) -> Result<Self, ApiError> {
        let cleaned: String = input
            .unwrap_or_default()
            .chars()
            .filter(|c| !is_invisible_format(*c))
            .collect();
        let name = cleaned.trim();
        if name.is_empty() {
            return Ok(Self(username.as_str().to_owned()));
        }
        if name.chars().count() > 64 {
            return Err(invalid(
                "display_name",
                "Display name must be at most 64 characters long.",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid(
                "display_name",
                "Display name must not contain control characters.",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_lose_invisible_and_bidi_characters() {
        let alice = Username::parse("alice").unwrap();
        let name = DisplayName::parse(Some("\u{202E}gnp.exe"), &alice).unwrap();
        assert_eq!(name.as_str(), "gnp.exe");
        let name = DisplayName::parse(Some("Al\u{200B}ice\u{2067}"), &alice).unwrap();
        assert_eq!(name.as_str(), "Alice");
        let name = DisplayName::parse(Some("\u{200B}\u{FEFF}"), &alice).unwrap();
        assert_eq!(name.as_str(), "alice", "nothing visible left: the username");
        assert_eq!(
            DisplayName::parse(Some("Zoë ☕"), &alice).unwrap().as_str(),
            "Zoë ☕"
        );
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(
            Username::parse(" Alice.B-1_ ").unwrap().as_str(),
            "alice.b-1_"
        );
        assert_eq!(
            Username::parse("ab").unwrap_err().field.as_deref(),
            Some("username")
        );
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        for bad in ["al ice", "bob!", "émile", "a/b", "<script>"] {
            assert!(Username::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("1234567", "password").is_err());
        assert!(Password::parse("12345678", "password").is_ok());
        // 8 characters, 16 bytes.
        assert!(Password::parse("éééééééé", "password").is_ok());
        assert!(Password::parse(&"x".repeat(129), "password").is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pw", "password").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn display_names_default_to_the_username() {
        let name = Username::parse("bob").unwrap();
        assert_eq!(DisplayName::parse(None, &name).unwrap().as_str(), "bob");
        assert_eq!(
            DisplayName::parse(Some("  "), &name).unwrap().as_str(),
            "bob"
        );
        assert_eq!(
            DisplayName::parse(Some(" Bob B. "), &name)
                .unwrap()
                .as_str(),
            "Bob B."
        );
        assert!(DisplayName::parse(Some("a\u{0}b"), &name).is_err());
        assert!(DisplayName::parse(Some(&"x".repeat(65)), &name).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!(Role::parse("root"), None);
    }
}

/// An API token as listed to admins (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// Username of the admin who created it.
    pub created_by: String,
    #[serde(deserialize_with = "crate::model::time::read")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, deserialize_with = "crate::model::time::read_option")]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Notifications it may publish per minute; `None`: the server's
    /// `publish_rate_per_minute`.
    #[serde(default)]
    pub publish_rate_per_minute: Option<u32>,
}

/// The highest per-token publish limit one may set (per minute).
pub const MAX_TOKEN_PUBLISH_RATE: u32 = 10_000_000;

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

/// Changes to an account made by an admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}
