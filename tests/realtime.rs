//! The real-time core against the real server: publish, live delivery,
//! exact replay, resets, slow consumers, durability across SIGKILL, polling,
//! and the notification state routes.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN, Api, EventStream, PASSWORD, TestServer, admin_client, admin_options};
use herald::model::event::{Event, Sequenced};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn publish(admin: &Api, to: Value, title: &str) -> Value {
    let answer = admin
        .post(
            "/api/notifications",
            &json!({"to": to, "category": "job", "priority": "high", "title": title, "body": "b"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    answer.json()
}

/// Live event-stream connections (waiting polls included), as the admin
/// status report counts them.
async fn live_connections(admin: &Api) -> u64 {
    let status: Value = admin.get("/api/status").await.json();
    status["connections"].as_u64().expect("connections")
}

/// Reads stored events (skipping ephemeral ones) until `count` arrived.
async fn read_stored(stream: &mut EventStream, count: usize) -> Vec<(i64, Event)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let frame = stream.next_event(WAIT).await.expect("stream ended early");
        if let Some(id) = &frame.id {
            let event: Event = serde_json::from_str(&frame.data).expect("event JSON");
            assert_eq!(
                frame.event.as_deref(),
                Some(event.name()),
                "event name and type differ"
            );
            out.push((id.parse().expect("numeric id"), event));
        }
    }
    out
}

fn title_of(event: &Event) -> &str {
    match event {
        Event::Notification { notification, .. }
        | Event::NotificationUpdated { notification, .. } => &notification.title,
        other => panic!("not a notification: {other:?}"),
    }
}

#[tokio::test]
async fn published_notifications_arrive_live_in_order() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let mut stream = EventStream::open(&alice, "/api/events", &[]).await;
    let ready = stream.next_event(WAIT).await.unwrap();
    assert_eq!(ready.json()["cursor"], 0);

    for n in 1..=5 {
        let answer = publish(&admin, json!(["alice"]), &format!("job {n}")).await;
        assert_eq!(answer["recipients"], 1);
    }
    let events = read_stored(&mut stream, 5).await;
    for (n, (seq, event)) in events.iter().enumerate() {
        assert_eq!(*seq, n as i64 + 1);
        let Event::Notification { notification, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(notification.title, format!("job {}", n + 1));
        assert_eq!(notification.actor.as_ref().unwrap().username, ADMIN);
        assert!(!notification.read);
    }
}

#[tokio::test]
async fn two_users_see_only_their_own_events() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let mut alice_stream = EventStream::open(&alice, "/api/events", &[]).await;
    let mut bob_stream = EventStream::open(&bob, "/api/events", &[]).await;

    const EACH: usize = 1000;
    let publisher = tokio::spawn({
        let admin = admin.clone();
        async move {
            for n in 0..EACH {
                publish(&admin, json!(["alice"]), &format!("alice {n}")).await;
                publish(&admin, json!(["bob"]), &format!("bob {n}")).await;
            }
        }
    });
    let (alice_events, bob_events) = tokio::join!(
        read_stored(&mut alice_stream, EACH),
        read_stored(&mut bob_stream, EACH)
    );
    publisher.await.unwrap();
    for (name, events) in [("alice", alice_events), ("bob", bob_events)] {
        let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs,
            (1..=EACH as i64).collect::<Vec<_>>(),
            "{name}: gap, duplicate or disorder"
        );
        for (n, (_, event)) in events.iter().enumerate() {
            assert_eq!(
                title_of(event),
                format!("{name} {n}"),
                "{name} saw a foreign event"
            );
        }
    }
}

