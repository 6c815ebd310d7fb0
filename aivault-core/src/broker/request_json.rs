//! The JSON form of a request (`aivault invoke --request`, the broker envelope of DESIGN §5),
//! shared by every wrapper.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};

use super::request::{Invocation, MultipartPart, RequestBody};

impl Invocation {
    /// Fills the request from its JSON form: the bare form
    /// `{"method","path","headers","body"|"multipart"}` (plus optionally `capability`,
    /// `credential`), or the envelope `{"capability","credential","request": {bare form
    /// without selectors}}` whose top-level keys are exactly those three (all optional but
    /// `request`). `capability` must equal the invoked one; `credential` acts as the
    /// credential flag and must agree with it. `headers` is an object of strings or a list of
    /// `{"name","value"}`. Fields already set (flags
    /// given on a command line) win; headers are added. A JSON `body` that is not a string is
    /// sent as JSON (with `content-type: application/json` unless one is given); multipart parts
    /// are strings, or `{"file": "PATH"}` when `files` is [`FileReferences::Allow`] (the
    /// request JSON often comes from the agent, and a file part makes the broker read a path:
    /// only an explicit operator flag allows it). Never a URL or host.
    ///
    /// # Errors
    /// `invalid_input` for malformed JSON, a key repeated within an object, unknown fields,
    /// wrong types, a file part not allowed, a different capability or a credential
    /// differing from the one already given.
    pub fn merge_request_json(&mut self, text: &str, files: FileReferences) -> Result<()> {
        merge(self, text, files)
    }
}

/// Whether request JSON may name files (`"multipart": {"f": {"file": PATH}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileReferences {
    /// File parts are refused (`invalid_input`).
    Refuse,
    /// File parts are read (still through the broker's protected-path checks).
    Allow,
}

fn merge(invocation: &mut Invocation, text: &str, files: FileReferences) -> Result<()> {
    let bad = |what: &str| Error::invalid(format!("request JSON: {what}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    if let Some(key) = repeated_key(text) {
        return Err(bad(&format!(
            "key '{}' appears twice in one object (JSON readers disagree on which one counts)",
            crate::model::printable(&key)
        )));
    }
    let Value::Object(top) = &value else {
        return Err(bad("expected a JSON object"));
    };
    let request = match top.get("request") {
        Some(inner) => {
            for key in top.keys() {
                if !["capability", "credential", "request"].contains(&key.as_str()) {
                    return Err(bad(&format!(
                        "unknown envelope field '{key}' (the envelope takes capability, credential and request)"
                    )));
                }
            }
            inner
        }
        None => &value,
    };
    check_selectors(invocation, top)?;
    let Value::Object(fields) = request else {
        return Err(bad("request must be a JSON object"));
    };
    let wrapped = top.contains_key("request");
    for key in fields.keys() {
        let selector = !wrapped && ["capability", "credential"].contains(&key.as_str());
        if !selector && !["method", "path", "headers", "body", "multipart"].contains(&key.as_str())
        {
            return Err(bad(&format!(
                "unknown field '{key}' (the broker takes method, path, headers, body or multipart; never a URL or host)"
            )));
        }
    }
    if invocation.method.is_none() {
        invocation.method = fields
            .get("method")
            .map(|m| {
                m.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("method must be a string"))
            })
            .transpose()?;
    }
    if invocation.path.is_none() {
        invocation.path = fields
            .get("path")
            .map(|p| {
                p.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("path must be a string"))
            })
            .transpose()?;
    }
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| bad("header values must be strings"))?;
                invocation.headers.push((name.clone(), value.to_string()));
            }
        }
        Some(Value::Array(list)) => {
            for entry in list {
                let pair = entry.as_object().filter(|o| {
                    o.len() == 2
                        && o.get("name").is_some_and(Value::is_string)
                        && o.get("value").is_some_and(Value::is_string)
                });
                let Some(pair) = pair else {
                    return Err(bad(
                        "a header list entry is exactly {\"name\": STRING, \"value\": STRING}",
                    ));
                };
                let (Some(name), Some(value)) = (
                    pair.get("name").and_then(Value::as_str),
                    pair.get("value").and_then(Value::as_str),
                ) else {
                    return Err(bad("header names and values must be strings"));
                };
                invocation
                    .headers
                    .push((name.to_string(), value.to_string()));
            }
        }
        Some(_) => {
            return Err(bad(
                "headers must be an object of strings or a list of {\"name\", \"value\"}",
            ));
        }
    }
    match (fields.get("body"), fields.get("multipart")) {
        (Some(_), Some(_)) => return Err(bad("give either body or multipart")),
        (Some(Value::String(text)), None) => {
            invocation.body = RequestBody::Bytes(text.clone().into_bytes());
        }
        (Some(Value::Null), None) | (None, None) => {}
        (Some(json), None) => {
            invocation.body = RequestBody::Bytes(json.to_string().into_bytes());
            if !invocation
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                invocation
                    .headers
                    .push(("content-type".into(), "application/json".into()));
            }
        }
        (None, Some(Value::Object(parts))) => {
            let mut out = Vec::new();
            for (name, part) in parts {
                match part {
                    Value::String(value) => out.push(MultipartPart::Field {
                        name: name.clone(),
                        value: value.clone(),
                    }),
                    Value::Object(_) if files == FileReferences::Refuse => {
                        return Err(bad(
                            "multipart file parts ({\"file\": PATH}) are refused unless file references are allowed (--allow-file-references)",
                        ));
                    }
                    Value::Object(file) => {
                        let path = file
                            .get("file")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("a multipart file part is {\"file\": \"PATH\"}"))?;
                        out.push(MultipartPart::File {
                            name: name.clone(),
                            path: PathBuf::from(path),
                        });
                    }
                    _ => return Err(bad("multipart parts are strings or {\"file\": \"PATH\"}")),
                }
            }
            invocation.body = RequestBody::Multipart(out);
        }
        (None, Some(_)) => return Err(bad("multipart must be an object")),
    }
    Ok(())
}

