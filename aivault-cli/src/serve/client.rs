//! The thin client: `aivault invoke | json | markdown` with `--socket` / `AIVAULT_SOCKET` and
//! `AIVAULT_TOKEN` send the call to `aivault serve` and print what it renders, with the same
//! output, errors and exit codes as the direct CLI. It never opens the vault; files the caller
//! names (`--body-file-path`, `--multipart-file`, `--request-file`) are read here, by the
//! caller, and sent as bytes.

use std::io::{Read, Write};
use std::path::Path;

use aivault_core::remote::client;
use aivault_core::remote::wire::Render;
use aivault_core::{Error, ErrorKind, MultipartPart, RequestBody, Result};

use crate::cli::InvokeArgs;
use crate::commands::invoke::invocation;

/// The most a caller's file may hold (the server then applies the capability's own limit).
const MAX_FILE: u64 = 1 << 30;

/// The caller token from `AIVAULT_TOKEN`.
fn token() -> Result<String> {
    let token = std::env::var("AIVAULT_TOKEN").unwrap_or_default();
    if token.is_empty() {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            "AIVAULT_TOKEN is not set: a call through aivault serve needs a caller token",
        ));
    }
    Ok(token)
}

/// The server to ask instead of the vault, when `AIVAULT_SOCKET` is set (`capability list |
/// describe`): its socket and the caller token.
pub fn remote() -> Result<Option<(std::path::PathBuf, String)>> {
    match std::env::var_os("AIVAULT_SOCKET").filter(|s| !s.is_empty()) {
        Some(socket) => Ok(Some((socket.into(), token()?))),
        None => Ok(None),
    }
}

/// Sends the call and copies the output to stdout; returns the upstream status.
pub fn invoke(socket: &Path, args: InvokeArgs, render: Render) -> Result<u16> {
    let token = token()?;
    let mut invocation = invocation(args, &read_file)?;
    invocation.body = match std::mem::take(&mut invocation.body) {
        RequestBody::File(path) => RequestBody::Bytes(read_file(&path, "--body-file-path")?),
        RequestBody::Multipart(parts) => RequestBody::Multipart(
            parts
                .into_iter()
                .map(|part| match part {
                    MultipartPart::File { name, path } => Ok(MultipartPart::Data {
                        name,
                        file_name: path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "file".into()),
                        bytes: read_file(&path, "--multipart-file")?,
                    }),
                    other => Ok(other),
                })
                .collect::<Result<_>>()?,
        ),
        other => other,
    };
    let mut response = client::call(socket, &token, &invocation, render)?;
    let status = response.status();
    let mut stdout = std::io::stdout().lock();
    let mut reader_gone = false;
    while let Some(chunk) = response.next_chunk()? {
        if reader_gone {
            continue;
        }
        match stdout.write_all(&chunk).and_then(|()| stdout.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => reader_gone = true,
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot write to stdout: {e}"),
                ));
            }
        }
    }
    Ok(status)
}

/// Reads a file the caller named, as the caller (a regular file, at most 1 GiB).
fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    let fail = |why: String| Error::new(ErrorKind::Io, format!("{what} {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{what} {} is not a regular file", path.display()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!("{what} {} is larger than 1 GiB", path.display()),
        ));
    }
    Ok(bytes)
}
