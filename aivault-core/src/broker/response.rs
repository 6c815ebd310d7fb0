//! What the broker hands back: the upstream status, sanitized headers and a redacted body,
//! with the planned request (no secret in it). The audit event of a call is written when its
//! body has been read to the end, failed, or was dropped.

use std::io::Read;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::audit::{NewEvent, kinds};
use crate::error::{Error, ErrorKind, Result};
use crate::vault::Vault;

use super::redact::{self, RedactingReader};

/// The request the broker made, without any secret: what `aivault json` prints as `planned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// The capability.
    pub capability: String,
    /// The credential used.
    pub credential: String,
    /// The HTTP method.
    pub method: String,
    /// Scheme, host, path and query as sent, with `REDACTED` where a secret goes
    /// (`/botREDACTED/getMe`, `?api_key=REDACTED`); never a value or a raw template.
    pub url: String,
}

/// A complete response (see [`Vault::invoke`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeResponse {
    /// The request made.
    pub planned: Planned,
    /// The upstream status, relayed as is (4xx and 5xx included).
    pub status: u16,
    /// Upstream headers minus auth-class, cookie and framing headers, values redacted.
    pub headers: Vec<(String, String)>,
    /// The body, redacted.
    pub body: Vec<u8>,
}

/// A response whose body is read as it arrives (see [`Vault::invoke_stream`]). Reading it
/// to the end (or dropping it) writes the call's audit event.
pub struct ResponseStream<'v> {
    pub(crate) vault: &'v Vault,
    pub(crate) planned: Planned,
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) reader: RedactingReader<ureq::BodyReader<'static>>,
    /// The upstream's `Content-Length`, to size a buffer read whole once.
    pub(crate) length_hint: Option<u64>,
    pub(crate) audit: Option<AuditDraft>,
}

impl std::fmt::Debug for ResponseStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("planned", &self.planned)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl ResponseStream<'_> {
    /// The request made.
    pub fn planned(&self) -> &Planned {
        &self.planned
    }

    /// The upstream status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sanitized upstream headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body length the upstream announced (`Content-Length`), if it did. The redacted
    /// body can be longer or shorter; with [`ResponseStream::upstream_bytes`] it tells a relay
    /// when the upstream body is all in (the reads left return what redaction held back, then
    /// the end, without waiting on the network).
    pub fn announced_length(&self) -> Option<u64> {
        self.length_hint
    }

    /// Bytes of the body read from the upstream so far (before redaction).
    pub fn upstream_bytes(&self) -> u64 {
        self.reader.upstream_bytes()
    }

    /// Reads the rest of the body into memory and writes the audit event.
    ///
    /// # Errors
    /// `policy_violation` when the body exceeds the capability's `maxResponseBodyBytes`, or
    /// [`DEFAULT_BUFFERED_CAP`](super::DEFAULT_BUFFERED_CAP) when the policy sets none;
    /// `upstream_error` when the upstream fails mid-body.
    pub fn into_response(mut self) -> Result<InvokeResponse> {
        let cap = self
            .reader
            .cap_buffered(super::buffered::DEFAULT_BUFFERED_CAP);
        // Sized once from the announced length (never past the cap): a growing buffer would
        // briefly hold a large body twice. Redaction can change the length; this is a hint.
        let hint = self.length_hint.unwrap_or(0).min(cap);
        let mut body = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
        if let Err(e) = self.read_to_end(&mut body) {
            return Err(body_error(&e, &self.planned));
        }
        self.finish();
        Ok(InvokeResponse {
            planned: self.planned.clone(),
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
        })
    }

    /// Records the call's audit event now (it is otherwise recorded at the end of the body,
    /// or when the stream is dropped).
    pub fn finish(&mut self) {
        if let Some(draft) = self.audit.take() {
            let bytes = self.reader.upstream_bytes();
            self.vault
                .record_call(draft.with_response(self.status, bytes));
        }
    }

    fn fail(&mut self, kind: ErrorKind) {
        if let Some(draft) = self.audit.take() {
            let bytes = self.reader.upstream_bytes();
            let draft = draft.with_response(self.status, bytes).failed(kind);
            self.vault.record_call(draft);
        }
    }
}

impl Read for ResponseStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.reader.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.finish();
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            // The io error carries the aivault error (size cap, upstream failure naming the
            // host), so every wrapper reports it the same way.
            Err(e) => {
                let error = body_error(&e, &self.planned);
                self.fail(error.kind());
                Err(std::io::Error::new(e.kind(), error))
            }
        }
    }
}

impl Drop for ResponseStream<'_> {
    fn drop(&mut self) {
        if let Some(draft) = self.audit.take() {
            let bytes = self.reader.upstream_bytes();
            let draft = draft.with_response(self.status, bytes).incomplete();
            self.vault.record_call(draft);
        }
    }
}

/// The error a body read failed with, as an aivault error (the size cap, or the upstream).
pub(crate) fn body_error(err: &std::io::Error, planned: &Planned) -> Error {
    if let Some(e) = redact::policy_error(err) {
        return e;
    }
    if let Some(e) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        return e.clone();
    }
    let host = planned
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("the upstream");
    let what = if err.kind() == std::io::ErrorKind::TimedOut {
        "timed out".to_string()
    } else {
        err.kind().to_string()
    };
    Error::new(
        ErrorKind::UpstreamError,
        format!("reading the response body from {host} failed: {what}"),
    )
}

/// The audit event of one call, filled in as the call proceeds.
#[derive(Debug, Clone)]
pub(crate) struct AuditDraft {
    pub capability: String,
    pub credential: Option<String>,
    pub secret_id: Option<String>,
    pub scope: String,
    pub consumer: Option<String>,
    pub caller: Option<String>,
    pub host: String,
    pub method: String,
    pub path: String,
    pub request_bytes: u64,
    pub status: Option<u16>,
    pub response_bytes: u64,
    pub started: Instant,
    pub outcome: String,
}

impl AuditDraft {
    fn with_response(mut self, status: u16, bytes: u64) -> Self {
        self.status = Some(status);
        self.response_bytes = bytes;
        self
    }

    /// Marks the call failed with `kind`.
    pub(crate) fn failed(mut self, kind: ErrorKind) -> Self {
        self.outcome = format!("error:{}", kind.as_str());
        self
    }

    fn incomplete(mut self) -> Self {
        self.outcome = "incomplete".into();
        self
    }

    fn note(&self) -> String {
        let mut note = format!(
            "outcome={} method={} host={} path={} status={} request_bytes={} response_bytes={} duration_ms={}",
            self.outcome,
            or_dash(&self.method),
            or_dash(&self.host),
            or_dash(&self.path),
            self.status.map_or("-".to_string(), |s| s.to_string()),
            self.request_bytes,
            self.response_bytes,
            self.started.elapsed().as_millis()
        );
        if let Some(consumer) = &self.consumer {
            note.push_str(&format!(" consumer={consumer}"));
        }
        if let Some(caller) = &self.caller {
            note.push_str(&format!(" caller={caller}"));
        }
        note
    }
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

impl Vault {
    /// Queues the `capability.invoke` event of a call (written in the background, in order,
    /// on the audit chain; see `audit_queue`).
    pub(crate) fn record_call(&self, draft: AuditDraft) {
        let mut event = NewEvent::new(kinds::CAPABILITY_INVOKE)
            .capability(&draft.capability)
            .scope(&draft.scope)
            .note(draft.note());
        if let Some(id) = &draft.credential {
            event = event.credential(id);
        }
        if let Some(id) = &draft.secret_id {
            event = event.secret(id);
        }
        self.audit_later(event);
    }
}
