//! A mock Web Push service for the tests: a local HTTP server that plays
//! the browser vendor's push service, and test devices whose keys decrypt
//! what it receives (RFC 8291), as a browser would.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as MockStatus};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Api, ServerOptions, TestServer};

const WAIT: Duration = Duration::from_secs(15);
/// The VAPID contact the servers of these tests are given.
pub const CONTACT: &str = "mailto:ops@herald.test";
/// Their push TTL.
pub const TTL: &str = "3600";

/// How the mock answers one push.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    /// Keeps the request open and never answers.
    Hang,
}

/// One push as the mock received it.
#[derive(Debug)]
pub struct Received {
    pub device: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

#[derive(Clone)]
pub struct MockState {
    script: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
    received: mpsc::UnboundedSender<Received>,
    pub hanging: Arc<AtomicUsize>,
}

/// The mock push service: `POST /push/{device}` answers 201 unless told
/// otherwise.
pub struct MockPush {
    pub port: u16,
    pub state: MockState,
    received: mpsc::UnboundedReceiver<Received>,
}

async fn mock_push(
    State(state): State<MockState>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let at = Instant::now();
    let reply = state
        .script
        .lock()
        .unwrap()
        .get_mut(&device)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Reply::Status(201));
    let _ = state.received.send(Received {
        device,
        headers,
        body: body.to_vec(),
        at,
    });
    let status = |code: u16| MockStatus::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::RetryAfter(code, secs) => {
            (status(code), [("retry-after", secs.to_string())]).into_response()
        }
        Reply::Hang => {
            state.hanging.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Response>().await
        }
    }
}

impl MockPush {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::unbounded_channel();
        let state = MockState {
            script: Arc::default(),
            received: sender,
            hanging: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/push/{device}", axum::routing::post(mock_push))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            port,
            state,
            received,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next answers for `device`, in order.
    pub fn script(&self, device: &str, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .unwrap()
            .entry(device.to_owned())
            .or_default()
            .extend(replies.iter().copied());
    }

    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a push within the wait")
            .expect("mock running")
    }

    /// Whatever arrives within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) -> Vec<Received> {
        let mut extra = Vec::new();
        while let Ok(Some(push)) = tokio::time::timeout(wait, self.received.recv()).await {
            extra.push(push);
        }
        extra
    }

    /// `options` for a server that pushes to this mock.
    pub fn options(&self, options: ServerOptions) -> ServerOptions {
        options
            .env("HERALD_PUSH_SERVICES", &self.origin())
            .env("HERALD_PUSH_CONTACT", CONTACT)
            .env("HERALD_PUSH_TTL_SECS", TTL)
    }

    /// A server that pushes to this mock.
    pub fn server(&self, options: ServerOptions) -> TestServer {
        TestServer::start_with(self.options(options))
    }
}

/// A browser's push subscription: its P-256 key pair and auth secret.
pub struct Device {
    name: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Device {
    pub fn new(name: &str) -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).unwrap();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).unwrap();
        Self {
            name: name.to_owned(),
            secret,
            auth,
        }
    }

    /// `PushSubscription.toJSON()` for an endpoint on `mock`.
    pub fn subscription(&self, mock: &MockPush) -> Value {
        json!({
            "endpoint": format!("{}/push/{}", mock.origin(), self.name),
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    /// Decrypts a push as the browser would.
    pub fn open(&self, push: &Received) -> Value {
        assert_eq!(push.device, self.name);
        let auth = web_push_native::Auth::clone_from_slice(&self.auth);
        let plain = web_push_native::decrypt(push.body.clone(), &self.secret, &auth)
            .expect("the push decrypts with the device's key");
        serde_json::from_slice(&plain).expect("the payload is JSON")
    }
}

/// Subscribes `device` for `api`'s user; returns the stored device.
pub async fn subscribe(api: &Api, device: &Device, mock: &MockPush) -> Value {
    let answer = api
        .post("/api/push/subscriptions", &device.subscription(mock))
        .await;
    assert!(
        answer.status == StatusCode::CREATED || answer.status == StatusCode::OK,
        "{}: {}",
        answer.status,
        answer.body
    );
    answer.json::<Value>()["subscription"].clone()
}
