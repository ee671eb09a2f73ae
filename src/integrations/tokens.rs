//! Connection tokens: JWTs signed with HMAC-SHA256 by an integration's
//! secret (`alg` HS256 only, `kid` = the integration's name), carrying the
//! provisioned user's external id (`sub`), the expiry (`exp`, seconds),
//! the audience (`aud`, this Herald's `public_url`) and optional topic
//! grants (`topics`). A host app's backend makes them itself or asks
//! `POST /api/connection-tokens`. Hand-written rather than a JWT crate:
//! one algorithm, a few claims, and the crates pull in RSA and more.
//! Server only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::server::error::AppError;

/// Longest accepted token (a few topic grants fit many times over).
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Longest lifetime `POST /api/connection-tokens` grants, in seconds.
pub const MAX_TTL_SECS: i64 = 24 * 3600;

/// Most topic grants in one token.
pub const MAX_GRANTS: usize = 100;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// `aud` is a string or a list of strings (RFC 7519).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn includes(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(list) => list.iter().any(|aud| aud == wanted),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    aud: Audience,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    topics: Vec<String>,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub integration: String,
    pub external_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub topics: Vec<String>,
}

/// 401 `invalid_token`.
pub fn invalid() -> AppError {
    AppError::BadToken {
        code: "invalid_token",
        message: "This connection token is not valid here.",
    }
}

fn expired() -> AppError {
    AppError::BadToken {
        code: "token_expired",
        message: "This connection token has expired; fetch a new one.",
    }
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Whether `token` looks like a JWT (three base64url parts) rather than an
/// API token.
pub fn is_connection_token(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(crate::auth::session::TOKEN_PREFIX)
}

/// A token for `external_id` from `integration`, valid until `expires_at`
/// (Unix seconds), for audience `audience`.
pub fn sign(
    integration: &str,
    secret: &[u8],
    audience: &str,
    external_id: &str,
    issued_at: i64,
    expires_at: i64,
    topics: &[String],
) -> String {
    let header = Header {
        alg: "HS256".into(),
        typ: Some("JWT".into()),
        kid: Some(integration.into()),
    };
    let claims = Claims {
        sub: external_id.into(),
        exp: expires_at,
        aud: Audience::One(audience.into()),
        nbf: None,
        iat: Some(issued_at),
        topics: topics.to_vec(),
    };
    let signing_input = format!("{}.{}", json_part(&header), json_part(&claims));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A JWT part: base64url of the JSON.
fn json_part<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// The integration a token names (`kid`), before its signature is checked.
pub fn integration_of(token: &str) -> Result<String, AppError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid());
    }
    let header = token.split('.').next().ok_or_else(invalid)?;
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(invalid)?;
    if header.alg != "HS256" {
        return Err(invalid());
    }
    header.kid.ok_or_else(invalid)
}

/// Checks `token` against `secret` (the key of the integration it names),
/// the audience and the clock (`now`, Unix seconds).
pub fn verify(
    token: &str,
    integration: &str,
    secret: &[u8],
    audience: &str,
    now: i64,
) -> Result<Verified, AppError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
    let mut mac = mac(secret);
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(claims.as_bytes());
    // Constant time.
    mac.verify_slice(&signature).map_err(|_| invalid())?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(invalid)?;
    if !claims.aud.includes(audience) {
        return Err(invalid());
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + 30) {
        return Err(invalid());
    }
    if claims.exp <= now {
        return Err(expired());
    }
    if claims.topics.len() > MAX_GRANTS {
        return Err(invalid());
    }
    Ok(Verified {
        integration: integration.to_owned(),
        external_id: claims.sub,
        expires_at: claims.exp,
        topics: claims.topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "https://herald.example";

    fn token(secret: &[u8], exp: i64) -> String {
        sign("shop", secret, AUD, "u-1", 1000, exp, &["post:*".into()])
    }

    #[test]
    fn a_signed_token_verifies_with_its_secret_only() {
        let t = token(b"secret", 2000);
        assert!(is_connection_token(&t));
        assert_eq!(integration_of(&t).unwrap(), "shop");
        let verified = verify(&t, "shop", b"secret", AUD, 1500).unwrap();
        assert_eq!(verified.external_id, "u-1");
        assert_eq!(verified.expires_at, 2000);
        assert_eq!(verified.topics, vec!["post:*"]);
        assert!(verify(&t, "shop", b"other", AUD, 1500).is_err());
        assert!(verify(&t, "shop", b"secret", "https://else.example", 1500).is_err());
        let refused = verify(&t, "shop", b"secret", AUD, 2000).unwrap_err();
        assert_eq!(refused.status_and_code().1, "token_expired");
    }

    #[test]
    fn tampered_claims_and_other_algorithms_are_refused() {
        let t = token(b"secret", 2000);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.replace("u-1", "u-2"));
        assert!(verify(&parts.join("."), "shop", b"secret", AUD, 1500).is_err());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"shop"}"#),
            parts[1]
        );
        assert!(integration_of(&none).is_err());
        assert!(verify(&none, "shop", b"secret", AUD, 1500).is_err());
        assert!(!is_connection_token("hrld_abc"));
    }
}
