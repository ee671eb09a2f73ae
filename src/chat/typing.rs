//! Coalesces typing signals: a client that reports "typing" on every key
//! press (or a script that floods the route) makes at most one `typing`
//! event per user per conversation every [`TYPING_EVERY`]; a change
//! (started -> stopped) always goes out. In memory, per instance. Server only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most one unchanged typing signal per user and conversation this often.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// Entries kept before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// (user, conversation) -> the last signal sent and when.
type LastSignals = HashMap<(i64, i64), (bool, Instant)>;

/// The last typing signal sent per (user, conversation); cheap to clone.
#[derive(Clone, Default)]
pub struct TypingGate {
    last: Arc<Mutex<LastSignals>>,
}

impl TypingGate {
    /// Whether a signal `is_typing` from `user_id` in `conversation_id`
    /// should go out now (and records it if so).
    pub fn admit(&self, user_id: i64, conversation_id: i64, is_typing: bool) -> bool {
        self.admit_at(user_id, conversation_id, is_typing, Instant::now())
    }

    fn admit_at(&self, user_id: i64, conversation_id: i64, is_typing: bool, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() > MAX_TRACKED {
            last.retain(|_, (_, at)| now.duration_since(*at) < TYPING_EVERY);
        }
        let key = (user_id, conversation_id);
        if let Some((was_typing, at)) = last.get(&key)
            && *was_typing == is_typing
            && now.duration_since(*at) < TYPING_EVERY
        {
            return false;
        }
        last.insert(key, (is_typing, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_two_seconds_are_dropped_but_changes_pass() {
        let gate = TypingGate::default();
        let t = Instant::now();
        assert!(gate.admit_at(1, 7, true, t));
        assert!(!gate.admit_at(1, 7, true, t + Duration::from_millis(500)));
        assert!(gate.admit_at(2, 7, true, t), "other users are independent");
        assert!(gate.admit_at(1, 8, true, t), "other conversations too");
        assert!(gate.admit_at(1, 7, false, t + Duration::from_millis(600)));
        assert!(gate.admit_at(1, 7, true, t + Duration::from_millis(700)));
        assert!(gate.admit_at(1, 7, true, t + Duration::from_millis(2700)));
    }
}
