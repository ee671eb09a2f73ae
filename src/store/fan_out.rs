//! One notification for many users, written with set-based statements.
//! Server only.
//!
//! A broadcast used to cost five statements and one JSON serialization per
//! recipient. Here a chunk of recipients costs three statements whatever its
//! size: one `INSERT … SELECT` writes the notification rows (the unread
//! triggers keep every count), one `UPDATE … RETURNING` bumps the recipients'
//! sequence counters and reads their new unread counts, and multi-row
//! `INSERT`s append the events. The event's JSON is serialized once, as a
//! template with two holes (the recipient's notification id and unread
//! count) that each recipient's copy fills in.

use std::fmt::Write as _;
use std::sync::LazyLock;

use super::StoreError;
use super::events::Appended;
use super::notifications::NewNotification;
use super::rows::{Arg, Columns, args};
use super::writer::WriteTx;
use crate::model::event::Event;
use crate::model::json::OpaqueJson;
use crate::model::notification::Notification;

/// Recipients per group of statements: large enough that statement costs
/// vanish, small enough that the id list and the answers stay small.
const CHUNK: usize = 1_000;
/// Events per multi-row `INSERT` (5 parameters each, far below SQLite's
/// limit of 32,766 and PostgreSQL's of 65,535).
const EVENT_ROWS: usize = 100;

/// Stand-ins serialized where the recipient's values go; unlikely in real
/// data, and a template in which either does not occur exactly once is
/// not used (see [`Template::new`]).
const ID_MARK: i64 = i64::MIN + 7_919;
const COUNT_MARK: i64 = i64::MIN + 7_927;

static INSERT_EVENT_ROWS: LazyLock<String> = LazyLock::new(|| {
    let mut sql =
        String::from("INSERT INTO events (user_id, seq, kind, payload, created_at) VALUES ");
    for row in 0..EVENT_ROWS {
        if row > 0 {
            sql.push(',');
        }
        let at = row * 5;
        let _ = write!(
            sql,
            "(${},${},${},${},${})",
            at + 1,
            at + 2,
            at + 3,
            at + 4,
            at + 5
        );
    }
    sql
});

/// The serialized `notification` event with holes for the notification id
/// and the unread count.
enum Template {
    /// The JSON around the two holes, in the order they occur.
    Spliced { pieces: [String; 3], id_first: bool },
    /// The marks were ambiguous (the notification's own data contains one):
    /// each recipient's event is serialized on its own.
    PerRecipient(Notification),
}

impl Template {
    fn new(new: &NewNotification, now: i64) -> Result<Self, StoreError> {
        let notification = new.written(ID_MARK, now);
        let json = serialize(notification.clone(), COUNT_MARK)?;
        let (id_mark, count_mark) = (ID_MARK.to_string(), COUNT_MARK.to_string());
        let (Some(id_at), Some(count_at)) = (only(&json, &id_mark), only(&json, &count_mark))
        else {
            return Ok(Self::PerRecipient(notification));
        };
        let ((first, first_len), (second, second_len)) = if id_at < count_at {
            ((id_at, id_mark.len()), (count_at, count_mark.len()))
        } else {
            ((count_at, count_mark.len()), (id_at, id_mark.len()))
        };
        Ok(Self::Spliced {
            pieces: [
                json[..first].to_owned(),
                json[first + first_len..second].to_owned(),
                json[second + second_len..].to_owned(),
            ],
            id_first: id_at < count_at,
        })
    }

    /// The event's JSON for one recipient.
    fn render(&self, id: i64, unread_count: i64) -> Result<String, StoreError> {
        match self {
            Self::Spliced { pieces, id_first } => {
                let (a, b) = if *id_first {
                    (id, unread_count)
                } else {
                    (unread_count, id)
                };
                let mut json =
                    String::with_capacity(pieces.iter().map(String::len).sum::<usize>() + 40);
                json.push_str(&pieces[0]);
                let _ = write!(json, "{a}");
                json.push_str(&pieces[1]);
                let _ = write!(json, "{b}");
                json.push_str(&pieces[2]);
                Ok(json)
            }
            Self::PerRecipient(notification) => {
                let mut notification = notification.clone();
                notification.id = id;
                serialize(notification, unread_count)
            }
        }
    }
}

