//! Channels and their members. Membership changes write no events: a
//! channel is an address for publishing, and members added later do not
//! receive what was published before. Server only.

use super::accounts::{millis_to_time, user_from};
use super::rows::{Columns, Row, args};
use super::{Store, StoreError};
use crate::model::channel::{Channel, ChannelMembers, ChannelName};
use crate::model::user::User;

/// What adding members did.
#[derive(Debug)]
pub enum MembersAdded {
    /// These names are not enabled users; nothing was written.
    Unknown(Vec<String>),
    /// The channel (created if it was missing) and how many were new.
    Added { channel: Channel, added: u64 },
}

/// A row of `channels` with its member count (`members`).
fn channel_from(row: &Row<'_>) -> Result<Channel, StoreError> {
    Ok(Channel {
        name: row.value("name")?,
        member_count: row.value("members")?,
        created_at: millis_to_time(row.value("created_at")?),
    })
}

impl Store {
    /// Adds `usernames` to channel `name`, creating it if needed; all or
    /// nothing.
    pub async fn add_channel_members(
        &self,
        name: &ChannelName,
        usernames: Vec<String>,
        now: i64,
    ) -> Result<MembersAdded, StoreError> {
        let name = name.as_str().to_owned();
        self.write(move |tx| {
            let mut ids = Vec::with_capacity(usernames.len());
            let mut unknown = Vec::new();
            for username in &usernames {
                let id: Option<i64> = tx.scalar(
                    "SELECT id FROM users WHERE username = $1 AND NOT disabled",
                    &args![username],
                )?;
                match id {
                    Some(id) => ids.push(id),
                    None => unknown.push(username.clone()),
                }
            }
            if !unknown.is_empty() {
                return Ok(MembersAdded::Unknown(unknown));
            }
            tx.exec(
                "INSERT INTO channels (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &args![&name, now],
            )?;
            let channel_id: i64 = tx.one(
                "SELECT id FROM channels WHERE name = $1",
                &args![&name],
                |row| row.at(0),
            )?;
            let mut added = 0;
            for id in ids {
                added += tx.exec(
                    "INSERT INTO channel_members (channel_id, user_id, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &args![channel_id, id, now],
                )?;
            }
            let channel = tx.one(
                "SELECT c.name, c.created_at,
                        (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = c.id) AS members
                 FROM channels c WHERE c.id = $1",
                &args![channel_id],
                channel_from,
            )?;
            Ok(MembersAdded::Added { channel, added })
        })
        .await
    }

    /// Removes `username` from channel `name`; false when they were not a
    /// member (or either does not exist).
    pub async fn remove_channel_member(
        &self,
        name: &ChannelName,
        username: &str,
    ) -> Result<bool, StoreError> {
        let removed = self
            .pool
            .exec(
                "DELETE FROM channel_members
                 WHERE channel_id = (SELECT id FROM channels WHERE name = $1)
                   AND user_id = (SELECT id FROM users WHERE username = $2)",
                &args![name.as_str(), username],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Every channel, by name.
    pub async fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.pool
            .all(
                "SELECT c.name, c.created_at,
                        (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = c.id) AS members
                 FROM channels c ORDER BY c.name",
                &[],
                channel_from,
            )
            .await
    }

    /// Channel `name`, if it exists.
    pub async fn channel(&self, name: &ChannelName) -> Result<Option<Channel>, StoreError> {
        self.pool
            .opt(
                "SELECT c.name, c.created_at,
                        (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = c.id) AS members
                 FROM channels c WHERE c.name = $1",
                &args![name.as_str()],
                channel_from,
            )
            .await
    }

    /// A page of channel `name`'s members by username, after `after`.
    pub async fn channel_members(
        &self,
        name: &ChannelName,
        after: &str,
        limit: u32,
    ) -> Result<ChannelMembers, StoreError> {
        let members: Vec<User> = self
            .pool
            .all(
                "SELECT u.id, u.username, u.display_name, u.role
                 FROM channel_members m JOIN channels c ON c.id = m.channel_id
                 JOIN users u ON u.id = m.user_id
                 WHERE c.name = $1 AND u.username > $2
                 ORDER BY u.username LIMIT $3",
                &args![name.as_str(), after, limit],
                user_from,
            )
            .await?;
        let next_after = (members.len() == limit as usize)
            .then(|| members.last().map(|u| u.username.clone()))
            .flatten();
        Ok(ChannelMembers {
            members,
            next_after,
        })
    }

    /// The enabled members of channel `name`, by id, or `None` when there
    /// is no such channel.
    pub async fn channel_member_ids(
        &self,
        name: &ChannelName,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let exists: Option<i64> = self
            .pool
            .scalar(
                "SELECT id FROM channels WHERE name = $1",
                &args![name.as_str()],
            )
            .await?;
        let Some(channel_id) = exists else {
            return Ok(None);
        };
        let ids = self
            .pool
            .column(
                "SELECT m.user_id FROM channel_members m JOIN users u ON u.id = m.user_id
                 WHERE m.channel_id = $1 AND NOT u.disabled ORDER BY m.user_id",
                &args![channel_id],
            )
            .await?;
        Ok(Some(ids))
    }

    /// Deletes channel `name` (its members stay users); false when absent.
    pub async fn delete_channel(&self, name: &ChannelName) -> Result<bool, StoreError> {
        let deleted = self
            .pool
            .exec(
                "DELETE FROM channels WHERE name = $1",
                &args![name.as_str()],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// Whether user `user_id` is a member of channel `name`.
    pub async fn is_channel_member(
        &self,
        name: &ChannelName,
        user_id: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .pool
            .scalar(
                "SELECT m.user_id FROM channel_members m JOIN channels c ON c.id = m.channel_id
                 WHERE c.name = $1 AND m.user_id = $2",
                &args![name.as_str(), user_id],
            )
            .await?;
        Ok(found.is_some())
    }
}
