//! Publishing and changing notifications, shared by the REST routes and the
//! server functions. Inputs are parsed into types that hold only valid
//! values before anything is written. Server only.

use std::sync::Arc;

use serde::Deserialize;

use crate::auth::extract::Publisher;
use crate::model::channel::ChannelName;
use crate::model::dashboard::{CategoryCount, ConversationDigest, DashboardSummary};
use crate::model::integration::{ExternalId, WebOrigin};
use crate::model::json::OpaqueJson;
use crate::model::notification::{
    ActionMethod, Category, NotificationAction, NotificationDraft, NotificationPage,
    NotificationQuery, Preferences, Priority, Recipients,
};
use crate::model::user::{User, Username};
use crate::server::clock::now_ms;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::notifications::{Addressed, Change, NewNotification, NotificationFilter};

/// Recipients written per write command: a large publish never holds the
/// writer for long (other commands interleave between its steps), and its
/// first recipients get their event while the rest are written.
const FAN_OUT_BATCH: usize = 2_000;
const MAX_NAMED_RECIPIENTS: usize = 10_000;
const MAX_DATA_BYTES: usize = 8 * 1024;

/// A publish request as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub to: serde_json::Value,
    pub category: Category,
    #[serde(default)]
    pub priority: Option<Priority>,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// Up to three buttons.
    #[serde(default)]
    pub actions: Vec<ActionRequest>,
}

/// One action as sent: `{"label", "url"}` or `{"label", "method": "POST",
/// "url", "body"?}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub label: String,
    pub url: String,
    /// `"POST"` to call `url`; left out to open it.
    #[serde(default)]
    pub method: Option<String>,
    /// JSON sent by a POST action.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// Most actions per notification.
pub const MAX_ACTIONS: usize = 3;
const MAX_ACTION_LABEL: usize = 40;
const MAX_ACTION_BODY_BYTES: usize = 2 * 1024;

/// Checks a publish's actions: at most three, each with a short label and
/// a link as `url` is checked; a POST action may call only this site or an
/// origin of the `action_origins` setting (the pages' CSP allows no other).
pub fn parse_actions(
    actions: Vec<ActionRequest>,
    allowed: &crate::server::config::ActionOrigins,
) -> Result<Vec<NotificationAction>, AppError> {
    if actions.len() > MAX_ACTIONS {
        return Err(AppError::validation(
            "actions",
            format!("A notification has at most {MAX_ACTIONS} actions."),
        ));
    }
    actions
        .into_iter()
        .enumerate()
        .map(|(index, action)| {
            let bad = |message: String| {
                AppError::validation("actions", format!("actions[{index}]: {message}"))
            };
            let label = action.label.trim().to_owned();
            if label.is_empty() || label.chars().count() > MAX_ACTION_LABEL {
                return Err(bad(format!(
                    "An action's label must be 1 to {MAX_ACTION_LABEL} characters."
                )));
            }
            let url = parse_url(&action.url).map_err(|_| {
                bad("url must be a path on this site (/...) or an http(s) URL.".into())
            })?;
            let method = match action.method.as_deref() {
                None => ActionMethod::Open,
                Some("POST") => ActionMethod::Post,
                Some(other) => {
                    return Err(bad(format!(
                        "method must be \"POST\" or left out (to open the url), not {other:?}."
                    )));
                }
            };
            let body = match (method, action.body) {
                (_, None | Some(serde_json::Value::Null)) => None,
                (ActionMethod::Open, Some(_)) => {
                    return Err(bad("Only a POST action has a body.".into()));
                }
                (ActionMethod::Post, Some(body)) => {
                    // Written once; the text is what is stored and sent.
                    let body = OpaqueJson::from_value(&body)
                        .map_err(|_| bad("body must be JSON.".into()))?;
                    if body.get().len() > MAX_ACTION_BODY_BYTES {
                        return Err(bad("An action's body must be at most 2 KiB of JSON.".into()));
                    }
                    Some(body)
                }
            };
            if method == ActionMethod::Post && !url.starts_with('/') {
                let origin = url_origin(&url);
                if !origin.as_ref().is_some_and(|o| allowed.allows(o)) {
                    return Err(bad(format!(
                        "A POST action may call only this site or an origin listed in the \
                         action_origins setting; {} is not listed.",
                        origin.map_or_else(|| url.clone(), |o| o.as_str().to_owned())
                    )));
                }
            }
            Ok(NotificationAction {
                label,
                url,
                method,
                body,
            })
        })
        .collect()
}

