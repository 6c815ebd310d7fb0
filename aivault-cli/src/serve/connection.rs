//! One caller's connection: who is calling (`SO_PEERCRED`), the head, the token, the body
//! (bytes, capped), then the call through the same renderer as the CLI, framed back.

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aivault_core::remote::frame::{self, Kind};
use aivault_core::remote::wire::{
    Call, ProxyInfo, RequestHead, ResponseHead, Trailer, VERSION, WireError,
};
use aivault_core::{Error, ErrorKind, Invocation, Planned, Result};

use super::Shared;
use crate::commands::invoke::{Sink, execute};

/// How long a caller may stay silent while sending its request.
const IDLE: Duration = Duration::from_secs(10);
/// How long the server waits for a caller to take its output.
const WRITE_WAIT: Duration = Duration::from_secs(60);

/// Serves one call and closes the connection. Never panics the server: every failure becomes
/// the trailer's error (or, when the caller is gone, nothing).
pub fn handle(stream: UnixStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(WRITE_WAIT));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut sink = FrameSink {
        w: BufWriter::with_capacity(frame::MAX_CHUNK + 5, write_half),
        began: false,
        planned: None,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(&stream, shared, &mut sink)
    }))
    .unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Internal,
            "the call failed unexpectedly",
        ))
    });
    let trailer = Trailer {
        error: result.err().map(|e| WireError::from(&e)),
    };
    if let Ok(bytes) = serde_json::to_vec(&trailer) {
        let _ = frame::write(&mut sink.w, Kind::Trailer, &bytes);
        let _ = sink.w.flush();
    }
}

fn serve(stream: &UnixStream, shared: &Shared, sink: &mut FrameSink) -> Result<()> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot identify the caller: {e}")))?;
    let (uid, pid) = (peer.uid.as_raw(), peer.pid.as_raw_nonzero().get());
    if !shared.allow_uids.is_empty() && !shared.allow_uids.contains(&uid) {
        let why = format!("uid {uid} is not allowed to connect");
        shared.vault.record_refusal(&why, None, None)?;
        return Err(Error::new(ErrorKind::Unauthorized, why));
    }
    let _slot = UidSlot::take(shared, uid)?;
    if shared.active.load(Ordering::SeqCst) > shared.max_connections {
        return Err(Error::new(
            ErrorKind::RateLimited,
            format!(
                "aivault serve is at its limit of {} connections; retry shortly",
                shared.max_connections
            ),
        ));
    }
    let mut reader = BufReader::with_capacity(frame::MAX_CHUNK + 5, stream);
    let head: RequestHead = match frame::read(&mut reader)? {
        (Kind::Head, bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("protocol: bad request head: {e}"),
            )
        })?,
        (kind, _) => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("protocol: expected the request head, got a {kind:?} frame"),
            ));
        }
    };
    if head.version != VERSION {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "protocol version {} is not supported (this server speaks {VERSION})",
                head.version
            ),
        ));
    }
    // The token and what it grants are checked before a byte of body is read.
    let grant = shared.vault.authenticate(&head.token)?;
    let call = match head.call {
        Call::Invoke(call) => *call,
        Call::ListCapabilities => {
            read_body(&mut reader, 0)?;
            return answer_json(sink, &shared.vault.list_capabilities_granted(&grant)?);
        }
        Call::DescribeCapability { id } => {
            read_body(&mut reader, 0)?;
            return answer_json(
                sink,
                &shared.vault.describe_capability_granted(&grant, &id)?,
            );
        }
        Call::Route { host, method, path } => {
            read_body(&mut reader, 0)?;
            let route = shared
                .vault
                .route_allowed(&host, &method, &path, &|id| grant.allows(id))?;
            return answer_json(sink, &route);
        }
        Call::ProxyInfo => {
            read_body(&mut reader, 0)?;
            let info = ProxyInfo {
                address: shared.proxy_address.get().map(|a| a.to_string()),
                ca_certificate_pem: shared.vault.proxy_ca()?.certificate_pem(),
            };
            return answer_json(sink, &info);
        }
    };
    let probe = Invocation {
        capability: call.capability.clone(),
        workspace_id: call.workspace_id.clone(),
        group_id: call.group_id.clone(),
        consumer: call.consumer.clone(),
        ..Invocation::default()
    };
    shared.vault.authorize(&grant, probe)?;
    let limit = shared.body_limit(&call.capability)?;
    let body = read_body(&mut reader, limit)?;
    let render = call.render;
    let mut invocation = shared
        .vault
        .authorize(&grant, call.into_invocation(body)?)?;
    invocation.caller = Some(format!("token:{},uid:{uid},pid:{pid}", grant.name));
    execute(&shared.vault, &invocation, render, sink).map(|_| ())
}

/// A JSON answer (list, describe): status 0, the JSON as output.
fn answer_json(sink: &mut FrameSink, value: &impl serde::Serialize) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("encode the answer: {e}")))?;
    sink.begin(0, &[])?;
    sink.output(&bytes)?;
    Ok(())
}

/// One of a peer uid's connection slots, released on drop.
struct UidSlot<'s> {
    shared: &'s Shared,
    uid: u32,
}

impl<'s> UidSlot<'s> {
    fn take(shared: &'s Shared, uid: u32) -> Result<UidSlot<'s>> {
        let mut open = shared
            .per_uid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(uid).or_insert(0);
        if *count >= shared.max_per_uid {
            return Err(Error::new(
                ErrorKind::RateLimited,
                format!(
                    "uid {uid} already holds {} connections to aivault serve; retry when one ends",
                    shared.max_per_uid
                ),
            ));
        }
        *count += 1;
        Ok(UidSlot { shared, uid })
    }
}

impl Drop for UidSlot<'_> {
    fn drop(&mut self) {
        let mut open = self
            .shared
            .per_uid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.uid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

/// The request body: body frames up to `End`, at most `limit` bytes in all.
fn read_body(reader: &mut impl std::io::Read, limit: u64) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match frame::read(reader)? {
            (Kind::Body, chunk) => {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(Error::new(
                        ErrorKind::PolicyViolation,
                        format!(
                            "the request body exceeds this capability's limit of {limit} bytes"
                        ),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            (Kind::End, _) => return Ok(body),
            (kind, _) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("protocol: unexpected {kind:?} frame in the request body"),
                ));
            }
        }
    }
}

/// Output as frames: the response head once, then body frames.
struct FrameSink {
    w: BufWriter<UnixStream>,
    began: bool,
    planned: Option<Planned>,
}

impl Sink for FrameSink {
    fn planned(&mut self, planned: &Planned) {
        self.planned = Some(planned.clone());
    }

    fn begin(&mut self, status: u16, headers: &[(String, String)]) -> Result<()> {
        let head = serde_json::to_vec(&ResponseHead {
            status,
            headers: headers.to_vec(),
            planned: self.planned.take(),
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("encode the response head: {e}"),
            )
        })?;
        self.began = true;
        frame::write(&mut self.w, Kind::Head, &head)
            .map_err(|e| Error::new(ErrorKind::Io, format!("the caller went away: {e}")))
    }

    fn output(&mut self, bytes: &[u8]) -> Result<bool> {
        let written = frame::write_body(&mut self.w, bytes).and_then(|()| self.w.flush());
        match written {
            Ok(()) => Ok(true),
            // The caller went away: not an error of the call (recorded as incomplete).
            Err(_) => Ok(false),
        }
    }
}
