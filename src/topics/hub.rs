//! The topic hub: which open stream on this instance listens to which
//! topic, and each stream's inbox of pending values. An inbox holds at
//! most one value per topic: a newer value replaces an older one that was
//! not written yet (newest wins), and a value older than one already
//! queued or written is dropped. A slow reader therefore costs one slot
//! per topic, never a queue, and always ends on the latest value. Every
//! value is serialized once per instance and shared. Server only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::Notify;

use crate::model::topic::{TopicName, TopicUpdate};

/// One topic value as SSE bytes (`event: topic`), shared by every stream
/// that receives it.
#[derive(Debug)]
pub struct TopicFrame {
    pub topic: Arc<str>,
    pub version: i64,
    pub bytes: Bytes,
}

impl TopicFrame {
    /// The frame of `update`.
    pub fn new(update: &TopicUpdate) -> Arc<Self> {
        let value = serde_json::to_string(&update.value).unwrap_or_else(|_| "null".into());
        Self::from_json(&update.topic, update.version, &value)
    }

    /// The frame of `topic` at `version` with `value`, JSON text on one
    /// line (as stored: compact JSON has no line breaks), used as is.
    pub fn from_json(topic: &str, version: i64, value: &str) -> Arc<Self> {
        let name = serde_json::to_string(topic).unwrap_or_default();
        Arc::new(Self {
            topic: topic.into(),
            version,
            bytes: Bytes::from(format!(
                "event: topic\ndata: {{\"topic\":{name},\"value\":{value},\"version\":{version}}}\n\n"
            )),
        })
    }
}

/// A stream's pending values and the newest version it has seen per topic.
#[derive(Default)]
struct Pending {
    values: HashMap<Arc<str>, Arc<TopicFrame>>,
    newest: HashMap<Arc<str>, i64>,
}

