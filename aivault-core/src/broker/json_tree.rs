//! A parsed JSON response body whose strings borrow from the body's bytes wherever the JSON
//! has no escape in them, so a large body is not held a second time as a parsed value; and
//! the redaction of every decoded string (values and keys) after parsing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::{Number, Value};

use super::redact::Redactor;

/// A JSON value. Objects keep their keys sorted with the last of duplicate keys winning, as
/// `serde_json::Value` does, so the output is what it was before.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object: keys sorted, distinct.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses `bytes`, borrowing every string that needs no unescaping.
    ///
    /// # Errors
    /// When `bytes` is not one JSON value.
    pub fn parse(bytes: &'a [u8]) -> serde_json::Result<Json<'a>> {
        let mut json: Json<'a> = serde_json::from_slice(bytes)?;
        json.normalize();
        Ok(json)
    }

    /// A view of `value` borrowing its strings.
    pub fn from_value(value: &'a Value) -> Json<'a> {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Redacts every string, object keys included (a key that becomes equal to another one
    /// replaces it, as in a map).
    pub(crate) fn redact(&mut self, redactor: &Redactor) {
        match self {
            Json::String(s) => redact_cow(s, redactor),
            Json::Array(items) => items.iter_mut().for_each(|v| v.redact(redactor)),
            Json::Object(entries) => {
                for (key, value) in entries.iter_mut() {
                    redact_cow(key, redactor);
                    value.redact(redactor);
                }
                sort_dedup(entries);
            }
            Json::Null | Json::Bool(_) | Json::Number(_) => {}
        }
    }

    /// Sorts every object's keys, the last of duplicates winning.
    fn normalize(&mut self) {
        match self {
            Json::Array(items) => items.iter_mut().for_each(Json::normalize),
            Json::Object(entries) => {
                entries.iter_mut().for_each(|(_, v)| v.normalize());
                sort_dedup(entries);
            }
            _ => {}
        }
    }
}

/// A string redacted; copied only when something in it is redacted.
fn redact_cow(s: &mut Cow<'_, str>, redactor: &Redactor) {
    if let Some(redacted) = redactor.redacted(s) {
        *s = Cow::Owned(redacted);
    }
}

/// Sorts entries by key (stable), keeping the last entry of each key.
fn sort_dedup(entries: &mut Vec<(Cow<'_, str>, Json<'_>)>) {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(Cow<'_, str>, Json<'_>)> = Vec::with_capacity(entries.len());
    for entry in entries.drain(..) {
        match kept.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => kept.push(entry),
        }
    }
    *entries = kept;
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => serializer.collect_seq(items),
            Json::Object(entries) => {
                serializer.collect_map(entries.iter().map(|(k, v)| (k.as_ref(), v)))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Json::Object(entries))
    }
}

/// An object key, borrowed when it needs no unescaping.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_value() {
        let text = br#"{"b":[1,-2,3.5,true,null,"x\u0041"],"a":{"z":"plain","y":{}},"b":"last"}"#;
        let json = Json::parse(text).unwrap();
        let value: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&json).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(Json::from_value(&value), json);
        // A string without escapes is borrowed from the body, one with escapes is not.
        let Json::Object(entries) = Json::parse(br#"{"k":"plain","e":"a\u0041"}"#).unwrap() else {
            panic!()
        };
        assert!(matches!(
            &entries[1],
            (Cow::Borrowed("k"), Json::String(Cow::Borrowed(_)))
        ));
        assert!(matches!(&entries[0].1, Json::String(Cow::Owned(_))));
        assert!(Json::parse(b"{\"a\":").is_err());
        assert!(Json::parse(b"1 2").is_err());
    }

    #[test]
    fn redaction_reaches_every_string_and_key() {
        let r = Redactor::new(&[b"sk-secret-1234".as_slice()], &[]);
        let text = br#"{"\u0073k-secret-1234":["x \u0073k-secret-1234 y"],"n":1}"#;
        let mut json = Json::parse(text).unwrap();
        json.redact(&r);
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            r#"{"[REDACTED]":["x [REDACTED] y"],"n":1}"#
        );
    }
}
