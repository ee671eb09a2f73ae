//! Brute force, lock-out, proxies, cross-site forms, redirects, bootstrap,
//! tokens and the smaller leaks, tried as an attacker would against the
//! real binary.

mod common;

use std::time::Duration;

use common::{ADMIN, Api, EventStream, PASSWORD, TestServer, admin_client, admin_options};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn count(answers: &[StatusCode], status: StatusCode) -> usize {
    answers.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_thousand_simultaneous_wrong_passwords_get_only_the_allowed_checks() {
    let server = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", "100")
            .env("HERALD_LOGIN_FAILURES_PER_IP_PER_HOUR", "100000"),
    );
    server.client().register("victim").await;
    let attacker = server.client();
    let attempts = (0..1000).map(|i| {
        let attacker = attacker.clone();
        async move {
            attacker
                .login("victim", &format!("guess number {i}"))
                .await
                .status
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let checked = count(&answers, StatusCode::UNAUTHORIZED);
    let refused = count(&answers, StatusCode::TOO_MANY_REQUESTS);
    println!("1000 concurrent wrong passwords: {checked} checked (401), {refused} refused (429)");
    assert!(checked <= 100, "{checked} password checks ran");
    assert_eq!(checked + refused, 1000, "{answers:?}");
}

#[tokio::test]
async fn password_change_goes_through_the_same_throttle() {
    // The session's browser signed in before, so its device limit applies.
    let server = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", "5")
            .env("HERALD_LOGIN_FAILURES_PER_DEVICE_PER_HOUR", "5"),
    );
    let thief = server.client();
    thief.register("alice").await;
    let mut answers = Vec::new();
    for i in 0..8 {
        answers.push(
            thief
                .post(
                    "/api/auth/password",
                    &json!({"current_password": format!("guess {i}"), "new_password": "a new long password"}),
                )
                .await
                .status,
        );
    }
    assert_eq!(count(&answers, StatusCode::BAD_REQUEST), 5, "{answers:?}");
    assert_eq!(
        count(&answers, StatusCode::TOO_MANY_REQUESTS),
        3,
        "{answers:?}"
    );
}

/// Wrong-password sign-ins, one per value of the forwarding `header`.
async fn failed_logins_from(client: &Api, header: &str, values: &[String]) -> Vec<StatusCode> {
    let mut answers = Vec::new();
    for value in values {
        let request = client
            .request(Method::POST, "/api/auth/login")
            .header(header, value)
            .json(&json!({"username": "nobody", "password": "wrong password"}));
        answers.push(client.send(request).await.status);
    }
    answers
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let untrusted = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_LOGIN_FAILURES_PER_IP_PER_HOUR", "3"),
    );
    untrusted.client().register("alice").await;
    let client = untrusted.client();
    // A client inventing a new address each time is still one client.
    let addresses: Vec<String> = (0..4).map(|i| format!("10.0.0.{i}")).collect();
    let answers = failed_logins_from(&client, "x-forwarded-for", &addresses).await;
    assert_eq!(
        answers.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );

    let proxied = TestServer::start_with(
        common::ServerOptions::default()
            .env("HERALD_LOGIN_FAILURES_PER_IP_PER_HOUR", "3")
            .env("HERALD_TRUSTED_PROXIES", "127.0.0.1"),
    );
    proxied.client().register("alice").await;
    let via_proxy = |client: &Api, from: &str, password: &str| {
        client
            .request(Method::POST, "/api/auth/login")
            .header("x-forwarded-for", format!("6.6.6.6, {from}"))
            .json(&json!({"username": "alice", "password": password}))
    };
    let attacker = proxied.client();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(
            attacker
                .send(via_proxy(&attacker, "203.0.113.9", "wrong"))
                .await
                .status,
        );
    }
    assert_eq!(
        answers.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    // Someone else behind the same proxy signs in normally.
    let owner = proxied.client();
    let answer = owner
        .send(via_proxy(&owner, "198.51.100.7", PASSWORD))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // IPv6 clients are one client per /64.
    let hosts: Vec<String> = (1..=4)
        .map(|host| format!("for=\"[2001:db8:1:2::{host}]:443\""))
        .collect();
    let answers = failed_logins_from(&attacker, "forwarded", &hosts).await;
    assert_eq!(
        answers.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_and_the_owner_hears_of_it() {
    let server = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", "3"),
    );
    let owner = server.client();
    owner.register("alice").await; // signing up counts as signing in
    let attacker = server.client();
    for _ in 0..5 {
        attacker.login("alice", "not her password").await;
    }
    let locked = attacker.login("alice", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );

    let answer = owner.login("alice", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json::<serde_json::Value>()["failed_attempts"], 3);
    let list = owner
        .get("/api/notifications")
        .await
        .json::<serde_json::Value>();
    let titles: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"3 failed sign-in attempts since your last visit"),
        "{titles:?}"
    );
    // Counted once: the next sign-in reports none.
    let again = owner.login("alice", PASSWORD).await;
    assert_eq!(again.json::<serde_json::Value>()["failed_attempts"], 0);
}

