//! The remote form of the C ABI against a real `aivault serve` (the debug CLI binary): a vault
//! with a loopback credential that records the Authorization it receives, a token for one
//! capability, and then calls that use only the socket and the token.
#![allow(unsafe_code)] // Calling the C ABI is unsafe by nature.

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use aivault_ffi::boundary::{aivault_last_error, aivault_status, aivault_string_free};
use aivault_ffi::invoke::{
    aivault_response, aivault_response_body, aivault_response_free, aivault_response_headers,
    aivault_response_planned, aivault_response_status,
};
use aivault_ffi::remote::{
    aivault_connect, aivault_remote, aivault_remote_capability_describe,
    aivault_remote_capability_list, aivault_remote_capability_route, aivault_remote_free,
    aivault_remote_invoke,
};
use aivault_testkit::{Upstream, echo_handler};

/// target/<profile>, where cargo puts the CLI binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds the CLI (same profile; cargo holds no lock while tests run) and returns its path.
fn cli() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--locked", "-p", "aivault-cli", "--bin"]);
    command.arg("aivault");
    if target_dir().file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    assert!(command.status().expect("cargo build").success());
    target_dir().join("aivault")
}

/// A vault, its loopback upstream, a running server and a token for `acme/api`.
struct Served {
    root: tempfile::TempDir,
    bin: PathBuf,
    upstream: Upstream,
    value: String,
    socket: PathBuf,
    token: String,
    server: Child,
}

