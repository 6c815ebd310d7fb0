//! `aivault serve` and the thin client, as real processes: a caller with only the socket and a
//! token (its own environment points at no vault at all) gets exactly what the direct CLI
//! prints; the upstream receives the vault's key; every call outside the token is refused
//! (`unauthorized`, exit 15) and audited; the server survives the faults of its callers and
//! refuses a second server on the same vault.

mod common;

use std::io::Read;
use std::process::{Child, Command};

use common::Env;
use common::served::{Served, start_server};

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn the_thin_client_prints_what_the_direct_cli_prints() {
    let s = Served::start();
    let token = s.token("agent", &[]);
    for args in [
        &["json", "acme/api", "--path", "/v1/ping"][..],
        &["invoke", "acme/api", "--path", "/v1/ping"],
        &["invoke", "acme/api", "--path", "/v1/ping", "--stream"],
        &["markdown", "acme/api", "--path", "/v1/ping"],
        &[
            "invoke", "acme/api", "-X", "POST", "--path", "/v1/echo", "--body", "hello",
        ],
    ] {
        let direct = s.env.run(args).ok();
        let remote = s.client(Some(&token), args).ok();
        // Same output but for what differs per call (the echo of the request's own headers).
        let strip = |text: &str| {
            text.lines()
                .filter(|l| !l.to_ascii_lowercase().contains("x-request-id"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&remote.stdout), strip(&direct.stdout), "{args:?}");
        assert!(!remote.stdout.contains(&s.value) && !remote.stderr.contains(&s.value));
    }
    let received = s.upstream.requests();
    assert_eq!(received.len(), 10);
    for r in &received {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {}", s.value).as_str())
        );
    }
    // The call is audited with the token's name and the caller's uid and pid.
    let invokes = s.audit_notes_at_least("capability.invoke", 10);
    assert_eq!(
        invokes
            .iter()
            .filter(|n| n.contains("caller=token:agent,uid:"))
            .count(),
        5,
        "{invokes:?}"
    );

    // A body file is read by the client, as the client, and sent as bytes.
    let file = s.env.root.path().join("body.txt");
    std::fs::write(&file, b"from a file").expect("write");
    let file_arg = file.display().to_string();
    s.client(
        Some(&token),
        &[
            "invoke",
            "acme/api",
            "-X",
            "POST",
            "--path",
            "/v1/upload",
            "--body-file-path",
            &file_arg,
        ],
    )
    .ok();
    assert_eq!(
        s.upstream.requests().last().expect("sent").body,
        b"from a file"
    );
}