fn serialize(notification: Notification, unread_count: i64) -> Result<String, StoreError> {
    serde_json::to_string(&Event::Notification {
        notification,
        unread_count: Some(unread_count),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Where `needle` occurs in `haystack`, if it occurs exactly once.
fn only(haystack: &str, needle: &str) -> Option<usize> {
    let at = haystack.find(needle)?;
    haystack[at + 1..].find(needle).is_none().then_some(at)
}

/// Writes an unkeyed `new` for each of `recipients` (distinct user ids) and
/// appends its `notification` event; returns the notification ids, in
/// recipient order.
pub(super) fn write_unkeyed(
    tx: &mut WriteTx,
    recipients: &[i64],
    new: &NewNotification,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    debug_assert!(new.key.is_none(), "keyed notifications replace row by row");
    let template = Template::new(new, now)?;
    let mut ids = Vec::with_capacity(recipients.len());
    for chunk in recipients.chunks(CHUNK) {
        write_chunk(tx, chunk, new, &template, now, &mut ids)?;
    }
    Ok(ids)
}

fn write_chunk(
    tx: &mut WriteTx,
    recipients: &[i64],
    new: &NewNotification,
    template: &Template,
    now: i64,
    ids: &mut Vec<i64>,
) -> Result<(), StoreError> {
    let mut list = String::with_capacity(recipients.len() * 8 + 2);
    list.push('[');
    for (i, user_id) in recipients.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let _ = write!(list, "{user_id}");
    }
    list.push(']');

    let data = new.data.as_ref().map(OpaqueJson::get);
    let actions = new.actions_json();
    let actor_id = new.actor.as_ref().map(|a| a.id);
    // Recipients come sorted, so every transaction locks their counter
    // rows (through the unread trigger, then the update) in the same
    // order: two instances fanning out at once wait, never deadlock.
    let insert = tx.backend().pick(
        "INSERT INTO notifications
             (user_id, category, priority, title, body, url, key, actor_id, data, created_at, actions)
         SELECT value, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10 FROM json_each($1)
         RETURNING user_id, id",
        "INSERT INTO notifications
             (user_id, category, priority, title, body, url, key, actor_id, data, created_at, actions)
         SELECT value::bigint, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10
         FROM jsonb_array_elements_text($1::jsonb)
         RETURNING user_id, id",
    );
    // (user, notification id)
    let mut written: Vec<(i64, i64)> = tx.all(
        insert,
        &args![
            &list,
            new.category.as_str(),
            new.priority.as_str(),
            &new.title,
            &new.body,
            &new.url,
            actor_id,
            &data,
            now,
            &actions
        ],
        |row| Ok((row.at(0)?, row.at(1)?)),
    )?;
    // (user, sequence number, unread count), after the triggers counted the
    // new rows.
    let bump = super::rows::ids_in!(
        tx.backend(),
        "UPDATE user_counters SET event_seq = event_seq + 1 WHERE user_id IN ",
        1,
        " RETURNING user_id, event_seq, unread_count"
    );
    let mut counters: Vec<(i64, i64, i64)> = tx.all(bump, &args![&list], |row| {
        Ok((row.at(0)?, row.at(1)?, row.at(2)?))
    })?;
    if written.len() != recipients.len() || counters.len() != recipients.len() {
        // A recipient id with no user, or one listed twice: nothing of this
        // command is kept (the writer rolls it back).
        return Err(StoreError::Write(format!(
            "fan-out to {} recipients wrote {} notifications and {} counters",
            recipients.len(),
            written.len(),
            counters.len()
        )));
    }
    written.sort_unstable();
    counters.sort_unstable();

    let mut rows = Vec::with_capacity(recipients.len());
    for (&(user_id, id), &(counter_user, seq, unread)) in written.iter().zip(&counters) {
        if user_id != counter_user {
            return Err(StoreError::Write(format!(
                "fan-out recipients disagree: {user_id} and {counter_user}"
            )));
        }
        rows.push(Appended {
            user_id,
            seq,
            kind: "notification",
            payload: template.render(id, unread)?,
        });
    }
    insert_events(tx, &rows, now)?;

    let by_user: std::collections::HashMap<i64, i64> = written.into_iter().collect();
    ids.extend(
        recipients
            .iter()
            .filter_map(|user| by_user.get(user).copied()),
    );
    for row in rows {
        tx.appended(row);
    }
    Ok(())
}

/// Appends `rows` to the log, [`EVENT_ROWS`] per statement.
fn insert_events(tx: &mut WriteTx, rows: &[Appended], now: i64) -> Result<(), StoreError> {
    let mut full = rows.chunks_exact(EVENT_ROWS);
    let mut values: Vec<Arg<'_>> = Vec::with_capacity(EVENT_ROWS * 5);
    for group in full.by_ref() {
        values.clear();
        for row in group {
            values.extend(args![row.user_id, row.seq, row.kind, &row.payload, now]);
        }
        tx.exec(&INSERT_EVENT_ROWS, &values)?;
    }
    for row in full.remainder() {
        tx.exec(
            "INSERT INTO events (user_id, seq, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
            &args![row.user_id, row.seq, row.kind, &row.payload, now],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::model::notification::{Category, Priority};
    use crate::model::user::Role;
    use crate::server::config::Config;
    use crate::store::Store;
    use crate::store::accounts::CreateUser;
    use crate::store::writer::OnCommit;

    /// A bus that keeps what it was handed.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Appended>>);

    impl OnCommit for Recorder {
        fn committed(&self, events: Vec<Appended>) {
            self.0.lock().unwrap().extend(events);
        }
    }

    fn new(data: Option<serde_json::Value>) -> NewNotification {
        NewNotification {
            category: Category::System,
            priority: Priority::High,
            title: "Maintenance \"tonight\"".into(),
            body: "From 22:00".into(),
            url: Some("/status".into()),
            key: None,
            actor: None,
            data: data.map(|data| OpaqueJson::from_value(&data).unwrap()),
            actions: Vec::new(),
        }
    }

    #[test]
    fn the_template_renders_what_serializing_each_event_gives() {
        for data in [
            None,
            Some(serde_json::json!({"n": 1, "text": "ok"})),
            // The marks inside the data: each event is serialized alone.
            Some(serde_json::json!({"id": ID_MARK, "count": COUNT_MARK})),
        ] {
            let new = new(data);
            let template = Template::new(&new, 1_700_000_000_000).unwrap();
            let notification = |id| new.written(id, 1_700_000_000_000);
            for (id, unread) in [(1, 0), (42, 7), (9_000_000_000, 123_456)] {
                assert_eq!(
                    template.render(id, unread).unwrap(),
                    serialize(notification(id), unread).unwrap()
                );
            }
        }
    }

    #[tokio::test]
    async fn a_broadcast_writes_every_enabled_user_exactly_what_row_by_row_writing_would() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Arc::new(Recorder::default());
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(&config, bus.clone()).await.unwrap();
        // More users than one chunk, and a last group of events shorter than
        // one multi-row statement.
        let mut users = Vec::new();
        for i in 0..1_234 {
            let name = format!("u{i}");
            match store
                .create_user(&name, &name, "x", Role::User, 0)
                .await
                .unwrap()
            {
                CreateUser::Created(user) => users.push(user.id),
                CreateUser::UsernameTaken => unreachable!(),
            }
        }
        let disabled = users[10];
        store.set_disabled(disabled, true).await.unwrap();
        // One user already has unread notifications and events.
        let busy = users[500];
        let earlier = new(None);
        for _ in 0..2 {
            let earlier = earlier.clone();
            store
                .write(move |tx| tx.publish_notifications(&[busy], &earlier, 1))
                .await
                .unwrap();
        }
        bus.0.lock().unwrap().clear();

        let new = new(Some(serde_json::json!({"order": 7})));
        let now = 1_700_000_000_000;
        let (ids, last) = {
            let new = new.clone();
            store
                .write(move |tx| tx.publish_to_users_after(0, 5_000, &new, now))
                .await
                .unwrap()
                .unwrap()
        };
        assert_eq!(ids.len(), users.len() - 1, "everyone but the disabled user");
        assert_eq!(last, *users.last().unwrap());
        let announced = std::mem::take(&mut *bus.0.lock().unwrap());
        assert_eq!(
            announced.len(),
            ids.len(),
            "one event per recipient for the bus"
        );

        let recipients = users.iter().filter(|&&u| u != disabled);
        for (&user_id, &id) in recipients.zip(&ids) {
            let unread = if user_id == busy { 3 } else { 1 };
            assert_eq!(store.unread_count(user_id).await.unwrap(), unread);
            let events = store.events_after(user_id, 0, 10).await.unwrap();
            let stored = events.last().unwrap();
            assert_eq!(stored.seq, if user_id == busy { 3 } else { 1 });
            let notification = new.written(id, now);
            assert_eq!(stored.payload, serialize(notification, unread).unwrap());
            let on_bus = announced.iter().find(|a| a.user_id == user_id).unwrap();
            assert_eq!((on_bus.seq, &on_bus.payload), (stored.seq, &stored.payload));
        }
        assert!(
            store
                .events_after(disabled, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let after_everyone = store
            .write(move |tx| tx.publish_to_users_after(last, 5_000, &new, now))
            .await
            .unwrap();
        assert!(after_everyone.is_none());
    }
}
