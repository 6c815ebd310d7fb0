//! Reading JS arguments: objects become the core's structured requests through serde (unknown
//! fields refused), strings and byte buffers are checked here. A JS value of the wrong type is
//! a [`Failure::Type`]; messages never quote a value (it could be a secret).

use aivault_core::SecretValue;
use napi::{Env, JsValue, Unknown, ValueType};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::error::Failure;

/// Whether a JS value is `undefined` or `null` (an omitted optional argument).
fn absent(value: &Unknown) -> Result<bool, Failure> {
    let kind = value
        .get_type()
        .map_err(|e| Failure::invalid(format!("cannot read an argument: {}", e.reason)))?;
    Ok(matches!(kind, ValueType::Undefined | ValueType::Null))
}

/// A serde message without the values it may quote (`invalid type: string "sk-..."`).
fn scrub(message: &str) -> String {
    if !(message.contains("invalid type") || message.contains("invalid value")) {
        return message.to_string();
    }
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(open) if c == open => {
                out.push_str("...");
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

/// A required object argument `name`, as the request type `T`.
pub(crate) fn object<T: DeserializeOwned>(
    env: &Env,
    value: Unknown,
    name: &str,
) -> Result<T, Failure> {
    let kind = value.get_type().map_err(|e| Failure::invalid(e.reason))?;
    let is_array = kind == ValueType::Object && value.is_array().unwrap_or(false);
    if kind != ValueType::Object || is_array {
        return Err(Failure::Type(format!(
            "argument '{name}' must be an object, not {}",
            type_name(kind, is_array)
        )));
    }
    env.from_js_value::<T, _>(value).map_err(|e| {
        let message = format!("argument '{name}': {}", scrub(&e.reason));
        if e.reason.contains("invalid type") {
            Failure::Type(message)
        } else {
            Failure::invalid(message)
        }
    })
}

/// An optional object argument: `T::default()` when `undefined` or `null`.
pub(crate) fn optional_object<T: DeserializeOwned + Default>(
    env: &Env,
    value: Unknown,
    name: &str,
) -> Result<T, Failure> {
    if absent(&value)? {
        Ok(T::default())
    } else {
        object(env, value, name)
    }
}

/// A required string argument.
pub(crate) fn text(env: &Env, value: Unknown, name: &str) -> Result<String, Failure> {
    let kind = value.get_type().map_err(|e| Failure::invalid(e.reason))?;
    if kind != ValueType::String {
        return Err(Failure::Type(format!(
            "argument '{name}' must be a string, not {}",
            type_name(kind, false)
        )));
    }
    env.from_js_value::<String, _>(value)
        .map_err(|e| Failure::invalid(format!("argument '{name}': {}", e.reason)))
}

/// An optional string argument (`undefined` or `null`: absent).
pub(crate) fn optional_text(
    env: &Env,
    value: Unknown,
    name: &str,
) -> Result<Option<String>, Failure> {
    if absent(&value)? {
        Ok(None)
    } else {
        text(env, value, name).map(Some)
    }
}

fn type_name(kind: ValueType, is_array: bool) -> &'static str {
    match kind {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object if is_array => "an array",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        _ => "an unsupported value",
    }
}

/// Bytes given as a string (UTF-8) or a `Buffer` / `Uint8Array`, as a field of a request.
/// Deserializing never quotes the value in an error.
#[derive(Default)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a Buffer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            // Every other type is refused without echoing what it held.
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Bytes, E> {
                Err(E::custom(
                    "invalid type: a boolean, expected a string or a Buffer",
                ))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Bytes, E> {
                Err(E::custom(
                    "invalid type: a number, expected a string or a Buffer",
                ))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Bytes, E> {
                Err(E::custom(
                    "invalid type: a number, expected a string or a Buffer",
                ))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Bytes, E> {
                Err(E::custom(
                    "invalid type: a number, expected a string or a Buffer",
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Bytes, E> {
                Err(E::custom(
                    "invalid type: null, expected a string or a Buffer",
                ))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Bytes, A::Error> {
                Err(de::Error::custom(
                    "invalid type: an array, expected a string or a Buffer",
                ))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Bytes, A::Error> {
                Err(de::Error::custom(
                    "invalid type: an object, expected a string or a Buffer",
                ))
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

/// A secret value (string or bytes), moved straight into the core's zeroizing buffer.
pub(crate) struct Secret(pub(crate) SecretValue);

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        Bytes::deserialize(deserializer).map(|bytes| Secret(SecretValue::new(bytes.0)))
    }
}

/// An optional byte argument (`undefined` or `null`: empty).
pub(crate) fn optional_bytes(env: &Env, value: Unknown, name: &str) -> Result<Vec<u8>, Failure> {
    if absent(&value)? {
        return Ok(Vec::new());
    }
    env.from_js_value::<Bytes, _>(value)
        .map(|b| b.0)
        .map_err(|e| Failure::Type(format!("argument '{name}': {}", scrub(&e.reason))))
}

/// An optional JSON value (`undefined`: absent; `null` is JSON `null`).
pub(crate) fn optional_json(
    env: &Env,
    value: Unknown,
    name: &str,
) -> Result<Option<serde_json::Value>, Failure> {
    let kind = value.get_type().map_err(|e| Failure::invalid(e.reason))?;
    if kind == ValueType::Undefined {
        return Ok(None);
    }
    env.from_js_value::<serde_json::Value, _>(value)
        .map(Some)
        .map_err(|e| Failure::Type(format!("argument '{name}': {}", scrub(&e.reason))))
}

/// A required secret value (string or bytes).
pub(crate) fn secret(env: &Env, value: Unknown, name: &str) -> Result<SecretValue, Failure> {
    if absent(&value)? {
        return Err(Failure::Type(format!(
            "argument '{name}' must be a string or a Buffer"
        )));
    }
    env.from_js_value::<Secret, _>(value)
        .map(|s| s.0)
        .map_err(|e| Failure::Type(format!("argument '{name}': {}", scrub(&e.reason))))
}

/// One header as `{name, value}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderArg {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// A required array argument, as `Vec<T>`.
pub(crate) fn array<T: DeserializeOwned>(
    env: &Env,
    value: Unknown,
    name: &str,
) -> Result<Vec<T>, Failure> {
    if !value.is_array().unwrap_or(false) {
        return Err(Failure::Type(format!("argument '{name}' must be an array")));
    }
    env.from_js_value::<Vec<T>, _>(value).map_err(|e| {
        let message = format!("argument '{name}': {}", scrub(&e.reason));
        if e.reason.contains("invalid type") {
            Failure::Type(message)
        } else {
            Failure::invalid(message)
        }
    })
}
