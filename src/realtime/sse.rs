//! `GET /api/events`: the Server-Sent Events stream of the signed-in user.
//! Writes `retry:` and the ephemeral `ready` event first, a `: ping` comment
//! every heartbeat, and ends when the session ends (logout, password change,
//! disabling, absolute expiry) or the server shuts down. An open stream
//! counts as activity for the session's idle limit. Server only.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Method;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use futures_util::stream;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::auth::extract::CurrentUser;
use crate::auth::service;
use crate::auth::session::StreamRegistration;
use crate::realtime::types::Ephemeral;
use crate::server::error::AppError;
use crate::server::router::ApiRoute;
use crate::server::state::AppState;
use crate::store::accounts::SessionHash;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::new(Method::GET, "/api/events", get(events))]
}

/// One ephemeral frame: `event:` and `data:`, no `id:`.
pub fn ephemeral_frame(event: &Ephemeral) -> Result<Bytes, AppError> {
    let data = serde_json::to_string(event).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Bytes::from(format!(
        "event: {}\ndata: {data}\n\n",
        event.name()
    )))
}

const PING: &[u8] = b": ping\n\n";

struct Connection {
    state: AppState,
    session: SessionHash,
    registration: StreamRegistration,
    heartbeat: Interval,
    /// The session's absolute expiry: the stream ends then.
    expires: Instant,
    /// When the stream last marked its session as in use.
    touched: Instant,
    touch_every: Duration,
    opening: Option<Bytes>,
}

impl Connection {
    /// Heartbeat work besides the ping: keep the session from idling out.
    async fn on_heartbeat(&mut self) {
        if self.touched.elapsed() >= self.touch_every {
            self.touched = Instant::now();
            if let Err(error) = service::keep_session_alive(&self.state, &self.session).await {
                tracing::warn!(%error, "could not record stream activity");
            }
        }
    }
}

async fn events(State(state): State<AppState>, current: CurrentUser) -> Result<Response, AppError> {
    let registration = state
        .live_sessions
        .register(current.session, &state.shutdown);
    let ready = ephemeral_frame(&Ephemeral::Ready { cursor: 0 })?;
    let mut opening = format!("retry: {}\n\n", state.config.sse_retry_ms.get()).into_bytes();
    opening.extend_from_slice(&ready);

    let period: Duration = state.config.heartbeat_secs.duration();
    let mut heartbeat = interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let remaining_ms = u64::try_from(current.session_expires_at - service::now_ms()).unwrap_or(0);
    let idle = Duration::from_secs(u64::from(state.config.session_idle_secs.get()));
    let connection = Connection {
        session: current.session,
        registration,
        heartbeat,
        expires: Instant::now() + Duration::from_millis(remaining_ms),
        touched: Instant::now(),
        touch_every: idle / 4,
        opening: Some(Bytes::from(opening)),
        state,
    };
    tracing::debug!(user = %current.user.username, "event stream opened");

    let body = stream::unfold(connection, |mut connection| async move {
        if let Some(opening) = connection.opening.take() {
            return Some((Ok::<_, std::io::Error>(opening), connection));
        }
        tokio::select! {
            () = connection.registration.ended().cancelled() => None,
            () = tokio::time::sleep_until(connection.expires) => None,
            _ = connection.heartbeat.tick() => {
                connection.on_heartbeat().await;
                Some((Ok(Bytes::from_static(PING)), connection))
            }
        }
    });

    Response::builder()
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .header("x-accel-buffering", HeaderValue::from_static("no"))
        .body(Body::from_stream(body))
        .map_err(|e| AppError::Internal(e.to_string()))
}
