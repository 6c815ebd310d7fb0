//! The HTTP gateway of `aivault serve --http`, as real processes and real HTTP: a caller whose
//! API key is its token reaches `/<provider>/<path>` and `POST /v1/invoke`; the upstream gets
//! the vault's key and never the token; a bad token is 401, a request outside the token 403;
//! malformed or ambiguous HTTP is refused; and the official OpenAI SDKs work unchanged with
//! only `OPENAI_BASE_URL` and `OPENAI_API_KEY` set.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aivault_testkit::{Pki, Reply, Upstream, echo_handler};
use common::{Env, canary, python_with};

struct Gateway {
    _env: Env,
    server: Child,
    port: u16,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts `aivault serve --http 127.0.0.1:0` and reads the port it picked from its stderr.
fn start(env: Env, extra: &[(&str, &str)]) -> Gateway {
    let socket = env
        .root
        .path()
        .join("sock")
        .join("broker.sock")
        .display()
        .to_string();
    let mut server = env.spawn(
        &["serve", "--socket", &socket, "--http", "127.0.0.1:0"],
        extra,
    );
    let stderr = server.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("http://").nth(1) {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the gateway's address");
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    Gateway {
        _env: env,
        server,
        port,
    }
}

/// One raw HTTP exchange: (status, headers text, body).
fn exchange(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request).expect("send");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(&String::from_utf8_lossy(&raw[..line_end]), 16)
            .expect("chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn get(port: u16, path: &str, auth: &str) -> (u16, String, Vec<u8>) {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\r\n")
            .as_bytes(),
    )
}

