//! Hand-written HTTP/1.1: parsing requests (server side) and responses (for raw-socket tests),
//! and serializing [`Reply`]s.
//!
//! Deliberately small and byte-exact: header names keep their case and order, the raw head is
//! kept verbatim, and nothing is normalized behind the test's back.

use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

/// The largest head (start line + headers) accepted, in bytes.
const MAX_HEAD: u64 = 1024 * 1024;
/// The largest single line (chunk-size line, trailer) accepted, in bytes.
const MAX_LINE: u64 = 64 * 1024;
/// Write size for [`Reply::stream_zeros`].
const ZERO_WRITE: usize = 64 * 1024;

/// What the server received, byte-exact.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request method, e.g. `POST`.
    pub method: String,
    /// The raw request-target as received, e.g. `/v1/x?a=1`.
    pub target: String,
    /// The header fields as received: original case, in order, duplicates kept.
    /// Values have surrounding spaces/tabs trimmed.
    pub headers: Vec<(String, String)>,
    /// The request body (de-chunked when it was sent chunked).
    pub body: Vec<u8>,
    /// The request line and header lines exactly as received, including line endings and the
    /// terminating empty line (lossily decoded if not UTF-8).
    pub raw_head: String,
    /// DER of the client's TLS certificate, if one was presented.
    pub tls_client_cert: Option<Vec<u8>>,
    /// The TLS SNI host name sent by the client (none for plain HTTP, or when the client
    /// connected by IP address: clients do not send SNI for IPs).
    pub sni: Option<String>,
    /// Zero-based ordinal of the TCP connection this request arrived on (in accept order),
    /// to assert which requests shared a connection.
    pub connection: usize,
}

impl Recorded {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of the headers named `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body, lossily decoded as UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The raw head followed by the lossily decoded body: everything the upstream saw, for
    /// "the canary never reached the upstream" assertions.
    pub fn all_text(&self) -> String {
        let mut text = self.raw_head.clone();
        text.push_str(&String::from_utf8_lossy(&self.body));
        text
    }
}

/// How a [`Reply`]'s body is produced.
#[derive(Debug, Clone)]
enum Body {
    /// A fixed body, `Content-Length` framed.
    Bytes(Vec<u8>),
    /// `Transfer-Encoding: chunked`, one flushed chunk at a time, `gap` between chunks.
    Chunks { chunks: Vec<Vec<u8>>, gap: Duration },
    /// `len` zero bytes, `Content-Length` framed, generated on the fly.
    Zeros(u64),
}

/// A reply for an [`Upstream`](crate::Upstream) handler to return.
///
/// Unless the reply sets `Content-Length` or `Transfer-Encoding` itself (to test broken
/// framing), the framing header is added automatically.
///
/// ```
/// use aivault_testkit::Reply;
/// use std::time::Duration;
/// let _ = Reply::ok("hello");
/// let _ = Reply::status(404).header("content-type", "text/plain").body("nope");
/// let _ = Reply::status(200).chunks(vec!["a", "b"], Duration::from_millis(50));
/// let _ = Reply::redirect(302, "http://elsewhere.invalid/");
/// let _ = Reply::stream_zeros(100 * 1024 * 1024);
/// let _ = Reply::delay(Duration::from_secs(5));
/// let _ = Reply::ok("late").delayed(Duration::from_millis(200));
/// let _ = Reply::close();
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    delay: Option<Duration>,
    hang_up: bool,
}

