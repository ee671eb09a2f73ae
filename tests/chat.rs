//! Chat against the real server: conversations, membership on every
//! route, live messages with exact replay, read markers, typing and
//! presence, the send rate, attachments, and the collapsed "message"
//! notification.

mod common;

use std::time::Duration;

use common::{Api, EventStream, TestServer, admin_client, admin_options};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

async fn user(server: &TestServer, name: &str) -> (Api, i64) {
    let api = server.client();
    let user = api.register(name).await;
    (api, user["id"].as_i64().expect("user id"))
}

async fn direct(api: &Api, with: &str) -> i64 {
    let answer = api
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": with}),
        )
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    answer.json::<Value>()["conversation"]["id"]
        .as_i64()
        .expect("id")
}

async fn group(api: &Api, title: &str, members: &[&str]) -> i64 {
    let answer = api
        .post(
            "/api/conversations",
            &json!({"kind": "group", "title": title, "members": members}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.json::<Value>()["conversation"]["id"]
        .as_i64()
        .expect("id")
}

async fn send(api: &Api, conversation: i64, body: &str) -> Value {
    let answer = api
        .post(
            &format!("/api/conversations/{conversation}/messages"),
            &json!({ "body": body }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.json::<Value>()["message"].clone()
}

/// The next event named `name`, skipping others.
async fn next_named(stream: &mut EventStream, name: &str) -> common::Frame {
    loop {
        let frame = stream.next_event(WAIT).await.expect("stream ended");
        if frame.event.as_deref() == Some(name) {
            return frame;
        }
    }
}

/// Everything `stream` (of `username`, signed in as `user`) receives
/// before a sentinel notification published to them now. One user's events
/// arrive in the order they were announced, so "nothing before the
/// sentinel" is exact, with no quiet window a late leak could slip past.
/// The sentinel is deleted again, so unread counts stay as they were.
async fn before_sentinel(
    admin: &Api,
    user: &Api,
    username: &str,
    stream: &mut EventStream,
) -> Vec<common::Frame> {
    let published = admin
        .post(
            "/api/notifications",
            &json!({"to": [username], "category": "system", "title": "sentinel"}),
        )
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{}", published.body);
    let id = published.json::<Value>()["ids"][0].as_i64().expect("id");
    let mut frames = Vec::new();
    loop {
        let frame = stream.next_event(WAIT).await.expect("stream ended");
        if frame.event.as_deref() == Some("notification")
            && frame.json()["notification"]["id"] == id
        {
            break;
        }
        frames.push(frame);
    }
    let deleted = user.delete(&format!("/api/notifications/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    frames
}

async fn open(api: &Api) -> EventStream {
    let mut stream = EventStream::open(api, "/api/events", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    next_named(&mut stream, "ready").await;
    stream
}

async fn conversation(api: &Api, id: i64) -> Value {
    let answer = api.get(&format!("/api/conversations/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json::<Value>()["conversation"].clone()
}

#[tokio::test]
async fn conversations_are_created_once_listed_by_activity_and_private() {
    let server = TestServer::start();
    let (alice, alice_id) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;

    let first = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "Bob"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let created: Value = first.json();
    let id = created["conversation"]["id"].as_i64().unwrap();
    assert_eq!(created["conversation"]["kind"], "direct");
    assert_eq!(
        created["conversation"]["members"].as_array().unwrap().len(),
        2
    );
    assert_eq!(created["conversation"]["unread_count"], 0);
    assert!(created["conversation"]["last_message"].is_null());
    // The same pair, from either side: the same conversation, 200.
    let again = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json::<Value>()["conversation"]["id"], id);
    assert_eq!(direct(&bob, "alice").await, id);

    for (body, field) in [
        (json!({"kind": "direct", "with": "alice"}), "with"),
        (json!({"kind": "direct", "with": "nobody"}), "with"),
        (
            json!({"kind": "group", "title": "  ", "members": ["bob"]}),
            "title",
        ),
        (
            json!({"kind": "group", "title": "x", "members": ["ghost"]}),
            "members",
        ),
    ] {
        let answer = alice.post("/api/conversations", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json::<Value>()["error"]["field"], field, "{body}");
    }
    let bad_kind = alice
        .post("/api/conversations", &json!({"kind": "channel"}))
        .await;
    assert_eq!(bad_kind.status, StatusCode::BAD_REQUEST);

    let team = group(&alice, "Launch team", &["bob"]).await;
    let shown = conversation(&alice, team).await;
    assert_eq!(shown["title"], "Launch team");
    assert_eq!(shown["created_by"], alice_id);

    // Most recent activity first: a message moves the direct one up.
    let list: Value = alice.get("/api/conversations").await.json();
    assert_eq!(list["conversations"][0]["id"], team);
    send(&bob, id, "hello").await;
    let list: Value = alice.get("/api/conversations").await.json();
    assert_eq!(list["conversations"][0]["id"], id);
    assert_eq!(list["conversations"][0]["last_message"]["body"], "hello");
    assert_eq!(list["conversations"][0]["unread_count"], 1);

    // Carol is in neither: everything under them is 404, the same answer
    // as for a conversation that does not exist.
    assert_eq!(
        carol.get("/api/conversations").await.json::<Value>()["conversations"],
        json!([])
    );
    for conversation in [id, team, 999_999] {
        let base = format!("/api/conversations/{conversation}");
        let answers = [
            carol.get(&base).await,
            carol.get(&format!("{base}/messages")).await,
            carol
                .post(&format!("{base}/messages"), &json!({"body": "hi"}))
                .await,
            carol
                .post(&format!("{base}/typing"), &json!({"is_typing": true}))
                .await,
            carol
                .post(&format!("{base}/read"), &json!({"up_to_message_id": 1}))
                .await,
            carol
                .post(&format!("{base}/viewing"), &json!({"viewing": true}))
                .await,
            carol
                .post(&format!("{base}/members"), &json!({"username": "carol"}))
                .await,
            carol.delete(&format!("{base}/members/bob")).await,
            carol
                .send(
                    carol
                        .request(reqwest::Method::POST, &format!("{base}/attachments"))
                        .multipart(reqwest::multipart::Form::new().part(
                            "file",
                            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png"),
                        )),
                )
                .await,
        ];
        for answer in answers {
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
            assert_eq!(answer.error_code(), "not_found");
        }
    }
    let anonymous = server.client();
    assert_eq!(
        anonymous.get("/api/conversations").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn messages_reach_every_member_live_and_replay_exactly() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let (alice, alice_id) = user(&server, "alice").await;
    let (bob, bob_id) = user(&server, "bob").await;
    let id = direct(&alice, "bob").await;
    let mut bob_stream = open(&bob).await;
    let mut alice_stream = open(&alice).await;

    let mut sent = Vec::new();
    for n in 1..=3 {
        sent.push(send(&alice, id, &format!("message {n}")).await);
    }
    let mut seqs = Vec::new();
    for expected in &sent {
        let frame = next_named(&mut bob_stream, "message").await;
        let data = frame.json();
        assert_eq!(data["message"], *expected);
        assert_eq!(data["message"]["sender"]["username"], "alice");
        seqs.push(
            frame
                .id
                .expect("stored events have ids")
                .parse::<i64>()
                .unwrap(),
        );
        let own = next_named(&mut alice_stream, "message").await;
        assert_eq!(own.json()["message"]["id"], expected["id"]);
    }

    // Bob resumes right after the first message: exactly the rest again.
    let resume_from = seqs[0].to_string();
    let mut resumed =
        EventStream::open(&bob, "/api/events", &[("last-event-id", &resume_from)]).await;
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        let frame = next_named(&mut resumed, "message").await;
        bodies.push(frame.json()["message"]["body"].as_str().unwrap().to_owned());
    }
    assert_eq!(bodies, ["message 2", "message 3"]);

    // A repeated client_id returns the first message and sends nothing.
    let with_id = json!({"body": "once", "client_id": "c-1"});
    let path = format!("/api/conversations/{id}/messages");
    let first = alice.post(&path, &with_id).await;
    let second = alice.post(&path, &with_id).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(
        first.json::<Value>()["message"]["id"],
        second.json::<Value>()["message"]["id"]
    );
    assert_eq!(first.json::<Value>()["message"]["client_id"], "c-1");
    assert_eq!(
        next_named(&mut bob_stream, "message").await.json()["message"]["body"],
        "once"
    );
    let extra: Vec<_> = before_sentinel(&admin, &bob, "bob", &mut bob_stream)
        .await
        .into_iter()
        .filter(|f| f.event.as_deref() == Some("message"))
        .collect();
    assert!(extra.is_empty(), "a repeat was sent again: {extra:?}");

    // Limits, with the field named.
    for (body, field) in [
        (json!({"body": "   "}), "body"),
        (json!({"body": "x".repeat(4001)}), "body"),
        (json!({"body": "x", "client_id": ""}), "client_id"),
        (
            json!({"body": "x", "attachment_ids": [12345]}),
            "attachment_ids",
        ),
    ] {
        let answer = alice.post(&path, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.json::<Value>()["error"]["field"], field);
    }
    assert_eq!(
        alice
            .post(&path, &json!({"body": "é".repeat(4000)}))
            .await
            .status,
        StatusCode::CREATED
    );

    // Pages: oldest first within a page, older pages by `before`.
    let page: Value = bob.get(&format!("{path}?limit=2")).await.json();
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages[0]["id"].as_i64() < messages[1]["id"].as_i64());
    assert_eq!(page["has_more"], true);
    let older: Value = bob
        .get(&format!("{path}?limit=100&before={}", messages[0]["id"]))
        .await
        .json();
    let older_bodies: Vec<&str> = older["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(older_bodies, ["message 1", "message 2", "message 3"]);
    assert_eq!(older["has_more"], false);
    assert_eq!(
        bob.get(&format!("{path}?limit=0")).await.status,
        StatusCode::BAD_REQUEST
    );

    // Read markers: Bob has 5 unread; reading tells both of them.
    assert_eq!(conversation(&bob, id).await["unread_count"], 5);
    assert_eq!(conversation(&alice, id).await["unread_count"], 0);
    let newest = messages[1]["id"].as_i64().unwrap();
    let read = bob
        .post(
            &format!("/api/conversations/{id}/read"),
            &json!({"up_to_message_id": newest + 1000}),
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    let receipt = next_named(&mut alice_stream, "conversation_read")
        .await
        .json();
    assert_eq!(
        receipt,
        json!({"type": "conversation_read", "conversation_id": id, "user_id": bob_id, "up_to_message_id": newest})
    );
    let seen = conversation(&alice, id).await;
    assert_eq!(seen["unread_count"], 0);
    let markers = seen["read_markers"].as_array().unwrap();
    assert!(markers.contains(&json!({"user_id": bob_id, "up_to_message_id": newest})));
    assert!(markers.contains(&json!({"user_id": alice_id, "up_to_message_id": newest})));
    assert_eq!(conversation(&bob, id).await["unread_count"], 0);
}

#[tokio::test]
async fn sending_is_limited_to_100_messages_a_minute() {
    let server = TestServer::start();
    let (alice, _) = user(&server, "alice").await;
    user(&server, "bob").await;
    let id = direct(&alice, "bob").await;
    let path = format!("/api/conversations/{id}/messages");
    for n in 0..100 {
        let answer = alice
            .post(
                &path,
                &json!({"body": format!("{n}"), "client_id": format!("m{n}")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "message {n}");
    }
    let refused = alice.post(&path, &json!({"body": "one more"})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_code(), "rate_limited");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        refused.json::<Value>()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("You can send again in")
    );
    // A retry of a message that went through is still answered.
    let repeat = alice
        .post(&path, &json!({"body": "99", "client_id": "m99"}))
        .await;
    assert_eq!(repeat.status, StatusCode::CREATED);
}

#[tokio::test]
async fn typing_and_presence_reach_only_people_who_share_a_conversation() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let (alice, alice_id) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;
    let id = direct(&alice, "bob").await;
    // Presence is shown where the person has written (tests/security.rs
    // checks that opening a conversation alone reveals nothing).
    send(&alice, id, "hello").await;
    let mut bob_stream = open(&bob).await;
    let mut carol_stream = open(&carol).await;

    // Alice connects: Bob hears it, Carol (no shared conversation) does not.
    let mut alice_stream = open(&alice).await;
    let online = next_named(&mut bob_stream, "presence").await;
    assert_eq!(online.id, None, "ephemeral events carry no id");
    assert_eq!(
        online.json(),
        json!({"type": "presence", "user_id": alice_id, "online": true})
    );
    let listed: Value = bob.get("/api/conversations").await.json();
    let presence = listed["conversations"][0]["presence"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        presence
            .iter()
            .any(|p| p["user_id"] == alice_id && p["online"] == true)
    );

    let typing = alice
        .post(
            &format!("/api/conversations/{id}/typing"),
            &json!({"is_typing": true}),
        )
        .await;
    assert_eq!(typing.status, StatusCode::NO_CONTENT);
    let frame = next_named(&mut bob_stream, "typing").await;
    assert_eq!(frame.id, None);
    let data = frame.json();
    assert_eq!(data["conversation_id"], id);
    assert_eq!(data["user"]["username"], "alice");
    assert_eq!(data["is_typing"], true);
    // Not to the typist, not to strangers.
    let alice_saw = before_sentinel(&admin, &alice, "alice", &mut alice_stream).await;
    assert!(
        alice_saw
            .iter()
            .all(|f| f.event.as_deref() != Some("typing"))
    );
    let carol_saw = before_sentinel(&admin, &carol, "carol", &mut carol_stream).await;
    assert!(
        carol_saw
            .iter()
            .all(|f| !matches!(f.event.as_deref(), Some("typing" | "presence"))),
        "{carol_saw:?}"
    );
    assert_eq!(
        alice
            .post(
                &format!("/api/conversations/{id}/typing"),
                &json!({"is_typing": "yes"})
            )
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // Alice leaves: after a short grace Bob hears she is offline, and the
    // list says when she was last seen.
    drop(alice_stream);
    let offline = next_named(&mut bob_stream, "presence").await;
    assert_eq!(
        offline.json(),
        json!({"type": "presence", "user_id": alice_id, "online": false})
    );
    let listed: Value = bob.get("/api/conversations").await.json();
    let alice_presence = listed["conversations"][0]["presence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == alice_id)
        .cloned()
        .unwrap();
    assert_eq!(alice_presence["online"], false);
    assert!(alice_presence["last_seen_at"].is_string());
}

#[tokio::test]
async fn group_members_are_managed_by_the_creator_and_removal_is_immediate() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, carol_id) = user(&server, "carol").await;
    let (dave, _) = user(&server, "dave").await;
    let id = group(&alice, "Ops", &["bob", "carol"]).await;
    let members = format!("/api/conversations/{id}/members");
    let mut carol_stream = open(&carol).await;
    let mut bob_stream = open(&bob).await;

    let not_creator = bob.post(&members, &json!({"username": "dave"})).await;
    assert_eq!(not_creator.status, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.delete(&format!("{members}/carol")).await.status,
        StatusCode::FORBIDDEN
    );
    let unknown = alice.post(&members, &json!({"username": "ghost"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // Carol is removed: she is told, and nothing of the group reaches her
    // afterwards.
    assert_eq!(
        alice.delete(&format!("{members}/carol")).await.status,
        StatusCode::NO_CONTENT
    );
    let removed = next_named(&mut carol_stream, "conversation_removed").await;
    assert_eq!(removed.json()["conversation_id"], id);
    // The others get a small delta, not the whole conversation.
    let left = next_named(&mut bob_stream, "conversation_member_removed")
        .await
        .json();
    assert_eq!(left["conversation_id"], id);
    assert_eq!(left["user_id"], carol_id);
    assert_eq!(
        conversation(&bob, id).await["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    send(&alice, id, "after carol left").await;
    alice
        .post(
            &format!("/api/conversations/{id}/typing"),
            &json!({"is_typing": true}),
        )
        .await;
    assert_eq!(
        next_named(&mut bob_stream, "message").await.json()["message"]["body"],
        "after carol left"
    );
    let carol_saw = before_sentinel(&admin, &carol, "carol", &mut carol_stream).await;
    assert!(
        carol_saw
            .iter()
            .all(|f| !matches!(f.event.as_deref(), Some("message" | "typing"))),
        "{carol_saw:?}"
    );
    assert_eq!(
        carol
            .get(&format!("/api/conversations/{id}/messages"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Dave is added: he is told, sees the history, and starts with
    // nothing unread.
    let mut dave_stream = open(&dave).await;
    assert_eq!(
        alice
            .post(&members, &json!({"username": "dave"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let added = next_named(&mut dave_stream, "conversation_updated")
        .await
        .json();
    assert_eq!(added["conversation"]["id"], id);
    assert_eq!(added["conversation"]["unread_count"], 0);
    let history: Value = dave
        .get(&format!("/api/conversations/{id}/messages"))
        .await
        .json();
    assert_eq!(history["messages"][0]["body"], "after carol left");

    // Members may leave; the creator may not; direct chats have no members
    // to manage.
    assert_eq!(
        bob.delete(&format!("{members}/bob")).await.status,
        StatusCode::NO_CONTENT
    );
    let creator = alice.delete(&format!("{members}/alice")).await;
    assert_eq!(creator.status, StatusCode::CONFLICT);
    let pair = direct(&alice, "dave").await;
    let answer = alice
        .post(
            &format!("/api/conversations/{pair}/members"),
            &json!({"username": "bob"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.error_code(), "not_a_group");
}

fn upload_form(content: Vec<u8>, name: &str, claimed: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(content)
            .file_name(name.to_owned())
            .mime_str(claimed)
            .unwrap(),
    )
}

async fn upload(api: &Api, id: i64, content: Vec<u8>, name: &str, claimed: &str) -> common::Answer {
    api.send(
        api.request(
            reqwest::Method::POST,
            &format!("/api/conversations/{id}/attachments"),
        )
        .multipart(upload_form(content, name, claimed)),
    )
    .await
}

#[tokio::test]
async fn attachments_are_typed_by_content_limited_and_served_only_to_members() {
    let server = TestServer::start();
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;
    let id = direct(&alice, "bob").await;
    let other = direct(&alice, "carol").await;

    // A PNG named and claimed as text is a PNG.
    let image = upload(&alice, id, PNG.to_vec(), "notes.txt", "text/plain").await;
    assert_eq!(image.status, StatusCode::CREATED, "{}", image.body);
    let image: Value = image.json::<Value>()["attachment"].clone();
    assert_eq!(image["mime"], "image/png");
    assert_eq!(image["name"], "notes.txt");
    assert_eq!(image["size"], PNG.len());
    // HTML claimed as a PNG is text, and downloads as a file.
    let page = upload(
        &alice,
        id,
        b"<html><script>alert(1)</script></html>".to_vec(),
        "../../evil.png",
        "image/png",
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let page: Value = page.json::<Value>()["attachment"].clone();
    assert_eq!(page["mime"], "text/html");
    assert_eq!(page["name"], "evil.png");

    // Not sent yet: only the uploader may fetch it.
    let image_url = image["url"].as_str().unwrap().to_owned();
    assert_eq!(bob.get(&image_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(alice.get(&image_url).await.status, StatusCode::OK);

    // An upload belongs to its conversation and its uploader.
    let elsewhere = alice
        .post(
            &format!("/api/conversations/{other}/messages"),
            &json!({"body": "x", "attachment_ids": [image["id"]]}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    let not_mine = bob
        .post(
            &format!("/api/conversations/{id}/messages"),
            &json!({"body": "x", "attachment_ids": [image["id"]]}),
        )
        .await;
    assert_eq!(not_mine.status, StatusCode::BAD_REQUEST);

    let mut bob_stream = open(&bob).await;
    let sent = alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            &json!({"body": "", "attachment_ids": [image["id"], page["id"]]}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let message = next_named(&mut bob_stream, "message").await.json();
    assert_eq!(message["message"]["attachments"], json!([image, page]));

    let fetched = bob.get(&image_url).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.headers["content-type"], "image/png");
    assert_eq!(fetched.headers["x-content-type-options"], "nosniff");
    assert!(
        fetched.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    let raw = bob
        .http
        .get(server.url(&image_url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&raw[..], PNG);
    let download = bob.get(page["url"].as_str().unwrap()).await;
    assert_eq!(download.headers["content-type"], "text/html");
    assert!(
        download.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(carol.get(&image_url).await.status, StatusCode::NOT_FOUND);
    // Stored under generated names only.
    let stored: Vec<String> = std::fs::read_dir(server.data_dir().join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|n| n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit()))
    );

    // Over 10 MiB: 413, nothing stored.
    let big = upload(
        &alice,
        id,
        vec![0xffu8; 10 * 1024 * 1024 + 1],
        "big.bin",
        "application/octet-stream",
    )
    .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.body);
    let exactly = upload(
        &alice,
        id,
        vec![0xffu8; 10 * 1024 * 1024],
        "max.bin",
        "application/octet-stream",
    )
    .await;
    assert_eq!(exactly.status, StatusCode::CREATED);
    assert_eq!(
        exactly.json::<Value>()["attachment"]["mime"],
        "application/octet-stream"
    );
    let not_multipart = alice
        .post(&format!("/api/conversations/{id}/attachments"), &json!({}))
        .await;
    assert_eq!(not_multipart.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn message_notifications_collapse_per_conversation_and_spare_viewers() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let id = direct(&alice, "bob").await;
    let mut bob_stream = open(&bob).await;

    for n in 1..=20 {
        send(&alice, id, &format!("ping {n}")).await;
    }
    let mut kinds = Vec::new();
    while kinds.len() < 20 {
        let frame = bob_stream.next_event(WAIT).await.expect("stream");
        if let Some(kind @ ("notification" | "notification_updated")) = frame.event.as_deref() {
            kinds.push(kind.to_owned());
        }
    }
    assert_eq!(kinds[0], "notification");
    assert!(kinds[1..].iter().all(|k| k == "notification_updated"));
    let list: Value = bob.get("/api/notifications?category=message").await.json();
    let notifications = list["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 1, "twenty messages, one notification");
    let notification = &notifications[0];
    assert_eq!(notification["title"], "20 new messages from alice");
    assert_eq!(notification["body"], "ping 20");
    assert_eq!(notification["url"], format!("/messages/{id}"));
    assert_eq!(notification["key"], format!("conversation:{id}"));
    assert_eq!(notification["read"], false);
    assert_eq!(list["unread_count"], 1);

    // Reading the conversation reads its notification.
    let newest = conversation(&bob, id).await["last_message"]["id"].clone();
    bob.post(
        &format!("/api/conversations/{id}/read"),
        &json!({"up_to_message_id": newest}),
    )
    .await;
    let read = next_named(&mut bob_stream, "notifications_read")
        .await
        .json();
    assert_eq!(read["unread_count"], 0);

    // While Bob looks at the conversation, messages raise nothing.
    let viewing = format!("/api/conversations/{id}/viewing");
    assert_eq!(
        bob.post(&viewing, &json!({"viewing": true})).await.status,
        StatusCode::NO_CONTENT
    );
    let here = send(&alice, id, "you are here").await;
    next_named(&mut bob_stream, "message").await;
    bob.post(
        &format!("/api/conversations/{id}/read"),
        &json!({"up_to_message_id": here["id"]}),
    )
    .await;
    let quiet = before_sentinel(&admin, &bob, "bob", &mut bob_stream).await;
    assert!(
        quiet
            .iter()
            .all(|f| !f.event.as_deref().unwrap_or("").starts_with("notification")),
        "{quiet:?}"
    );
    // Once he looks away, the next one notifies again.
    bob.post(&viewing, &json!({"viewing": false})).await;
    send(&alice, id, "where did you go").await;
    let again = next_named(&mut bob_stream, "notification_updated")
        .await
        .json();
    assert_eq!(again["notification"]["title"], "New message from alice");
    assert_eq!(again["unread_count"], 1);
}