impl Served {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.path())
            .env("AIVAULT_DIR", self.root.path().join("vault"))
            .env("AIVAULT_RUNTIME_DIR", self.root.path().join("runtime"))
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run aivault");
        assert!(
            out.status.success(),
            "aivault {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start() -> Served {
        let root = tempfile::tempdir().expect("tempdir");
        let upstream = Upstream::http(echo_handler());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .subsec_nanos();
        let value = format!("sk-canary-ffi-remote-{nanos:09}");
        let mut s = Served {
            root,
            bin: cli(),
            upstream,
            value,
            socket: PathBuf::new(),
            token: String::new(),
            server: Command::new("true").spawn().expect("placeholder"),
        };
        let _ = s.server.wait();
        let created = s.run(&["secrets", "create", "--name", "ACME", "--value", &s.value]);
        let created: serde_json::Value = serde_json::from_str(&created).expect("json");
        let id = created["secretId"].as_str().expect("secretId").to_string();
        let host = format!("127.0.0.1:{}", s.upstream.port());
        s.run(&[
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
        ]);
        s.run(&[
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
        ]);
        s.run(&[
            "capability",
            "create",
            "acme/other",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "/v2",
        ]);
        let token = s.run(&[
            "token",
            "create",
            "--name",
            "c-agent",
            "--capability",
            "acme/api",
        ]);
        s.token = token.trim().to_string();
        s.socket = s.root.path().join("sock").join("broker.sock");
        let socket = s.socket.display().to_string();
        s.server = s
            .command(&["serve", "--socket", &socket])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&s.socket).is_err() {
            assert!(Instant::now() < deadline, "the server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn connect(&self, token: &str) -> *mut aivault_remote {
        let socket = CString::new(self.socket.to_str().expect("utf8")).expect("no NUL");
        let token = CString::new(token).expect("no NUL");
        let mut remote = null_mut();
        // SAFETY: valid strings and out pointer.
        let status = unsafe { aivault_connect(socket.as_ptr(), token.as_ptr(), &mut remote) };
        assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
        remote
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn last_error() -> String {
    // SAFETY: a valid thread-local string.
    unsafe { CStr::from_ptr(aivault_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes a returned JSON string and frees it.
fn take(text: *mut c_char) -> String {
    // SAFETY: a string an aivault function returned, freed once.
    let owned = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    unsafe { aivault_string_free(text) };
    owned
}

/// Invokes with `request`; the status and, on success, the response.
fn invoke(remote: *mut aivault_remote, request: &str) -> (aivault_status, *mut aivault_response) {
    let request = CString::new(request).expect("no NUL");
    let mut response = null_mut();
    // SAFETY: a live handle, valid strings and out pointer.
    let status =
        unsafe { aivault_remote_invoke(remote, request.as_ptr(), null(), 0, &mut response) };
    (status, response)
}

#[test]
fn the_remote_handle_invokes_lists_describes_and_routes_with_only_socket_and_token() {
    let s = Served::start();
    let remote = s.connect(&s.token);
    let mut returned = String::new();

    // Round trip: the upstream got the vault's key; the caller gets the redacted echo.
    let (status, response) = invoke(
        remote,
        r#"{"capability":"acme/api","path":"/v1/items?x=1","headers":{"x-trace":"t1"}}"#,
    );
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    // SAFETY: a live response, read then freed once.
    unsafe {
        assert_eq!(aivault_response_status(response), 200);
        let mut len = 0usize;
        let body = aivault_response_body(response, &mut len);
        let body = String::from_utf8_lossy(std::slice::from_raw_parts(body, len)).into_owned();
        assert!(body.contains("/v1/items?x=1"), "{body}");
        let headers = CStr::from_ptr(aivault_response_headers(response)).to_string_lossy();
        assert!(
            headers.contains("content-type") && headers.contains("x-echo-x-trace"),
            "headers relayed: {headers}"
        );
        let planned = CStr::from_ptr(aivault_response_planned(response)).to_string_lossy();
        assert!(planned.contains("\"capability\":\"acme/api\""), "{planned}");
        returned.push_str(&body);
        returned.push_str(&headers);
        returned.push_str(&planned);
        aivault_response_free(response);
    }
    let seen = s.upstream.requests();
    let auth = seen
        .last()
        .and_then(|r| r.header("authorization"))
        .unwrap_or_default()
        .to_string();
    assert!(auth.contains(&s.value), "the upstream got the vault's key");

    // list / describe / route: only the token's capabilities.
    let mut out = null_mut();
    // SAFETY (all blocks below): live handle, valid strings and out pointers.
    let status = unsafe { aivault_remote_capability_list(remote, &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    let listing = take(out);
    assert!(
        listing.contains("acme/api") && !listing.contains("acme/other"),
        "{listing}"
    );
    returned.push_str(&listing);
    let id = CString::new("acme/api").expect("id");
    let status = unsafe { aivault_remote_capability_describe(remote, id.as_ptr(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    returned.push_str(&take(out));
    let host = CString::new(format!("127.0.0.1:{}", s.upstream.port())).expect("host");
    let (get, path) = (
        CString::new("GET").expect("m"),
        CString::new("/v1/a").expect("p"),
    );
    let status = unsafe {
        aivault_remote_capability_route(
            remote,
            host.as_ptr(),
            get.as_ptr(),
            path.as_ptr(),
            &mut out,
        )
    };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    let route = take(out);
    assert!(route.contains("\"capability\":\"acme/api\""), "{route}");
    let other = CString::new("/v2/a").expect("p");
    let status = unsafe {
        aivault_remote_capability_route(
            remote,
            host.as_ptr(),
            get.as_ptr(),
            other.as_ptr(),
            &mut out,
        )
    };
    assert_eq!(status, aivault_status::AIVAULT_CAPABILITY_NOT_FOUND);

    // Outside the token: unauthorized (15), and nothing reaches the upstream.
    let before = s.upstream.requests().len();
    let (status, response) = invoke(remote, r#"{"capability":"acme/other","path":"/v2/a"}"#);
    assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);
    assert_eq!(status as i32, 15);
    assert!(response.is_null());
    assert!(
        last_error().starts_with("unauthorized:"),
        "{}",
        last_error()
    );
    returned.push_str(&last_error());
    let other_id = CString::new("acme/other").expect("id");
    let status = unsafe { aivault_remote_capability_describe(remote, other_id.as_ptr(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);
    // Another context than the token's.
    let (status, _) = invoke(
        remote,
        r#"{"capability":"acme/api","path":"/v1/a","workspaceId":"elsewhere"}"#,
    );
    assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);

    // A forged token.
    let forged = s.connect("avt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let (status, _) = invoke(forged, r#"{"capability":"acme/api","path":"/v1/a"}"#);
    assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);
    returned.push_str(&last_error());
    let status = unsafe { aivault_remote_capability_list(forged, &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);
    assert_eq!(
        s.upstream.requests().len(),
        before,
        "refused calls never left"
    );

    // The canary is in nothing the caller got back.
    assert!(!returned.contains(&s.value), "{returned}");

    // SAFETY: handles from aivault_connect, freed once; NULL is a no-op.
    unsafe {
        aivault_remote_free(remote);
        aivault_remote_free(forged);
        aivault_remote_free(null_mut());
    }
}

#[test]
fn connecting_needs_a_socket_and_a_token_and_a_dead_socket_is_io() {
    let root = tempfile::tempdir().expect("tempdir");
    let socket = CString::new(root.path().join("none.sock").to_str().expect("utf8")).expect("s");
    let empty = CString::new("").expect("empty");
    let mut remote = null_mut();
    // SAFETY (all blocks): valid strings and out pointers.
    if std::env::var_os("AIVAULT_TOKEN").is_none() {
        let status = unsafe { aivault_connect(socket.as_ptr(), null(), &mut remote) };
        assert_eq!(status, aivault_status::AIVAULT_UNAUTHORIZED);
        assert!(last_error().contains("AIVAULT_TOKEN"), "{}", last_error());
    }
    if std::env::var_os("AIVAULT_SOCKET").is_none() {
        let token = CString::new("avt_x").expect("t");
        let status = unsafe { aivault_connect(empty.as_ptr(), token.as_ptr(), &mut remote) };
        assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);
        assert!(last_error().contains("AIVAULT_SOCKET"), "{}", last_error());
    }
    let token = CString::new("avt_x").expect("t");
    let status = unsafe { aivault_connect(socket.as_ptr(), token.as_ptr(), null_mut()) };
    assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);
    let status = unsafe { aivault_connect(socket.as_ptr(), token.as_ptr(), &mut remote) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let (status, response) = invoke(remote, r#"{"capability":"acme/api"}"#);
    assert_eq!(status, aivault_status::AIVAULT_IO, "{}", last_error());
    assert!(response.is_null());
    let (status, _) = invoke(null_mut(), r#"{"capability":"acme/api"}"#);
    assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);
    // SAFETY: a handle from aivault_connect, freed once.
    unsafe { aivault_remote_free(remote) };
}

/// `examples/c/remote.c`, compiled with `cc -Wall -Wextra -Werror` against the static library
/// and run with only `AIVAULT_SOCKET` and `AIVAULT_TOKEN` in its environment.
#[test]
fn the_c_remote_example_runs_with_only_socket_and_token() {
    let s = Served::start();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--locked", "-p", "aivault-ffi", "--lib"]);
    if target_dir().file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let program = s.root.path().join("remote");
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("include"))
        .arg(root.join("../examples/c/remote.c"))
        .arg(target_dir().join("libaivault_ffi.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&program)
        .status()
        .expect("run cc");
    assert!(
        compiled.success(),
        "examples/c/remote.c does not compile cleanly"
    );
    let output = Command::new(&program)
        .args(["acme/api", "/v1/from-c", "acme/other"])
        .env_clear()
        .env("AIVAULT_SOCKET", &s.socket)
        .env("AIVAULT_TOKEN", &s.token)
        .output()
        .expect("run the remote example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("status: 200"), "{stdout}");
    assert!(stdout.contains("/v1/from-c"), "{stdout}");
    assert!(
        stdout.contains("outside the token: 15 unauthorized: unauthorized:"),
        "{stdout}"
    );
    let last = s.upstream.requests().last().cloned().expect("a request");
    assert_eq!(last.target, "/v1/from-c");
    assert!(
        last.header("authorization")
            .unwrap_or_default()
            .contains(&s.value)
    );
    assert!(
        !stdout.contains(&s.value) && !stderr.contains(&s.value),
        "{stdout}"
    );
}
