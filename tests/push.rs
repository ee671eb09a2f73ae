//! Web Push against the real server and a mock push service inside the
//! test: a local HTTP server that plays the browser vendor's service. Each
//! push it receives is decrypted with the test device's private key
//! (RFC 8291) and its VAPID header verified with the server's public key
//! (RFC 8292), as a real push service and browser would.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::push::{CONTACT, Device, MockPush, Received, Reply, TTL, subscribe};
use common::{Api, EventStream, ServerOptions, admin_client, admin_options};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

async fn publish(admin: &Api, body: Value) -> Value {
    let answer = admin.post("/api/notifications", &body).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    answer.json()
}

fn header<'a>(push: &'a Received, name: &str) -> &'a str {
    push.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Checks the VAPID `Authorization` header: the server's key, a valid
/// ES256 signature, and the claims RFC 8292 asks for.
fn check_vapid(push: &Received, public_key: &str, audience: &str) {
    let authorization = header(push, "authorization");
    let (token, key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("not a VAPID header: {authorization}"));
    assert_eq!(key, public_key);
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("the JWT is signed with the server's key");
    let part = |i: usize| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(signed.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(part(0), json!({"typ": "JWT", "alg": "ES256"}));
    let claims = part(1);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], CONTACT);
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
}

async fn public_key(api: &Api) -> String {
    let answer = api.get("/api/push/key").await;
    assert_eq!(answer.status, StatusCode::OK);
    let key: Value = answer.json();
    key["public_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_offline_user_gets_one_push_per_device_encrypted_for_it() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let (phone, laptop) = (Device::new("phone"), Device::new("laptop"));
    subscribe(&alice, &phone, &mock).await;
    subscribe(&alice, &laptop, &mock).await;
    let key = public_key(&server.client()).await;

    let published = publish(
        &admin,
        json!({"to": ["alice"], "category": "payment", "priority": "urgent",
               "title": "Payment received", "body": "€42 from Bob",
               "url": "/payments/7", "key": "payment:7"}),
    )
    .await;
    let id = published["ids"][0].as_i64().unwrap();
    let mut pushes = [mock.next().await, mock.next().await];
    pushes.sort_by(|a, b| a.device.cmp(&b.device));
    assert!(mock.quiet_for(Duration::from_millis(300)).await.is_empty());
    for (push, device) in pushes.iter().zip([&laptop, &phone]) {
        let payload = device.open(push);
        assert_eq!(payload["id"], id);
        assert_eq!(payload["title"], "Payment received");
        assert_eq!(payload["body"], "€42 from Bob");
        assert_eq!(payload["url"], "/payments/7");
        assert_eq!(payload["category"], "payment");
        assert_eq!(payload["priority"], "urgent");
        assert_eq!(payload["key"], "payment:7");
        assert_eq!(payload["unread_count"], 1);
        assert_eq!(header(push, "ttl"), TTL);
        assert_eq!(header(push, "urgency"), "high");
        assert_eq!(header(push, "content-encoding"), "aes128gcm");
        let topic = header(push, "topic");
        assert_eq!(topic.len(), 32);
        assert!(
            topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        check_vapid(push, &key, &mock.origin());
    }
    // The same key later: the same topic, so the service replaces a push it
    // still holds.
    publish(
        &admin,
        json!({"to": ["alice"], "category": "payment", "priority": "low",
               "title": "Payment received (2)", "key": "payment:7"}),
    )
    .await;
    let again = [mock.next().await, mock.next().await];
    for push in &again {
        assert_eq!(header(push, "topic"), header(&pushes[0], "topic"));
        assert_eq!(header(push, "urgency"), "low");
    }

    // The device list says when each last received a push.
    let deadline = Instant::now() + WAIT;
    loop {
        let devices: Value = alice.get("/api/push/subscriptions").await.json();
        let list = devices["subscriptions"].as_array().unwrap().clone();
        assert_eq!(list.len(), 2);
        if list.iter().all(|d| d["last_push_at"].is_string()) {
            assert!(list.iter().all(|d| d["service"] == "127.0.0.1"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_push_at never set: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status: Value = admin.get("/api/status").await.json();
    assert_eq!(status["push"]["sent_total"], 4);
    assert_eq!(status["push"]["subscriptions"], 2);
    let metrics = admin.get("/metrics").await.body;
    assert!(metrics.contains("herald_push_sent_total 4"), "{metrics}");
    assert!(metrics.contains("herald_push_queue_depth"), "{metrics}");
}

#[tokio::test]
async fn users_with_a_live_stream_a_muted_category_or_push_off_are_not_pushed() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options());
    let admin = admin_client(&server).await;
    let mut users = Vec::new();
    for name in ["online", "muted", "pushoff", "offline"] {
        let api = server.client();
        api.register(name).await;
        subscribe(&api, &Device::new(name), &mock).await;
        users.push(api);
    }
    let mut stream = EventStream::open(&users[0], "/api/events", &[]).await;
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("ready")
    );
    let preferences = |muted: Value, push: bool| json!({"muted_categories": muted, "sound": false, "browser_notifications": false, "push": push});
    let saved = users[1]
        .put("/api/preferences", &preferences(json!(["job"]), true))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let saved = users[2]
        .put("/api/preferences", &preferences(json!([]), false))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let stored: Value = users[2].get("/api/preferences").await.json();
    assert_eq!(stored["push"], false);

    publish(
        &admin,
        json!({"to": ["online", "muted", "pushoff", "offline"], "category": "job",
               "priority": "normal", "title": "New shift"}),
    )
    .await;
    // The one that is pushed, then silence: the others were decided in
    // the same batch.
    assert_eq!(mock.next().await.device, "offline");
    let extra = mock.quiet_for(Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "unexpected pushes: {extra:?}");
    // The online user had it on their stream instead.
    let event = stream.next_event(WAIT).await.unwrap();
    assert_eq!(event.event.as_deref(), Some("notification"));
    // A muted category is muted only for its own category.
    publish(
        &admin,
        json!({"to": ["muted"], "category": "social", "priority": "normal", "title": "Hi"}),
    )
    .await;
    assert_eq!(mock.next().await.device, "muted");
}

#[tokio::test]
async fn a_subscription_gone_at_its_service_is_forgotten_and_never_used_again() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let (old, new) = (Device::new("old"), Device::new("new"));
    subscribe(&alice, &old, &mock).await;
    subscribe(&alice, &new, &mock).await;
    mock.script("old", &[Reply::Status(410)]);
    publish(
        &admin,
        json!({"to": ["alice"], "category": "system", "title": "One"}),
    )
    .await;
    let mut devices: Vec<String> = vec![mock.next().await.device, mock.next().await.device];
    devices.sort();
    assert_eq!(devices, ["new", "old"]);
    let deadline = Instant::now() + WAIT;
    loop {
        let list: Value = alice.get("/api/push/subscriptions").await.json();
        let labels: Vec<&Value> = list["subscriptions"].as_array().unwrap().iter().collect();
        if labels.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the gone subscription stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publish(
        &admin,
        json!({"to": ["alice"], "category": "system", "title": "Two"}),
    )
    .await;
    assert_eq!(mock.next().await.device, "new");
    let extra = mock.quiet_for(Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "pushed again: {extra:?}");
    let status: Value = admin.get("/api/status").await.json();
    assert_eq!(status["push"]["subscriptions_removed_total"], 1);
    assert_eq!(status["push"]["subscriptions"], 1);
}

#[tokio::test]
async fn a_rate_limited_push_is_retried_after_the_wait_the_service_asked_for() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let phone = Device::new("phone");
    subscribe(&alice, &phone, &mock).await;
    mock.script("phone", &[Reply::RetryAfter(429, 2), Reply::Status(503)]);
    publish(
        &admin,
        json!({"to": ["alice"], "category": "job", "title": "Retry me"}),
    )
    .await;
    let first = mock.next().await;
    let second = mock.next().await;
    let third = mock.next().await;
    let waited = second.at - first.at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    // A 503 without Retry-After backs off by itself (about a second).
    assert!(third.at - second.at >= Duration::from_millis(500));
    for push in [&first, &second, &third] {
        assert_eq!(phone.open(push)["title"], "Retry me");
    }
    assert!(mock.quiet_for(Duration::from_millis(300)).await.is_empty());
    let status: Value = admin.get("/api/status").await.json();
    assert_eq!(status["push"]["sent_total"], 1);
    assert_eq!(status["push"]["failed_total"], 0);
}

#[tokio::test]
async fn a_push_service_that_never_answers_holds_up_neither_publishing_nor_streams() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options().env("HERALD_PUSH_CONCURRENCY", "2"));
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let black_hole = Device::new("black_hole");
    subscribe(&alice, &black_hole, &mock).await;
    mock.script("black_hole", &[Reply::Hang; 50]);
    let mut stream = EventStream::open(&bob, "/api/events", &[]).await;
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("ready")
    );

    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        publish(
            &admin,
            json!({"to": ["alice", "bob"], "category": "job", "title": format!("n{i}")}),
        )
        .await;
        slowest = slowest.max(started.elapsed());
        let event = stream.next_event(WAIT).await.unwrap();
        assert_eq!(event.json()["notification"]["title"], format!("n{i}"));
    }
    // Every publish answered, and bob's stream got every event, while the
    // push service still holds the requests it took and answers none.
    mock.next().await;
    let hanging = mock.state.hanging.load(Ordering::SeqCst);
    assert!((1..=2).contains(&hanging), "{hanging} requests open");
    let status: Value = admin.get("/api/status").await.json();
    assert_eq!(status["push"]["sent_total"], 0);
    assert!(
        status["push"]["queue_depth"].as_u64().unwrap() >= 18,
        "{}",
        status["push"]
    );
    println!("slowest publish while the push service hangs: {slowest:?}");
}

