//! Publishing topic values and changing a stream's topics: who may
//! subscribe (per namespace, setting `topic_access`), the store write, the
//! hand-over to this instance's streams and to the other instances.
//! Server only.

use crate::auth::extract::{Access, Recipient};
use crate::model::channel::ChannelName;
use crate::model::topic::{
    HERALD_NAMESPACE, MAX_VALUE_BYTES, STATUS_TOPIC, TopicAccess, TopicName, grant_covers,
};
use crate::server::clock::now_ms;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::store::Backend;
use crate::store::writer::{SIGNAL_PAYLOAD_BYTES, SIGNALS_CHANNEL};
use crate::topics::hub::{StreamHome, TopicFrame};

fn forbidden() -> AppError {
    AppError::forbidden("topic_forbidden", "You may not subscribe to this topic.")
}

/// Whether `recipient` may subscribe to `topic`.
pub async fn may_subscribe(
    state: &AppState,
    recipient: &Recipient,
    topic: &TopicName,
) -> Result<bool, AppError> {
    if topic.namespace() == HERALD_NAMESPACE {
        let admin =
            matches!(&recipient.access, Access::Session(current) if current.user.is_admin());
        return Ok(admin && topic.as_str() == STATUS_TOPIC);
    }
    if recipient
        .grants()
        .iter()
        .any(|grant| grant_covers(grant, topic))
    {
        return Ok(true);
    }
    Ok(match state.config.topic_access.rule(topic.namespace()) {
        TopicAccess::Users => true,
        TopicAccess::Grant => false,
        TopicAccess::Channel => match ChannelName::parse(topic.as_str()) {
            Ok(channel) => {
                state
                    .store
                    .is_channel_member(&channel, recipient.user.id)
                    .await?
            }
            Err(_) => false,
        },
    })
}

/// Refuses with 403 `topic_forbidden` unless `recipient` may subscribe to
/// every one of `topics`.
pub async fn check_all(
    state: &AppState,
    recipient: &Recipient,
    topics: &[TopicName],
) -> Result<(), AppError> {
    for topic in topics {
        if !may_subscribe(state, recipient, topic).await? {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// A topic value from a request body: any JSON of at most
/// [`MAX_VALUE_BYTES`], kept as compact text.
pub fn parse_value(body: &[u8]) -> Result<String, AppError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AppError::Validation {
            message: format!("The body must be the topic's value as JSON: {e}"),
            field: Some("value".into()),
        })?;
    let text = serde_json::to_string(&value).map_err(|e| AppError::Internal(e.to_string()))?;
    if text.len() > MAX_VALUE_BYTES {
        return Err(AppError::validation(
            "value",
            format!("A topic value is at most {MAX_VALUE_BYTES} bytes of JSON."),
        ));
    }
    Ok(text)
}

/// Stores `value` as `topic`'s latest (kept `ttl_secs`, at most the
/// configured `topic_ttl_secs`), hands it to the streams here and tells
/// the other instances. Returns the new version.
pub async fn publish(
    state: &AppState,
    topic: &TopicName,
    value: String,
    ttl_secs: Option<u64>,
) -> Result<i64, AppError> {
    if topic.namespace() == HERALD_NAMESPACE {
        return Err(AppError::forbidden(
            "reserved_topic",
            "The herald: namespace is Herald's own.",
        ));
    }
    let max_ttl = state.config.topic_ttl_secs.get();
    let ttl = ttl_secs.unwrap_or(max_ttl).clamp(1, max_ttl);
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2000) * 1000);
    let version = state
        .store
        .set_topic_value(topic, value.clone(), now, expires_at)
        .await?;
    let frame = TopicFrame::from_json(topic.as_str(), version, &value);
    state.topics.publish(&frame);
    if state.store.backend() == Backend::Postgres {
        let payload = format!(
            "{}|o|{version}|{}|{value}",
            state.store.node_id(),
            topic.as_str()
        );
        if let Err(error) = state.store.notify(SIGNALS_CHANNEL, &payload).await {
            // The others catch up when their listener reconnects, or on the
            // next publish.
            tracing::warn!(%error, "could not tell the other instances of a topic value");
        }
    }
    Ok(version)
}

/// Hands the current values of `topics` to stream `key` (if here).
pub async fn offer_current(
    state: &AppState,
    key: &str,
    topics: &[TopicName],
) -> Result<(), AppError> {
    if topics.is_empty() {
        return Ok(());
    }
    let Some(inbox) = state.topics.inbox(key) else {
        return Ok(());
    };
    if topics.iter().any(|t| t.as_str() == STATUS_TOPIC) {
        state.topics.offer_to(&inbox, &status_frame(state));
    }
    for update in state.store.topic_values(topics, now_ms()).await? {
        state.topics.offer_to(&inbox, &TopicFrame::new(&update));
    }
    Ok(())
}

/// `herald:status` now.
fn status_frame(state: &AppState) -> std::sync::Arc<TopicFrame> {
    let value = serde_json::json!({
        "streams": state.hub.connections(),
        "users_online": state.hub.online_users(),
    })
    .to_string();
    TopicFrame::from_json(STATUS_TOPIC, now_ms(), &value)
}

/// What a subscription change did.
pub enum Changed {
    /// The stream is here: its topics now.
    Applied(Vec<String>),
    /// The stream is on another instance, which was told.
    Forwarded,
}

