//! `aivault invoke | json | markdown` (and the `capability` aliases): builds an
//! [`Invocation`] from flags or a `--request` JSON envelope, calls the broker, prints.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use aivault_core::broker::Json;
use aivault_core::remote::wire::Render as WireRender;
use aivault_core::{
    Config, Decoded, Error, ErrorKind, FileReferences, Invocation, MultipartPart, Planned,
    RequestBody, Result, Vault,
};
use serde::Serialize;

use crate::cli::InvokeArgs;
use crate::commands::open_vault;
use crate::output::Output;

/// How the response is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// The body bytes.
    Body,
    /// `{"planned":..,"response":{"status","json"}}`.
    Json,
    /// The JSON body as markdown.
    Markdown,
}

/// Runs one invoke command: on the vault directly, or, with `--socket` / `AIVAULT_SOCKET`,
/// through a running `aivault serve` (the thin client, which never opens the vault).
pub fn run(args: InvokeArgs, render: Render, config: Config, out: &Output) -> Result<()> {
    if args.stream && render != Render::Body {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "--stream only applies to `invoke` (json and markdown need the whole body)",
        ));
    }
    let fail = args.fail;
    let wire_render = match render {
        Render::Body if args.stream => WireRender::Stream,
        Render::Body => WireRender::Body,
        Render::Json => WireRender::Json,
        Render::Markdown => WireRender::Markdown,
    };
    let status = match args.socket.clone() {
        Some(socket) => crate::serve::client::invoke(&socket, args, wire_render)?,
        None => {
            let vault = open_vault(config, out)?;
            let invocation =
                invocation(args, &|path, what| vault.read_caller_file(path, what, None))?;
            execute(&vault, &invocation, wire_render, &mut Stdout)?
        }
    };
    if fail && status >= 400 {
        return Err(Error::new(
            ErrorKind::UpstreamError,
            format!("the upstream answered with status {status}"),
        ));
    }
    Ok(())
}

/// Where a rendered response goes: stdout, or a caller's connection to `aivault serve`.
pub trait Sink {
    /// Called once, with the upstream status and headers (sanitized), before any output.
    fn begin(&mut self, status: u16, headers: &[(String, String)]) -> Result<()>;
    /// Called once before [`Sink::begin`] with the request the broker made (no secret in
    /// it); only a caller's connection passes it on.
    fn planned(&mut self, _planned: &Planned) {}
    /// Writes and flushes output; `Ok(false)` when the reader has gone away (not an error:
    /// the call is still recorded, as incomplete).
    fn output(&mut self, bytes: &[u8]) -> Result<bool>;
}

/// The process's stdout.
struct Stdout;

impl Sink for Stdout {
    fn begin(&mut self, _status: u16, _headers: &[(String, String)]) -> Result<()> {
        Ok(())
    }
    fn output(&mut self, bytes: &[u8]) -> Result<bool> {
        let mut stdout = std::io::stdout().lock();
        stdout_result(stdout.write_all(bytes).and_then(|()| stdout.flush()))
    }
}

/// Output collected in memory (the gateway's envelope answer, the MCP tool's text).
#[derive(Default)]
pub struct Collect(pub Vec<u8>);

impl Sink for Collect {
    fn begin(&mut self, _status: u16, _headers: &[(String, String)]) -> Result<()> {
        Ok(())
    }
    fn output(&mut self, bytes: &[u8]) -> Result<bool> {
        self.0.extend_from_slice(bytes);
        Ok(true)
    }
}

/// A [`Sink`] as a `Write` for the renderers (a reader gone away is a broken pipe).
struct SinkWriter<'s>(&'s mut dyn Sink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.output(buf) {
            Ok(true) => Ok(buf.len()),
            Ok(false) => Err(std::io::ErrorKind::BrokenPipe.into()),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Calls the broker and renders the response into `sink` exactly as the CLI prints it;
/// returns the upstream status. The one implementation behind the direct CLI and the server.
pub fn execute(
    vault: &Vault,
    invocation: &Invocation,
    render: WireRender,
    sink: &mut dyn Sink,
) -> Result<u16> {
    let mut response = vault.invoke_stream(invocation)?;
    let status = response.status();
    sink.planned(response.planned());
    sink.begin(status, response.headers())?;
    match render {
        WireRender::Stream => {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = read_some(&mut response, &mut buf)?;
                // A reader that went away (`| head`) ends the copy; dropping the stream
                // below still records the call (as incomplete) in the audit log.
                if n == 0 || !sink.output(&buf[..n])? {
                    break;
                }
            }
        }
        WireRender::Body => {
            let full = response.read_whole()?;
            let mut w = BufWriter::with_capacity(64 * 1024, SinkWriter(sink));
            written(full.write_body(&mut w).and_then(|()| w.flush()))?;
        }
        WireRender::Json => {
            // Decoded by the core, every string redacted again after decoding.
            let full = response.read_whole()?;
            let planned = full.planned.clone();
            let status = full.status;
            let mut text = Err(Error::new(
                ErrorKind::Internal,
                "the response was not decoded",
            ));
            full.decode_with(|decoded| {
                let (json, body_text) = match &decoded {
                    Decoded::Json(json) => (Some(json), None),
                    Decoded::Text(text) => (None, Some(text.as_str())),
                    Decoded::Empty => (None, None),
                };
                let output = JsonOutput {
                    planned: &planned,
                    response: JsonResponse {
                        status,
                        json,
                        text: body_text,
                    },
                };
                text = serde_json::to_vec_pretty(&output).map_err(|e| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("cannot encode the JSON output: {e}"),
                    )
                });
            });
            let mut text = text?;
            text.push(b'\n');
            sink.output(&text)?;
        }
        WireRender::Markdown => {
            let full = response.read_whole()?;
            let mut w = BufWriter::with_capacity(64 * 1024, SinkWriter(sink));
            written(full.write_markdown(&mut w).and_then(|()| w.flush()))?;
        }
    }
    Ok(status)
}