#[tokio::test]
async fn resuming_twenty_times_under_load_loses_and_repeats_nothing() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;

    const TOTAL: i64 = 10_000;
    let publisher = tokio::spawn({
        let admin = admin.clone();
        async move {
            for n in 1..=TOTAL {
                publish(&admin, json!(["alice"]), &format!("n{n}")).await;
            }
        }
    });

    let mut received: Vec<i64> = Vec::new();
    let mut last: Option<i64> = None;
    for round in 0..=20 {
        let resume = last.map(|l| l.to_string());
        let headers: Vec<(&str, &str)> = match &resume {
            Some(id) => vec![("last-event-id", id.as_str())],
            None => vec![],
        };
        let mut stream = if round == 0 {
            EventStream::open(&alice, "/api/events?last_event_id=0", &[]).await
        } else {
            EventStream::open(&alice, "/api/events", &headers).await
        };
        let remaining = (TOTAL - received.len() as i64) as usize;
        // Read a slice of the stream, then drop the connection mid-flight.
        let take = if round == 20 {
            remaining
        } else {
            (remaining / 4).clamp(1, 700).min(remaining)
        };
        for (seq, event) in read_stored(&mut stream, take).await {
            assert_eq!(title_of(&event), format!("n{seq}"));
            received.push(seq);
            last = Some(seq);
        }
        if received.len() as i64 == TOTAL {
            break;
        }
    }
    publisher.await.unwrap();
    assert_eq!(received.len() as i64, TOTAL);
    assert_eq!(
        received,
        (1..=TOTAL).collect::<Vec<_>>(),
        "gap, duplicate or disorder across resumes"
    );
}

#[tokio::test]
async fn resume_points_outside_the_log_get_a_reset() {
    let server = TestServer::start_with(
        admin_options()
            .env("HERALD_EVENT_RETENTION_PER_USER", "5")
            .env("HERALD_EVENT_RETENTION_INTERVAL_SECS", "1"),
    );
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    for n in 0..12 {
        publish(&admin, json!(["alice"]), &format!("n{n}")).await;
    }
    // Past the end.
    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "999")]).await;
    let ready = stream.next_event(WAIT).await.unwrap().json();
    assert_eq!(
        (&ready["type"], &ready["cursor"]),
        (&json!("ready"), &json!(12))
    );
    let reset = stream.next_event(WAIT).await.unwrap();
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(reset.id, None);
    assert_eq!(reset.json(), json!({"type": "reset", "cursor": 12}));
    // Not a number.
    let mut stream = EventStream::open(&alice, "/api/events?last_event_id=abc", &[]).await;
    stream.next_event(WAIT).await.unwrap();
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("reset")
    );

    // Too old: wait for retention to keep only the newest 5.
    let mut pruned = false;
    for _ in 0..50 {
        let poll = alice.get("/api/events/poll?after=1").await.json::<Value>();
        if poll["reset"] == true {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pruned, "retention never pruned");
    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "3")]).await;
    stream.next_event(WAIT).await.unwrap();
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().json(),
        json!({"type": "reset", "cursor": 12})
    );
    // Within the window, replay still works.
    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "9")]).await;
    let replayed: Vec<i64> = read_stored(&mut stream, 3)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(replayed, vec![10, 11, 12]);
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_without_slowing_others_and_loses_nothing() {
    let server = TestServer::start_with(admin_options().env("HERALD_CONNECTION_QUEUE", "8"));
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;

    let mut stalled = EventStream::open(&alice, "/api/events?last_event_id=0", &[]).await;
    let mut bob_stream = EventStream::open(&bob, "/api/events", &[]).await;
    bob_stream.next_event(WAIT).await.unwrap();

    // Enough large events to fill the stalled client's socket buffers and queue.
    const BIG: usize = 3000;
    let body = "x".repeat(1900);
    for n in 1..=BIG {
        let answer = admin
            .post("/api/notifications", &json!({"to": ["alice"], "category": "job", "title": format!("n{n}"), "body": body}))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        if n % 500 == 0 {
            // Bob's events keep flowing while alice is stalled.
            publish(&admin, json!(["bob"]), &format!("bob {n}")).await;
            let (_, event) = read_stored(&mut bob_stream, 1).await.remove(0);
            assert_eq!(title_of(&event), format!("bob {n}"));
        }
    }
    // Alice reads what was buffered; the server has closed her stream.
    let mut seen: Vec<i64> = Vec::new();
    while let Some(frame) = stalled.next_frame(WAIT).await {
        if let Some(id) = frame.id {
            seen.push(id.parse().unwrap());
        }
    }
    assert!((seen.len()) < BIG, "the stalled stream was never dropped");
    // Resuming from the last event she has brings everything else.
    let last = seen.last().copied().unwrap_or(0);
    let mut resumed = EventStream::open(
        &alice,
        "/api/events",
        &[("last-event-id", &last.to_string())],
    )
    .await;
    for (seq, _) in read_stored(&mut resumed, BIG - seen.len()).await {
        seen.push(seq);
    }
    assert_eq!(seen, (1..=BIG as i64).collect::<Vec<_>>());
}