/// Subscribes stream `key` (the recipient's) to `subscribe` and
/// unsubscribes it from `unsubscribe`, after checking access.
pub async fn change(
    state: &AppState,
    recipient: &Recipient,
    key: &str,
    subscribe: Vec<TopicName>,
    unsubscribe: Vec<TopicName>,
) -> Result<Changed, AppError> {
    check_all(state, recipient, &subscribe).await?;
    let max = state.config.max_topics_per_connection.get();
    if subscribe.len() > max {
        return Err(too_many(max));
    }
    match state.topics.home(key) {
        StreamHome::Here => {
            let changed = state
                .topics
                .change(key, recipient.user.id, &subscribe, &unsubscribe, max)
                .ok_or(AppError::NotFound)?
                .map_err(|_| too_many(max))?;
            offer_current(state, key, &changed.added).await?;
            Ok(Changed::Applied(changed.topics))
        }
        StreamHome::Elsewhere(node) if state.store.backend() == Backend::Postgres => {
            forward(
                state,
                node,
                key,
                recipient.user.id,
                &subscribe,
                &unsubscribe,
            )
            .await?;
            Ok(Changed::Forwarded)
        }
        _ => Err(AppError::NotFound),
    }
}

fn too_many(max: usize) -> AppError {
    AppError::Conflict {
        code: "too_many_topics",
        message: format!("A stream may listen to at most {max} topics."),
        field: Some("subscribe"),
    }
}

/// Tells instance `node` to change stream `key`'s topics:
/// `from|u|node|key|user|+a,-b`, in as many payloads as needed.
async fn forward(
    state: &AppState,
    node: &str,
    key: &str,
    user_id: i64,
    subscribe: &[TopicName],
    unsubscribe: &[TopicName],
) -> Result<(), AppError> {
    let head = format!("{}|u|{node}|{key}|{user_id}|", state.store.node_id());
    let items = unsubscribe
        .iter()
        .map(|t| format!("-{}", t.as_str()))
        .chain(subscribe.iter().map(|t| format!("+{}", t.as_str())));
    let mut payload = head.clone();
    let mut count = 0;
    for item in items {
        if count > 0 && payload.len() + item.len() + 1 > SIGNAL_PAYLOAD_BYTES {
            state.store.notify(SIGNALS_CHANNEL, &payload).await?;
            payload = head.clone();
            count = 0;
        }
        if count > 0 {
            payload.push(',');
        }
        payload.push_str(&item);
        count += 1;
    }
    if count > 0 {
        state.store.notify(SIGNALS_CHANNEL, &payload).await?;
    }
    Ok(())
}

/// Applies a forwarded change (`node|key|user|+a,-b`, after the sender
/// and kind) if the stream is here; access was checked by the sender.
pub async fn apply_forwarded(state: &AppState, rest: &str) {
    let mut parts = rest.splitn(4, '|');
    let (Some(node), Some(key), Some(user), Some(list)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if node != state.store.node_id() {
        return;
    }
    let Ok(user_id) = user.parse::<i64>() else {
        return;
    };
    let mut subscribe = Vec::new();
    let mut unsubscribe = Vec::new();
    for item in list.split(',') {
        if let Some(topic) = item
            .strip_prefix('+')
            .and_then(|t| TopicName::parse(t).ok())
        {
            subscribe.push(topic);
        } else if let Some(topic) = item
            .strip_prefix('-')
            .and_then(|t| TopicName::parse(t).ok())
        {
            unsubscribe.push(topic);
        }
    }
    let max = state.config.max_topics_per_connection.get();
    match state
        .topics
        .change(key, user_id, &subscribe, &unsubscribe, max)
    {
        Some(Ok(changed)) => {
            if let Err(error) = offer_current(state, key, &changed.added).await {
                tracing::warn!(%error, "could not read the values of forwarded topics");
            }
        }
        Some(Err(_)) => tracing::info!(
            key,
            "forwarded subscription past the stream's limit; ignored"
        ),
        None => {}
    }
}

/// Applies a value published on another instance (`version|topic|json`).
pub fn apply_remote_value(state: &AppState, rest: &str) {
    let mut parts = rest.splitn(3, '|');
    let (Some(version), Some(topic), Some(value)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Ok(version) = version.parse::<i64>() else {
        return;
    };
    if TopicName::parse(topic).is_err()
        || serde_json::from_str::<serde::de::IgnoredAny>(value).is_err()
    {
        return;
    }
    state
        .topics
        .publish(&TopicFrame::from_json(topic, version, value));
}

/// After the cluster listener (re)connected: the stored values of every
/// topic with a subscriber here (what was announced meanwhile).
pub async fn resync(state: &AppState) -> Result<(), AppError> {
    let topics: Vec<TopicName> = state
        .topics
        .subscribed_topics()
        .iter()
        .filter_map(|t| TopicName::parse(t).ok())
        .collect();
    for chunk in topics.chunks(500) {
        for update in state.store.topic_values(chunk, now_ms()).await? {
            state.topics.publish(&TopicFrame::new(&update));
        }
    }
    Ok(())
}

/// Herald's own figures for admins (`herald:status`): open streams and
/// users online on this instance, published when they change. Not stored:
/// the version is the clock.
pub fn spawn_status_topic(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        let mut last = (usize::MAX, usize::MAX);
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = (state.hub.connections(), state.hub.online_users());
            if now == last {
                continue;
            }
            last = now;
            state.topics.publish(&status_frame(&state));
        }
    });
}

/// Shared by the routes: a list of topic names from JSON or a query.
pub fn parse_topics(names: &[String], field: &str) -> Result<Vec<TopicName>, AppError> {
    names
        .iter()
        .map(|name| TopicName::parse(name).map_err(|e| AppError::validation(field, e.message)))
        .collect()
}
