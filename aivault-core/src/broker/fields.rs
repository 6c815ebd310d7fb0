//! Multi-field secrets: one secret holding a JSON object of a credential's roles
//! (`{"username": .., "password": ..}`, `{"accessKeyId": .., "secretAccessKey": ..}`,
//! `{"certPem": .., "keyPem": ..}`), as the original tool stores them.
//!
//! A credential links such a secret under the role [`CredentialSecret::ALL_ROLES`]; at invoke,
//! after decryption, [`expand`] reads the object into one value per role, so every strategy
//! renders exactly as with one secret per role. The JSON is checked only then (the value is
//! decrypted only then): a malformed one fails that credential's call with `invalid_input`
//! naming the missing or ill-typed field, and touches nothing else.
//!
//! Nothing here quotes the secret: serde's own messages can (`invalid type: string "sk-.."`),
//! so they are never passed on; every message names fields we asked for, and JSON types.
//! Strings are copied straight into zeroizing buffers, never into a `serde_json::Value`.
//! (serde_json unescapes a string holding `\` escapes in a scratch buffer of its own, which
//! it frees without wiping; strings without escapes are read in place from the zeroizing input.)

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::registry::AuthSpec;
use crate::sensitive::SecretValue;

use super::auth::Secrets;

/// One JSON value, as far as a secret's fields need it: text is kept (zeroizing), integers
/// are kept, anything else is only known by its type.
enum Value {
    Text(Zeroizing<String>),
    Integer(i64),
    /// A number that is not an `i64`: a float, or an integer beyond `i64`.
    Float(f64),
    Null,
    Object(Vec<(Zeroizing<String>, Value)>),
    /// Any other type, by its name in messages (`a number`, `an array`, ...).
    Other(&'static str),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "a string",
            Value::Integer(_) | Value::Float(_) => "a number",
            Value::Null => "null",
            Value::Object(_) => "an object",
            Value::Other(name) => name,
        }
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Value, E> {
        Ok(Value::Other("a boolean"))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Integer))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::Text(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::Text(Zeroizing::new(v)))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        // Read past the elements without keeping them.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            entries.push((key.0, map.next_value::<Value>()?));
        }
        Ok(Value::Object(entries))
    }
}

/// An object key, read straight into a zeroizing buffer.
struct Key(Zeroizing<String>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key, E> {
                Ok(Key(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Key, E> {
                Ok(Key(Zeroizing::new(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The fields of a JSON object secret, nested objects flattened with dotted keys
/// (`{"a": {"b": ".."}}` also holds `a.b`, as the original tool reads multi-header secrets).
pub(crate) struct Fields {
    entries: Vec<(Zeroizing<String>, Value)>,
    /// Who holds the secret, for messages (`credential 'x': its JSON secret`).
    what: String,
}

impl Fields {
    /// Parses `bytes` as a JSON object.
    ///
    /// # Errors
    /// `invalid_input` when the bytes are not JSON, or JSON but not an object; the message
    /// names `what` and the JSON type, never any content.
    pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<Fields> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| Error::invalid(format!("{what} is not valid JSON")))?;
        match value {
            Value::Object(entries) => {
                let mut flat = Vec::new();
                flatten(None, entries, &mut flat);
                Ok(Fields {
                    entries: flat,
                    what: what.to_string(),
                })
            }
            other => Err(Error::invalid(format!(
                "{what} must be a JSON object, not {}",
                other.type_name()
            ))),
        }
    }

    /// The value under the first of `keys` present (its spellings), if any.
    ///
    /// # Errors
    /// `invalid_input` when two of the spellings, or one spelling twice, are given.
    fn get<'k>(&self, keys: &[&'k str]) -> Result<Option<(&'k str, &Value)>> {
        let mut found: Option<(&'k str, &Value)> = None;
        for (key, value) in &self.entries {
            let Some(name) = keys.iter().find(|k| **k == key.as_str()) else {
                continue;
            };
            if let Some((first, _)) = found {
                return Err(Error::invalid(if first == *name {
                    format!("{} gives \"{name}\" twice", self.what)
                } else {
                    format!(
                        "{} gives both \"{first}\" and \"{name}\"; keep one",
                        self.what
                    )
                }));
            }
            found = Some((name, value));
        }
        Ok(found)
    }

    /// The text under one of `keys`; `None` when absent or null.
    ///
    /// # Errors
    /// `invalid_input` naming the field when it is not a string or is given twice.
    pub(crate) fn text(&self, keys: &[&str]) -> Result<Option<&Zeroizing<String>>> {
        match self.get(keys)? {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Text(text))) => Ok(Some(text)),
            Some((name, other)) => Err(Error::invalid(format!(
                "{}: \"{name}\" must be a string, not {}",
                self.what,
                other.type_name()
            ))),
        }
    }

    /// The text under one of `keys`, which must be present.
    ///
    /// # Errors
    /// As [`Fields::text`], and `invalid_input` naming the field when it is absent.
    pub(crate) fn required_text(&self, keys: &[&str]) -> Result<&Zeroizing<String>> {
        self.text(keys)?.ok_or_else(|| {
            let first = keys.first().copied().unwrap_or_default();
            let others = keys
                .iter()
                .skip(1)
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>();
            let others = if others.is_empty() {
                String::new()
            } else {
                format!(" (or {})", others.join(", "))
            };
            Error::invalid(format!("{} has no \"{first}\" field{others}", self.what))
        })
    }

    /// Whether `key` holds a JSON object (whose fields are the `key.field` entries).
    pub(crate) fn is_object(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, v)| k.as_str() == key && matches!(v, Value::Other("an object")))
    }

    /// The whole number under one of `keys`; `None` when absent or null. A float is
    /// truncated and a number beyond `i64` saturates (a tool that writes `expires_at` as
    /// `time.time() + 3600`, or in absurd units, must not make the secret unreadable); a
    /// string holding a number is read as that number.
    ///
    /// # Errors
    /// `invalid_input` naming the field when it is not a number (or a string holding one)
    /// or is given twice.
    pub(crate) fn integer(&self, keys: &[&str]) -> Result<Option<i64>> {
        match self.get(keys)? {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Integer(n))) => Ok(Some(*n)),
            Some((_, Value::Float(f))) => Ok(whole(*f)),
            Some((_, Value::Text(t))) if whole_text(t).is_some() => Ok(whole_text(t)),
            Some((name, other)) => Err(Error::invalid(format!(
                "{}: \"{name}\" must be an integer, not {}",
                self.what,
                other.type_name()
            ))),
        }
    }
}

