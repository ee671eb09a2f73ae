//! Notifications, preferences and publish idempotency. Every state change
//! writes its event in the same transaction. Server only.

use super::rows::{Backend, Columns, Row, args};
use super::writer::WriteTx;
use super::{Store, StoreError};
use super::{events, fan_out};
use crate::model::event::Event;
use crate::model::json::OpaqueJson;
use crate::model::notification::{
    Category, Notification, NotificationAction, Preferences, Priority,
};
use crate::model::user::{Role, User};

/// A notification to write for each recipient.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub category: Category,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub key: Option<String>,
    pub actor: Option<User>,
    pub data: Option<OpaqueJson>,
    pub actions: Vec<NotificationAction>,
}

impl NewNotification {
    /// The actions as stored: a JSON array, `None` when there are none.
    pub(super) fn actions_json(&self) -> Option<String> {
        (!self.actions.is_empty())
            .then(|| serde_json::to_string(&self.actions).ok())
            .flatten()
    }

    /// The notification as written with `id` at `now` (unread), as its
    /// event carries it.
    pub(super) fn written(&self, id: i64, now: i64) -> Notification {
        Notification {
            id,
            category: self.category,
            priority: self.priority,
            title: self.title.clone(),
            body: self.body.clone(),
            url: self.url.clone(),
            key: self.key.clone(),
            read: false,
            created_at: chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
            actor: self.actor.clone(),
            data: self.data.clone(),
            actions: self.actions.clone(),
        }
    }
}

/// Which notifications to list.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub unread_only: bool,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
}

/// The outcome of a state change on one notification.
#[derive(Debug)]
pub enum Change {
    /// No such notification for this user.
    NotFound,
    /// Already in that state: nothing written.
    Unchanged,
    /// Written, with its event.
    Changed,
}

/// A stored answer to a publish with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub enum Idempotency {
    /// The key is new and now reserved for this request.
    Reserved,
    /// A request with this key is still being processed.
    InProgress,
    /// The first request's answer.
    Done { status: u16, response: String },
}

const SELECT_NOTIFICATION: &str = "SELECT n.id, n.category, n.priority, n.title, n.body, n.url, n.key,
        n.read_at, n.created_at, n.data, n.actions,
        a.id AS actor_id, a.username AS actor_username, a.display_name AS actor_display_name, a.role AS actor_role
    FROM notifications n LEFT JOIN users a ON a.id = n.actor_id";

/// A stored category name; anything else is a corrupt row.
fn stored_category(name: &str) -> Result<Category, StoreError> {
    Category::parse(name).ok_or_else(|| StoreError::Corrupt(format!("category {name}")))
}

fn notification_from(row: &Row<'_>) -> Result<Notification, StoreError> {
    let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value}"));
    let category: String = row.value("category")?;
    let priority: String = row.value("priority")?;
    let actor = match row.value::<Option<i64>>("actor_id")? {
        Some(id) => {
            let role: String = row.value("actor_role")?;
            Some(User {
                id,
                username: row.value("actor_username")?,
                display_name: row.value("actor_display_name")?,
                role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
            })
        }
        None => None,
    };
    let data = row
        .value::<Option<String>>("data")?
        .map(OpaqueJson::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let actions = row
        .value::<Option<String>>("actions")?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .unwrap_or_default();
    Ok(Notification {
        id: row.value("id")?,
        category: stored_category(&category)?,
        priority: Priority::parse(&priority).ok_or_else(|| corrupt("priority", &priority))?,
        title: row.value("title")?,
        body: row.value("body")?,
        url: row.value("url")?,
        key: row.value("key")?,
        read: row.value::<Option<i64>>("read_at")?.is_some(),
        created_at: chrono::DateTime::from_timestamp_millis(row.value("created_at")?)
            .unwrap_or_default(),
        actor,
        data,
        actions,
    })
}

/// How long a publish's answer is kept for retries with its
/// `Idempotency-Key` (24 h).
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3_600_000;
/// A key still "in progress" this long after it was reserved belonged to a
/// request that never finished (cancelled, or the process died).
pub const IDEMPOTENCY_ABANDONED_MS: i64 = 5 * 60_000;

