//! `aivault invoke | json | markdown | md` and the `capability invoke | call | json | markdown`
//! aliases, run as real `aivault` processes against a loopback HTTPS server that stands in for
//! `api.openai.com` (debug-build `AIVAULT_DEV_RESOLVE` + `AIVAULT_DEV_CA_CERT`). Every test
//! checks the bytes the upstream received, the exit code, stdout and stderr, and ends with a
//! canary sweep: the OPENAI_API_KEY values never appear in any output, the audit log or any
//! file of the vault.

mod common;

use std::cell::RefCell;
use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aivault_testkit::{Pki, Recorded, Reply, Upstream, echo_handler};
use common::{Env, Run, canary, canary_forms, contains, files_under, to_run};
use serde_json::{Value, json};

/// A fixed JSON body (`/v1/models/gpt-fixed`), to compare stdout with byte for byte.
const FIXED: &str = r#"{"object":"model","id":"gpt-fixed","owned_by":"aivault-tests","data":[{"id":"a","ready":true},{"id":"b","ready":false}]}"#;
/// The body of the 404 route (`/v1/models/missing`).
const NOT_FOUND: &str =
    r#"{"error":{"message":"The model 'missing' does not exist","code":"model_not_found"}}"#;
/// A response header value that must never be printed.
const HEADER_MARKER: &str = "hdr-marker-5f3a9c";