/// `f` truncated toward zero, saturating at the ends of `i64`; `None` for NaN.
pub(crate) fn whole(f: f64) -> Option<i64> {
    // `as` saturates and maps NaN to 0, which is not a number of seconds anyone meant.
    (!f.is_nan()).then_some(f as i64)
}

/// A string holding a number (`"3600"`, `" 3599.5 "`), read as [`whole`] does.
pub(crate) fn whole_text(text: &str) -> Option<i64> {
    let text = text.trim();
    match text.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() || text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(whole),
    }
}

/// Moves `entries` into `out`, each nested object also as its dotted children.
fn flatten(
    prefix: Option<&str>,
    entries: Vec<(Zeroizing<String>, Value)>,
    out: &mut Vec<(Zeroizing<String>, Value)>,
) {
    for (key, value) in entries {
        let key = match prefix {
            Some(prefix) => Zeroizing::new(format!("{prefix}.{}", key.as_str())),
            None => key,
        };
        match value {
            Value::Object(children) => {
                flatten(Some(&key), children, out);
                out.push((key, Value::Other("an object")));
            }
            value => out.push((key, value)),
        }
    }
}

/// The JSON keys a role may be spelled with: the role itself (`access_key_id`), its
/// camelCase form (`accessKeyId`), the original tool's mTLS names (`certPem`, `keyPem`, and
/// their snake_case), and for a basic credential whose username (password) template is a
/// single role, `username` (`password`).
pub(crate) fn role_keys(role: &str, auth: &AuthSpec) -> Vec<String> {
    let mut keys = vec![role.to_string()];
    let mut add = |key: &str| {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    };
    add(&camel_case(role));
    match auth {
        AuthSpec::Mtls {} if role == "certificate" => {
            add("certPem");
            add("cert_pem");
        }
        AuthSpec::Mtls {} if role == "private_key" => {
            add("keyPem");
            add("key_pem");
        }
        AuthSpec::Basic {
            username_template,
            password_template,
        } => {
            let whole = format!("{{{{{role}}}}}");
            if username_template.trim() == whole {
                add("username");
            }
            if password_template.trim() == whole {
                add("password");
            }
        }
        _ => {}
    }
    keys
}

/// `access_key_id` → `accessKeyId`.
fn camel_case(role: &str) -> String {
    let mut out = String::with_capacity(role.len());
    let mut upper = false;
    for c in role.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The role a JSON-secret link stands for when the strategy's one secret is itself JSON
/// (OAuth 2.0 keeps its token state in `secret`); `None` when the fields must be expanded.
pub(crate) fn whole_value_role(auth: &AuthSpec) -> Option<&'static str> {
    matches!(auth, AuthSpec::Oauth2 { .. }).then_some("secret")
}

