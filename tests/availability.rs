//! Availability under hostile clients, with real sockets against the real
//! binary: idle, one-byte, HTTP/2-preface and dribbling connections are
//! closed; connection caps refuse promptly; a stalled event stream lets its
//! socket go; uploads are checked before their body is read and bounded;
//! groups grow in linear work; and the per-user limits answer 429.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Api, EventStream, TestServer, admin_client, admin_options};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

fn addr(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port))
}

/// Connects from the loopback address `from` (127.0.0.x), so tests can be
/// several clients at once.
async fn connect_from(server: &TestServer, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr(server)).await.unwrap()
}

/// Reads until the server closes the connection (or `limit` passes):
/// what it sent, and how long it took. `None` when it stayed open.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&received).into_owned(),
                    started.elapsed(),
                ));
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let server = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_HEADER_READ_TIMEOUT_SECS", "1"),
    );
    let openings: [(&str, &[u8]); 5] = [
        ("silent", b""),
        ("one byte", b"G"),
        ("partial request line", b"GET /healthz HTT"),
        ("partial h2c preface", b"PRI * HTTP/2.0\r\n\r\nSM"),
        ("full h2c preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ];
    let mut sockets = Vec::new();
    for (name, bytes) in openings {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        sockets.push((name, stream));
    }
    for (name, mut stream) in sockets {
        let closed = read_until_closed(&mut stream, Duration::from_secs(6)).await;
        let (answer, after) = closed.unwrap_or_else(|| panic!("{name}: still open after 6 s"));
        println!(
            "{name}: closed after {after:?} ({} bytes answered)",
            answer.len()
        );
        assert!(!answer.contains("200 OK"), "{name}: {answer}");
    }
    // A request completed in time is served on the same kind of socket.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, WAIT).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_dribbled_body_gets_408_and_a_closed_connection() {
    let server = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_BODY_READ_TIMEOUT_SECS", "2"),
    );
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    let body = br#"{"username":"alice","password":"correct horse battery"}"#;
    stream
        .write_all(
            format!(
                "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // One byte every 400 ms: the whole body would take 22 s.
    for byte in body {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buffer = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let rest = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    if let Some((more, _)) = &rest {
        answer.extend_from_slice(more.as_bytes());
    }
    let answer = String::from_utf8_lossy(&answer);
    println!("dribbled body answered after {:?}", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(rest.is_some(), "the connection stayed open after 408");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn connection_caps_refuse_at_once_and_leave_room_for_others() {
    let server = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_MAX_CONNECTIONS_PER_IP", "20")
            .env("HERALD_MAX_CONNECTIONS", "30"),
    );
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from(&server, [127, 0, 0, 2]).await);
    }
    // Let the server count them before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from(&server, [127, 0, 0, 2]).await;
    let (answer, after) = read_until_closed(&mut over, Duration::from_secs(2))
        .await
        .expect("the 21st connection from one address is closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    println!("per-address cap: refused in {after:?}");

    // Another address still gets in, up to the total.
    let api = server.client();
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    for _ in 0..10 {
        held.push(connect_from(&server, [127, 0, 0, 3]).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from(&server, [127, 0, 0, 4]).await;
    let (answer, _) = read_until_closed(&mut over, Duration::from_secs(2))
        .await
        .expect("a connection past the total is closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    // Closing some makes room again.
    held.truncate(5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.client().get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn healthz_answers_while_thousands_of_silent_sockets_are_open() {
    let limit = herald::server::serve::raise_file_limit();
    let count = 3000.min(limit.saturating_sub(500) as usize);
    let server = TestServer::start();
    let mut silent = Vec::with_capacity(count);
    for i in 0..count {
        // Spread over addresses: the per-address cap is for one client.
        let from = [127, 0, 1, (i % 200) as u8 + 1];
        silent.push(connect_from(&server, from).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let api = server.client();
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
        times.push(started.elapsed());
    }
    println!("/healthz with {count} silent sockets open: {times:?}");
    drop(silent);
}

/// Publishes `count` notifications of about 2 KB to `to`.
async fn publish_large(admin: &Api, to: &str, count: usize) {
    let body = "x".repeat(1900);
    for i in 0..count {
        let answer = admin
            .post(
                "/api/notifications",
                &json!({"to": [to], "category": "system", "priority": "low",
                        "title": format!("bulk {i}"), "body": body}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
}

/// Opens `/api/events` for `cookie` on a socket that reads nothing and
/// has a tiny receive buffer, so the server's writes stall quickly.
async fn stalled_stream(server: &TestServer, cookie: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr(server)).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /api/events HTTP/1.1\r\nHost: x\r\nCookie: herald_session={cookie}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

async fn session_of(server: &TestServer, name: &str) -> (Api, String) {
    let api = server.client();
    api.register(name).await;
    let answer = api.login(name, common::PASSWORD).await;
    let cookie = api.session_cookie(&answer).expect("session cookie");
    (api, cookie)
}

#[tokio::test]
async fn a_dropped_slow_stream_keeps_counting_until_its_socket_is_gone() {
    let server = TestServer::start_with(
        admin_options()
            .env("HERALD_CONNECTION_QUEUE", "4")
            .env("HERALD_MAX_CONNECTIONS_PER_USER", "1")
            .env("HERALD_WRITE_TIMEOUT_SECS", "3"),
    );
    let admin = admin_client(&server).await;
    let (api, cookie) = session_of(&server, "slowpoke").await;
    let mut stalled = stalled_stream(&server, &cookie).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Until the socket buffers are full and then the queue of 4.
    let mut published = 0;
    loop {
        publish_large(&admin, "slowpoke", 100).await;
        published += 100;
        let status = admin.get("/api/status").await.json::<serde_json::Value>();
        if status["slow_consumers_dropped_total"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(published < 10_000, "never dropped: {status}");
    }
    println!("dropped as a slow consumer after {published} events");
    // Dropped by the hub but its socket is still open: it still counts.
    let second = api.get("/api/events").await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.body
    );

    // Without the client reading a byte, the stalled write times out: the
    // body is dropped (the stream stops counting) and the socket is reset.
    let started = Instant::now();
    loop {
        let attempt = EventStream::open(&api, "/api/events", &[]).await;
        if attempt.status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stalled stream still counts"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "stalled stream released {:?} after its drop was seen",
        started.elapsed()
    );
    let closed = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the stalled socket is still open");
    // And the user may connect again.
    let mut stream = EventStream::open(&api, "/api/events", &[]).await;
    assert!(stream.next_event(WAIT).await.is_some());
}

#[tokio::test]
async fn uploads_check_membership_before_the_body_and_have_a_quota() {
    let server = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_UPLOAD_QUOTA_BYTES", "100000")
            .env("HERALD_MAX_CONCURRENT_UPLOADS", "1"),
    );
    let (alice, _) = session_of(&server, "alice").await;
    let (_, mallory_cookie) = session_of(&server, "mallory").await;
    server.client().register("bob").await;
    let created = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    let id = created.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();

    // A non-member announcing 10 MB is refused before sending any of it.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /api/conversations/{id}/attachments HTTP/1.1\r\nHost: x\r\nCookie: herald_session={mallory_cookie}\r\n\
                 Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buffer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buffer[..n]);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    let upload = |size: usize| {
        let alice = alice.clone();
        async move {
            let part = reqwest::multipart::Part::bytes(vec![b'a'; size]).file_name("notes.txt");
            let form = reqwest::multipart::Form::new().part("file", part);
            alice
                .send(
                    alice
                        .request(
                            reqwest::Method::POST,
                            &format!("/api/conversations/{id}/attachments"),
                        )
                        .multipart(form),
                )
                .await
        }
    };
    assert_eq!(upload(60_000).await.status, StatusCode::CREATED);
    let over = upload(60_000).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", over.body);
    assert_eq!(over.error_code(), "quota_exceeded");

    // One upload at a time: a second one while the first trickles in is 429.
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    let alice_cookie = {
        let answer = alice.login("alice", common::PASSWORD).await;
        alice.session_cookie(&answer).unwrap()
    };
    slow.write_all(
        format!(
            "POST /api/conversations/{id}/attachments HTTP/1.1\r\nHost: x\r\nCookie: herald_session={alice_cookie}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = upload(10).await;
    assert_eq!(busy.status, StatusCode::TOO_MANY_REQUESTS, "{}", busy.body);
    assert!(busy.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn groups_grow_by_small_deltas_up_to_their_limit() {
    let server = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_MAX_GROUP_MEMBERS", "4"),
    );
    let (alice, _) = session_of(&server, "alice").await;
    let (bob, _) = session_of(&server, "bob").await;
    let carol = server.client().register("carol").await;
    for name in ["dave", "erin"] {
        server.client().register(name).await;
    }
    let created = alice
        .post(
            "/api/conversations",
            &json!({"kind": "group", "title": "Team", "members": ["bob"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let mut bob_stream = EventStream::open(&bob, "/api/events", &[]).await;
    bob_stream.next_event(WAIT).await; // ready

    let added = alice
        .post(
            &format!("/api/conversations/{id}/members"),
            &json!({"username": "carol"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{}", added.body);
    let frame = bob_stream.next_event(WAIT).await.expect("a delta for bob");
    assert_eq!(frame.event.as_deref(), Some("conversation_member_added"));
    let data = frame.json();
    assert_eq!(data["member"]["username"], "carol");
    assert!(data.get("conversation").is_none(), "{data}");

    assert_eq!(
        alice
            .post(
                &format!("/api/conversations/{id}/members"),
                &json!({"username": "dave"})
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let full = alice
        .post(
            &format!("/api/conversations/{id}/members"),
            &json!({"username": "erin"}),
        )
        .await;
    assert_eq!(full.status, StatusCode::CONFLICT, "{}", full.body);
    assert_eq!(full.error_code(), "group_full");

    let removed = alice
        .delete(&format!("/api/conversations/{id}/members/carol"))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    loop {
        let frame = bob_stream.next_event(WAIT).await.expect("the removal");
        if frame.event.as_deref() == Some("conversation_member_removed") {
            assert_eq!(frame.json()["user_id"], carol["id"]);
            break;
        }
    }
    // The list reflects every change.
    let conversation = bob.get(&format!("/api/conversations/{id}")).await;
    let members: Vec<String> = conversation.json::<serde_json::Value>()["conversation"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members, ["alice", "bob", "dave"]);
}

#[tokio::test]
async fn registration_conversations_membership_and_typing_are_limited() {
    let server = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_REGISTRATIONS_PER_IP_PER_HOUR", "3")
            .env("HERALD_CONVERSATIONS_PER_MINUTE", "2")
            .env("HERALD_MEMBERSHIP_CHANGES_PER_MINUTE", "2"),
    );
    let (alice, _) = session_of(&server, "alice").await;
    let (bob, _) = session_of(&server, "bob").await;
    server.client().register("carol").await;
    let fourth = server
        .client()
        .post(
            "/api/auth/register",
            &json!({"username": "dave", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(
        fourth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fourth.body
    );
    assert!(fourth.headers.contains_key("retry-after"));

    let direct = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    assert_eq!(direct.status, StatusCode::CREATED);
    let id = direct.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let group = alice
        .post(
            "/api/conversations",
            &json!({"kind": "group", "title": "G", "members": ["bob"]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    let group_id = group.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let third = alice
        .post(
            "/api/conversations",
            &json!({"kind": "group", "title": "H", "members": ["bob"]}),
        )
        .await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.body
    );
    assert_eq!(third.error_code(), "rate_limited");

    let members = format!("/api/conversations/{group_id}/members");
    assert_eq!(
        alice
            .post(&members, &json!({"username": "carol"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice
            .delete(&format!("/api/conversations/{group_id}/members/carol"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let limited = alice.post(&members, &json!({"username": "carol"})).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );

    // 50 typing signals in a burst reach bob as one; a change passes.
    let mut bob_stream = EventStream::open(&bob, "/api/events", &[]).await;
    bob_stream.next_event(WAIT).await; // ready
    let typing = format!("/api/conversations/{id}/typing");
    for _ in 0..50 {
        assert_eq!(
            alice
                .post(&typing, &json!({"is_typing": true}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        alice
            .post(&typing, &json!({"is_typing": false}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // A message is the sentinel: every typing signal came before it.
    alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            &json!({"body": "done"}),
        )
        .await;
    let mut signals = Vec::new();
    loop {
        let frame = bob_stream.next_event(WAIT).await.expect("the sentinel");
        match frame.event.as_deref() {
            Some("typing") => signals.push(frame.json()["is_typing"].as_bool().unwrap()),
            Some("message") => break,
            _ => {}
        }
    }
    assert_eq!(signals, [true, false]);
}

/// A full disk is reported as such, and writes come back by themselves:
/// publishing answers 503 `storage_full` with `Retry-After` (never a 500),
/// `/healthz` answers 503 with the reason and the status report shows it,
/// nothing half-written is delivered, and once retention frees space the
/// writer's probe notices, `/healthz` is 200 again and publishing works.
/// The database's size limit stands in for the disk: SQLite answers
/// `SQLITE_FULL` for both.
#[tokio::test]
async fn a_full_disk_answers_503_and_writes_recover_by_themselves() {
    let server = TestServer::start_with(
        admin_options()
            .env("HERALD_MAX_DATABASE_BYTES", "800000")
            .env("HERALD_EVENT_RETENTION_PER_USER", "1")
            .env("HERALD_EVENT_RETENTION_INTERVAL_SECS", "3"),
    );
    if server.on_postgres() {
        // The size limit is SQLite's (`max_page_count`); PostgreSQL's own
        // disk_full answer is mapped the same way but cannot be provoked here.
        return;
    }
    let admin = admin_client(&server).await;
    server.client().register("fills").await;
    let request =
        json!({"to": ["fills"], "category": "system", "title": "t", "body": "x".repeat(2000)});
    let publish = || admin.post("/api/notifications", &request);

    let mut observed_full = false;
    for _ in 0..5 {
        let mut refused = None;
        for _ in 0..2000 {
            let answer = publish().await;
            if answer.status != StatusCode::ACCEPTED {
                refused = Some(answer);
                break;
            }
        }
        let refused = refused.expect("the size limit was never reached");
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            refused.body
        );
        assert_eq!(refused.error_code(), "storage_full");
        assert!(refused.headers.contains_key("retry-after"));
        let health = server.client().get("/healthz").await;
        let status: serde_json::Value = admin.get("/api/status").await.json();
        if health.status == StatusCode::OK {
            // Retention freed space between the refusal and the check: fill again.
            continue;
        }
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(health.body.starts_with("storage_full"), "{}", health.body);
        assert_eq!(
            status["database"]["write_fault"], "storage_full",
            "{status}"
        );
        observed_full = true;
        break;
    }
    assert!(observed_full, "the full storage was never reported");

    // Retention prunes all but the newest event; the probe sees the space.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if server.client().get("/healthz").await.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "writes never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = publish().await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert!(
        !server.logs().contains("panicked"),
        "the server panicked: {}",
        server.logs()
    );
}
