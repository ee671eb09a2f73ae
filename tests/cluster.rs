//! Several instances on one PostgreSQL database, as behind a load balancer
//! without sticky sessions: what is published through one instance reaches
//! clients on the others, live and in order; clients that reconnect to
//! another instance resume exactly; a lost listener connection loses
//! nothing; a session ended on one instance ends its streams on all.
//! These run with `HERALD_TEST_DATABASE=postgres` (scripts/test does).

mod common;

use std::time::Duration;

use common::{Api, EventStream, ServerOptions, TestServer, admin_client, admin_options, postgres};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// Two instances of one cluster, or `None` when the tests run on SQLite.
fn two_instances() -> Option<(TestServer, TestServer)> {
    two_instances_with(admin_options)
}

/// Two instances with the same settings, or `None` on SQLite.
fn two_instances_with(options: fn() -> ServerOptions) -> Option<(TestServer, TestServer)> {
    if !postgres::selected() {
        eprintln!("skipped: several instances need HERALD_TEST_DATABASE=postgres");
        return None;
    }
    let a = TestServer::start_with(options());
    let b = TestServer::start_beside(&a, options());
    Some((a, b))
}

/// The same signed-in user on another instance: the session lives in the
/// shared database, so its cookie works everywhere.
fn same_user_on(api: &Api, server: &TestServer) -> Api {
    api.on(server)
}

async fn publish_batch(admin: &Api, to: &str, from: usize, count: usize) {
    let notifications: Vec<Value> = (from..from + count)
        .map(|n| json!({"to": [to], "category": "job", "title": format!("n{n}"), "body": "b"}))
        .collect();
    post_batch(admin, notifications).await;
}

