//! Accounts, sessions and access control against the real server.

mod common;

use std::time::Duration;

use common::{Api, PASSWORD, ServerOptions, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "admin password 1";

fn with_admin() -> ServerOptions {
    ServerOptions::default()
        .env("HERALD_ADMIN_USERNAME", ADMIN)
        .env("HERALD_ADMIN_PASSWORD", ADMIN_PASSWORD)
}

async fn admin_client(server: &TestServer) -> Api {
    let admin = server.client();
    let answer = admin.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    admin
}

/// A request carrying a cookie but no session: enough to trigger the guard.
fn raw(server: &TestServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, server.url(path))
        .header("cookie", "herald_session=forged")
}

#[tokio::test]
async fn register_sets_a_session_cookie_with_safe_flags() {
    let server = TestServer::start();
    let client = server.client();
    let answer = client
        .post(
            "/api/auth/register",
            &json!({"username": "  Alice ", "password": PASSWORD, "display_name": "Alice A."}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let user: Value = answer.json::<Value>()["user"].clone();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["display_name"], "Alice A.");
    assert_eq!(user["role"], "user");
    assert!(user["id"].as_i64().unwrap() > 0);
    assert!(user.get("password_hash").is_none());

    let lines = answer.set_cookie_lines();
    let cookie = lines
        .iter()
        .find(|l| l.starts_with("herald_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    // 128 bits in URL-safe base64.
    let value = client.session_cookie(&answer).unwrap();
    assert_eq!(value.len(), 22, "{value}");

    let me = client.get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json::<Value>()["user"]["username"], "alice");
}

#[tokio::test]
async fn https_deployments_use_a_secure_host_prefixed_cookie() {
    let server = TestServer::start_with(
        ServerOptions::default().env("HERALD_PUBLIC_URL", "https://herald.example"),
    );
    let answer = server
        .client()
        .post(
            "/api/auth/register",
            &json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let lines = answer.set_cookie_lines();
    let cookie = lines
        .iter()
        .find(|l| l.starts_with("__Host-herald_session="))
        .expect("__Host- cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn registration_validates_and_refuses_taken_names() {
    let server = TestServer::start();
    let client = server.client();
    client.register("bob").await;
    let again = server
        .client()
        .post(
            "/api/auth/register",
            &json!({"username": "BOB", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "username_taken");

    for (body, field) in [
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (
            json!({"username": "bad name", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "carol", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "carol", "password": "x".repeat(129)}),
            "password",
        ),
    ] {
        let answer = server.client().post("/api/auth/register", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.error_code(), "validation");
        assert_eq!(answer.json::<Value>()["error"]["field"], field, "{body}");
    }
    // Malformed input is a client error in the API's shape, never a 500.
    let client = server.client();
    let no_json = client
        .send(
            client
                .request(Method::POST, "/api/auth/register")
                .body("username=x"),
        )
        .await;
    assert_eq!(no_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(no_json.error_code(), "unsupported_media_type");
    let broken = client
        .send(
            client
                .request(Method::POST, "/api/auth/register")
                .header("content-type", "application/json")
                .body("{\"username\":"),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken.error_code(), "validation");
    let missing = client
        .post("/api/auth/register", &json!({"username": "dave"}))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn login_answers_the_same_for_unknown_users_and_wrong_passwords() {
    let server = TestServer::start();
    server.client().register("alice").await;
    let wrong = server.client().login("alice", "not the password").await;
    let unknown = server.client().login("nobody", "not the password").await;
    let invalid = server.client().login("<x>", "not the password").await;
    for answer in [&wrong, &unknown, &invalid] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.error_code(), "invalid_credentials");
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, invalid.body);
    assert!(wrong.set_cookie_lines().is_empty());
}

#[tokio::test]
async fn every_login_rotates_the_session_and_logout_ends_it() {
    let server = TestServer::start();
    let first = server.client();
    let registered = first
        .post(
            "/api/auth/register",
            &json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let id0 = first.session_cookie(&registered).unwrap();

    // Logging in from the same browser replaces its session with a new id.
    let relogin = first.login("alice", PASSWORD).await;
    assert_eq!(relogin.status, StatusCode::OK);
    let id1 = first.session_cookie(&relogin).unwrap();
    assert_ne!(id0, id1);
    let stale = raw(&server, Method::GET, "/api/auth/me")
        .header("cookie", format!("herald_session={id0}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::UNAUTHORIZED,
        "old session id still valid"
    );

    // Another device has its own session, untouched by this one's logout.
    let other = server.client();
    assert_eq!(other.login("alice", PASSWORD).await.status, StatusCode::OK);
    let logout = first.post("/api/auth/logout", &json!({})).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(
        logout
            .set_cookie_lines()
            .iter()
            .any(|l| l.starts_with("herald_session=;") && l.contains("Max-Age=0"))
    );
    assert_eq!(
        first.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let replay = raw(&server, Method::GET, "/api/auth/me")
        .header("cookie", format!("herald_session={id1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "logged-out id still valid"
    );
    assert_eq!(other.get("/api/auth/me").await.status, StatusCode::OK);
    // Signing out again is harmless.
    assert_eq!(
        first.post("/api/auth/logout", &json!({})).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely() {
    let idle =
        TestServer::start_with(ServerOptions::default().env("HERALD_SESSION_IDLE_SECS", "2"));
    let client = idle.client();
    client.register("alice").await;
    // Activity keeps an idle-limited session alive...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(client.get("/api/auth/me").await.status, StatusCode::OK);
    }
    // ...silence ends it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        client.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    let absolute =
        TestServer::start_with(ServerOptions::default().env("HERALD_SESSION_ABSOLUTE_SECS", "2"));
    let client = absolute.client();
    client.register("bob").await;
    assert_eq!(client.get("/api/auth/me").await.status, StatusCode::OK);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let _ = client.get("/api/auth/me").await;
    }
    assert_eq!(
        client.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "activity must not extend the absolute limit"
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let server = TestServer::start();
    server.client().register("alice").await;
    server.client().register("bob").await;
    let attacker = server.client();
    for attempt in 0..100 {
        let answer = attacker.login("alice", "guess guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let blocked = attacker.login("alice", "guess guess").await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(blocked.error_code(), "too_many_attempts");
    let retry: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Even the right password waits out the hour...
    assert_eq!(
        server.client().login("alice", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...while other accounts are unaffected.
    assert_eq!(
        server.client().login("bob", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address() {
    let server = TestServer::start_with(
        ServerOptions::default().env("HERALD_LOGIN_FAILURES_PER_IP_PER_HOUR", "5"),
    );
    server.client().register("alice").await;
    let client = server.client();
    for n in 0..5 {
        assert_eq!(
            client
                .login(&format!("user{n}"), "guess guess")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = client.login("alice", PASSWORD).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers.contains_key("retry-after"));
}

/// Every state-changing REST route and server function, from the router's
/// own list: none may act on a cross-site request that carries the cookie.
#[tokio::test]
async fn cross_site_requests_are_refused_on_every_state_changing_route() {
    let server = TestServer::start();
    let victim = server.client();
    let registered = victim
        .post(
            "/api/auth/register",
            &json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let cookie = format!(
        "herald_session={}",
        victim.session_cookie(&registered).unwrap()
    );

    let mut targets: Vec<(Method, String)> = herald::server::router::api_routes()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .map(|r| {
            (
                r.method,
                r.path.replace("{id}", "1").replace("{username}", "alice"),
            )
        })
        .collect();
    let server_fns: Vec<(Method, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (method, path.to_owned()))
        .collect();
    assert!(
        server_fns.iter().any(|(_, p)| p == "/fn/auth/logout"),
        "{server_fns:?}"
    );
    targets.extend(server_fns.into_iter().filter(|(m, _)| *m != Method::GET));
    assert!(targets.len() >= 10, "{targets:?}");

    let http = reqwest::Client::new();
    for (method, path) in &targets {
        for (header, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("origin", "null"),
        ] {
            let answer = http
                .request(method.clone(), server.url(path))
                .header("cookie", &cookie)
                .header(header, value)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {header}: {value}"
            );
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error"]["code"], "cross_site", "{method} {path}");
        }
    }
    // The session survived all of that.
    assert_eq!(victim.get("/api/auth/me").await.status, StatusCode::OK);
    // Same-origin requests pass the guard.
    let same = http
        .post(server.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", &server.base_url)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn state_changing_server_functions_do_not_answer_get() {
    let server = TestServer::start();
    for path in ["/fn/auth/login", "/fn/auth/logout", "/fn/auth/register"] {
        let answer = server.client().get(path).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn admin_is_ensured_at_start_up_and_can_promote_an_existing_user() {
    let server = TestServer::start_with(with_admin());
    let admin = admin_client(&server).await;
    assert_eq!(
        admin.get("/api/auth/me").await.json::<Value>()["user"]["role"],
        "admin"
    );

    server.client().register("carol").await;
    // Promoted only because the configured password is hers (another
    // password stops start-up: tests/security.rs).
    let server = server.restart_with(vec![
        ("HERALD_ADMIN_USERNAME".into(), "carol".into()),
        ("HERALD_ADMIN_PASSWORD".into(), PASSWORD.into()),
    ]);
    let carol = server.client();
    assert_eq!(
        carol.login("carol", PASSWORD).await.json::<Value>()["user"]["role"],
        "admin"
    );
}

#[tokio::test]
async fn admin_routes_check_the_role() {
    let server = TestServer::start_with(with_admin());
    let user = server.client();
    user.register("alice").await;
    let anonymous = server.client();
    for (method, path) in [
        (Method::GET, "/api/users"),
        (Method::PATCH, "/api/users/1"),
        (Method::GET, "/api/tokens"),
        (Method::POST, "/api/tokens"),
        (Method::DELETE, "/api/tokens/1"),
        (Method::GET, "/api/status"),
    ] {
        let as_user = user
            .send(
                user.request(method.clone(), path)
                    .json(&json!({"name": "x"})),
            )
            .await;
        assert_eq!(as_user.status, StatusCode::FORBIDDEN, "{method} {path}");
        let as_nobody = anonymous
            .send(
                anonymous
                    .request(method.clone(), path)
                    .json(&json!({"name": "x"})),
            )
            .await;
        assert_eq!(
            as_nobody.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn admins_list_promote_and_disable_users() {
    let server = TestServer::start_with(with_admin());
    let admin = admin_client(&server).await;
    let alice = server.client();
    let alice_user = alice.register("alice").await;
    server.client().register("bob").await;

    let found = admin.get("/api/users?q=ali").await.json::<Value>();
    let users = found["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["disabled"], false);
    let all = admin.get("/api/users").await.json::<Value>();
    assert_eq!(all["users"].as_array().unwrap().len(), 3);

    let id = alice_user["id"].as_i64().unwrap();
    let promoted = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/api/users/{id}"))
                .json(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.json::<Value>()["user"]["role"], "admin");
    assert_eq!(
        alice.get("/api/auth/me").await.json::<Value>()["user"]["role"],
        "admin"
    );

    let disabled = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/api/users/{id}"))
                .json(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.json::<Value>()["user"]["disabled"], true);
    assert_eq!(
        alice.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "disabled user still signed in"
    );
    let refused = server.client().login("alice", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "account_disabled");

    let me = admin.get("/api/auth/me").await.json::<Value>()["user"]["id"]
        .as_i64()
        .unwrap();
    let self_disable = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/api/users/{me}"))
                .json(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(self_disable.status, StatusCode::CONFLICT);
    let missing = admin
        .send(
            admin
                .request(Method::PATCH, "/api/users/9999")
                .json(&json!({"role": "user"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad_role = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/api/users/{id}"))
                .json(&json!({"role": "root"})),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn password_change_ends_every_other_session() {
    let server = TestServer::start();
    let laptop = server.client();
    laptop.register("alice").await;
    let phone = server.client();
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::OK);

    let wrong = laptop
        .post(
            "/api/auth/password",
            &json!({"current_password": "nope nope", "new_password": "new password 2"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json::<Value>()["error"]["field"], "current_password");

    let changed = laptop
        .post(
            "/api/auth/password",
            &json!({"current_password": PASSWORD, "new_password": "new password 2"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(
        laptop.get("/api/auth/me").await.status,
        StatusCode::OK,
        "the changer stays signed in"
    );
    assert_eq!(
        phone.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.client().login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .client()
            .login("alice", "new password 2")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_and_revocable() {
    let server = TestServer::start_with(with_admin());
    let admin = admin_client(&server).await;
    let created = admin
        .post("/api/tokens", &json!({"name": "billing service"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created: Value = created.json();
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    assert!(secret.starts_with("hrld_"));

    let listed = admin.get("/api/tokens").await;
    assert!(!listed.body.contains(&secret), "listing shows the secret");
    assert_eq!(
        listed.json::<Value>()["tokens"][0]["name"],
        "billing service"
    );
    if server.on_postgres() {
        let in_clear = format!(
            "SELECT COUNT(*) FROM api_tokens WHERE position('{secret}' in name) > 0
                OR position(convert_to('{secret}', 'UTF8') in token_hash) > 0"
        );
        assert_eq!(
            server.sql(&in_clear).await,
            Some(0),
            "secret stored in clear"
        );
    } else {
        let db = std::fs::read(server.data_dir().join("herald.db")).unwrap();
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret stored in clear"
        );
    }

    let integration = server.client().with_bearer(&secret);
    let whoami = integration.get("/api/tokens/current").await;
    assert_eq!(whoami.status, StatusCode::OK, "{}", whoami.body);
    assert_eq!(whoami.json::<Value>()["token"]["name"], "billing service");
    assert_eq!(
        server
            .client()
            .with_bearer("hrld_forged")
            .get("/api/tokens/current")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A token is not a user session.
    assert_eq!(
        integration.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        admin.delete(&format!("/api/tokens/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        integration.get("/api/tokens/current").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin.delete(&format!("/api/tokens/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.delete("/api/tokens/abc").await.status,
        StatusCode::NOT_FOUND
    );
    let unnamed = admin.post("/api/tokens", &json!({"name": "  "})).await;
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
}