impl Reply {
    /// `200 OK` with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200).body(body)
    }

    /// `200 OK` with `body` and `content-type: application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::ok(body).header("content-type", "application/json")
    }

    /// The given status with an empty body.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            delay: None,
            hang_up: false,
        }
    }

    /// A redirect (`code` is usually 301, 302, 303, 307 or 308) to `location`, empty body.
    pub fn redirect(code: u16, location: &str) -> Reply {
        Reply::status(code).header("location", location)
    }

    /// `200 OK` with a body of `total_len` zero bytes, `Content-Length` framed and written in
    /// 64 KiB pieces without ever being allocated whole.
    pub fn stream_zeros(total_len: u64) -> Reply {
        Reply {
            body: Body::Zeros(total_len),
            ..Reply::status(200)
        }
    }

    /// `200 OK` with an empty body, sent only after waiting `delay` (for timeout tests).
    /// To delay any other reply, use [`Reply::delayed`].
    pub fn delay(delay: Duration) -> Reply {
        Reply::status(200).delayed(delay)
    }

    /// Close the connection without answering (after the delay, if any).
    pub fn close() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::status(200)
        }
    }

    /// Replaces the body with a fixed, `Content-Length` framed one.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(body.into());
        self
    }

    /// Appends a header (sent in the order added, with the given case).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body with `chunks`, sent with `Transfer-Encoding: chunked`, each chunk
    /// flushed on its own, waiting `gap` between consecutive chunks. Empty chunks are skipped
    /// (an empty chunk would end the body).
    pub fn chunks<C: Into<Vec<u8>>>(mut self, chunks: Vec<C>, gap: Duration) -> Reply {
        self.body = Body::Chunks {
            chunks: chunks.into_iter().map(Into::into).collect(),
            gap,
        };
        self
    }

    /// Waits `delay` before answering (or before hanging up, for [`Reply::close`]).
    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }

    /// The delay before answering, if any.
    pub(crate) fn pending_delay(&self) -> Option<Duration> {
        self.delay
    }

    /// Whether the connection is to be closed without answering.
    pub(crate) fn hangs_up(&self) -> bool {
        self.hang_up
    }

    /// Whether the reply itself asks to close the connection (`Connection: close`).
    pub(crate) fn wants_close(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && has_token(v, "close"))
    }

    /// Serializes the reply onto `w`. `head_only` omits the body (HEAD requests); `close` adds
    /// `Connection: close` unless the reply already has a `Connection` header.
    pub(crate) fn write_to<W: Write>(
        &self,
        w: &mut W,
        head_only: bool,
        close: bool,
    ) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (name, value) in &self.headers {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let user_framed = self.headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        let bodyless_status = self.status < 200 || self.status == 204 || self.status == 304;
        if !user_framed && !bodyless_status {
            let framing = match &self.body {
                Body::Bytes(bytes) => format!("content-length: {}\r\n", bytes.len()),
                Body::Zeros(len) => format!("content-length: {len}\r\n"),
                Body::Chunks { .. } => "transfer-encoding: chunked\r\n".to_string(),
            };
            head.extend_from_slice(framing.as_bytes());
        }
        if close && find_header(&self.headers, "connection").is_none() {
            head.extend_from_slice(b"connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");

        if head_only || bodyless_status {
            w.write_all(&head)?;
            return w.flush();
        }
        match &self.body {
            Body::Bytes(bytes) => {
                head.extend_from_slice(bytes);
                w.write_all(&head)?;
            }
            Body::Zeros(len) => {
                w.write_all(&head)?;
                let zeros = vec![0u8; ZERO_WRITE];
                let mut left = *len;
                while left > 0 {
                    let n = usize::try_from(left).map_or(ZERO_WRITE, |l| l.min(ZERO_WRITE));
                    w.write_all(&zeros[..n])?;
                    left -= n as u64;
                }
            }
            Body::Chunks { chunks, gap } => {
                w.write_all(&head)?;
                w.flush()?;
                let mut first = true;
                for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                    if !first {
                        std::thread::sleep(*gap);
                    }
                    first = false;
                    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                    framed.extend_from_slice(chunk);
                    framed.extend_from_slice(b"\r\n");
                    w.write_all(&framed)?;
                    w.flush()?;
                }
                w.write_all(b"0\r\n\r\n")?;
            }
        }
        w.flush()
    }
}

/// The head of a request, as parsed by [`read_request_head`].
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) version: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) raw: Vec<u8>,
}

impl RequestHead {
    /// Whether the connection may carry another request after this one.
    pub(crate) fn keep_alive(&self) -> bool {
        let connection = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.as_str());
        let mut close = false;
        let mut keep_alive = false;
        for value in connection {
            close |= has_token(value, "close");
            keep_alive |= has_token(value, "keep-alive");
        }
        if close {
            false
        } else if self.version == "HTTP/1.0" {
            keep_alive
        } else {
            true
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) fn expects_continue(&self) -> bool {
        find_header(&self.headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Reads one request head. `Ok(None)` means the peer closed the connection cleanly before
/// sending anything. Malformed input is an [`io::ErrorKind::InvalidData`] error.
pub(crate) fn read_request_head<R: BufRead>(r: &mut R) -> io::Result<Option<RequestHead>> {
    let Some((start, headers, raw)) = read_head(r)? else {
        return Ok(None);
    };
    let parts: Vec<&str> = start.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(invalid(format!("bad request line {start:?}")));
    };
    if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad request line {start:?}")));
    }
    Ok(Some(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        raw,
    }))
}