/// Publishes `notifications` in one batch, all of which must be accepted.
async fn post_batch(admin: &Api, notifications: Vec<Value>) {
    let answer = admin
        .post(
            "/api/notifications/batch",
            &json!({"notifications": notifications}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
}

/// Stored events' (seq, title), skipping ephemeral ones, until `count`.
async fn read_titles(stream: &mut EventStream, count: usize) -> Vec<(i64, String)> {
    let out = read_up_to(stream, count).await;
    assert_eq!(out.len(), count, "stream ended early");
    out
}

/// Like [`read_titles`], but a stream that ends (the hub drops a client
/// that reads slower than a burst arrives) ends the reading early.
async fn read_up_to(stream: &mut EventStream, count: usize) -> Vec<(i64, String)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some(frame) = stream.next_event(WAIT).await else {
            break;
        };
        if let Some(id) = &frame.id {
            let data = frame.json();
            let title = data["notification"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            out.push((id.parse().expect("numeric id"), title));
        }
    }
    out
}

#[tokio::test]
async fn a_client_on_one_instance_receives_what_another_publishes_live_and_in_order() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let alice = a.client();
    alice.register("alice").await;
    let mut stream = EventStream::open(&alice, "/api/events", &[]).await;
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().json()["type"],
        "ready"
    );

    let admin_b = admin_client(&b).await;
    for n in 1..=5 {
        let answer = admin_b
            .post(
                "/api/notifications",
                &json!({"to": ["alice"], "category": "job", "title": format!("n{n}"), "body": "b"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    publish_batch(&admin_b, "alice", 6, 45).await;
    let got = read_titles(&mut stream, 50).await;
    let expected: Vec<(i64, String)> = (1..=50).map(|n| (n, format!("n{n}"))).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn reconnects_alternating_between_instances_lose_and_repeat_nothing() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let admin_a = admin_client(&a).await;
    let admin_b = admin_client(&b).await;
    let on_a = a.client();
    on_a.register("alice").await;
    let on_b = same_user_on(&on_a, &b);

    const TOTAL: usize = 10_000;
    // Publishes go through both instances, 500 at a time.
    let publisher = tokio::spawn(async move {
        let mut n = 1;
        while n <= TOTAL {
            let admin = if (n / 500) % 2 == 0 {
                &admin_a
            } else {
                &admin_b
            };
            publish_batch(admin, "alice", n, 500).await;
            n += 500;
        }
    });

    let mut received: Vec<i64> = Vec::new();
    let mut round = 0;
    while received.len() < TOTAL {
        round += 1;
        assert!(round < 200, "no progress");
        let client = if round % 2 == 0 { &on_a } else { &on_b };
        let last = received.last().map_or("0".to_owned(), i64::to_string);
        let mut stream =
            EventStream::open(client, "/api/events", &[("last-event-id", last.as_str())]).await;
        assert_eq!(stream.status, StatusCode::OK);
        let remaining = TOTAL - received.len();
        // At least 20 reconnects mid-flight, then read to the end.
        let take = if round > 20 {
            remaining
        } else {
            (remaining / 4).clamp(1, 700)
        };
        for (seq, title) in read_up_to(&mut stream, take).await {
            assert_eq!(title, format!("n{seq}"), "the event numbered {seq}");
            received.push(seq);
        }
    }
    assert!(round > 20, "{round} connections");
    publisher.await.unwrap();
    assert_eq!(
        received,
        (1..=TOTAL as i64).collect::<Vec<_>>(),
        "gap, duplicate or disorder across instances"
    );
}

#[tokio::test]
async fn a_killed_listener_connection_loses_nothing() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let alice = a.client();
    alice.register("alice").await;
    let mut stream = EventStream::open(&alice, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");
    let admin_b = admin_client(&b).await;
    publish_batch(&admin_b, "alice", 1, 10).await;
    assert_eq!(read_titles(&mut stream, 10).await.len(), 10);

    // Every instance's listener loses its connection; publishing goes on.
    let killed = postgres::psql(
        a.database_url().unwrap(),
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
    );
    assert!(
        killed.parse::<u32>().unwrap() >= 2,
        "listeners killed: {killed}"
    );
    publish_batch(&admin_b, "alice", 11, 40).await;
    let got = read_titles(&mut stream, 40).await;
    let expected: Vec<(i64, String)> = (11..=50).map(|n| (n, format!("n{n}"))).collect();
    assert_eq!(got, expected, "nothing lost while the listener reconnected");
    assert!(
        a.logs().contains("listener lost its connection") || a.logs().contains("listener failed"),
        "the instance noticed"
    );
}

#[tokio::test]
async fn acknowledged_publishes_survive_an_instance_killed_mid_burst() {
    let Some((mut a, b)) = two_instances() else {
        return;
    };
    let admin_a = admin_client(&a).await;
    let on_a = a.client();
    on_a.register("alice").await;
    let on_b = same_user_on(&on_a, &b);
    let mut stream = EventStream::open(&on_a, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");

    // Publishes through A, one at a time, each acknowledged or not.
    let burst = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 1..=2_000 {
            let sent = admin_a
                .http
                .post(format!("{}/api/notifications", admin_a.base_url))
                .json(&json!({"to": ["alice"], "category": "job", "title": format!("n{n}"), "body": "b"}))
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status() == StatusCode::ACCEPTED => acknowledged.push(n),
                _ => break,
            }
        }
        acknowledged
    });
    let before = read_titles(&mut stream, 50).await;
    a.kill();
    let acknowledged = burst.await.unwrap();
    assert!(
        acknowledged.len() >= 49 && acknowledged.len() < 2_000,
        "{}",
        acknowledged.len()
    );

    // The client reconnects to B from what it had.
    let last = before.last().unwrap().0.to_string();
    let mut stream =
        EventStream::open(&on_b, "/api/events", &[("last-event-id", last.as_str())]).await;
    let ready = stream.next_event(WAIT).await.unwrap().json();
    assert_eq!(ready["type"], "ready");
    let cursor = ready["cursor"].as_i64().unwrap();
    assert!(
        cursor >= acknowledged.len() as i64,
        "{cursor} < {}",
        acknowledged.len()
    );
    let rest = read_titles(&mut stream, (cursor - 50) as usize).await;
    let all: Vec<(i64, String)> = before.into_iter().chain(rest).collect();
    let expected: Vec<(i64, String)> = (1..=cursor).map(|n| (n, format!("n{n}"))).collect();
    assert_eq!(
        all, expected,
        "every acknowledged publish, exactly once, in order"
    );
}

#[tokio::test]
async fn signing_out_on_one_instance_ends_the_streams_on_another() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let on_a = a.client();
    on_a.register("alice").await;
    let on_b = same_user_on(&on_a, &b);
    let mut stream = EventStream::open(&on_a, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");

    assert_eq!(
        on_b.post("/api/auth/logout", &json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        stream.ends_within(Duration::from_secs(1)).await,
        "the stream on A outlived its session ended on B"
    );
}

#[tokio::test]
async fn typing_crosses_instances() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let alice = a.client();
    alice.register("alice").await;
    let bob_on_b = b.client();
    bob_on_b.register("bob").await;
    let created = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json::<Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();

    let mut bobs = EventStream::open(&bob_on_b, "/api/events", &[]).await;
    bobs.next_event(WAIT).await.expect("ready");
    let typing = alice
        .post(
            &format!("/api/conversations/{id}/typing"),
            &json!({"is_typing": true}),
        )
        .await;
    assert_eq!(typing.status, StatusCode::NO_CONTENT, "{}", typing.body);
    loop {
        let frame = bobs.next_event(WAIT).await.expect("an event");
        if frame.event.as_deref() == Some("typing") {
            assert_eq!(frame.json()["conversation_id"], id);
            break;
        }
    }
}

/// The next event named `name`, skipping others.
async fn next_named(stream: &mut EventStream, name: &str) -> Value {
    loop {
        let frame = stream.next_event(WAIT).await.expect("an event");
        if frame.event.as_deref() == Some(name) {
            return frame.json();
        }
    }
}

#[tokio::test]
async fn presence_is_cluster_wide_offline_only_when_the_last_instance_lets_go() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let bob_on_a = a.client();
    bob_on_a.register("bob").await;
    let bob_on_b = bob_on_a.on(&b);
    let alice = a.client();
    alice.register("alice").await;
    let created = bob_on_a
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "alice"}),
        )
        .await;
    let id = created.json::<Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    // Presence shows where the person has written.
    let sent = bob_on_a
        .post(
            &format!("/api/conversations/{id}/messages"),
            &json!({"body": "hi"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let bob_id = created.json::<Value>()["conversation"]["created_by"].clone();

    let mut watcher = EventStream::open(&alice, "/api/events", &[]).await;
    watcher.next_event(WAIT).await.expect("ready");
    let mut on_a = EventStream::open(&bob_on_a, "/api/events", &[]).await;
    let mut on_b = EventStream::open(&bob_on_b, "/api/events", &[]).await;
    on_a.next_event(WAIT).await.expect("ready");
    on_b.next_event(WAIT).await.expect("ready");
    assert_eq!(
        next_named(&mut watcher, "presence").await,
        json!({"type": "presence", "user_id": bob_id, "online": true})
    );
    // Alice's list, read through B, says Bob is online (his streams are
    // on both; it would say so with only A's).
    let listed: Value = alice.on(&b).get("/api/conversations").await.json();
    let bob_presence = listed["conversations"][0]["presence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == bob_id)
        .cloned()
        .unwrap();
    assert_eq!(bob_presence["online"], true);

    // Bob's stream on A ends: he is still online through B. Past the grace
    // period, Alice has not heard that he left (each instance may have
    // said he arrived).
    drop(on_a);
    let quiet_until = tokio::time::Instant::now() + Duration::from_secs(6);
    while let Ok(frame) = tokio::time::timeout_at(quiet_until, watcher.next_event(WAIT)).await {
        let frame = frame.expect("the watcher's stream stays open");
        if frame.event.as_deref() == Some("presence") {
            assert_eq!(frame.json()["online"], true, "{frame:?}");
        }
    }
    // His last stream, on B, ends: now he is offline, once.
    drop(on_b);
    assert_eq!(
        next_named(&mut watcher, "presence").await,
        json!({"type": "presence", "user_id": bob_id, "online": false})
    );
}

#[tokio::test]
async fn looking_at_a_conversation_through_one_instance_silences_messages_sent_through_another() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let bob = a.client();
    bob.register("bob").await;
    let alice_on_b = b.client();
    alice_on_b.register("alice").await;
    let created = alice_on_b
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    let id = created.json::<Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let mut bobs = EventStream::open(&bob, "/api/events", &[]).await;
    bobs.next_event(WAIT).await.expect("ready");

    // Bob looks at the conversation through A; Alice writes through B.
    let viewing = format!("/api/conversations/{id}/viewing");
    assert_eq!(
        bob.post(&viewing, &json!({"viewing": true})).await.status,
        StatusCode::NO_CONTENT
    );
    // The registry crosses instances by notification: give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = format!("/api/conversations/{id}/messages");
    let sent = alice_on_b
        .post(&messages, &json!({"body": "you are here"}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(
        next_named(&mut bobs, "message").await["message"]["body"],
        "you are here"
    );

    // He looks away: the next message notifies him.
    bob.post(&viewing, &json!({"viewing": false})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice_on_b
        .post(&messages, &json!({"body": "where did you go"}))
        .await;
    loop {
        let frame = bobs.next_event(WAIT).await.expect("an event");
        if let Some(name @ ("notification" | "notification_updated")) = frame.event.as_deref() {
            let body = frame.json();
            // A new notification, not an update of one the first message
            // raised: that one raised none.
            assert_eq!(name, "notification", "{body}");
            assert_eq!(body["notification"]["body"], "where did you go", "{body}");
            assert_eq!(body["unread_count"], 1, "{body}");
            break;
        }
    }
}

#[tokio::test]
async fn the_status_report_lists_every_live_instance() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let admin_a = admin_client(&a).await;
    let admin_b = admin_client(&b).await;
    let id_a = admin_a.get("/api/status").await.json::<Value>()["instance_id"].clone();
    let id_b = admin_b.get("/api/status").await.json::<Value>()["instance_id"].clone();
    assert_ne!(id_a, id_b);
    // Instances renew their rows every 2 s.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status: Value = admin_a.get("/api/status").await.json();
        assert_eq!(status["database"]["kind"], "PostgreSQL");
        let listed: Vec<Value> = status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instance_id"].clone())
            .collect();
        if listed.contains(&id_a) && listed.contains(&id_b) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn rate_limits_count_what_every_instance_allowed() {
    let Some((a, b)) = two_instances_with(|| {
        admin_options()
            .env("HERALD_SEND_RATE_PER_MINUTE", "3")
            .env("HERALD_SESSION_PUBLISH_RATE_PER_MINUTE", "4")
    }) else {
        return;
    };
    let alice_a = a.client();
    alice_a.register("alice").await;
    let bob = b.client();
    bob.register("bob").await;
    let alice_b = same_user_on(&alice_a, &b);
    let conversation: Value = alice_a
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await
        .json();
    let messages = format!(
        "/api/conversations/{}/messages",
        conversation["conversation"]["id"]
    );
    let mut statuses = Vec::new();
    for (n, api) in [&alice_a, &alice_b, &alice_a, &alice_b, &alice_a]
        .into_iter()
        .enumerate()
    {
        let answer = api.post(&messages, &json!({"body": format!("m{n}")})).await;
        statuses.push(answer.status);
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
        }
    }
    let created = [StatusCode::CREATED; 3];
    assert_eq!(statuses[..3], created, "three a minute, wherever sent");
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2]);

    // An admin's publishes are one allowance across instances too.
    let admin_a = admin_client(&a).await;
    let admin_b = same_user_on(&admin_a, &b);
    let mut accepted = 0;
    for n in 0..8 {
        let admin = if n % 2 == 0 { &admin_a } else { &admin_b };
        let answer = admin
            .post(
                "/api/notifications",
                &json!({"to": ["bob"], "category": "job", "title": format!("n{n}"), "body": "b"}),
            )
            .await;
        if answer.status == StatusCode::ACCEPTED {
            accepted += 1;
        } else {
            assert_eq!(
                answer.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                answer.body
            );
        }
    }
    assert_eq!(accepted, 4, "four a minute, wherever published");
}

#[tokio::test]
async fn the_per_user_stream_cap_counts_streams_on_every_instance() {
    let Some((a, b)) =
        two_instances_with(|| admin_options().env("HERALD_MAX_CONNECTIONS_PER_USER", "2"))
    else {
        return;
    };
    let on_a = a.client();
    on_a.register("alice").await;
    let on_b = same_user_on(&on_a, &b);
    let first = EventStream::open(&on_a, "/api/events", &[]).await;
    let second = EventStream::open(&on_a, "/api/events", &[]).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    // A's count reaches the database with its heartbeat (every 5 s).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let third = EventStream::open(&on_b, "/api/events", &[]).await;
        if third.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(third.status, StatusCode::OK);
        drop(third);
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never counted A's streams"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A stream ended on A frees a slot on B.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let third = EventStream::open(&on_b, "/api/events", &[]).await;
        if third.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never freed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn writes_that_cross_between_instances_all_land_even_when_they_deadlock() {
    let Some((a, b)) = two_instances() else {
        return;
    };
    let admin_a = admin_client(&a).await;
    let admin_b = admin_client(&b).await;
    let users: Vec<(&str, Api)> = ["alice", "bob"]
        .into_iter()
        .map(|name| (name, a.client()))
        .collect();
    for (name, user) in &users {
        user.register(name).await;
    }
    // Each batch writes to both users in one transaction, A in one order
    // and B in the other: PostgreSQL breaks the deadlocks this makes by
    // failing one side, which must run again rather than fail the publish.
    const ROUNDS: usize = 40;
    let mut tasks = Vec::new();
    for (admin, order) in [
        (admin_a.clone(), ["alice", "bob"]),
        (admin_b.clone(), ["bob", "alice"]),
    ] {
        for task in 0..2 {
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let notifications: Vec<Value> = order
                        .iter()
                        .map(|to| {
                            json!({"to": [to], "category": "job",
                                   "title": format!("{task}-{round}"), "body": "b"})
                        })
                        .collect();
                    post_batch(&admin, notifications).await;
                }
            }));
        }
    }
    // Single publishes, alternating between the two users in opposite
    // phases: each writer transaction holds several of them, so two
    // transactions may lock the users in opposite orders across commands.
    for (admin, phase) in [(admin_a.clone(), 0), (admin_b.clone(), 1)] {
        for task in 0..6 {
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let to = ["alice", "bob"][(round + phase + task) % 2];
                    let answer = admin
                        .post(
                            "/api/notifications",
                            &json!({"to": [to], "category": "job",
                                    "title": format!("u{task}-{round}"), "body": "b"}),
                        )
                        .await;
                    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    // 2 instances x 2 tasks x ROUNDS batches to both, and 2 x 6 x ROUNDS
    // single publishes split evenly between the two.
    let expected = ROUNDS * 4 + ROUNDS * 6;
    for (name, user) in &users {
        let mut stream = EventStream::open(user, "/api/events", &[("last-event-id", "0")]).await;
        let got = read_titles(&mut stream, expected).await;
        let seqs: Vec<i64> = got.iter().map(|(seq, _)| *seq).collect();
        let wanted: Vec<i64> = (1..=expected as i64).collect();
        assert_eq!(seqs, wanted, "{name}: every publish once, gap-free");
    }
    let mut retried = 0;
    for admin in [&admin_a, &admin_b] {
        let status: Value = admin.get("/api/status").await.json();
        retried += status["database"]["write_conflicts_retried"]
            .as_u64()
            .expect("write_conflicts_retried");
    }
    eprintln!("writes run again after a deadlock: {retried}");
}

/// Herald pushes only to users with no live stream on any instance: a user
/// streaming from instance B is not pushed what instance A publishes.
#[tokio::test]
async fn a_user_streaming_on_another_instance_is_not_pushed() {
    if !postgres::selected() {
        eprintln!("skipped: several instances need HERALD_TEST_DATABASE=postgres");
        return;
    }
    let mut mock = common::push::MockPush::start().await;
    let a = TestServer::start_with(mock.options(admin_options()));
    let b = TestServer::start_beside(&a, mock.options(admin_options()));
    let admin = admin_client(&a).await;
    let online = a.client();
    let online_id = online.register("online").await["id"].as_i64().unwrap();
    let offline = a.client();
    offline.register("offline").await;
    for (api, name) in [(&online, "online"), (&offline, "offline")] {
        common::push::subscribe(api, &common::push::Device::new(name), &mock).await;
    }
    let mut stream = EventStream::open(&same_user_on(&online, &b), "/api/events", &[]).await;
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("ready")
    );
    // Instance B reports its streams with its presence heartbeat.
    let deadline = std::time::Instant::now() + WAIT;
    while a
        .sql(&format!(
            "SELECT COUNT(*) FROM presence WHERE user_id = {online_id} AND streams > 0"
        ))
        .await
        != Some(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "B never reported the stream"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = admin
        .post(
            "/api/notifications",
            &json!({"to": ["online", "offline"], "category": "job", "title": "Shift"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(mock.next().await.device, "offline");
    let extra = mock.quiet_for(Duration::from_millis(500)).await;
    assert!(
        extra.is_empty(),
        "pushed to a user streaming elsewhere: {extra:?}"
    );
    let event = stream.next_event(WAIT).await.unwrap();
    assert_eq!(event.event.as_deref(), Some("notification"));
}

fn topic_options() -> ServerOptions {
    admin_options().env("HERALD_TOPIC_ACCESS", "post=users")
}

async fn next_topic_value(stream: &mut EventStream) -> Value {
    loop {
        let frame = stream.next_event(WAIT).await.expect("stream open");
        if frame.event.as_deref() == Some("topic") {
            return frame.json();
        }
    }
}

async fn set_topic(api: &Api, topic: &str, value: Value) -> i64 {
    let answer = api
        .send(
            api.request(reqwest::Method::PUT, &format!("/api/topics/{topic}"))
                .json(&value),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json::<Value>()["version"].as_i64().unwrap()
}

#[tokio::test]
async fn topic_values_and_subscription_changes_cross_instances() {
    let Some((a, b)) = two_instances_with(topic_options) else {
        return;
    };
    let admin = admin_client(&a).await;
    let alice = a.client();
    alice.register("alice").await;

    // Subscribed on A, published through B.
    let mut stream = EventStream::open(&alice, "/api/events?topics=post:1", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    let ready = stream.next_event(WAIT).await.unwrap();
    let connection_id = ready.json()["connection_id"].as_str().unwrap().to_owned();
    let version = set_topic(&admin.on(&b), "post:1", json!({"like_count": 1})).await;
    let value = next_topic_value(&mut stream).await;
    assert_eq!(value["version"], version);
    assert_eq!(value["value"]["like_count"], 1);

    // The stream's subscription changed through B: B forwards it to A,
    // which sends the current value at once.
    set_topic(&admin.on(&b), "post:2", json!({"like_count": 20})).await;
    let changed = same_user_on(&alice, &b)
        .post(
            "/api/topics/subscriptions",
            &json!({"connection_id": connection_id, "subscribe": ["post:2"], "unsubscribe": ["post:1"]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::ACCEPTED, "{}", changed.body);
    let value = next_topic_value(&mut stream).await;
    assert_eq!(value["topic"], "post:2");
    assert_eq!(value["value"]["like_count"], 20);
    set_topic(&admin.on(&b), "post:1", json!({"like_count": 2})).await;
    set_topic(&admin, "post:2", json!({"like_count": 21})).await;
    let value = next_topic_value(&mut stream).await;
    assert_eq!(value["topic"], "post:2", "unsubscribed through B: {value}");
    assert_eq!(value["value"]["like_count"], 21);
}
