//! Session ids, cookies, API token secrets, and the registry of live event
//! streams per session (so that ending a session closes its streams).
//! Server only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::server::config::Config;
use crate::server::random;
use crate::store::accounts::SessionHash;

/// Cookie name over plain HTTP.
pub const COOKIE_NAME: &str = "herald_session";
/// Cookie name over HTTPS: the `__Host-` prefix makes browsers insist on
/// Secure, Path=/ and no Domain, so a sibling subdomain cannot plant it.
pub const SECURE_COOKIE_NAME: &str = "__Host-herald_session";
/// Prefix of API token secrets, so leaked ones are easy to spot and scan for.
pub const TOKEN_PREFIX: &str = "hrld_";

/// The key under which a user's streams opened with connection tokens are
/// registered (they have no session): ending it ends them all, as when
/// the user is disabled or deleted.
pub fn token_streams_of(user_id: i64) -> SessionHash {
    hash_secret(&format!("token-streams:{user_id}"))
}

/// The cookie name for this deployment.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.public_url.is_https() {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// A new session: the id for the cookie and the hash to store.
pub struct NewSession {
    pub cookie_value: String,
    pub hash: SessionHash,
}

/// 128 random bits, URL-safe base64.
pub fn new_session() -> NewSession {
    let id = random::bytes::<16>();
    let cookie_value = URL_SAFE_NO_PAD.encode(id);
    let hash = hash_secret(&cookie_value);
    NewSession { cookie_value, hash }
}

/// A new API token secret and its hash (256 random bits).
pub fn new_token() -> (String, [u8; 32]) {
    let secret = random::bytes::<32>();
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash_secret(&token);
    (token, hash)
}

/// SHA-256 of a session id or token: what the database stores and looks up.
/// The secrets are long random values, so a fast hash suffices and a lookup
/// by hash leaks nothing usable through timing.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The session cookie carrying `value`, valid for `max_age_secs`.
pub fn session_cookie(config: &Config, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((cookie_name(config), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.public_url.is_https())
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(config: &Config) -> Cookie<'static> {
    session_cookie(config, String::new(), 0)
}

/// Live event streams by session, so logout, a password change, disabling a
/// user or session expiry can end them at once.
#[derive(Clone, Default)]
pub struct LiveSessions {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    streams: HashMap<SessionHash, Vec<(u64, CancellationToken)>>,
}

/// Held by a stream; removes its entry when the stream ends.
pub struct StreamRegistration {
    registry: LiveSessions,
    session: SessionHash,
    id: u64,
    token: CancellationToken,
}

impl StreamRegistration {
    /// Cancelled when the session ends or the server shuts down.
    pub fn ended(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for StreamRegistration {
    fn drop(&mut self) {
        let mut registry = self.registry.lock();
        if let Some(tokens) = registry.streams.get_mut(&self.session) {
            tokens.retain(|(id, _)| *id != self.id);
            if tokens.is_empty() {
                registry.streams.remove(&self.session);
            }
        }
    }
}

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every critical section is a single insert or remove, so a poisoned
        // lock still guards a consistent map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream of `session`, ended also when `parent` is cancelled.
    pub fn register(&self, session: SessionHash, parent: &CancellationToken) -> StreamRegistration {
        let token = parent.child_token();
        let mut registry = self.lock();
        registry.next_id += 1;
        let id = registry.next_id;
        registry
            .streams
            .entry(session)
            .or_default()
            .push((id, token.clone()));
        drop(registry);
        StreamRegistration {
            registry: self.clone(),
            session,
            id,
            token,
        }
    }

    /// Ends every stream of these sessions.
    pub fn end(&self, sessions: &[SessionHash]) {
        let mut registry = self.lock();
        for session in sessions {
            if let Some(tokens) = registry.streams.remove(session) {
                tokens.iter().for_each(|(_, token)| token.cancel());
            }
        }
    }

    /// Number of sessions with at least one live stream.
    pub fn sessions_streaming(&self) -> usize {
        self.lock().streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_bit_and_only_hashes_are_kept() {
        let a = new_session();
        let b = new_session();
        assert_ne!(a.cookie_value, b.cookie_value);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.cookie_value).unwrap().len(), 16);
        assert_eq!(a.hash, hash_secret(&a.cookie_value));
        assert_ne!(
            &a.hash[..16],
            URL_SAFE_NO_PAD.decode(&a.cookie_value).unwrap().as_slice()
        );
    }

    #[test]
    fn tokens_are_prefixed_and_long() {
        let (token, hash) = new_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(token.len() > 40);
        assert_eq!(hash, hash_secret(&token));
    }

    #[test]
    fn ending_a_session_cancels_only_its_streams() {
        let live = LiveSessions::default();
        let root = CancellationToken::new();
        let a = live.register([1; 32], &root);
        let a2 = live.register([1; 32], &root);
        let b = live.register([2; 32], &root);
        live.end(&[[1; 32]]);
        assert!(a.ended().is_cancelled() && a2.ended().is_cancelled());
        assert!(!b.ended().is_cancelled());
        assert_eq!(live.sessions_streaming(), 1);
        drop(b);
        assert_eq!(live.sessions_streaming(), 0);
        // Shutdown (the parent) ends everything.
        let c = live.register([3; 32], &root);
        root.cancel();
        assert!(c.ended().is_cancelled());
    }
}

/// A signed-in user (session cookie). As an extractor (`auth/extract.rs`)
/// it rejects with 401.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: crate::model::user::User,
    pub session: SessionHash,
    /// When the session ends regardless of activity (Unix ms).
    pub session_expires_at: i64,
}
