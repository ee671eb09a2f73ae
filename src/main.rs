//! The Herald server binary: reads Leptos.toml (or `HERALD_CONFIG`) and the
//! `HERALD_*` variables, opens the store, and serves the app and API until
//! SIGINT/SIGTERM. Server only (`ssr`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use herald::auth;
use herald::auth::password::PasswordHasherPool;
use herald::auth::session::LiveSessions;
use herald::chat::viewers::Viewers;
use herald::realtime::hub::Hub;
use herald::server::config::Config;
use herald::server::rate_limit::{RateLimiter, WindowLimiter};
use herald::server::state::AppState;
use herald::server::{router, serve, telemetry};
use herald::store::Store;
use herald::system::metrics::Metrics;
use tokio_util::sync::CancellationToken;

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
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("herald: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, config_path: PathBuf) -> Result<(), String> {
    let mut leptos = leptos::prelude::get_configuration(Some(&config_path.to_string_lossy()))
        .map_err(|e| format!("{}: [package.metadata.leptos]: {e}", config_path.display()))?
        .leptos_options;
    leptos.site_addr = config.addr;

    let store = Store::open(&config)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let listener =
        serve::bind(config.addr).map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;

    let hasher = PasswordHasherPool::new(config.password_hash_concurrency.get())
        .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let config = Arc::new(config);
    let state = AppState {
        leptos_options: leptos,
        config: config.clone(),
        store: store.clone(),
        shutdown: shutdown.clone(),
        started_at: Instant::now(),
        hasher,
        live_sessions: LiveSessions::default(),
        hub: Hub::new(config.connection_queue.get()),
        publish_limiter: RateLimiter::new(config.publish_rate_per_minute.get()),
        send_limiter: WindowLimiter::new(config.send_rate_per_minute.get()),
        viewers: Viewers::default(),
        metrics: Metrics::new(),
    };
    auth::service::ensure_admin(&state)
        .await
        .map_err(|e| format!("cannot ensure the admin account: {e}"))?;
    auth::service::spawn_maintenance(state.clone());
    herald::realtime::retention::spawn(state.clone());
    herald::chat::service::spawn_presence(state.clone());
    herald::system::status::spawn_sampler(state.clone());
    let app = router::build(state);

    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        serve::shutdown_signal().await;
        tracing::info!("shutdown signal received");
        signal_token.cancel();
    });

    // Tests and scripts wait for this exact line to learn the bound port.
    tracing::info!(addr = %local_addr, "herald listening on http://{local_addr}");
    serve::serve(
        listener,
        app,
        shutdown,
        std::time::Duration::from_secs(config.header_read_timeout_secs.get()),
        config.shutdown_grace(),
    )
    .await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