/// The origin of an absolute http(s) URL (`None` for one with credentials
/// or no valid host).
fn url_origin(url: &str) -> Option<WebOrigin> {
    let scheme_end = url.find("://")? + 3;
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    if url[scheme_end..authority_end].contains('@') {
        return None;
    }
    WebOrigin::parse(&url[..authority_end]).ok()
}

/// Who receives a publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    Everyone,
    Users(Vec<String>),
    /// The channel's members at the time of the publish.
    Channel(ChannelName),
    /// Users provisioned by a host app, by its ids.
    External(Vec<String>),
}

/// A publish that passed every check.
#[derive(Debug, Clone)]
pub struct Publish {
    pub audience: Audience,
    pub notification: NewNotification,
}

/// What a publish did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Published {
    pub ids: Vec<i64>,
    pub recipients: usize,
}

/// Checks a link target: a path on this site or an http(s) URL.
pub fn parse_url(url: &str) -> Result<String, AppError> {
    let url = url.trim();
    let bad = || {
        AppError::validation(
            "url",
            "url must be a path on this site (/...) or an http(s) URL.",
        )
    };
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let local = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    let web = ["http://", "https://"]
        .iter()
        // `get`, not indexing: a multi-byte character across the scheme's
        // length is simply not that scheme.
        .any(|scheme| {
            url.len() > scheme.len()
                && url
                    .get(..scheme.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
        });
    if local || web {
        Ok(url.to_owned())
    } else {
        Err(bad())
    }
}

fn parse_audience(to: &serde_json::Value) -> Result<Audience, AppError> {
    let bad = || {
        AppError::validation(
            "to",
            "to must be \"all\", a list of usernames, {\"channel\": name} or {\"external_ids\": [...]}.",
        )
    };
    match to {
        serde_json::Value::String(all) if all == "all" => Ok(Audience::Everyone),
        serde_json::Value::Object(fields) if fields.len() == 1 => {
            match (fields.get("channel"), fields.get("external_ids")) {
                (Some(serde_json::Value::String(name)), _) => ChannelName::parse(name)
                    .map(Audience::Channel)
                    .map_err(|e| AppError::validation("to", e.message)),
                (_, Some(serde_json::Value::Array(ids))) => {
                    if ids.is_empty() || ids.len() > MAX_NAMED_RECIPIENTS {
                        return Err(AppError::validation(
                            "to",
                            format!("external_ids must name 1 to {MAX_NAMED_RECIPIENTS} users."),
                        ));
                    }
                    let mut external = ids
                        .iter()
                        .map(|id| {
                            let id = id.as_str().ok_or_else(bad)?;
                            ExternalId::parse(id)
                                .map(|id| id.as_str().to_owned())
                                .map_err(|e| AppError::validation("to", e.message))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    external.sort();
                    external.dedup();
                    Ok(Audience::External(external))
                }
                _ => Err(bad()),
            }
        }
        serde_json::Value::Array(names) => {
            if names.is_empty() || names.len() > MAX_NAMED_RECIPIENTS {
                return Err(AppError::validation(
                    "to",
                    format!("to must name 1 to {MAX_NAMED_RECIPIENTS} users."),
                ));
            }
            let mut users = Vec::with_capacity(names.len());
            for name in names {
                let name = name.as_str().ok_or_else(bad)?;
                // A name that cannot be valid is simply unknown.
                users.push(
                    Username::parse(name)
                        .map(|u| u.as_str().to_owned())
                        .unwrap_or_else(|_| name.to_owned()),
                );
            }
            users.sort();
            users.dedup();
            Ok(Audience::Users(users))
        }
        _ => Err(bad()),
    }
}

impl PublishRequest {
    /// Checks every field (API.md's limits) and names the first bad one.
    pub fn parse(
        self,
        publisher: &Publisher,
        action_origins: &crate::server::config::ActionOrigins,
    ) -> Result<Publish, AppError> {
        let audience = parse_audience(&self.to)?;
        let title = self.title.trim().to_owned();
        let title_len = title.chars().count();
        if title_len == 0 || title_len > 200 {
            return Err(AppError::validation(
                "title",
                "title must be 1 to 200 characters.",
            ));
        }
        if self.body.chars().count() > 2000 {
            return Err(AppError::validation(
                "body",
                "body must be at most 2000 characters.",
            ));
        }
        let url = self
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(parse_url)
            .transpose()?;
        let key = match self.key {
            Some(key) if key.is_empty() || key.chars().count() > 200 => {
                return Err(AppError::validation(
                    "key",
                    "key must be 1 to 200 characters.",
                ));
            }
            other => other,
        };
        let data = match self.data {
            None | Some(serde_json::Value::Null) => None,
            Some(object @ serde_json::Value::Object(_)) => {
                // Written once; the text is what is stored and sent.
                let data = OpaqueJson::from_value(&object)
                    .map_err(|_| AppError::validation("data", "data must be a JSON object."))?;
                if data.get().len() > MAX_DATA_BYTES {
                    return Err(AppError::validation(
                        "data",
                        "data must be at most 8 KiB of JSON.",
                    ));
                }
                Some(data)
            }
            Some(_) => return Err(AppError::validation("data", "data must be a JSON object.")),
        };
        let actions = parse_actions(self.actions, action_origins)?;
        let actor = match publisher {
            Publisher::Admin(user) => Some(user.clone()),
            Publisher::Token(_) => None,
        };
        Ok(Publish {
            audience,
            notification: NewNotification {
                category: self.category,
                priority: self.priority.unwrap_or(Priority::Normal),
                title,
                body: self.body,
                url,
                key,
                actor,
                data,
                actions,
            },
        })
    }
}

/// Writes the notification for every recipient (in batches, each batch one
/// write command; the writer announces the events after each commit).
/// Unknown usernames fail the whole publish before anything is written.
pub async fn publish(state: &AppState, publish: &Publish) -> Result<Published, AppError> {
    let mut published = Published {
        ids: Vec::new(),
        recipients: 0,
    };
    match &publish.audience {
        Audience::Users(names) => {
            let notification = Arc::new(publish.notification.clone());
            let (names, now) = (names.clone(), now_ms());
            let addressed = {
                let notification = Arc::clone(&notification);
                state
                    .store
                    .write(move |tx| {
                        tx.publish_to_usernames(&names, &notification, FAN_OUT_BATCH, now)
                    })
                    .await?
            };
            match addressed {
                Addressed::Written(ids) => {
                    published.recipients = ids.len();
                    published.ids = ids;
                }
                Addressed::Resolved(ids) => {
                    for batch in ids.chunks(FAN_OUT_BATCH) {
                        write_batch(state, batch.to_vec(), &notification, &mut published).await?;
                    }
                }
                Addressed::Unknown(unknown) => {
                    return Err(AppError::validation(
                        "to",
                        format!("Unknown users: {}.", unknown.join(", ")),
                    ));
                }
            }
        }
        Audience::External(external_ids) => {
            let (ids, unknown) = state.store.external_user_ids(external_ids).await?;
            if !unknown.is_empty() {
                return Err(AppError::validation(
                    "to",
                    format!("Unknown external ids: {}.", unknown.join(", ")),
                ));
            }
            let notification = Arc::new(publish.notification.clone());
            for batch in ids.chunks(FAN_OUT_BATCH) {
                write_batch(state, batch.to_vec(), &notification, &mut published).await?;
            }
        }
        Audience::Channel(name) => {
            let members = state.store.channel_member_ids(name).await?.ok_or_else(|| {
                AppError::validation("to", format!("Unknown channel: {}.", name.as_str()))
            })?;
            let notification = Arc::new(publish.notification.clone());
            for batch in members.chunks(FAN_OUT_BATCH) {
                write_batch(state, batch.to_vec(), &notification, &mut published).await?;
            }
        }
        Audience::Everyone => {
            let notification = Arc::new(publish.notification.clone());
            let mut after = 0;
            loop {
                let now = now_ms();
                let step = {
                    let notification = Arc::clone(&notification);
                    state
                        .store
                        .write(move |tx| {
                            tx.publish_to_users_after(after, FAN_OUT_BATCH, &notification, now)
                        })
                        .await?
                };
                let Some((ids, last)) = step else { break };
                published.recipients += ids.len();
                published.ids.extend(ids);
                after = last;
            }
        }
    }
    Ok(published)
}

async fn write_batch(
    state: &AppState,
    recipients: Vec<i64>,
    notification: &Arc<NewNotification>,
    published: &mut Published,
) -> Result<(), AppError> {
    let now = now_ms();
    let count = recipients.len();
    let notification = Arc::clone(notification);
    let ids = state
        .store
        .write(move |tx| tx.publish_notifications(&recipients, &notification, now))
        .await?;
    published.recipients += count;
    published.ids.extend(ids);
    Ok(())
}

/// Notifications one batch may carry.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// Named recipients all the notifications of one batch may have together.
pub const MAX_BATCH_RECIPIENTS: usize = 10_000;

/// The answer to one notification of a batch.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum BatchItem {
    /// Written: its ids, like a single publish's answer.
    Published {
        status: u16,
        ids: Vec<i64>,
        recipients: usize,
    },
    /// Not written, and why (the error shape of a single publish).
    Refused {
        status: u16,
        error: crate::model::error::ApiError,
    },
}

impl BatchItem {
    fn refused(error: &AppError) -> Self {
        Self::Refused {
            status: error.status_and_code().0.as_u16(),
            error: error.to_api_error(),
        }
    }
}

/// What a batch did, item by item in the order sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchPublished {
    pub results: Vec<BatchItem>,
    pub accepted: usize,
    pub refused: usize,
}

/// Publishes up to [`MAX_BATCH_ITEMS`] notifications, each with its own
/// `to`, in ONE write command (one transaction): every valid item is
/// written, an invalid one (bad fields, unknown users) is answered alone
/// and writes nothing. The publisher's allowance is taken for every item
/// first; past it, nothing is written (429).
pub async fn publish_batch(
    state: &AppState,
    publisher: &Publisher,
    items: Vec<serde_json::Value>,
) -> Result<BatchPublished, AppError> {
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(AppError::validation(
            "notifications",
            format!("notifications must hold 1 to {MAX_BATCH_ITEMS} notifications."),
        ));
    }
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    check_publish_rate(state, publisher, count).await?;
    let mut results: Vec<Option<BatchItem>> = vec![None; items.len()];
    let mut valid = Vec::with_capacity(items.len());
    let mut recipients = 0;
    for (index, item) in items.into_iter().enumerate() {
        let parsed = serde_json::from_value::<PublishRequest>(item)
            .map_err(|e| {
                AppError::validation("notifications", format!("Notification {index}: {e}"))
            })
            .and_then(|request| request.parse(publisher, &state.config.action_origins));
        match parsed {
            Ok(Publish {
                audience: Audience::Users(names),
                notification,
            }) => {
                recipients += names.len();
                valid.push((index, names, notification));
            }
            Ok(Publish {
                audience: Audience::Everyone | Audience::Channel(_) | Audience::External(_),
                ..
            }) => {
                results[index] = Some(BatchItem::refused(&AppError::validation(
                    "to",
                    "A batch publishes to named users; publish to everyone or to a channel with POST /api/notifications.",
                )));
            }
            Err(error) => results[index] = Some(BatchItem::refused(&error)),
        }
    }
    if recipients > MAX_BATCH_RECIPIENTS {
        return Err(AppError::validation(
            "notifications",
            format!("A batch may name at most {MAX_BATCH_RECIPIENTS} recipients in all."),
        ));
    }
    let now = now_ms();
    let written = state
        .store
        .write(move |tx| {
            let mut everyone: Vec<&str> = valid
                .iter()
                .flat_map(|(_, names, _)| names.iter().map(String::as_str))
                .collect();
            everyone.sort_unstable();
            everyone.dedup();
            tx.lock_counters_of(&everyone)?;
            valid
                .into_iter()
                .map(|(index, names, notification)| {
                    tx.publish_to_usernames(&names, &notification, usize::MAX, now)
                        .map(|addressed| (index, addressed))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for (index, addressed) in written {
        results[index] = Some(match addressed {
            Addressed::Written(ids) => BatchItem::Published {
                status: 202,
                recipients: ids.len(),
                ids,
            },
            Addressed::Unknown(unknown) => BatchItem::refused(&AppError::validation(
                "to",
                format!("Unknown users: {}.", unknown.join(", ")),
            )),
            Addressed::Resolved(_) => BatchItem::refused(&AppError::Internal(
                "a batch item was resolved but not written".into(),
            )),
        });
    }
    let results: Vec<BatchItem> = results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                BatchItem::refused(&AppError::Internal("a batch item was not answered".into()))
            })
        })
        .collect();
    let accepted = results
        .iter()
        .filter(|r| matches!(r, BatchItem::Published { .. }))
        .count();
    Ok(BatchPublished {
        refused: results.len() - accepted,
        accepted,
        results,
    })
}

