//! The HTTP gateway (`aivault serve --http 127.0.0.1:PORT`, loopback only), for SDKs that
//! cannot take a custom transport but take a base URL and an API key: the caller's token is
//! its API key (`Authorization: Bearer`, `x-api-key` or `api-key`).
//!
//! - `POST /v1/invoke`: the envelope form of `--request` (`{"capability", "credential"?,
//!   "request": {...}}`); the answer is what `aivault json` prints.
//! - `/<provider>/<upstream path>`: among the token's capabilities, the one of that provider
//!   whose methods and paths allow the request (`OPENAI_BASE_URL=http://127.0.0.1:PORT/openai/v1`);
//!   the caller's own credentials are dropped, the vault's injected, the answer relayed as it
//!   arrives (SSE included), redacted.
//!
//! A bad token is `401`, a request outside the token `403`, each with the error JSON
//! `{"error": {"kind", "message"}}`.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aivault_core::remote::wire::Render;
use aivault_core::{Error, ErrorKind, FileReferences, Invocation, RequestBody, Result, TokenGrant};

use super::Shared;
use super::http::{self, Head};
use crate::commands::invoke::{Collect, execute};

/// How long a caller may stay silent while sending its request.
const IDLE: Duration = Duration::from_secs(10);

/// Request headers never forwarded: the caller's credentials, and what belongs to this hop.
const DROPPED: &[&str] = &[
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
    "te",
    "trailer",
    "upgrade",
    "expect",
    "accept-encoding",
];

/// Accepts connections until `stopping` is set.
pub fn serve(listener: TcpListener, shared: Arc<Shared>, stopping: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.active.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("aivault-http".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    handle(stream, &shared);
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                }
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Where an error happened, which decides its HTTP status.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Authenticating the token: `unauthorized` is 401.
    Token,
    /// Anything after: `unauthorized` (outside the token) is 403.
    Call,
}

fn status_of(error: &Error, phase: Phase) -> u16 {
    match error.kind() {
        ErrorKind::Unauthorized if phase == Phase::Token => 401,
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

fn handle(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = Answer {
        w: BufWriter::with_capacity(64 * 1024, stream),
        began: false,
        keep_alive: false,
    };
    // Requests one after another while the caller keeps the connection (SDKs reuse theirs);
    // any error ends it.
    while !http::closed(&mut reader) {
        out.began = false;
        out.keep_alive = false;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            call(&mut reader, &mut out, shared)
        }))
        .unwrap_or_else(|_| {
            Err((
                Error::new(ErrorKind::Internal, "the call failed unexpectedly"),
                Phase::Call,
            ))
        });
        match result {
            Ok(()) if out.keep_alive => continue,
            Ok(()) => return,
            Err((error, phase)) => {
                if !out.began {
                    let body = serde_json::json!({"error": {"kind": error.kind().as_str(), "message": error.message()}});
                    let body = body.to_string();
                    let headers = [("Content-Type".to_string(), "application/json".to_string())];
                    let _ = http::write_head(
                        &mut out.w,
                        status_of(&error, phase),
                        &headers,
                        Some(body.len()),
                        false,
                    )
                    .and_then(|()| out.w.write_all(body.as_bytes()))
                    .and_then(|()| out.w.flush());
                }
                // An error after the answer began cuts the connection before the final
                // chunk: the caller sees a truncated answer, never a complete-looking one.
                return;
            }
        }
    }
}

type Failure = (Error, Phase);

fn call(
    reader: &mut BufReader<TcpStream>,
    out: &mut Answer,
    shared: &Shared,
) -> Result<(), Failure> {
    let at = |phase| move |e: Error| (e, phase);
    let head = http::read_head(reader).map_err(at(Phase::Call))?;
    out.keep_alive = head.keep_alive;
    let grant = shared
        .vault
        .authenticate(token_of(&head))
        .map_err(at(Phase::Token))?;
    let path = head.target.split('?').next().unwrap_or_default();
    if path == "/v1/invoke" {
        return envelope(reader, out, shared, &head, &grant).map_err(at(Phase::Call));
    }
    provider_route(reader, out, shared, &head, &grant).map_err(at(Phase::Call))
}

