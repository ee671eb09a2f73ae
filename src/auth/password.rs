//! Password hashing with argon2id (OWASP: m = 19 MiB, t = 2, p = 1), run on
//! the blocking pool behind a small semaphore so a login storm cannot starve
//! the async workers or exhaust memory. Server only.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::model::user::Password;

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: verifying against it costs what a
    /// real verification costs, so unknown usernames answer in the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hashing failed (the thread pool is gone or argon2 refused the input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasherPool {
    /// `concurrency` hashes may run at once (each takes 19 MiB).
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        let dummy_password = crate::server::random::hex::<32>();
        let dummy_hash = hash_now(&dummy_password).map_err(|e| HashError(e.to_string()))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| HashError(e.to_string()))
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.run_blocking(move || hash_now(&password))
            .await?
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it
    /// checks against the dummy hash and answers false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        // An empty hash is an account without a password (provisioned by a
        // host app): it costs the same time as a wrong password.
        let hash = hash.filter(|hash| !hash.is_empty());
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.to_owned();
        let matches = self
            .run_blocking(move || verify_now(&password, &hash))
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let pool = PasswordHasherPool::new(2).unwrap();
        let password = Password::parse("correct horse", "password").unwrap();
        let hash = pool.hash(&password).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(pool.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!pool.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!pool.verify("correct horse", None).await.unwrap());
        assert!(!pool.verify("x", Some("not a hash")).await.unwrap());
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, pool.hash(&password).await.unwrap());
    }
}