/// One page of `user_id`'s notifications, with the unread count and the
/// cursor to resume the event stream from.
pub async fn list_page(
    state: &AppState,
    user_id: i64,
    query: &NotificationQuery,
) -> Result<NotificationPage, AppError> {
    let limit = query.limit.unwrap_or(NotificationQuery::DEFAULT_LIMIT);
    if !(1..=NotificationQuery::MAX_LIMIT).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("limit must be 1 to {}.", NotificationQuery::MAX_LIMIT),
        ));
    }
    let filter = NotificationFilter {
        unread_only: query.unread_only,
        category: query.category,
        priority: query.priority,
    };
    // The cursor is read first: whatever happens after it is replayed to a
    // stream resumed from it, so nothing falls between list and stream.
    let cursor = state.store.event_window(user_id).await?.cursor;
    let notifications = state
        .store
        .list_notifications(user_id, &filter, query.before, limit)
        .await?;
    let unread_count = state.store.unread_count(user_id).await?;
    let next_before = (notifications.len() == limit as usize)
        .then(|| notifications.last().map(|n| n.id))
        .flatten();
    Ok(NotificationPage {
        notifications,
        unread_count,
        cursor,
        next_before,
    })
}

/// Stores `user_id`'s preferences (muted categories sorted, once each).
pub async fn save_preferences(
    state: &AppState,
    user_id: i64,
    mut preferences: Preferences,
) -> Result<Preferences, AppError> {
    preferences.muted_categories.sort_by_key(|c| c.as_str());
    preferences.muted_categories.dedup();
    let before = state.store.preferences(user_id).await?;
    state.store.save_preferences(user_id, &preferences).await?;
    if before.hide_presence != preferences.hide_presence
        && crate::chat::service::is_online(state, user_id).await
    {
        // Hiding looks like leaving; showing again like arriving.
        crate::chat::service::announce_visibility(state, user_id, preferences.hide_presence).await;
    }
    Ok(preferences)
}