#[tokio::test]
async fn subscriptions_are_checked_per_device_and_per_user() {
    let mock = MockPush::start().await;
    let server = mock.server(ServerOptions::default());
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let phone = Device::new("phone");

    // Off the allowlist: refused before anything is stored.
    for endpoint in [
        "https://evil.example/push/x".to_owned(),
        "http://127.0.0.1:1/push/x".to_owned(),
        format!("https://127.0.0.1:{}/push/x", mock.port),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let mut body = phone.subscription(&mock);
        body["endpoint"] = json!(endpoint);
        let answer = alice.post("/api/push/subscriptions", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{endpoint}");
        let error: Value = answer.json();
        assert_eq!(error["error"]["field"], "endpoint");
    }
    let mut bad_key = phone.subscription(&mock);
    bad_key["keys"]["p256dh"] = json!("AAAA");
    let answer = alice.post("/api/push/subscriptions", &bad_key).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json::<Value>()["error"]["field"], "keys.p256dh");
    let anonymous = server
        .client()
        .post("/api/push/subscriptions", &phone.subscription(&mock))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(
        alice.get("/api/push/subscriptions").await.json::<Value>()["subscriptions"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Subscribing the same endpoint again updates the one device.
    let first = alice
        .post("/api/push/subscriptions", &phone.subscription(&mock))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = alice
        .post("/api/push/subscriptions", &phone.subscription(&mock))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let id = first.json::<Value>()["subscription"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(again.json::<Value>()["subscription"]["id"], id);
    let list: Value = alice.get("/api/push/subscriptions").await.json();
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(list["subscriptions"][0]["label"], "Browser");

    // Nobody else sees or removes it; its owner does.
    let theirs = bob.delete(&format!("/api/push/subscriptions/{id}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        alice
            .delete(&format!("/api/push/subscriptions/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice
            .delete(&format!("/api/push/subscriptions/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The same browser signed in as someone else now pushes to them only.
    subscribe(&alice, &phone, &mock).await;
    subscribe(&bob, &phone, &mock).await;
    let mine: Value = alice.get("/api/push/subscriptions").await.json();
    assert!(mine["subscriptions"].as_array().unwrap().is_empty());
    let theirs: Value = bob.get("/api/push/subscriptions").await.json();
    assert_eq!(theirs["subscriptions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_vapid_key_is_made_once_and_kept() {
    let mock = MockPush::start().await;
    let server = mock.server(ServerOptions::default());
    let before = public_key(&server.client()).await;
    let raw = URL_SAFE_NO_PAD.decode(&before).unwrap();
    assert_eq!(raw.len(), 65);
    assert!(p256::PublicKey::from_sec1_bytes(&raw).is_ok());
    let server = server.restart();
    assert_eq!(public_key(&server.client()).await, before);
}

/// Not an assertion of speed: prints the time from publishing to the push
/// service receiving the push, over 100 pushes, for the record.
#[tokio::test]
async fn publish_to_push_latency_is_reported() {
    let mut mock = MockPush::start().await;
    let server = mock.server(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    subscribe(&alice, &Device::new("phone"), &mock).await;
    let mut times = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        publish(
            &admin,
            json!({"to": ["alice"], "category": "social", "title": format!("n{i}")}),
        )
        .await;
        let push = mock.next().await;
        times.push(push.at - started);
    }
    times.sort();
    println!(
        "publish -> push service: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (100 pushes)",
        times[49].as_secs_f64() * 1000.0,
        times[98].as_secs_f64() * 1000.0,
        times[99].as_secs_f64() * 1000.0
    );
}