#[test]
fn calls_outside_the_token_are_refused_and_audited() {
    let s = Served::start();
    let token = s.token("agent", &[]);
    let scoped = s.token("scoped", &["--workspace-id", "acme"]);
    let before = s.upstream.requests().len();
    let mut forged = token.clone();
    forged.replace_range(8..9, if &token[8..9] == "x" { "y" } else { "x" });
    let cases: Vec<(Option<&str>, Vec<&str>, &str)> = vec![
        (
            None,
            vec!["invoke", "acme/api", "--path", "/v1/a"],
            "not set",
        ),
        (
            Some(&forged),
            vec!["invoke", "acme/api", "--path", "/v1/a"],
            "unknown token",
        ),
        (
            Some("garbage"),
            vec!["invoke", "acme/api", "--path", "/v1/a"],
            "unknown token",
        ),
        (
            Some(&token),
            vec!["invoke", "acme/other", "--path", "/v2/a"],
            "does not grant",
        ),
        (
            Some(&token),
            vec![
                "invoke",
                "acme/api",
                "--path",
                "/v1/a",
                "--workspace-id",
                "other",
            ],
            "may not set workspace",
        ),
        (
            Some(&scoped),
            vec![
                "invoke",
                "acme/api",
                "--path",
                "/v1/a",
                "--workspace-id",
                "elsewhere",
            ],
            "may not set workspace",
        ),
        (
            Some(&token),
            vec![
                "invoke",
                "acme/api",
                "--path",
                "/v1/a",
                "--consumer",
                "root",
            ],
            "may not set consumer",
        ),
    ];
    for (token, args, why) in &cases {
        let run = s.client(*token, args).fails(15, "unauthorized");
        assert!(run.stderr.contains(why), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    s.env.run(&["token", "revoke", "agent"]).ok();
    let run = s
        .client(Some(&token), &["invoke", "acme/api", "--path", "/v1/a"])
        .fails(15, "unauthorized");
    assert!(run.stderr.contains("revoked"), "{}", run.stderr);
    assert_eq!(
        s.upstream.requests().len(),
        before,
        "a refused call reached the upstream"
    );
    let refused = s.audit_notes("token.refused");
    // Every case but the first (refused by the client itself) and the revoked token.
    assert_eq!(refused.len(), cases.len(), "{refused:?}");
    for note in &refused {
        assert!(!note.contains(&token) && !note.contains(&forged), "{note}");
    }
    // The scoped token works in its own workspace (filled in by the server).
    s.client(Some(&scoped), &["invoke", "acme/api", "--path", "/v1/a"])
        .ok();
}

#[test]
fn the_server_survives_hostile_callers_and_stops_gracefully() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let s = Served::start();
    let token = s.token("agent", &[]);
    // Garbage, an oversized head length, a wrong first frame, a caller that leaves mid-body,
    // and an idle caller: each gets (at most) an error trailer; the server keeps answering.
    let hostile: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0xff, 0xff, 0xff, 0xff, b'H'],
        &[0, 0, 0, 0, b'B'],
        &[0, 0, 0, 2, b'H', b'{'],
    ];
    for bytes in hostile {
        let mut c = UnixStream::connect(&s.socket).expect("connect");
        let _ = c.write_all(bytes);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
    }
    let idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&s.socket).expect("connect"))
        .collect();
    // A body over the server's limit is refused before it is all read.
    let big = s.env.root.path().join("big.bin");
    std::fs::write(&big, vec![b'a'; 65 * 1024 * 1024]).expect("write");
    let big_arg = big.display().to_string();
    let run = s.client(
        Some(&token),
        &[
            "invoke",
            "acme/api",
            "-X",
            "POST",
            "--path",
            "/v1/big",
            "--body-file-path",
            &big_arg,
        ],
    );
    let run = run.fails(7, "policy_violation");
    assert!(run.stderr.contains("exceeds"), "{}", run.stderr);
    // An honest caller is still served while 50 idle connections are open.
    s.client(Some(&token), &["invoke", "acme/api", "--path", "/v1/ok"])
        .ok();
    drop(idle);

    // A second server on the same vault refuses to start, naming the first one's pid.
    let other = s.env.root.path().join("other.sock").display().to_string();
    let second = s
        .env
        .run(&["serve", "--socket", &other])
        .fails(4, "already_exists");
    assert!(
        second.stderr.contains(&format!("pid {}", s.server.id())),
        "{}",
        second.stderr
    );

    // SIGTERM: the server stops, exits 0 and removes its socket.
    let mut s = s;
    sigterm(&s.server);
    let status = s.server.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(!s.socket.exists());
    let mut stderr = String::new();
    if let Some(mut e) = s.server.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(stderr.contains("stopped"), "{stderr}");

    // A stale socket left by a killed server is replaced; the client of a dead server gets
    // `io` (exit 13), never partial output passed off as success.
    let child = start_server(&s.env, &s.socket);
    let mut child = child;
    child.kill().expect("kill");
    child.wait().expect("wait");
    let run = s
        .client(Some(&token), &["invoke", "acme/api", "--path", "/v1/a"])
        .fails(13, "io");
    assert!(run.stdout.is_empty());
    s.server = start_server(&s.env, &s.socket);
    s.client(Some(&token), &["invoke", "acme/api", "--path", "/v1/back"])
        .ok();
}

