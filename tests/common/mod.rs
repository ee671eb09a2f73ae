//! Test harness: starts the real `herald` binary on a free port with a fresh
//! data directory (and, with `HERALD_TEST_DATABASE=postgres`, a fresh
//! PostgreSQL database) and gives tests a typed HTTP client.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod postgres;
pub mod push;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A running server process. Killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    pub base_url: String,
    pub port: u16,
    data_dir: tempfile::TempDir,
    /// The PostgreSQL database, when the tests run on PostgreSQL.
    database_url: Option<String>,
    logs: Arc<Mutex<Vec<String>>>,
    extra_env: Vec<(String, String)>,
}

/// Options for starting a server.
#[derive(Default, Clone)]
pub struct ServerOptions {
    pub env: Vec<(String, String)>,
}

impl ServerOptions {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// The admin account that [`admin_options`] makes the server ensure.
pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "admin password 1";

/// A server with the admin account [`ADMIN`] and no practical publish
/// limit (tests publish far more than a person would).
pub fn admin_options() -> ServerOptions {
    ServerOptions::default()
        .env("HERALD_ADMIN_USERNAME", ADMIN)
        .env("HERALD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HERALD_PUBLISH_RATE_PER_MINUTE", "1000000")
        .env("HERALD_SESSION_PUBLISH_RATE_PER_MINUTE", "1000000")
}

/// A client signed in as [`ADMIN`] on a server started with [`admin_options`].
pub async fn admin_client(server: &TestServer) -> Api {
    let admin = server.client();
    assert_eq!(
        admin.login(ADMIN, ADMIN_PASSWORD).await.status,
        StatusCode::OK
    );
    admin
}

/// A client authenticating with a new API token named `name`, created by
/// `admin` (an integrator's backend).
pub async fn token_client(server: &TestServer, admin: &Api, name: &str) -> Api {
    let created = admin
        .post("/api/tokens", &serde_json::json!({ "name": name }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.json::<serde_json::Value>()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    server.client().with_bearer(&token)
}

/// How the process ended when it was asked to, or failed to start.
pub struct Exited {
    pub status: ExitStatus,
    pub stderr: String,
}

/// The server binary: this build's, or `HERALD_TEST_BIN` (a release build,
/// to take figures with the debug-built tests around it).
fn binary() -> String {
    std::env::var("HERALD_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_herald").to_owned())
}

fn command(
    data_dir: &Path,
    database_url: Option<&str>,
    port: u16,
    env: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("HERALD_ADDR", format!("127.0.0.1:{port}"))
        .env("HERALD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("HERALD_DATA_DIR", data_dir)
        .env("HERALD_LOG", "info,herald=debug")
        // Tests register, connect and start conversations far faster than
        // people do, all from 127.0.0.1; the tests of these limits set them.
        .env("HERALD_REGISTRATIONS_PER_IP_PER_HOUR", "1000000")
        .env("HERALD_CONVERSATIONS_PER_MINUTE", "1000000")
        .env("HERALD_MEMBERSHIP_CHANGES_PER_MINUTE", "1000000")
        .env("HERALD_MAX_CONNECTIONS_PER_IP", "100000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

impl TestServer {
    /// Starts a server with a fresh data directory and default settings.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with a fresh data directory and extra variables.
    pub fn start_with(options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = postgres::selected().then(postgres::fresh_database);
        Self::spawn(dir, database_url, 0, options.env)
    }

    /// Starts another instance on `other`'s database (PostgreSQL), with a
    /// data directory of its own: two nodes of one cluster.
    pub fn start_beside(other: &TestServer, options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = other.database_url.clone();
        assert!(
            database_url.is_some(),
            "instances share a PostgreSQL database"
        );
        Self::spawn(dir, database_url, 0, options.env)
    }

    fn spawn(
        data_dir: tempfile::TempDir,
        database_url: Option<String>,
        port: u16,
        env: Vec<(String, String)>,
    ) -> Self {
        let mut child = command(data_dir.path(), database_url.as_deref(), port, &env)
            .spawn()
            .expect("start herald");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let port = rest
                        .split_whitespace()
                        .next()
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    if let Some(port) = port {
                        let _ = port_tx.send(port);
                    }
                }
                if std::env::var_os("HERALD_TEST_LOGS").is_some() {
                    eprintln!("[server] {line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", logs.lock().unwrap().join("\n"));
            }
        };
        Self {
            child: Some(child),
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir,
            database_url,
            logs,
            extra_env: env,
        }
    }

    /// The server's PostgreSQL database, if it runs on one.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// Whether this server runs on PostgreSQL (else on its SQLite file).
    pub fn on_postgres(&self) -> bool {
        self.database_url.is_some()
    }

    /// Runs `statement` on the server's database behind its back (to age
    /// rows, or to look at what is stored); returns the first column of
    /// the first row as an integer, if there is one.
    pub async fn sql(&self, statement: &str) -> Option<i64> {
        match &self.database_url {
            Some(url) => postgres::psql(url, statement).lines().next()?.parse().ok(),
            None => {
                let url = format!(
                    "sqlite://{}",
                    self.data_dir.path().join("herald.db").display()
                );
                let db = sqlx::SqlitePool::connect(&url)
                    .await
                    .expect("open the database");
                let row: Option<(Option<i64>,)> = sqlx::query_as(statement)
                    .fetch_optional(&db)
                    .await
                    .expect("run the statement");
                db.close().await;
                row.and_then(|(value,)| value)
            }
        }
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_owned()
    }

    /// A fresh client with its own cookie jar (a new browser, in effect).
    pub fn client(&self) -> Api {
        Api::new(&self.base_url)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.pid();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().expect("running");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: the process dies without any clean-up, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new process on the same data directory and port.
    pub fn restart(self) -> Self {
        let env = self.extra_env.clone();
        self.restart_with(env)
    }

    /// Restarts with other variables, on the same data directory and port.
    pub fn restart_with(mut self, env: Vec<(String, String)>) -> Self {
        self.kill();
        let port = self.port;
        let data_dir =
            std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("temp dir"));
        // The port was just released; retry briefly in case the OS holds it.
        let started = Instant::now();
        loop {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
                || started.elapsed() > Duration::from_secs(5)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let database_url = self.database_url.take();
        Self::spawn(data_dir, database_url, port, env)
    }
}

impl TestServer {
    /// Stops the server and runs the binary on the same data directory
    /// with other variables, expecting it to fail at start-up.
    pub fn restart_expecting_failure(mut self, env: &[(&str, &str)]) -> Exited {
        self.kill();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let output = command(
            self.data_dir.path(),
            self.database_url.as_deref(),
            self.port,
            &env,
        )
        .output()
        .expect("run herald");
        Exited {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the binary with `env` expecting it to fail at start-up.
pub fn start_expecting_failure(env: &[(&str, &str)]) -> Exited {
    let dir = tempfile::tempdir().expect("temp dir");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let output = command(dir.path(), None, 0, &env)
        .output()
        .expect("run herald");
    Exited {
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A typed HTTP client for one user (its own cookie jar).
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
    bearer: Option<String>,
}

/// A decoded answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

/// The value a `Set-Cookie` header of `answer` gives `name`.
pub fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
}

impl Answer {
    /// The raw `Set-Cookie` header lines.
    pub fn set_cookie_lines(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The body as JSON of type `T`; panics with the body on mismatch.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {}", self.body))
    }

    /// The API error code (`{"error": {"code"}}`).
    pub fn error_code(&self) -> String {
        let value: serde_json::Value = self.json();
        value["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
            .to_owned()
    }
}

/// A password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

impl Api {
    /// Registers `username` (password [`PASSWORD`]) and keeps its session.
    pub async fn register(&self, username: &str) -> serde_json::Value {
        let answer = self
            .post(
                "/api/auth/register",
                &serde_json::json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "register {username}: {}",
            answer.body
        );
        answer.json::<serde_json::Value>()["user"].clone()
    }

    /// Signs in as `username` with `password`.
    pub async fn login(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/api/auth/login",
            &serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    /// The session cookie value this client holds, if any.
    pub fn session_cookie(&self, answer: &Answer) -> Option<String> {
        set_cookie(answer, "herald_session")
    }

    fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            http,
            base_url: base_url.to_owned(),
            bearer: None,
        }
    }

    /// The same client, authenticating with an API token instead.
    /// The same client (cookies, token) talking to another server.
    pub fn on(&self, server: &TestServer) -> Self {
        Self {
            base_url: server.base_url.clone(),
            ..self.clone()
        }
    }

    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// A request builder for `path` with the client's credentials.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base_url, path));
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        builder
    }

    /// Sends `builder` and reads the whole answer.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body read");
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> Answer {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put<B: Serialize>(&self, path: &str, body: &B) -> Answer {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }
}

/// One parsed Server-Sent Events frame (or comment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
    /// Comment lines (`: ping`), without the colon.
    pub comments: Vec<String>,
}

impl Frame {
    /// `data` as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad data ({e}): {}", self.data))
    }
}

/// A real SSE client: reads the response byte stream and splits it into
/// frames exactly as the EventSource specification does (blank line ends a
/// frame; `field: value`; lines starting with `:` are comments).
pub struct EventStream {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
    ended: bool,
}

impl EventStream {
    /// Opens `path` with `api`'s credentials and extra headers.
    pub async fn open(api: &Api, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = api
            .request(Method::GET, path)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // No overall timeout: streams are long-lived.
        let response = request
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("stream opened");
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
            ended: false,
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        let text = String::from_utf8_lossy(&self.buffer).into_owned();
        let end = text.find("\n\n")?;
        let block = text[..end].to_owned();
        self.buffer.drain(..end + 2);
        let mut frame = Frame::default();
        let mut data = Vec::new();
        for line in block.split('\n') {
            if let Some(comment) = line.strip_prefix(':') {
                frame.comments.push(comment.trim_start().to_owned());
                continue;
            }
            let (field, value) = line
                .split_once(':')
                .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
            match field {
                "id" => frame.id = Some(value.to_owned()),
                "event" => frame.event = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                "retry" => frame.retry = value.parse().ok(),
                _ => {}
            }
        }
        frame.data = data.join("\n");
        Some(frame)
    }

    /// The next frame, or None when the server ended the stream. Panics when
    /// nothing arrives within `limit`.
    pub async fn next_frame(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut self.body))
                .await
            {
                Err(_) => panic!("no frame within {limit:?}"),
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
            }
        }
    }

    /// The next frame that is an event (skipping comments and `retry:`).
    /// Panics when no event arrives within `limit` (heartbeats do not
    /// extend it).
    pub async fn next_event(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no event within {limit:?}"));
            let frame = self.next_frame(left).await?;
            if frame.event.is_some() {
                return Some(frame);
            }
        }
    }

    /// Whether the server closes the stream within `limit` (frames that
    /// arrive meanwhile are discarded).
    pub async fn ends_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.ended {
            match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut self.body))
                .await
            {
                Err(_) => return false,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
            }
        }
        true
    }
}