/// A vault with a loopback credential for provider `acme`, capabilities `acme/api` (GET, POST
/// /v1) and `acme/admin` (GET /admin), and a token for `acme/api` only.
fn acme(upstream: &Upstream) -> (Env, String, String) {
    let env = Env::new();
    let value = canary("gateway");
    let id = env.create("ACME_TOKEN", &value, &[]);
    let host = format!("127.0.0.1:{}", upstream.port());
    env.run(&[
        "credential",
        "create",
        "acme",
        "--provider",
        "acme",
        "--secret-ref",
        &format!("vault:secret:{id}"),
        "--auth",
        "header",
        "--host",
        &host,
        "--allow-private-network",
        "--insecure-http",
    ])
    .ok();
    env.run(&[
        "capability",
        "create",
        "acme/api",
        "--credential",
        "acme",
        "--method",
        "GET",
        "--method",
        "POST",
        "--path",
        "/v1",
    ])
    .ok();
    env.run(&[
        "capability",
        "create",
        "acme/admin",
        "--credential",
        "acme",
        "--method",
        "GET",
        "--path",
        "/admin",
    ])
    .ok();
    let token = env
        .run(&[
            "token",
            "create",
            "--name",
            "sdk",
            "--capability",
            "acme/api",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    (env, value, token)
}

#[test]
fn provider_routes_inject_the_vaults_key_and_never_forward_the_token() {
    let upstream = Upstream::http(echo_handler());
    let (env, value, token) = acme(&upstream);
    let g = start(env, &[]);
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let (status, _, body) = get(g.port, "/acme/v1/ping?x=1", &bearer);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8_lossy(&body).to_string();
    assert!(!text.contains(&value) && !text.contains(&token), "{text}");
    // The token as x-api-key (the Anthropic SDKs' header) works too.
    let (status, _, _) = get(g.port, "/acme/v1/other", &format!("x-api-key: {token}\r\n"));
    assert_eq!(status, 200);
    let received = upstream.requests();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].target, "/v1/ping?x=1");
    for r in &received {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {value}").as_str())
        );
        assert!(
            !r.all_text().contains(&token),
            "the token reached the upstream"
        );
    }

    // 401: no token, a forged one, a malformed header. 403: outside the token.
    for auth in [
        String::new(),
        "Authorization: Bearer avt_forged\r\n".into(),
        "Authorization: Basic abc\r\n".into(),
    ] {
        let (status, _, body) = get(g.port, "/acme/v1/ping", &auth);
        assert_eq!(status, 401, "{auth}: {}", String::from_utf8_lossy(&body));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("error json");
        assert_eq!(json["error"]["kind"], "unauthorized");
    }
    for path in [
        "/acme/admin/users",
        "/acme/v2/x",
        "/openai/v1/models",
        "/acme/v1/../admin/users",
    ] {
        let (status, _, body) = get(g.port, path, &bearer);
        assert!(
            status == 403 || status == 400,
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(
        upstream.requests().len(),
        2,
        "a refused request reached the upstream"
    );

    // Malformed and ambiguous HTTP: 400, nothing sent.
    for raw in [
        format!(
            "POST /acme/v1/x HTTP/1.1\r\n{bearer}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
        ),
        format!(
            "POST /acme/v1/x HTTP/1.1\r\n{bearer}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc"
        ),
        format!("GET /acme/v1/x HTTP/1.1\r\n{bearer}X: a\r\n folded\r\n\r\n"),
        format!("GET http://elsewhere/ HTTP/1.1\r\n{bearer}\r\n"),
    ] {
        let (status, _, _) = exchange(g.port, raw.as_bytes());
        assert_eq!(status, 400, "{raw}");
    }
    let huge = format!(
        "GET /acme/v1/x HTTP/1.1\r\nX: {}\r\n{bearer}\r\n",
        "a".repeat(70_000)
    );
    assert_eq!(exchange(g.port, huge.as_bytes()).0, 400);
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn the_envelope_answers_what_aivault_json_prints() {
    let upstream = Upstream::http(|_: &aivault_testkit::Recorded| {
        Reply::json(br#"{"ok":true,"n":1}"#.to_vec())
    });
    let (env, _value, token) = acme(&upstream);
    let direct = env
        .run(&["json", "acme/api", "--request", r#"{"capability":"acme/api","request":{"method":"POST","path":"/v1/run","body":{"q":1}}}"#])
        .ok()
        .stdout;
    let g = start(env, &[]);
    let envelope =
        r#"{"capability":"acme/api","request":{"method":"POST","path":"/v1/run","body":{"q":1}}}"#;
    let raw = format!(
        "POST /v1/invoke HTTP/1.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{envelope}",
        envelope.len()
    );
    let (status, _, body) = exchange(g.port, raw.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&body), direct);
    // A capability outside the token, and a file reference: refused.
    let outside = r#"{"capability":"acme/admin","request":{"path":"/admin/x"}}"#;
    let file = r#"{"capability":"acme/api","request":{"method":"POST","path":"/v1/x","multipart":[{"name":"f","file":"/etc/passwd"}]}}"#;
    for (body, want) in [(outside, 403), (file, 400)] {
        let raw = format!(
            "POST /v1/invoke HTTP/1.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(exchange(g.port, raw.as_bytes()).0, want, "{body}");
    }
}

#[test]
fn the_gateway_listens_on_loopback_only() {
    let env = Env::new();
    let socket = env
        .root
        .path()
        .join("s")
        .join("b.sock")
        .display()
        .to_string();
    for addr in ["0.0.0.0:0", "192.0.2.1:80"] {
        env.run(&["serve", "--socket", &socket, "--http", addr])
            .fails(7, "policy_violation");
    }
    env.run(&["serve", "--socket", &socket, "--http", "localhost"])
        .fails(2, "invalid_input");
}

/// The official OpenAI Python SDK, unchanged: only OPENAI_BASE_URL and OPENAI_API_KEY (the
/// token) set. api.openai.com is routed to a loopback HTTPS upstream (debug-build hook) that
/// records the key it receives; a streamed completion arrives as server-sent events.
#[test]
fn the_openai_python_sdk_works_unchanged_through_the_gateway() {
    let Some(python) = python_with("openai") else {
        return;
    };
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, |r: &aivault_testkit::Recorded| {
        if String::from_utf8_lossy(&r.body).contains("\"stream\":true") {
            let events = [
                "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
                "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
                "data: [DONE]\n\n",
            ];
            Reply::ok(Vec::new())
                .header("content-type", "text/event-stream")
                .chunks(events.to_vec(), Duration::from_millis(50))
        } else {
            Reply::json(
                br#"{"id":"c0","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#.to_vec(),
            )
        }
    });
    let env = Env::new();
    let key = canary("openai");
    env.create("OPENAI_API_KEY", &key, &[]);
    let token = env
        .run(&[
            "token",
            "create",
            "--name",
            "py-sdk",
            "--capability",
            "openai/chat-completions",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let ca = env.root.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    let route = format!("api.openai.com=127.0.0.1:{}", upstream.port());
    let g = start(
        env,
        &[
            ("AIVAULT_DEV_RESOLVE", &route),
            ("AIVAULT_DEV_CA_CERT", &ca.display().to_string()),
        ],
    );
    let script = r#"
import os, openai
client = openai.OpenAI()
r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
print("plain:", r.choices[0].message.content)
parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)]
print("stream:", "".join(parts))
try:
    client.models.list()
except openai.PermissionDeniedError as e:
    print("models:", e.status_code)
"#;
    let started = Instant::now();
    let out = Command::new(&python)
        .args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{}/openai/v1", g.port),
        )
        .env("OPENAI_API_KEY", &token)
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("plain: Hi there"), "{stdout}");
    assert!(stdout.contains("stream: Hello"), "{stdout}");
    assert!(stdout.contains("models: 403"), "{stdout}");
    assert!(!stdout.contains(&key) && !stderr.contains(&key));
    eprintln!(
        "openai python SDK through the gateway: {:?}",
        started.elapsed()
    );
    let received = upstream.requests();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(r.target, "/v1/chat/completions");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {key}").as_str())
        );
        assert!(!r.all_text().contains(&token));
    }
}

