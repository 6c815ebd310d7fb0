//! The JSON form of a request (`aivault invoke --request`, the broker envelope of DESIGN §5),
//! shared by every wrapper.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};

use super::request::{Invocation, MultipartPart, RequestBody};

impl Invocation {
    /// Fills the request from its JSON form: `{"method","path","headers":{..},"body"|"multipart"}`,
    /// or the same inside `{"request": ..}` (the broker envelope). Fields already set (flags
    /// given on a command line) win; headers are added. A JSON `body` that is not a string is
    /// sent as JSON (with `content-type: application/json` unless one is given); multipart parts
    /// are strings or `{"file": "PATH"}`. Never a URL or host.
    ///
    /// # Errors
    /// `invalid_input` for malformed JSON, unknown fields or wrong types.
    pub fn merge_request_json(&mut self, text: &str) -> Result<()> {
        merge(self, text)
    }
}

fn merge(invocation: &mut Invocation, text: &str) -> Result<()> {
    let bad = |what: &str| Error::invalid(format!("request JSON: {what}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let request = value.get("request").unwrap_or(&value);
    let Value::Object(fields) = request else {
        return Err(bad("expected a JSON object"));
    };
    for key in fields.keys() {
        if !["method", "path", "headers", "body", "multipart"].contains(&key.as_str()) {
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
        Some(_) => return Err(bad("headers must be an object of strings")),
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

        let mut multipart = Invocation::default();
        multipart
            .merge_request_json(r#"{"multipart":{"model":"m","file":{"file":"/tmp/a.mp3"}}}"#)
            .unwrap();
        assert!(matches!(&multipart.body, RequestBody::Multipart(parts) if parts.len() == 2));
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
            let err = Invocation::default().merge_request_json(bad).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
