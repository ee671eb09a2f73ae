//! The wall clock as the store records it: milliseconds since the Unix
//! epoch. One function, used by every domain. Server only.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
