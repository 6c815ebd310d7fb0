//! HTTP/1.1 exchanges over any byte stream (plain TCP for the gateway and absolute-form proxy
//! requests, a TLS stream inside a proxy `CONNECT`): requests one after another while the
//! caller keeps the connection, each answered or refused with the error JSON
//! `{"error": {"kind", "message"}}`; and the forwarding of one request through the capability
//! that allows it (the caller's credentials dropped, the vault's injected, the answer streamed
//! back chunked, redacted and audited by the broker).

use std::io::{BufReader, BufWriter, Read, Write};

use aivault_core::{Error, ErrorKind, Invocation, RequestBody, Result, Route, TokenGrant};

use super::Shared;
use super::http::{self, Head};

/// Request headers never forwarded: the caller's credentials, and what belongs to this hop.
pub const DROPPED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "accept-encoding",
];

/// Where an error happened, which decides its HTTP status.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Authenticating the token: `unauthorized` is 401.
    Token,
    /// Authenticating a proxy's caller: `unauthorized` is 407.
    ProxyToken,
    /// Anything after: `unauthorized` (outside the token) is 403.
    Call,
}

/// An error and where it happened.
pub type Failure = (Error, Phase);

/// The HTTP status of `error`.
pub fn status_of(error: &Error, phase: Phase) -> u16 {
    match error.kind() {
        ErrorKind::Unauthorized if phase == Phase::Token => 401,
        ErrorKind::Unauthorized if phase == Phase::ProxyToken => 407,
        ErrorKind::Unauthorized | ErrorKind::PolicyViolation => 403,
        ErrorKind::CapabilityNotFound => 403,
        ErrorKind::InvalidInput | ErrorKind::NotFound => 400,
        ErrorKind::CredentialNotFound | ErrorKind::CredentialAmbiguous => 409,
        ErrorKind::RateLimited => 429,
        ErrorKind::UpstreamError => 502,
        ErrorKind::VaultLocked => 503,
        _ => 500,
    }
}

/// A caller's connection: the stream (read through the buffer, written through
/// [`Conn::writer`]), whether the current answer's head is out (after which an error cuts the
/// connection), and whether the connection stays open for another request.
pub struct Conn<S: Read + Write> {
    /// The stream, read through its buffer.
    pub reader: BufReader<S>,
    /// The current answer's head is out.
    pub began: bool,
    /// The caller may send another request after this one.
    pub keep_alive: bool,
}

impl<S: Read + Write> Conn<S> {
    /// A connection over `stream`.
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            began: false,
            keep_alive: false,
        }
    }

    /// A buffered writer to the stream (flush it before it is dropped).
    pub fn writer(&mut self) -> BufWriter<&mut S> {
        BufWriter::with_capacity(64 * 1024, self.reader.get_mut())
    }

    /// Answers with `status` and the error JSON (plus `extra` headers), unless an answer
    /// already began.
    pub fn refuse(&mut self, status: u16, error: &Error, extra: &[(String, String)]) {
        if self.began {
            return;
        }
        let body = serde_json::json!({"error": {"kind": error.kind().as_str(), "message": error.message()}})
            .to_string();
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        headers.extend_from_slice(extra);
        let keep_alive = self.keep_alive;
        let mut w = self.writer();
        let _ = http::write_head(
            &mut w,
            status,
            &headers,
            http::Framing::Length(body.len()),
            keep_alive,
        )
        .and_then(|()| w.write_all(body.as_bytes()))
        .and_then(|()| w.flush());
    }
}

/// Serves requests one after another with `one` while the caller keeps the connection (SDKs
/// and curl reuse theirs). Any error ends the connection, after its refusal (status, error
/// JSON, `extra_on_error` headers) when the answer had not begun. A panicking call ends the
/// connection, never the server.
pub fn serve_requests<S: Read + Write>(
    conn: &mut Conn<S>,
    mut one: impl FnMut(&mut Conn<S>) -> Result<(), Failure>,
    extra_on_error: &dyn Fn(Phase) -> Vec<(String, String)>,
) {
    while !http::closed(&mut conn.reader) {
        conn.began = false;
        conn.keep_alive = false;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one(conn)))
            .unwrap_or_else(|_| {
                Err((
                    Error::new(ErrorKind::Internal, "the call failed unexpectedly"),
                    Phase::Call,
                ))
            });
        match result {
            Ok(()) if conn.keep_alive => continue,
            Ok(()) => return,
            Err((error, phase)) => {
                // An error after the answer began cuts the connection before the final
                // chunk: the caller sees a truncated answer, never a complete-looking one.
                conn.keep_alive = false;
                conn.refuse(status_of(&error, phase), &error, &extra_on_error(phase));
                return;
            }
        }
    }
}

