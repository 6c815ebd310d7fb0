//! The HTTPS proxy of `aivault serve --proxy` and `aivault proxy ca`, as real processes: curl
//! (and openssl s_client) through the proxy to api.openai.com, routed to a loopback HTTPS
//! upstream that records what it received (debug-build hooks); the upstream gets the vault's
//! key, never the caller's own, and curl never sees the key. Refusals: no or a wrong proxy
//! token (407), a host outside the token or a method/path outside its capability (403 with
//! the error JSON), a CONNECT to a private or loopback address even with
//! `--passthrough-host '*'`, a server name other than the CONNECT host, a host outside the CA's
//! name constraints. The CA's key is in no file in plaintext.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aivault_testkit::{Pki, Reply, Upstream, echo_handler};
use base64::Engine as _;
use common::{Env, canary, contains, files_under};

struct Proxied {
    env: Env,
    server: Child,
    port: u16,
    upstream: Upstream,
    key: String,
    token: String,
    ca: PathBuf,
}

impl Drop for Proxied {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A vault with OPENAI_API_KEY (a canary), a token for `openai/models` (GET /v1/models), the
/// proxy CA exported, and `aivault serve --proxy 127.0.0.1:0` with api.openai.com routed to a
/// loopback HTTPS upstream; `extra_args` go to serve, `extra_routes` to AIVAULT_DEV_RESOLVE.
fn start(extra_args: &[&str], extra_routes: &str) -> Proxied {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let env = Env::new();
    let key = canary("proxy");
    env.create("OPENAI_API_KEY", &key, &[]);
    let token = env.create_token("tool", &["openai/models"]);
    let ca = env.root.path().join("proxy-ca.pem");
    env.run(&["proxy", "ca", "--out", &ca.display().to_string()])
        .ok();
    let upstream_ca = env.root.path().join("upstream-ca.pem");
    std::fs::write(&upstream_ca, &pki.ca_pem).expect("ca");
    let route = format!("api.openai.com=127.0.0.1:{}{extra_routes}", upstream.port());
    let socket = env.root.path().join("sock").join("broker.sock");
    let mut args = vec![
        "serve",
        "--socket",
        socket.to_str().expect("utf-8"),
        "--proxy",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra_args);
    let mut server = env.spawn(
        &args,
        &[
            ("AIVAULT_DEV_RESOLVE", &route),
            ("AIVAULT_DEV_CA_CERT", &upstream_ca.display().to_string()),
        ],
    );
    let stderr = server.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("HTTPS proxy on")
                && let Some(addr) = line.split("http://").nth(1)
            {
                let _ = tx.send(addr.split(' ').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the proxy's address");
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    Proxied {
        env,
        server,
        port,
        upstream,
        key,
        token,
        ca,
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs curl through the proxy with `token` as proxy credentials (none when `None`),
/// trusting only the exported CA (or `cacert`), in a clean environment.
fn curl(p: &Proxied, token: Option<&str>, args: &[&str]) -> Output {
    let proxy = match token {
        Some(t) => format!("http://aivault:{t}@127.0.0.1:{}", p.port),
        None => format!("http://127.0.0.1:{}", p.port),
    };
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--proxy", &proxy])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", p.env.root.path())
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One raw exchange with the proxy: (status, head, body).
fn raw(port: u16, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    s.write_all(request.as_bytes()).expect("send");
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// The audit log as JSON once it contains `needle` (or after 10 s).
fn audit_until(p: &Proxied, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let audit = p.env.run(&["audit", "-v", "--limit", "100"]).ok().stdout;
        if audit.contains(needle) || std::time::Instant::now() > deadline {
            return audit;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn basic(token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("aivault:{token}"))
}

fn connect(port: u16, target: &str, token: Option<&str>) -> (u16, String, String) {
    let auth = token
        .map(|t| format!("Proxy-Authorization: Basic {}\r\n", basic(t)))
        .unwrap_or_default();
    raw(
        port,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n"),
    )
}

#[test]
fn curl_gets_the_vaults_key_injected_and_never_sees_it() {
    let p = start(&[], "");
    let ca = p.ca.display().to_string();
    let out = curl(
        &p,
        Some(&p.token),
        &[
            "--cacert",
            &ca,
            "-H",
            "Authorization: Bearer fake-key-of-the-tool",
            "-H",
            "X-Trace: kept",
            "https://api.openai.com/v1/models?limit=2",
        ],
    );
    assert_eq!(out.code, 0, "curl: {}", out.stderr);
    let received = p.upstream.requests();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/v1/models?limit=2");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", p.key).as_str())
    );
    assert_eq!(r.header("x-trace"), Some("kept"));
    assert!(!r.all_text().contains("fake-key-of-the-tool"));
    assert!(!r.all_text().contains(&p.token));
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(&p.key), "the key reached curl: {text}");
    }
    // Audited as a proxy call of the token (the server writes its events in the background).
    let audit = audit_until(&p, "token:tool,proxy");
    assert!(audit.contains("token:tool,proxy"), "{audit}");
}

#[test]
fn one_connect_serves_several_requests() {
    let p = start(&[], "");
    let ca = p.ca.display().to_string();
    let out = curl(
        &p,
        Some(&p.token),
        &[
            "-v",
            "--cacert",
            &ca,
            "https://api.openai.com/v1/models",
            "https://api.openai.com/v1/models/gpt-x",
        ],
    );
    assert_eq!(out.code, 0, "curl: {}", out.stderr);
    assert_eq!(
        out.stderr.matches("> CONNECT ").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(p.upstream.requests().len(), 2);
    assert!(!out.stdout.contains(&p.key) && !out.stderr.contains(&p.key));
}

/// A `CONNECT` tunnel to api.openai.com through the proxy with `token`, TLS verified against
/// the exported CA (`openssl s_client`): requests are written to `stdin`, answers read from
/// `stdout`.
struct Tunnel {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Tunnel {
    fn open(p: &Proxied, token: &str) -> Tunnel {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-proxy",
                &format!("127.0.0.1:{}", p.port),
                "-proxy_user",
                "aivault",
                "-proxy_pass",
                &format!("pass:{token}"),
                "-connect",
                "api.openai.com:443",
                "-servername",
                "api.openai.com",
                "-CAfile",
                &p.ca.display().to_string(),
                "-verify_return_error",
                "-quiet",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Tunnel {
            child,
            stdin,
            stdout,
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one chunked answer from `r`: (status line, body text).
fn read_chunked(r: &mut impl BufRead) -> (String, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    let mut chunked = false;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        chunked |= line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked");
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim(), 16).expect("hex size");
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).expect("chunk");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let _ = r.read_to_end(&mut body);
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_token_revoked_while_its_tunnel_is_open_is_refused_on_the_next_request() {
    let p = start(&[], "");
    let mut tunnel = Tunnel::open(&p, &p.token);
    let (stdin, stdout) = (&mut tunnel.stdin, &mut tunnel.stdout);
    let request = "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n";
    stdin.write_all(request.as_bytes()).expect("first request");
    let (status, _) = read_chunked(stdout);
    assert!(status.contains(" 200 "), "{status}");
    p.env.run(&["token", "revoke", "tool"]).ok();
    // The same tunnel, after the revocation: refused, and the tunnel closed.
    stdin.write_all(request.as_bytes()).expect("second request");
    let (status, body) = read_chunked(stdout);
    assert!(status.contains(" 403 "), "{status} {body}");
    assert!(body.contains("unauthorized"), "{body}");
    assert_eq!(p.upstream.requests().len(), 1);
}

#[test]
fn a_host_header_other_than_the_connect_host_is_refused_inside_the_tunnel() {
    let p = start(&[], "");
    let mut tunnel = Tunnel::open(&p, &p.token);
    tunnel
        .stdin
        .write_all(b"GET /v1/models HTTP/1.1\r\nHost: evil.example.com\r\n\r\n")
        .expect("request");
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if tunnel.stdout.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut body = String::new();
    let _ = tunnel.stdout.read_to_string(&mut body);
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(
        body.contains("invalid_input") && body.contains("Host"),
        "{body}"
    );
    assert!(p.upstream.requests().is_empty());
}

#[test]
fn an_answer_to_head_has_no_body_framing_and_the_connection_stays_usable() {
    let p = start(&[], "");
    p.env
        .run(&[
            "capability",
            "create",
            "acme/models-head",
            "--credential",
            "openai",
            "--method",
            "HEAD",
            "--path",
            "/v1/models",
        ])
        .ok();
    let token = p
        .env
        .create_token("head", &["acme/models-head", "openai/models"]);
    let mut tunnel = Tunnel::open(&p, &token);
    let (stdin, stdout) = (&mut tunnel.stdin, &mut tunnel.stdout);
    stdin
        .write_all(
            b"HEAD /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
        )
        .expect("requests");
    let mut head = String::new();
    loop {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let framed = head
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") || l.starts_with("content-length:"));
    assert!(!framed, "{head}");
    // The next answer on the same connection starts right after that head.
    let (status, body) = read_chunked(stdout);
    assert!(status.starts_with("HTTP/1.1 200 "), "{status:?}");
    assert!(!body.contains(&p.key), "{body}");
    let methods: Vec<String> = p
        .upstream
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}

#[test]
fn a_flood_of_made_up_tokens_is_audited_in_bounded_bursts_and_counted() {
    let p = start(&[], "");
    let forged = format!("avt_{}", "Q".repeat(43));
    let began = std::time::Instant::now();
    let attempts = 60;
    for _ in 0..attempts {
        let (status, _, _) = connect(p.port, "api.openai.com:443", Some(&forged));
        assert_eq!(status, 407);
    }
    let seconds = began.elapsed().as_secs() + 1;
    std::thread::sleep(Duration::from_millis(1100));
    let (status, _, _) = connect(p.port, "api.openai.com:443", Some(&forged));
    assert_eq!(status, 407);
    let audit = audit_until(&p, "more held back");
    let events: Vec<serde_json::Value> = serde_json::from_str(&audit).expect("audit JSON");
    let notes: Vec<String> = events
        .iter()
        .filter(|e| e["kind"] == "token.refused")
        .filter_map(|e| e["note"].as_str().map(String::from))
        .filter(|n| n.contains("unknown token"))
        .collect();
    assert!(
        notes.len() as u64 <= 10 * (seconds + 1) && notes.len() < attempts,
        "{} events for {attempts} attempts in {seconds} s",
        notes.len()
    );
    // Every attempt is either an event or counted in one.
    let held: u64 = notes
        .iter()
        .filter_map(|n| {
            n.split("(and ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(notes.len() as u64 + held, attempts as u64 + 1, "{notes:?}");
    assert!(!audit.contains(&forged));
}

#[test]
fn callers_without_a_good_token_get_407() {
    let p = start(&[], "");
    let (status, head, _) = connect(p.port, "api.openai.com:443", None);
    assert_eq!(status, 407, "{head}");
    assert!(
        head.contains("Proxy-Authenticate: Basic realm=\"aivault\""),
        "{head}"
    );
    let wrong = format!("avt_{}", "A".repeat(43));
    let (status, head, body) = connect(p.port, "api.openai.com:443", Some(&wrong));
    assert_eq!(status, 407, "{head}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    // Not Basic, or another user name: 407 too.
    let (status, _, _) = raw(
        p.port,
        &format!(
            "CONNECT api.openai.com:443 HTTP/1.1\r\nProxy-Authorization: Bearer {}\r\n\r\n",
            p.token
        ),
    );
    assert_eq!(status, 407);
    let other = base64::engine::general_purpose::STANDARD.encode(format!("bob:{}", p.token));
    let (status, _, _) = raw(
        p.port,
        &format!(
            "CONNECT api.openai.com:443 HTTP/1.1\r\nProxy-Authorization: Basic {other}\r\n\r\n"
        ),
    );
    assert_eq!(status, 407);
    // curl sees the 407 too, and nothing reached the upstream.
    let out = curl(
        &p,
        None,
        &[
            "--cacert",
            &p.ca.display().to_string(),
            "https://api.openai.com/v1/models",
        ],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("407"), "{}", out.stderr);
    assert!(p.upstream.requests().is_empty());
}

#[test]
fn hosts_methods_and_paths_outside_the_token_get_403() {
    let p = start(&[], "");
    // A host no capability of the token names (before any TLS).
    let (status, _, body) = connect(p.port, "api.anthropic.com:443", Some(&p.token));
    assert_eq!(status, 403);
    let error: serde_json::Value = serde_json::from_str(&body).expect("error JSON");
    assert_eq!(error["error"]["kind"], "unauthorized", "{body}");
    // A method and a path the capability does not allow, inside the tunnel.
    let ca = p.ca.display().to_string();
    for args in [
        vec!["-X", "POST", "-d", "{}", "https://api.openai.com/v1/models"],
        vec!["https://api.openai.com/v1/chat/completions"],
    ] {
        let mut all = vec!["--cacert", ca.as_str(), "-w", "\n%{http_code}"];
        all.extend(args);
        let out = curl(&p, Some(&p.token), &all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let (body, status) = out.stdout.rsplit_once('\n').expect("status line");
        assert_eq!(status, "403", "{}", out.stdout);
        let error: serde_json::Value = serde_json::from_str(body).expect("error JSON");
        assert_eq!(error["error"]["kind"], "unauthorized", "{body}");
    }
    assert!(p.upstream.requests().is_empty());
    // A plain request to the proxy that is no proxy request.
    let (status, _, _) = raw(
        p.port,
        &format!(
            "GET /v1/models HTTP/1.1\r\nProxy-Authorization: Basic {}\r\n\r\n",
            basic(&p.token)
        ),
    );
    assert_eq!(status, 400);
}

#[test]
fn absolute_form_requests_are_routed_like_tunnelled_ones() {
    let p = start(&[], "");
    let out = curl(
        &p,
        Some(&p.token),
        &[
            "-H",
            "Authorization: Bearer fake",
            "http://api.openai.com/v1/models",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let received = p.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {}", p.key).as_str())
    );
    assert!(!out.stdout.contains(&p.key));
}

#[test]
fn passthrough_tunnels_blind_and_never_to_private_addresses() {
    let pki = Pki::new(&["git.example.test"]);
    let other = Upstream::https(&pki, |_r: &aivault_testkit::Recorded| {
        Reply::ok("tunnelled")
    });
    let routes = format!(",git.example.test=127.0.0.1:{}", other.port());
    let p = start(&["--passthrough-host", "*"], &routes);
    // Private and loopback targets are refused, however named.
    for target in [
        "127.0.0.1:22",
        "10.0.0.1:443",
        "169.254.169.254:80",
        "[::1]:443",
        "localhost:22",
    ] {
        let (status, head, _) = connect(p.port, target, Some(&p.token));
        assert_eq!(status, 403, "{target}: {head}");
    }
    // A passthrough host: bytes both ways, the caller's own header as sent, no key.
    let ca = p.env.root.path().join("git-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    let out = curl(
        &p,
        Some(&p.token),
        &[
            "--cacert",
            &ca.display().to_string(),
            "-H",
            "Authorization: Bearer own",
            "https://git.example.test/info/refs",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "tunnelled");
    let received = other.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("authorization"), Some("Bearer own"));
    assert!(!received[0].all_text().contains(&p.key));
    let audit = audit_until(&p, "proxy.passthrough");
    assert!(audit.contains("proxy.passthrough"), "{audit}");
    assert!(audit.contains("host=git.example.test"), "{audit}");
}

#[test]
fn a_server_name_other_than_the_connect_host_is_refused() {
    let p = start(&[], "");
    let proxy = format!("127.0.0.1:{}", p.port);
    let pass = format!("pass:{}", p.token);
    let s_client = |servername: &str| {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-proxy",
                &proxy,
                "-proxy_user",
                "aivault",
                "-proxy_pass",
                &pass,
                "-connect",
                "api.openai.com:443",
                "-servername",
                servername,
                "-CAfile",
                &p.ca.display().to_string(),
                "-verify_return_error",
                "-brief",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, text) = s_client("api.openai.com");
    assert!(ok && text.contains("Verification: OK"), "{text}");
    let (ok, text) = s_client("bank.example.com");
    assert!(!ok, "{text}");
}

#[test]
fn a_host_outside_the_cas_constraints_is_refused_until_rotation() {
    let p = start(&[], "");
    // A capability on a new host, added after the CA was made.
    let id = p.env.create("NEW_KEY", &canary("new"), &[]);
    p.env
        .run(&[
            "credential",
            "create",
            "newco",
            "--provider",
            "newco",
            "--secret-ref",
            &format!("vault:secret:{id}"),
            "--auth",
            "header",
            "--host",
            "api.newco.example",
        ])
        .ok();
    p.env
        .run(&[
            "capability",
            "create",
            "newco/api",
            "--credential",
            "newco",
            "--method",
            "GET",
            "--path",
            "/v1",
        ])
        .ok();
    let token = p.env.create_token("newco", &["newco/api"]);
    let (status, _, body) = connect(p.port, "api.newco.example:443", Some(&token));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("aivault proxy ca --rotate"), "{body}");
    let rotated = p.env.run(&["proxy", "ca", "--rotate"]).ok().stdout;
    assert_ne!(rotated, std::fs::read_to_string(&p.ca).expect("old CA"));
    let (status, _, _) = connect(p.port, "api.newco.example:443", Some(&token));
    assert_eq!(status, 200);
}

#[test]
fn the_exported_ca_carries_name_constraints_and_its_key_is_in_no_file() {
    let p = start(&[], "");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&p.ca)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("X509v3 Name Constraints: critical"), "{text}");
    assert!(text.contains("DNS:api.openai.com"), "{text}");
    assert!(text.contains("DNS:.openai.azure.com"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&p.ca).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    // Use the proxy once so every file the server writes exists.
    let out = curl(
        &p,
        Some(&p.token),
        &[
            "--cacert",
            &p.ca.display().to_string(),
            "https://api.openai.com/v1/models",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // No plaintext ECDSA P-256 PKCS#8 key (its fixed DER prefix, in DER or base64) and no PEM
    // private key anywhere under the test's root (vault, key file, runtime, exports).
    let der_prefix: &[u8] = &[
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01,
        0x04, 0x20,
    ];
    for (path, bytes) in files_under(p.env.root.path()) {
        for needle in [
            der_prefix,
            b"PRIVATE KEY",
            b"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
        ] {
            assert!(
                !contains(&bytes, needle),
                "key material in {}",
                path.display()
            );
        }
    }
    // `proxy ca --out` never writes through a symlink.
    let link = p.env.root.path().join("link.pem");
    std::os::unix::fs::symlink(p.env.root.path().join("target.pem"), &link).expect("symlink");
    p.env
        .run(&["proxy", "ca", "--out", &link.display().to_string()])
        .fails(7, "policy_violation");
    assert!(!p.env.root.path().join("target.pem").exists());
}

#[test]
fn the_socket_protocol_tells_where_the_proxy_is() {
    let p = start(&[], "");
    // A thin client with only the socket and the token.
    let socket = p.env.root.path().join("sock").join("broker.sock");
    let info = aivault_core::remote::client::proxy_info(&socket, &p.token).expect("info");
    assert_eq!(info.address, Some(format!("127.0.0.1:{}", p.port)));
    assert_eq!(
        info.ca_certificate_pem,
        std::fs::read_to_string(&p.ca).expect("ca")
    );
    let err = aivault_core::remote::client::proxy_info(&socket, "avt_wrong").expect_err("bad");
    assert_eq!(err.kind(), aivault_core::ErrorKind::Unauthorized);
}
