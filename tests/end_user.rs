//! What end users see, against the real server: notification actions
//! (validated at publish, stored, streamed, allowed by the page's CSP), the
//! dashboard's news, and the lists the server renders into the HTML.

mod common;

use std::time::Duration;

use common::{EventStream, TestServer, admin_client, admin_options, token_client};
use reqwest::StatusCode;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "https://jobs.example";

fn options() -> common::ServerOptions {
    admin_options().env(
        "HERALD_ACTION_ORIGINS",
        &format!("{HOST}, http://127.0.0.1:9"),
    )
}

#[tokio::test]
async fn actions_are_validated_stored_and_streamed() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "jobs").await;
    let alice = server.client();
    alice.register("alice").await;
    let mut stream = EventStream::open(&alice, "/api/events", &[]).await;
    let ready = stream.next_event(WAIT).await.expect("ready");
    assert_eq!(ready.event.as_deref(), Some("ready"));

    let offer = |actions: serde_json::Value| {
        json!({
            "to": ["alice"], "category": "job", "title": "Shift offer: Saturday",
            "actions": actions
        })
    };
    // Refused, each with the field and the action's index named.
    for (actions, says) in [
        (
            json!([{"label": "a", "url": "/1"}, {"label": "b", "url": "/2"}, {"label": "c", "url": "/3"}, {"label": "d", "url": "/4"}]),
            "at most 3",
        ),
        (
            json!([{"label": " ", "url": "/x"}]),
            "actions[0]: An action's label",
        ),
        (
            json!([{"label": "Open", "url": "javascript:alert(1)"}]),
            "actions[0]: url must be",
        ),
        (
            json!([{"label": "Ok", "url": "/x"}, {"label": "Go", "url": "/y", "method": "DELETE"}]),
            "actions[1]: method must be",
        ),
        (
            json!([{"label": "Open", "url": "/x", "body": {"a": 1}}]),
            "Only a POST action has a body",
        ),
        (
            json!([{"label": "Accept", "url": "https://evil.example/accept", "method": "POST"}]),
            "https://evil.example is not listed",
        ),
        (
            json!([{"label": "Accept", "url": "https://user@jobs.example/accept", "method": "POST"}]),
            "is not listed",
        ),
        (
            json!([{"label": "Accept", "url": format!("{HOST}/a"), "method": "POST", "body": {"pad": "x".repeat(3000)}}]),
            "2 KiB",
        ),
        (json!([{"label": "Accept", "url": "/a", "extra": true}]), ""),
    ] {
        let answer = backend
            .post("/api/notifications", &offer(actions.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{actions}: {}",
            answer.body
        );
        let error: serde_json::Value = answer.json();
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{actions}: {}",
            answer.body
        );
    }
    // Nothing of the refused publishes was written.
    let listed: serde_json::Value = alice.get("/api/notifications").await.json();
    assert_eq!(listed["notifications"].as_array().unwrap().len(), 0);

    let actions = json!([
        {"label": "Accept", "method": "POST", "url": "https://Jobs.Example/offers/42/accept", "body": {"offer": 42}},
        {"label": "Decline", "method": "POST", "url": "/api/nothing-here"},
        {"label": "View offer", "url": "https://jobs.example/offers/42"}
    ]);
    let answer = backend.post("/api/notifications", &offer(actions)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let expected = json!([
        {"label": "Accept", "method": "POST", "url": "https://Jobs.Example/offers/42/accept", "body": {"offer": 42}},
        {"label": "Decline", "method": "POST", "url": "/api/nothing-here"},
        {"label": "View offer", "url": "https://jobs.example/offers/42"}
    ]);

    // The live event, the list and the single notification all carry them.
    let event = stream
        .next_event(WAIT)
        .await
        .expect("notification event")
        .json();
    assert_eq!(event["notification"]["actions"], expected);
    let listed: serde_json::Value = alice.get("/api/notifications").await.json();
    assert_eq!(listed["notifications"][0]["actions"], expected);
    let id = listed["notifications"][0]["id"].as_i64().unwrap();
    let one: serde_json::Value = alice.get(&format!("/api/notifications/{id}")).await.json();
    assert_eq!(one["notification"]["actions"], expected);

    // A notification without actions lists an empty array.
    let plain = backend
        .post(
            "/api/notifications",
            &json!({"to": ["alice"], "category": "job", "title": "Plain"}),
        )
        .await;
    assert_eq!(plain.status, StatusCode::ACCEPTED);
    let listed: serde_json::Value = alice.get("/api/notifications").await.json();
    assert_eq!(listed["notifications"][0]["actions"], json!([]));
}

