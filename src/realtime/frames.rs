//! Server-Sent Events framing, in one place: stored events (`id:`,
//! `event:`, `data:`), ephemeral ones (no `id:`), the heartbeat comment and
//! the `retry:` line. Server only.

use bytes::Bytes;

use crate::model::event::Ephemeral;
use crate::server::error::AppError;

/// The heartbeat comment.
pub const PING: &[u8] = b": ping\n\n";

/// A stored event: its user's sequence number, name and JSON.
pub fn stored(seq: i64, kind: &str, payload: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {payload}\n\n"))
}

/// An ephemeral event: `event:` and `data:`, no `id:`.
pub fn ephemeral(event: &Ephemeral) -> Result<Bytes, AppError> {
    let data = serde_json::to_string(event).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Bytes::from(format!(
        "event: {}\ndata: {data}\n\n",
        event.name()
    )))
}

/// The reconnection delay EventSource clients should use.
pub fn retry(millis: u32) -> Bytes {
    Bytes::from(format!("retry: {millis}\n\n"))
}