#[tokio::test]
async fn cross_site_forms_cannot_sign_anyone_in_or_up() {
    let server = TestServer::start();
    server.client().register("attacker").await;
    let browser = server.client();
    for (path, form) in [
        (
            "/fn/auth/login",
            "username=attacker&password=correct+horse+battery",
        ),
        (
            "/fn/auth/register",
            "username=newbie&password=correct+horse+battery",
        ),
    ] {
        let request = browser
            .request(Method::POST, path)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        let answer = browser.send(request).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.error_code(), "cross_site");
        assert!(answer.set_cookie_lines().is_empty());
    }
    // The same form from the site itself works.
    let request = browser
        .request(Method::POST, "/fn/auth/login")
        .header("origin", &server.base_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=attacker&password=correct+horse+battery");
    let answer = browser.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn sign_in_never_redirects_off_site_or_panics() {
    let server = TestServer::start();
    server.client().register("alice").await;
    for next in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/x%0D%0ASet-Cookie:%20a=b",
        "/%7F",
        "/%00",
        "/%5Cevil.example",
    ] {
        let browser = server.client();
        let request = browser
            .request(Method::POST, "/fn/auth/login")
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=alice&password=correct+horse+battery&next={next}"
            ));
        let answer = browser.send(request).await;
        assert!(
            answer.status.is_redirection(),
            "{next}: {} {}",
            answer.status,
            answer.body
        );
        assert_eq!(answer.headers["location"], "/", "{next}");
    }
}

#[tokio::test]
async fn admin_bootstrap_does_not_take_over_a_registered_name() {
    let server = TestServer::start();
    server.client().register("root").await;
    let exited = server.restart_expecting_failure(&[
        ("HERALD_ADMIN_USERNAME", "root"),
        ("HERALD_ADMIN_PASSWORD", "the configured password"),
    ]);
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
    assert!(exited.stderr.contains("`root`"), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("HERALD_ADMIN_PASSWORD"),
        "{}",
        exited.stderr
    );

    // With the matching password the account is promoted.
    let server = TestServer::start();
    server.client().register(ADMIN).await;
    let server = server.restart_with(vec![
        ("HERALD_ADMIN_USERNAME".into(), ADMIN.into()),
        ("HERALD_ADMIN_PASSWORD".into(), PASSWORD.into()),
    ]);
    let admin = server.client();
    let answer = admin.login(ADMIN, PASSWORD).await;
    assert_eq!(answer.json::<serde_json::Value>()["user"]["role"], "admin");
}

