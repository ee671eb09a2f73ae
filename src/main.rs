//! The Herald server binary: reads Leptos.toml (or `HERALD_CONFIG`) and the
//! `HERALD_*` variables, opens the store, and serves the app and API until
//! SIGINT/SIGTERM. Server only (`ssr`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::auth;
use herald::auth::device::DeviceKey;
use herald::auth::password::PasswordHasherPool;
use herald::auth::session::LiveSessions;
use herald::chat::typing::TypingGate;
use herald::chat::viewers::Viewers;
use herald::push::queue::PushQueue;
use herald::push::vapid::Vapid;
use herald::realtime::bus::Bus;
use herald::realtime::hub::Hub;
use herald::server::config::Config;
use herald::server::rate_limit::{RateLimiter, WindowLimiter};
use herald::server::state::{AppParts, AppState};
use herald::server::{router, serve, telemetry};
use herald::store::Store;
use herald::system::metrics::Metrics;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// jemalloc, for memory per connection (see Cargo.toml); SQLite's own
/// allocations still go to the C library's malloc.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation: one arena and no
/// per-thread caches (an idle stream's few small allocations then share
/// pages with everyone else's), and freed pages returned to the system at
/// once, so a connection storm's transient memory does not stay resident.
/// Measured on 10,000 streams: 11.2 KB per stream against 15.4 KB with the
/// defaults, and no change in 1:1 publish throughput. The price: under a
/// broadcast flood the writer faults freed pages back in (about 6 % of a
/// core); a 1 s decay kept 13.6 KB per stream.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_OPTIONS: &[u8; 57] = b"narenas:1,tcache:false,dirty_decay_ms:0,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    telemetry::tune_allocator();
    let config_path = std::env::var_os("HERALD_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("Leptos.toml"));
    let config = match Config::load(&config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, config_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            tracing::error!("{}", failure.message);
            eprintln!("herald: {}", failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}

/// Why the server stopped: a message and the exit code (2 for a
/// configuration that cannot be used, 1 otherwise).
struct Failure {
    exit_code: u8,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            exit_code: 1,
            message,
        }
    }
}

async fn run(config: Config, config_path: PathBuf) -> Result<(), Failure> {
    let mut leptos = leptos::prelude::get_configuration(Some(&config_path.to_string_lossy()))
        .map_err(|e| format!("{}: [package.metadata.leptos]: {e}", config_path.display()))?
        .leptos_options;
    leptos.site_addr = config.addr;
    // A release build names its files by content and lists the names in
    // hash.txt beside the binary; the page must then ask for those names.
    leptos.hash_files = herald::server::assets::site_is_hashed(&leptos.hash_file);
    tracing::info!(hashed = leptos.hash_files, site = %leptos.site_root, "static files");

    herald::server::random::check()?;
    let hub = Hub::new(config.connection_queue.get());
    let (push, push_inbox) = PushQueue::new();
    let bus = Bus::new(hub.clone(), push.clone());
    let store = Store::open(&config, Arc::new(bus.clone()))
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    tracing::info!(database = store.backend().name(), "store open");
    let listener =
        serve::bind(config.addr).map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !local_addr.ip().is_loopback() && !config.public_url.is_https() {
        tracing::warn!(
            addr = %local_addr,
            public_url = config.public_url.as_str(),
            "listening beyond this machine while public_url is http://: passwords and session \
             cookies would cross the network in clear text; put a TLS proxy in front and set \
             public_url to its https:// address"
        );
    }
    let file_limit = serve::raise_file_limit();
    let serve_options = serve::ServeOptions {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.get()),
        write_timeout: Duration::from_secs(config.write_timeout_secs.get()),
        grace: config.shutdown_grace(),
        max_connections: config.connection_limit(file_limit),
        max_connections_per_ip: config.max_connections_per_ip.get() as usize,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    tracing::info!(
        file_limit,
        max_connections = serve_options.max_connections,
        max_connections_per_ip = serve_options.max_connections_per_ip,
        "connection limits"
    );
    let connections = serve::connection_counts(&serve_options);

    let device_key = DeviceKey::load(&store)
        .await
        .map_err(|e| format!("cannot load the device-cookie key: {e}"))?;
    let vapid = Vapid::load(&store, config.push_contact())
        .await
        .map_err(|e| format!("cannot load the Web Push key: {e}"))?;
    let hasher = PasswordHasherPool::new(config.password_hash_concurrency.get())
        .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let config = Arc::new(config);
    let state = AppState::new(AppParts {
        leptos_options: leptos,
        config: config.clone(),
        store: store.clone(),
        shutdown: shutdown.clone(),
        started_at: Instant::now(),
        hasher,
        live_sessions: LiveSessions::default(),
        hub,
        bus,
        publish_limiter: RateLimiter::new(config.publish_rate_per_minute.get())
            .across_instances(&store, "publish"),
        send_limiter: WindowLimiter::new(config.send_rate_per_minute.get())
            .across_instances(&store, "send"),
        viewers: Viewers::default(),
        metrics: Metrics::new(),
        connections: connections.clone(),
        registration_limiter: WindowLimiter::with_window(
            config.registrations_per_ip_per_hour.get(),
            Duration::from_secs(3600),
        )
        .across_instances(&store, "register"),
        conversation_limiter: RateLimiter::new(config.conversations_per_minute.get())
            .across_instances(&store, "conversation"),
        membership_limiter: RateLimiter::new(config.membership_changes_per_minute.get())
            .across_instances(&store, "membership"),
        typing: TypingGate::default(),
        device_key,
        uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads.get())),
        push,
        vapid: vapid.clone(),
        integration_keys: herald::integrations::keys::IntegrationKeys::default(),
        topics: herald::topics::hub::TopicHub::new(store.node_id()),
    });
    match auth::service::ensure_admin(&state).await {
        Ok(()) => {}
        Err(auth::service::AdminBootstrapError::PasswordMismatch(name)) => {
            return Err(Failure {
                exit_code: 2,
                message: format!(
                    "HERALD_ADMIN_USERNAME names the existing account `{name}`, whose password is \
                     not HERALD_ADMIN_PASSWORD; refusing to make it an admin. Sign in as that \
                     account and change its password to the configured one, or choose another \
                     admin name"
                ),
            });
        }
        Err(auth::service::AdminBootstrapError::Failed(e)) => {
            return Err(format!("cannot ensure the admin account: {e}").into());
        }
    }
    auth::service::spawn_maintenance(state.clone());
    herald::realtime::retention::spawn(state.clone());
    // The other instances count this one's presence rows only while its
    // row in `instances` is fresh: write it before any stream can open.
    let now = herald::server::clock::now_ms();
    if let Err(error) = state.store.instance_heartbeat(now, 0, 0, now).await {
        tracing::warn!(%error, "could not record this instance");
    }
    herald::realtime::cluster::spawn(state.clone());
    herald::chat::service::spawn_presence(state.clone());
    herald::system::status::spawn_sampler(state.clone());
    herald::push::sender::spawn(state.clone(), push_inbox, vapid)?;
    herald::topics::service::spawn_status_topic(state.clone());
    let app = router::build(state);

    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        serve::shutdown_signal().await;
        tracing::info!("shutdown signal received");
        signal_token.cancel();
    });

    // Tests and scripts wait for this exact line to learn the bound port.
    tracing::info!(addr = %local_addr, "herald listening on http://{local_addr}");
    serve::serve(listener, app, shutdown, serve_options, connections).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