#[tokio::test]
async fn pages_allow_exactly_the_action_origins_in_their_csp() {
    let server = TestServer::start_with(options());
    let page = server.client().get("/login").await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("connect-src 'self' https://jobs.example http://127.0.0.1:9;"),
        "{csp}"
    );

    let plain = TestServer::start_with(admin_options());
    let page = plain.client().get("/login").await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("connect-src 'self';"), "{csp}");
}

#[tokio::test]
async fn a_bad_action_origin_stops_start_up() {
    let exited =
        common::start_expecting_failure(&[("HERALD_ACTION_ORIGINS", "ftp://files.example")]);
    assert!(
        exited.stderr.contains("action_origins"),
        "{}",
        exited.stderr
    );
}

#[tokio::test]
async fn the_dashboard_counts_unread_by_category_most_pressing_first() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "news").await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    let bob_user = bob.register("bob").await;
    for (category, priority, title) in [
        ("job", "low", "Old low job"),
        ("payment", "urgent", "Card declined"),
        ("job", "normal", "New job"),
        ("social", "high", "Bob mentioned you"),
        ("job", "normal", "Newest job"),
    ] {
        let answer = backend
            .post(
                "/api/notifications",
                &json!({"to": ["alice"], "category": category, "priority": priority, "title": title}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let started = bob
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "alice"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let conversation = started.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let sent = bob
        .post(
            &format!("/api/conversations/{conversation}/messages"),
            &json!({"body": "Lunch?", "client_id": "c1"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);

    let answer = alice.post("/fn/dashboard", &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let summary: serde_json::Value = answer.json();
    // Bob's message is a notification too (category "message").
    assert_eq!(summary["unread_count"], 6);
    assert_eq!(
        summary["by_category"],
        json!([
            {"category": "job", "unread": 3},
            {"category": "message", "unread": 1},
            {"category": "payment", "unread": 1},
            {"category": "social", "unread": 1}
        ])
    );
    let titles: Vec<&str> = summary["pressing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 5);
    assert_eq!(titles[..2], ["Card declined", "Bob mentioned you"]);
    assert!(!titles.contains(&"Old low job"), "{titles:?}");
    assert!(titles[2..].contains(&"Newest job"));
    let chats = summary["conversations"].as_array().unwrap();
    assert_eq!(
        chats,
        &[json!({
            "id": conversation,
            "title": bob_user["display_name"],
            "unread": 1,
            "preview": "Lunch?"
        })],
        "as Alice sees it"
    );
    assert!(summary["cursor"].as_i64().unwrap() >= 6);

    // Only the signed-in user's own news, and only for the signed in.
    let bobs: serde_json::Value = bob.post("/fn/dashboard", &json!({})).await.json();
    assert_eq!(bobs["unread_count"], 0);
    assert_eq!(bobs["conversations"], json!([]));
    let stranger = server.client().post("/fn/dashboard", &json!({})).await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_notification_center_and_conversation_list_arrive_in_the_html() {
    let server = TestServer::start_with(options());
    let admin = admin_client(&server).await;
    let backend = token_client(&server, &admin, "html").await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    for n in 1..=25 {
        let answer = backend
            .post(
                "/api/notifications",
                &json!({"to": ["alice"], "category": "job", "title": format!("Shift number {n}"),
                        "actions": [{"label": "Take shift", "url": format!("/shifts/{n}")}]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let started = bob
        .post(
            "/api/conversations",
            &json!({"kind": "group", "title": "Weekend crew", "members": ["alice"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);

    let page = alice.get("/notifications").await;
    assert_eq!(page.status, StatusCode::OK);
    // The first page (20, newest first) is in the HTML, with its actions;
    // no "Loading" placeholder.
    // (Titles also appear in the serialized data the browser hydrates
    // from: count the rendered items.)
    assert_eq!(
        page.body
            .matches(r#"data-testid="notification-item""#)
            .count(),
        20
    );
    assert!(
        page.body.contains("Shift number 25</button>"),
        "newest item missing"
    );
    assert!(page.body.contains("Shift number 6</button>"));
    assert!(
        !page.body.contains("Shift number 5</button>"),
        "only the first page"
    );
    assert!(page.body.contains("Take shift</a>"));
    assert!(page.body.contains("Load more"));
    assert!(!page.body.contains("Loading notifications"));
    println!(
        "/notifications with its first page rendered: {} bytes of HTML",
        page.body.len()
    );

    let page = alice.get("/messages").await;
    assert!(
        page.body.contains("Weekend crew</span>"),
        "conversation list missing"
    );
    assert!(!page.body.contains("Loading conversations"));

    // The dashboard's news is in the HTML too.
    let page = alice.get("/").await;
    assert!(
        page.body.contains("You have 25 unread notifications"),
        "dashboard summary missing"
    );
    assert!(page.body.contains("Shift number 25</a>"));
}
