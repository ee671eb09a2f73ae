//! Web Push subscriptions: the devices of each user, what the sender needs
//! to reach them, and what it learnt (delivered, refused, gone). Server only.

use super::rows::{Columns, args, id_list, ids_in};
use super::{Store, StoreError};

/// A user keeps at most this many devices; subscribing one more forgets
/// the one that has gone longest without a push.
pub const MAX_DEVICES_PER_USER: i64 = 20;

/// Consecutive refusals after which a subscription is forgotten: its push
/// service keeps refusing it (a key that no longer matches, say).
pub const MAX_FAILURES: i64 = 10;

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    pub id: i64,
    pub endpoint: String,
    pub label: String,
    pub created_at: i64,
    pub last_push_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A subscription to push to, with its owner's push preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub id: i64,
    pub user_id: i64,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    /// The owner's muted categories, as stored (a JSON list).
    pub muted_categories: String,
    /// The owner's "push" preference.
    pub push: bool,
}

impl Store {
    /// Stores `user_id`'s subscription for `endpoint`: a new device, or
    /// the same device subscribed again (also by another account: the
    /// browser now belongs to whoever subscribed it last). Returns its id
    /// and whether it is new.
    pub async fn save_push_subscription(
        &self,
        user_id: i64,
        endpoint: String,
        p256dh: String,
        auth: String,
        label: String,
        now: i64,
    ) -> Result<(i64, bool), StoreError> {
        self.write(move |tx| {
            let existing: Option<i64> = tx.scalar(
                "SELECT id FROM push_subscriptions WHERE endpoint = $1",
                &args![&endpoint],
            )?;
            if let Some(id) = existing {
                tx.exec(
                    "UPDATE push_subscriptions SET user_id = $1, p256dh = $2, auth = $3,
                         label = $4, failures = 0, last_error = NULL
                     WHERE id = $5",
                    &args![user_id, &p256dh, &auth, &label, id],
                )?;
                return Ok((id, false));
            }
            let count: i64 = tx
                .scalar(
                    "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1",
                    &args![user_id],
                )?
                .unwrap_or(0);
            if count >= MAX_DEVICES_PER_USER {
                tx.exec(
                    "DELETE FROM push_subscriptions WHERE id IN (
                         SELECT id FROM push_subscriptions WHERE user_id = $1
                         ORDER BY COALESCE(last_push_at, created_at), id
                         LIMIT $2)",
                    &args![user_id, count - MAX_DEVICES_PER_USER + 1],
                )?;
            }
            let id = tx.one(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, label, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &args![user_id, &endpoint, &p256dh, &auth, &label, now],
                |row| row.at(0),
            )?;
            Ok((id, true))
        })
        .await
    }

    /// `user_id`'s devices, most recently subscribed first.
    pub async fn push_devices(&self, user_id: i64) -> Result<Vec<StoredDevice>, StoreError> {
        self.pool
            .all(
                "SELECT id, endpoint, label, created_at, last_push_at, last_error
                 FROM push_subscriptions WHERE user_id = $1 ORDER BY id DESC",
                &args![user_id],
                |row| {
                    Ok(StoredDevice {
                        id: row.value("id")?,
                        endpoint: row.value("endpoint")?,
                        label: row.value("label")?,
                        created_at: row.value("created_at")?,
                        last_push_at: row.value("last_push_at")?,
                        last_error: row.value("last_error")?,
                    })
                },
            )
            .await
    }

    /// Forgets `user_id`'s device `id`; false when they have none such.
    pub async fn delete_push_subscription(
        &self,
        user_id: i64,
        id: i64,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .pool
            .exec(
                "DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2",
                &args![id, user_id],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// Forgets the subscription at `endpoint`, whoever holds it (the
    /// browser unsubscribed it). False when none is stored.
    pub async fn delete_push_endpoint(
        &self,
        user_id: i64,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .pool
            .exec(
                "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2",
                &args![endpoint, user_id],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// The subscriptions of `users`, with their owners' preferences.
    pub async fn push_targets(&self, users: &[i64]) -> Result<Vec<PushTarget>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(users)?;
        let sql = ids_in!(
            self.backend(),
            "SELECT s.id, s.user_id, s.endpoint, s.p256dh, s.auth,
                    COALESCE(p.muted_categories, '[]') AS muted_categories,
                    COALESCE(p.push, TRUE) AS push
             FROM push_subscriptions s LEFT JOIN preferences p ON p.user_id = s.user_id
             WHERE s.user_id IN ",
            1,
            ""
        );
        self.pool
            .all(sql, &args![&list], |row| {
                Ok(PushTarget {
                    id: row.value("id")?,
                    user_id: row.value("user_id")?,
                    endpoint: row.value("endpoint")?,
                    p256dh: row.value("p256dh")?,
                    auth: row.value("auth")?,
                    muted_categories: row.value("muted_categories")?,
                    push: row.value("push")?,
                })
            })
            .await
    }

    /// These subscriptions' push services accepted a push at `now`.
    pub async fn push_delivered(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = id_list(ids)?;
        let sql = ids_in!(
            self.backend(),
            "UPDATE push_subscriptions SET last_push_at = $2, failures = 0, last_error = NULL
             WHERE id IN ",
            1,
            ""
        );
        self.pool.exec(sql, &args![&list, now]).await?;
        Ok(())
    }

    /// A push to subscription `id` failed for `reason`. Returns true when
    /// that made [`MAX_FAILURES`] in a row and the subscription was
    /// forgotten.
    pub async fn push_failed(&self, id: i64, reason: &str) -> Result<bool, StoreError> {
        let failures: Option<i64> = self
            .pool
            .scalar(
                "UPDATE push_subscriptions SET failures = failures + 1, last_error = $2
                 WHERE id = $1 RETURNING failures",
                &args![id, reason],
            )
            .await?;
        if failures.is_some_and(|n| n >= MAX_FAILURES) {
            return self.push_gone(id).await;
        }
        Ok(false)
    }

    /// Forgets subscription `id`: its push service says it no longer
    /// exists (404, 410). True when it was still stored.
    pub async fn push_gone(&self, id: i64) -> Result<bool, StoreError> {
        let deleted = self
            .pool
            .exec("DELETE FROM push_subscriptions WHERE id = $1", &args![id])
            .await?;
        Ok(deleted > 0)
    }

    /// Subscriptions stored, for the status page.
    pub async fn push_subscription_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .pool
            .scalar("SELECT COUNT(*) FROM push_subscriptions", &[])
            .await?
            .unwrap_or(0))
    }
}