#[tokio::test]
async fn tokens_stop_when_their_creator_is_no_longer_an_admin() {
    let server = TestServer::start_with(admin_options());
    let root = admin_client(&server).await;
    let bob = server.client();
    let bob_id = bob.register("bob").await["id"].as_i64().unwrap();
    let promoted = root
        .send(
            root.request(Method::PATCH, &format!("/api/users/{bob_id}"))
                .json(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let token = bob.post("/api/tokens", &json!({"name": "ci"})).await;
    let token = token.json::<serde_json::Value>()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let integrator = server.client().with_bearer(&token);
    assert_eq!(
        integrator.get("/api/tokens/current").await.status,
        StatusCode::OK
    );
    root.send(
        root.request(Method::PATCH, &format!("/api/users/{bob_id}"))
            .json(&json!({"role": "user"})),
    )
    .await;
    assert_eq!(
        integrator.get("/api/tokens/current").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn metrics_and_server_facts_are_not_for_strangers() {
    let server = TestServer::start();
    let stranger = server.client();
    assert_eq!(
        stranger.get("/metrics").await.status,
        StatusCode::UNAUTHORIZED
    );
    let facts = stranger.post("/fn/system_info", &json!({})).await;
    assert_eq!(facts.status, StatusCode::UNAUTHORIZED, "{}", facts.body);

    let opted_in = TestServer::start_with(
        common::ServerOptions::default().env("HERALD_METRICS_ALLOW_LOOPBACK", "true"),
    );
    assert_eq!(
        opted_in.client().get("/metrics").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn server_functions_answer_with_the_status_of_their_rest_route() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let published = admin
        .post(
            "/api/notifications",
            &json!({"to": [ADMIN], "category": "system", "priority": "low", "title": "mine"}),
        )
        .await;
    let admins_id = published.json::<serde_json::Value>()["ids"][0]
        .as_i64()
        .unwrap();

    let not_yours = alice
        .post("/fn/notifications/read", &json!({"id": admins_id}))
        .await;
    assert_eq!(
        not_yours.status,
        StatusCode::NOT_FOUND,
        "{}",
        not_yours.body
    );
    let not_admin = alice.post("/fn/admin/status", &json!({})).await;
    assert_eq!(
        not_admin.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_admin.body
    );
    let signed_out = server
        .client()
        .post("/fn/notifications/read", &json!({"id": 1}))
        .await;
    assert_eq!(signed_out.status, StatusCode::UNAUTHORIZED);
    let malformed = alice
        .send(
            alice
                .request(Method::POST, "/fn/notifications/read")
                .header("content-type", "application/json")
                .body("{\"id\": \"seven\""),
        )
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.body
    );
    assert!(malformed.body.contains("validation"), "{}", malformed.body);
}

#[tokio::test]
async fn bad_input_is_a_clear_error_never_a_reset() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    // A multi-byte character where the scheme check slices.
    let answer = admin
        .post(
            "/api/notifications",
            &json!({"to": [ADMIN], "category": "system", "priority": "low",
                    "title": "t", "url": "abcdefgéxyz"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.error_code(), "validation");
    // Query strings speak the JSON error shape too.
    let answer = admin.get("/api/users?limit=-1").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error_code(), "validation");
    // Names that cannot be usernames are never stored as failures.
    let huge = "x".repeat(200_000);
    for _ in 0..5 {
        server.client().login(&huge, "whatever password").await;
    }
    let longest = server
        .sql("SELECT MAX(length(scope)) FROM login_failures")
        .await;
    assert!(longest.unwrap_or(0) < 100, "{longest:?}");
}

#[tokio::test]
async fn names_cannot_disguise_themselves() {
    let server = TestServer::start();
    let answer = server
        .client()
        .post(
            "/api/auth/register",
            &json!({"username": "mallory", "password": PASSWORD, "display_name": "\u{202E}nimda\u{200B}"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(
        answer.json::<serde_json::Value>()["user"]["display_name"],
        "nimda"
    );
}

#[tokio::test]
async fn a_client_id_belongs_to_its_conversation() {
    let server = TestServer::start();
    let alice = server.client();
    alice.register("alice").await;
    server.client().register("bob").await;
    server.client().register("carol").await;
    let mut ids = Vec::new();
    for with in ["bob", "carol"] {
        let created = alice
            .post(
                "/api/conversations",
                &json!({"kind": "direct", "with": with}),
            )
            .await;
        ids.push(
            created.json::<serde_json::Value>()["conversation"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let mut sent = Vec::new();
    for id in &ids {
        let answer = alice
            .post(
                &format!("/api/conversations/{id}/messages"),
                &json!({"body": "hello", "client_id": "same-id"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        sent.push(answer.json::<serde_json::Value>()["message"].clone());
    }
    assert_eq!(sent[1]["conversation_id"], ids[1]);
    assert_ne!(sent[0]["id"], sent[1]["id"]);
}

#[tokio::test]
async fn pages_have_a_policy_and_personal_answers_are_not_cached() {
    let server = TestServer::start();
    let alice = server.client();
    alice.register("alice").await;
    let page = alice.get("/").await;
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self' 'nonce-"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "scripts carry the nonce"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(
        alice.get("/api/auth/me").await.headers["cache-control"],
        "no-store"
    );
}

#[tokio::test]
async fn listening_beyond_loopback_over_http_is_warned_about() {
    let server =
        TestServer::start_with(common::ServerOptions::default().env("HERALD_ADDR", "0.0.0.0:0"));
    assert!(server.logs().contains("clear text"), "{}", server.logs());
}

#[tokio::test]
async fn idempotency_keys_expire_and_abandoned_ones_are_taken_over() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let publish = |key: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .send(
                    admin
                        .request(Method::POST, "/api/notifications")
                        .header("idempotency-key", key)
                        .json(&json!({"to": [ADMIN], "category": "system", "priority": "low", "title": key})),
                )
                .await
        }
    };
    let first = publish("daily-report").await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(
        publish("daily-report").await.body,
        first.body,
        "a retry repeats the answer"
    );

    let day_ago = chrono::Utc::now().timestamp_millis() - 25 * 3_600_000;
    server
        .sql(&format!(
            "UPDATE idempotency_keys SET created_at = {day_ago}"
        ))
        .await;
    let later = publish("daily-report").await;
    assert_eq!(later.status, StatusCode::ACCEPTED);
    assert_ne!(later.body, first.body, "an expired key publishes again");

    // A publish that died midway ten minutes ago does not block the key.
    let ten_minutes_ago = chrono::Utc::now().timestamp_millis() - 10 * 60_000;
    server
        .sql(&format!(
            "INSERT INTO idempotency_keys (publisher, key, status, response, created_at)
             SELECT publisher, 'crashed', 0, '', {ten_minutes_ago} FROM idempotency_keys LIMIT 1"
        ))
        .await;
    let retried = publish("crashed").await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
}

#[tokio::test]
async fn presence_is_shown_only_where_the_person_has_written_and_can_be_hidden() {
    let server = TestServer::start();
    let alice = server.client();
    alice.register("alice").await;
    let stalker = server.client();
    stalker.register("stalker").await;
    let _alice_online = EventStream::open(&alice, "/api/events", &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let created = stalker
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "alice"}),
        )
        .await;
    let id = created.json::<serde_json::Value>()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let presence_of_alice = |answer: serde_json::Value| {
        answer["conversation"]["presence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["user_id"] != answer["conversation"]["created_by"])
            .cloned()
            .unwrap()
    };
    let seen = presence_of_alice(
        stalker
            .get(&format!("/api/conversations/{id}"))
            .await
            .json(),
    );
    assert_eq!(seen["online"], false, "{seen}");

    alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            &json!({"body": "hi"}),
        )
        .await;
    let seen = presence_of_alice(
        stalker
            .get(&format!("/api/conversations/{id}"))
            .await
            .json(),
    );
    assert_eq!(seen["online"], true, "{seen}");

    let mut preferences = alice
        .get("/api/preferences")
        .await
        .json::<serde_json::Value>();
    preferences["hide_presence"] = json!(true);
    assert_eq!(
        alice.put("/api/preferences", &preferences).await.status,
        StatusCode::OK
    );
    let seen = presence_of_alice(
        stalker
            .get(&format!("/api/conversations/{id}"))
            .await
            .json(),
    );
    assert_eq!(seen["online"], false, "{seen}");
    assert!(seen["last_seen_at"].is_null());
}