/// A routing failure as the caller sees it: no capability of its token allows `method` on
/// `shown` (a host or `/<provider>`, then the path without its query) is `unauthorized`, a
/// 403; any other error stays as it is.
pub fn outside_token(error: Error, grant: &TokenGrant, method: &str, shown: &str) -> Error {
    if error.kind() != ErrorKind::CapabilityNotFound {
        return error;
    }
    Error::new(
        ErrorKind::Unauthorized,
        format!(
            "no capability of token '{}' allows {method} {}",
            grant.name,
            aivault_core::model::printable(shown.split('?').next().unwrap_or_default())
        ),
    )
}

/// Forwards the request of `head` (its body still to read from `conn`) through `route`, the
/// capability of `grant` that allows it: the caller's credentials (the [`DROPPED`] headers and
/// whatever the capability's auth sets) dropped, the call authorized and made by the broker,
/// the answer streamed back chunked as it arrives. `caller` is what the audit records.
///
/// # Errors
/// As [`aivault_core::Vault::invoke_stream`]; `io` when the caller goes away.
pub fn forward<S: Read + Write>(
    conn: &mut Conn<S>,
    shared: &Shared,
    head: &Head,
    grant: &TokenGrant,
    route: Route,
    caller: String,
) -> Result<()> {
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .filter(|(n, _)| !DROPPED.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    // A request without a body needs no limit (one store read less per call).
    let body = if http::announces_body(head) {
        let limit = shared.body_limit(&route.capability)?;
        http::read_body(&mut conn.reader, head, limit)?
    } else {
        Vec::new()
    };
    let invocation = Invocation {
        capability: route.capability,
        method: Some(head.method.clone()),
        path: Some(route.path),
        headers,
        body: if body.is_empty() {
            RequestBody::Empty
        } else {
            RequestBody::Bytes(body)
        },
        ..Invocation::default()
    };
    let mut invocation = shared.vault.authorize(grant, invocation)?;
    shared.vault.drop_caller_auth(&mut invocation)?;
    invocation.caller = Some(caller);
    let mut response = shared.vault.invoke_stream(&invocation)?;
    conn.began = true;
    let keep_alive = conn.keep_alive;
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("the caller went away: {e}"));
    let mut w = conn.writer();
    if http::bodiless(&head.method, response.status()) {
        // Nothing to relay; whatever the upstream sent after the head is not a body.
        let _ = std::io::copy(&mut response, &mut std::io::sink());
        return http::write_head(
            &mut w,
            response.status(),
            response.headers(),
            http::Framing::Bodiless,
            keep_alive,
        )
        .and_then(|()| w.flush())
        .map_err(io);
    }
    http::write_head(
        &mut w,
        response.status(),
        response.headers(),
        http::Framing::Chunked,
        keep_alive,
    )
    .map_err(io)?;
    // Every piece goes out as soon as it is read, unless the next read cannot wait on the
    // upstream: so a stream (no announced length: SSE, NDJSON) gets its head at once and
    // each piece as it arrives, while an announced body goes out with its head and its end
    // in as few writes as it has pieces (one, for a small answer), each a TLS record and a
    // wake-up of the caller fewer.
    let announced = response.announced_length();
    let all_in = |response: &aivault_core::ResponseStream<'_>| {
        announced.is_some_and(|length| response.upstream_bytes() >= length)
    };
    if announced.is_none() {
        w.flush().map_err(io)?;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match response.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::new(ErrorKind::UpstreamError, format!("{e}"))),
        };
        if n == 0 {
            break;
        }
        http::write_chunk(&mut w, &buf[..n]).map_err(io)?;
        if !all_in(&response) {
            w.flush().map_err(io)?;
        }
    }
    http::end_chunks(&mut w).map_err(io)
}
