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

use codee::{Decoder, Encoder};
use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

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
}
