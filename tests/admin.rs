//! The admin status report, `/metrics` and the admin server functions
//! against the real server: the numbers follow what really happens, and
//! only admins (or, for `/metrics`, tokens and direct local scrapers) see
//! them.

mod common;

use std::time::Duration;

use common::{Api, EventStream, TestServer, admin_client, admin_options};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn status(admin: &Api) -> Value {
    let answer = admin.get("/api/status").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()
}

/// Polls the status until `check` holds (the sampler and stream teardown
/// run concurrently with the test).
async fn status_until(admin: &Api, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let report = status(admin).await;
        if check(&report) {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never showed {what}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_stream(api: &Api, headers: &[(&str, &str)]) -> EventStream {
    let mut stream = EventStream::open(api, "/api/events", headers).await;
    assert_eq!(stream.status, StatusCode::OK);
    let ready = stream.next_event(WAIT).await.expect("ready");
    assert_eq!(ready.event.as_deref(), Some("ready"));
    stream
}

async fn publish(admin: &Api, to: &str, title: &str) {
    let answer = admin
        .post(
            "/api/notifications",
            &json!({"to": [to], "category": "job", "priority": "normal", "title": title, "body": ""}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
}

async fn read_stored(stream: &mut EventStream, count: usize) {
    let mut seen = 0;
    while seen < count {
        let frame = stream.next_event(WAIT).await.expect("stream ended early");
        if frame.id.is_some() {
            seen += 1;
        }
    }
}

fn number(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {report}"))
}

#[tokio::test]
async fn the_status_follows_connections_publishes_and_deliveries() {
    let server =
        TestServer::start_with(admin_options().env("HERALD_METRICS_ALLOW_LOOPBACK", "true"));
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;

    let before = status(&admin).await;
    for field in [
        "connections",
        "online_users",
        "uptime_s",
        "events_published_total",
        "events_delivered_total",
    ] {
        number(&before, field);
    }
    assert_eq!(number(&before, "connections"), 0);
    assert!(before["delivery_latency_ms"]["p50"].is_null(), "{before}");

    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(open_stream(&alice, &[]).await);
    }
    let live = status(&admin).await;
    assert_eq!(number(&live, "connections"), 3, "{live}");
    assert_eq!(number(&live, "online_users"), 1, "{live}");
    assert_eq!(live["top_users"][0]["username"], "alice", "{live}");
    assert_eq!(live["top_users"][0]["connections"], 3, "{live}");

    let published = number(&live, "events_published_total");
    let delivered = number(&live, "events_delivered_total");
    for n in 0..10 {
        publish(&admin, "alice", &format!("job {n}")).await;
    }
    for stream in &mut streams {
        read_stored(stream, 10).await;
    }
    let after = status_until(&admin, "30 deliveries", |report| {
        number(report, "events_delivered_total") >= delivered + 30
    })
    .await;
    assert_eq!(number(&after, "events_published_total"), published + 10);
    assert_eq!(number(&after, "events_delivered_total"), delivered + 30);
    let latency = &after["delivery_latency_ms"];
    let p50 = latency["p50"].as_f64().expect("p50 after traffic");
    let p95 = latency["p95"].as_f64().expect("p95 after traffic");
    let p99 = latency["p99"].as_f64().expect("p99 after traffic");
    assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99, "{latency}");
    let bars: u64 = after["latency_histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|bin| bin["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(bars, 30, "one bar entry per live delivery");

    // The per-second history catches the burst within a sampling period.
    let sampled = status_until(&admin, "the burst in the history", |report| {
        let sum = |field: &str| -> u64 {
            report["history"][field]
                .as_array()
                .map(|values| values.iter().filter_map(Value::as_u64).sum())
                .unwrap_or(0)
        };
        sum("published") >= 10 && sum("delivered") >= 30
    })
    .await;
    assert_eq!(sampled["history"]["interval_s"], 1);

    let metrics = server.client().get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains(&format!("herald_events_published_total {}", published + 10)),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("herald_connections 3"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("herald_delivery_latency_seconds_bucket"),
        "{}",
        metrics.body
    );

    drop(streams);
    status_until(&admin, "the streams closing", |report| {
        number(report, "connections") == 0 && number(report, "online_users") == 0
    })
    .await;
}

#[tokio::test]
async fn replays_resets_refusals_and_rate_limits_are_counted() {
    let server = TestServer::start_with(
        admin_options()
            .env("HERALD_MAX_CONNECTIONS_PER_USER", "1")
            .env("HERALD_SEND_RATE_PER_MINUTE", "2"),
    );
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let bob = server.client();
    bob.register("bob").await;
    publish(&admin, "alice", "one").await;
    publish(&admin, "alice", "two").await;
    let before = status(&admin).await;

    let mut replay = open_stream(&alice, &[("last-event-id", "0")]).await;
    read_stored(&mut replay, 2).await;
    let refused = EventStream::open(&alice, "/api/events", &[]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    drop(refused);
    drop(replay);
    // The slot frees when the stream's task notices the closed socket.
    let mut reset = loop {
        let stream = EventStream::open(&alice, "/api/events?last_event_id=999", &[]).await;
        if stream.status == StatusCode::OK {
            break stream;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut saw_reset = false;
    while !saw_reset {
        let frame = reset.next_event(WAIT).await.expect("reset frame");
        saw_reset = frame.event.as_deref() == Some("reset");
    }

    let conversation = alice
        .post(
            "/api/conversations",
            &json!({"kind": "direct", "with": "bob"}),
        )
        .await
        .json::<Value>();
    let id = conversation["conversation"]["id"].as_i64().expect("id");
    let path = format!("/api/conversations/{id}/messages");
    for body in ["a", "b"] {
        let sent = alice.post(&path, &json!({"body": body})).await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    }
    let limited = alice.post(&path, &json!({"body": "c"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);

    let after = status(&admin).await;
    let grew = |field: &str| number(&after, field) - number(&before, field);
    assert_eq!(grew("replays_served_total"), 1, "{after}");
    assert!(grew("resets_total") >= 1, "{after}");
    assert!(grew("connections_refused_total") >= 1, "{after}");
    // The refused stream and the refused message (and any refused retry
    // while the slot was still held) were all answered 429.
    assert!(grew("rate_limited_total") >= 2, "{after}");
    assert_eq!(
        grew("rate_limited_total"),
        grew("connections_refused_total") + 1,
        "{after}"
    );
}

#[tokio::test]
async fn status_and_metrics_are_for_admins_tokens_and_local_scrapers_only() {
    // Local scrapers only with the opt-in (tests/security.rs checks the
    // default refuses them).
    let server =
        TestServer::start_with(admin_options().env("HERALD_METRICS_ALLOW_LOOPBACK", "true"));
    let admin = admin_client(&server).await;
    let alice = server.client();
    alice.register("alice").await;
    let anonymous = server.client();

    assert_eq!(
        anonymous.get("/api/status").await.status,
        StatusCode::UNAUTHORIZED
    );
    let refused = alice.get("/api/status").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "forbidden");

    // A direct local connection may scrape; one through a proxy (which
    // connects from loopback too) must authenticate.
    assert_eq!(anonymous.get("/metrics").await.status, StatusCode::OK);
    let proxied = |api: &Api| {
        api.request(Method::GET, "/metrics")
            .header("x-forwarded-for", "203.0.113.9")
    };
    assert_eq!(
        anonymous.send(proxied(&anonymous)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        alice.send(proxied(&alice)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(admin.send(proxied(&admin)).await.status, StatusCode::OK);
    let created = admin
        .post("/fn/admin/tokens/create", &json!({"name": "prometheus"}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let created: Value = created.json();
    let secret = created["Ok"]["token"].as_str().expect("token shown once");
    let token = server.client().with_bearer(secret);
    let scraped = token.send(proxied(&token)).await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(
        scraped
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        scraped.headers
    );

    // The admin pages' server functions refuse everyone else.
    let calls: [(&str, Value); 6] = [
        ("/fn/admin/users", json!({"search": ""})),
        (
            "/fn/admin/users/update",
            json!({"id": 1, "change": {"role": "admin"}}),
        ),
        ("/fn/admin/tokens", json!({})),
        ("/fn/admin/tokens/create", json!({"name": "sneaky"})),
        ("/fn/admin/tokens/revoke", json!({"id": 1})),
        ("/fn/admin/status", json!({})),
    ];
    for (path, body) in &calls {
        let as_alice = if *path == "/fn/admin/status" {
            alice.send(alice.request(Method::POST, path)).await
        } else {
            alice.post(path, body).await
        };
        assert!(!as_alice.status.is_success(), "{path}: {}", as_alice.body);
        assert_eq!(as_alice.json::<Value>()["code"], "forbidden", "{path}");
        let as_nobody = if *path == "/fn/admin/status" {
            anonymous.send(anonymous.request(Method::POST, path)).await
        } else {
            anonymous.post(path, body).await
        };
        assert_eq!(as_nobody.json::<Value>()["code"], "unauthorized", "{path}");
    }
    let tokens = admin.get("/api/tokens").await.json::<Value>();
    assert_eq!(
        tokens["tokens"].as_array().map(Vec::len),
        Some(1),
        "nothing was created by the refused calls: {tokens}"
    );

    // Admins get the same report through the page's server function.
    let report = admin
        .send(admin.request(Method::POST, "/fn/admin/status"))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert!(report.json::<Value>()["instance_id"].is_string());
}

#[tokio::test]
async fn admins_manage_users_and_tokens_through_the_page_functions() {
    let server = TestServer::start_with(admin_options());
    let admin = admin_client(&server).await;
    let bob = server.client();
    let bob_user = bob.register("bob").await;
    let bob_id = bob_user["id"].as_i64().expect("id");

    let found = admin
        .post("/fn/admin/users", &json!({"search": "bo"}))
        .await
        .json::<Value>();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["username"], "bob");

    let disabled = admin
        .post(
            "/fn/admin/users/update",
            &json!({"id": bob_id, "change": {"disabled": true}}),
        )
        .await
        .json::<Value>();
    assert_eq!(disabled["Ok"]["disabled"], true, "{disabled}");
    assert_eq!(
        bob.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    let me = admin.get("/api/auth/me").await.json::<Value>();
    let refusal = admin
        .post(
            "/fn/admin/users/update",
            &json!({"id": me["user"]["id"], "change": {"role": "user"}}),
        )
        .await
        .json::<Value>();
    assert_eq!(refusal["Err"]["code"], "self_change", "{refusal}");

    let created = admin
        .post("/fn/admin/tokens/create", &json!({"name": "ci"}))
        .await
        .json::<Value>();
    let id = created["Ok"]["id"].as_i64().expect("token id");
    let listed = admin.post("/fn/admin/tokens", &json!({})).await;
    assert!(
        !listed
            .body
            .contains(created["Ok"]["token"].as_str().unwrap_or("-"))
    );
    let revoked = admin
        .post("/fn/admin/tokens/revoke", &json!({"id": id}))
        .await
        .json::<Value>();
    assert_eq!(revoked, json!({"Ok": null}));
    let again = admin
        .post("/fn/admin/tokens/revoke", &json!({"id": id}))
        .await
        .json::<Value>();
    assert_eq!(again["Err"]["code"], "not_found", "{again}");
    let unnamed = admin
        .post("/fn/admin/tokens/create", &json!({"name": " "}))
        .await
        .json::<Value>();
    assert_eq!(unnamed["Err"]["field"], "name", "{unnamed}");
}
