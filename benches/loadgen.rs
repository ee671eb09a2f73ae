//! Load generator: starts the release server on a free port with a fresh
//! data directory, opens N Server-Sent Events connections (spread over
//! several loopback source addresses), publishes at a chosen rate, and
//! prints connections held, server RSS per connection, publish-to-receive
//! latency percentiles, events delivered per second, and what the admin
//! status page (`/api/status`) shows at the end of the load.
//!
//!     cargo bench --bench loadgen --features ssr -- --connections 10000 --rate 200 --seconds 20
//!
//! Options: --connections N (1000), --per-user K connections per user (10),
//! --rate R publishes per second (200; each reaches one user's K
//! connections), --seconds S of publishing (15), --sources M loopback
//! source addresses (N / 2000 + 1), --hold S to keep the load (and the
//! server) up S seconds after it, to look at /admin/status.
//!
//! --rate 0 skips the paced phase. --publishers P adds a saturation phase
//! after it: P publishes always in flight for --seconds, each to one user
//! (round-robin); it prints acknowledged publishes per second and their
//! publish-to-receive latency. --synchronous full|normal sets the server's
//! `db_synchronous`; --batch B makes each saturation request a
//! `POST /api/notifications/batch` of B notifications (to B users in turn);
//! HERALD_BIN runs another build of the server (to
//! compare before and after a change with the same generator).
//!
//! --topics T switches to live topics: connection c subscribes to topic
//! `load:<c mod T>` (in its stream's query), and the paced phase sets
//! topic values (`PUT /api/topics/load:<n mod T>`) at --rate per second in
//! all, round-robin over the topics. It prints values delivered per
//! second (intermediate ones may be coalesced away under load), their
//! publish-to-receive latency and the server's CPU use meanwhile.
//!
//!     cargo bench --bench loadgen --features ssr -- --topics 1 --connections 10000 --rate 10 --seconds 20
//!     cargo bench --bench loadgen --features ssr -- --topics 10000 --connections 10000 --per-user 10 --rate 2000 --seconds 5
//!
//!     cargo bench --bench loadgen --features ssr -- --connections 1000 --rate 0 --publishers 64 --seconds 10

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Barrier;

struct Options {
    connections: usize,
    per_user: usize,
    rate: u64,
    seconds: u64,
    sources: usize,
    /// Seconds to keep the load up afterwards.
    hold: Option<u64>,
    /// Publishes kept in flight in the saturation phase.
    publishers: Option<u64>,
    /// Notifications per request in the saturation phase (the batch endpoint).
    batch: Option<u64>,
    /// The server's `db_synchronous`, when given.
    synchronous: Option<String>,
    /// Live topics mode: this many topics.
    topics: Option<u64>,
}

