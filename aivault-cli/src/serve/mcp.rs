//! `aivault mcp`: a Model Context Protocol server over stdio (JSON-RPC 2.0, one message per
//! line) with three tools: `list_capabilities`, `describe_capability` and `invoke`. No tool
//! takes or returns a secret value, and none names a file. With `AIVAULT_SOCKET` and
//! `AIVAULT_TOKEN` set it asks a running `aivault serve` (so the agent's MCP server never
//! holds the vault); otherwise it opens the vault directly (trusted host code only).
//!
//! It speaks the handshake era of the protocol (`initialize`, versions 2024-11-05 to
//! 2025-11-25): a newer client's probe (`server/discover`) gets "method not found", upon
//! which clients fall back to `initialize`.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use aivault_core::remote::client;
use aivault_core::remote::wire::Render;
use aivault_core::{Config, Error, ErrorKind, FileReferences, Invocation, Result, Vault};
use serde_json::{Value, json};

use crate::commands::invoke::{Collect, execute};
use crate::commands::open_vault;
use crate::output::Output;

/// The protocol versions answered with themselves; any other gets the newest.
const VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The largest message accepted (a line of JSON).
const MAX_MESSAGE: u64 = 16 * 1024 * 1024;

/// Where the tools get their answers.
enum Backend {
    /// A running `aivault serve` (socket, token).
    Remote(PathBuf, String),
    /// The vault itself, opened at the first call that needs it.
    Direct(Box<(Option<Config>, Option<Vault>)>),
}

impl Backend {
    fn vault(&mut self, out: &Output) -> Result<&Vault> {
        if let Backend::Direct(direct) = self {
            let (config, vault) = &mut **direct;
            if vault.is_none() {
                let config = config
                    .take()
                    .ok_or_else(|| Error::new(ErrorKind::Internal, "the vault failed to open"))?;
                *vault = Some(open_vault(config, out)?);
            }
            if let Some(vault) = vault {
                return Ok(vault);
            }
        }
        Err(Error::new(
            ErrorKind::Internal,
            "no local vault in remote mode",
        ))
    }
}

/// Serves MCP on stdin/stdout until stdin closes.
pub fn run(config: Config, out: &Output) -> Result<()> {
    let mut backend = match super::client::remote()? {
        Some((socket, token)) => Backend::Remote(socket, token),
        None => Backend::Direct(Box::new((Some(config), None))),
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut stdout = std::io::stdout().lock();
    loop {
        let mut line = Vec::new();
        let n = Read::take(&mut input, MAX_MESSAGE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::new(ErrorKind::Io, format!("mcp: reading stdin: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let reply = if line.len() as u64 > MAX_MESSAGE {
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            let _ = input.read_until(b'\n', &mut rest);
            Some(error_reply(Value::Null, -32600, "message too large"))
        } else if line.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            handle(&line, &mut backend, out)
        };
        if let Some(reply) = reply {
            let mut text = reply.to_string();
            text.push('\n');
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::new(ErrorKind::Io, format!("mcp: writing stdout: {e}")))?;
        }
    }
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// One message; `None` for a notification (no answer).
fn handle(line: &[u8], backend: &mut Backend, out: &Output) -> Option<Value> {
    let Ok(message) = serde_json::from_slice::<Value>(line) else {
        return Some(error_reply(Value::Null, -32700, "parse error"));
    };
    let id = message.get("id").cloned();
    let method = message.get("method").and_then(Value::as_str);
    let (Some(id), Some(method)) = (id, method) else {
        // A notification (or a response to nothing we sent): no answer.
        return None;
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked
                .filter(|v| VERSIONS.contains(v))
                .unwrap_or(VERSIONS[VERSIONS.len() - 1]);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "aivault", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Call external APIs through aivault capabilities: list_capabilities, describe_capability, then invoke. Credentials are injected by aivault; never send API keys yourself."
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools()})),
        "tools/call" => call_tool(&params, backend, out),
        _ => Err((-32601, format!("method not found: {method}"))),
    };
    Some(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error_reply(id, code, &message),
    })
}

