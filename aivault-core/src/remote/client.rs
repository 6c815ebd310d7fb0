//! The caller's side: send one call to `aivault serve` and read its answer. The client never
//! opens the vault; it needs only the socket and a token ([`Remote`] holds the two, for the
//! bindings' remote form).

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::broker::{Invocation, InvokeResponse, Planned};
use crate::catalog::{CapabilityDescription, CapabilityListing};
use crate::error::{Error, ErrorKind, Result};
use crate::remote::frame::{self, Kind};
use crate::remote::wire::{
    Call, ProxyInfo, Render, RequestHead, ResponseHead, Trailer, VERSION, WireInvocation,
};
use crate::route::Route;

/// A call in progress: the upstream status and headers, then the rendered output chunk by
/// chunk.
#[derive(Debug)]
pub struct RemoteResponse {
    reader: BufReader<UnixStream>,
    status: u16,
    headers: Vec<(String, String)>,
    planned: Option<Planned>,
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

    /// The request the broker made (no secret in it); `None` from a server that does not
    /// send it.
    pub fn planned(&self) -> Option<&Planned> {
        self.planned.as_ref()
    }

    /// The rest of the output, whole.
    ///
    /// # Errors
    /// As [`RemoteResponse::next_chunk`].
    pub fn read_to_end(&mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk()? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
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

/// Where the server's HTTPS proxy listens (`None` without `--proxy`) and its CA certificate.
///
/// # Errors
/// As [`call`].
pub fn proxy_info(socket: &Path, token: &str) -> Result<ProxyInfo> {
    json_answer(request(socket, token, Call::ProxyInfo, &[])?)
}

/// Invokes a capability and returns the whole response, as [`crate::Vault::invoke`] does
/// (status, sanitized headers, redacted body, the planned request).
///
/// # Errors
/// As [`call`].
pub fn invoke(socket: &Path, token: &str, invocation: &Invocation) -> Result<InvokeResponse> {
    let mut response = call(socket, token, invocation, Render::Body)?;
    let body = response.read_to_end()?;
    let planned = response
        .planned
        .take()
        .ok_or_else(|| protocol("the answer did not say which request was made"))?;
    Ok(InvokeResponse {
        planned,
        status: response.status,
        headers: std::mem::take(&mut response.headers),
        body,
    })
}

fn json_answer<T: serde::de::DeserializeOwned>(mut response: RemoteResponse) -> Result<T> {
    let bytes = response.read_to_end()?;
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
                planned: head.planned,
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

/// A server and a caller token: what a binding's `connect` returns. Nothing is checked or
/// opened until the first call (each call is one connection).
#[derive(Clone)]
pub struct Remote {
    socket: PathBuf,
    token: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never shown.
        f.debug_struct("Remote")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// The server at `socket` (else `AIVAULT_SOCKET`) with `token` (else `AIVAULT_TOKEN`).
    ///
    /// # Errors
    /// `invalid_input` when no socket is given or set; `unauthorized` when no token is.
    pub fn connect(socket: Option<PathBuf>, token: Option<String>) -> Result<Remote> {
        let socket = socket
            .filter(|s| !s.as_os_str().is_empty())
            .or_else(|| std::env::var_os("AIVAULT_SOCKET").map(PathBuf::from))
            .filter(|s| !s.as_os_str().is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "no socket: pass one or set AIVAULT_SOCKET (the path aivault serve listens on)",
                )
            })?;
        let token = token
            .filter(|t| !t.is_empty())
            .or_else(|| std::env::var("AIVAULT_TOKEN").ok())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    "no caller token: pass one or set AIVAULT_TOKEN (from aivault token create)",
                )
            })?;
        Ok(Remote { socket, token })
    }

    /// The server's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// [`invoke`] with this server and token.
    ///
    /// # Errors
    /// As [`call`].
    pub fn invoke(&self, invocation: &Invocation) -> Result<InvokeResponse> {
        invoke(&self.socket, &self.token, invocation)
    }

    /// [`call`] with this server and token.
    ///
    /// # Errors
    /// As [`call`].
    pub fn call(&self, invocation: &Invocation, render: Render) -> Result<RemoteResponse> {
        call(&self.socket, &self.token, invocation, render)
    }

    /// [`list_capabilities`] with this server and token.
    ///
    /// # Errors
    /// As [`call`].
    pub fn list_capabilities(&self) -> Result<CapabilityListing> {
        list_capabilities(&self.socket, &self.token)
    }

    /// [`describe_capability`] with this server and token.
    ///
    /// # Errors
    /// As [`describe_capability`].
    pub fn describe_capability(&self, id: &str) -> Result<CapabilityDescription> {
        describe_capability(&self.socket, &self.token, id)
    }

    /// [`route`] with this server and token.
    ///
    /// # Errors
    /// As [`route`].
    pub fn route(&self, host: &str, method: &str, path: &str) -> Result<Route> {
        route(&self.socket, &self.token, host, method, path)
    }

    /// [`proxy_info`] with this server and token.
    ///
    /// # Errors
    /// As [`call`].
    pub fn proxy_info(&self) -> Result<ProxyInfo> {
        proxy_info(&self.socket, &self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_needs_a_socket_and_a_token_and_never_shows_the_token() {
        let remote = Remote::connect(Some("/run/s.sock".into()), Some("avt_secret".into()))
            .expect("both given");
        assert_eq!(remote.socket(), Path::new("/run/s.sock"));
        assert!(!format!("{remote:?}").contains("avt_secret"));
        // Empty arguments are missing ones; the environment decides then, so only check the
        // kinds when it is not set.
        if std::env::var_os("AIVAULT_TOKEN").is_none() {
            let err = Remote::connect(Some("/s".into()), Some(String::new())).expect_err("token");
            assert_eq!(err.kind(), ErrorKind::Unauthorized);
        }
        if std::env::var_os("AIVAULT_SOCKET").is_none() {
            let err = Remote::connect(None, Some("avt_x".into())).expect_err("socket");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }
}
