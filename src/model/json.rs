//! One way of reading JSON in the browser. Both sides.
//!
//! serde compiles a type's deserializer once per input reader, and
//! `serde_json` has one reader for `&str` and another for `&[u8]`. Leptos
//! decodes server-function answers from bytes but the data a page was
//! rendered with (resources) from a string, so every type the dashboard
//! shows was compiled twice into the first download. Everything here reads
//! from bytes: [`from_str`] for the browser's own decoding, and
//! [`JsonCodec`] for resources (`Resource::new_with_options`, whose
//! default codec reads from a string). Writing is `serde_json`'s.
//! [`OpaqueJson`] holds JSON that Herald passes on without reading, and
//! [`Deferred`] a value read only where it is used.

use std::marker::PhantomData;

use codee::{Decoder, Encoder};
use serde::de::{Deserialize, DeserializeOwned};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use serde_json::value::RawValue;

/// `serde_json::from_str`, through the byte reader (borrowing works the
/// same).
pub fn from_str<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}

/// Leptos resources' JSON codec, reading through [`from_str`]; what the
/// server writes into the page is exactly what the default codec writes.
pub struct JsonCodec;

impl<T: Serialize> Encoder<T> for JsonCodec {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, Self::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for JsonCodec {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, Self::Error> {
        from_str(text)
    }
}

/// JSON that Herald carries for the host application without reading it
/// (a notification's `data`, a POST action's `body`), kept as the text it
/// was written as: from the publisher through the store and the stream to
/// the browser, which sends an action's body back as it came.
///
/// Why not `serde_json::Value`: reading one builds a map per object, and
/// the browser would carry `Value`'s reader, its map and its writer in the
/// first download (17 KB before `wasm-opt`) for fields it never looks at;
/// the server would parse every stored notification's `data` only to
/// write it out again. Only `serde_json` can read it (it borrows the
/// reader's text); every JSON Herald reads goes through `serde_json`.
#[derive(Debug, Clone, Serialize, DeriveDeserialize)]
#[serde(transparent)]
pub struct OpaqueJson(Box<RawValue>);

impl OpaqueJson {
    /// Checks that `text` is one JSON value and keeps it.
    pub fn parse(text: String) -> serde_json::Result<Self> {
        RawValue::from_string(text).map(Self)
    }

    /// The JSON text, as written.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

/// Equal when written the same (what the tests compare: a value that went
/// through the store and came back).
impl PartialEq for OpaqueJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// A `T` kept as its JSON text and read where it is used ([`Self::read`]).
///
/// An event's chat message or conversation is one: the first download
/// decodes every event the stream brings (to relay it to the other tabs
/// and to tell each page what changed), but only the chat pages, a module
/// of their own, look inside a message or a conversation, so only they
/// carry those types' readers (and the server writes the value once, when
/// the event is made).
#[derive(Debug, Clone, PartialEq, Serialize, DeriveDeserialize)]
#[serde(transparent)]
pub struct Deferred<T> {
    json: OpaqueJson,
    #[serde(skip)]
    of: PhantomData<fn() -> T>,
}

impl<T: Serialize> Deferred<T> {
    /// `value`, written now.
    pub fn new(value: &T) -> serde_json::Result<Self> {
        Ok(Self {
            json: OpaqueJson(serde_json::value::to_raw_value(value)?),
            of: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> Deferred<T> {
    /// Reads the value (each call reads the text again).
    pub fn read(&self) -> serde_json::Result<T> {
        from_str(self.json.get())
    }
}

#[cfg(feature = "ssr")]
impl OpaqueJson {
    /// The JSON text of `value` (writing a `Value` does not fail).
    pub fn from_value(value: &serde_json::Value) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(value).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_as_serde_json_does() {
        let value = serde_json::json!({"a": [1, "two", null], "b": {"c": 1.5}});
        let text = JsonCodec::encode(&value).unwrap();
        assert_eq!(text, serde_json::to_string(&value).unwrap());
        let back: serde_json::Value = JsonCodec::decode(&text).unwrap();
        assert_eq!(back, value);
        #[derive(serde::Deserialize)]
        struct Borrowed<'a> {
            #[serde(borrow)]
            name: &'a str,
        }
        assert_eq!(from_str::<Borrowed>(r#"{"name": "x"}"#).unwrap().name, "x");
        assert!(from_str::<serde_json::Value>("{").is_err());
    }

    #[test]
    fn opaque_json_passes_through_as_written() {
        let value = serde_json::json!({"z": 1, "a": [true, null, "x"]});
        let opaque = OpaqueJson::from_value(&value).unwrap();
        let text = serde_json::to_string(&opaque).unwrap();
        assert_eq!(text, value.to_string());
        let back: OpaqueJson = from_str(&text).unwrap();
        assert_eq!(back, opaque);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(back.get()).unwrap(),
            value
        );
        // Inside a struct, as the browser reads a notification.
        #[derive(serde::Deserialize)]
        struct Carrier {
            data: Option<OpaqueJson>,
        }
        let carried: Carrier = from_str(r#"{"data": {"k": [1, 2]} }"#).unwrap();
        assert_eq!(carried.data.unwrap().get(), r#"{"k": [1, 2]}"#);
        assert!(
            from_str::<Carrier>(r#"{"data": null}"#)
                .unwrap()
                .data
                .is_none()
        );
        assert!(OpaqueJson::parse("{".into()).is_err());
        assert_eq!(OpaqueJson::parse(" [1] ".into()).unwrap().get(), "[1]");
    }

    #[test]
    fn deferred_values_read_back_as_written() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        struct Point {
            x: i32,
            label: String,
        }
        let point = Point {
            x: 3,
            label: "a \"b\"".into(),
        };
        let deferred = Deferred::new(&point).unwrap();
        let text = serde_json::to_string(&deferred).unwrap();
        assert_eq!(
            text,
            serde_json::to_string(&point).unwrap(),
            "written as the value"
        );
        let back: Deferred<Point> = from_str(&text).unwrap();
        assert_eq!(back.read().unwrap(), point);
        let wrong: Deferred<Point> = from_str(r#"{"x": "three"}"#).unwrap();
        assert!(wrong.read().is_err(), "checked when read");
    }
}