/// The token: `Authorization: Bearer T`, else `x-api-key: T`, else `api-key: T`.
fn token_of(head: &Head) -> &str {
    if let Some(value) = head.header("authorization") {
        let mut parts = value.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next())
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return token.trim();
        }
        return "";
    }
    head.header("x-api-key")
        .or_else(|| head.header("api-key"))
        .unwrap_or_default()
}

/// `POST /v1/invoke` with the envelope: answers what `aivault json` prints.
fn envelope(
    reader: &mut BufReader<TcpStream>,
    out: &mut Answer,
    shared: &Shared,
    head: &Head,
    grant: &TokenGrant,
) -> Result<()> {
    if head.method != "POST" {
        return Err(Error::new(ErrorKind::InvalidInput, "/v1/invoke takes POST"));
    }
    let body = http::read_body(reader, head, shared.max_body_bytes)?;
    let text = String::from_utf8(body)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "the envelope is not UTF-8"))?;
    let capability = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("capability")
                .and_then(|c| c.as_str())
                .map(String::from)
        })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "the envelope needs {\"capability\": ..., \"request\": {...}}",
            )
        })?;
    let mut invocation = Invocation {
        capability,
        ..Invocation::default()
    };
    // Files are never read on a caller's say-so here: the caller is on the other side.
    invocation.merge_request_json(&text, FileReferences::Refuse)?;
    let mut invocation = shared.vault.authorize(grant, invocation)?;
    invocation.caller = Some(format!("token:{},http", grant.name));
    let mut collected = Collect::default();
    execute(&shared.vault, &invocation, Render::Json, &mut collected)?;
    let headers = [("Content-Type".to_string(), "application/json".to_string())];
    out.began = true;
    let written = http::write_head(
        &mut out.w,
        200,
        &headers,
        Some(collected.0.len()),
        out.keep_alive,
    )
    .and_then(|()| out.w.write_all(&collected.0))
    .and_then(|()| out.w.flush());
    written.map_err(|e| Error::new(ErrorKind::Io, format!("the caller went away: {e}")))
}

/// `/<provider>/<upstream path>`: the token's capability of that provider that allows it.
fn provider_route(
    reader: &mut BufReader<TcpStream>,
    out: &mut Answer,
    shared: &Shared,
    head: &Head,
    grant: &TokenGrant,
) -> Result<()> {
    let rest = &head.target[1..];
    let (provider, upstream) = match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], &rest[at..]),
        _ => (rest, "/"),
    };
    let valid = !provider.is_empty()
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !valid {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "use /<provider>/<upstream path> (or POST /v1/invoke)",
        ));
    }
    let route = shared
        .vault
        .route_provider(provider, &head.method, upstream, &|id| grant.allows(id))
        .map_err(|e| match e.kind() {
            ErrorKind::CapabilityNotFound => Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "no capability of token '{}' allows {} /{provider}{}",
                    grant.name,
                    head.method,
                    upstream.split('?').next().unwrap_or_default()
                ),
            ),
            _ => e,
        })?;
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .filter(|(n, _)| !DROPPED.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    let limit = shared.body_limit(&route.capability)?;
    let body = http::read_body(reader, head, limit)?;
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
    invocation.caller = Some(format!("token:{},http", grant.name));
    let mut response = shared.vault.invoke_stream(&invocation)?;
    out.began = true;
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("the caller went away: {e}"));
    http::write_head(
        &mut out.w,
        response.status(),
        response.headers(),
        None,
        out.keep_alive,
    )
    .map_err(io)?;
    out.w.flush().map_err(io)?;
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
        http::write_chunk(&mut out.w, &buf[..n]).map_err(io)?;
    }
    http::end_chunks(&mut out.w).map_err(io)
}

/// The answer being written: whether its head is out (after which errors cut the
/// connection), and whether the connection stays open for another request.
struct Answer {
    w: BufWriter<TcpStream>,
    began: bool,
    keep_alive: bool,
}
