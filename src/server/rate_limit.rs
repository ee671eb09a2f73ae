//! Rate limiters keyed by caller (user, token): a token bucket for
//! publishing, and a sliding window for chat, where "100 a minute" must
//! mean at most 100 in any minute. In memory on one instance; in the
//! database when several instances share PostgreSQL, so that a client
//! gets the same limit whichever instance it reaches. Server only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use crate::store::{Backend, Store};

/// Where a limiter keeps its counts when instances share them.
#[derive(Clone)]
struct Shared {
    store: Store,
    /// Tells this limiter's keys from other limiters' in the shared tables.
    name: &'static str,
}

impl Shared {
    /// The shared limiter for `store`, if its instances share limits.
    fn of(store: &Store, name: &'static str) -> Option<Self> {
        (store.backend() == Backend::Postgres).then(|| Self {
            store: store.clone(),
            name,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }
}

/// Allows `per_minute` actions per key per minute, in bursts of up to the
/// same number.
#[derive(Clone)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    shared: Option<Shared>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` actions per key per minute.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Arc::new(Mutex::new(HashMap::new())),
            shared: None,
        }
    }

    /// The same limiter, kept in `store`'s database when several instances
    /// share it (PostgreSQL) under `name`.
    pub fn across_instances(mut self, store: &Store, name: &'static str) -> Self {
        self.shared = Shared::of(store, name);
        self
    }

    /// Takes one action for `key`, or says in how many seconds one is allowed.
    pub async fn check(&self, key: &str) -> Result<(), u64> {
        self.take(key, 1, self.per_minute).await
    }

    #[cfg(test)]
    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        self.take_at(key, 1, f64::from(self.per_minute), now)
    }

    /// Takes `count` actions at once for `key`, whose own limit is
    /// `per_minute` (a key keeps the limit it is always checked with), or
    /// says in how many seconds they are allowed. More than a minute's
    /// worth is never allowed: the answer is a minute.
    pub async fn take(&self, key: &str, count: u32, per_minute: u32) -> Result<(), u64> {
        if let Some(shared) = &self.shared {
            if count > per_minute.max(1) {
                return Err(60);
            }
            match shared
                .store
                .take_bucket(&shared.key(key), count, per_minute)
                .await
            {
                Ok(verdict) => return verdict,
                // Limits kept here for a while beat no limits at all.
                Err(error) => tracing::warn!(%error, "shared rate limit unavailable"),
            }
        }
        self.take_at(key, count, f64::from(per_minute.max(1)), Instant::now())
    }

    fn take_at(&self, key: &str, count: u32, per_minute: f64, now: Instant) -> Result<(), u64> {
        let count = f64::from(count);
        if count > per_minute {
            return Err(60);
        }
        let per_second = per_minute / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget full buckets so memory stays bounded under key churn.
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < per_minute
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: per_minute,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(per_minute);
        bucket.updated = now;
        if bucket.tokens >= count {
            bucket.tokens -= count;
            Ok(())
        } else {
            Err(((count - bucket.tokens) / per_second).ceil() as u64)
        }
    }
}

/// Allows at most `limit` actions per key in any window (a minute unless
/// said otherwise).
#[derive(Clone)]
pub struct WindowLimiter {
    limit: usize,
    window: Duration,
    recent: Arc<Mutex<HashMap<String, VecDeque<Instant>>>>,
    shared: Option<Shared>,
}

impl WindowLimiter {
    /// A limiter allowing `per_minute` actions per key in any minute.
    pub fn new(per_minute: u32) -> Self {
        Self::with_window(per_minute, Duration::from_secs(60))
    }

    /// A limiter allowing `limit` actions per key in any `window`.
    pub fn with_window(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            window,
            recent: Arc::new(Mutex::new(HashMap::new())),
            shared: None,
        }
    }

    /// The same limiter, kept in `store`'s database when several instances
    /// share it (PostgreSQL) under `name`.
    pub fn across_instances(mut self, store: &Store, name: &'static str) -> Self {
        self.shared = Shared::of(store, name);
        self
    }

    /// Takes one action for `key`, or says in how many seconds one is allowed.
    pub async fn check(&self, key: &str) -> Result<(), u64> {
        if let Some(shared) = &self.shared {
            let limit = u32::try_from(self.limit).unwrap_or(u32::MAX);
            let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
            match shared
                .store
                .take_window(&shared.key(key), limit, window_ms)
                .await
            {
                Ok(verdict) => return verdict,
                Err(error) => tracing::warn!(%error, "shared rate limit unavailable"),
            }
        }
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let window = self.window;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() > 100_000 {
            // Forget keys idle for a whole window: memory stays bounded.
            recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let times = recent.entry(key.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= window)
        {
            times.pop_front();
        }
        if times.len() < self.limit {
            times.push_back(now);
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        let wait = window.saturating_sub(now.duration_since(oldest));
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_allows_exactly_the_rate_in_any_minute() {
        let limiter = WindowLimiter::new(3);
        let start = Instant::now();
        for second in 0..3 {
            assert!(
                limiter
                    .check_at("a", start + Duration::from_secs(second * 10))
                    .is_ok()
            );
        }
        // The first of the three leaves the window at 60 s.
        assert_eq!(
            limiter.check_at("a", start + Duration::from_secs(30)),
            Err(30)
        );
        assert!(limiter.check_at("b", start).is_ok(), "keys are independent");
        assert!(
            limiter
                .check_at("a", start + Duration::from_secs(60))
                .is_ok()
        );
        assert!(
            limiter
                .check_at("a", start + Duration::from_secs(61))
                .is_err()
        );
    }

    #[test]
    fn allows_the_rate_then_says_when_to_retry() {
        let limiter = RateLimiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check_at("a", start).is_ok());
        }
        assert_eq!(limiter.check_at("a", start), Err(1));
        assert!(limiter.check_at("b", start).is_ok(), "keys are independent");
        assert!(
            limiter
                .check_at("a", start + Duration::from_secs(1))
                .is_ok()
        );
    }
}
