//! `GET /api/events` (Server-Sent Events) and `GET /api/events/poll` (the
//! same stored events as JSON). Server only.
//!
//! A stream subscribes to the hub FIRST, then reads the user's window and
//! backlog from the store, then forwards live frames, skipping any sequence
//! number it already sent. A live frame that is not the next number (an
//! announcement overtaken by a later one) makes it catch up from the store,
//! so the client gets every event after its resume point, in order, exactly
//! once. Frames queued together go out in one write. The stream ends when
//! its session ends (logout, password change, disabling, absolute expiry),
//! when the hub drops it as a slow consumer (the client resumes), or at
//! shutdown. An open stream counts as activity for the session's idle limit.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::get;
use bytes::BytesMut;
use futures_util::stream;
use serde::Deserialize;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::auth::extract::Recipient;
use crate::auth::service;
use crate::auth::session::StreamRegistration;
use crate::model::event::{Ephemeral, Event, PollAnswer, Sequenced};
use crate::realtime::frames;
use crate::realtime::hub::{Frame, Subscription};
use crate::server::clock::now_ms;
use crate::server::error::{ApiQuery, AppError};
use crate::server::route::ApiRoute;
use crate::server::state::AppState;
use crate::store::accounts::SessionHash;
use crate::topics::hub::TopicStream;

/// Stored events read from the store per query while catching up.
const PAGE: u32 = 500;
/// Most live frames coalesced into one write.
const MAX_BATCH: usize = 256;

/// The routes this module serves.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/api/events", get(events)).summary("The event stream (Server-Sent Events); ?last_event_id=, ?topics=, ?access_token= for connection tokens"),
        ApiRoute::new(Method::GET, "/api/events/poll", get(poll)).summary("Stored events after a sequence number, as JSON (long-polling with ?wait=)"),
    ]
}

fn too_many_connections() -> AppError {
    AppError::RateLimited {
        code: "too_many_connections",
        message: "Too many open event streams for this account; close a tab or try again shortly."
            .into(),
        retry_after_secs: 5,
    }
}

/// Opens a stream of `user_id` on this instance's hub, within the per-user
/// cap. With several instances the cap counts the user's streams on the
/// others too, as their last heartbeat (a few seconds old at most) said.
async fn subscribe(state: &AppState, user_id: i64) -> Result<Subscription, AppError> {
    let max = state.config.max_connections_per_user.get();
    let elsewhere = match state.store.streams_elsewhere(user_id, now_ms()).await {
        Ok(streams) => streams,
        Err(error) => {
            // Better a cap per instance than no stream at all.
            tracing::warn!(%error, "streams on other instances unknown");
            0
        }
    };
    state
        .hub
        .subscribe(user_id, max.saturating_sub(elsewhere))
        .map_err(|_| too_many_connections())
}

/// Where a client resumes: the `Last-Event-ID` header, else the
/// `last_event_id` parameter. `Some(None)` is a resume point that is not a
/// number at all, answered like one outside the window (reset).
fn resume_point(headers: &HeaderMap, query: &StreamQuery) -> Option<Option<i64>> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.last_event_id.clone())?;
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(raw.parse::<i64>().ok())
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    last_event_id: Option<String>,
    /// Topics to listen to from the start, comma-separated (a client that
    /// reconnects names its topics again here).
    topics: Option<String>,
}

struct Connection {
    state: AppState,
    user_id: i64,
    /// The session to keep alive (`None` for a connection token).
    session: Option<SessionHash>,
    subscription: Subscription,
    topics: TopicStream,
    /// Opened with a connection token: at its expiry the client is told
    /// to fetch a new one.
    token_stream: bool,
    registration: StreamRegistration,
    /// The highest sequence number written to this client.
    last_sent: i64,
    /// Read the store before forwarding more live frames.
    catch_up: bool,
    opening: Option<Bytes>,
    heartbeat: Interval,
    expires: Instant,
    touched: Instant,
    touch_every: Duration,
}

enum Step {
    Write(Bytes),
    Again,
    End,
}

impl Connection {
    /// Heartbeat work besides the ping: keep the session from idling out.
    async fn on_heartbeat(&mut self) {
        if let Some(session) = self.session
            && self.touched.elapsed() >= self.touch_every
        {
            self.touched = Instant::now();
            if let Err(error) = service::keep_session_alive(&self.state, &session).await {
                tracing::warn!(%error, "could not record stream activity");
            }
        }
    }

