//! The latest value of each live topic: one row per topic, replaced by
//! every publish, gone after its expiry. Not history: no per-user
//! sequence, nothing replayed. Server only.

use super::rows::{Columns, Row, args};
use super::{Store, StoreError};
use crate::model::topic::{TopicName, TopicUpdate};

fn update_from(row: &Row<'_>) -> Result<TopicUpdate, StoreError> {
    let value: String = row.value("value")?;
    Ok(TopicUpdate {
        topic: row.value("topic")?,
        value: serde_json::from_str(&value)
            .map_err(|e| StoreError::Corrupt(format!("topic value: {e}")))?,
        version: row.value("version")?,
    })
}

impl Store {
    /// Replaces `topic`'s value (`value` is JSON text) and returns its new
    /// version: higher than any before, also after the topic expired and
    /// came back (versions follow the clock, and at least grow by one).
    pub async fn set_topic_value(
        &self,
        topic: &TopicName,
        value: String,
        now: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let topic = topic.as_str().to_owned();
        self.write(move |tx| {
            // The larger of two values: MAX in SQLite, GREATEST in PostgreSQL.
            let greatest = match tx.backend() {
                super::Backend::Sqlite => "MAX",
                super::Backend::Postgres => "GREATEST",
            };
            let sql = format!(
                "INSERT INTO topic_values (topic, value, version, updated_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)
                 ON CONFLICT (topic) DO UPDATE SET value = excluded.value,
                    version = {greatest}(topic_values.version + 1, excluded.version),
                    updated_at = excluded.updated_at, expires_at = excluded.expires_at
                 RETURNING version"
            );
            tx.one(&sql, &args![&topic, &value, now, expires_at], |row| {
                row.at(0)
            })
        })
        .await
    }

    /// The current values of these topics (those that have one).
    pub async fn topic_values(
        &self,
        topics: &[TopicName],
        now: i64,
    ) -> Result<Vec<TopicUpdate>, StoreError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = topics.iter().map(TopicName::as_str).collect();
        let list = serde_json::to_string(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = self.pool.backend().pick(
            "SELECT topic, value, version FROM topic_values
             WHERE topic IN (SELECT value FROM json_each($1)) AND expires_at > $2",
            "SELECT topic, value, version FROM topic_values
             WHERE topic IN (SELECT jsonb_array_elements_text($1::jsonb)) AND expires_at > $2",
        );
        self.pool.all(sql, &args![&list, now], update_from).await
    }

    /// Clears `topic`'s value; false when it had none.
    pub async fn delete_topic_value(&self, topic: &TopicName) -> Result<bool, StoreError> {
        Ok(self
            .pool
            .exec(
                "DELETE FROM topic_values WHERE topic = $1",
                &args![topic.as_str()],
            )
            .await?
            > 0)
    }

    /// Deletes expired values, then the least recently updated beyond
    /// `keep`. Returns how many went.
    pub async fn prune_topic_values(&self, now: i64, keep: u32) -> Result<u64, StoreError> {
        let expired = self
            .pool
            .exec(
                "DELETE FROM topic_values WHERE expires_at <= $1",
                &args![now],
            )
            .await?;
        // SQLite needs a LIMIT before OFFSET (-1: none); PostgreSQL has none.
        let sql = self.pool.backend().pick(
            "DELETE FROM topic_values WHERE topic IN (
                SELECT topic FROM topic_values ORDER BY updated_at DESC, topic LIMIT -1 OFFSET $1)",
            "DELETE FROM topic_values WHERE topic IN (
                SELECT topic FROM topic_values ORDER BY updated_at DESC, topic OFFSET $1)",
        );
        let excess = self.pool.exec(sql, &args![i64::from(keep)]).await?;
        Ok(expired + excess)
    }
}