impl Store {
    /// Ids of these usernames; the second list names those that do not exist
    /// (or are disabled).
    pub async fn resolve_usernames(
        &self,
        names: &[String],
    ) -> Result<(Vec<i64>, Vec<String>), StoreError> {
        let mut ids = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            let id: Option<i64> = self
                .pool
                .scalar(
                    "SELECT id FROM users WHERE username = $1 AND NOT disabled",
                    &args![name],
                )
                .await?;
            match id {
                Some(id) => ids.push(id),
                None => unknown.push(name.clone()),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok((ids, unknown))
    }

    /// A page of `user_id`'s notifications, newest first, before `before`.
    pub async fn list_notifications(
        &self,
        user_id: i64,
        filter: &NotificationFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        self.pool
            .all(
                &format!(
                    "{SELECT_NOTIFICATION}
                     WHERE n.user_id = $1 AND n.id < $2
                       AND (NOT $3 OR n.read_at IS NULL)
                       AND ($4 IS NULL OR n.category = $4)
                       AND ($5 IS NULL OR n.priority = $5)
                     ORDER BY n.id DESC LIMIT $6"
                ),
                &args![
                    user_id,
                    before.unwrap_or(i64::MAX),
                    filter.unread_only,
                    filter.category.map(Category::as_str),
                    filter.priority.map(Priority::as_str),
                    limit,
                ],
                notification_from,
            )
            .await
    }

    /// How many of `user_id`'s notifications are unread, by category (only
    /// categories with some).
    pub async fn unread_by_category(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Category, i64)>, StoreError> {
        self.pool
            .all(
                "SELECT category, COUNT(*) AS unread FROM notifications
                 WHERE user_id = $1 AND read_at IS NULL GROUP BY category",
                &args![user_id],
                |row| {
                    let category: String = row.value("category")?;
                    Ok((stored_category(&category)?, row.value("unread")?))
                },
            )
            .await
    }

    /// `user_id`'s unread notifications that matter most: urgent first,
    /// then high, normal and low, newest first within each.
    pub async fn most_pressing_unread(
        &self,
        user_id: i64,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        self.pool
            .all(
                &format!(
                    "{SELECT_NOTIFICATION}
                     WHERE n.user_id = $1 AND n.read_at IS NULL
                     ORDER BY CASE n.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2
                                  WHEN 'normal' THEN 1 ELSE 0 END DESC, n.id DESC
                     LIMIT $2"
                ),
                &args![user_id, limit],
                notification_from,
            )
            .await
    }

    /// `user_id`'s notification `id`, if they have it.
    pub async fn notification(
        &self,
        user_id: i64,
        id: i64,
    ) -> Result<Option<Notification>, StoreError> {
        self.pool
            .opt(
                &format!("{SELECT_NOTIFICATION} WHERE n.user_id = $1 AND n.id = $2"),
                &args![user_id, id],
                notification_from,
            )
            .await
    }

    /// How many of `user_id`'s notifications are unread.
    pub async fn unread_count(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .pool
            .scalar(
                "SELECT unread_count FROM user_counters WHERE user_id = $1",
                &args![user_id],
            )
            .await?
            .unwrap_or(0))
    }

    /// A user's preferences (defaults when never saved).
    pub async fn preferences(&self, user_id: i64) -> Result<Preferences, StoreError> {
        let hide_presence: bool = self
            .pool
            .scalar(
                "SELECT hide_presence FROM users WHERE id = $1",
                &args![user_id],
            )
            .await?
            .unwrap_or(false);
        let saved = self
            .pool
            .opt(
                "SELECT muted_categories, sound, browser_notifications, push FROM preferences WHERE user_id = $1",
                &args![user_id],
                |row| {
                    let muted: String = row.value("muted_categories")?;
                    Ok(Preferences {
                        muted_categories: serde_json::from_str(&muted)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        sound: row.value("sound")?,
                        browser_notifications: row.value("browser_notifications")?,
                        hide_presence,
                        push: row.value("push")?,
                    })
                },
            )
            .await?;
        Ok(saved.unwrap_or(Preferences {
            hide_presence,
            ..Preferences::default()
        }))
    }

