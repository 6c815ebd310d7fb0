//! `aivault mcp`, the Model Context Protocol server on stdio: JSON-RPC line by line, directly
//! on a vault and through `aivault serve` with a token; the tools never return or take a
//! secret value or a file; protocol errors are JSON-RPC errors, tool errors are `isError`
//! results; and the real `mcp` Python package drives it as a client.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::python_with;
use common::served::Served;
use serde_json::{Value, json};

/// Runs `aivault mcp` with `messages` (one per line) and returns its answers, in order.
fn exchange(cmd: &mut Command, messages: &[Value]) -> Vec<Value> {
    let mut child = cmd
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aivault mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    for message in messages {
        writeln!(stdin, "{message}").expect("send");
    }
    writeln!(stdin, "this is not json").expect("send");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    BufReader::new(&out.stdout[..])
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("a JSON answer"))
        .collect()
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn tool(id: u64, name: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

fn session() -> Vec<Value> {
    vec![
        request(1, "server/discover", json!({})),
        request(
            2,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        ),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        request(3, "tools/list", json!({})),
        tool(4, "list_capabilities", json!({})),
        tool(5, "describe_capability", json!({"capability": "acme/api"})),
        tool(
            6,
            "invoke",
            json!({"capability": "acme/api", "method": "POST", "path": "/v1/echo", "json": {"q": 1}, "headers": {"x-trace": "t1"}}),
        ),
        tool(
            7,
            "invoke",
            json!({"capability": "acme/other", "path": "/v2/x"}),
        ),
        tool(
            8,
            "invoke",
            json!({"capability": "acme/api", "path": "/v1/x", "file": "/etc/passwd"}),
        ),
        tool(9, "nope", json!({})),
        request(10, "ping", json!({})),
    ]
}

/// The answers every session must give, whichever backend serves it.
fn check(answers: &[Value], s: &Served, remote: bool) {
    let by_id = |id: u64| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id}: {answers:?}"))
    };
    assert_eq!(by_id(1)["error"]["code"], -32601);
    assert_eq!(by_id(2)["result"]["protocolVersion"], "2025-06-18");
    let names: Vec<&str> = by_id(3)["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["list_capabilities", "describe_capability", "invoke"]
    );
    assert!(text(by_id(4)).contains("acme/api"));
    assert_eq!(
        text(by_id(4)).contains("acme/other"),
        !remote,
        "{}",
        text(by_id(4))
    );
    assert!(text(by_id(5)).contains("\"capability\": \"acme/api\""));
    let invoked: Value = serde_json::from_str(text(by_id(6))).expect("json output");
    assert_eq!(invoked["response"]["status"], 200);
    assert_eq!(invoked["response"]["json"]["body"], "{\"q\":1}");
    // Outside the token (remote) or fine (direct): acme/other is the token's limit only.
    assert_eq!(by_id(7)["result"]["isError"], remote);
    if remote {
        assert!(
            text(by_id(7)).starts_with("error[unauthorized]"),
            "{}",
            text(by_id(7))
        );
    }
    assert_eq!(by_id(8)["result"]["isError"], true);
    assert!(text(by_id(8)).contains("unknown argument 'file'"));
    assert_eq!(by_id(9)["error"]["code"], -32602);
    assert_eq!(by_id(10)["result"], json!({}));
    assert_eq!(answers.last().expect("last")["error"]["code"], -32700);
    let all = serde_json::to_string(answers).expect("json");
    assert!(!all.contains(&s.value), "a secret value in an MCP answer");
    let sent = s.upstream.requests();
    let echo = sent
        .iter()
        .find(|r| r.target == "/v1/echo")
        .expect("invoked");
    assert_eq!(
        echo.header("authorization"),
        Some(format!("Bearer {}", s.value).as_str())
    );
    assert_eq!(echo.header("x-trace"), Some("t1"));
}

#[test]
fn mcp_serves_the_vault_directly_and_through_the_server() {
    let s = Served::start();
    // Directly on the vault (trusted host code): the vault's environment.
    let mut direct = s.env.command(&[]);
    let answers = exchange(&mut direct, &session());
    check(&answers, &s, false);

    // Through the server, with a token for acme/api only: no vault in sight.
    let token = s.token("mcp-agent", &[]);
    let mut remote = Command::new(common::bin());
    remote
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", s.env.root.path().join("nohome"))
        .env("AIVAULT_DIR", "/nonexistent/no-vault-here")
        .env("AIVAULT_SOCKET", &s.socket)
        .env("AIVAULT_TOKEN", &token);
    let answers = exchange(&mut remote, &session());
    check(&answers, &s, true);
}

/// The real `mcp` Python package as the client, against `aivault mcp` through the server.
#[test]
fn the_mcp_python_client_lists_describes_and_invokes() {
    let Some(python) = python_with("mcp") else {
        return;
    };
    let s = Served::start();
    let token = s.token("mcp-py", &[]);
    let script = r#"
import asyncio, json, os, sys
from mcp import Client, StdioServerParameters

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["mcp"], env={
        "AIVAULT_SOCKET": os.environ["AIVAULT_SOCKET"], "AIVAULT_TOKEN": os.environ["AIVAULT_TOKEN"],
        "AIVAULT_DIR": "/nonexistent/no-vault-here", "PATH": "/usr/bin:/bin"})
    async with Client(params) as client:
        tools = await client.list_tools()
        print("tools:", ",".join(t.name for t in tools.tools))
        listed = await client.call_tool("list_capabilities", {})
        print("listed acme/api:", "acme/api" in listed.content[0].text)
        result = await client.call_tool("invoke", {"capability": "acme/api", "path": "/v1/from-mcp"})
        print("status:", json.loads(result.content[0].text)["response"]["status"])
        refused = await client.call_tool("invoke", {"capability": "acme/other", "path": "/v2/x"})
        print("refused:", getattr(refused, "is_error", None) or getattr(refused, "isError", None), refused.content[0].text.split(":")[0])

asyncio.run(main())
"#;
    let out = Command::new(&python)
        .args(["-c", script, common::bin()])
        .env("AIVAULT_SOCKET", &s.socket)
        .env("AIVAULT_TOKEN", &token)
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tools: list_capabilities,describe_capability,invoke"),
        "{stdout}"
    );
    assert!(stdout.contains("listed acme/api: True"), "{stdout}");
    assert!(stdout.contains("status: 200"), "{stdout}");
    assert!(
        stdout.contains("refused: True error[unauthorized]"),
        "{stdout}"
    );
    assert!(!stdout.contains(&s.value) && !stderr.contains(&s.value));
    let sent = s.upstream.requests();
    let call = sent
        .iter()
        .find(|r| r.target == "/v1/from-mcp")
        .expect("invoked");
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {}", s.value).as_str())
    );
}