/// kill -9 while sixteen publishers keep publishing: every publish that
/// was acknowledged is in the log after the restart, and the log has no
/// gap. (Publishes cut off by the kill may or may not be there: they were
/// never acknowledged.)
#[tokio::test]
async fn acknowledged_publishes_survive_sigkill_mid_stream() {
    let mut server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    server.client().register("alice").await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let publishers: Vec<_> = (0..16)
        .map(|p| {
            let (admin, acknowledged) = (admin.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let title = format!("p{p}-{n}");
                    let sent = admin
                        .http
                        .post(format!("{}/api/notifications", admin.base_url))
                        .json(&json!({"to": ["alice"], "category": "job", "title": title}))
                        .send()
                        .await;
                    match sent {
                        Ok(answer) if answer.status() == StatusCode::ACCEPTED => {
                            acknowledged.lock().unwrap().push(title);
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let server = server.restart();
    let alice = server.client();
    assert_eq!(alice.login("alice", PASSWORD).await.status, StatusCode::OK);
    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "0")]).await;
    let mut missing: HashSet<String> = acknowledged.iter().cloned().collect();
    let mut expected_seq = 1;
    while !missing.is_empty() {
        let (seq, event) = read_stored(&mut stream, 1).await.remove(0);
        assert_eq!(seq, expected_seq, "the log has a gap");
        expected_seq += 1;
        missing.remove(title_of(&event));
    }
    assert!(acknowledged.len() >= 300);
}

#[tokio::test]
async fn polling_returns_exactly_what_the_stream_returns() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    for n in 1..=7 {
        publish(&admin, json!(["alice"]), &format!("n{n}")).await;
    }
    let listed = alice.get("/api/notifications").await.json::<Value>();
    let first_id = listed["notifications"][6]["id"].as_i64().unwrap();
    assert_eq!(
        alice
            .post(&format!("/api/notifications/{first_id}/read"), &json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let polled = alice.get("/api/events/poll?after=2").await;
    assert_eq!(polled.status, StatusCode::OK, "{}", polled.body);
    let polled: Value = polled.json();
    assert_eq!(polled["cursor"], 8);
    assert_eq!(polled["reset"], false);
    let polled: Vec<Sequenced> = serde_json::from_str(&polled["events"].to_string()).unwrap();

    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "2")]).await;
    let streamed = read_stored(&mut stream, 6).await;
    assert_eq!(polled.len(), 6);
    for (p, (seq, event)) in polled.iter().zip(&streamed) {
        assert_eq!(p.id, *seq);
        assert_eq!(&p.event, event);
    }
    assert!(
        matches!(streamed[5].1, Event::NotificationsRead { ref ids, .. } if ids == &vec![first_id])
    );

    // Long-poll: waits for the next event instead of answering empty at once.
    let live_before = live_connections(&admin).await;
    let waiter = tokio::spawn({
        let alice = alice.clone();
        async move {
            alice
                .get("/api/events/poll?after=8&wait=20")
                .await
                .json::<Value>()
        }
    });
    // A waiting poll holds a place in the hub: publish once it does.
    while live_connections(&admin).await == live_before {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!waiter.is_finished(), "the poll answered without waiting");
    publish(&admin, json!(["alice"]), "late").await;
    let answer = waiter.await.unwrap();
    assert_eq!(answer["events"][0]["id"], 9);
    assert_eq!(answer["events"][0]["notification"]["title"], "late");
    let bad = alice.get("/api/events/poll?after=0&wait=31").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn state_changes_emit_events_and_stay_private() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let published = publish(&admin, json!(["alice", "bob"]), "hello").await;
    assert_eq!(published["recipients"], 2);
    let ids: Vec<i64> = published["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let alice_list = alice.get("/api/notifications").await.json::<Value>();
    assert_eq!(alice_list["unread_count"], 1);
    let alice_id = alice_list["notifications"][0]["id"].as_i64().unwrap();
    let bob_id = *ids.iter().find(|id| **id != alice_id).unwrap();

    // Bob's notification does not exist as far as alice can tell.
    for (method, path) in [
        (Method::POST, format!("/api/notifications/{bob_id}/read")),
        (Method::DELETE, format!("/api/notifications/{bob_id}")),
        (Method::POST, "/api/notifications/99999/read".to_owned()),
    ] {
        let answer = alice
            .send(alice.request(method.clone(), &path).json(&json!({})))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(
        bob.get("/api/notifications").await.json::<Value>()["unread_count"],
        1
    );

    let mut stream = EventStream::open(&alice, "/api/events", &[("last-event-id", "1")]).await;
    assert_eq!(
        alice
            .post(&format!("/api/notifications/{alice_id}/read"), &json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    publish(&admin, json!(["alice"]), "second").await;
    let answer = alice
        .send(alice.request(Method::POST, "/api/notifications/read-all"))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert_eq!(
        alice
            .delete(&format!("/api/notifications/{alice_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let events: Vec<Value> = read_stored(&mut stream, 4)
        .await
        .into_iter()
        .map(|(_, e)| serde_json::to_value(e).unwrap())
        .collect();
    // Each event carries the unread count after it, so a client that
    // applies events in order shows the right badge without asking.
    assert_eq!(
        events[0],
        json!({"type": "notifications_read", "ids": [alice_id], "unread_count": 0})
    );
    assert_eq!(events[1]["type"], "notification");
    assert_eq!(events[1]["unread_count"], 1);
    assert_eq!(events[2]["type"], "notifications_read_all");
    assert_eq!(events[2]["unread_count"], 0);
    assert_eq!(
        events[3],
        json!({"type": "notifications_deleted", "ids": [alice_id], "unread_count": 0})
    );
    let list = alice.get("/api/notifications").await.json::<Value>();
    assert_eq!(list["unread_count"], 0);
    assert_eq!(list["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(list["cursor"], 5);
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    for (n, category) in ["job", "payment", "job", "social", "job"]
        .iter()
        .enumerate()
    {
        let answer = admin
            .post(
                "/api/notifications",
                &json!({"to": ["alice"], "category": category, "title": format!("t{n}")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }
    let page = alice
        .get("/api/notifications?limit=2")
        .await
        .json::<Value>();
    let titles: Vec<&str> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["t4", "t3"]);
    let before = page["next_before"].as_i64().unwrap();
    let next = alice
        .get(&format!("/api/notifications?limit=2&before={before}"))
        .await
        .json::<Value>();
    assert_eq!(next["notifications"][0]["title"], "t2");
    let jobs = alice
        .get("/api/notifications?category=job")
        .await
        .json::<Value>();
    assert_eq!(jobs["notifications"].as_array().unwrap().len(), 3);
    assert_eq!(jobs["next_before"], Value::Null);
    for bad in [
        "?status=maybe",
        "?category=spam",
        "?limit=0",
        "?limit=101",
        "?before=x",
        "?priority=meh",
    ] {
        let answer = alice.get(&format!("/api/notifications{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        server.client().get("/api/notifications").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn publishing_validates_everything_before_sending_anything() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let cases = [
        (
            json!({"to": ["alice", "ghost", "nobody"], "category": "job", "title": "t"}),
            "to",
        ),
        (
            json!({"to": "everyone", "category": "job", "title": "t"}),
            "to",
        ),
        (
            json!({"to": ["alice"], "category": "job", "title": ""}),
            "title",
        ),
        (
            json!({"to": ["alice"], "category": "job", "title": "x".repeat(201)}),
            "title",
        ),
        (
            json!({"to": ["alice"], "category": "job", "title": "t", "body": "x".repeat(2001)}),
            "body",
        ),
        (
            json!({"to": ["alice"], "category": "job", "title": "t", "url": "javascript:alert(1)"}),
            "url",
        ),
        (
            json!({"to": ["alice"], "category": "job", "title": "t", "data": [1]}),
            "data",
        ),
    ];
    for (body, field) in cases {
        let answer = admin.post("/api/notifications", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json::<Value>()["error"]["field"], field, "{body}");
    }
    let unknown = admin
        .post(
            "/api/notifications",
            &json!({"to": ["alice", "ghost"], "category": "job", "title": "t"}),
        )
        .await;
    assert!(
        unknown.json::<Value>()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );
    let bad_category = admin
        .post(
            "/api/notifications",
            &json!({"to": ["alice"], "category": "spam", "title": "t"}),
        )
        .await;
    assert_eq!(bad_category.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        alice.get("/api/notifications").await.json::<Value>()["notifications"],
        json!([]),
        "something was sent"
    );
    // Users may not publish; anonymous callers are not signed in.
    let as_user = alice
        .post(
            "/api/notifications",
            &json!({"to": ["alice"], "category": "job", "title": "t"}),
        )
        .await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
    let anonymous = server
        .client()
        .post(
            "/api/notifications",
            &json!({"to": ["alice"], "category": "job", "title": "t"}),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_replace_idempotency_keys_dedupe_and_tokens_publish_to_everyone() {
    let server = TestServer::start_with(admin_options().env("HERALD_PUBLISH_RATE_PER_MINUTE", "5"));
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let token: Value = admin
        .post("/api/tokens", &json!({"name": "ci"}))
        .await
        .json();
    let integration = server
        .client()
        .with_bearer(token["token"].as_str().unwrap());

    // "all" reaches every enabled account (root, alice, bob).
    let everyone = integration
        .post(
            "/api/notifications",
            &json!({"to": "all", "category": "system", "title": "maintenance"}),
        )
        .await;
    assert_eq!(everyone.status, StatusCode::ACCEPTED, "{}", everyone.body);
    assert_eq!(everyone.json::<Value>()["recipients"], 3);

    // A key the recipient already has replaces that notification.
    let first = integration.post("/api/notifications", &json!({"to": ["alice"], "category": "job", "title": "build 1 running", "key": "build-1"})).await;
    let second = integration.post("/api/notifications", &json!({"to": ["alice"], "category": "job", "title": "build 1 passed", "key": "build-1"})).await;
    assert_eq!(first.json::<Value>()["ids"], second.json::<Value>()["ids"]);
    let list = alice.get("/api/notifications").await.json::<Value>();
    assert_eq!(list["notifications"].as_array().unwrap().len(), 2);
    assert_eq!(list["notifications"][0]["title"], "build 1 passed");
    let poll = alice.get("/api/events/poll?after=2").await.json::<Value>();
    assert_eq!(poll["events"][0]["type"], "notification_updated");

    // A retried request with the same Idempotency-Key sends once.
    let send = |key: &'static str| {
        let integration = integration.clone();
        async move {
            integration
                .send(
                    integration
                        .request(Method::POST, "/api/notifications")
                        .header("idempotency-key", key)
                        .json(&json!({"to": ["bob"], "category": "payment", "title": "paid"})),
                )
                .await
        }
    };
    let once = send("pay-42").await;
    let again = send("pay-42").await;
    assert_eq!(once.status, StatusCode::ACCEPTED);
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(once.body, again.body);
    let bobs = bob
        .get("/api/notifications?category=payment")
        .await
        .json::<Value>();
    assert_eq!(bobs["notifications"].as_array().unwrap().len(), 1);

    // 5 publishes per minute for this token: the next is refused with a wait.
    let limited = integration
        .post(
            "/api/notifications",
            &json!({"to": ["bob"], "category": "job", "title": "t"}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn connections_per_user_are_capped() {
    let server =
        TestServer::start_with(admin_options().env("HERALD_MAX_CONNECTIONS_PER_USER", "2"));
    let alice = server.client();
    alice.register("alice").await;
    let _one = EventStream::open(&alice, "/api/events", &[]).await;
    let _two = EventStream::open(&alice, "/api/events", &[]).await;
    let three = EventStream::open(&alice, "/api/events", &[]).await;
    assert_eq!(three.status, StatusCode::TOO_MANY_REQUESTS);
    drop(_one);
    // The slot is free once the server has seen the socket close.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let again = EventStream::open(&alice, "/api/events", &[]).await;
        if again.status == StatusCode::OK {
            break;
        }
        assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn preferences_round_trip() {
    let server = TestServer::start();
    let alice = server.client();
    alice.register("alice").await;
    let defaults = alice.get("/api/preferences").await.json::<Value>();
    assert_eq!(
        defaults,
        json!({"muted_categories": [], "sound": false, "browser_notifications": false, "hide_presence": false, "push": true})
    );
    let saved = alice
        .put("/api/preferences", &json!({"muted_categories": ["social", "job", "social"], "sound": true, "browser_notifications": true}))
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let stored = alice.get("/api/preferences").await.json::<Value>();
    assert_eq!(stored["muted_categories"], json!(["job", "social"]));
    // A client that does not know about push leaves it on.
    assert_eq!(stored["push"], true);
    let bad = alice
        .put(
            "/api/preferences",
            &json!({"muted_categories": ["spam"], "sound": true, "browser_notifications": false}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_ui_server_functions_check_access_like_the_routes() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let draft = json!({"draft": {
        "to": {"users": ["alice"]}, "category": "system", "priority": "urgent",
        "title": "from the form", "body": "", "url": null
    }});

    let refused = alice.post("/fn/notifications/send", &draft).await;
    assert!(!refused.status.is_success(), "{}", refused.body);
    assert_eq!(refused.json::<Value>()["code"], "forbidden");
    let anonymous = server
        .client()
        .post("/fn/notifications/list", &json!({"query": {}}))
        .await;
    assert_eq!(
        anonymous.json::<Value>()["code"],
        "unauthorized",
        "{}",
        anonymous.body
    );

    let sent = admin.post("/fn/notifications/send", &draft).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.json::<Value>(), json!({"Ok": 1}));
    // A refusal comes back as a value naming the field.
    let bad = json!({"draft": {
        "to": {"users": ["nobody_here"]}, "category": "system", "priority": "low",
        "title": "x", "body": "", "url": null
    }});
    let refusal = admin
        .post("/fn/notifications/send", &bad)
        .await
        .json::<Value>();
    assert_eq!(refusal["Err"]["field"], "to", "{refusal}");

    assert_eq!(
        alice
            .post("/fn/notifications/test", &json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let page = alice
        .post(
            "/fn/notifications/list",
            &json!({"query": {"unread_only": true}}),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page: Value = page.json();
    let titles: Vec<&str> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Test notification", "from the form"]);
    assert_eq!(page["unread_count"], 2);
    assert_eq!(page["cursor"], 2);
}

#[tokio::test]
async fn tokens_carry_their_own_publish_limit_and_sessions_a_low_one() {
    let server =
        TestServer::start_with(admin_options().env("HERALD_SESSION_PUBLISH_RATE_PER_MINUTE", "1"));
    let admin = admin_client(&server).await;
    server.client().register("dana").await;
    let created = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/api/tokens", &body).await }
    };
    let slow = created(json!({"name": "slow", "publish_rate_per_minute": 2})).await;
    assert_eq!(slow.status, StatusCode::CREATED, "{}", slow.body);
    let slow: Value = slow.json();
    assert_eq!(slow["publish_rate_per_minute"], 2);
    let usual: Value = created(json!({"name": "usual"})).await.json();
    assert_eq!(usual["publish_rate_per_minute"], Value::Null);
    for bad in [json!(0), json!(20_000_000), json!("fast")] {
        let refused = created(json!({"name": "bad", "publish_rate_per_minute": bad})).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
    }
    let listed = admin.get("/api/tokens").await.json::<Value>();
    let limits: Vec<Value> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["publish_rate_per_minute"].clone())
        .collect();
    assert!(
        limits.contains(&json!(2)) && limits.contains(&Value::Null),
        "{listed}"
    );

    let publish = |client: Api| async move {
        client
            .post(
                "/api/notifications",
                &json!({"to": ["dana"], "category": "job", "title": "t"}),
            )
            .await
    };
    let slow_client = server.client().with_bearer(slow["token"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(
            publish(slow_client.clone()).await.status,
            StatusCode::ACCEPTED
        );
    }
    let limited = publish(slow_client.clone()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));

    // The server's default for tokens is sized for servers: far above 2.
    let usual_client = server
        .client()
        .with_bearer(usual["token"].as_str().unwrap());
    for _ in 0..20 {
        assert_eq!(
            publish(usual_client.clone()).await.status,
            StatusCode::ACCEPTED
        );
    }

    // An admin's session keeps its own, low limit (1 here).
    assert_eq!(publish(admin.clone()).await.status, StatusCode::ACCEPTED);
    assert_eq!(
        publish(admin.clone()).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn batches_publish_many_notifications_in_one_request_item_by_item() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let erin = server.client();
    erin.register("erin").await;
    let finn = server.client();
    finn.register("finn").await;
    let token: Value = admin
        .post("/api/tokens", &json!({"name": "bulk"}))
        .await
        .json();
    let bulk = server
        .client()
        .with_bearer(token["token"].as_str().unwrap());

    let item = |to: Value, title: &str| json!({"to": to, "category": "social", "title": title});
    let answer = bulk
        .post(
            "/api/notifications/batch",
            &json!({"notifications": [
                item(json!(["erin"]), "liked your post"),
                item(json!(["erin", "finn"]), "commented"),
                item(json!(["ghost"]), "nobody"),
                item(json!(["finn"]), ""),
                item(json!("all"), "everyone"),
                {"to": ["finn"], "title": "no category"},
            ]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let answer: Value = answer.json();
    let statuses: Vec<i64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![202, 202, 400, 400, 400, 400], "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["refused"], 4);
    assert_eq!(answer["results"][1]["recipients"], 2);
    assert_eq!(answer["results"][2]["error"]["field"], "to");
    assert!(
        answer["results"][2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost"),
        "{answer}"
    );
    assert_eq!(answer["results"][3]["error"]["field"], "title");

    // Written once each, with the user's next sequence numbers.
    let erins = erin.get("/api/events/poll?after=0").await.json::<Value>();
    let titles: Vec<&str> = erins["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["notification"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["liked your post", "commented"]);
    assert_eq!(erins["cursor"], 2);
    let finns = finn.get("/api/notifications").await.json::<Value>();
    assert_eq!(finns["unread_count"], 1);

    // The request as a whole must hold 1 to 1,000 notifications.
    for count in [0, 1001] {
        let items: Vec<Value> = (0..count).map(|_| item(json!(["erin"]), "x")).collect();
        let refused = bulk
            .post("/api/notifications/batch", &json!({"notifications": items}))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{count}");
        assert_eq!(refused.json::<Value>()["error"]["field"], "notifications");
    }

    // A retry with the same Idempotency-Key answers the first result and
    // writes nothing more.
    let send = || {
        let bulk = bulk.clone();
        async move {
            bulk.send(
                bulk.request(Method::POST, "/api/notifications/batch")
                    .header("idempotency-key", "likes-7")
                    .json(&json!({"notifications": [item(json!(["finn"]), "liked again")]})),
            )
            .await
        }
    };
    let once = send().await;
    let again = send().await;
    assert_eq!(once.status, StatusCode::ACCEPTED);
    assert_eq!(once.body, again.body);
    let finns = finn.get("/api/notifications").await.json::<Value>();
    assert_eq!(finns["unread_count"], 2);

    // Every notification counts against the token's limit; a batch past
    // it writes nothing.
    let small: Value = admin
        .post(
            "/api/tokens",
            &json!({"name": "small", "publish_rate_per_minute": 3}),
        )
        .await
        .json();
    let small = server
        .client()
        .with_bearer(small["token"].as_str().unwrap());
    let four: Vec<Value> = (0..4).map(|_| item(json!(["finn"]), "x")).collect();
    let limited = small
        .post("/api/notifications/batch", &json!({"notifications": four}))
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    let finns = finn.get("/api/notifications").await.json::<Value>();
    assert_eq!(finns["unread_count"], 2);
}
