//! The little HTTP/1.1 the gateway speaks: one request per connection (answers carry
//! `Connection: close`), heads capped, bodies by `Content-Length` or chunked and capped,
//! anything ambiguous refused (both framings, repeated lengths, folded headers).

use std::io::{BufRead, Read, Write};

use aivault_core::{Error, ErrorKind, Result};

/// The largest request head.
pub const MAX_HEAD: usize = 64 * 1024;

/// A request head.
// No `Debug`: the headers hold the caller's token.
pub struct Head {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// Whether the caller may send another request on this connection (HTTP/1.1 without
    /// `Connection: close`).
    pub keep_alive: bool,
}

impl Head {
    /// The value of header `name` (case-insensitive) when it occurs exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v.as_str()),
            _ => None,
        }
    }
}

fn bad(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("HTTP: {}", why.into()))
}

/// Whether the caller closed the connection (or stayed silent past the idle time) before
/// sending another request: the end of a keep-alive connection, not an error.
pub fn closed(r: &mut impl BufRead) -> bool {
    r.fill_buf().map_or(true, |buf| buf.is_empty())
}

/// Reads a request head (at most [`MAX_HEAD`] bytes) whose target is a path (origin form).
pub fn read_head(r: &mut impl BufRead) -> Result<Head> {
    let head = read_any_head(r)?;
    if !head.target.starts_with('/') {
        return Err(bad("malformed request line"));
    }
    Ok(head)
}

/// Reads a request head whose target may also be a proxy's: an absolute URL or, for
/// `CONNECT`, `host:port` (the caller checks which).
pub fn read_any_head(r: &mut impl BufRead) -> Result<Head> {
    let mut total = 0usize;
    let mut line = |r: &mut dyn BufRead| -> Result<String> {
        let mut buf = Vec::new();
        let n = r
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::new(ErrorKind::Io, format!("HTTP: reading the request: {e}")))?;
        total += n;
        if total > MAX_HEAD {
            return Err(bad("the request head is too large"));
        }
        if n == 0 || !buf.ends_with(b"\n") {
            return Err(bad("the request ended early"));
        }
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
        String::from_utf8(buf).map_err(|_| bad("the request head is not UTF-8"))
    };
    let request_line = line(r)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0")
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || target.is_empty()
        || !target.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad("malformed request line"));
    }
    let mut headers = Vec::new();
    loop {
        let l = line(r)?;
        if l.is_empty() {
            break;
        }
        if l.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not accepted"));
        }
        let (name, value) = l
            .split_once(':')
            .ok_or_else(|| bad("a header without ':'"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(bad("an invalid header name"));
        }
        if headers.len() >= 200 {
            return Err(bad("too many headers"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let close = headers.iter().any(|(n, v): &(String, String)| {
        n.eq_ignore_ascii_case("connection")
            && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    });
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        keep_alive: version == "HTTP/1.1" && !close,
    })
}

/// Whether `head` announces a body (any `Content-Length` or `Transfer-Encoding`; a request
/// with neither has none).
pub fn announces_body(head: &Head) -> bool {
    head.headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    })
}

/// Reads the body `head` announces, refusing more than `limit` bytes (`policy_violation`).
pub fn read_body(r: &mut impl BufRead, head: &Head, limit: u64) -> Result<Vec<u8>> {
    let count = |name: &str| {
        head.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    let too_big = || {
        Error::new(
            ErrorKind::PolicyViolation,
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    };
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("HTTP: reading the body: {e}"));
    match (count("transfer-encoding"), count("content-length")) {
        (0, 0) => Ok(Vec::new()),
        (0, 1) => {
            let text = head.header("content-length").unwrap_or_default();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("an invalid Content-Length"));
            }
            let len: u64 = text.parse().map_err(|_| bad("an invalid Content-Length"))?;
            if len > limit {
                return Err(too_big());
            }
            let mut body = vec![0u8; len as usize];
            r.read_exact(&mut body).map_err(io)?;
            Ok(body)
        }
        (1, 0)
            if head
                .header("transfer-encoding")
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked")) =>
        {
            let mut body = Vec::new();
            loop {
                let mut size_line = String::new();
                r.by_ref()
                    .take(1024)
                    .read_line(&mut size_line)
                    .map_err(io)?;
                let size_text = size_line.trim_end().split(';').next().unwrap_or_default();
                let size =
                    u64::from_str_radix(size_text, 16).map_err(|_| bad("an invalid chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        let mut trailer = String::new();
                        r.by_ref().take(8192).read_line(&mut trailer).map_err(io)?;
                        if trailer.trim_end().is_empty() {
                            return Ok(body);
                        }
                    }
                }
                if body.len() as u64 + size > limit {
                    return Err(too_big());
                }
                let start = body.len();
                body.resize(start + size as usize, 0);
                r.read_exact(&mut body[start..]).map_err(io)?;
                let mut crlf = [0u8; 2];
                r.read_exact(&mut crlf).map_err(io)?;
                if &crlf != b"\r\n" {
                    return Err(bad("a chunk without its CRLF"));
                }
            }
        }
        _ => Err(bad(
            "ambiguous body framing (Transfer-Encoding with Content-Length, repeats, or an encoding other than chunked)",
        )),
    }
}

/// The reason phrase of the statuses the gateway itself writes.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: a body of this many bytes follows.
    Length(usize),
    /// `Transfer-Encoding: chunked` (a stream, length unknown).
    Chunked,
    /// Neither: the answer has no body by definition (to `HEAD`, or `1xx`, `204`, `304`), so
    /// a kept-alive connection's next answer is not read as this one's body.
    Bodiless,
}

/// The status line, `headers`, the body's framing and `Connection`.
pub fn write_head(
    w: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    framing: Framing,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match framing {
        Framing::Length(len) => head.push_str(&format!("Content-Length: {len}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::Bodiless => {}
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    w.write_all(head.as_bytes())
}

/// Whether the answer to `method` with `status` has no body (RFC 9110 §6.4.1).
pub fn bodiless(method: &str, status: u16) -> bool {
    method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || matches!(status, 204 | 304)
}

/// One chunk of a chunked body (an empty `bytes` is skipped: it would end the body), not
/// flushed: the caller decides when it goes out.
pub fn write_chunk(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    write!(w, "{:x}\r\n", bytes.len())?;
    w.write_all(bytes)?;
    w.write_all(b"\r\n")
}

/// The end of a chunked body.
pub fn end_chunks(w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<(Head, Vec<u8>)> {
        let mut r = std::io::BufReader::new(raw);
        let head = read_head(&mut r)?;
        let body = read_body(&mut r, &head, 100)?;
        Ok((head, body))
    }

    #[test]
    fn requests_parse_and_ambiguity_is_refused() {
        let (head, body) =
            parse(b"POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
                .expect("ok");
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("POST", "/v1/x?a=1")
        );
        assert_eq!(body, b"abc");
        let (_, body) = parse(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(body, b"abcde");
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
            b"POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            b"POST / HTTP/1.1\r\nBad Name: a\r\n\r\n",
            b"POST http://evil/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET /",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(parse(huge.as_bytes()).is_err());
    }
}