/// Takes `count` publishes from `publisher`'s allowance: a token's own
/// limit or the server's `publish_rate_per_minute`; an admin's session
/// has `session_publish_rate_per_minute`.
pub async fn check_publish_rate(
    state: &AppState,
    publisher: &Publisher,
    count: u32,
) -> Result<(), AppError> {
    let per_minute = match publisher {
        Publisher::Token(token) => token
            .publish_rate_per_minute
            .unwrap_or(state.config.publish_rate_per_minute.get()),
        Publisher::Admin(_) => state.config.session_publish_rate_per_minute.get(),
    };
    take_publishes(state, &publisher.key(), count, per_minute).await
}

async fn take_publishes(
    state: &AppState,
    key: &str,
    count: u32,
    per_minute: u32,
) -> Result<(), AppError> {
    state
        .publish_limiter
        .take(key, count, per_minute)
        .await
        .map_err(|retry_after_secs| AppError::RateLimited {
            code: "rate_limited",
            message: format!("Too many publishes; try again in {retry_after_secs} s."),
            retry_after_secs,
        })
}

impl From<NotificationDraft> for PublishRequest {
    fn from(draft: NotificationDraft) -> Self {
        let to = match draft.to {
            Recipients::Everyone => serde_json::Value::String("all".into()),
            Recipients::Users(names) => names.into_iter().map(serde_json::Value::String).collect(),
        };
        Self {
            to,
            category: draft.category,
            priority: Some(draft.priority),
            title: draft.title,
            body: draft.body,
            url: draft.url,
            key: None,
            data: None,
            actions: Vec::new(),
        }
    }
}

