//! The event stream's connection lifecycle against the real server: wire
//! format of the opening, heartbeats, and the stream ending when its session
//! ends or the server shuts down.

mod common;

use std::time::Duration;

use common::{EventStream, PASSWORD, ServerOptions, TestServer};
use reqwest::StatusCode;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn stream_opens_with_retry_and_ready_and_proxy_safe_headers() {
    let server = TestServer::start();
    let client = server.client();
    client.register("alice").await;
    let mut stream = EventStream::open(&client, "/api/events", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["cache-control"], "no-cache");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    assert!(stream.headers.get("content-encoding").is_none());

    let first = stream.next_frame(WAIT).await.expect("retry frame");
    assert_eq!(first.retry, Some(2000));
    let ready = stream.next_event(WAIT).await.expect("ready");
    assert_eq!(ready.event.as_deref(), Some("ready"));
    assert_eq!(ready.id, None, "ephemeral events carry no id");
    let ready = ready.json();
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["cursor"], 0);
    // The stream's id, for changing its topics.
    assert!(!ready["connection_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn pages_are_compressed_but_event_streams_never_are() {
    let server = TestServer::start();
    let client = server.client();
    client.register("alice").await;
    let page = client
        .send(
            client
                .request(reqwest::Method::GET, "/login")
                .header("accept-encoding", "gzip"),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-encoding"], "gzip");
    let stream = EventStream::open(&client, "/api/events", &[("accept-encoding", "gzip")]).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(
        stream.headers.get("content-encoding").is_none(),
        "event stream was compressed"
    );
}

#[tokio::test]
async fn anonymous_clients_get_401_not_a_stream() {
    let server = TestServer::start();
    let client = server.client();
    let answer = client.get("/api/events").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error_code(), "unauthorized");
}

#[tokio::test]
async fn heartbeat_comments_keep_the_stream_alive() {
    let server = TestServer::start_with(ServerOptions::default().env("HERALD_HEARTBEAT_SECS", "1"));
    let client = server.client();
    client.register("alice").await;
    let mut stream = EventStream::open(&client, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");
    for _ in 0..2 {
        let ping = stream.next_frame(WAIT).await.expect("heartbeat");
        assert_eq!(ping.comments, vec!["ping".to_owned()]);
        assert!(ping.event.is_none());
    }
}

#[tokio::test]
async fn logout_closes_the_sessions_open_streams_only() {
    let server = TestServer::start();
    let laptop = server.client();
    laptop.register("alice").await;
    let phone = server.client();
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::OK);

    let mut laptop_stream = EventStream::open(&laptop, "/api/events", &[]).await;
    let mut laptop_second = EventStream::open(&laptop, "/api/events", &[]).await;
    let mut phone_stream = EventStream::open(&phone, "/api/events", &[]).await;
    for stream in [&mut laptop_stream, &mut laptop_second, &mut phone_stream] {
        stream.next_event(WAIT).await.expect("ready");
    }

    assert_eq!(
        laptop.post("/api/auth/logout", &json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        laptop_stream.ends_within(WAIT).await,
        "stream outlived its session"
    );
    assert!(
        laptop_second.ends_within(WAIT).await,
        "second tab's stream outlived its session"
    );
    assert!(
        !phone_stream.ends_within(Duration::from_millis(500)).await,
        "another session's stream was closed"
    );
    // Reconnecting with the ended session is refused.
    assert_eq!(
        EventStream::open(&laptop, "/api/events", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn password_change_and_disabling_close_streams() {
    let server = TestServer::start_with(
        ServerOptions::default()
            .env("HERALD_ADMIN_USERNAME", "root")
            .env("HERALD_ADMIN_PASSWORD", "admin password 1"),
    );
    let laptop = server.client();
    let alice = laptop.register("alice").await;
    let phone = server.client();
    phone.login("alice", PASSWORD).await;
    let mut phone_stream = EventStream::open(&phone, "/api/events", &[]).await;
    phone_stream.next_event(WAIT).await.expect("ready");
    let changed = laptop
        .post(
            "/api/auth/password",
            &json!({"current_password": PASSWORD, "new_password": "another password"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert!(
        phone_stream.ends_within(WAIT).await,
        "password change left a stream open"
    );

    let mut laptop_stream = EventStream::open(&laptop, "/api/events", &[]).await;
    laptop_stream.next_event(WAIT).await.expect("ready");
    let admin = server.client();
    admin.login("root", "admin password 1").await;
    let id = alice["id"].as_i64().unwrap();
    let disabled = admin
        .send(
            admin
                .request(reqwest::Method::PATCH, &format!("/api/users/{id}"))
                .json(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert!(
        laptop_stream.ends_within(WAIT).await,
        "disabling left a stream open"
    );
}

#[tokio::test]
async fn a_stream_ends_when_its_session_expires() {
    let server =
        TestServer::start_with(ServerOptions::default().env("HERALD_SESSION_ABSOLUTE_SECS", "2"));
    let client = server.client();
    client.register("alice").await;
    let mut stream = EventStream::open(&client, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");
    assert!(
        stream.ends_within(WAIT).await,
        "stream outlived its session"
    );
    assert_eq!(
        client.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_open_stream_keeps_an_idle_limited_session_alive() {
    let server = TestServer::start_with(
        ServerOptions::default()
            .env("HERALD_SESSION_IDLE_SECS", "4")
            .env("HERALD_HEARTBEAT_SECS", "1"),
    );
    let client = server.client();
    client.register("alice").await;
    let mut stream = EventStream::open(&client, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");
    // Twice the idle limit with no request but the open stream.
    for _ in 0..8 {
        stream.next_frame(WAIT).await.expect("heartbeat");
    }
    assert_eq!(client.get("/api/auth/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_ends_open_streams_at_once() {
    let mut server =
        TestServer::start_with(ServerOptions::default().env("HERALD_SHUTDOWN_GRACE_SECS", "30"));
    let client = server.client();
    client.register("alice").await;
    let mut stream = EventStream::open(&client, "/api/events", &[]).await;
    stream.next_event(WAIT).await.expect("ready");

    // With a 30 s grace period, exiting before it proves the stream was
    // ended by the shutdown rather than waited for.
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("exited before the grace period");
    assert!(status.success());
    assert!(stream.ends_within(WAIT).await);
    assert!(
        !server.logs().contains("grace period over"),
        "{}",
        server.logs()
    );
}
