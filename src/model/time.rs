//! Reading wire timestamps: RFC 3339, as chrono writes them
//! (`2026-01-01T12:00:00.123456Z`). Both sides; every model timestamp is
//! read with [`read`] or [`read_option`] (writing stays chrono's).
//!
//! Why not chrono's own `Deserialize`: it parses through chrono's general
//! format machinery (RFC 2822 and relaxed forms included), about 20 KB of
//! the browser's first download before `wasm-opt`, for a format Herald
//! writes one way. This reads RFC 3339 into the same `DateTime<Utc>`.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// `#[serde(deserialize_with = "crate::model::time::read")]`.
pub fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_rfc3339(&text).ok_or_else(|| D::Error::custom(invalid(&text)))
}

/// [`read`] for an optional timestamp; with `#[serde(default)]` a missing
/// member is `None`, as for any `Option`.
pub fn read_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => parse_rfc3339(&text)
            .map(Some)
            .ok_or_else(|| D::Error::custom(invalid(&text))),
    }
}

fn invalid(text: &str) -> String {
    format!("invalid RFC 3339 timestamp `{text}`")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Digits of the
/// fraction past nanoseconds are dropped; a leap second (`:60`) is read as
/// chrono reads it.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let number = |at: usize, len: usize| -> Option<u32> {
        b.get(at..at + len)?.iter().try_fold(0_u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20
        || separators.iter().any(|&(at, c)| b[at] != c)
        || !matches!(b[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 2)?,
        number(8, 2)?,
    )?;
    let (hour, minute, mut second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let mut at = 19;
    let mut nanos = 0_u32;
    if b[at] == b'.' {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u32::from(b[at] - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        nanos *= 10_u32.pow(9_u32.saturating_sub(u32::try_from(digits).ok()?));
    }
    let offset_seconds = match *b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let (hours, minutes) = (number(at + 1, 2)?, number(at + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    if second == 60 {
        second = 59;
        nanos += 1_000_000_000;
    }
    let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = local.checked_sub_signed(TimeDelta::try_seconds(offset_seconds)?)?;
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever chrono writes, or accepts as RFC 3339, reads the same here.
    #[test]
    fn reads_what_chrono_reads() {
        let samples = [
            "2026-01-01T00:00:00Z",
            "2026-12-05T01:02:03.5Z",
            "2026-12-05T01:02:03.123456Z",
            "2026-12-05T01:02:03.123456789Z",
            "2026-12-05T01:02:03.1234567891234Z",
            "2026-12-05t01:02:03z",
            "2026-12-05 01:02:03+02:00",
            "2026-02-28T23:30:00-05:30",
            "2024-02-29T12:00:00+00:00",
            "2016-12-31T23:59:60Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ];
        for text in samples {
            let ours = parse_rfc3339(text).unwrap_or_else(|| panic!("{text}"));
            let chrono = DateTime::parse_from_rfc3339(text).unwrap().to_utc();
            assert_eq!(ours, chrono, "{text}");
        }
        let now = Utc::now();
        let written = serde_json::to_string(&now).unwrap();
        assert_eq!(
            read(&mut serde_json::Deserializer::from_str(&written)).unwrap(),
            now
        );
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for text in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2:00",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00Zjunk",
            "Fri, 28 Nov 2014 12:00:09 +0000",
            "２０２６-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
            assert!(
                DateTime::parse_from_rfc3339(text).is_err(),
                "chrono agrees: {text}"
            );
        }
    }

    #[test]
    fn optional_timestamps_read_null_and_missing_as_none() {
        #[derive(Deserialize)]
        struct Seen {
            #[serde(default, deserialize_with = "read_option")]
            at: Option<DateTime<Utc>>,
        }
        let missing: Seen = serde_json::from_str("{}").unwrap();
        assert_eq!(missing.at, None);
        let null: Seen = serde_json::from_str(r#"{"at": null}"#).unwrap();
        assert_eq!(null.at, None);
        let set: Seen = serde_json::from_str(r#"{"at": "2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(set.at, parse_rfc3339("2026-01-01T00:00:00Z"));
        assert!(serde_json::from_str::<Seen>(r#"{"at": "yesterday"}"#).is_err());
    }
}