/// The fake api.openai.com: a few fixed routes under `/v1/models/`, everything else echoed
/// (method, target, headers and body reflected back, the injected key included).
fn route(req: &Recorded) -> Reply {
    let path = req.target.split('?').next().unwrap_or_default();
    match path {
        "/v1/models/hang-up" => Reply::close(),
        "/v1/models/gpt-fixed" => Reply::json(FIXED).header("x-upstream-marker", HEADER_MARKER),
        "/v1/models/missing" => Reply::status(404)
            .header("content-type", "application/json")
            .header("x-upstream-marker", HEADER_MARKER)
            .body(NOT_FOUND),
        "/v1/models/stream" => Reply::ok("").chunks(
            vec!["first\n", "second\n", "third\n"],
            Duration::from_secs(1),
        ),
        "/v1/models/stream-big" => Reply::ok("").chunks(big_chunks(), Duration::from_secs(1)),
        "/v1/models/slow" => Reply::json(FIXED).delayed(Duration::from_secs(3)),
        // The injected value with every character a `\u00XX` escape, in a value and a key.
        "/v1/models/escaped" => {
            let auth = req.header("authorization").unwrap_or_default();
            let escaped: String = auth
                .chars()
                .map(|c| format!("\\u{:04x}", u32::from(c)))
                .collect();
            Reply::json(format!(r#"{{"auth":"{escaped}","{escaped}":[1],"n":2}}"#))
        }
        // One byte over the default cap of a body read whole.
        "/v1/models/big" => Reply::stream_zeros((64 << 20) + 1),
        _ => echo_handler()(req),
    }
}

/// A vault with OPENAI_API_KEY (a canary) and the loopback upstream routed in for
/// api.openai.com. Records every run's output for the canary sweep.
struct Broker {
    env: Env,
    upstream: Upstream,
    _pki: Pki,
    key: String,
    /// Every secret value stored in the vault (all must stay invisible).
    canaries: RefCell<Vec<String>>,
    /// `(command line, stdout, stderr)` of every run.
    outputs: RefCell<Vec<(String, String, String)>>,
}

impl Broker {
    fn new() -> Broker {
        let pki = Pki::new(&["api.openai.com"]);
        let upstream = Upstream::https(&pki, route);
        let mut env = Env::new();
        env.route_to(&["api.openai.com"], &upstream, &pki);
        let broker = Broker {
            env,
            upstream,
            _pki: pki,
            key: canary("openai"),
            canaries: RefCell::new(Vec::new()),
            outputs: RefCell::new(Vec::new()),
        };
        let key = broker.key.clone();
        let created = broker.add_secret(&key, &["--scope", "global"]);
        assert!(
            created
                .stderr
                .contains("Credential auto-provisioned: openai (17 capabilities enabled)"),
            "{}",
            created.stderr
        );
        broker
    }

    /// `aivault secrets create --name OPENAI_API_KEY --value <value> <extra>`.
    fn add_secret(&self, value: &str, extra: &[&str]) -> Run {
        self.canaries.borrow_mut().push(value.to_string());
        let mut args = vec![
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            value,
        ];
        args.extend_from_slice(extra);
        self.run(&args).ok()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs `aivault args` with extra environment variables, recording its output.
    fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = self.env.command(args);
        for (name, value) in extra {
            cmd.env(name, value);
        }
        let output = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run aivault");
        let run = to_run(output);
        self.record(args, &run.stdout, &run.stderr);
        run
    }

    fn record(&self, args: &[&str], stdout: &str, stderr: &str) {
        self.outputs
            .borrow_mut()
            .push((args.join(" "), stdout.to_string(), stderr.to_string()));
    }

    /// Everything the upstream received so far.
    fn received(&self) -> Vec<Recorded> {
        self.upstream.requests()
    }

    /// The last request the upstream received.
    fn last(&self) -> Recorded {
        self.received()
            .pop()
            .expect("the upstream received a request")
    }

    /// The canary sweep: no stored value, in raw, hex or base64 form, in the stdout or stderr
    /// of any run, in `aivault audit`, or in the bytes of any file under the test's root
    /// (the vault directory, the runtime directory and the test's own input files).
    fn sweep(&self) {
        let audit = self.run(&["audit", "--limit", "100000"]).ok();
        assert!(
            audit.json().as_array().is_some_and(|a| !a.is_empty()),
            "the audit log is empty"
        );
        let files = files_under(self.env.root.path());
        assert!(
            files.iter().any(|(p, _)| p.starts_with(&self.env.dir)),
            "no vault file to scan"
        );
        let canaries = self.canaries.borrow();
        assert!(canaries.contains(&self.key));
        for value in canaries.iter() {
            for form in canary_forms(value) {
                let shown = String::from_utf8_lossy(&form).into_owned();
                for (line, stdout, stderr) in self.outputs.borrow().iter() {
                    assert!(
                        !contains(stdout.as_bytes(), &form),
                        "`{line}` leaked {shown} on stdout:\n{stdout}"
                    );
                    assert!(
                        !contains(stderr.as_bytes(), &form),
                        "`{line}` leaked {shown} on stderr:\n{stderr}"
                    );
                }
                for (path, bytes) in &files {
                    assert!(
                        !contains(bytes, &form),
                        "{} holds {shown} in plaintext",
                        path.display()
                    );
                }
            }
        }
    }
}

/// Asserts a successful run with an empty stderr and returns its stdout parsed as the echo
/// handler's JSON.
fn echoed(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(
        run.stderr, "",
        "a successful invoke prints nothing on stderr"
    );
    run.json()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut haystack: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(haystack, delimiter) {
        out.push(&haystack[..i]);
        haystack = &haystack[i + delimiter.len()..];
    }
    out.push(haystack);
    out
}

/// Parses a received `multipart/form-data` body into `(part head, part bytes)`, checking the
/// framing (RFC 7578 / RFC 2046) on the way.
fn multipart(req: &Recorded) -> Vec<(String, Vec<u8>)> {
    let content_type = req.header("content-type").expect("content-type");
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    assert!(!boundary.is_empty() && boundary.len() <= 70);
    let mut body = b"\r\n".to_vec();
    body.extend_from_slice(&req.body);
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let pieces = split(&body, &delimiter);
    assert!(pieces.len() >= 3, "no parts in {}", req.body_text());
    assert!(pieces[0].is_empty(), "preamble before the first boundary");
    assert_eq!(
        pieces[pieces.len() - 1],
        b"--\r\n",
        "the body must end with the close delimiter"
    );
    pieces[1..pieces.len() - 1]
        .iter()
        .map(|piece| {
            let piece = piece.strip_prefix(b"\r\n").expect("CRLF after boundary");
            let end = find(piece, b"\r\n\r\n").expect("part head");
            (
                String::from_utf8(piece[..end].to_vec()).expect("utf8 head"),
                piece[end + 4..].to_vec(),
            )
        })
        .collect()
}

// -------------------------------------------------------------------------------------------
// 1. Every reference command line, checked at the upstream
// -------------------------------------------------------------------------------------------

/// Proves the defaults and the method/path/header flags of cli.md reach the upstream exactly:
/// the capability's only path, the injected key, `--method`/`-X`, `--path` with a query,
/// repeated `--header NAME=VALUE` (a value may contain `=`), and the full reference command line.
#[test]
fn method_path_and_header_flags_reach_the_upstream() {
    let b = Broker::new();

    // Defaults: the capability's only path, GET (no body), the key injected by the broker.
    let out = echoed(&b.run(&["invoke", "openai/models"]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(req.header("authorization"), Some(bearer(&b.key).as_str()));
    assert_eq!(req.header("host"), Some("api.openai.com"));
    assert!(req.body.is_empty());
    assert_eq!(out["target"], "/v1/models");
    assert_eq!(out["headers"]["authorization"], "[REDACTED]");

    // --method and --path (with a query, kept verbatim).
    echoed(&b.run(&[
        "invoke",
        "openai/models",
        "--method",
        "GET",
        "--path",
        "/v1/models?limit=2&order=desc",
    ]));
    let req = b.last();
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/v1/models?limit=2&order=desc");

    // -X (short) with a lowercase method and a sub-path.
    echoed(&b.run(&[
        "invoke",
        "openai/models",
        "-X",
        "delete",
        "--path",
        "/v1/models/ft-123",
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("DELETE", "/v1/models/ft-123")
    );

    // --header repeated (and -H): each sent once, in addition to the injected auth.
    echoed(&b.run(&[
        "invoke",
        "openai/models",
        "--header",
        "x-trace-id=abc-123",
        "--header",
        "accept=application/json",
        "-H",
        "x-filter=a=b",
    ]));
    let req = b.last();
    assert_eq!(req.header_all("x-trace-id"), vec!["abc-123"]);
    assert_eq!(req.header_all("accept"), vec!["application/json"]);
    assert_eq!(req.header_all("x-filter"), vec!["a=b"]);
    assert_eq!(req.header_all("authorization"), vec![bearer(&b.key)]);

    // The whole reference line at once.
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    echoed(&b.run(&[
        "invoke",
        "openai/chat-completions",
        "--method",
        "POST",
        "--path",
        "/v1/chat/completions",
        "--header",
        "content-type=application/json",
        "--header",
        "x-request-id=r-1",
        "--body",
        body,
        "--credential",
        "openai",
        "--timeout-ms",
        "30000",
        "--stream",
    ]));
    let req = b.last();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat/completions");
    assert_eq!(req.body, body.as_bytes());
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-request-id"), Some("r-1"));
    assert_eq!(req.header("authorization"), Some(bearer(&b.key).as_str()));
    b.sweep();
}

/// Proves the body flags send exactly the given bytes: `--body` (method defaults to POST when
/// GET and POST are allowed), `--body-file-path` with every byte value (not UTF-8), and
/// `--multipart-field`/`--multipart-file` as a well-formed multipart body with the file's
/// exact bytes, its name and a content type from its extension.
#[test]
fn body_flags_send_exact_bytes() {
    let b = Broker::new();

    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"héllo \"x\""}]}"#;
    echoed(&b.run(&[
        "invoke",
        "openai/chat-completions",
        "--body",
        body,
        "-H",
        "content-type=application/json",
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(req.body, body.as_bytes());
    assert_eq!(
        req.header("content-length"),
        Some(body.len().to_string().as_str())
    );

    // --body-file-path: binary bytes, sent unchanged.
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice(b"\r\n--not-a-boundary\r\n\0tail");
    let file = b.env.root.path().join("payload.bin");
    std::fs::write(&file, &bytes).expect("write");
    let run = b.run(&[
        "invoke",
        "openai/embeddings",
        "--body-file-path",
        file.to_str().expect("utf8"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/embeddings")
    );
    assert_eq!(req.body, bytes, "the file's bytes, unchanged");

    // Multipart: two text fields and a binary file.
    let audio: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let talk = b.env.root.path().join("talk.mp3");
    std::fs::write(&talk, &audio).expect("write");
    let file_arg = format!("file={}", talk.display());
    echoed(&b.run(&[
        "invoke",
        "openai/transcription",
        "--multipart-field",
        "model=whisper-1",
        "--multipart-field",
        "prompt=a=b c",
        "--multipart-file",
        &file_arg,
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/audio/transcriptions")
    );
    assert_eq!(
        req.header("content-length"),
        Some(req.body.len().to_string().as_str())
    );
    let parts = multipart(&req);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0].0, "Content-Disposition: form-data; name=\"model\"");
    assert_eq!(parts[0].1, b"whisper-1");
    assert_eq!(
        parts[1].0,
        "Content-Disposition: form-data; name=\"prompt\""
    );
    assert_eq!(parts[1].1, b"a=b c");
    assert_eq!(
        parts[2].0,
        "Content-Disposition: form-data; name=\"file\"; filename=\"talk.mp3\"\r\nContent-Type: audio/mpeg"
    );
    assert_eq!(parts[2].1, audio, "the file's bytes, unchanged");
    b.sweep();
}

/// Proves `--request JSON` (bare and inside `{"request": ..}`) and `--request-file F` build the
/// request the envelope describes: method, path, headers, a JSON body serialized compactly
/// with `content-type: application/json`, a text body as is, and a multipart envelope.
#[test]
fn request_envelopes_build_the_described_request() {
    let b = Broker::new();

    echoed(&b.run(&[
        "invoke",
        "openai/chat-completions",
        "--request",
        r#"{"method":"POST","path":"/v1/chat/completions","headers":{"x-from":"envelope"},"body":{"model":"m","n":1}}"#,
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(req.header("x-from"), Some("envelope"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.body_text(), r#"{"model":"m","n":1}"#);
    assert_eq!(req.header("authorization"), Some(bearer(&b.key).as_str()));

    // The broker's own envelope shape, `{"request": {...}}`, and a flag winning over it.
    echoed(&b.run(&[
        "invoke",
        "openai/models",
        "--request",
        r#"{"request":{"method":"GET","path":"/v1/models?limit=1"}}"#,
        "--path",
        "/v1/models/gpt-x",
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("GET", "/v1/models/gpt-x")
    );

    // --request-file with a text body (sent as is, no content type invented).
    let file = b.env.root.path().join("request.json");
    std::fs::write(
        &file,
        r#"{"method":"POST","path":"/v1/embeddings","headers":{"content-type":"text/plain"},"body":"plain text body"}"#,
    )
    .expect("write");
    echoed(&b.run(&[
        "invoke",
        "openai/embeddings",
        "--request-file",
        file.to_str().expect("utf8"),
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/embeddings")
    );
    assert_eq!(req.header_all("content-type"), vec!["text/plain"]);
    assert_eq!(req.body, b"plain text body");

    // --request-file with a multipart envelope.
    let image = b.env.root.path().join("pic.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\nfake").expect("write");
    std::fs::write(
        &file,
        json!({"multipart": {"prompt": "a cat", "image": {"file": image}}}).to_string(),
    )
    .expect("write");
    // A file part in request JSON needs the operator's explicit flag.
    let before = b.received().len();
    b.run(&[
        "invoke",
        "openai/image-generation",
        "--path",
        "/v1/images/edits",
        "--request-file",
        file.to_str().expect("utf8"),
    ])
    .fails(2, "invalid_input");
    assert_eq!(b.received().len(), before, "nothing sent");
    echoed(&b.run(&[
        "invoke",
        "openai/image-generation",
        "--path",
        "/v1/images/edits",
        "--request-file",
        file.to_str().expect("utf8"),
        "--allow-file-references",
    ]));
    let req = b.last();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/images/edits")
    );
    let parts = multipart(&req);
    let image_part = parts
        .iter()
        .find(|(head, _)| head.contains("name=\"image\""))
        .expect("image part");
    assert!(
        image_part.0.contains("filename=\"pic.png\""),
        "{}",
        image_part.0
    );
    assert!(
        image_part.0.contains("Content-Type: image/png"),
        "{}",
        image_part.0
    );
    assert_eq!(image_part.1, b"\x89PNG\r\n\x1a\nfake");
    let prompt = parts
        .iter()
        .find(|(head, _)| head.contains("name=\"prompt\""))
        .expect("prompt part");
    assert_eq!(prompt.1, b"a cat");
    b.sweep();
}

/// Proves `--credential` selects the credential (and an unknown one is refused before any
/// request), and `--workspace-id`/`--group-id` select the secret of that context: a
/// workspace-scoped key is used only for that workspace, a group key only for that group,
/// everyone else keeps the global key.
#[test]
fn credential_and_context_select_the_key() {
    let b = Broker::new();
    let ws_key = canary("ws");
    let group_key = canary("group");
    b.add_secret(
        &ws_key,
        &["--scope", "workspace", "--workspace-id", "my-workspace"],
    );
    b.add_secret(
        &group_key,
        &[
            "--scope",
            "group",
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "my-group",
        ],
    );

    let auth_for = |args: &[&str]| -> String {
        let mut full = vec!["invoke", "openai/models"];
        full.extend_from_slice(args);
        echoed(&b.run(&full));
        b.last()
            .header("authorization")
            .expect("authorization")
            .to_string()
    };
    assert_eq!(auth_for(&[]), bearer(&b.key));
    assert_eq!(auth_for(&["--credential", "openai"]), bearer(&b.key));
    assert_eq!(
        auth_for(&["--workspace-id", "my-workspace"]),
        bearer(&ws_key)
    );
    assert_eq!(
        auth_for(&["--workspace-id", "my-workspace", "--group-id", "my-group"]),
        bearer(&group_key)
    );
    assert_eq!(
        auth_for(&[
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "other-group"
        ]),
        bearer(&ws_key)
    );
    assert_eq!(
        auth_for(&["--workspace-id", "other-workspace"]),
        bearer(&b.key)
    );

    let before = b.received().len();
    b.run(&[
        "invoke",
        "openai/models",
        "--credential",
        "no-such-credential",
    ])
    .fails(9, "credential_not_found");
    assert_eq!(b.received().len(), before, "nothing was sent");
    b.sweep();
}

/// Proves `--timeout-ms` bounds the whole call: 300 ms against a reply delayed 3 s fails
/// with `upstream_error` (exit 12) well before the reply, while a generous timeout succeeds;
/// and `--stream` on a plain body writes exactly that body.
#[test]
fn timeout_and_stream_flags() {
    let b = Broker::new();
    let started = Instant::now();
    b.run(&[
        "invoke",
        "openai/models",
        "--path",
        "/v1/models/slow",
        "--timeout-ms",
        "300",
    ])
    .fails(12, "upstream_error");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the timeout did not cut the call short: {:?}",
        started.elapsed()
    );

    let run = b
        .run(&[
            "invoke",
            "openai/models",
            "--path",
            "/v1/models/slow",
            "--timeout-ms",
            "20000",
        ])
        .ok();
    assert_eq!(run.stdout, FIXED);

    let run = b
        .run(&[
            "invoke",
            "openai/models",
            "--path",
            "/v1/models/gpt-fixed",
            "--stream",
        ])
        .ok();
    assert_eq!(run.stdout, FIXED);
    assert_eq!(b.last().target, "/v1/models/gpt-fixed");
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 2. Output modes and aliases
// -------------------------------------------------------------------------------------------

/// Proves `invoke` prints exactly the upstream body (no newline added, no header), `json`
/// prints exactly `{"planned":{capability,credential,method,url},"response":{status,json}}`,
/// `markdown`/`md` render the JSON body, and every `capability` alias prints the same bytes
/// with the same exit code as its top-level command.
#[test]
fn output_modes_and_aliases() {
    let b = Broker::new();
    let path = ["--path", "/v1/models/gpt-fixed"];
    let with = |cmd: &[&str]| -> Run {
        let mut args = cmd.to_vec();
        args.push("openai/models");
        args.extend_from_slice(&path);
        b.run(&args)
    };

    let body = with(&["invoke"]).ok();
    assert_eq!(body.stdout, FIXED, "exactly the upstream body");
    assert_eq!(body.stderr, "");

    let shown = with(&["json"]).ok();
    assert_eq!(shown.stderr, "");
    assert_eq!(
        shown.json(),
        json!({
            "planned": {
                "capability": "openai/models",
                "credential": "openai",
                "method": "GET",
                "url": "https://api.openai.com/v1/models/gpt-fixed",
            },
            "response": {
                "status": 200,
                "json": serde_json::from_str::<Value>(FIXED).expect("json"),
            },
        })
    );

    let md = with(&["markdown"]).ok();
    assert_eq!(md.stderr, "");
    for line in [
        "- **object**: model",
        "- **id**: gpt-fixed",
        "- **owned_by**: aivault-tests",
        "- **data**:",
        "  1.",
        "    - **id**: a",
        "    - **ready**: true",
        "  2.",
        "    - **id**: b",
        "    - **ready**: false",
    ] {
        assert!(
            md.stdout.lines().any(|l| l == line),
            "markdown lacks {line:?}:\n{}",
            md.stdout
        );
    }
    assert!(
        !md.stdout.contains('{'),
        "rendered, not raw JSON:\n{}",
        md.stdout
    );
    assert!(md.stdout.ends_with('\n'));

    for (alias, reference) in [
        (&["md"][..], &md),
        (&["capability", "invoke"][..], &body),
        (&["capability", "call"][..], &body),
        (&["capability", "json"][..], &shown),
        (&["capability", "markdown"][..], &md),
        (&["capability", "md"][..], &md),
    ] {
        let run = with(alias);
        assert_eq!(run.code, reference.code, "{alias:?}: {}", run.stderr);
        assert_eq!(run.stdout, reference.stdout, "{alias:?}");
        assert_eq!(run.stderr, reference.stderr, "{alias:?}");
    }

    // Upstream response headers are never printed, in any mode.
    for (line, stdout, stderr) in b.outputs.borrow().iter() {
        assert!(
            !stdout.contains(HEADER_MARKER) && !stderr.contains(HEADER_MARKER),
            "`{line}` printed a response header"
        );
    }
    assert_eq!(
        b.received()
            .iter()
            .filter(|r| r.target == "/v1/models/gpt-fixed")
            .count(),
        9,
        "each of the 9 runs made exactly one call"
    );
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 3. Upstream status
// -------------------------------------------------------------------------------------------

/// Proves an upstream 404 is never lost: `invoke` exits 0 with the body, `--fail` exits 12
/// with one `error[upstream_error]` line naming the status (body still printed), `json`
/// carries `"status": 404` (with and without `--fail`), and markdown renders the error body.
#[test]
fn upstream_status_is_never_lost() {
    let b = Broker::new();
    let missing = ["openai/models", "--path", "/v1/models/missing"];
    let with = |cmd: &[&str]| -> Run {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&missing);
        b.run(&args)
    };

    let run = with(&["invoke"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, NOT_FOUND);
    assert_eq!(run.stderr, "");

    let run = with(&["invoke", "--fail"]).fails(12, "upstream_error");
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    assert_eq!(run.stdout, NOT_FOUND, "the body is still printed");

    let run = with(&["json"]).ok();
    let shown = run.json();
    assert_eq!(shown["response"]["status"], 404);
    assert_eq!(
        shown["response"]["json"]["error"]["code"],
        "model_not_found"
    );
    assert_eq!(
        shown["planned"]["url"],
        "https://api.openai.com/v1/models/missing"
    );

    let run = with(&["json", "--fail"]).fails(12, "upstream_error");
    assert_eq!(run.json()["response"]["status"], 404);

    let run = with(&["md"]).ok();
    assert!(
        run.stdout.contains("- **code**: model_not_found"),
        "{}",
        run.stdout
    );

    let run = with(&["invoke", "--stream", "--fail"]).fails(12, "upstream_error");
    assert_eq!(run.stdout, NOT_FOUND);
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 4. Streaming
// -------------------------------------------------------------------------------------------

/// What a streamed run looked like from the reading side.
struct Timed {
    /// When the first `n` bytes of stdout had arrived.
    first_at: Duration,
    /// Those bytes.
    first: String,
    /// Everything stdout carried.
    all: String,
    /// When stdout closed and the process had exited.
    total: Duration,
    code: i32,
}

/// Runs `args` with stdout piped and times the arrival of its first `n` bytes.
fn time_first_bytes(b: &Broker, args: &[&str], n: usize) -> Timed {
    let started = Instant::now();
    let mut child = b.env.spawn(args, &[]);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = vec![0u8; n];
    stdout.read_exact(&mut first).expect("read");
    let first_at = started.elapsed();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("read");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    let status = child.wait().expect("wait");
    let total = started.elapsed();
    let first = String::from_utf8(first).expect("utf8");
    let all = format!("{first}{}", String::from_utf8(rest).expect("utf8"));
    b.record(args, &all, &stderr);
    Timed {
        first_at,
        first,
        all,
        total,
        code: status.code().unwrap_or(-1),
    }
}

/// Proves `--stream` writes the body as it arrives: the upstream sends `first\n`, `second\n`,
/// `third\n` 1 s apart; the first line must reach the reader within 1.5 s and at least 1.5 s
/// before the process exits. Without `--stream` the same body comes out only at the end (so
/// the test tells the two apart).
#[test]
fn stream_writes_the_body_as_it_arrives() {
    let b = Broker::new();
    let args = ["invoke", "openai/models", "--path", "/v1/models/stream"];
    let mut streamed = args.to_vec();
    streamed.push("--stream");

    let run = time_first_bytes(&b, &streamed, "first\n".len());
    assert_eq!(run.code, 0);
    assert_eq!(run.first, "first\n");
    assert_eq!(run.all, "first\nsecond\nthird\n");
    assert!(
        run.total >= Duration::from_secs(2),
        "whole call took {:?}",
        run.total
    );
    assert!(
        run.first_at < Duration::from_millis(1500)
            && run.total - run.first_at >= Duration::from_millis(1500),
        "the first line came at {:?}, the process ended at {:?}: not streamed",
        run.first_at,
        run.total
    );

    let run = time_first_bytes(&b, &args, "first\n".len());
    assert_eq!(run.code, 0);
    assert_eq!(run.all, "first\nsecond\nthird\n");
    assert!(
        run.total - run.first_at < Duration::from_millis(500),
        "without --stream the body is written at the end ({:?} of {:?})",
        run.first_at,
        run.total
    );

    // json and markdown need the whole body: --stream is refused before any call.
    let before = b.received().len();
    b.run(&["json", "openai/models", "--stream"])
        .fails(2, "invalid_input");
    assert_eq!(b.received().len(), before);
    b.sweep();
}

/// Proves the CLI side of `--stream` with chunks larger than the broker's redaction
/// look-behind (16 KiB each, 1 s apart): the first KiB reaches the reader long before the
/// process exits, and the whole body arrives intact.
#[test]
fn stream_writes_large_chunks_as_they_arrive() {
    let b = Broker::new();
    let run = time_first_bytes(
        &b,
        &[
            "invoke",
            "openai/models",
            "--path",
            "/v1/models/stream-big",
            "--stream",
        ],
        1024,
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.all, big_chunks().concat());
    assert!(
        run.total >= Duration::from_secs(2),
        "whole call took {:?}",
        run.total
    );
    assert!(
        run.first_at < Duration::from_millis(1500)
            && run.total - run.first_at >= Duration::from_millis(1500),
        "the first KiB came at {:?}, the process ended at {:?}: not streamed",
        run.first_at,
        run.total
    );
    b.sweep();
}

/// Proves a reader that goes away mid-stream (`aivault invoke --stream ... | head -c 1024`)
/// ends the process quietly (exit 0, nothing on stderr) and the call is still audited.
#[test]
fn stream_reader_going_away_still_audits_the_call() {
    let b = Broker::new();
    let args = [
        "invoke",
        "openai/models",
        "--path",
        "/v1/models/stream-big",
        "--stream",
    ];
    let mut child = b.env.spawn(&args, &[]);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = vec![0u8; 1024];
    stdout.read_exact(&mut first).expect("read");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    let run = to_run(output);
    b.record(&args, &String::from_utf8_lossy(&first), &run.stderr);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let audit = b.run(&["audit", "--kind", "capability.invoke"]).ok().json();
    let events = audit.as_array().expect("events");
    assert_eq!(events.len(), 1, "the call left no audit event: {audit:#}");
    let note = events[0]["note"].as_str().expect("note");
    assert!(note.contains("status=200"), "{note}");
    b.sweep();
}

/// Three 16 KiB lines.
fn big_chunks() -> Vec<String> {
    ["first", "second", "third"]
        .iter()
        .map(|word| format!("{word} {}\n", "x".repeat(16 * 1024 - word.len() - 2)))
        .collect()
}

// -------------------------------------------------------------------------------------------
// 5. Rate limit across processes
// -------------------------------------------------------------------------------------------

/// Proves the rate limit is shared by separate processes: with 2 calls per minute, two
/// `invoke` processes succeed, the third fails with `rate_limited` (exit 11) without reaching
/// the upstream, which received exactly 2 requests; other capabilities are not limited.
#[test]
fn rate_limit_holds_across_processes() {
    let b = Broker::new();
    b.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "openai/models",
        "--rate-limit-per-minute",
        "2",
    ])
    .ok();
    echoed(&b.run(&["invoke", "openai/models"]));
    echoed(&b.run(&["invoke", "openai/models"]));
    let run = b
        .run(&["invoke", "openai/models"])
        .fails(11, "rate_limited");
    assert!(run.stdout.is_empty());
    assert_eq!(b.received().len(), 2, "the refused call never left");
    // `json` counts against the same limit.
    b.run(&["json", "openai/models"]).fails(11, "rate_limited");
    assert_eq!(b.received().len(), 2);
    // Another capability is unaffected.
    echoed(&b.run(&["invoke", "openai/files"]));
    assert_eq!(b.received().len(), 3);
    b.sweep();
}

/// A rate limit of 0 denies every call (as in the original tool): `policy set` accepts it,
/// every mode fails with `rate_limited` (exit 11) naming the policy, and nothing is sent;
/// raising the limit lets calls through again.
#[test]
fn rate_limit_zero_denies_every_call() {
    let b = Broker::new();
    b.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "openai/models",
        "--rate-limit-per-minute",
        "0",
    ])
    .ok();
    for mode in ["invoke", "json", "markdown"] {
        let run = b.run(&[mode, "openai/models"]).fails(11, "rate_limited");
        assert!(run.stderr.contains("denies every call"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert!(b.received().is_empty(), "a denied call never left");
    b.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "openai/models",
        "--rate-limit-per-minute",
        "1",
    ])
    .ok();
    echoed(&b.run(&["invoke", "openai/models"]));
    assert_eq!(b.received().len(), 1);
    b.sweep();
}

/// Proves a one-shot process commits its call's audit event before it exits (the CLI writes it
/// inline on its own connection), whatever the outcome: a success, an upstream that hangs up
/// without answering, and a call refused by the rate limit are each in `aivault audit` read by
/// a later process, in order.
#[test]
fn every_one_shot_call_is_audited_after_exit() {
    let b = Broker::new();
    b.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "openai/models",
        "--rate-limit-per-minute",
        "2",
    ])
    .ok();
    echoed(&b.run(&["invoke", "openai/models"]));
    let hung_up = b.run(&["invoke", "openai/models", "--path", "/v1/models/hang-up"]);
    assert_ne!(hung_up.code, 0, "{}", hung_up.stderr);
    b.run(&["invoke", "openai/models"])
        .fails(11, "rate_limited");
    let audit = b.run(&["audit", "--kind", "capability.invoke"]).ok().json();
    let events = audit.as_array().expect("events");
    let notes: Vec<&str> = events
        .iter()
        .map(|e| e["note"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(events.len(), 3, "a call left no audit event: {notes:?}");
    assert!(notes.iter().any(|n| n.contains("status=200")), "{notes:?}");
    b.sweep();
}

/// Proves the limit holds under concurrency: 6 processes started at once against a limit of
/// 2 per minute yield exactly 2 successes, 4 `rate_limited` failures and 2 upstream requests.
#[test]
fn rate_limit_holds_for_concurrent_processes() {
    let b = Broker::new();
    b.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "openai/files",
        "--rate-limit-per-minute",
        "2",
    ])
    .ok();
    let args = ["invoke", "openai/files"];
    let children: Vec<_> = (0..6).map(|_| b.env.spawn(&args, &[])).collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| to_run(c.wait_with_output().expect("wait")))
        .collect();
    for run in &runs {
        b.record(&args, &run.stdout, &run.stderr);
    }
    let ok = runs.iter().filter(|r| r.code == 0).count();
    let limited: Vec<&Run> = runs.iter().filter(|r| r.code == 11).collect();
    assert_eq!((ok, limited.len()), (2, 4), "{runs:?}");
    for run in limited {
        assert!(
            run.stderr.starts_with("error[rate_limited]: "),
            "{}",
            run.stderr
        );
    }
    assert_eq!(b.received().len(), 2);
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 6. Errors
// -------------------------------------------------------------------------------------------

/// Proves each refusal has its exit code and exactly one `error[kind]` line on stderr, prints
/// nothing on stdout, and (except the refused connection) sends nothing upstream.
#[test]
fn errors_have_their_exit_codes() {
    let b = Broker::new();
    let body_file = b.env.root.path().join("body.txt");
    std::fs::write(&body_file, "x").expect("write");
    let body_file = body_file.to_str().expect("utf8");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["invoke", "openai/no-such-capability"],
            8,
            "capability_not_found",
        ),
        (vec!["json", "nope/nothing"], 8, "capability_not_found"),
        (
            vec!["invoke", "openai/models", "--path", "/v1/files"],
            7,
            "policy_violation",
        ),
        (
            vec!["invoke", "openai/models", "--path", "/v1/modelsx"],
            7,
            "policy_violation",
        ),
        (
            vec!["invoke", "openai/models", "-X", "POST"],
            7,
            "policy_violation",
        ),
        (
            vec![
                "invoke",
                "openai/models",
                "--header",
                "Authorization=Bearer sk-mine",
            ],
            7,
            "policy_violation",
        ),
        (
            vec!["invoke", "openai/models", "--header", "x-no-equals-sign"],
            2,
            "invalid_input",
        ),
        (
            vec!["invoke", "openai/models", "--header", "=value"],
            2,
            "invalid_input",
        ),
        (
            vec![
                "invoke",
                "openai/embeddings",
                "--body",
                "x",
                "--body-file-path",
                body_file,
            ],
            2,
            "invalid_input",
        ),
        (
            vec!["invoke", "openai/models", "--request", "not json"],
            2,
            "invalid_input",
        ),
        (
            vec![
                "invoke",
                "openai/models",
                "--request",
                r#"{"url":"https://evil.example/"}"#,
            ],
            2,
            "invalid_input",
        ),
        (
            vec![
                "invoke",
                "openai/embeddings",
                "--body-file-path",
                "/no/such/file",
            ],
            13,
            "io",
        ),
    ];
    for (args, code, kind) in &cases {
        let run = b.run(args).fails(*code, kind);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    assert!(
        b.received().is_empty(),
        "no refused call reached the upstream"
    );

    // Connection refused: route api.openai.com to a port nobody listens on.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let route = format!("api.openai.com=127.0.0.1:{port}");
    let run = b
        .run_env(
            &["invoke", "openai/models"],
            &[("AIVAULT_DEV_RESOLVE", route.as_str())],
        )
        .fails(12, "upstream_error");
    assert_eq!(run.stdout, "");
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 7. Canary sweep
// -------------------------------------------------------------------------------------------

/// Proves the echoed key is redacted in every output mode: the upstream reflects the
/// injected `Bearer <key>` in its body (and in `x-echo-*` headers), every mode shows
/// `[REDACTED]` instead, and the sweep finds the key nowhere (outputs, audit, files).
#[test]
fn echoed_key_is_redacted_in_every_mode() {
    let b = Broker::new();
    for cmd in [
        &["invoke", "openai/models"][..],
        &["invoke", "openai/models", "--stream"],
        &["json", "openai/models"],
        &["markdown", "openai/models"],
        &["md", "openai/models"],
        &["capability", "call", "openai/models"],
        &[
            "invoke",
            "openai/models",
            "--header",
            "x-echo-me=1",
            "--fail",
        ],
    ] {
        let run = b.run(cmd).ok();
        assert!(
            run.stdout.contains("[REDACTED]"),
            "{cmd:?} shows no redaction:\n{}",
            run.stdout
        );
    }
    for req in b.received() {
        assert_eq!(
            req.header("authorization"),
            Some(bearer(&b.key).as_str()),
            "the key did reach the upstream (so the sweep is meaningful)"
        );
    }
    // One audit event per call, streamed or not, each with the upstream status.
    let audit = b.run(&["audit", "--kind", "capability.invoke"]).ok().json();
    let events = audit.as_array().expect("events");
    assert_eq!(events.len(), 7, "{audit:#}");
    for event in events {
        let note = event["note"].as_str().expect("note");
        assert!(
            note.contains("outcome=ok") && note.contains("status=200"),
            "{event:#}"
        );
    }
    b.sweep();
}

// -------------------------------------------------------------------------------------------
// 8. Help
// -------------------------------------------------------------------------------------------

/// Proves `--help` of every invoke command documents its exit codes. (That release builds
/// refuse AIVAULT_DEV_RESOLVE cannot be shown from a debug test binary.)
#[test]
fn invoke_help_documents_exit_codes() {
    let env = Env::new();
    for cmd in [
        &["invoke", "--help"][..],
        &["json", "--help"],
        &["markdown", "--help"],
        &["md", "--help"],
        &["capability", "invoke", "--help"],
        &["capability", "call", "--help"],
        &["capability", "json", "--help"],
        &["capability", "markdown", "--help"],
    ] {
        let run = env.run(cmd).ok();
        for needle in [
            "Exit codes",
            "--fail",
            "0 ",
            "2 invalid_input",
            "7 policy_violation",
            "8 capability_not_found",
            "9 credential_not_found",
            "11 rate_limited",
            "12 upstream_error",
        ] {
            assert!(
                run.stdout.contains(needle),
                "{cmd:?} --help lacks {needle:?}:\n{}",
                run.stdout
            );
        }
    }
}

/// `aivault oauth setup` of cli.md prints the consent URL (RFC 6749 §4.1.1) with a random state,
/// creates no vault, and refuses a non-https authorization endpoint.
#[test]
fn oauth_setup_prints_a_consent_url() {
    let env = Env::new();
    let run = env
        .run(&[
            "oauth",
            "setup",
            "--provider",
            "google",
            "--auth-url",
            "https://accounts.google.com/o/oauth2/v2/auth",
            "--client-id",
            "my-client",
            "--redirect-uri",
            "http://127.0.0.1:8787/callback",
            "--scope",
            "gmail.readonly",
        ])
        .ok();
    let json = run.json();
    let state = json["state"].as_str().expect("state").to_string();
    assert_eq!(state.len(), 32);
    assert_eq!(
        json["consentUrl"],
        format!(
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=my-client\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Fcallback&scope=gmail.readonly&state={state}"
        )
    );
    let with_state = env
        .run(&[
            "oauth",
            "setup",
            "--provider",
            "xero",
            "--auth-url",
            "https://login.xero.com/identity/connect/authorize",
            "--client-id",
            "c",
            "--redirect-uri",
            "https://app.example/cb",
            "--state",
            "fixed",
        ])
        .ok();
    assert_eq!(with_state.json()["state"], "fixed");
    env.run(&[
        "oauth",
        "setup",
        "--provider",
        "x",
        "--auth-url",
        "http://login.example/authorize",
        "--client-id",
        "c",
        "--redirect-uri",
        "https://app.example/cb",
    ])
    .fails(2, "invalid_input");
    assert!(!env.dir.exists(), "oauth setup never creates a vault");
}

/// A locked passphrase vault refuses to invoke with exactly one error line (no audit noise) and
/// sends nothing; with `AIVAULT_PASSPHRASE` the call goes through and its audit event is
/// written by the background writer, which reuses the process's key (no second unlock).
#[test]
fn locked_passphrase_vault_refuses_with_one_line_and_audits_once_unlocked() {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, route);
    let mut env = Env::new();
    env.route_to(&["api.openai.com"], &upstream, &pki);
    env.run_with_stdin(
        &["init", "--provider", "passphrase", "--passphrase-stdin"],
        b"correct horse\n",
    )
    .ok();
    let key = canary("locked");
    env.run(&[
        "secrets",
        "create",
        "--name",
        "OPENAI_API_KEY",
        "--value",
        &key,
    ])
    .ok();
    env.run(&["lock"]).ok();

    let refused = env
        .run(&["invoke", "openai/models"])
        .fails(5, "vault_locked");
    assert!(refused.stdout.is_empty());
    assert!(upstream.requests().is_empty());

    env.set("AIVAULT_PASSPHRASE", "correct horse");
    let run = env.run(&["invoke", "openai/models"]).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(upstream.requests().len(), 1);
    let events = env.audit_kinds(&["--kind", "capability.invoke"]);
    assert_eq!(events, ["capability.invoke"]);
    for text in [&refused.stderr, &run.stdout, &run.stderr] {
        assert!(!text.contains(&key));
    }
}

// -------------------------------------------------------------------------------------------
// 9. Decoded output and the default cap (issue 10)
// -------------------------------------------------------------------------------------------

/// Proves `json` and `markdown` redact what they decode: the upstream writes the echoed
/// `Bearer <key>` with `\u00XX` escapes the byte-level redactor does not list, and neither
/// command prints the key (`invoke` prints the bytes, still escaped). A body over 64 MiB is
/// refused by every buffered mode (`policy_violation`, exit 7) before anything is printed,
/// and streamed by `invoke --stream`.
#[test]
fn decoded_output_is_redacted_and_buffered_output_is_capped() {
    let b = Broker::new();
    let out = b
        .run(&["json", "openai/models", "--path", "/v1/models/escaped"])
        .ok()
        .json();
    assert_eq!(out["response"]["json"]["auth"], "[REDACTED]", "{out:#}");
    assert_eq!(out["response"]["json"]["[REDACTED]"], json!([1]), "{out:#}");
    assert_eq!(out["response"]["json"]["n"], 2);
    for cmd in ["markdown", "md"] {
        let run = b
            .run(&[cmd, "openai/models", "--path", "/v1/models/escaped"])
            .ok();
        assert!(
            run.stdout.contains("- **auth**: [REDACTED]"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains(&b.key), "{}", run.stdout);
    }
    let raw = b
        .run(&["invoke", "openai/models", "--path", "/v1/models/escaped"])
        .ok();
    assert!(raw.stdout.contains("\\u0073\\u006b"), "{}", raw.stdout);

    for cmd in ["invoke", "json", "markdown"] {
        let run = b
            .run(&[cmd, "openai/models", "--path", "/v1/models/big"])
            .fails(7, "policy_violation");
        assert!(
            run.stdout.is_empty(),
            "{cmd} printed {} bytes",
            run.stdout.len()
        );
        assert!(run.stderr.contains("default cap"), "{cmd}: {}", run.stderr);
    }
    let mut cmd = b.env.command(&[
        "invoke",
        "openai/models",
        "--path",
        "/v1/models/big",
        "--stream",
    ]);
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .expect("run aivault");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout.len() as u64, (64 << 20) + 1);
    b.sweep();
}