    /// One page of stored events after `last_sent`, as one chunk.
    async fn read_store(&mut self) -> Step {
        match self
            .state
            .store
            .events_after(self.user_id, self.last_sent, PAGE)
            .await
        {
            Ok(events) => {
                if events.len() < PAGE as usize {
                    self.catch_up = false;
                }
                let mut out = BytesMut::new();
                for event in &events {
                    out.extend_from_slice(&Frame::stored_bytes(event));
                    self.last_sent = event.seq;
                }
                self.state.metrics.delivered(events.len() as u64);
                if out.is_empty() {
                    Step::Again
                } else {
                    Step::Write(out.freeze())
                }
            }
            Err(error) => {
                // The client reconnects and resumes from what it has.
                tracing::error!(%error, user_id = self.user_id, "event replay failed; ending stream");
                Step::End
            }
        }
    }

    /// Live frames: the next numbers go out together; anything out of
    /// order switches to catching up from the store.
    fn take_live(&mut self, first: std::sync::Arc<Frame>) -> Step {
        let mut out = BytesMut::new();
        let mut next = Some(first);
        let mut taken = 0;
        let mut delivered = 0;
        while let Some(frame) = next.take() {
            taken += 1;
            if frame.is_ephemeral() {
                // Late typing or presence is worthless: skipped while
                // catching up.
                if !self.catch_up {
                    out.extend_from_slice(&frame.bytes);
                }
            } else if frame.seq > self.last_sent {
                if frame.seq == self.last_sent + 1 && !self.catch_up {
                    out.extend_from_slice(&frame.bytes);
                    self.last_sent = frame.seq;
                    delivered += 1;
                    if let Some(committed_at) = frame.committed_at {
                        self.state.metrics.delivered_live(committed_at.elapsed());
                    }
                } else {
                    self.catch_up = true;
                }
            }
            if taken < MAX_BATCH {
                next = self.subscription.frames.try_recv().ok();
            }
        }
        self.state.metrics.delivered(delivered);
        if out.is_empty() {
            Step::Again
        } else {
            Step::Write(out.freeze())
        }
    }

    /// The session or token ran out: a token stream says so first.
    fn on_expiry(&mut self) -> Step {
        if std::mem::take(&mut self.token_stream) {
            // Cancelling this stream's registration ends it at the next step.
            if let Ok(bytes) = frames::ephemeral(&Ephemeral::TokenExpired {}) {
                self.registration.ended().cancel();
                return Step::Write(bytes);
            }
        }
        Step::End
    }

    async fn step(&mut self) -> Step {
        if let Some(opening) = self.opening.take() {
            return Step::Write(opening);
        }
        if self.catch_up {
            // A long backlog must not outlive the session or the server.
            if self.registration.ended().is_cancelled() || Instant::now() >= self.expires {
                return Step::End;
            }
            return self.read_store().await;
        }
        tokio::select! {
            () = self.registration.ended().cancelled() => Step::End,
            () = tokio::time::sleep_until(self.expires) => self.on_expiry(),
            () = self.topics.inbox.ready.notified() => match self.topics.inbox.take() {
                Some(bytes) => Step::Write(bytes),
                None => Step::Again,
            },
            _ = self.heartbeat.tick() => {
                self.on_heartbeat().await;
                Step::Write(Bytes::from_static(frames::PING))
            }
            frame = self.subscription.frames.recv() => match frame {
                Some(frame) => self.take_live(frame),
                // Dropped by the hub as a slow consumer.
                None => Step::End,
            },
        }
    }
}

/// The topics a stream asks for in its query, checked.
async fn initial_topics(
    state: &AppState,
    recipient: &Recipient,
    query: &StreamQuery,
) -> Result<Vec<crate::model::topic::TopicName>, AppError> {
    let names: Vec<String> = query
        .topics
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    let max = state.config.max_topics_per_connection.get();
    if names.len() > max {
        return Err(AppError::validation(
            "topics",
            format!("A stream may listen to at most {max} topics."),
        ));
    }
    let topics = crate::topics::service::parse_topics(&names, "topics")?;
    crate::topics::service::check_all(state, recipient, &topics).await?;
    Ok(topics)
}

