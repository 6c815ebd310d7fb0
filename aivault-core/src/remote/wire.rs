//! The JSON heads and trailers of the protocol, and the translation of an [`Invocation`] to
//! and from them. Unknown fields are refused: a misspelt field is an error, never ignored.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::broker::{Invocation, MultipartPart, Planned, RequestBody};
use crate::error::{Error, ErrorKind, Result};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// What the caller asks for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestHead {
    /// [`VERSION`].
    pub version: u32,
    /// The caller token (`avt_...`).
    pub token: String,
    /// The call.
    pub call: Call,
}

/// Never prints the token (a caller's credential).
impl std::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHead")
            .field("version", &self.version)
            .field("token", &"[REDACTED]")
            .field("call", &self.call)
            .finish()
    }
}

/// What a caller may ask of the server: only what a token allows (list, describe, invoke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Call {
    /// Invoke a capability; its body follows the head.
    Invoke(Box<WireInvocation>),
    /// The token's capabilities (answered with a `CapabilityListing` as JSON).
    ListCapabilities,
    /// How to call one of them (answered with a `CapabilityDescription` as JSON).
    DescribeCapability {
        /// The capability id.
        id: String,
    },
    /// Which of the token's capabilities a plain HTTP request goes through (answered with a
    /// `Route` as JSON), for drop-in SDK transports.
    Route {
        /// `host[:port]`.
        host: String,
        /// HTTP method.
        method: String,
        /// Path and query.
        path: String,
    },
    /// Where the server's HTTPS proxy listens and the certificate of its local CA (answered
    /// with a [`ProxyInfo`] as JSON), so `aivault run` on the caller's side can point tools at
    /// it.
    ProxyInfo,
}

/// The answer to [`Call::ProxyInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyInfo {
    /// `127.0.0.1:PORT`, or `None` when the server runs no proxy (`aivault serve` without
    /// `--proxy`).
    pub address: Option<String>,
    /// The local CA's certificate (PEM), which tools must trust.
    pub ca_certificate_pem: String,
}

/// How the server renders the response (what the CLI command would print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Render {
    /// The body bytes (`aivault invoke`).
    Body,
    /// The body bytes as they arrive (`aivault invoke --stream`).
    Stream,
    /// `{"planned", "response": {"status", "json" | "text"}}` (`aivault json`).
    Json,
    /// The JSON body as markdown (`aivault markdown`).
    Markdown,
}

/// An invocation on the wire: everything but the body, whose bytes follow the head. Never a
/// path: the caller reads its own files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireInvocation {
    /// Capability id.
    pub capability: String,
    /// Credential id.
    pub credential: Option<String>,
    /// Context: workspace (must be the token's, or unset).
    pub workspace_id: Option<String>,
    /// Context: group (must be the token's, or unset).
    pub group_id: Option<String>,
    /// Context: consumer (must be the token's, or unset).
    pub consumer: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Path and query.
    pub path: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Whole-call timeout in ms.
    pub timeout_ms: Option<u64>,
    /// What the body bytes are.
    pub body: WireBody,
    /// How to render the response.
    pub render: Render,
}

/// The body that follows the head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", deny_unknown_fields)]
pub enum WireBody {
    /// No body (any bytes sent are refused).
    Empty,
    /// The bytes, as they are.
    Bytes,
    /// A multipart body: each part in order; file parts take their `len` bytes from the body.
    Multipart {
        /// The parts.
        parts: Vec<WirePart>,
    },
}

/// One multipart part on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", deny_unknown_fields)]
pub enum WirePart {
    /// A text field.
    Field {
        /// Field name.
        name: String,
        /// Value.
        value: String,
    },
    /// A file's contents: the next `len` bytes of the body.
    File {
        /// Field name.
        name: String,
        /// File name.
        file_name: String,
        /// Its length in the body.
        len: u64,
    },
}

/// The start of the answer to a call that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseHead {
    /// The upstream HTTP status.
    pub status: u16,
    /// The upstream's headers as the broker relays them (sanitized, redacted).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The request the broker made (no secret in it), for an invoke; absent for a JSON
    /// answer (list, describe, route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Planned>,
}

/// The end of every answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trailer {
    /// The error that refused or ended the call, if any.
    pub error: Option<WireError>,
}

/// An error on the wire: the stable kind and the message (never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireError {
    /// [`ErrorKind::as_str`].
    pub kind: String,
    /// The message.
    pub message: String,
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> WireError {
        WireError {
            kind: e.kind().as_str().to_string(),
            message: e.message().to_string(),
        }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Error {
        let kind = ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == e.kind)
            .unwrap_or(ErrorKind::Internal);
        Error::new(kind, e.message)
    }
}

