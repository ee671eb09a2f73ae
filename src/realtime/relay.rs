//! What the tabs of one user tell each other (`realtime::tabs` carries it
//! over a `BroadcastChannel`), and its text form. Both sides: the browser
//! uses it, the tests run natively.
//!
//! The text form is written by hand rather than by serde: a message is a
//! kind and a few fields, and serde's reading of an enum of them was 11 KB
//! of the first WASM download (before `wasm-opt`). Both ends are the same
//! build, so the form needs no versioning.

use crate::model::notification::Preferences;

/// One message between tabs. Events travel as the JSON the stream carried,
/// which each tab decodes by name (`Event::decode`).
#[derive(Debug, Clone, PartialEq)]
pub enum Relay {
    /// A tab opened and asks the leader for the status.
    Hello,
    Status {
        status: String,
    },
    /// A stored event (`name` is its type).
    Event {
        id: i64,
        name: String,
        json: String,
        live: bool,
    },
    Reset {
        cursor: i64,
    },
    Preferences {
        preferences: Preferences,
    },
    /// Typing or presence, from the leader's stream.
    Ephemeral {
        name: String,
        json: String,
    },
}

impl Relay {
    /// The message as text: its kind, then its fields, a line each. JSON,
    /// which may hold anything, is the last field, so no field needs
    /// escaping (a status, an event name and a number hold no line break).
    pub fn encode(&self) -> String {
        match self {
            Self::Hello => "hello".to_owned(),
            Self::Status { status } => format!("status\n{status}"),
            Self::Event {
                id,
                name,
                json,
                live,
            } => format!("event\n{id}\n{name}\n{}\n{json}", u8::from(*live)),
            Self::Reset { cursor } => format!("reset\n{cursor}"),
            Self::Preferences { preferences } => format!(
                "preferences\n{}",
                serde_json::to_string(preferences).unwrap_or_default()
            ),
            Self::Ephemeral { name, json } => format!("ephemeral\n{name}\n{json}"),
        }
    }

    /// Reads [`Self::encode`]'s text; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once('\n').unwrap_or((text, ""));
        Some(match kind {
            "hello" => Self::Hello,
            "status" => Self::Status {
                status: rest.to_owned(),
            },
            "event" => {
                let mut fields = rest.splitn(4, '\n');
                let id = fields.next()?.parse().ok()?;
                let name = fields.next()?.to_owned();
                let live = match fields.next()? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                };
                let json = fields.next()?.to_owned();
                Self::Event {
                    id,
                    name,
                    json,
                    live,
                }
            }
            "reset" => Self::Reset {
                cursor: rest.parse().ok()?,
            },
            "preferences" => Self::Preferences {
                preferences: crate::model::json::from_str(rest).ok()?,
            },
            "ephemeral" => {
                let (name, json) = rest.split_once('\n')?;
                Self::Ephemeral {
                    name: name.to_owned(),
                    json: json.to_owned(),
                }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_reads_back_as_written() {
        let messages = [
            Relay::Hello,
            Relay::Status {
                status: "connected".into(),
            },
            Relay::Event {
                id: 42,
                name: "notification".into(),
                // JSON may hold anything, line breaks in strings included.
                json: r#"{"type":"notification","title":"a\nb"}"#.replace("\\n", "\n"),
                live: true,
            },
            Relay::Event {
                id: -1,
                name: "message".into(),
                json: "{}".into(),
                live: false,
            },
            Relay::Reset { cursor: 7 },
            Relay::Preferences {
                preferences: Preferences {
                    muted_categories: vec![crate::model::notification::Category::Social],
                    sound: false,
                    browser_notifications: true,
                    hide_presence: true,
                    push: false,
                },
            },
            Relay::Ephemeral {
                name: "typing".into(),
                json: r#"{"type":"typing","conversation_id":1}"#.into(),
            },
        ];
        for message in messages {
            assert_eq!(
                Relay::decode(&message.encode()),
                Some(message.clone()),
                "{message:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "party",
            "event\n1\nnotification",
            "event\nx\nnotification\n1\n{}",
            "event\n1\nnotification\nyes\n{}",
            "reset\nsoon",
            "preferences\n{",
            "ephemeral\ntyping",
        ] {
            assert_eq!(Relay::decode(text), None, "{text:?}");
        }
    }
}
