//! The caller's side: send one call to `aivault serve` and read its answer. The client never
//! opens the vault; it needs only the socket and a token.

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::broker::Invocation;
use crate::catalog::{CapabilityDescription, CapabilityListing};
use crate::error::{Error, ErrorKind, Result};
use crate::remote::frame::{self, Kind};
use crate::remote::wire::{
    Call, Render, RequestHead, ResponseHead, Trailer, VERSION, WireInvocation,
};
use crate::route::Route;

/// A call in progress: the upstream status and headers, then the rendered output chunk by
/// chunk.
#[derive(Debug)]
pub struct RemoteResponse {
    reader: BufReader<UnixStream>,
    status: u16,
    headers: Vec<(String, String)>,
    done: bool,
}

impl RemoteResponse {
    /// The upstream HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The upstream's headers as the broker relays them (sanitized, redacted).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The next chunk of output; `None` once the server ended the call successfully.
    ///
    /// # Errors
    /// The error that ended the call (its kind as the server reported it), or `io` when the
    /// connection closed before the trailer: partial output is never passed off as complete.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        match frame::read(&mut self.reader)? {
            (Kind::Body, bytes) => Ok(Some(bytes)),
            (Kind::Trailer, bytes) => {
                self.done = true;
                trailer(&bytes).map(|()| None)
            }
            (kind, _) => Err(protocol(&format!(
                "unexpected {kind:?} frame in the output"
            ))),
        }
    }
}

fn protocol(why: &str) -> Error {
    Error::new(ErrorKind::Io, format!("aivault serve: protocol: {why}"))
}

fn trailer(bytes: &[u8]) -> Result<()> {
    let trailer: Trailer =
        serde_json::from_slice(bytes).map_err(|e| protocol(&format!("bad trailer: {e}")))?;
    match trailer.error {
        Some(error) => Err(Error::from(error)),
        None => Ok(()),
    }
}

/// Sends `invocation` (whose body must already hold bytes, never a path) to the server at
/// `socket` with `token`, and waits for the start of the answer.
///
/// # Errors
/// `io` when the server cannot be reached or breaks the protocol; otherwise the error the
/// server refused the call with (`unauthorized`, `policy_violation`, ...).
pub fn call(
    socket: &Path,
    token: &str,
    invocation: &Invocation,
    render: Render,
) -> Result<RemoteResponse> {
    let (call, body) = WireInvocation::from_invocation(invocation, render)?;
    request(socket, token, Call::Invoke(Box::new(call)), &body)
}

/// The token's capabilities, as `capability list` shows them.
///
/// # Errors
/// As [`call`].
pub fn list_capabilities(socket: &Path, token: &str) -> Result<CapabilityListing> {
    let response = request(socket, token, Call::ListCapabilities, &[])?;
    json_answer(response)
}

/// How to call capability `id` (one the token names).
///
/// # Errors
/// As [`call`]; `unauthorized` for a capability the token does not name.
pub fn describe_capability(socket: &Path, token: &str, id: &str) -> Result<CapabilityDescription> {
    let response = request(
        socket,
        token,
        Call::DescribeCapability { id: id.to_string() },
        &[],
    )?;
    json_answer(response)
}

/// Which of the token's capabilities a plain HTTP request goes through (for SDK transports).
///
/// # Errors
/// As [`call`]; `capability_not_found` when none of the token's capabilities allows it.
pub fn route(socket: &Path, token: &str, host: &str, method: &str, path: &str) -> Result<Route> {
    let call = Call::Route {
        host: host.to_string(),
        method: method.to_string(),
        path: path.to_string(),
    };
    json_answer(request(socket, token, call, &[])?)
}

fn json_answer<T: serde::de::DeserializeOwned>(mut response: RemoteResponse) -> Result<T> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.next_chunk()? {
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| protocol(&format!("bad answer: {e}")))
}

/// Sends one call with `body` and waits for the start of the answer.
fn request(socket: &Path, token: &str, call: Call, body: &[u8]) -> Result<RemoteResponse> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot reach aivault serve at {}: {e}", socket.display()),
        )
    })?;
    let head = serde_json::to_vec(&RequestHead {
        version: VERSION,
        token: token.to_string(),
        call,
    })
    .map_err(|e| Error::internal(format!("encode the request: {e}")))?;
    if head.len() > frame::MAX_HEAD {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the request's head (headers, path) is {} bytes; the limit is {}",
                head.len(),
                frame::MAX_HEAD
            ),
        ));
    }
    let sent = (|| {
        let mut w = BufWriter::with_capacity(frame::MAX_CHUNK + 5, &stream);
        frame::write(&mut w, Kind::Head, &head)?;
        frame::write_body(&mut w, body)?;
        frame::write(&mut w, Kind::End, &[])?;
        w.flush()
    })();
    let mut reader = BufReader::with_capacity(frame::MAX_CHUNK + 5, stream);
    // A server that refuses early may close before reading everything: its trailer says why.
    let first = frame::read(&mut reader);
    let first = match (sent, first) {
        (_, Ok(first)) => first,
        (Err(e), Err(_)) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!("aivault serve: sending the request failed: {e}"),
            ));
        }
        (Ok(()), Err(e)) => return Err(e),
    };
    match first {
        (Kind::Head, bytes) => {
            let head: ResponseHead = serde_json::from_slice(&bytes)
                .map_err(|e| protocol(&format!("bad response head: {e}")))?;
            Ok(RemoteResponse {
                reader,
                status: head.status,
                headers: head.headers,
                done: false,
            })
        }
        (Kind::Trailer, bytes) => {
            trailer(&bytes)?;
            Err(protocol("the server ended the call without an answer"))
        }
        (kind, _) => Err(protocol(&format!("unexpected {kind:?} frame"))),
    }
}