impl WireInvocation {
    /// The wire form of `invocation` and the body bytes to send after it. File bodies must
    /// have been read by the caller already ([`RequestBody::File`] and
    /// [`MultipartPart::File`] are refused: the server never opens a path).
    ///
    /// # Errors
    /// `internal` for a body that still names a file.
    pub fn from_invocation(
        invocation: &Invocation,
        render: Render,
    ) -> Result<(WireInvocation, Vec<u8>)> {
        let (body, bytes) = match &invocation.body {
            RequestBody::Empty => (WireBody::Empty, Vec::new()),
            RequestBody::Bytes(bytes) => (WireBody::Bytes, bytes.clone()),
            RequestBody::File(_) => {
                return Err(Error::internal(
                    "a body file must be read before it is sent",
                ));
            }
            RequestBody::Multipart(parts) => {
                let mut wire = Vec::new();
                let mut bytes = Vec::new();
                for part in parts {
                    match part {
                        MultipartPart::Field { name, value } => wire.push(WirePart::Field {
                            name: name.clone(),
                            value: value.clone(),
                        }),
                        MultipartPart::Data {
                            name,
                            file_name,
                            bytes: data,
                        } => {
                            wire.push(WirePart::File {
                                name: name.clone(),
                                file_name: file_name.clone(),
                                len: data.len() as u64,
                            });
                            bytes.extend_from_slice(data);
                        }
                        MultipartPart::File { .. } => {
                            return Err(Error::internal(
                                "a multipart file must be read before it is sent",
                            ));
                        }
                    }
                }
                (WireBody::Multipart { parts: wire }, bytes)
            }
        };
        Ok((
            WireInvocation {
                capability: invocation.capability.clone(),
                credential: invocation.credential.clone(),
                workspace_id: invocation.workspace_id.clone(),
                group_id: invocation.group_id.clone(),
                consumer: invocation.consumer.clone(),
                method: invocation.method.clone(),
                path: invocation.path.clone(),
                headers: invocation.headers.clone(),
                timeout_ms: invocation.timeout.map(|t| t.as_millis() as u64),
                body,
                render,
            },
            bytes,
        ))
    }

    /// The invocation this describes, with `bytes` as its body.
    ///
    /// # Errors
    /// `invalid_input` when the bytes do not fit the body description.
    pub fn into_invocation(self, mut bytes: Vec<u8>) -> Result<Invocation> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidInput, format!("protocol: {why}"));
        let body = match self.body {
            WireBody::Empty if bytes.is_empty() => RequestBody::Empty,
            WireBody::Empty => return Err(bad("body bytes sent for an empty body")),
            WireBody::Bytes => RequestBody::Bytes(bytes),
            WireBody::Multipart { parts } => {
                let mut out = Vec::with_capacity(parts.len());
                let mut rest = bytes.as_mut_slice();
                for part in parts {
                    match part {
                        WirePart::Field { name, value } => {
                            out.push(MultipartPart::Field { name, value })
                        }
                        WirePart::File {
                            name,
                            file_name,
                            len,
                        } => {
                            let len = usize::try_from(len)
                                .ok()
                                .filter(|&n| n <= rest.len())
                                .ok_or_else(|| bad("a multipart file is longer than the body"))?;
                            let (data, tail) = std::mem::take(&mut rest).split_at_mut(len);
                            rest = tail;
                            out.push(MultipartPart::Data {
                                name,
                                file_name,
                                bytes: data.to_vec(),
                            });
                        }
                    }
                }
                if !rest.is_empty() {
                    return Err(bad("body bytes left over after the multipart parts"));
                }
                RequestBody::Multipart(out)
            }
        };
        Ok(Invocation {
            capability: self.capability,
            credential: self.credential,
            workspace_id: self.workspace_id,
            group_id: self.group_id,
            consumer: self.consumer,
            method: self.method,
            path: self.path,
            headers: self.headers,
            body,
            timeout: self.timeout_ms.map(Duration::from_millis),
            caller: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_round_trip_and_misfit_bodies_are_refused() {
        let invocation = Invocation {
            capability: "acme/api".into(),
            method: Some("POST".into()),
            path: Some("/v1/upload".into()),
            headers: vec![("x-a".into(), "1".into())],
            timeout: Some(Duration::from_millis(1500)),
            body: RequestBody::Multipart(vec![
                MultipartPart::Field {
                    name: "purpose".into(),
                    value: "fine-tune".into(),
                },
                MultipartPart::Data {
                    name: "file".into(),
                    file_name: "a.jsonl".into(),
                    bytes: b"{}\n{}\n".to_vec(),
                },
            ]),
            ..Invocation::default()
        };
        let (wire, bytes) = WireInvocation::from_invocation(&invocation, Render::Json).expect("to");
        let json = serde_json::to_string(&wire).expect("json");
        let back: WireInvocation = serde_json::from_str(&json).expect("from json");
        let wire = back.clone();
        let again = back.clone().into_invocation(bytes.clone()).expect("back");
        assert_eq!(format!("{again:?}"), format!("{invocation:?}"));
        // Too few or too many bytes for the parts.
        assert!(back.clone().into_invocation(bytes[..3].to_vec()).is_err());
        let mut more = bytes.clone();
        more.push(b'x');
        assert!(back.into_invocation(more).is_err());
        // A path never goes on the wire.
        let file = Invocation {
            body: RequestBody::File("/etc/passwd".into()),
            ..Invocation::default()
        };
        assert!(WireInvocation::from_invocation(&file, Render::Body).is_err());
        // Unknown fields are refused.
        assert!(
            serde_json::from_str::<RequestHead>(
                r#"{"version":1,"token":"t","call":{"op":"listCapabilities"},"x":1}"#
            )
            .is_err()
        );
        let head: RequestHead = serde_json::from_str(
            r#"{"version":1,"token":"t","call":{"op":"describeCapability","id":"a/b"}}"#,
        )
        .expect("describe");
        assert_eq!(head.call, Call::DescribeCapability { id: "a/b".into() });
        let shown = format!("{head:?}");
        assert!(
            shown.contains("[REDACTED]") && !shown.contains("\"t\""),
            "{shown}"
        );
        let call = Call::Invoke(Box::new(wire));
        let text = serde_json::to_string(&call).expect("json");
        assert_eq!(serde_json::from_str::<Call>(&text).expect("invoke"), call);
        assert!(serde_json::from_str::<Call>(r#"{"op":"deleteSecret","id":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<Call>(r#"{"op":"invoke","capability":"a","body":{"kind":"empty"},"render":"body","extra":1}"#)
                .is_err()
        );
    }
}
