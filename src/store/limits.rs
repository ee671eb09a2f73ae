//! Limits several instances must agree on: rate limits kept in the
//! database, and how many streams a user holds on the other instances.
//! On SQLite there is one instance and these are never asked (the limiters
//! stay in memory). Server only.

use super::rows::Backend;
use super::rows::args;
use super::{INSTANCE_SILENT_MS, Store, StoreError};

/// The answer of a shared limiter: allowed, or wait this many seconds.
pub type Verdict = Result<(), u64>;

/// Microseconds of a wait, as whole seconds (at least one).
fn wait_secs(micros: i64) -> u64 {
    u64::try_from(micros.max(1))
        .unwrap_or(1)
        .div_ceil(1_000_000)
}

/// The verdict of a limiter function that answers the microseconds to wait
/// (0: allowed).
fn verdict(wait: Option<i64>) -> Verdict {
    match wait.unwrap_or(0) {
        0 => Ok(()),
        micros => Err(wait_secs(micros)),
    }
}

impl Store {
    /// Takes `count` actions from the token bucket `key`, which refills
    /// `per_minute` actions a minute and holds a minute's worth.
    pub async fn take_bucket(
        &self,
        key: &str,
        count: u32,
        per_minute: u32,
    ) -> Result<Verdict, StoreError> {
        let per_minute = i64::from(per_minute.max(1));
        let minute_us = 60_000_000_i64;
        let cost = i64::from(count) * minute_us / per_minute;
        let wait = self
            .pool
            .scalar(
                "SELECT herald_take_bucket($1, $2, $3)",
                &args![key, cost, minute_us],
            )
            .await?;
        Ok(verdict(wait))
    }

    /// Takes one action from the sliding window `key`, which allows
    /// `limit` actions in any `window_ms`.
    pub async fn take_window(
        &self,
        key: &str,
        limit: u32,
        window_ms: u64,
    ) -> Result<Verdict, StoreError> {
        let window_us = i64::try_from(window_ms)
            .unwrap_or(i64::MAX / 1_000)
            .saturating_mul(1_000);
        let wait = self
            .pool
            .scalar(
                "SELECT herald_take_window($1, $2, $3)",
                &args![key, limit.max(1), window_us],
            )
            .await?;
        Ok(verdict(wait))
    }

    /// Forgets buckets that are full again and windows that are empty: they
    /// mean the same as no row.
    pub async fn prune_rate_limits(&self) -> Result<u64, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(0);
        }
        let now = "(extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT";
        let buckets = self
            .pool
            .exec(&format!("DELETE FROM rate_buckets WHERE tat < {now}"), &[])
            .await?;
        let windows = self
            .pool
            .exec(
                &format!("DELETE FROM rate_windows WHERE expires_at < {now}"),
                &[],
            )
            .await?;
        Ok(buckets + windows)
    }

    /// How many streams `user_id` holds on the other live instances, as
    /// they last reported (within a presence heartbeat). Always 0 on
    /// SQLite.
    pub async fn streams_elsewhere(&self, user_id: i64, now: i64) -> Result<u32, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(0);
        }
        let streams: i64 = self
            .pool
            .scalar(
                "SELECT CAST(COALESCE(SUM(p.streams), 0) AS BIGINT)
                 FROM presence p JOIN instances i ON i.node = p.node
                 WHERE p.user_id = $1 AND p.node <> $2 AND i.heartbeat_at >= $3",
                &args![user_id, self.node_id(), now - INSTANCE_SILENT_MS],
            )
            .await?
            .unwrap_or(0);
        Ok(u32::try_from(streams).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::wait_secs;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(wait_secs(1), 1);
        assert_eq!(wait_secs(1_000_000), 1);
        assert_eq!(wait_secs(1_000_001), 2);
        assert_eq!(wait_secs(-5), 1);
    }
}