/// A renderer's write result: a reader gone away is fine; an error the sink raised is
/// passed on as it was.
fn written(result: std::io::Result<()>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .cloned()
            .unwrap_or_else(|| Error::new(ErrorKind::Io, format!("cannot write output: {e}")))),
    }
}

/// What `aivault json` prints (field order as the brief's tool prints it).
#[derive(Serialize)]
struct JsonOutput<'a> {
    planned: &'a Planned,
    response: JsonResponse<'a>,
}

#[derive(Serialize)]
struct JsonResponse<'a> {
    status: u16,
    /// The body as JSON; `null` when it is not JSON.
    json: Option<&'a Json<'a>>,
    /// The body as text when it is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

/// One read of the response body; a failed read carries the core's error (size cap, or the
/// upstream failure naming its host).
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<Error>())
                    .cloned()
                    .unwrap_or_else(|| {
                        Error::new(
                            ErrorKind::UpstreamError,
                            format!("reading the response body failed: {}", e.kind()),
                        )
                    }));
            }
        }
    }
}

/// A write to stdout: `Ok(false)` for a broken pipe.
fn stdout_result(written: std::io::Result<()>) -> Result<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::new(
            ErrorKind::Io,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// Reads a file the caller named (`what` names the flag in errors).
pub type FileReader<'a> = dyn Fn(&std::path::Path, &str) -> Result<Vec<u8>> + 'a;

/// Flags (or the `--request` envelope) to an invocation; `read_file` reads `--request-file`.
pub fn invocation(args: InvokeArgs, read_file: &FileReader<'_>) -> Result<Invocation> {
    let mut invocation = Invocation {
        capability: args.capability,
        credential: args.credential,
        workspace_id: args.workspace_id,
        group_id: args.group_id,
        consumer: args.consumer,
        method: args.method,
        path: args.path,
        headers: args
            .headers
            .iter()
            .map(|h| header_pair(h))
            .collect::<Result<_>>()?,
        body: RequestBody::Empty,
        timeout: args.timeout_ms.map(Duration::from_millis),
        caller: None,
    };
    let envelope = match (&args.request, &args.request_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => {
            let bytes = read_file(path, "--request-file")?;
            Some(String::from_utf8(bytes).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("--request-file {} is not UTF-8", path.display()),
                )
            })?)
        }
        (None, None) => None,
    };
    if let Some(text) = envelope {
        let files = if args.allow_file_references {
            FileReferences::Allow
        } else {
            FileReferences::Refuse
        };
        invocation.merge_request_json(&text, files)?;
    } else if let Some(body) = args.body {
        invocation.body = RequestBody::Bytes(body.into_bytes());
    } else if let Some(path) = args.body_file_path {
        invocation.body = RequestBody::File(path);
    } else if !args.multipart_fields.is_empty() || !args.multipart_files.is_empty() {
        let mut parts = Vec::new();
        for field in &args.multipart_fields {
            let (name, value) = split_pair(field, "--multipart-field", "NAME=VALUE")?;
            parts.push(MultipartPart::Field { name, value });
        }
        for file in &args.multipart_files {
            let (name, path) = split_pair(file, "--multipart-file", "FIELD=PATH")?;
            parts.push(MultipartPart::File {
                name,
                path: PathBuf::from(path),
            });
        }
        invocation.body = RequestBody::Multipart(parts);
    }
    Ok(invocation)
}

/// `--header NAME=VALUE` (cli.md) or `--header "NAME: VALUE"` (curl's spelling): a header
/// name holds neither ':' nor '=', so whichever comes first separates name and value.
fn header_pair(raw: &str) -> Result<(String, String)> {
    match raw.find([':', '=']) {
        Some(at) if raw.as_bytes()[at] == b':' => {
            let (name, value) = (&raw[..at], &raw[at + 1..]);
            if name.trim().is_empty() {
                return split_pair(raw, "--header", "NAME=VALUE or 'NAME: VALUE'");
            }
            Ok((name.trim().to_string(), value.trim_start().to_string()))
        }
        _ => split_pair(raw, "--header", "NAME=VALUE or 'NAME: VALUE'"),
    }
}

fn split_pair(raw: &str, flag: &str, shape: &str) -> Result<(String, String)> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{flag} expects {shape}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_take_both_spellings() {
        let pair = |raw: &str| header_pair(raw).map_err(|e| e.message().to_string());
        assert_eq!(pair("x-a=1"), Ok(("x-a".into(), "1".into())));
        assert_eq!(
            pair("X-Custom: value"),
            Ok(("X-Custom".into(), "value".into()))
        );
        assert_eq!(pair("x-a: b=c"), Ok(("x-a".into(), "b=c".into())));
        assert_eq!(pair("x-a=b:c"), Ok(("x-a".into(), "b:c".into())));
        assert_eq!(pair("x-empty="), Ok(("x-empty".into(), String::new())));
        assert!(pair("no-separator").is_err());
        assert!(pair(": value").is_err());
        assert!(pair("=value").is_err());
    }
}