    /// Saves a user's preferences.
    pub async fn save_preferences(
        &self,
        user_id: i64,
        preferences: &Preferences,
    ) -> Result<(), StoreError> {
        let muted = serde_json::to_string(&preferences.muted_categories)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let preferences = preferences.clone();
        self.write(move |tx| {
            tx.exec(
                "UPDATE users SET hide_presence = $1 WHERE id = $2",
                &args![preferences.hide_presence, user_id],
            )?;
            tx.exec(
                "INSERT INTO preferences (user_id, muted_categories, sound, browser_notifications, push)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id) DO UPDATE SET muted_categories = excluded.muted_categories,
                     sound = excluded.sound, browser_notifications = excluded.browser_notifications,
                     push = excluded.push",
                &args![
                    user_id,
                    &muted,
                    preferences.sound,
                    preferences.browser_notifications,
                    preferences.push
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Reserves `key` for `publisher`, or reports what happened to it. A
    /// key answered more than [`IDEMPOTENCY_TTL_MS`] ago is forgotten, and
    /// one still "in progress" after [`IDEMPOTENCY_ABANDONED_MS`] belonged
    /// to a request that died midway: both are reserved anew.
    pub async fn reserve_idempotency_key(
        &self,
        publisher: &str,
        key: &str,
        now: i64,
    ) -> Result<Idempotency, StoreError> {
        let inserted = self
            .pool
            .exec(
                "INSERT INTO idempotency_keys (publisher, key, status, response, created_at)
                 VALUES ($1, $2, 0, '', $3)
                 ON CONFLICT (publisher, key) DO UPDATE
                     SET status = 0, response = '', created_at = excluded.created_at
                     WHERE (idempotency_keys.status = 0 AND idempotency_keys.created_at < $4)
                        OR idempotency_keys.created_at < $5",
                &args![
                    publisher,
                    key,
                    now,
                    now - IDEMPOTENCY_ABANDONED_MS,
                    now - IDEMPOTENCY_TTL_MS
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Idempotency::Reserved);
        }
        self.pool
            .one(
                "SELECT status, response FROM idempotency_keys WHERE publisher = $1 AND key = $2",
                &args![publisher, key],
                |row| {
                    let status: i64 = row.value("status")?;
                    Ok(match u16::try_from(status) {
                        Ok(status) if status > 0 => Idempotency::Done {
                            status,
                            response: row.value("response")?,
                        },
                        _ => Idempotency::InProgress,
                    })
                },
            )
            .await
    }

    /// Stores the answer for a reserved key.
    pub async fn complete_idempotency_key(
        &self,
        publisher: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<(), StoreError> {
        self.pool
            .exec(
                "UPDATE idempotency_keys SET status = $1, response = $2 WHERE publisher = $3 AND key = $4",
                &args![i64::from(status), response, publisher, key],
            )
            .await?;
        Ok(())
    }

    /// Forgets idempotency keys older than [`IDEMPOTENCY_TTL_MS`].
    pub async fn prune_idempotency_keys(&self, now: i64) -> Result<u64, StoreError> {
        self.pool
            .exec(
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                &args![now - IDEMPOTENCY_TTL_MS],
            )
            .await
    }

    /// Frees a reserved key whose request failed, so a retry can run.
    pub async fn release_idempotency_key(
        &self,
        publisher: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.pool
            .exec(
                "DELETE FROM idempotency_keys WHERE publisher = $1 AND key = $2 AND status = 0",
                &args![publisher, key],
            )
            .await?;
        Ok(())
    }
}

/// What a publish to usernames did.
#[derive(Debug)]
pub enum Addressed {
    /// Written for every recipient: the notification ids.
    Written(Vec<i64>),
    /// More recipients than one transaction should take: their ids, to
    /// write in batches. Nothing written yet.
    Resolved(Vec<i64>),
    /// These names are not enabled users. Nothing written.
    Unknown(Vec<String>),
}

/// Writes that append events; they run in the writer's transaction.
impl WriteTx {
    /// Resolves `names` and, when every one is an enabled user and they are
    /// at most `at_once`, writes `new` for each (see
    /// [`publish_notifications`](Self::publish_notifications)). Resolving
    /// here costs no round trip and sees the same users the write does.
    pub fn publish_to_usernames(
        &mut self,
        names: &[String],
        new: &NewNotification,
        at_once: usize,
        now: i64,
    ) -> Result<Addressed, StoreError> {
        let mut ids = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            let found: Option<i64> = self.scalar(
                "SELECT id FROM users WHERE username = $1 AND NOT disabled",
                &args![name],
            )?;
            match found {
                Some(id) => ids.push(id),
                None => unknown.push(name.clone()),
            }
        }
        if !unknown.is_empty() {
            return Ok(Addressed::Unknown(unknown));
        }
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > at_once {
            return Ok(Addressed::Resolved(ids));
        }
        Ok(Addressed::Written(
            self.publish_notifications(&ids, new, now)?,
        ))
    }

    /// On PostgreSQL, locks the sequence counters of the users named in
    /// `names`, in ascending id order, before a command that writes to
    /// several of them in another order (a batch: alice then bob). Two
    /// instances then always lock in the same order and cannot deadlock
    /// over these rows. Nothing to do on SQLite, whose one writer holds the
    /// only write lock.
    pub fn lock_counters_of(&mut self, names: &[&str]) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite || names.len() < 2 {
            return Ok(());
        }
        let names = serde_json::to_string(names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.all(
            "SELECT c.user_id FROM user_counters c
             WHERE c.user_id IN (SELECT u.id FROM users u
                                 WHERE u.username IN (SELECT jsonb_array_elements_text($1::jsonb)))
             ORDER BY c.user_id FOR UPDATE OF c",
            &args![&names],
            |row| row.at::<i64>(0),
        )?;
        Ok(())
    }

    /// Writes `new` for every recipient (distinct user ids), with its
    /// event. A recipient that already has a notification with the same key
    /// gets that one replaced (marked unread again) and a
    /// `notification_updated`. Returns the notification ids, in recipient
    /// order. Unkeyed notifications for several recipients are written with
    /// set-based statements ([`fan_out`](super::fan_out)); keyed ones row by
    /// row, since each recipient may or may not have one to replace.
    pub fn publish_notifications(
        &mut self,
        recipients: &[i64],
        new: &NewNotification,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if new.key.is_none() && recipients.len() > 1 {
            return fan_out::write_unkeyed(self, recipients, new, now);
        }
        recipients
            .iter()
            .map(|&user_id| write_notification(self, user_id, new, now))
            .collect()
    }

    /// Writes `new` for up to `limit` enabled users with an id above
    /// `after` (a broadcast goes through everyone in such steps, each its
    /// own command). Returns the notification ids and the last user id, or
    /// `None` when no user is left.
    pub fn publish_to_users_after(
        &mut self,
        after: i64,
        limit: usize,
        new: &NewNotification,
        now: i64,
    ) -> Result<Option<(Vec<i64>, i64)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let recipients: Vec<i64> = self.all(
            "SELECT id FROM users WHERE id > $1 AND NOT disabled ORDER BY id LIMIT $2",
            &args![after, limit],
            |row| row.at(0),
        )?;
        let Some(&last) = recipients.last() else {
            return Ok(None);
        };
        Ok(Some((
            self.publish_notifications(&recipients, new, now)?,
            last,
        )))
    }

    /// Marks one notification read.
    pub fn mark_read(&mut self, user_id: i64, id: i64, now: i64) -> Result<Change, StoreError> {
        let exists: Option<Option<i64>> = self.scalar(
            "SELECT read_at FROM notifications WHERE id = $1 AND user_id = $2",
            &args![id, user_id],
        )?;
        match exists {
            None => return Ok(Change::NotFound),
            Some(Some(_)) => return Ok(Change::Unchanged),
            Some(None) => {}
        }
        self.exec(
            "UPDATE notifications SET read_at = $1 WHERE id = $2",
            &args![now, id],
        )?;
        let event = Event::NotificationsRead {
            ids: vec![id],
            unread_count: Some(unread_in(self, user_id)?),
        };
        events::append(self, user_id, &event, now)?;
        Ok(Change::Changed)
    }

    /// Marks every unread notification (of one category, if given) read.
    pub fn mark_all_read(
        &mut self,
        user_id: i64,
        category: Option<Category>,
        now: i64,
    ) -> Result<Change, StoreError> {
        let up_to: Option<i64> = self
            .all(
                "UPDATE notifications SET read_at = $1
                 WHERE user_id = $2 AND read_at IS NULL AND ($3 IS NULL OR category = $3)
                 RETURNING id",
                &args![now, user_id, category.map(Category::as_str)],
                |row| row.at::<i64>(0),
            )?
            .into_iter()
            .max();
        let Some(up_to_id) = up_to else {
            return Ok(Change::Unchanged);
        };
        let event = Event::NotificationsReadAll {
            up_to_id,
            category,
            unread_count: Some(unread_in(self, user_id)?),
        };
        events::append(self, user_id, &event, now)?;
        Ok(Change::Changed)
    }

    /// Deletes one notification.
    pub fn delete_notification(
        &mut self,
        user_id: i64,
        id: i64,
        now: i64,
    ) -> Result<Change, StoreError> {
        let deleted = self.exec(
            "DELETE FROM notifications WHERE id = $1 AND user_id = $2",
            &args![id, user_id],
        )?;
        if deleted == 0 {
            return Ok(Change::NotFound);
        }
        let event = Event::NotificationsDeleted {
            ids: vec![id],
            unread_count: Some(unread_in(self, user_id)?),
        };
        events::append(self, user_id, &event, now)?;
        Ok(Change::Changed)
    }
}

/// Writes `new` for one recipient inside `tx`, with its event: a
/// recipient that already has a notification with the same key gets that
/// one replaced (marked unread again) and a `notification_updated`.
pub(super) fn write_notification(
    tx: &mut WriteTx,
    user_id: i64,
    new: &NewNotification,
    now: i64,
) -> Result<i64, StoreError> {
    let data = new.data.as_ref().map(OpaqueJson::get);
    let actions = new.actions_json();
    let actor_id = new.actor.as_ref().map(|a| a.id);
    let replaced: Option<i64> = match &new.key {
        Some(key) => tx.scalar(
            "UPDATE notifications SET category = $1, priority = $2, title = $3, body = $4, url = $5,
                 actor_id = $6, data = $7, read_at = NULL, created_at = $8, actions = $11
             WHERE user_id = $9 AND key = $10 RETURNING id",
            &args![
                new.category.as_str(),
                new.priority.as_str(),
                &new.title,
                &new.body,
                &new.url,
                actor_id,
                &data,
                now,
                user_id,
                key,
                &actions
            ],
        )?,
        None => None,
    };
    let id = match replaced {
        Some(id) => id,
        None => tx.one(
            "INSERT INTO notifications
                 (user_id, category, priority, title, body, url, key, actor_id, data, created_at, actions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &args![
                user_id,
                new.category.as_str(),
                new.priority.as_str(),
                &new.title,
                &new.body,
                &new.url,
                &new.key,
                actor_id,
                &data,
                now,
                &actions
            ],
            |row| row.at(0),
        )?,
    };
    let notification = new.written(id, now);
    let unread_count = Some(unread_in(tx, user_id)?);
    let event = if replaced.is_some() {
        Event::NotificationUpdated {
            notification,
            unread_count,
        }
    } else {
        Event::Notification {
            notification,
            unread_count,
        }
    };
    events::append(tx, user_id, &event, now)?;
    Ok(id)
}

/// Marks `user_id`'s notification with `key` read inside `tx`, if it is
/// unread, with its event.
pub(super) fn read_keyed_notification(
    tx: &mut WriteTx,
    user_id: i64,
    key: &str,
    now: i64,
) -> Result<(), StoreError> {
    let id: Option<i64> = tx.scalar(
        "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND key = $3 AND read_at IS NULL RETURNING id",
        &args![now, user_id, key],
    )?;
    let Some(id) = id else { return Ok(()) };
    let event = Event::NotificationsRead {
        ids: vec![id],
        unread_count: Some(unread_in(tx, user_id)?),
    };
    events::append(tx, user_id, &event, now)
}

/// `user_id`'s unread count as `tx` sees it (after its own writes): the
/// count the triggers on `notifications` keep (migration 0006).
fn unread_in(tx: &mut WriteTx, user_id: i64) -> Result<i64, StoreError> {
    tx.one(
        "SELECT unread_count FROM user_counters WHERE user_id = $1",
        &args![user_id],
        |row| row.at(0),
    )
}