/// The tools and their argument schemas.
fn tools() -> Value {
    json!([
        {
            "name": "list_capabilities",
            "description": "The capabilities this agent may invoke (ids, providers, allowed methods and path prefixes).",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false}
        },
        {
            "name": "describe_capability",
            "description": "How to call one capability: methods, path prefixes, hosts, policy, an example call.",
            "inputSchema": {
                "type": "object",
                "properties": {"capability": {"type": "string", "description": "Capability id, such as openai/chat-completions"}},
                "required": ["capability"],
                "additionalProperties": false
            }
        },
        {
            "name": "invoke",
            "description": "Call a capability. aivault checks its policy, injects the credential and returns the upstream status and body (redacted). Never pass API keys.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "capability": {"type": "string"},
                    "method": {"type": "string", "description": "HTTP method (default: the capability's only one)"},
                    "path": {"type": "string", "description": "Path and query, such as /v1/models?limit=2"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {"type": "string", "description": "A text body"},
                    "json": {"description": "A JSON body (sent with content-type application/json)"},
                    "credential": {"type": "string", "description": "A credential id, when several could serve"}
                },
                "required": ["capability"],
                "additionalProperties": false
            }
        }
    ])
}

/// A tool call: its text result, or a tool error (`isError`) with the aivault error line.
fn call_tool(params: &Value, backend: &mut Backend, out: &Output) -> Result<Value, (i64, String)> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let args = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let Value::Object(args) = args else {
        return Err((-32602, "arguments must be an object".into()));
    };
    let outcome = match name {
        "list_capabilities" => only(&args, &[]).and_then(|()| list(backend, out)),
        "describe_capability" => only(&args, &["capability"])
            .and_then(|()| text_arg(&args, "capability"))
            .and_then(|id| describe(backend, out, &id)),
        "invoke" => only(
            &args,
            &[
                "capability",
                "method",
                "path",
                "headers",
                "body",
                "json",
                "credential",
            ],
        )
        .and_then(|()| invoke(backend, out, &args)),
        other => return Err((-32602, format!("unknown tool: {other}"))),
    };
    Ok(match outcome {
        Ok(text) => json!({"content": [{"type": "text", "text": text}], "isError": false}),
        Err(e) => json!({
            "content": [{"type": "text", "text": format!("error[{}]: {}", e.kind().as_str(), e.message())}],
            "isError": true
        }),
    })
}

fn only(args: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match args.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("unknown argument '{key}'"),
        )),
        None => Ok(()),
    }
}

fn text_arg(args: &serde_json::Map<String, Value>, name: &str) -> Result<String> {
    args.get(name)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("'{name}' must be a string"),
            )
        })
}

fn pretty(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("encode: {e}")))
}

fn list(backend: &mut Backend, out: &Output) -> Result<String> {
    match backend {
        Backend::Remote(socket, token) => pretty(&client::list_capabilities(socket, token)?),
        Backend::Direct(..) => pretty(&backend.vault(out)?.list_capabilities()?),
    }
}

fn describe(backend: &mut Backend, out: &Output, id: &str) -> Result<String> {
    match backend {
        Backend::Remote(socket, token) => pretty(&client::describe_capability(socket, token, id)?),
        Backend::Direct(..) => pretty(&backend.vault(out)?.describe_capability(id)?),
    }
}

/// The tool's arguments as the request JSON envelope, through the same reader as `--request`
/// (files refused), then invoked and rendered as `aivault json` prints it.
fn invoke(
    backend: &mut Backend,
    out: &Output,
    args: &serde_json::Map<String, Value>,
) -> Result<String> {
    let capability = text_arg(args, "capability")?;
    if args.contains_key("body") && args.contains_key("json") {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "give 'body' or 'json', not both",
        ));
    }
    let mut request = serde_json::Map::new();
    for key in ["method", "path", "headers"] {
        if let Some(value) = args.get(key) {
            request.insert(key.into(), value.clone());
        }
    }
    if let Some(body) = args.get("body") {
        if !body.is_string() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "'body' must be a string (use 'json' for JSON)",
            ));
        }
        request.insert("body".into(), body.clone());
    }
    if let Some(value) = args.get("json") {
        request.insert("body".into(), value.clone());
    }
    let mut envelope = json!({"capability": capability, "request": request});
    if let Some(credential) = args.get("credential") {
        envelope["credential"] = credential.clone();
    }
    let mut invocation = Invocation {
        capability,
        ..Invocation::default()
    };
    invocation.merge_request_json(&envelope.to_string(), FileReferences::Refuse)?;
    let mut collected = Collect::default();
    match backend {
        Backend::Remote(socket, token) => {
            let mut response = client::call(socket, token, &invocation, Render::Json)?;
            while let Some(chunk) = response.next_chunk()? {
                collected.0.extend_from_slice(&chunk);
            }
        }
        Backend::Direct(..) => {
            execute(
                backend.vault(out)?,
                &invocation,
                Render::Json,
                &mut collected,
            )?;
        }
    }
    String::from_utf8(collected.0)
        .map_err(|_| Error::new(ErrorKind::Internal, "the rendered answer is not UTF-8"))
}
