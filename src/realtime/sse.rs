//! `GET /api/events`: the Server-Sent Events stream of the signed-in user.
//! Writes `retry:` and the ephemeral `ready` event first, a `: ping` comment
//! every heartbeat, and ends when the session ends (logout, password change,
//! disabling, expiry) or the server shuts down. Server only.

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
use crate::auth::session::StreamRegistration;
use crate::realtime::types::Ephemeral;
use crate::server::error::AppError;
use crate::server::router::ApiRoute;
use crate::server::state::AppState;

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
    registration: StreamRegistration,
    heartbeat: Interval,
    opening: Option<Bytes>,
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
    let connection = Connection {
        registration,
        heartbeat,
        opening: Some(Bytes::from(opening)),
    };
    tracing::debug!(user = %current.user.username, "event stream opened");

    let body = stream::unfold(connection, |mut connection| async move {
        if let Some(opening) = connection.opening.take() {
            return Some((Ok::<_, std::io::Error>(opening), connection));
        }
        tokio::select! {
            () = connection.registration.ended().cancelled() => None,
            _ = connection.heartbeat.tick() => Some((Ok(Bytes::from_static(PING)), connection)),
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
