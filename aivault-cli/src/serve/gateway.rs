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

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aivault_core::remote::wire::Render;
use aivault_core::{Error, ErrorKind, FileReferences, Invocation, Result, TokenGrant};

use super::Shared;
use super::exchange::{Conn, Failure, Phase, forward, outside_token, serve_requests};
use super::http::{self, Head};
use crate::commands::invoke::{Collect, execute};

/// How long a caller may stay silent while sending its request.
const IDLE: Duration = Duration::from_secs(10);

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

fn handle(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    serve_requests(&mut conn, |conn| call(conn, shared), &|_| Vec::new());
}

fn call<S: Read + Write>(conn: &mut Conn<S>, shared: &Shared) -> Result<(), Failure> {
    let at = |phase| move |e: Error| (e, phase);
    let head = http::read_head(&mut conn.reader).map_err(at(Phase::Call))?;
    conn.keep_alive = head.keep_alive;
    let grant = shared
        .vault
        .authenticate(token_of(&head))
        .map_err(at(Phase::Token))?;
    let path = head.target.split('?').next().unwrap_or_default();
    if path == "/v1/invoke" {
        return envelope(conn, shared, &head, &grant).map_err(at(Phase::Call));
    }
    provider_route(conn, shared, &head, &grant).map_err(at(Phase::Call))
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
fn envelope<S: Read + Write>(
    conn: &mut Conn<S>,
    shared: &Shared,
    head: &Head,
    grant: &TokenGrant,
) -> Result<()> {
    if head.method != "POST" {
        return Err(Error::new(ErrorKind::InvalidInput, "/v1/invoke takes POST"));
    }
    let body = http::read_body(&mut conn.reader, head, shared.max_body_bytes)?;
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
    conn.began = true;
    let keep_alive = conn.keep_alive;
    let mut w = conn.writer();
    let written = http::write_head(
        &mut w,
        200,
        &headers,
        http::Framing::Length(collected.0.len()),
        keep_alive,
    )
    .and_then(|()| w.write_all(&collected.0))
    .and_then(|()| w.flush());
    written.map_err(|e| Error::new(ErrorKind::Io, format!("the caller went away: {e}")))
}

/// `/<provider>/<upstream path>`: the token's capability of that provider that allows it.
fn provider_route<S: Read + Write>(
    conn: &mut Conn<S>,
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
        .map_err(|e| outside_token(e, grant, &head.method, &format!("/{provider}{upstream}")))?;
    forward(
        conn,
        shared,
        head,
        grant,
        route,
        format!("token:{},http", grant.name),
    )
}
