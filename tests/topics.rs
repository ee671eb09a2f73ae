//! Live topics against the real server: latest values, not history. A
//! subscriber gets the current value at once and every newer one, a slow
//! reader ends on the final value (never a stale one), subscriptions change
//! during a live stream within limits, and only those allowed may listen.

mod common;

use std::time::Duration;

use common::{
    Api, EventStream, ServerOptions, TestServer, admin_client, admin_options, token_client,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn options() -> ServerOptions {
    admin_options()
        .env("HERALD_TOPIC_ACCESS", "post=users,restaurant=channel")
        .env("HERALD_MAX_TOPICS_PER_CONNECTION", "3")
}

async fn set(backend: &Api, topic: &str, value: Value) -> i64 {
    let answer = backend
        .send(
            backend
                .request(reqwest::Method::PUT, &format!("/api/topics/{topic}"))
                .json(&value),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json::<Value>()["version"].as_i64().unwrap()
}

/// Opens `user`'s stream on `path` and returns it with its connection id.
async fn open(user: &Api, path: &str) -> (EventStream, String) {
    let mut stream = EventStream::open(user, path, &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    let ready = stream.next_event(WAIT).await.unwrap();
    assert_eq!(ready.event.as_deref(), Some("ready"));
    let id = ready.json()["connection_id"].as_str().unwrap().to_owned();
    (stream, id)
}

async fn next_topic(stream: &mut EventStream) -> Value {
    let frame = stream.next_event(WAIT).await.expect("stream open");
    assert_eq!(frame.event.as_deref(), Some("topic"), "{frame:?}");
    assert!(frame.id.is_none(), "topic values carry no event id");
    frame.json()
}

async fn change(
    user: &Api,
    connection_id: &str,
    subscribe: &[&str],
    unsubscribe: &[&str],
) -> common::Answer {
    user.post(
        "/api/topics/subscriptions",
        &json!({"connection_id": connection_id, "subscribe": subscribe, "unsubscribe": unsubscribe}),
    )
    .await
}

#[tokio::test]
async fn a_subscriber_gets_the_latest_value_then_every_newer_one() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "social").await;
    let alice = server.client();
    alice.register("alice").await;

    let v1 = set(
        &backend,
        "post:1",
        json!({"like_count": 41, "comment_count": 15}),
    )
    .await;
    let v2 = set(
        &backend,
        "post:1",
        json!({"like_count": 42, "comment_count": 15}),
    )
    .await;
    assert!(v2 > v1);
    let shown: Value = backend.get("/api/topics/post:1").await.json();
    assert_eq!(shown["value"]["like_count"], 42);

    // In the query: the current value arrives at once.
    let (mut stream, connection_id) = open(&alice, "/api/events?topics=post:1").await;
    let first = next_topic(&mut stream).await;
    assert_eq!(
        first,
        json!({"topic": "post:1", "value": {"like_count": 42, "comment_count": 15}, "version": v2})
    );
    let v3 = set(&backend, "post:1", json!({"like_count": 43})).await;
    assert_eq!(next_topic(&mut stream).await["version"], v3);

    // Changed during the stream: subscribe to another (current value at
    // once), unsubscribe from the first.
    set(&backend, "post:2", json!({"like_count": 7})).await;
    let changed = change(&alice, &connection_id, &["post:2"], &["post:1"]).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.json::<Value>()["topics"], json!(["post:2"]));
    assert_eq!(next_topic(&mut stream).await["value"]["like_count"], 7);
    set(&backend, "post:1", json!({"like_count": 44})).await;
    set(&backend, "post:2", json!({"like_count": 8})).await;
    let next = next_topic(&mut stream).await;
    assert_eq!(
        next["topic"], "post:2",
        "an unsubscribed topic arrived: {next}"
    );
    assert_eq!(next["value"]["like_count"], 8);

    // Cleared topics send nothing to new subscribers.
    assert_eq!(
        backend.delete("/api/topics/post:2").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        backend.get("/api/topics/post:2").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_slow_reader_ends_on_the_final_value_never_a_stale_one() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "social").await;
    let alice = server.client();
    alice.register("alice").await;
    let (mut stream, _) = open(&alice, "/api/events?topics=post:9").await;

    // A burst of large values from 8 publishers at once while the stream
    // is not read at all: far more than the socket buffers hold.
    let padding = "x".repeat(3500);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let backend = backend.clone();
        let padding = padding.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                set(
                    &backend,
                    "post:9",
                    json!({"n": worker * 1000 + i, "pad": padding}),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let last: Value = backend.get("/api/topics/post:9").await.json();
    let final_version = last["version"].as_i64().unwrap();

    let mut received = 0;
    let mut previous = i64::MIN;
    loop {
        let update = next_topic(&mut stream).await;
        let version = update["version"].as_i64().unwrap();
        assert!(version > previous, "version {version} after {previous}");
        previous = version;
        received += 1;
        if version == final_version {
            assert_eq!(update["value"], last["value"]);
            break;
        }
    }
    assert!(
        received < 2000,
        "received all {received}: nothing coalesced"
    );
    println!("slow reader: 2000 values published, {received} delivered, ending on the final one");
}

#[tokio::test]
async fn subscriptions_are_limited_and_checked() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "social").await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let (_stream, connection_id) = open(&alice, "/api/events").await;

    // At most 3 per stream (the setting), in the query or later.
    let too_many = change(
        &alice,
        &connection_id,
        &["post:1", "post:2", "post:3", "post:4"],
        &[],
    )
    .await;
    assert_eq!(too_many.status, StatusCode::CONFLICT, "{}", too_many.body);
    assert_eq!(too_many.error_code(), "too_many_topics");
    assert_eq!(
        change(&alice, &connection_id, &["post:1", "post:2", "post:3"], &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        change(&alice, &connection_id, &["post:4"], &[])
            .await
            .status,
        StatusCode::CONFLICT
    );
    let refused = EventStream::open(
        &alice,
        "/api/events?topics=post:1,post:2,post:3,post:4",
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    // Namespaces: "secret" is not configured (token grants only);
    // "restaurant" needs membership of the channel of the same name;
    // "herald" is Herald's own (admins' status figures).
    let (_fresh, fresh_id) = open(&alice, "/api/events").await;
    for topic in ["secret:1", "restaurant:42", "herald:status", "herald:other"] {
        let forbidden = change(&alice, &fresh_id, &[topic], &[]).await;
        assert_eq!(
            forbidden.status,
            StatusCode::FORBIDDEN,
            "{topic}: {}",
            forbidden.body
        );
        assert_eq!(forbidden.error_code(), "topic_forbidden");
    }
    let forbidden = EventStream::open(&alice, "/api/events?topics=secret:1", &[]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["alice"]}),
        )
        .await;
    assert_eq!(
        change(&alice, &fresh_id, &["restaurant:42"], &[])
            .await
            .status,
        StatusCode::OK
    );
    let (_admin_events, admin_stream) = open(&admin, "/api/events").await;
    let status = change(&admin, &admin_stream, &["herald:status"], &[]).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    // Nobody publishes into Herald's namespace.
    let reserved = backend
        .send(
            backend
                .request(reqwest::Method::PUT, "/api/topics/herald:status")
                .json(&json!({"streams": 0})),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::FORBIDDEN);

    // Another user's stream, or one that does not exist.
    assert_eq!(
        change(&bob, &connection_id, &["post:1"], &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        change(&alice, "nonsense", &["post:1"], &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // Bad names and values.
    assert_eq!(
        change(&alice, &connection_id, &["no namespace"], &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let big = backend
        .send(
            backend
                .request(reqwest::Method::PUT, "/api/topics/post:1")
                .json(&json!({"pad": "x".repeat(5000)})),
        )
        .await;
    assert_eq!(big.status, StatusCode::BAD_REQUEST, "{}", big.body);
    let anonymous = server
        .client()
        .send(
            server
                .client()
                .request(reqwest::Method::PUT, "/api/topics/post:1")
                .json(&json!(1)),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn nothing_of_a_topic_reaches_a_non_subscriber() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "social").await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    let (mut listening, _) = open(&alice, "/api/events?topics=post:5").await;
    let (mut other, _) = open(&bob, "/api/events").await;

    set(&backend, "post:5", json!({"like_count": 1})).await;
    assert_eq!(next_topic(&mut listening).await["value"]["like_count"], 1);
    // Bob's next event is the notification published after the value.
    let published = backend
        .post(
            "/api/notifications",
            &json!({"to": ["bob"], "category": "system", "title": "marker"}),
        )
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{}", published.body);
    let next = other.next_event(WAIT).await.unwrap();
    assert_eq!(next.event.as_deref(), Some("notification"), "{next:?}");
}

#[tokio::test]
async fn a_connection_token_grants_its_topics() {
    let server = TestServer::start_with(options().env("HERALD_PUBLIC_URL", "http://herald.test"));
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "shop").await;
    backend
        .post("/api/integrations", &json!({"name": "shop", "origins": []}))
        .await;
    backend.put("/api/external-users/u-1", &json!({})).await;
    let minted: Value = backend
        .post(
            "/api/connection-tokens",
            &json!({"integration": "shop", "external_id": "u-1", "topics": ["secret:1*"]}),
        )
        .await
        .json();
    let token = minted["token"].as_str().unwrap();
    set(&backend, "secret:17", json!("hello")).await;
    let client = server.client().with_bearer(token);
    let (mut stream, id) = open(&client, "/api/events?topics=secret:17").await;
    assert_eq!(next_topic(&mut stream).await["value"], "hello");
    assert_eq!(
        change(&client, &id, &["secret:2"], &[]).await.status,
        StatusCode::FORBIDDEN
    );
}