/// A stream's inbox.
#[derive(Default)]
pub struct Inbox {
    pending: Mutex<Pending>,
    /// Woken when a value arrives (a permit is kept if nobody waits).
    pub ready: Notify,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Single inserts and removals: never inconsistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` unless the stream has it or a newer one; true when
    /// queued.
    fn offer(&self, frame: &Arc<TopicFrame>) -> bool {
        let mut pending = self.lock();
        let newest = pending
            .newest
            .get(&frame.topic)
            .copied()
            .unwrap_or(i64::MIN);
        if frame.version <= newest {
            return false;
        }
        pending.newest.insert(frame.topic.clone(), frame.version);
        pending.values.insert(frame.topic.clone(), frame.clone());
        drop(pending);
        self.ready.notify_one();
        true
    }

    /// Everything pending, as one chunk (`None` when nothing is).
    pub fn take(&self) -> Option<Bytes> {
        let values = std::mem::take(&mut self.lock().values);
        if values.is_empty() {
            return None;
        }
        let mut frames: Vec<_> = values.into_values().collect();
        // Deterministic order helps clients and tests; topics are few.
        frames.sort_by(|a, b| a.topic.cmp(&b.topic));
        let mut out = Vec::with_capacity(frames.iter().map(|f| f.bytes.len()).sum());
        for frame in frames {
            out.extend_from_slice(&frame.bytes);
        }
        Some(Bytes::from(out))
    }

    fn forget(&self, topic: &str) {
        let mut pending = self.lock();
        pending.values.remove(topic);
        pending.newest.remove(topic);
    }
}

struct Stream {
    user_id: i64,
    key: Arc<str>,
    inbox: Arc<Inbox>,
    topics: HashSet<Arc<str>>,
}

#[derive(Default)]
struct Topics {
    /// Subscribers per topic, by stream number.
    by_topic: HashMap<Arc<str>, HashMap<u64, Arc<Inbox>>>,
    streams: HashMap<u64, Stream>,
    /// Stream number by public id.
    by_key: HashMap<Arc<str>, u64>,
}

/// Counters for the status page and `/metrics`.
#[derive(Debug, Default)]
pub struct TopicCounters {
    pub published: AtomicU64,
    pub delivered: AtomicU64,
}

/// This instance's topic subscriptions; cheap to clone.
#[derive(Clone)]
pub struct TopicHub {
    inner: Arc<Mutex<Topics>>,
    next: Arc<AtomicU64>,
    node: Arc<str>,
    pub counters: Arc<TopicCounters>,
}

/// What a change of a stream's topics did.
#[derive(Debug)]
pub struct TopicsChanged {
    /// Topics newly added (their current values are for the caller to offer).
    pub added: Vec<TopicName>,
    /// The stream's topics after the change, sorted.
    pub topics: Vec<String>,
}

/// Subscribing would pass the per-stream limit.
#[derive(Debug)]
pub struct TooManyTopics;

/// A stream's place in the hub; leaves it when dropped.
pub struct TopicStream {
    hub: TopicHub,
    number: u64,
    /// The public id clients name the stream by (`connection_id`).
    pub key: Arc<str>,
    pub inbox: Arc<Inbox>,
}

impl Drop for TopicStream {
    fn drop(&mut self) {
        let mut topics = self.hub.lock();
        if let Some(stream) = topics.streams.remove(&self.number) {
            topics.by_key.remove(&stream.key);
            for topic in &stream.topics {
                remove_subscriber(&mut topics.by_topic, topic, self.number);
            }
        }
    }
}

fn remove_subscriber(
    by_topic: &mut HashMap<Arc<str>, HashMap<u64, Arc<Inbox>>>,
    topic: &str,
    number: u64,
) {
    if let Some(subscribers) = by_topic.get_mut(topic) {
        subscribers.remove(&number);
        if subscribers.is_empty() {
            by_topic.remove(topic);
        }
    }
}

/// Where a stream lives, read from its public id: this instance, another
/// one (`node`), or nowhere valid.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamHome<'a> {
    Here,
    Elsewhere(&'a str),
    Invalid,
}

impl TopicHub {
    /// The hub of instance `node` (its id prefixes every stream's id, so
    /// another instance knows where to forward a subscription change).
    pub fn new(node: &str) -> Self {
        Self {
            inner: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            node: node.into(),
            counters: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Topics> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream of `user_id` with no topics yet.
    pub fn open(&self, user_id: i64) -> TopicStream {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let key: Arc<str> = format!(
            "{}.{number}.{}",
            self.node,
            crate::server::random::hex::<8>()
        )
        .into();
        let inbox = Arc::new(Inbox::default());
        let mut topics = self.lock();
        topics.by_key.insert(key.clone(), number);
        topics.streams.insert(
            number,
            Stream {
                user_id,
                key: key.clone(),
                inbox: inbox.clone(),
                topics: HashSet::new(),
            },
        );
        drop(topics);
        TopicStream {
            hub: self.clone(),
            number,
            key,
            inbox,
        }
    }

    /// Where the stream named `key` lives.
    pub fn home<'a>(&self, key: &'a str) -> StreamHome<'a> {
        match key.split_once('.') {
            Some((node, _)) if node == &*self.node => StreamHome::Here,
            Some((node, _)) if !node.is_empty() => StreamHome::Elsewhere(node),
            _ => StreamHome::Invalid,
        }
    }

    /// Changes the topics of stream `key`, which must be `user_id`'s:
    /// `None` when there is no such stream here. Adds at most up to `max`
    /// topics in all.
    pub fn change(
        &self,
        key: &str,
        user_id: i64,
        subscribe: &[TopicName],
        unsubscribe: &[TopicName],
        max: usize,
    ) -> Option<Result<TopicsChanged, TooManyTopics>> {
        let mut guard = self.lock();
        let topics = &mut *guard;
        let number = *topics.by_key.get(key)?;
        let stream = topics.streams.get_mut(&number)?;
        if stream.user_id != user_id {
            return None;
        }
        let after_removal = stream
            .topics
            .iter()
            .filter(|t| !unsubscribe.iter().any(|u| u.as_str() == &***t))
            .count();
        let new: Vec<&TopicName> = subscribe
            .iter()
            .filter(|t| !stream.topics.contains(t.as_str()))
            .collect();
        let mut distinct: Vec<&TopicName> = new.clone();
        distinct.sort();
        distinct.dedup();
        if after_removal + distinct.len() > max {
            return Some(Err(TooManyTopics));
        }
        for topic in unsubscribe {
            if stream.topics.remove(topic.as_str()) {
                remove_subscriber(&mut topics.by_topic, topic.as_str(), number);
                stream.inbox.forget(topic.as_str());
            }
        }
        let mut added = Vec::new();
        for topic in distinct {
            let name: Arc<str> = topic.as_str().into();
            if stream.topics.insert(name.clone()) {
                topics
                    .by_topic
                    .entry(name)
                    .or_default()
                    .insert(number, stream.inbox.clone());
                added.push(topic.clone());
            }
        }
        let mut topics: Vec<String> = stream.topics.iter().map(|t| t.to_string()).collect();
        topics.sort();
        Some(Ok(TopicsChanged { added, topics }))
    }

    /// Hands `frame` to every stream here subscribed to its topic; returns
    /// how many took it.
    pub fn publish(&self, frame: &Arc<TopicFrame>) -> usize {
        let inboxes: Vec<Arc<Inbox>> = match self.lock().by_topic.get(&frame.topic) {
            Some(subscribers) => subscribers.values().cloned().collect(),
            None => return 0,
        };
        let taken = inboxes.iter().filter(|inbox| inbox.offer(frame)).count();
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        self.counters
            .delivered
            .fetch_add(taken as u64, Ordering::Relaxed);
        taken
    }

    /// Offers `frame` to one stream (a new subscriber's current value).
    pub fn offer_to(&self, inbox: &Inbox, frame: &Arc<TopicFrame>) {
        if inbox.offer(frame) {
            self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The inbox of stream `key`, if it is here.
    pub fn inbox(&self, key: &str) -> Option<Arc<Inbox>> {
        let topics = self.lock();
        let number = topics.by_key.get(key)?;
        topics.streams.get(number).map(|s| s.inbox.clone())
    }

    /// Every topic with a subscriber here.
    pub fn subscribed_topics(&self) -> Vec<String> {
        self.lock().by_topic.keys().map(|t| t.to_string()).collect()
    }

    /// Streams here and distinct topics they listen to.
    pub fn sizes(&self) -> (usize, usize) {
        let topics = self.lock();
        (topics.streams.len(), topics.by_topic.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(topic: &str, version: i64, likes: i64) -> Arc<TopicFrame> {
        TopicFrame::new(&TopicUpdate {
            topic: topic.into(),
            value: serde_json::json!({ "likes": likes }),
            version,
        })
    }

    fn topic(name: &str) -> TopicName {
        TopicName::parse(name).unwrap()
    }

    #[test]
    fn a_slow_stream_keeps_only_the_newest_value_per_topic() {
        let hub = TopicHub::new("n1");
        let stream = hub.open(7);
        hub.change(&stream.key, 7, &[topic("post:1"), topic("post:2")], &[], 10)
            .unwrap()
            .unwrap();
        for version in 1..=1000 {
            hub.publish(&update("post:1", version, version));
        }
        hub.publish(&update("post:2", 5, 5));
        // An older value arriving late (a store read racing a publish) is
        // dropped.
        hub.offer_to(&stream.inbox, &update("post:1", 3, 3));
        let text = String::from_utf8(stream.inbox.take().unwrap().to_vec()).unwrap();
        assert_eq!(
            text,
            "event: topic\ndata: {\"topic\":\"post:1\",\"value\":{\"likes\":1000},\"version\":1000}\n\n\
             event: topic\ndata: {\"topic\":\"post:2\",\"value\":{\"likes\":5},\"version\":5}\n\n"
        );
        assert!(stream.inbox.take().is_none());
        hub.publish(&update("post:1", 999, 999));
        assert!(stream.inbox.take().is_none());
    }

    #[test]
    fn streams_are_limited_owned_and_forgotten() {
        let hub = TopicHub::new("n1");
        let stream = hub.open(7);
        let other = hub.open(8);
        assert!(
            hub.change(&stream.key, 8, &[topic("post:1")], &[], 10)
                .is_none()
        );
        let many: Vec<TopicName> = (0..3).map(|i| topic(&format!("post:{i}"))).collect();
        assert!(matches!(
            hub.change(&stream.key, 7, &many, &[], 2),
            Some(Err(TooManyTopics))
        ));
        let changed = hub
            .change(&stream.key, 7, &many[..2], &[], 2)
            .unwrap()
            .unwrap();
        assert_eq!(changed.added.len(), 2);
        assert_eq!(changed.topics, vec!["post:0", "post:1"]);
        // Swapping one for another stays within the limit.
        let changed = hub
            .change(&stream.key, 7, &many[2..], &many[..1], 2)
            .unwrap()
            .unwrap();
        assert_eq!(changed.topics, vec!["post:1", "post:2"]);
        assert_eq!(hub.publish(&update("post:0", 1, 1)), 0);
        assert_eq!(hub.publish(&update("post:2", 1, 1)), 1);
        assert!(other.inbox.take().is_none());
        assert_eq!(hub.home(&stream.key), StreamHome::Here);
        assert_eq!(hub.home("n2.5.ab"), StreamHome::Elsewhere("n2"));
        drop(stream);
        assert_eq!(hub.sizes(), (1, 0));
    }
}