/// Reads the JSON secret of `credential` into one value per role of `auth`: every role its
/// templates and strategy require must be a string field; optional roles (`session_token`)
/// may be absent or null. Other fields are ignored.
///
/// # Errors
/// `invalid_input` naming the credential and the missing or ill-typed field (never a value).
pub(crate) fn expand(auth: &AuthSpec, credential: &str, value: &SecretValue) -> Result<Secrets> {
    let what = format!("credential '{credential}': its JSON secret");
    let mut out = Secrets::new();
    if let Some(role) = whole_value_role(auth) {
        out.insert(role.to_string(), value.clone());
        return Ok(out);
    }
    let fields = Fields::parse(value.expose(), &what)?;
    for role in auth.required_roles() {
        let keys = role_keys(&role, auth);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let text = fields.required_text(&keys)?;
        out.insert(role, SecretValue::from(text.as_str()));
    }
    for role in auth.optional_roles() {
        let keys = role_keys(role, auth);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        if let Some(text) = fields.text(&keys)? {
            out.insert(role.to_string(), SecretValue::from(text.as_str()));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::registry::HeaderTemplate;

    const CANARY: &str = "canary-5e1d-never-shown";

    fn sigv4() -> AuthSpec {
        AuthSpec::AwsSigv4 {
            service: "s3".into(),
            region: "us-east-1".into(),
        }
    }

    fn text(secrets: &Secrets, role: &str) -> String {
        String::from_utf8(secrets[role].expose().to_vec()).unwrap()
    }

    fn err(auth: &AuthSpec, json: &str) -> Error {
        let e = expand(auth, "c1", &SecretValue::from(json)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(!e.message().contains(CANARY), "{}", e.message());
        assert!(!format!("{e:?}").contains(CANARY));
        e
    }

    #[test]
    fn aws_roles_take_snake_and_camel_case() {
        for json in [
            r#"{"accessKeyId":"AK","secretAccessKey":"SK","sessionToken":"ST"}"#,
            r#"{"access_key_id":"AK","secret_access_key":"SK","session_token":"ST"}"#,
        ] {
            let s = expand(&sigv4(), "c1", &SecretValue::from(json)).unwrap();
            assert_eq!(text(&s, "access_key_id"), "AK");
            assert_eq!(text(&s, "secret_access_key"), "SK");
            assert_eq!(text(&s, "session_token"), "ST");
        }
        let s = expand(
            &sigv4(),
            "c1",
            &SecretValue::from(
                r#"{"accessKeyId":"AK","secretAccessKey":"SK","sessionToken":null}"#,
            ),
        )
        .unwrap();
        assert!(!s.contains_key("session_token"));
    }

    #[test]
    fn mtls_and_basic_take_the_original_names() {
        let s = expand(
            &AuthSpec::Mtls {},
            "c1",
            &SecretValue::from(r#"{"certPem":"C","keyPem":"K"}"#),
        )
        .unwrap();
        assert_eq!(text(&s, "certificate"), "C");
        assert_eq!(text(&s, "private_key"), "K");
        let jira = AuthSpec::Basic {
            username_template: "{{email}}".into(),
            password_template: "{{api_token}}".into(),
        };
        let s = expand(
            &jira,
            "c1",
            &SecretValue::from(r#"{"username":"u","password":"p"}"#),
        )
        .unwrap();
        assert_eq!(text(&s, "email"), "u");
        assert_eq!(text(&s, "api_token"), "p");
        let s = expand(
            &jira,
            "c1",
            &SecretValue::from(r#"{"email":"u","apiToken":"p"}"#),
        )
        .unwrap();
        assert_eq!(text(&s, "api_token"), "p");
    }

    #[test]
    fn multi_header_roles_may_be_nested() {
        let auth = AuthSpec::MultiHeader {
            headers: vec![HeaderTemplate {
                header_name: "x-a".into(),
                value_template: "{{dd.api}}".into(),
            }],
        };
        let s = expand(&auth, "c1", &SecretValue::from(r#"{"dd":{"api":"A"}}"#)).unwrap();
        assert_eq!(text(&s, "dd.api"), "A");
    }

    #[test]
    fn malformed_secrets_name_the_field_never_the_value() {
        let auth = sigv4();
        let e = err(&auth, &format!(r#"{{"accessKeyId":"{CANARY}"}}"#));
        assert!(
            e.message().contains("\"secret_access_key\""),
            "{}",
            e.message()
        );
        assert!(e.message().contains("credential 'c1'"), "{}", e.message());
        let e = err(
            &auth,
            &format!(r#"{{"accessKeyId":5,"secretAccessKey":"{CANARY}"}}"#),
        );
        assert!(
            e.message()
                .contains("\"accessKeyId\" must be a string, not a number"),
            "{}",
            e.message()
        );
        let e = err(&auth, &format!(r#"["{CANARY}"]"#));
        assert!(e.message().contains("not an array"), "{}", e.message());
        let e = err(&auth, &format!(r#""{CANARY}""#));
        assert!(e.message().contains("not a string"), "{}", e.message());
        let e = err(&auth, CANARY);
        assert!(e.message().contains("not valid JSON"), "{}", e.message());
        let e = err(&auth, &format!(r#"{{"accessKeyId":"{CANARY}"#));
        assert!(e.message().contains("not valid JSON"), "{}", e.message());
        let e = err(
            &auth,
            &format!(r#"{{"accessKeyId":"a","access_key_id":"{CANARY}","secretAccessKey":"s"}}"#),
        );
        assert!(e.message().contains("both"), "{}", e.message());
        let e = err(
            &auth,
            &format!(r#"{{"accessKeyId":"a","secretAccessKey":{{"x":"{CANARY}"}}}}"#),
        );
        assert!(e.message().contains("not an object"), "{}", e.message());
    }
}
