//! Events on the stream, as the server writes them and the browser reads
//! them (`event: <type>` + `data: <JSON with the same "type">`). Both sides.

use serde::{Deserialize, Serialize};

/// An ephemeral event: not stored, no `id:`, never replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ephemeral {
    /// First frame of every stream: the user's latest sequence number.
    Ready { cursor: i64 },
}

impl Ephemeral {
    /// The SSE event name (equal to the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_is_tagged_with_its_name() {
        let ready = Ephemeral::Ready { cursor: 7 };
        let json = serde_json::to_value(&ready).unwrap();
        assert_eq!(json, serde_json::json!({"type": "ready", "cursor": 7}));
        assert_eq!(ready.name(), "ready");
        assert_eq!(serde_json::from_value::<Ephemeral>(json).unwrap(), ready);
    }
}
