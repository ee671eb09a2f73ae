//! Who is looking at which conversation right now, as their browsers
//! report it (`POST /api/conversations/{id}/viewing`). A message to a
//! member who is looking raises no notification. Entries expire unless
//! renewed, so a tab that vanished without saying so stops counting.
//! In memory, per instance. Server only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one "I am looking" report holds; the browser renews it well
/// before.
pub const VIEWING_HOLDS: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

/// The registry; cheap to clone.
#[derive(Clone, Default)]
pub struct Viewers {
    until: Arc<Mutex<HashMap<(i64, i64), Instant>>>,
}

impl Viewers {
    /// Records that `user_id` is (or stopped) looking at `conversation_id`.
    pub fn set(&self, user_id: i64, conversation_id: i64, viewing: bool) {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if viewing {
            if until.len() >= MAX_ENTRIES {
                until.retain(|_, expiry| *expiry > now);
            }
            until.insert((user_id, conversation_id), now + VIEWING_HOLDS);
        } else {
            until.remove(&(user_id, conversation_id));
        }
    }

    /// Whether `user_id` is looking at `conversation_id`.
    pub fn is_viewing(&self, user_id: i64, conversation_id: i64) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until
            .get(&(user_id, conversation_id))
            .is_some_and(|expiry| *expiry > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewing_is_per_user_and_conversation() {
        let viewers = Viewers::default();
        viewers.set(1, 10, true);
        assert!(viewers.is_viewing(1, 10));
        assert!(!viewers.is_viewing(1, 11));
        assert!(!viewers.is_viewing(2, 10));
        viewers.set(1, 10, false);
        assert!(!viewers.is_viewing(1, 10));
    }
}