/// The socket's directory must be this user's and not writable by others; a path that is not
/// a socket is never replaced.
#[test]
fn unsafe_socket_locations_are_refused() {
    let env = Env::new();
    let open_dir = env.root.path().join("open");
    std::fs::create_dir(&open_dir).expect("mkdir");
    std::fs::set_permissions(
        &open_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let sock = open_dir.join("broker.sock").display().to_string();
    let run = env
        .run(&["serve", "--socket", &sock])
        .fails(7, "policy_violation");
    assert!(run.stderr.contains("others may write"), "{}", run.stderr);

    let link = env.root.path().join("link");
    std::os::unix::fs::symlink(env.root.path(), &link).expect("symlink");
    let sock = link.join("broker.sock").display().to_string();
    let run = env
        .run(&["serve", "--socket", &sock])
        .fails(7, "policy_violation");
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);

    let plain = env.root.path().join("private");
    std::fs::create_dir(&plain).expect("mkdir");
    let file = plain.join("broker.sock");
    std::fs::write(&file, b"not a socket").expect("write");
    let sock = file.display().to_string();
    env.run(&["serve", "--socket", &sock])
        .fails(4, "already_exists");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a socket");
}

/// `capability list | describe` through the server show only what the token names.
#[test]
fn list_and_describe_through_the_server_show_only_the_tokens_capabilities() {
    let s = Served::start();
    let token = s.token("agent", &[]);
    let list = s.client(Some(&token), &["capability", "list"]).ok();
    assert!(list.stdout.contains("acme/api"), "{}", list.stdout);
    assert!(!list.stdout.contains("acme/other") && !list.stdout.contains("openai/"));
    let json = s
        .client(Some(&token), &["capability", "list", "-v"])
        .ok()
        .json();
    let ids: Vec<&str> = json["capabilities"]
        .as_array()
        .expect("ready")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["acme/api"]);
    assert_eq!(
        json["registryCapabilities"].as_array().map(Vec::len),
        Some(0)
    );
    let described = s
        .client(Some(&token), &["capability", "describe", "acme/api"])
        .ok()
        .json();
    assert_eq!(described["capability"], "acme/api");
    assert_eq!(described["bindings"].as_array().map(Vec::len), Some(0));
    s.client(Some(&token), &["capability", "describe", "acme/other"])
        .fails(15, "unauthorized");
    s.client(None, &["capability", "list"])
        .fails(15, "unauthorized");
}

/// The library's remote client (what the bindings' remote form wraps): routing among the
/// token's capabilities, and a call that returns the upstream's (sanitized) headers.
#[test]
fn the_remote_client_routes_among_the_tokens_capabilities_and_relays_headers() {
    use aivault_core::remote::{client, wire::Render};
    let s = Served::start();
    let token = s.token("lib", &[]);
    let host = format!("127.0.0.1:{}", s.upstream.port());
    let route = client::route(&s.socket, &token, &host, "GET", "/v1/items?x=1").expect("route");
    assert_eq!(
        (route.capability.as_str(), route.path.as_str()),
        ("acme/api", "/v1/items?x=1")
    );
    let err = client::route(&s.socket, &token, &host, "GET", "/v2/items").expect_err("other");
    assert_eq!(
        err.kind(),
        aivault_core::ErrorKind::CapabilityNotFound,
        "{err}"
    );
    let invocation = aivault_core::Invocation {
        capability: route.capability,
        path: Some(route.path),
        ..aivault_core::Invocation::default()
    };
    let mut response = client::call(&s.socket, &token, &invocation, Render::Body).expect("call");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.contains("json")),
        "{:?}",
        response.headers()
    );
    let mut body = Vec::new();
    while let Some(chunk) = response.next_chunk().expect("chunk") {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("/v1/items?x=1") && !text.contains(&s.value),
        "{text}"
    );
}

