//! Device cookies (OWASP "Slow brute force" defence): a browser that has
//! signed in to an account gets a signed cookie naming that account and a
//! random device id. Later sign-ins to the same account from that browser
//! are throttled per device only, so a stranger who exhausts the account's
//! failure budget cannot lock its owner out. The cookie is signed with
//! HMAC-SHA256 under a key kept in the database. Server only.

use axum::http::HeaderMap;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::server::config::Config;
use crate::server::random;
use crate::store::{Store, StoreError};

/// Cookie name over plain HTTP.
const COOKIE_NAME: &str = "herald_device";
/// Cookie name over HTTPS (see the session cookie's `__Host-` prefix).
const SECURE_COOKIE_NAME: &str = "__Host-herald_device";
/// A device is remembered for a year after its last sign-in.
const MAX_AGE_DAYS: i64 = 365;

/// The key that signs device cookies; cheap to clone.
#[derive(Clone)]
pub struct DeviceKey(std::sync::Arc<[u8; 32]>);

impl DeviceKey {
    /// The key stored in the database, created on first start.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let bytes = store
            .secret("device_cookie_key", || random::bytes::<32>().to_vec())
            .await?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt("device cookie key is not 32 bytes".into()))?;
        Ok(Self(std::sync::Arc::new(key)))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }
}

/// A browser that signed in to account `user_id` before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: i64,
    /// Random, URL-safe: the throttling scope of this browser.
    pub device_id: String,
}

fn cookie_name(config: &Config) -> &'static str {
    if config.public_url.is_https() {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The valid device cookie in `headers`, if any (a forged or altered one
/// counts as none).
pub fn from_headers(headers: &HeaderMap, config: &Config, key: &DeviceKey) -> Option<Device> {
    let jar = CookieJar::from_headers(headers);
    let value = jar.get(cookie_name(config))?.value().to_owned();
    let (payload, signature) = value.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    key.mac(payload).verify_slice(&signature).ok()?;
    let (user_id, device_id) = payload.split_once('.')?;
    Some(Device {
        user_id: user_id.parse().ok()?,
        device_id: device_id.to_owned(),
    })
}

/// The cookie that remembers this browser for `user_id`, keeping its
/// device id when it already had one for that account.
pub fn cookie(
    config: &Config,
    key: &DeviceKey,
    user_id: i64,
    previous: Option<&Device>,
) -> Cookie<'static> {
    let device_id = match previous {
        Some(device) if device.user_id == user_id => device.device_id.clone(),
        _ => URL_SAFE_NO_PAD.encode(random::bytes::<16>()),
    };
    let payload = format!("{user_id}.{device_id}");
    let signature = URL_SAFE_NO_PAD.encode(key.mac(&payload).finalize().into_bytes());
    Cookie::build((cookie_name(config), format!("{payload}.{signature}")))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.public_url.is_https())
        .max_age(time::Duration::days(MAX_AGE_DAYS))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key(byte: u8) -> DeviceKey {
        DeviceKey(std::sync::Arc::new([byte; 32]))
    }

    fn headers_with(cookie: &Cookie<'_>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let pair = format!("{}={}", cookie.name(), cookie.value());
        headers.insert("cookie", HeaderValue::from_str(&pair).unwrap());
        headers
    }

    #[test]
    fn signed_cookies_round_trip_and_forgeries_do_not() {
        let config = Config::default();
        let issued = cookie(&config, &key(1), 42, None);
        let device = from_headers(&headers_with(&issued), &config, &key(1)).unwrap();
        assert_eq!(device.user_id, 42);
        assert!(from_headers(&headers_with(&issued), &config, &key(2)).is_none());
        let forged = Cookie::new(COOKIE_NAME, issued.value().replacen("42.", "43.", 1));
        assert!(from_headers(&headers_with(&forged), &config, &key(1)).is_none());
        // Signing in again keeps the device id; another account gets a new one.
        let again = cookie(&config, &key(1), 42, Some(&device));
        assert_eq!(
            from_headers(&headers_with(&again), &config, &key(1)).unwrap(),
            device
        );
        let other = cookie(&config, &key(1), 7, Some(&device));
        let other = from_headers(&headers_with(&other), &config, &key(1)).unwrap();
        assert_ne!(other.device_id, device.device_id);
    }
}