/// Tells the owner of a just-signed-in account, in their notifications,
/// how many wrong passwords were tried since their last sign-in (nothing
/// when there were none).
pub async fn report_failed_sign_ins(state: &AppState, user: &User, failed: i64) {
    if failed <= 0 {
        return;
    }
    let plural = if failed == 1 { "" } else { "s" };
    let notice = Publish {
        audience: Audience::Users(vec![user.username.clone()]),
        notification: NewNotification {
            category: Category::System,
            priority: Priority::High,
            title: format!("{failed} failed sign-in attempt{plural} since your last visit"),
            body: "Someone entered a wrong password for your account. If it was not you, \
                   choose a new, longer password in Settings."
                .into(),
            url: Some("/settings".into()),
            key: Some("failed_sign_ins".into()),
            actor: None,
            data: OpaqueJson::from_value(&serde_json::json!({ "failed_attempts": failed })).ok(),
            actions: Vec::new(),
        },
    };
    if let Err(error) = publish(state, &notice).await {
        tracing::warn!(%error, "could not tell the user about failed sign-ins");
    }
}

/// Sends `user` a notification about nothing, so they can see where
/// notifications appear (toast, bell, browser notification).
pub async fn send_test(state: &AppState, user: &User) -> Result<Published, AppError> {
    take_publishes(
        state,
        &format!("test:{}", user.id),
        1,
        state.config.session_publish_rate_per_minute.get(),
    )
    .await?;
    let test = Publish {
        audience: Audience::Users(vec![user.username.clone()]),
        notification: NewNotification {
            category: Category::System,
            priority: Priority::Normal,
            title: "Test notification".into(),
            body: "Notifications reach you here. This one can be deleted.".into(),
            url: Some("/notifications".into()),
            key: None,
            actor: None,
            data: None,
            actions: Vec::new(),
        },
    };
    publish(state, &test).await
}

