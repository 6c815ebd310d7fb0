//! `aivault invoke | json | markdown` (and the `capability` aliases): builds an
//! [`Invocation`] from flags or a `--request` JSON envelope, calls the broker, prints.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use aivault_core::{
    Config, Error, ErrorKind, Invocation, MultipartPart, Planned, RequestBody, Result,
};
use serde::Serialize;
use serde_json::Value;

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

/// Runs one invoke command.
pub fn run(args: InvokeArgs, render: Render, config: Config, out: &Output) -> Result<()> {
    if args.stream && render != Render::Body {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "--stream only applies to `invoke` (json and markdown need the whole body)",
        ));
    }
    let fail = args.fail;
    let stream = args.stream;
    let invocation = invocation(args)?;
    let vault = open_vault(config, out)?;
    let mut response = vault.invoke_stream(&invocation)?;
    let status = response.status();
    match render {
        Render::Body if stream => {
            let mut stdout = std::io::stdout().lock();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = read_some(&mut response, &mut buf)?;
                // A reader that went away (`| head`) ends the copy; dropping the stream
                // below still records the call (as incomplete) in the audit log.
                if n == 0 || !write_out(&mut stdout, &buf[..n])? {
                    break;
                }
            }
        }
        Render::Body => {
            let full = response.into_response()?;
            write_out(&mut std::io::stdout().lock(), &full.body)?;
        }
        Render::Json => {
            let full = response.into_response()?;
            let json = parse_json(&full.body);
            let text = (json.is_null() && !full.body.is_empty())
                .then(|| String::from_utf8_lossy(&full.body).into_owned());
            out.json(&JsonOutput {
                planned: &full.planned,
                response: JsonResponse {
                    status: full.status,
                    json,
                    text,
                },
            });
        }
        Render::Markdown => {
            let full = response.into_response()?;
            let text = match serde_json::from_slice::<Value>(&full.body) {
                Ok(value) => markdown(&value),
                Err(_) => String::from_utf8_lossy(&full.body).into_owned(),
            };
            if write_out(&mut std::io::stdout().lock(), text.as_bytes())? && !text.ends_with('\n') {
                write_out(&mut std::io::stdout().lock(), b"\n")?;
            }
        }
    }
    if fail && status >= 400 {
        return Err(Error::new(
            ErrorKind::UpstreamError,
            format!("the upstream answered with status {status}"),
        ));
    }
    Ok(())
}

/// What `aivault json` prints (field order as the brief's tool prints it).
#[derive(Serialize)]
struct JsonOutput<'a> {
    planned: &'a Planned,
    response: JsonResponse,
}

#[derive(Serialize)]
struct JsonResponse {
    status: u16,
    json: Value,
    /// The body as text when it is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

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

/// Writes and flushes `bytes`; `Ok(false)` when the reader has gone away (broken pipe), which
/// is not an error. Never exits the process: the response stream must be dropped normally
/// so that its audit event is written.
fn write_out(stdout: &mut impl Write, bytes: &[u8]) -> Result<bool> {
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::new(
            ErrorKind::Io,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

fn parse_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// Flags (or the `--request` envelope) to an invocation.
fn invocation(args: InvokeArgs) -> Result<Invocation> {
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
    };
    let envelope = match (&args.request, &args.request_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read --request-file {}: {e}", path.display()),
            )
        })?),
        (None, None) => None,
    };
    if let Some(text) = envelope {
        apply_envelope(&mut invocation, &text)?;
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

/// `{"method","path","headers","body"|"multipart"}`, or the same inside `{"request": ..}`
/// (the broker envelope). Flags given on the command line win over the envelope's fields.
fn apply_envelope(invocation: &mut Invocation, text: &str) -> Result<()> {
    let bad = |what: &str| Error::new(ErrorKind::InvalidInput, format!("--request: {what}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let request = value.get("request").unwrap_or(&value);
    let Value::Object(fields) = request else {
        return Err(bad("expected a JSON object"));
    };
    for key in fields.keys() {
        if !["method", "path", "headers", "body", "multipart"].contains(&key.as_str()) {
            return Err(bad(&format!(
                "unknown field '{key}' (the broker takes method, path, headers, body or multipart; never a URL or host)"
            )));
        }
    }
    if invocation.method.is_none() {
        invocation.method = fields
            .get("method")
            .map(|m| {
                m.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("method must be a string"))
            })
            .transpose()?;
    }
    if invocation.path.is_none() {
        invocation.path = fields
            .get("path")
            .map(|p| {
                p.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("path must be a string"))
            })
            .transpose()?;
    }
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| bad("header values must be strings"))?;
                invocation.headers.push((name.clone(), value.to_string()));
            }
        }
        Some(_) => return Err(bad("headers must be an object of strings")),
    }
    match (fields.get("body"), fields.get("multipart")) {
        (Some(_), Some(_)) => return Err(bad("give either body or multipart")),
        (Some(Value::String(text)), None) => {
            invocation.body = RequestBody::Bytes(text.clone().into_bytes());
        }
        (Some(Value::Null), None) | (None, None) => {}
        (Some(json), None) => {
            invocation.body = RequestBody::Bytes(json.to_string().into_bytes());
            if !invocation
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                invocation
                    .headers
                    .push(("content-type".into(), "application/json".into()));
            }
        }
        (None, Some(Value::Object(parts))) => {
            let mut out = Vec::new();
            for (name, part) in parts {
                match part {
                    Value::String(value) => out.push(MultipartPart::Field {
                        name: name.clone(),
                        value: value.clone(),
                    }),
                    Value::Object(file) => {
                        let path = file
                            .get("file")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("a multipart file part is {\"file\": \"PATH\"}"))?;
                        out.push(MultipartPart::File {
                            name: name.clone(),
                            path: PathBuf::from(path),
                        });
                    }
                    _ => return Err(bad("multipart parts are strings or {\"file\": \"PATH\"}")),
                }
            }
            invocation.body = RequestBody::Multipart(out);
        }
        (None, Some(_)) => return Err(bad("multipart must be an object")),
    }
    Ok(())
}

/// Renders JSON as markdown: objects as bullet lists (`**key**: value`), arrays of objects
/// as numbered sections, strings as text (so a chat completion's content reads naturally).
pub fn markdown(value: &Value) -> String {
    let mut out = String::new();
    render(value, 0, &mut out);
    out
}

fn render(value: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(_) | Value::Array(_) if !is_empty(v) => {
                        out.push_str(&format!("{indent}- **{key}**:\n"));
                        render(v, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{indent}- **{key}**: {}\n", scalar(v))),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(_) | Value::Array(_) if !is_empty(item) => {
                        out.push_str(&format!("{indent}{}.\n", i + 1));
                        render(item, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{indent}{}. {}\n", i + 1, scalar(item))),
                }
            }
        }
        other => out.push_str(&format!("{indent}{}\n", scalar(other))),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "_null_".into(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
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
