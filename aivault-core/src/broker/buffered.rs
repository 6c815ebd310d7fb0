//! A response read whole before it is printed (`aivault json`, `aivault markdown`, `invoke`
//! without `--stream`): capped at [`DEFAULT_BUFFERED_CAP`] unless the capability's policy sets
//! `maxResponseBodyBytes`, held once in memory (in pieces, never copied into a second buffer),
//! and, when it is JSON, decoded and redacted again: a JSON escape the byte-level redactor
//! does not list (`\u0073k-…`) decodes to the secret, so every decoded string, value and key,
//! goes through the redactor before anything is printed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::error::Result;

use super::markdown;
use super::redact::Redactor;
use super::response::{Planned, ResponseStream, body_error};

/// The most bytes a response read whole may have when the capability's policy sets no
/// `maxResponseBodyBytes` (64 MiB). Streaming (`invoke --stream`) has no default cap.
pub const DEFAULT_BUFFERED_CAP: u64 = 64 << 20;

/// The size of the pieces a body is held in: no piece is ever reallocated, so a body costs
/// its own size (not the doubling of a growing buffer), and a piece is freed as soon as it
/// has been decoded.
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

/// A response body as JSON, or as text when it is not JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedBody {
    /// The body parsed as JSON, every string (value and key) redacted after decoding.
    Json(Value),
    /// The body as text (invalid UTF-8 replaced), redacted after decoding.
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

    /// The body as JSON (every decoded string, value and key, redacted again), or as text
    /// when it is not JSON; `None` for an empty body. Each piece of the body is freed once
    /// decoded, so the body is never held twice.
    pub fn decode(mut self) -> Option<DecodedBody> {
        if self.len == 0 {
            return None;
        }
        let is_json =
            serde_json::from_reader::<_, IgnoredAny>(buffered(Pieces::borrowed(&self.body)))
                .is_ok();
        if is_json
            && let Ok(mut value) = serde_json::from_reader::<_, Value>(buffered(Pieces::owned(
                std::mem::take(&mut self.body),
            )))
        {
            redact_value(&mut value, &self.redactor);
            return Some(DecodedBody::Json(value));
        }
        let mut bytes = Vec::with_capacity(self.len);
        while let Some(piece) = self.body.pop_front() {
            bytes.extend_from_slice(&piece);
        }
        let text = match String::from_utf8(bytes) {
            // The bytes were redacted as they are: nothing was decoded.
            Ok(text) => text,
            // Replacing invalid bytes is a decoding: redact what it made.
            Err(e) => self
                .redactor
                .redact_str(&String::from_utf8_lossy(e.as_bytes())),
        };
        Some(DecodedBody::Text(text))
    }

    /// Writes the body as markdown (`aivault markdown`) to `out`, ending with a line break:
    /// JSON rendered by [`markdown::write_markdown`] after its strings were redacted (written
    /// as it is rendered, never held as text too), other bodies as text.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_markdown(self, out: &mut dyn Write) -> io::Result<()> {
        let mut last = Last { out, byte: None };
        match self.decode() {
            None => {}
            Some(DecodedBody::Text(text)) => last.write_all(text.as_bytes())?,
            Some(DecodedBody::Json(value)) => markdown::write_markdown(&value, &mut last)?,
        }
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

/// Redacts every string of `value`, object keys included, in place.
fn redact_value(value: &mut Value, redactor: &Redactor) {
    match value {
        Value::String(s) => redact_string(s, redactor),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, redactor)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut redacted = Map::with_capacity(old.len());
            for (mut key, mut v) in old {
                redact_string(&mut key, redactor);
                redact_value(&mut v, redactor);
                redacted.insert(key, v);
            }
            *map = redacted;
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn redact_string(s: &mut String, redactor: &Redactor) {
    let redacted = redactor.redact_str(s);
    if redacted != *s {
        *s = redacted;
    }
}

/// serde_json reads a byte at a time: through a buffer.
fn buffered<R: Read>(reader: R) -> io::BufReader<R> {
    io::BufReader::with_capacity(64 * 1024, reader)
}

/// A reader over the pieces of a body; an owned one frees each piece once it is read.
struct Pieces<'a> {
    borrowed: Option<&'a VecDeque<Vec<u8>>>,
    owned: VecDeque<Vec<u8>>,
    index: usize,
    pos: usize,
}

impl<'a> Pieces<'a> {
    fn borrowed(body: &'a VecDeque<Vec<u8>>) -> Self {
        Pieces {
            borrowed: Some(body),
            owned: VecDeque::new(),
            index: 0,
            pos: 0,
        }
    }

    fn owned(body: VecDeque<Vec<u8>>) -> Pieces<'static> {
        Pieces {
            borrowed: None,
            owned: body,
            index: 0,
            pos: 0,
        }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let piece = match self.borrowed {
                Some(body) => body.get(self.index),
                None => self.owned.front(),
            };
            let Some(piece) = piece else {
                return Ok(0);
            };
            if self.pos < piece.len() {
                let n = buf.len().min(piece.len() - self.pos);
                buf[..n].copy_from_slice(&piece[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            self.pos = 0;
            match self.borrowed {
                Some(_) => self.index += 1,
                None => drop(self.owned.pop_front()),
            }
        }
    }
}
