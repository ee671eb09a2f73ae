//! Herald inside a host app, against the real server: users provisioned by
//! the host app's ids, integrations, connection tokens (minted by Herald or
//! signed offline with the integration's secret), and the CORS answers a
//! browser on the host app's origin gets.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    Api, EventStream, ServerOptions, TestServer, admin_client, admin_options, token_client,
};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(10);
const PUBLIC_URL: &str = "http://herald.test";
const SHOP: &str = "http://shop.test:8080";

fn options() -> ServerOptions {
    admin_options().env("HERALD_PUBLIC_URL", PUBLIC_URL)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT signed here, the way a host app's backend does it with any JWT
/// library: HS256 over `header.claims` with the secret's text as the key.
fn sign(kid: &str, secret: &str, claims: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The host app's backend (an API token) with integration `shop`
/// allowing [`SHOP`], and its secret.
async fn backend(server: &TestServer) -> (Api, String) {
    let admin = admin_client(server).await;
    let backend = token_client(server, &admin, "shop backend").await;
    let created = backend
        .post(
            "/api/integrations",
            &json!({"name": "shop", "origins": [SHOP, "https://Shop.Example/"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created: Value = created.json();
    assert_eq!(
        created["origins"],
        json!(["http://shop.test:8080", "https://shop.example"])
    );
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hsec_"), "{secret}");
    (backend, secret)
}

async fn mint(backend: &Api, external_id: &str, topics: Value) -> String {
    let minted = backend
        .post(
            "/api/connection-tokens",
            &json!({"integration": "shop", "external_id": external_id, "topics": topics}),
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    minted.json::<Value>()["token"].as_str().unwrap().to_owned()
}

async fn publish_to(backend: &Api, external_id: &str, title: &str) {
    let published = backend
        .post(
            "/api/notifications",
            &json!({"to": {"external_ids": [external_id]}, "category": "system", "title": title}),
        )
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{}", published.body);
}

#[tokio::test]
async fn a_provisioned_user_lives_by_the_host_apps_id() {
    let server = TestServer::start_with(options());
    let (backend, _) = backend(&server).await;

    let created = backend
        .put(
            "/api/external-users/shop|42",
            &json!({"display_name": "Ann"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ann: Value = created.json();
    assert_eq!(ann["external_id"], "shop|42");
    assert_eq!(ann["display_name"], "Ann");
    assert_eq!(ann["has_password"], false);
    let username = ann["username"].as_str().unwrap().to_owned();
    assert!(username.starts_with("ext-"), "{username}");

    // No password: nothing signs in as them, not even an empty one.
    for password in ["", "anything long enough"] {
        let refused = server.client().login(&username, password).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    }

    let updated = backend
        .put(
            "/api/external-users/shop|42",
            &json!({"display_name": "Ann B", "username": "ann"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.json::<Value>()["username"], "ann");
    assert_eq!(
        backend
            .get("/api/external-users/shop|42")
            .await
            .json::<Value>()["display_name"],
        "Ann B"
    );
    // Another provisioned user cannot take the name.
    let taken = backend
        .put("/api/external-users/shop|43", &json!({"username": "ann"}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.error_code(), "username_taken");

    // Published to by external id, received on a token stream.
    let token = mint(&backend, "shop|42", json!([])).await;
    let mut stream = EventStream::open(
        &server.client(),
        &format!("/api/events?access_token={token}"),
        &[],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("ready")
    );
    publish_to(&backend, "shop|42", "Your order shipped").await;
    let event = stream.next_event(WAIT).await.unwrap();
    assert_eq!(event.event.as_deref(), Some("notification"));
    assert_eq!(event.json()["notification"]["title"], "Your order shipped");

    // Unknown ids fail the whole publish.
    let unknown = backend
        .post(
            "/api/notifications",
            &json!({"to": {"external_ids": ["shop|42", "shop|nobody"]}, "category": "system", "title": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(unknown.body.contains("shop|nobody"), "{}", unknown.body);

    // Deleting ends the stream and removes the user and their data.
    let deleted = backend.delete("/api/external-users/shop|42").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(
        stream.ends_within(WAIT).await,
        "the stream outlived its user"
    );
    assert_eq!(
        backend.get("/api/external-users/shop|42").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM notifications").await,
        Some(0)
    );
    let refused = server
        .client()
        .with_bearer(&token)
        .get("/api/events/poll")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        backend.delete("/api/external-users/shop|42").await.status,
        StatusCode::NOT_FOUND
    );

    // Input and access checks.
    let bad = backend.put("/api/external-users/a%20b", &json!({})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let anonymous = server
        .client()
        .put("/api/external-users/shop|44", &json!({}))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let bad_field = backend
        .put("/api/external-users/shop|44", &json!({"role": "admin"}))
        .await;
    assert_eq!(
        bad_field.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_field.body
    );
}

#[tokio::test]
async fn connection_tokens_are_checked_and_never_logged() {
    let server = TestServer::start_with(options().env("HERALD_LOG", "debug"));
    let (backend, secret) = backend(&server).await;
    backend
        .put("/api/external-users/u-1", &json!({"display_name": "Una"}))
        .await;

    // Minted by Herald: the stream (query) and the poll (header).
    let minted = mint(&backend, "u-1", json!(["post:*"])).await;
    let mut stream = EventStream::open(
        &server.client(),
        &format!("/api/events?access_token={minted}"),
        &[],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    let ready = stream.next_event(WAIT).await.unwrap();
    assert!(!ready.json()["connection_id"].as_str().unwrap().is_empty());
    let poll = server
        .client()
        .with_bearer(&minted)
        .get("/api/events/poll")
        .await;
    assert_eq!(poll.status, StatusCode::OK, "{}", poll.body);
    // A connection token is not a session: other routes refuse it.
    let preferences = server
        .client()
        .with_bearer(&minted)
        .get("/api/preferences")
        .await;
    assert_eq!(preferences.status, StatusCode::UNAUTHORIZED);
    // And not an API token.
    let publish = server
        .client()
        .with_bearer(&minted)
        .post("/api/notifications", &json!({"to": "all", "title": "x"}))
        .await;
    assert_eq!(publish.status, StatusCode::UNAUTHORIZED);

    // Signed offline with the secret: accepted.
    let claims = |sub: &str, aud: &str, exp: i64| json!({"sub": sub, "aud": aud, "exp": exp});
    let offline = sign("shop", &secret, &claims("u-1", PUBLIC_URL, now() + 600));
    let poll = server
        .client()
        .with_bearer(&offline)
        .get("/api/events/poll")
        .await;
    assert_eq!(poll.status, StatusCode::OK, "{}", poll.body);

    let refused = |token: String| {
        let client = server.client().with_bearer(&token);
        async move {
            let answer = client.get("/api/events/poll").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
            answer.error_code()
        }
    };
    // Expired.
    let expired = sign("shop", &secret, &claims("u-1", PUBLIC_URL, now() - 1));
    assert_eq!(refused(expired).await, "token_expired");
    // Wrong audience.
    let elsewhere = sign(
        "shop",
        &secret,
        &claims("u-1", "http://other.test", now() + 600),
    );
    assert_eq!(refused(elsewhere).await, "invalid_token");
    // Tampered: another user's id under the same signature.
    let mut parts: Vec<String> = offline.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(claims("u-2", PUBLIC_URL, now() + 600).to_string());
    assert_eq!(refused(parts.join(".")).await, "invalid_token");
    // Another secret, an unknown integration, "alg": "none".
    assert_eq!(
        refused(sign(
            "shop",
            "hsec_guess",
            &claims("u-1", PUBLIC_URL, now() + 600)
        ))
        .await,
        "invalid_token"
    );
    assert_eq!(
        refused(sign(
            "other",
            &secret,
            &claims("u-1", PUBLIC_URL, now() + 600)
        ))
        .await,
        "invalid_token"
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"shop"}"#),
        parts[1]
    );
    assert_eq!(refused(none).await, "invalid_token");
    // A user the host app never provisioned (or a Herald account's name).
    assert_eq!(
        refused(sign(
            "shop",
            &secret,
            &claims("root", PUBLIC_URL, now() + 600)
        ))
        .await,
        "invalid_token"
    );
    let unknown = backend
        .post(
            "/api/connection-tokens",
            &json!({"integration": "shop", "external_id": "u-9"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let too_long = backend
        .post(
            "/api/connection-tokens",
            &json!({"integration": "shop", "external_id": "u-1", "ttl_secs": 86_401}),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.body
    );

    // Rotating the secret retires the old tokens at once.
    let rotated = backend
        .send(
            backend
                .request(Method::PATCH, "/api/integrations/shop")
                .json(&json!({"rotate_secret": true})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.json::<Value>()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(refused(offline).await, "invalid_token");
    let fresh = sign("shop", &new_secret, &claims("u-1", PUBLIC_URL, now() + 600));
    assert_eq!(
        server
            .client()
            .with_bearer(&fresh)
            .get("/api/events/poll")
            .await
            .status,
        StatusCode::OK
    );
    // The secret is shown once: never in the list.
    let listed = backend.get("/api/integrations").await;
    assert!(!listed.body.contains("hsec_"), "{}", listed.body);

    // Nothing logged the tokens, though every request was.
    drop(stream);
    let logs = server.logs();
    assert!(logs.contains("/api/events"), "requests are logged");
    for token in [&minted, &fresh] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token reached the logs");
    }
}

#[tokio::test]
async fn a_token_stream_is_told_when_its_token_expires() {
    let server = TestServer::start_with(options());
    let (backend, secret) = backend(&server).await;
    backend.put("/api/external-users/u-1", &json!({})).await;
    let token = sign(
        "shop",
        &secret,
        &json!({"sub": "u-1", "aud": PUBLIC_URL, "exp": now() + 3}),
    );
    let mut stream = EventStream::open(
        &server.client(),
        &format!("/api/events?access_token={token}"),
        &[],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("ready")
    );
    let expired = stream.next_event(WAIT).await.unwrap();
    assert_eq!(expired.event.as_deref(), Some("token_expired"));
    assert!(stream.next_frame(WAIT).await.is_none(), "the stream ends");
}

#[tokio::test]
async fn only_the_integrations_origins_get_cors_answers() {
    let server = TestServer::start_with(options());
    let (backend, _) = backend(&server).await;
    backend.put("/api/external-users/u-1", &json!({})).await;
    let token = mint(&backend, "u-1", json!([])).await;
    let http = reqwest::Client::new();

    let preflight = |path: &str, origin: &str| {
        http.request(Method::OPTIONS, server.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("/api/notifications/read-all", SHOP)
        .await
        .unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        SHOP,
        "{:?}",
        allowed.headers()
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    for (path, origin) in [
        ("/api/notifications/read-all", "http://evil.test"),
        ("/api/notifications/read-all", "http://shop.test"),
        // A route an embedded client has no business calling.
        ("/api/tokens", SHOP),
    ] {
        let refused = preflight(path, origin).await.unwrap();
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{path} from {origin}: {:?}",
            refused.headers()
        );
    }

    // Actual requests with the token, as a browser on the page sends them.
    let listed = http
        .get(server.url("/api/notifications"))
        .header("origin", SHOP)
        .header("sec-fetch-site", "cross-site")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(listed.headers()["access-control-allow-origin"], SHOP);
    let marked = http
        .post(server.url("/api/notifications/read-all"))
        .header("origin", SHOP)
        .header("sec-fetch-site", "cross-site")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(marked.status(), StatusCode::NO_CONTENT);
    // The same token from a page the integration does not list.
    let evil = http
        .get(server.url("/api/notifications"))
        .header("origin", "http://evil.test")
        .header("sec-fetch-site", "cross-site")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    // EventSource from the listed origin, token in the query.
    let stream = http
        .get(server.url(&format!("/api/events?access_token={token}")))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["access-control-allow-origin"], SHOP);
    // The query is honoured on the stream only.
    let poll = http
        .get(server.url(&format!("/api/events/poll?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn integrations_are_validated() {
    let server = TestServer::start_with(options());
    let (backend, _) = backend(&server).await;
    for (body, field) in [
        (json!({"name": "Shop", "origins": []}), "name"),
        (json!({"name": "web", "origins": ["shop.test"]}), "origins"),
        (
            json!({"name": "web", "origins": ["https://shop.test/path"]}),
            "origins",
        ),
        (json!({"name": "web", "origins": ["*"]}), "origins"),
    ] {
        let refused = backend.post("/api/integrations", &body).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.json::<Value>()["error"]["field"], field, "{body}");
    }
    let taken = backend
        .post("/api/integrations", &json!({"name": "shop", "origins": []}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(
        backend.delete("/api/integrations/shop").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        backend.delete("/api/integrations/shop").await.status,
        StatusCode::NOT_FOUND
    );
    let user = server.client();
    user.register("mallory").await;
    assert_eq!(
        user.post("/api/integrations", &json!({"name": "x", "origins": []}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_client_and_its_types_are_served_to_any_page() {
    let server = TestServer::start();
    let script = server.client().get("/embed/herald.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        script.headers["cross-origin-resource-policy"],
        "cross-origin"
    );
    assert!(
        script
            .body
            .contains("customElements.define(\"herald-bell\"")
    );
    let types = server.client().get("/embed/herald.d.ts").await;
    assert_eq!(types.status, StatusCode::OK);
    assert!(types.body.contains("export declare class Herald"));
}
