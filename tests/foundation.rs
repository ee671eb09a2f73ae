//! The foundation against the real binary: start-up, configuration errors,
//! the database, health, pages, server functions, limits and shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{ServerOptions, TestServer, start_expecting_failure};
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_answers_ok_with_security_headers() {
    let server = TestServer::start();
    let answer = server.client().get("/healthz").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "ok");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn database_is_created_in_wal_mode() {
    let server = TestServer::start();
    if server.on_postgres() {
        return; // SQLite's own file format; PostgreSQL always logs ahead.
    }
    assert_eq!(server.client().get("/healthz").await.status, StatusCode::OK);
    let db = std::fs::read(server.data_dir().join("herald.db")).expect("database file");
    // SQLite's header: bytes 18 and 19 are the write/read format versions,
    // 2 meaning WAL. This reads the file itself, not what the server claims.
    assert_eq!(&db[..16], b"SQLite format 3\0");
    assert_eq!((db[18], db[19]), (2, 2), "journal mode is not WAL");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let server = TestServer::start();
    let client = server.client();
    for (path, next) in [
        ("/", "/"),
        ("/messages", "/messages"),
        ("/settings?x=1", "/settings%3Fx%3D1"),
    ] {
        let answer = client
            .send(
                client
                    .request(reqwest::Method::GET, path)
                    .header("accept", "text/html"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FOUND, "{path}");
        assert_eq!(
            answer.headers["location"],
            format!("/login?next={next}"),
            "{path}"
        );
    }
    let login = client.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.body.contains(r#"<label for="field-username""#),
        "{}",
        login.body
    );
    assert!(login.body.contains(r#"<label for="field-password""#));
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_navigation() {
    let server = TestServer::start();
    let client = server.client();
    client.register("alice").await;
    let answer = client.get("/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = answer.body;
    assert!(html.contains("<title>Dashboard · Herald</title>"), "{html}");
    for label in ["Dashboard", "Messages", "Settings"] {
        assert!(
            html.contains(&format!(">{label}</a>")),
            "no nav link {label}"
        );
    }
    assert!(html.contains(r#"aria-current="page""#));
    assert!(html.contains("Sign out"));
    assert!(html.contains("/pkg/herald.css"));
    // The server function's answer (the person's news) is rendered into
    // the page.
    assert!(html.contains("You're all caught up."), "{html}");
}

#[tokio::test]
async fn unknown_page_is_a_404_page() {
    let server = TestServer::start();
    let answer = server.client().get("/no/such/page").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("Page not found"));
    assert!(answer.body.contains("Back to the dashboard"));
}

#[tokio::test]
async fn system_info_server_function_reports_the_database() {
    let server = TestServer::start();
    // For signed-in users only (tests/security.rs checks strangers get 401).
    let alice = server.client();
    alice.register("alice").await;
    let answer = alice
        .send(
            alice
                .request(reqwest::Method::POST, "/fn/system_info")
                .header("content-type", "application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let info: herald::system::SystemReport = answer.json();
    let expected = if server.on_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    assert_eq!(info.database, expected);
    assert!(info.schema_version >= 1);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let server =
        TestServer::start_with(ServerOptions::default().env("HERALD_MAX_BODY_BYTES", "1024"));
    let client = server.client();
    let answer = client
        .send(
            client
                .request(reqwest::Method::POST, "/fn/system_info")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 4096]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let exited = start_expecting_failure(&[("HERALD_HEARTBEAT_SECS", "60")]);
    assert_eq!(exited.status.code(), Some(2));
    assert!(
        exited.stderr.contains("herald.heartbeat_secs"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("HERALD_HEARTBEAT_SECS"),
        "{}",
        exited.stderr
    );

    let exited = start_expecting_failure(&[("HERALD_ADDR", "not-an-address")]);
    assert_eq!(exited.status.code(), Some(2));
    assert!(exited.stderr.contains("herald.addr"), "{}", exited.stderr);

    let exited = start_expecting_failure(&[("HERALD_CONFIG", "/nonexistent.toml")]);
    assert_eq!(exited.status.code(), Some(2));
    assert!(
        exited.stderr.contains("/nonexistent.toml"),
        "{}",
        exited.stderr
    );
}

#[test]
fn unusable_data_directory_stops_start_up() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A regular file where a directory should be.
    let exited = start_expecting_failure(&[("HERALD_DATA_DIR", file.path().to_str().unwrap())]);
    assert!(!exited.status.success());
    assert!(
        exited.stderr.contains("data directory"),
        "{}",
        exited.stderr
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_with_a_connection_open() {
    let mut server = TestServer::start();
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let status = server
        .terminate(Duration::from_secs(20))
        .expect("server exited after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.logs()
    );
    assert!(server.logs().contains("stopped"));
}

#[test]
fn slow_header_senders_are_disconnected() {
    let server = TestServer::start_with(
        ServerOptions::default().env("HERALD_HEADER_READ_TIMEOUT_SECS", "1"),
    );
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Never finish the headers: the server must give up on us.
    let mut buf = Vec::new();
    let result = slow.read_to_end(&mut buf);
    assert!(
        result.is_ok(),
        "connection was not closed by the server: {result:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
}