fn parse_options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if args.iter().any(|a| a == "--help") {
        println!(
            "{}",
            include_str!("loadgen.rs")
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::process::exit(0);
    }
    let connections = value("--connections").unwrap_or(1000) as usize;
    Options {
        connections,
        per_user: value("--per-user").unwrap_or(10).max(1) as usize,
        rate: value("--rate").unwrap_or(200),
        seconds: value("--seconds").unwrap_or(15).max(1),
        sources: value("--sources")
            .map(|v| v as usize)
            .unwrap_or(connections / 2000 + 1)
            .clamp(1, 250),
        hold: value("--hold"),
        publishers: value("--publishers").filter(|&p| p > 0),
        batch: value("--batch").filter(|&b| b > 1),
        synchronous: args
            .iter()
            .position(|a| a == "--synchronous")
            .and_then(|i| args.get(i + 1))
            .cloned(),
        topics: value("--topics").filter(|&t| t > 0),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time the process used so far (user + system), in clock ticks of
/// 10 ms (Linux's USER_HZ).
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(port: u16, options: &Options) -> Server {
    let data = tempfile::tempdir().expect("temp dir");
    let binary =
        std::env::var("HERALD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_herald").to_owned());
    let mut command = Command::new(binary);
    if let Some(mode) = &options.synchronous {
        command.env("HERALD_DB_SYNCHRONOUS", mode);
    }
    let child = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HERALD_ADDR", format!("127.0.0.1:{port}"))
        .env("HERALD_DATA_DIR", data.path())
        .env("HERALD_ADMIN_USERNAME", "loadgen")
        .env("HERALD_ADMIN_PASSWORD", "loadgen password")
        .env("HERALD_PUBLISH_RATE_PER_MINUTE", "100000000")
        .env(
            "HERALD_MAX_CONNECTIONS_PER_USER",
            (options.per_user + 1).to_string(),
        )
        .env("HERALD_LOGIN_FAILURES_PER_IP_PER_HOUR", "100000")
        // Every user is registered and connected from a few loopback
        // addresses: the per-address limits are for strangers.
        .env("HERALD_REGISTRATIONS_PER_IP_PER_HOUR", "100000000")
        .env("HERALD_MAX_CONNECTIONS_PER_IP", "100000")
        .env("HERALD_PASSWORD_HASH_CONCURRENCY", "2")
        .env("HERALD_TOPIC_ACCESS", "load=users")
        .env("HERALD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start herald");
    Server { child, _data: data }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let options = parse_options();
    let port = free_port();
    let server = start_server(port, &options);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    for _ in 0..300 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let empty_rss = rss_kib(server.child.id());

    // Users, each with a session cookie; registration hashes passwords, so
    // it runs a few at a time.
    let users = options.connections.div_ceil(options.per_user);
    let started = Instant::now();
    let cookies: Vec<String> = futures_util::stream::iter(0..users)
        .map(|n| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let response = http
                    .post(format!("{base}/api/auth/register"))
                    .json(&json!({"username": format!("load{n}"), "password": "load password"}))
                    .send()
                    .await
                    .expect("register");
                assert!(
                    response.status().is_success(),
                    "register: {}",
                    response.status()
                );
                // The session cookie, not the device cookie that comes with it.
                let cookie = response
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find(|v| v.starts_with("herald_session="))
                    .expect("session cookie");
                cookie.split(';').next().unwrap_or_default().to_owned()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    println!(
        "registered {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Measured after registration: password hashing's buffers are not
    // connection cost.
    let idle_rss = rss_kib(server.child.id());
    println!(
        "server RSS: {:.1} MiB at start, {:.1} MiB after registering",
        empty_rss as f64 / 1024.0,
        idle_rss as f64 / 1024.0
    );

    // One client per loopback source address.
    let clients: Vec<reqwest::Client> = (0..options.sources)
        .map(|i| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, (i + 1) as u8)))
                .pool_max_idle_per_host(0)
                .build()
                .expect("client")
        })
        .collect();

    let held = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Stop::new();
    let ready_barrier = Arc::new(Barrier::new(options.connections + 1));
    let mut readers = Vec::with_capacity(options.connections);
    let open_started = Instant::now();
    for c in 0..options.connections {
        let client = clients[c % clients.len()].clone();
        let cookie = cookies[c / options.per_user].clone();
        let url = match options.topics {
            Some(topics) => format!("{base}/api/events?topics=load:{}", c as u64 % topics),
            None => format!("{base}/api/events"),
        };
        let (held, delivered, barrier, stop) = (
            held.clone(),
            delivered.clone(),
            ready_barrier.clone(),
            stop.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let response = match client.get(&url).header("cookie", cookie).send().await {
                Ok(r) if r.status().is_success() => Some(r),
                _ => None,
            };
            let Some(response) = response else {
                barrier.wait().await;
                return latencies;
            };
            held.fetch_add(1, Ordering::Relaxed);
            barrier.wait().await;
            let mut body = response.bytes_stream();
            let mut buffer = Vec::new();
            loop {
                let chunk = tokio::select! {
                    chunk = body.next() => chunk,
                    () = stop.notified() => break,
                };
                let Some(Ok(chunk)) = chunk else { break };
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                    let frame: Vec<u8> = buffer.drain(..end + 2).collect();
                    let text = String::from_utf8_lossy(&frame);
                    if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                        if text.contains("event: topic") {
                            if let Ok(value) = serde_json::from_str::<Value>(data)
                                && let Some(sent) = value["value"]["sent_us"].as_u64()
                            {
                                latencies.push((false, now_us().saturating_sub(sent)));
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                        if !text.contains("event: notification") {
                            continue;
                        }
                        if let Ok(value) = serde_json::from_str::<Value>(data)
                            && let Some(sent) = value["notification"]["data"]["sent_us"].as_u64()
                        {
                            let saturating = value["notification"]["title"]
                                .as_str()
                                .is_some_and(|t| t.starts_with("burst"));
                            latencies.push((saturating, now_us().saturating_sub(sent)));
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            latencies
        }));
        if c % 500 == 499 {
            // Let the server accept in waves rather than one storm.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ready_barrier.wait().await;
    let connections_held = held.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded_rss = rss_kib(server.child.id());
    println!(
        "connections held: {connections_held} of {} (opened in {:.1} s)",
        options.connections,
        open_started.elapsed().as_secs_f64()
    );
    println!(
        "server RSS: {:.1} MiB idle, {:.1} MiB with connections, {:.1} KiB per connection",
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0,
        (loaded_rss.saturating_sub(idle_rss)) as f64 / connections_held.max(1) as f64
    );

    // Publish at the chosen rate, round-robin over users.
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let login = admin
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "loadgen", "password": "loadgen password"}))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success());
    // Publishers are other servers: they publish with an API token, as an
    // integration does (the session stays for the status page).
    let token = admin
        .post(format!("{base}/api/tokens"))
        .json(&json!({"name": "loadgen"}))
        .send()
        .await
        .expect("token")
        .json::<Value>()
        .await
        .expect("token answer")["token"]
        .as_str()
        .expect("token secret")
        .to_owned();
    let publisher = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .expect("client");
    let total = options.rate * options.seconds;
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(1) as f64);
    let cpu_before = cpu_ticks(server.child.id());
    let publish_started = Instant::now();
    let mut in_flight = Vec::new();
    for n in 0..total {
        let target = publish_started + interval * n as u32;
        tokio::time::sleep_until(target.into()).await;
        let publisher = publisher.clone();
        if let Some(topics) = options.topics {
            let url = format!("{base}/api/topics/load:{}", n % topics);
            in_flight.push(tokio::spawn(async move {
                let body = json!({"n": n, "sent_us": now_us()});
                publisher
                    .put(url)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }));
            continue;
        }
        let url = format!("{base}/api/notifications");
        let user = format!("load{}", n as usize % users);
        in_flight.push(tokio::spawn(async move {
            let body = json!({"to": [user], "category": "job", "title": format!("load {n}"), "data": {"sent_us": now_us()}});
            publisher.post(url).json(&body).send().await.map(|r| r.status().is_success()).unwrap_or(false)
        }));
    }
    let mut acknowledged = 0;
    for task in in_flight {
        if task.await.unwrap_or(false) {
            acknowledged += 1;
        }
    }
    let publish_elapsed = publish_started.elapsed().as_secs_f64();
    // Every connection of a user, or every subscriber of a topic.
    let receivers = match options.topics {
        Some(topics) => (options.connections as u64).div_ceil(topics),
        None => options.per_user as u64,
    };
    let mut expected = acknowledged as u64 * receivers;
    // Topic values may be coalesced: fewer than published can be complete.
    let drain = Duration::from_secs(if options.topics.is_some() { 5 } else { 30 });
    let drain_deadline = Instant::now() + drain;
    let mut last_seen = (delivered.load(Ordering::Relaxed), Instant::now());
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last_seen.0 {
            last_seen = (now, Instant::now());
        } else if options.topics.is_some() && last_seen.1.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let elapsed = last_seen
        .1
        .duration_since(publish_started)
        .as_secs_f64()
        .max(publish_elapsed);
    let cpu_used = cpu_ticks(server.child.id()).saturating_sub(cpu_before) as f64 / 100.0;

    // Saturation: as many publishes as the server takes, P at a time.
    let mut saturation = None;
    if let Some(publishers) = options.publishers {
        let next = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(options.seconds);
        let tasks: Vec<_> = (0..publishers)
            .map(|_| {
                let (publisher, next, failed) =
                    (publisher.clone(), next.clone(), failed.clone());
                let batch = options.batch;
                let url = match batch {
                    Some(_) => format!("{base}/api/notifications/batch"),
                    None => format!("{base}/api/notifications"),
                };
                tokio::spawn(async move {
                    let mut acknowledged = 0u64;
                    while let Some(size) = batch.filter(|_| Instant::now() < deadline) {
                        let first = next.fetch_add(size, Ordering::Relaxed);
                        let items: Vec<Value> = (first..first + size)
                            .map(|n| {
                                let user = format!("load{}", n as usize % users);
                                json!({"to": [user], "category": "job", "title": format!("burst {n}"), "data": {"sent_us": now_us()}})
                            })
                            .collect();
                        let answer = publisher
                            .post(&url)
                            .json(&json!({"notifications": items}))
                            .send()
                            .await;
                        let accepted = match answer {
                            Ok(r) if r.status().is_success() => r
                                .json::<Value>()
                                .await
                                .ok()
                                .and_then(|v| v["accepted"].as_u64())
                                .unwrap_or(0),
                            _ => 0,
                        };
                        acknowledged += accepted;
                        failed.fetch_add(size - accepted, Ordering::Relaxed);
                    }
                    while batch.is_none() && Instant::now() < deadline {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let user = format!("load{}", n as usize % users);
                        let body = json!({"to": [user], "category": "job", "title": format!("burst {n}"), "data": {"sent_us": now_us()}});
                        match publisher.post(&url).json(&body).send().await {
                            Ok(r) if r.status().is_success() => acknowledged += 1,
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    acknowledged
                })
            })
            .collect();
        let mut acknowledged = 0;
        for task in tasks {
            acknowledged += task.await.unwrap_or(0);
        }
        let took = started.elapsed().as_secs_f64();
        expected += acknowledged * options.per_user as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(30);
        while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        saturation = Some((
            publishers,
            acknowledged,
            failed.load(Ordering::Relaxed),
            took,
        ));
    }
    // What the admin status page shows now, connections still open.
    match admin.get(format!("{base}/api/status")).send().await {
        Ok(answer) if answer.status().is_success() => match answer.json::<Value>().await {
            Ok(report) => print_status(&report),
            Err(error) => println!("status page: unreadable answer ({error})"),
        },
        Ok(answer) => println!("status page: HTTP {}", answer.status()),
        Err(error) => println!("status page: {error}"),
    }
    if let Some(hold) = options.hold {
        println!("holding the load for {hold} s: {base}/admin/status (loadgen / loadgen password)");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    stop.notify_waiters_forever();
    let mut latencies: Vec<u64> = Vec::new();
    let mut saturated: Vec<u64> = Vec::new();
    for reader in readers {
        for (saturating, latency) in reader.await.unwrap_or_default() {
            if saturating {
                saturated.push(latency);
            } else {
                latencies.push(latency);
            }
        }
    }
    latencies.sort_unstable();
    saturated.sort_unstable();
    if total > 0 {
        println!(
            "published {acknowledged} of {total} in {publish_elapsed:.1} s ({:.0}/s)",
            acknowledged as f64 / publish_elapsed
        );
        println!(
            "delivered {} of {} {} in {elapsed:.1} s: {:.0} {}/s",
            latencies.len(),
            acknowledged as u64 * receivers,
            if options.topics.is_some() {
                "published to subscribers (the rest coalesced)"
            } else {
                "expected"
            },
            latencies.len() as f64 / elapsed,
            if options.topics.is_some() {
                "values"
            } else {
                "events"
            },
        );
        println!(
            "server CPU while publishing and delivering: {cpu_used:.1} s in {elapsed:.1} s ({:.0} % of one core)",
            cpu_used / elapsed * 100.0
        );
        println!(
            "publish-to-receive latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0)
        );
    }
    if let Some((publishers, acknowledged, failed, took)) = saturation {
        println!(
            "saturation: {acknowledged} publishes acknowledged in {took:.1} s with {publishers} requests in flight{}: {:.0}/s ({failed} failed)",
            options
                .batch
                .map(|b| format!(" of {b} notifications each"))
                .unwrap_or_default(),
            acknowledged as f64 / took
        );
        println!(
            "saturation: delivered {} of {} expected; publish-to-receive p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            saturated.len(),
            acknowledged * options.per_user as u64,
            percentile(&saturated, 0.50),
            percentile(&saturated, 0.99),
            percentile(&saturated, 1.0)
        );
    }
    drop(server);
}

/// Prints the figures of the admin status page.
fn print_status(report: &Value) {
    let n = |path: &[&str]| {
        path.iter()
            .fold(report, |v, key| &v[*key])
            .as_f64()
            .map_or_else(|| "-".to_owned(), |v| format!("{v}"))
    };
    let series_peak = |field: &str| {
        report["history"][field]
            .as_array()
            .and_then(|values| values.iter().filter_map(Value::as_u64).max())
            .unwrap_or(0)
    };
    println!("status page (/api/status) after the load:");
    println!(
        "  connections {}, online users {}, uptime {} s",
        n(&["connections"]),
        n(&["online_users"]),
        n(&["uptime_s"])
    );
    println!(
        "  events published {} (peak {}/s), delivered {} (peak {}/s)",
        n(&["events_published_total"]),
        series_peak("published"),
        n(&["events_delivered_total"]),
        series_peak("delivered")
    );
    println!(
        "  delivery latency p50 {} ms, p95 {} ms, p99 {} ms",
        n(&["delivery_latency_ms", "p50"]),
        n(&["delivery_latency_ms", "p95"]),
        n(&["delivery_latency_ms", "p99"])
    );
    let bins: Vec<String> = report["latency_histogram"]
        .as_array()
        .map(|bins| {
            bins.iter()
                .filter(|bin| bin["count"].as_u64().unwrap_or(0) > 0)
                .map(|bin| format!("{}: {}", bin["label"].as_str().unwrap_or("?"), bin["count"]))
                .collect()
        })
        .unwrap_or_default();
    println!("  latency histogram: {}", bins.join(", "));
    println!(
        "  replays {}, resets {}, slow consumers dropped {}, connections refused {}, rate-limited {}",
        n(&["replays_served_total"]),
        n(&["resets_total"]),
        n(&["slow_consumers_dropped_total"]),
        n(&["connections_refused_total"]),
        n(&["rate_limited_total"])
    );
    println!(
        "  database {} bytes, pool {} open / {} idle / {} max, query {} ms (max {} ms)",
        n(&["database", "size_bytes"]),
        n(&["database", "pool_size"]),
        n(&["database", "pool_idle"]),
        n(&["database", "pool_max"]),
        n(&["database", "query_latency_ms"]),
        n(&["database", "query_latency_max_ms"])
    );
    println!(
        "  writer: {} writes in {} transactions, largest batch {}",
        n(&["database", "writes"]),
        n(&["database", "write_batches"]),
        n(&["database", "largest_write_batch"])
    );
    println!(
        "  process {} bytes resident, {} of {} files open",
        n(&["process", "resident_memory_bytes"]),
        n(&["process", "open_fds"]),
        n(&["process", "fd_limit"])
    );
    let top: Vec<String> = report["top_users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .take(3)
                .map(|u| {
                    format!(
                        "{} ({})",
                        u["username"].as_str().unwrap_or("?"),
                        u["connections"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("  most connections: {}", top.join(", "));
}

/// A stop signal every reader can wait on, including readers that start
/// waiting after it fired.
#[derive(Clone)]
struct Stop(Arc<(tokio::sync::Notify, std::sync::atomic::AtomicBool)>);

impl Stop {
    async fn notified(&self) {
        loop {
            let notified = self.0.0.notified();
            if self.0.1.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn notify_waiters_forever(&self) {
        self.0.1.store(true, Ordering::Release);
        self.0.0.notify_waiters();
    }
}

impl Stop {
    fn new() -> Self {
        Self(Arc::new((
            tokio::sync::Notify::new(),
            std::sync::atomic::AtomicBool::new(false),
        )))
    }
}