/// The dashboard's news for `user`. The cursor is read first: whatever
/// changes the news after it reaches the page as an event.
pub async fn dashboard(state: &AppState, user: &User) -> Result<DashboardSummary, AppError> {
    let cursor = state.store.event_window(user.id).await?.cursor;
    let counted = state.store.unread_by_category(user.id).await?;
    let by_category: Vec<CategoryCount> = Category::ALL
        .into_iter()
        .filter_map(|category| {
            counted
                .iter()
                .find(|(c, _)| *c == category)
                .map(|(_, unread)| CategoryCount {
                    category,
                    unread: *unread,
                })
        })
        .collect();
    let pressing = state
        .store
        .most_pressing_unread(user.id, DashboardSummary::PRESSING)
        .await?;
    let conversations: Vec<ConversationDigest> = crate::chat::service::list(state, user)
        .await?
        .conversations
        .iter()
        .filter(|c| c.unread_count > 0)
        .take(DashboardSummary::CONVERSATIONS)
        .map(|c| ConversationDigest::of(c, user.id))
        .collect();
    Ok(DashboardSummary {
        unread_count: by_category.iter().map(|c| c.unread).sum(),
        by_category,
        pressing,
        conversations,
        cursor,
    })
}

/// Marks one of `user_id`'s notifications read; 404 when it has none such.
pub async fn mark_read(state: &AppState, user_id: i64, id: i64) -> Result<(), AppError> {
    let now = now_ms();
    let change = state
        .store
        .write(move |tx| tx.mark_read(user_id, id, now))
        .await?;
    found(change)
}

/// Marks all of `user_id`'s notifications (of `category`, if given) read.
pub async fn mark_all_read(
    state: &AppState,
    user_id: i64,
    category: Option<Category>,
) -> Result<(), AppError> {
    let now = now_ms();
    let change = state
        .store
        .write(move |tx| tx.mark_all_read(user_id, category, now))
        .await?;
    found(change)
}

/// Deletes one of `user_id`'s notifications; 404 when it has none such.
pub async fn delete(state: &AppState, user_id: i64, id: i64) -> Result<(), AppError> {
    let now = now_ms();
    let change = state
        .store
        .write(move |tx| tx.delete_notification(user_id, id, now))
        .await?;
    found(change)
}

/// A change's outcome as the API answers it: 404 when there was nothing.
fn found(change: Change) -> Result<(), AppError> {
    match change {
        Change::NotFound => Err(AppError::NotFound),
        Change::Unchanged | Change::Changed => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_local_paths_or_web_links() {
        for good in ["/jobs/7", "https://example.com/a?b=c", "HTTP://example.com"] {
            assert!(parse_url(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "/\\evil",
            "ftp://x",
            "data:text/html,x",
            "https://",
            "/a b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audiences_parse() {
        assert_eq!(
            parse_audience(&serde_json::json!("all")).unwrap(),
            Audience::Everyone
        );
        assert_eq!(
            parse_audience(&serde_json::json!(["Bob", "alice", "bob"])).unwrap(),
            Audience::Users(vec!["alice".into(), "bob".into()])
        );
        assert!(parse_audience(&serde_json::json!([])).is_err());
        assert!(parse_audience(&serde_json::json!("everyone")).is_err());
        assert!(parse_audience(&serde_json::json!([1])).is_err());
        assert_eq!(
            parse_audience(&serde_json::json!({"channel": "restaurant:42"})).unwrap(),
            Audience::Channel(ChannelName::parse("restaurant:42").unwrap())
        );
        assert!(parse_audience(&serde_json::json!({"channel": "Bad Name"})).is_err());
        assert!(parse_audience(&serde_json::json!({"channel": "a", "x": 1})).is_err());
    }
}