/// Reads a request body framed as the head says: chunked, by content-length, or absent.
pub(crate) fn read_request_body<R: BufRead>(r: &mut R, head: &RequestHead) -> io::Result<Vec<u8>> {
    match framing(&head.headers)? {
        Some(Framing::Chunked) => Ok(read_chunked(r)?.0),
        Some(Framing::Length(len)) => read_len(r, len),
        None => Ok(Vec::new()),
    }
}

/// A response read off a raw socket by [`read_response`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The header fields as received: original case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when it was sent chunked).
    pub body: Vec<u8>,
    /// The status line and header lines exactly as received, including the empty line.
    pub raw_head: String,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl RawResponse {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, lossily decoded as UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one HTTP/1.x response from `r` (for tests that speak HTTP over a raw socket).
/// `after_head_request` must be true when the request was `HEAD` (no body follows).
/// Bodies without `Content-Length` or chunked framing are read until EOF.
pub fn read_response<R: BufRead>(r: &mut R, after_head_request: bool) -> io::Result<RawResponse> {
    let (start, headers, raw) =
        read_head(r)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    let mut parts = start.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| invalid(format!("bad status line {start:?}")))?;
    let mut trailers = Vec::new();
    let body = if after_head_request || status < 200 || status == 204 || status == 304 {
        Vec::new()
    } else {
        match framing(&headers)? {
            Some(Framing::Chunked) => {
                let (body, t) = read_chunked(r)?;
                trailers = t;
                body
            }
            Some(Framing::Length(len)) => read_len(r, len)?,
            None => {
                let mut body = Vec::new();
                r.read_to_end(&mut body)?;
                body
            }
        }
    };
    Ok(RawResponse {
        status,
        headers,
        body,
        raw_head: String::from_utf8_lossy(&raw).into_owned(),
        trailers,
    })
}

/// The value of the first header named `name` (case-insensitive).
fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one line (up to and including `\n`, at most `limit` bytes) and appends it to `raw`.
/// Returns the line without its `\r\n`/`\n`, or `None` at EOF before any byte.
fn read_line<R: BufRead>(r: &mut R, limit: u64, raw: &mut Vec<u8>) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    r.take(limit).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if (line.len() as u64) < limit {
            io::Error::from(io::ErrorKind::UnexpectedEof)
        } else {
            invalid("line too long".to_string())
        });
    }
    raw.extend_from_slice(&line);
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a start line and header fields up to the empty line. Empty lines before the start
/// line are skipped (and not part of the raw head). `Ok(None)` at EOF before any byte.
#[allow(clippy::type_complexity)]
fn read_head<R: BufRead>(
    r: &mut R,
) -> io::Result<Option<(String, Vec<(String, String)>, Vec<u8>)>> {
    let mut raw = Vec::new();
    let start = loop {
        match read_line(r, MAX_HEAD, &mut raw)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => raw.clear(),
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let remaining = MAX_HEAD.saturating_sub(raw.len() as u64);
        if remaining == 0 {
            return Err(invalid("head too large".to_string()));
        }
        let line = read_line(r, remaining, &mut raw)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if line.is_empty() {
            break;
        }
        headers.push(parse_field(&line)?);
    }
    Ok(Some((start, headers, raw)))
}

/// Parses `Name: value` (value trimmed of spaces and tabs).
fn parse_field(line: &str) -> io::Result<(String, String)> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
    if name.is_empty() || name.contains([' ', '\t']) {
        return Err(invalid(format!("bad header name {name:?}")));
    }
    Ok((
        name.to_string(),
        value.trim_matches([' ', '\t']).to_string(),
    ))
}

/// How a message body is delimited.
enum Framing {
    Chunked,
    Length(u64),
}