/// The directory whose `node_modules` holds the `openai` package (the Node binding's), if any.
fn node_with_openai() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("AIVAULT_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("aivault-node"));
    let ok = dir.join("node_modules/openai/package.json").exists()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(dir);
    }
    assert!(
        std::env::var_os("AIVAULT_REQUIRE_SDKS").is_none(),
        "AIVAULT_REQUIRE_SDKS is set but {} has no node_modules/openai",
        dir.display()
    );
    eprintln!("SKIPPED: no node_modules/openai (scripts/node.sh installs it)");
    None
}

/// The official OpenAI Node SDK, unchanged: OPENAI_BASE_URL and OPENAI_API_KEY only.
#[test]
fn the_openai_node_sdk_works_unchanged_through_the_gateway() {
    let Some(node_dir) = node_with_openai() else {
        return;
    };
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, |_: &aivault_testkit::Recorded| {
        Reply::json(
            br#"{"id":"c0","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi from node"},"finish_reason":"stop"}]}"#.to_vec(),
        )
    });
    let env = Env::new();
    let key = canary("openai-node");
    env.create("OPENAI_API_KEY", &key, &[]);
    let token = env
        .run(&[
            "token",
            "create",
            "--name",
            "node-sdk",
            "--capability",
            "openai/chat-completions",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let ca = env.root.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    let route = format!("api.openai.com=127.0.0.1:{}", upstream.port());
    let g = start(
        env,
        &[
            ("AIVAULT_DEV_RESOLVE", &route),
            ("AIVAULT_DEV_CA_CERT", &ca.display().to_string()),
        ],
    );
    let script = r#"
const { default: OpenAI } = await import('openai');
const client = new OpenAI();
const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
console.log('plain:', r.choices[0].message.content);
try { await client.models.list(); } catch (e) { console.log('models:', e.status); }
"#;
    let out = Command::new("node")
        .args(["--input-type=module", "-e", script])
        .current_dir(&node_dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{}/openai/v1", g.port),
        )
        .env("OPENAI_API_KEY", &token)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("plain: Hi from node"), "{stdout}");
    assert!(stdout.contains("models: 403"), "{stdout}");
    assert!(!stdout.contains(&key) && !stderr.contains(&key));
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert!(!received[0].all_text().contains(&token));
}

