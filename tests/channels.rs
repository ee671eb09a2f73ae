//! Channels against the real server: an integrator names an audience
//! ("restaurant:42"), manages its members with an API token, and publishes
//! to it; each member gets their own durable notification and event, with
//! replay, exactly as when named one by one.

mod common;

use std::time::Duration;

use common::{Api, EventStream, TestServer, admin_client, admin_options, token_client};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn users(server: &TestServer, names: &[&str]) -> Vec<Api> {
    let mut clients = Vec::new();
    for name in names {
        let api = server.client();
        api.register(name).await;
        clients.push(api);
    }
    clients
}

#[tokio::test]
async fn a_channel_is_managed_with_an_api_token() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "restaurant backend").await;
    users(&server, &["alice", "bob"]).await;

    let added = backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["alice", "Bob", "alice"]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let added: Value = added.json();
    assert_eq!(added["channel"]["name"], "restaurant:42");
    assert_eq!(added["channel"]["member_count"], 2);
    assert_eq!(added["added"], 2);
    let again: Value = backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["alice"]}),
        )
        .await
        .json();
    assert_eq!(again["added"], 0);

    // An unknown name refuses the whole request.
    let unknown = backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["alice", "nobody"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("nobody"), "{}", unknown.body);
    let shown: Value = backend.get("/api/channels/restaurant:42").await.json();
    assert_eq!(shown["channel"]["member_count"], 2);

    let page: Value = backend
        .get("/api/channels/restaurant:42/members?limit=1")
        .await
        .json();
    assert_eq!(page["members"][0]["username"], "alice");
    assert_eq!(page["next_after"], "alice");
    let rest: Value = backend
        .get("/api/channels/restaurant:42/members?limit=1&after=alice")
        .await
        .json();
    assert_eq!(rest["members"][0]["username"], "bob");
    let list: Value = backend.get("/api/channels").await.json();
    assert_eq!(list["channels"][0]["name"], "restaurant:42");

    assert_eq!(
        backend
            .delete("/api/channels/restaurant:42/members/bob")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        backend
            .delete("/api/channels/restaurant:42/members/bob")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        backend.delete("/api/channels/restaurant:42").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        backend.get("/api/channels/restaurant:42").await.status,
        StatusCode::NOT_FOUND
    );
    for bad in ["/api/channels/Bad%20Name", "/api/channels/a%2Fb"] {
        let answer = backend.get(bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn only_publishers_manage_channels() {
    let server = TestServer::start_with(admin_options());
    let clients = users(&server, &["alice"]).await;
    let body = json!({"users": ["alice"]});
    let signed_in = clients[0].put("/api/channels/staff/members", &body).await;
    assert_eq!(signed_in.status, StatusCode::FORBIDDEN);
    let anonymous = server
        .client()
        .put("/api/channels/staff/members", &body)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        clients[0].get("/api/channels").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn publishing_to_a_channel_reaches_each_member_durably_and_no_one_else() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "restaurant backend").await;
    let clients = users(&server, &["alice", "bob", "carol", "dave"]).await;
    let added = backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["alice", "bob"]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK);
    let mut alice_stream = EventStream::open(&clients[0], "/api/events", &[]).await;
    assert_eq!(
        alice_stream
            .next_event(WAIT)
            .await
            .unwrap()
            .event
            .as_deref(),
        Some("ready")
    );

    let published = backend
        .post(
            "/api/notifications",
            &json!({"to": {"channel": "restaurant:42"}, "category": "payment",
                    "title": "Table 7 paid", "body": "€42"}),
        )
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{}", published.body);
    assert_eq!(published.json::<Value>()["recipients"], 2);

    // Live for alice, with her own id and sequence number.
    let event = alice_stream.next_event(WAIT).await.unwrap();
    assert_eq!(event.event.as_deref(), Some("notification"));
    assert_eq!(event.id.as_deref(), Some("1"));
    assert_eq!(event.json()["notification"]["title"], "Table 7 paid");
    // Replayed for bob, who was not connected.
    let mut bob_stream = EventStream::open(&clients[1], "/api/events?last_event_id=0", &[]).await;
    let mut bob_events = Vec::new();
    while bob_events.len() < 2 {
        bob_events.push(bob_stream.next_event(WAIT).await.unwrap());
    }
    assert_eq!(bob_events[1].event.as_deref(), Some("notification"));
    assert_eq!(
        bob_events[1].json()["notification"]["title"],
        "Table 7 paid"
    );
    // Nobody else has it.
    let carol: Value = clients[2].get("/api/notifications").await.json();
    assert_eq!(carol["notifications"], json!([]));

    // A member added later gets what is published from then on only.
    backend
        .put(
            "/api/channels/restaurant:42/members",
            &json!({"users": ["dave"]}),
        )
        .await;
    let dave: Value = clients[3].get("/api/notifications").await.json();
    assert_eq!(dave["notifications"], json!([]));
    backend
        .post(
            "/api/notifications",
            &json!({"to": {"channel": "restaurant:42"}, "category": "payment", "title": "Table 9 paid"}),
        )
        .await;
    let dave: Value = clients[3].get("/api/notifications").await.json();
    assert_eq!(dave["notifications"][0]["title"], "Table 9 paid");
    assert_eq!(dave["notifications"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_channels_and_batches_with_channels_are_refused() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let unknown = admin
        .post(
            "/api/notifications",
            &json!({"to": {"channel": "nowhere"}, "category": "job", "title": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json::<Value>()["error"]["field"], "to");
    let malformed = admin
        .post(
            "/api/notifications",
            &json!({"to": {"channel": "Bad Name"}, "category": "job", "title": "x"}),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let batch = admin
        .post(
            "/api/notifications/batch",
            &json!({"notifications": [
                {"to": {"channel": "nowhere"}, "category": "job", "title": "x"}
            ]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::ACCEPTED, "{}", batch.body);
    let batch: Value = batch.json();
    assert_eq!(batch["refused"], 1);
    assert_eq!(batch["results"][0]["status"], 400);
}