/// The body framing declared by `headers`; `None` if neither header is present.
fn framing(headers: &[(String, String)]) -> io::Result<Option<Framing>> {
    let codings: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(last) = codings.last() {
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Some(Framing::Chunked))
        } else {
            Err(invalid(format!(
                "unsupported transfer-encoding {codings:?}"
            )))
        };
    }
    let mut length = None;
    for (_, value) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for part in value.split(',') {
            let len: u64 = part
                .trim()
                .parse()
                .map_err(|_| invalid(format!("bad content-length {value:?}")))?;
            if length.is_some_and(|l| l != len) {
                return Err(invalid("conflicting content-length".to_string()));
            }
            length = Some(len);
        }
    }
    Ok(length.map(Framing::Length))
}

/// Reads exactly `len` bytes.
fn read_len<R: BufRead>(r: &mut R, len: u64) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body)?;
    if (body.len() as u64) < len {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(body)
}

/// Reads a chunked body; returns the decoded data and the trailer fields.
#[allow(clippy::type_complexity)]
fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<(Vec<u8>, Vec<(String, String)>)> {
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    loop {
        let line = read_line(r, MAX_LINE, &mut scratch)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            break;
        }
        body.extend_from_slice(&read_len(r, size)?);
        let end = read_line(r, MAX_LINE, &mut scratch)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if !end.is_empty() {
            return Err(invalid("chunk not followed by CRLF".to_string()));
        }
    }
    let mut trailers = Vec::new();
    loop {
        let line = read_line(r, MAX_LINE, &mut scratch)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if line.is_empty() {
            return Ok((body, trailers));
        }
        trailers.push(parse_field(&line)?);
    }
}

/// The standard reason phrase for common status codes.
fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn request(bytes: &[u8]) -> (RequestHead, Vec<u8>) {
        let mut r = Cursor::new(bytes.to_vec());
        let head = read_request_head(&mut r).unwrap().unwrap();
        let body = read_request_body(&mut r, &head).unwrap();
        (head, body)
    }

    #[test]
    fn parses_head_byte_exact() {
        let raw = b"GET /v1/x?a=1 HTTP/1.1\r\nHost: example\r\nX-Mixed-Case:  v  \r\nx-mixed-case: w\r\n\r\n";
        let (head, body) = request(raw);
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/v1/x?a=1");
        assert_eq!(
            head.headers,
            vec![
                ("Host".to_string(), "example".to_string()),
                ("X-Mixed-Case".to_string(), "v".to_string()),
                ("x-mixed-case".to_string(), "w".to_string()),
            ]
        );
        assert_eq!(head.raw, raw.to_vec());
        assert!(body.is_empty());
        assert!(head.keep_alive());
    }

    #[test]
    fn content_length_and_chunked_bodies() {
        let (_, body) = request(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
        assert_eq!(body, b"hello");
        let (_, body) = request(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        );
        assert_eq!(body, b"hello world");
    }

    #[test]
    fn rejects_malformed() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ] {
            let mut r = Cursor::new(raw.to_vec());
            let err = read_request_head(&mut r)
                .and_then(|h| read_request_body(&mut r, &h.unwrap()))
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{raw:?}");
        }
    }

    #[test]
    fn clean_eof_is_none() {
        assert!(
            read_request_head(&mut Cursor::new(Vec::new()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn connection_semantics() {
        let (head, _) = request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!head.keep_alive());
        let (head, _) = request(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!head.keep_alive());
        let (head, _) = request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(head.keep_alive());
    }

    #[test]
    fn serializes_and_reads_back() {
        let mut out = Vec::new();
        Reply::ok("hi")
            .header("X-A", "1")
            .write_to(&mut out, false, true)
            .unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"
        );

        let mut out = Vec::new();
        Reply::status(201)
            .chunks(vec!["ab", "", "cde"], Duration::ZERO)
            .write_to(&mut out, false, false)
            .unwrap();
        let resp = read_response(&mut Cursor::new(out), false).unwrap();
        assert_eq!(resp.status, 201);
        assert_eq!(resp.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(resp.body, b"abcde");

        let mut out = Vec::new();
        Reply::stream_zeros(200_000)
            .write_to(&mut out, false, false)
            .unwrap();
        let resp = read_response(&mut Cursor::new(out), false).unwrap();
        assert_eq!(resp.body.len(), 200_000);
        assert!(resp.body.iter().all(|&b| b == 0));

        let mut out = Vec::new();
        Reply::ok("body").write_to(&mut out, true, false).unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n");
    }
}