/// Keep-alive: two requests on one connection (as SDKs send them) get two answers; the
/// second asks to close, and the connection then ends. An error closes it at once.
#[test]
fn requests_reuse_one_connection_until_the_caller_closes_it() {
    let upstream = Upstream::http(echo_handler());
    let (env, _value, token) = acme(&upstream);
    let g = start(env, &[]);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let two = format!(
        "GET /acme/v1/one HTTP/1.1\r\n{auth}\r\nGET /acme/v1/two HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"
    );
    let mut stream = TcpStream::connect(("127.0.0.1", g.port)).expect("connect");
    stream.write_all(two.as_bytes()).expect("send");
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 2, "{raw}");
    assert!(raw.contains("Connection: keep-alive") && raw.contains("Connection: close"));
    let targets: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(targets, ["/v1/one", "/v1/two"]);
    // After a refused request the connection ends: the second request is never read.
    let refused = format!(
        "GET /acme/admin/x HTTP/1.1\r\n{auth}\r\nGET /acme/v1/three HTTP/1.1\r\n{auth}\r\n"
    );
    let mut stream = TcpStream::connect(("127.0.0.1", g.port)).expect("connect");
    stream.write_all(refused.as_bytes()).expect("send");
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{raw}");
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert_eq!(upstream.requests().len(), 2);
}

/// A body over the capability's `maxRequestBodyBytes` is refused (403,
/// `policy_violation`), by `Content-Length` and by chunks alike; nothing reaches the upstream.
#[test]
fn bodies_over_the_capabilitys_limit_are_refused() {
    let upstream = Upstream::http(echo_handler());
    let (env, _value, token) = acme(&upstream);
    env.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "acme/api",
        "--max-request-body-bytes",
        "10",
    ])
    .ok();
    let g = start(env, &[]);
    let auth = format!("Authorization: Bearer {token}\r\nConnection: close\r\n");
    for raw in [
        format!("POST /acme/v1/x HTTP/1.1\r\n{auth}Content-Length: 11\r\n\r\n12345678901"),
        format!(
            "POST /acme/v1/x HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n789012\r\n0\r\n\r\n"
        ),
    ] {
        let (status, _, body) = exchange(g.port, raw.as_bytes());
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("error json");
        assert_eq!(json["error"]["kind"], "policy_violation");
    }
    let fits = format!("POST /acme/v1/x HTTP/1.1\r\n{auth}Content-Length: 10\r\n\r\n1234567890");
    assert_eq!(exchange(g.port, fits.as_bytes()).0, 200);
    assert_eq!(upstream.requests().len(), 1);
}

/// Answers are relayed as they arrive: a stream without an announced length (SSE) reaches
/// the caller piece by piece while the upstream is still sending, and a body with an announced
/// length spanning many reads (200,000 bytes) arrives whole and intact.
#[test]
fn streams_are_relayed_as_they_arrive_and_long_bodies_whole() {
    const GAP: Duration = Duration::from_secs(3);
    let upstream = Upstream::http(
        |req: &aivault_testkit::Recorded| match req.target.as_str() {
            "/v1/events" => Reply::ok("")
                .header("content-type", "text/event-stream")
                .chunks(vec!["data: one\n\n", "data: two\n\n"], GAP),
            _ => Reply::stream_zeros(200_000),
        },
    );
    let (env, _value, token) = acme(&upstream);
    let g = start(env, &[]);
    let auth = format!("Authorization: Bearer {token}\r\nConnection: close\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", g.port)).expect("connect");
    stream
        .write_all(format!("GET /acme/v1/events HTTP/1.1\r\n{auth}\r\n").as_bytes())
        .expect("send");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut first_piece = None;
    loop {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first_piece.is_none() && String::from_utf8_lossy(&raw).contains("data: one") {
            first_piece = Some(Instant::now());
        }
    }
    let first_piece = first_piece.expect("the first event");
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("data: two") && text.ends_with("0\r\n\r\n"),
        "{text}"
    );
    // The first event came while the upstream waited before the second one.
    assert!(
        first_piece.elapsed() >= GAP / 2,
        "the first event arrived only {:?} before the end",
        first_piece.elapsed()
    );
    let (status, head, body) = get(g.port, "/acme/v1/zeros", &auth);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body.len(), 200_000);
    assert!(body.iter().all(|b| *b == 0));
}
