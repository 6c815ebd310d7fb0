//! A response read whole before it is printed (`aivault json`, `aivault markdown`, `invoke`
//! without `--stream`): capped at [`DEFAULT_BUFFERED_CAP`] unless the capability's policy sets
//! `maxResponseBodyBytes`, held once in memory (in pieces, never copied into a second buffer),
//! and, when it is JSON, decoded and redacted again: a JSON escape the byte-level redactor
//! does not list (`\u0073k-…`) decodes to the secret, so every decoded string, value and key,
//! goes through the redactor before anything is printed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::error::Result;

use super::json_tree::Json;
use super::markdown;
use super::redact::Redactor;
use super::response::{Planned, ResponseStream, body_error};

/// The most bytes a response read whole may have when the capability's policy sets no
/// `maxResponseBodyBytes` (64 MiB). Streaming (`invoke --stream`) has no default cap.
pub const DEFAULT_BUFFERED_CAP: u64 = 64 << 20;

/// The size of the pieces a body is read in: no piece is ever reallocated, so a body costs
/// its own size (not the doubling of a growing buffer); decoding joins them into one buffer,
/// freeing each as it is copied.
const PIECE: usize = 1 << 20;

/// A response read whole (see [`ResponseStream::read_whole`]).
pub struct BufferedResponse {
    /// The request made.
    pub planned: Planned,
    /// The upstream status.
    pub status: u16,
    /// Sanitized upstream headers.
    pub headers: Vec<(String, String)>,
    body: VecDeque<Vec<u8>>,
    len: usize,
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for BufferedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedResponse")
            .field("planned", &self.planned)
            .field("status", &self.status)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// A response body read whole, decoded: JSON (every decoded string, value and key, redacted
/// again), or text when it is not JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<'a> {
    /// An empty body.
    Empty,
    /// The body parsed as JSON, strings borrowed from the body where they had no escape.
    Json(Json<'a>),
    /// The body as text (invalid UTF-8 replaced, then redacted).
    Text(String),
}

impl ResponseStream<'_> {
    /// Reads the whole (redacted) body, capped at the policy's `maxResponseBodyBytes` or else
    /// [`DEFAULT_BUFFERED_CAP`], and writes the audit event.
    ///
    /// # Errors
    /// `policy_violation` when the body exceeds the cap; `upstream_error` when the upstream
    /// fails mid-body.
    pub fn read_whole(mut self) -> Result<BufferedResponse> {
        self.reader.cap_buffered(DEFAULT_BUFFERED_CAP);
        let mut body = VecDeque::new();
        let mut len = 0usize;
        loop {
            let mut piece = Vec::with_capacity(PIECE);
            match (&mut self).take(PIECE as u64).read_to_end(&mut piece) {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    body.push_back(piece);
                }
                Err(e) => return Err(body_error(&e, &self.planned)),
            }
        }
        self.finish();
        Ok(BufferedResponse {
            planned: self.planned.clone(),
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            len,
            redactor: Arc::clone(self.reader.redactor()),
        })
    }
}

impl BufferedResponse {
    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the (redacted) body to `out`, piece by piece.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_body(&self, out: &mut impl Write) -> io::Result<()> {
        self.body.iter().try_for_each(|piece| out.write_all(piece))
    }

    /// Calls `f` with the body decoded: as JSON (every decoded string, value and key,
    /// redacted again: a JSON escape the byte-level redactor does not list decodes to the
    /// secret), or as text when it is not JSON. The pieces are joined into one buffer as they
    /// are freed, and the parsed JSON borrows its strings from it, so the body is held once.
    pub fn decode_with<T>(mut self, f: impl FnOnce(Decoded<'_>) -> T) -> T {
        if self.len == 0 {
            return f(Decoded::Empty);
        }
        let mut bytes = Vec::with_capacity(self.len);
        while let Some(piece) = self.body.pop_front() {
            bytes.extend_from_slice(&piece);
        }
        if let Ok(mut json) = Json::parse(&bytes) {
            json.redact(&self.redactor);
            return f(Decoded::Json(json));
        }
        let text = match String::from_utf8(bytes) {
            // The bytes were redacted as they are: nothing was decoded.
            Ok(text) => text,
            // Replacing invalid bytes is a decoding: redact what it made.
            Err(e) => {
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                drop(e);
                self.redactor.redacted(&text).unwrap_or(text)
            }
        };
        f(Decoded::Text(text))
    }

    /// Writes the body as markdown (`aivault markdown`) to `out`, ending with a line break:
    /// JSON rendered by [`markdown::write_json`] after its strings were redacted (written
    /// as it is rendered, never held as text too), other bodies as text.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_markdown(self, out: &mut dyn Write) -> io::Result<()> {
        let mut last = Last { out, byte: None };
        self.decode_with(|decoded| match decoded {
            Decoded::Empty => Ok(()),
            Decoded::Text(text) => last.write_all(text.as_bytes()),
            Decoded::Json(json) => markdown::write_json(&json, &mut last),
        })?;
        if last.byte != Some(b'\n') {
            last.write_all(b"\n")?;
        }
        last.flush()
    }
}

/// A writer that remembers the last byte written.
struct Last<'w> {
    out: &'w mut dyn Write,
    byte: Option<u8>,
}

impl Write for Last<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        if n > 0 {
            self.byte = Some(buf[n - 1]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