async fn events(
    State(state): State<AppState>,
    recipient: Recipient,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, AppError> {
    let user_id = recipient.user.id;
    let initial = initial_topics(&state, &recipient, &query).await?;
    // Subscribe before reading the window: nothing committed from here on
    // can be missed, and what both paths carry is skipped by number.
    let subscription = subscribe(&state, user_id).await?;
    let window = state.store.event_window(user_id).await?;

    let topics = state.topics.open(user_id);
    if !initial.is_empty() {
        let max = state.config.max_topics_per_connection.get();
        let changed = state
            .topics
            .change(&topics.key, user_id, &initial, &[], max)
            .ok_or_else(|| AppError::Internal("a new stream is not in the topic hub".into()))?
            .map_err(|_| AppError::Internal("the topic limit was checked".into()))?;
        crate::topics::service::offer_current(&state, &topics.key, &changed.added).await?;
    }

    let mut opening = BytesMut::from(&frames::retry(state.config.sse_retry_ms.get())[..]);
    opening.extend_from_slice(&frames::ephemeral(&Ephemeral::Ready {
        cursor: window.cursor,
        connection_id: topics.key.to_string(),
    })?);
    let (last_sent, catch_up) = match resume_point(&headers, &query) {
        None => (window.cursor, false),
        Some(Some(seen)) if window.can_resume_from(seen) => {
            if seen < window.cursor {
                state.metrics.replay_served();
            }
            (seen, seen < window.cursor)
        }
        Some(_) => {
            state.metrics.reset_sent();
            opening.extend_from_slice(&frames::ephemeral(&Ephemeral::Reset {
                cursor: window.cursor,
            })?);
            (window.cursor, false)
        }
    };

    let period = state.config.heartbeat_secs.duration();
    let mut heartbeat = interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let remaining_ms = u64::try_from(recipient.expires_at() - now_ms()).unwrap_or(0);
    let idle = Duration::from_secs(u64::from(state.config.session_idle_secs.get()));
    let registration = state
        .live_sessions
        .register(recipient.streams_key(), &state.shutdown);
    let connection = Connection {
        user_id,
        session: recipient.session().copied(),
        subscription,
        topics,
        token_stream: recipient.session().is_none(),
        registration,
        last_sent,
        catch_up,
        opening: Some(opening.freeze()),
        heartbeat,
        expires: Instant::now() + Duration::from_millis(remaining_ms),
        touched: Instant::now(),
        touch_every: idle / 4,
        state,
    };

    let body = stream::unfold(connection, |mut connection| async move {
        loop {
            match connection.step().await {
                Step::Write(bytes) => return Some((Ok::<_, std::io::Error>(bytes), connection)),
                Step::Again => continue,
                Step::End => return None,
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

#[derive(Debug, Deserialize)]
struct PollQuery {
    after: Option<String>,
    wait: Option<String>,
}

async fn poll(
    State(state): State<AppState>,
    current: Recipient,
    ApiQuery(query): ApiQuery<PollQuery>,
) -> Result<Json<PollAnswer>, AppError> {
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| AppError::validation("after", "after must be a sequence number"))?,
    };
    let wait = match query.wait.as_deref() {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= 30)
            .ok_or_else(|| AppError::validation("wait", "wait must be 0 to 30 seconds"))?,
    };
    let user_id = current.user.id;
    let mut subscription = if wait > 0 {
        Some(subscribe(&state, user_id).await?)
    } else {
        None
    };
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let window = state.store.event_window(user_id).await?;
        if !window.can_resume_from(after) {
            state.metrics.reset_sent();
            return Ok(Json(PollAnswer {
                events: Vec::new(),
                cursor: window.cursor,
                reset: true,
            }));
        }
        let stored = state.store.events_after(user_id, after, PAGE).await?;
        if stored.is_empty()
            && let Some(live) = subscription.as_mut()
        {
            // Nothing yet: wait for this user's next announcement, then read
            // the store again (the store, not the frame, is the answer).
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => subscription = None,
                () = state.shutdown.cancelled() => subscription = None,
                frame = live.frames.recv() => if frame.is_none() { subscription = None },
            }
            continue;
        }
        let events = stored
            .iter()
            .map(|event| {
                let parsed: Event = serde_json::from_str(&event.payload)
                    .map_err(|e| AppError::Internal(format!("stored event {}: {e}", event.seq)))?;
                Ok(Sequenced {
                    id: event.seq,
                    event: parsed,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        state.metrics.delivered(events.len() as u64);
        return Ok(Json(PollAnswer {
            events,
            cursor: window.cursor,
            reset: false,
        }));
    }
}