/// The first key repeated within one object, at any depth. `serde_json::Value` keeps the last
/// one silently; another reader (a proxy, a log pipeline, the caller's own validator) may keep
/// the first, so a repeated key is refused rather than guessed.
fn repeated_key(text: &str) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;

    /// Walks a JSON value; `Err(Some(key))` stops at the first repeated key.
    struct Walk;
    type Found = std::result::Result<(), Option<String>>;

    impl<'de> Visitor<'de> for Walk {
        type Value = Found;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_i64<E>(self, _: i64) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_str<E>(self, _: &str) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_unit<E>(self) -> std::result::Result<Found, E> {
            Ok(Ok(()))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Found, A::Error> {
            while let Some(found) = seq.next_element_seed(WalkSeed)? {
                if found.is_err() {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(found);
                }
            }
            Ok(Ok(()))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Found, A::Error> {
            let mut seen = HashSet::new();
            let mut result = Ok(());
            while let Some(key) = map.next_key::<String>()? {
                let found = map.next_value_seed(WalkSeed)?;
                if result.is_ok() {
                    if !seen.insert(key.clone()) {
                        result = Err(Some(key));
                    } else if found.is_err() {
                        result = found;
                    }
                }
            }
            Ok(result)
        }
    }

    struct WalkSeed;
    impl<'de> serde::de::DeserializeSeed<'de> for WalkSeed {
        type Value = Found;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Found, D::Error> {
            d.deserialize_any(Walk)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    match deserializer.deserialize_any(Walk) {
        Ok(Err(key)) => key,
        _ => None,
    }
}

/// The envelope's (or bare form's) `capability` and `credential`: the capability must equal
/// the one invoked (exactly, no case folding or trimming); the credential is applied as a
/// `--credential` flag would be, and must agree with one already given.
fn check_selectors(
    invocation: &mut Invocation,
    top: &serde_json::Map<String, Value>,
) -> Result<()> {
    let bad = |what: &str| Error::invalid(format!("request JSON: {what}"));
    match top.get("capability") {
        None => {}
        Some(Value::String(c)) if *c == invocation.capability => {}
        Some(Value::String(_)) => {
            return Err(bad(&format!(
                "capability does not match the invoked capability '{}'",
                invocation.capability
            )));
        }
        Some(_) => return Err(bad("capability must be a string")),
    }
    match top.get("credential") {
        None => {}
        Some(Value::String(c)) => match &invocation.credential {
            None => invocation.credential = Some(c.clone()),
            Some(given) if given == c => {}
            Some(given) => {
                return Err(bad(&format!(
                    "credential '{c}' differs from the credential given ('{given}')"
                )));
            }
        },
        Some(_) => return Err(bad("credential must be a string")),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_wrapped_requests_fill_what_is_unset() {
        let mut inv = Invocation {
            method: Some("PUT".into()),
            ..Invocation::default()
        };
        inv.merge_request_json(
            r#"{"request":{"method":"POST","path":"/v1/x","headers":{"x-a":"1"},"body":{"k":2}}}"#,
            FileReferences::Refuse,
        )
        .unwrap();
        assert_eq!(inv.method.as_deref(), Some("PUT"), "set fields win");
        assert_eq!(inv.path.as_deref(), Some("/v1/x"));
        assert!(inv.headers.contains(&("x-a".into(), "1".into())));
        assert!(
            inv.headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        assert!(matches!(&inv.body, RequestBody::Bytes(b) if b == br#"{"k":2}"#));

        let with_file = r#"{"multipart":{"model":"m","file":{"file":"/tmp/a.mp3"}}}"#;
        let mut multipart = Invocation::default();
        multipart
            .merge_request_json(with_file, FileReferences::Allow)
            .unwrap();
        assert!(matches!(&multipart.body, RequestBody::Multipart(parts) if parts.len() == 2));
        // Unless allowed, a file part is refused: the JSON may come from the agent.
        let err = Invocation::default()
            .merge_request_json(with_file, FileReferences::Refuse)
            .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
        assert!(err.message().contains("--allow-file-references"), "{err}");
    }

    #[test]
    fn hosts_urls_and_bad_shapes_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"url":"https://evil.test/"}"#,
            r#"{"host":"evil.test"}"#,
            r#"{"method":1}"#,
            r#"{"headers":["x"]}"#,
            r#"{"body":"a","multipart":{}}"#,
            r#"{"multipart":{"f":1}}"#,
        ] {
            let err = Invocation::default()
                .merge_request_json(bad, FileReferences::Refuse)
                .unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput, "{bad}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod envelope_tests {
    use super::*;
    use crate::error::ErrorKind;

    fn inv(credential: Option<&str>) -> Invocation {
        Invocation {
            capability: "acme/get".into(),
            credential: credential.map(str::to_string),
            ..Invocation::default()
        }
    }

    #[test]
    fn envelope_selectors_are_checked_and_applied() {
        let mut a = inv(None);
        a.merge_request_json(
            r#"{"capability":"acme/get","credential":"c-work","request":{"path":"/x"}}"#,
            FileReferences::Refuse,
        )
        .unwrap();
        assert_eq!(a.credential.as_deref(), Some("c-work"));
        let mut b = inv(Some("c-work"));
        b.merge_request_json(
            r#"{"credential":"c-work","path":"/x"}"#,
            FileReferences::Refuse,
        )
        .unwrap();
        assert_eq!(b.credential.as_deref(), Some("c-work"));
        let mut c = inv(None);
        c.merge_request_json(
            r#"{"headers":[{"name":"x-a","value":"1"}]}"#,
            FileReferences::Refuse,
        )
        .unwrap();
        assert!(c.headers.contains(&("x-a".into(), "1".into())));
        for (cred, text) in [
            (None, r#"{"capability":"acme/other","request":{}}"#),
            (None, r#"{"capability":"ACME/get","request":{}}"#),
            (None, r#"{"capability":"acme/get ","request":{}}"#),
            (None, r#"{"capability":"acme/other","path":"/x"}"#),
            (Some("c-a"), r#"{"credential":"c-b","request":{}}"#),
            (Some("c-a"), r#"{"credential":"c-b"}"#),
            (None, r#"{"credential":null,"request":{}}"#),
            (None, r#"{"credential":1}"#),
            (None, r#"{"extra":1,"request":{}}"#),
            (None, r#"{"request":"GET /"}"#),
            (None, r#"{"request":{"credential":"c-a"}}"#),
            (
                None,
                r#"{"headers":[{"name":"x","value":"1","extra":"2"}]}"#,
            ),
            (None, r#"{"headers":[{"name":"x","value":1}]}"#),
            (None, r#"{"headers":[["x","1"]]}"#),
        ] {
            let err = inv(cred)
                .merge_request_json(text, FileReferences::Refuse)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            inv(None)
                .merge_request_json(&deep, FileReferences::Refuse)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    }
}
