//! VAPID (RFC 8292): the server's P-256 key pair, kept in the database
//! (a new key would orphan every subscription, which browsers bind to it),
//! and the ES256 JWT that identifies Herald to a push service. Signed here
//! with p256's ECDSA: a JWT of three fixed claims needs no JWT library.
//! Server only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::server::random;
use crate::store::{Store, StoreError};

/// A token is valid this long (RFC 8292 allows at most 24 hours)...
const TOKEN_SECS: i64 = 12 * 3600;
/// ...and is signed anew once it has less than this left.
const RENEW_SECS: i64 = 3600;

/// The key pair and the tokens signed with it, per push service; cheap to
/// clone.
#[derive(Clone)]
pub struct Vapid {
    signing: Arc<SigningKey>,
    /// The public key as browsers take it (base64url, uncompressed point).
    public: Arc<str>,
    contact: Arc<str>,
    /// Per audience (push service origin): the token and its expiry.
    tokens: Arc<Mutex<HashMap<String, (String, i64)>>>,
}

impl Vapid {
    /// The key pair stored in the database, created on first start.
    pub async fn load(store: &Store, contact: String) -> Result<Self, StoreError> {
        let bytes = store.secret("vapid_private_key", new_private_key).await?;
        let secret = p256::SecretKey::from_slice(&bytes)
            .map_err(|_| StoreError::Corrupt("the VAPID key is not a P-256 key".into()))?;
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Ok(Self {
            signing: Arc::new(SigningKey::from(&secret)),
            public: public.into(),
            contact: contact.into(),
            tokens: Arc::default(),
        })
    }

    /// The public key, for `GET /api/push/key`.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to a service at `audience`
    /// (its origin), at `now` (Unix seconds).
    pub fn authorization(&self, audience: &str, now: i64) -> String {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = tokens
            .get(audience)
            .filter(|(_, expires)| expires - now > RENEW_SECS)
            .map(|(token, _)| token.clone());
        let token = fresh.unwrap_or_else(|| {
            let expires = now + TOKEN_SECS;
            let token = self.sign(audience, expires);
            tokens.insert(audience.to_owned(), (token.clone(), expires));
            token
        });
        format!("vapid t={token}, k={}", self.public)
    }

    fn sign(&self, audience: &str, expires: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": audience, "exp": expires, "sub": &*self.contact});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// 32 random bytes that make a valid P-256 private key (all but a
/// vanishing share of them do).
fn new_private_key() -> Vec<u8> {
    loop {
        let bytes = random::bytes::<32>();
        if p256::SecretKey::from_slice(&bytes).is_ok() {
            return bytes.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn vapid() -> Vapid {
        let secret = p256::SecretKey::from_slice(&new_private_key()).unwrap();
        Vapid {
            public: URL_SAFE_NO_PAD
                .encode(secret.public_key().to_encoded_point(false).as_bytes())
                .into(),
            signing: Arc::new(SigningKey::from(&secret)),
            contact: "mailto:ops@example.com".into(),
            tokens: Arc::default(),
        }
    }

    #[test]
    fn the_token_verifies_with_the_public_key_and_names_its_audience() {
        let vapid = vapid();
        let header = vapid.authorization("https://fcm.googleapis.com", 1_000);
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(key, vapid.public_key());
        let (input, signature) = token.rsplit_once('.').unwrap();
        let public = URL_SAFE_NO_PAD.decode(key).unwrap();
        let verifying = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifying.verify(input.as_bytes(), &signature).unwrap();
        let claims = input.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["exp"], 1_000 + TOKEN_SECS);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }

    #[test]
    fn tokens_are_reused_until_close_to_expiry() {
        let vapid = vapid();
        let first = vapid.authorization("https://a.example", 0);
        assert_eq!(vapid.authorization("https://a.example", 60), first);
        assert_ne!(vapid.authorization("https://b.example", 60), first);
        assert_ne!(
            vapid.authorization("https://a.example", TOKEN_SECS - RENEW_SECS + 1),
            first
        );
    }
}