/// Faults on either side of a call in flight: a client killed mid-stream leaves the server
/// serving (the call recorded as incomplete); a server killed mid-call leaves the client with
/// `io` (exit 13) and no output passed off as a success.
#[test]
fn calls_in_flight_survive_either_side_dying() {
    use aivault_testkit::Reply;
    use std::io::Read;
    use std::time::Duration;
    let s = Served::start_with(|r: &aivault_testkit::Recorded| {
        if r.target.starts_with("/v1/slow") {
            Reply::ok(Vec::new()).delayed(Duration::from_secs(3))
        } else if r.target.starts_with("/v1/stream") {
            let chunks: Vec<Vec<u8>> = (0..50)
                .map(|i| format!("chunk {i}\n").into_bytes())
                .collect();
            Reply::ok(Vec::new()).chunks(chunks, Duration::from_millis(100))
        } else {
            Reply::ok(b"fine".to_vec())
        }
    });
    let token = s.token("agent", &[]);
    let client = |args: &[&str]| {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AIVAULT_DIR", "/nonexistent/no-vault")
            .env("AIVAULT_SOCKET", &s.socket)
            .env("AIVAULT_TOKEN", &token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    // The client dies after the first chunk of a stream.
    let mut streaming = client(&["invoke", "acme/api", "--path", "/v1/stream", "--stream"])
        .spawn()
        .expect("client");
    let mut first = [0u8; 7];
    streaming
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("first chunk");
    assert_eq!(&first, b"chunk 0");
    streaming.kill().expect("kill");
    streaming.wait().expect("wait");
    let incomplete = s.audit_notes_at_least("capability.invoke", 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut notes = incomplete;
    while !notes
        .iter()
        .any(|n| n.contains("path=/v1/stream") && !n.contains("outcome=ok"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
        notes = s.audit_notes("capability.invoke");
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("path=/v1/stream") && !n.contains("outcome=ok")),
        "{notes:?}"
    );
    let ok = client(&["invoke", "acme/api", "--path", "/v1/after"])
        .output()
        .expect("after");
    assert!(ok.status.success() && ok.stdout == b"fine");

    // The server dies while the upstream takes its time: the client reports `io`.
    let slow = client(&["invoke", "acme/api", "--path", "/v1/slow"])
        .spawn()
        .expect("slow");
    std::thread::sleep(Duration::from_millis(500));
    let mut s = s;
    s.server.kill().expect("kill server");
    s.server.wait().expect("wait server");
    let out = slow.wait_with_output().expect("slow client");
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[io]"));
}

/// `aivault lock` makes a running server drop its keys at once: a passphrase vault's server
/// refuses the next call `vault_locked`, and serves again after `aivault unlock`.
#[test]
fn lock_takes_effect_in_a_running_server() {
    use aivault_testkit::{Upstream, echo_handler};
    let env = Env::new();
    env.run_with_stdin(
        &["init", "--provider", "passphrase", "--passphrase-stdin"],
        b"correct horse\n",
    )
    .ok();
    let upstream = Upstream::http(echo_handler());
    let id = env.create("ACME_TOKEN", "acme-lock-canary-0001", &[]);
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
        "--path",
        "/v1",
    ])
    .ok();
    let token = env
        .run(&["token", "create", "--name", "a", "--capability", "acme/api"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let socket = env.root.path().join("sock").join("broker.sock");
    let mut server = start_server(&env, &socket);
    let call = || {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(["invoke", "acme/api", "--path", "/v1/x"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AIVAULT_DIR", "/nonexistent/no-vault")
            .env("AIVAULT_SOCKET", &socket)
            .env("AIVAULT_TOKEN", &token);
        common::to_run(cmd.output().expect("client"))
    };
    call().ok();
    env.run(&["lock"]).ok();
    call().fails(5, "vault_locked");
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], b"correct horse\n")
        .ok();
    call().ok();
    let _ = server.kill();
    let _ = server.wait();
}

/// SIGTERM stops the server even when its socket file was deleted meanwhile (and stops the
/// gateway's listener too).
#[test]
fn sigterm_stops_a_server_whose_socket_was_deleted() {
    let env = Env::new();
    let socket = env.root.path().join("sock").join("broker.sock");
    let socket_arg = socket.display().to_string();
    let mut server = env.spawn(
        &["serve", "--socket", &socket_arg, "--http", "127.0.0.1:0"],
        &[],
    );
    common::served::wait_for_socket(&socket);
    std::fs::remove_file(&socket).expect("delete the socket");
    sigterm(&server);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = server.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server ignored SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
