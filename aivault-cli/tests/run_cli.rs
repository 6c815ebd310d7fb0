//! `aivault run -- CMD` as real processes: curl, Python `requests`, the `openai` Python SDK
//! (reading OPENAI_API_KEY from its environment) and `git ls-remote` run unchanged, their
//! HTTPS going through the proxy `run` starts (or that of `aivault serve --proxy`) to a
//! loopback upstream (api.openai.com and git.example.com routed there by the debug-build
//! hooks) that records what it received: the upstream gets the vault's key; the child's
//! environment and output never hold it (a canary). Also: the child's environment
//! (placeholders replace a parent's real value, the vault's key variables are gone, the CA
//! bundle), exit codes and signals passed through, the minted token revoked when the child
//! exits, `--print-env` and its quoting, and refusals.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aivault_testkit::{Pki, Recorded, Reply, Upstream, echo_handler, git_refs_handler};
use base64::Engine as _;
use common::served::wait_for_socket;
use common::{Env, Run, canary, python_with, to_run};

/// The refs the git upstream advertises.
const MAIN: &str = "1f0e3dad99908345f7439f8ffabdffc4a4e84e3c";
const TAG: &str = "8f14e45fceea167a5a36dedd4bea2543a17b2a9e";

/// A vault with OPENAI_API_KEY and a git credential (both canaries) and capability
/// `acme/git` on git.example.com, and one loopback HTTPS upstream for api.openai.com and
/// git.example.com.
struct World {
    env: Env,
    upstream: Upstream,
    key: String,
    git_key: String,
    routes: Vec<(String, String)>,
}

impl World {
    fn new() -> World {
        let pki = Pki::new(&["api.openai.com", "git.example.com"]);
        let key = canary("run");
        let git_key = canary("git");
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{git_key}"));
        let git = git_refs_handler(
            "/acme/app.git",
            format!("Basic {basic}"),
            vec![
                (MAIN.into(), "refs/heads/main".into()),
                (TAG.into(), "refs/tags/v1".into()),
            ],
        );
        let echo = echo_handler();
        let upstream = Upstream::https(&pki, move |req: &Recorded| {
            if req
                .header("host")
                .is_some_and(|h| h.starts_with("git.example.com"))
            {
                return git(req);
            }
            if req.target == "/v1/models" {
                return Reply::json(
                    r#"{"object":"list","data":[{"id":"gpt-loopback","object":"model","created":0,"owned_by":"aivault"}]}"#,
                );
            }
            echo(req)
        });
        let env = Env::new();
        env.create("OPENAI_API_KEY", &key, &[]);
        let git_id = env.create("ACME_GIT_TOKEN", &git_key, &[]);
        env.run(&[
            "credential",
            "create",
            "acme-git",
            "--provider",
            "acme-git",
            "--secret-ref",
            &format!("vault:secret:{git_id}"),
            "--auth",
            "basic",
            "--username-template",
            "x-access-token",
            "--password-template",
            "{{secret}}",
            "--host",
            "git.example.com",
        ])
        .ok();
        env.run(&[
            "capability",
            "create",
            "acme/git",
            "--credential",
            "acme-git",
            "--method",
            "GET",
            "--method",
            "POST",
            "--path",
            "/acme/app.git",
        ])
        .ok();
        let ca = env.root.path().join("upstream-ca.pem");
        std::fs::write(&ca, &pki.ca_pem).expect("ca");
        let port = upstream.port();
        let routes = vec![
            (
                "AIVAULT_DEV_RESOLVE".to_string(),
                format!("api.openai.com=127.0.0.1:{port},git.example.com=127.0.0.1:{port}"),
            ),
            ("AIVAULT_DEV_CA_CERT".to_string(), ca.display().to_string()),
        ];
        World {
            env,
            upstream,
            key,
            git_key,
            routes,
        }
    }

    /// `aivault <args>` with the routes and `extra` variables (the child inherits them).
    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = self.env.command(args);
        for (name, value) in &self.routes {
            cmd.env(name, value);
        }
        for (name, value) in extra {
            cmd.env(name, value);
        }
        cmd.env("HOME", self.env.root.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        to_run(self.command(args, extra).output().expect("run aivault"))
    }

    /// Neither key in `text`.
    fn assert_no_key(&self, text: &str) {
        for key in [&self.key, &self.git_key] {
            assert!(!text.contains(key.as_str()), "a key leaked:\n{text}");
        }
    }

    fn tokens(&self) -> serde_json::Value {
        self.env.run(&["token", "list", "-v"]).ok().json()["tokens"].clone()
    }
}

/// The value of `name` in an `env` dump.
fn var<'a>(dump: &'a str, name: &str) -> Option<&'a str> {
    dump.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

#[test]
fn the_child_gets_the_proxy_the_bundle_and_placeholders_never_a_key() {
    let w = World::new();
    let parent_key = canary("parent");
    let ca = w.env.run(&["proxy", "ca"]).ok().stdout;
    let out = w.run(
        &[
            "run",
            "--capability",
            "openai/models",
            "--",
            "sh",
            "-c",
            "env; echo =@@=; cat \"$SSL_CERT_FILE\"; echo =@@=; stat -c %a \"$SSL_CERT_FILE\" \"$(dirname \"$SSL_CERT_FILE\")\"",
        ],
        &[
            ("OPENAI_API_KEY", &parent_key),
            ("ACME_GIT_TOKEN", &parent_key),
            ("GITHUB_TOKEN", &parent_key),
            ("AIVAULT_PASSPHRASE", &parent_key),
            ("AIVAULT_KEY", &parent_key),
            ("ALL_PROXY", "socks5://127.0.0.1:1"),
            ("NO_PROXY", "api.openai.com"),
        ],
    );
    let out = out.ok();
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
    assert!(!out.stdout.contains(&parent_key), "{}", out.stdout);
    let mut parts = out.stdout.split("=@@=\n");
    let (dump, bundle, modes) = (
        parts.next().expect("env"),
        parts.next().expect("bundle"),
        parts.next().expect("modes"),
    );
    let proxy = var(dump, "HTTPS_PROXY").expect("HTTPS_PROXY");
    assert!(
        proxy.starts_with("http://aivault:avt_") && proxy.contains("@127.0.0.1:"),
        "{proxy}"
    );
    for name in ["HTTP_PROXY", "https_proxy", "http_proxy"] {
        assert_eq!(var(dump, name), Some(proxy), "{name}");
    }
    assert_eq!(var(dump, "NO_PROXY"), Some("localhost,127.0.0.1,::1"));
    assert_eq!(var(dump, "no_proxy"), Some("localhost,127.0.0.1,::1"));
    let file = var(dump, "SSL_CERT_FILE").expect("SSL_CERT_FILE");
    for name in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
    ] {
        assert_eq!(var(dump, name), Some(file), "{name}");
    }
    assert_eq!(
        var(dump, "OPENAI_API_KEY"),
        Some("aivault-placeholder-OPENAI_API_KEY")
    );
    for gone in [
        "ACME_GIT_TOKEN",
        "GITHUB_TOKEN",
        "AIVAULT_PASSPHRASE",
        "AIVAULT_KEY",
        "ALL_PROXY",
    ] {
        assert_eq!(var(dump, gone), None, "{gone} reached the child");
    }
    assert!(bundle.contains(ca.trim()), "the bundle lacks aivault's CA");
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 1,
        "no system roots"
    );
    assert_eq!(modes.split_whitespace().collect::<Vec<_>>(), ["600", "700"]);
    assert!(
        !Path::new(file).exists(),
        "the bundle outlived the child: {file}"
    );
    // The minted token is revoked now.
    let tokens = w.tokens();
    let token = &tokens.as_array().expect("tokens")[0];
    assert!(
        token["name"].as_str().expect("name").starts_with("run.sh."),
        "{token}"
    );
    assert_eq!(token["capabilities"], serde_json::json!(["openai/models"]));
    assert_eq!(token["state"], "revoked");
    assert!(
        token["expiresAtMs"].is_i64(),
        "a backstop lifetime: {token}"
    );
}

#[test]
fn curl_through_run_gets_the_vaults_key_and_never_sees_it() {
    let w = World::new();
    let out = w
        .run(
            &[
                "run",
                "--capability",
                "openai/models",
                "--",
                "sh",
                "-c",
                "curl -sS --max-time 20 'https://api.openai.com/v1/models?echo=1'; echo; env",
            ],
            &[],
        )
        .ok();
    let received = w.upstream.requests();
    assert_eq!(received.len(), 1, "{}", out.stderr);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("GET", "/v1/models?echo=1")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", w.key).as_str())
    );
    assert!(!r.all_text().contains("aivault-placeholder"));
    // The upstream echoed the key back; the proxy redacted it.
    assert!(
        out.stdout.contains("\"target\":\"/v1/models?echo=1\""),
        "{}",
        out.stdout
    );
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
    // Audited as a proxy call of the minted token.
    let audit = w.env.run(&["audit", "-v", "--limit", "50"]).ok().stdout;
    assert!(audit.contains(",proxy"), "{audit}");
}

#[test]
fn python_requests_through_run() {
    let Some(python) = python_with("requests") else {
        return;
    };
    let w = World::new();
    let script = "import requests\nr = requests.get('https://api.openai.com/v1/models', timeout=20)\nprint(r.status_code, r.json()['data'][0]['id'])\n";
    let out = w
        .run(
            &[
                "run",
                "--capability",
                "openai/models",
                "--",
                python.to_str().expect("utf-8"),
                "-c",
                script,
            ],
            &[],
        )
        .ok();
    assert_eq!(out.stdout.trim(), "200 gpt-loopback", "{}", out.stderr);
    let r = &w.upstream.requests()[0];
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", w.key).as_str())
    );
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
}

#[test]
fn the_openai_sdk_reads_its_placeholder_key_from_the_environment() {
    let Some(python) = python_with("openai") else {
        return;
    };
    let w = World::new();
    // No key and no base URL given in code: OPENAI_API_KEY comes from the environment.
    let script = "import os, openai\nassert os.environ['OPENAI_API_KEY'].startswith('aivault-placeholder-')\nclient = openai.OpenAI(timeout=20, max_retries=0)\nprint([m.id for m in client.models.list()])\n";
    let out = w
        .run(
            &[
                "run",
                "--capability",
                "openai/models",
                "--",
                python.to_str().expect("utf-8"),
                "-c",
                script,
            ],
            &[("OPENAI_API_KEY", "sk-real-key-of-the-parent")],
        )
        .ok();
    assert_eq!(out.stdout.trim(), "['gpt-loopback']", "{}", out.stderr);
    let r = &w.upstream.requests()[0];
    assert_eq!(r.target, "/v1/models");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", w.key).as_str())
    );
    assert!(!r.all_text().contains("sk-real-key-of-the-parent"));
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
}

#[test]
fn git_ls_remote_over_https_through_run() {
    let w = World::new();
    let out = w
        .run(
            &[
                "run",
                "--capability",
                "acme/git",
                "--",
                "git",
                "ls-remote",
                "https://git.example.com/acme/app.git",
            ],
            &[],
        )
        .ok();
    assert!(
        out.stdout.contains(&format!("{MAIN}\trefs/heads/main")),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains(&format!("{TAG}\trefs/tags/v1")));
    let r = &w.upstream.requests()[0];
    assert_eq!(r.target, "/acme/app.git/info/refs?service=git-upload-pack");
    assert!(
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
}

#[test]
fn hosts_and_methods_outside_the_token_are_refused() {
    let w = World::new();
    // A host no capability of the token names: the CONNECT is refused.
    let out = w.run(
        &[
            "run",
            "--capability",
            "openai/models",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "20",
            "https://git.example.com/acme/app.git/info/refs?service=git-upload-pack",
        ],
        &[],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    // A method or a path outside the capability: 403 with the error JSON.
    for (method, url) in [
        ("POST", "https://api.openai.com/v1/models"),
        ("GET", "https://api.openai.com/v1/files"),
    ] {
        let out = w
            .run(
                &[
                    "run",
                    "--capability",
                    "openai/models",
                    "--",
                    "curl",
                    "-sS",
                    "--max-time",
                    "20",
                    "-X",
                    method,
                    "-w",
                    "\n%{http_code}",
                    url,
                ],
                &[],
            )
            .ok();
        assert!(out.stdout.trim_end().ends_with("403"), "{}", out.stdout);
        assert!(
            out.stdout.contains("\"kind\":\"unauthorized\"")
                && out
                    .stdout
                    .contains(&format!("allows {method} api.openai.com")),
            "{}",
            out.stdout
        );
    }
    assert!(w.upstream.requests().is_empty());
}

#[test]
fn exit_codes_pass_through() {
    let w = World::new();
    let cap = ["run", "--capability", "openai/models", "--"];
    let code = |cmd: &[&str]| {
        let args: Vec<&str> = cap.iter().chain(cmd).copied().collect();
        w.run(&args, &[]).code
    };
    assert_eq!(code(&["true"]), 0);
    assert_eq!(code(&["sh", "-c", "exit 7"]), 7);
    assert_eq!(code(&["sh", "-c", "kill -TERM $$"]), 128 + 15);
    assert_eq!(code(&["sh", "-c", "kill -KILL $$"]), 128 + 9);
    // A command that does not exist: aivault's own error, and the token is revoked.
    w.run(
        &[
            "run",
            "--capability",
            "openai/models",
            "--",
            "no-such-tool-x",
        ],
        &[],
    )
    .fails(3, "not_found");
    let tokens = w.tokens();
    let tokens = tokens.as_array().expect("tokens");
    assert_eq!(tokens.len(), 5);
    assert!(tokens.iter().all(|t| t["state"] == "revoked"), "{tokens:?}");
}

/// Starts `aivault run` around a shell that reports `signal` and exits 42, and waits until
/// the shell is ready. `own_group`: run in a process group of its own (never the terminal's
/// foreground, as under a supervisor).
fn trapping(
    w: &World,
    signal: &str,
    own_group: bool,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let script = format!(
        "trap 'echo got-{signal}; exit 42' {signal}; echo ready; while :; do sleep 0.05; done"
    );
    let mut cmd = w.command(
        &[
            "run",
            "--capability",
            "openai/models",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[],
    );
    if own_group {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "ready");
    (child, stdout)
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "aivault run did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_to_run_reach_the_child_and_the_token_is_revoked() {
    let w = World::new();
    for (name, own_group) in [
        ("TERM", false),
        ("HUP", false),
        ("INT", true),
        ("QUIT", true),
    ] {
        let (mut child, mut stdout) = trapping(&w, name, own_group);
        let tokens = w.tokens();
        let active = tokens
            .as_array()
            .expect("tokens")
            .iter()
            .filter(|t| t["state"] == "active");
        assert_eq!(active.count(), 1, "{tokens}");
        signal(child.id(), name);
        assert_eq!(wait_exit(&mut child), 42, "{name}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
        assert_eq!(rest.trim(), format!("got-{name}"));
        let tokens = w.tokens();
        assert!(
            tokens
                .as_array()
                .expect("tokens")
                .iter()
                .all(|t| t["state"] == "revoked"),
            "{name}: {tokens}"
        );
    }
}

#[test]
fn local_run_without_a_grant_uses_the_vaults_ready_capabilities() {
    let w = World::new();
    // The issue's own example: no token, no --capability.
    let out = w
        .run(
            &[
                "run",
                "--",
                "sh",
                "-c",
                "curl -sS --max-time 20 https://api.openai.com/v1/models; echo; env",
            ],
            &[],
        )
        .ok();
    assert!(out.stdout.contains("gpt-loopback"), "{}", out.stderr);
    assert!(
        out.stderr.contains("ready capabilities") && out.stderr.contains("--capability"),
        "{}",
        out.stderr
    );
    assert_eq!(
        w.upstream.requests()[0].header("authorization"),
        Some(format!("Bearer {}", w.key).as_str())
    );
    w.assert_no_key(&out.stdout);
    w.assert_no_key(&out.stderr);
    let tokens = w.tokens();
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    assert_eq!(tokens[0]["state"], "revoked", "{tokens}");
    let granted = tokens[0]["capabilities"].to_string();
    assert!(
        granted.contains("openai/models") && granted.contains("acme/git"),
        "{granted}"
    );
    // A vault with no credential has nothing to grant.
    let empty = Env::new();
    let out = to_run(
        empty
            .command(&["run", "--", "true"])
            .stdin(Stdio::null())
            .output()
            .expect("run aivault"),
    );
    let out = out.fails(8, "capability_not_found");
    assert!(out.stderr.contains("--token"), "{}", out.stderr);
}

#[test]
fn local_run_token_rules() {
    let w = World::new();
    w.run(
        &[
            "run",
            "--capability",
            "openai/models",
            "--passthrough-host",
            "a b",
            "--",
            "true",
        ],
        &[],
    )
    .fails(2, "invalid_input");
    w.run(&["run", "--token", "not-a-token", "--", "true"], &[])
        .fails(15, "unauthorized");
    let unknown = format!("avt_{}", "A".repeat(43));
    w.run(&["run", "--token", &unknown, "--", "true"], &[])
        .fails(15, "unauthorized");
    // A long-lived token of the operator's works too (and is not revoked).
    let token = w.env.create_token("tool", &["openai/models"]);
    let out = w
        .run(
            &[
                "run",
                "--",
                "sh",
                "-c",
                "echo $HTTPS_PROXY; curl -sS --max-time 20 https://api.openai.com/v1/models",
            ],
            &[("AIVAULT_TOKEN", &token)],
        )
        .ok();
    assert!(
        out.stdout.contains(&token) && out.stdout.contains("gpt-loopback"),
        "{}",
        out.stderr
    );
    assert_eq!(w.tokens()[0]["state"], "active");
}

/// `aivault serve --socket S [--proxy 127.0.0.1:0]` with the routes; waits for the socket.
fn serve(w: &World, proxy: bool) -> (std::process::Child, PathBuf) {
    let socket = w.env.root.path().join("sock").join("broker.sock");
    let socket_arg = socket.display().to_string();
    let mut args = vec!["serve", "--socket", &socket_arg];
    if proxy {
        args.extend(["--proxy", "127.0.0.1:0"]);
    }
    let child = w
        .command(&args, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    wait_for_socket(&socket);
    (child, socket)
}

/// A caller with only the socket and `token`: no vault it could open.
fn client(w: &World, socket: &Path, token: &str, args: &[&str]) -> Run {
    let out = Command::new(common::bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.env.root.path().join("client-home"))
        .env("AIVAULT_DIR", "/nonexistent/aivault-client-has-no-vault")
        .env("AIVAULT_SOCKET", socket)
        .env("AIVAULT_TOKEN", token)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("client");
    to_run(out)
}

#[test]
fn through_aivault_serve_and_print_env_for_a_harness() {
    let w = World::new();
    let token = w.env.create_token("harness", &["openai/*"]);
    // Without --proxy, the server has none to offer.
    let (mut server, socket) = serve(&w, false);
    let out = client(&w, &socket, &token, &["run", "--", "true"]).fails(3, "not_found");
    assert!(
        out.stderr.contains("aivault serve --proxy 127.0.0.1:PORT"),
        "{}",
        out.stderr
    );
    let _ = server.kill();
    let _ = server.wait();
    let (mut server, socket) = serve(&w, true);
    // --capability needs the vault.
    client(
        &w,
        &socket,
        &token,
        &["run", "--capability", "openai/models", "--", "true"],
    )
    .fails(2, "invalid_input");
    // The server's proxy has its own passthrough hosts.
    client(
        &w,
        &socket,
        &token,
        &["run", "--passthrough-host", "x.example.com", "--", "true"],
    )
    .fails(2, "invalid_input");
    // A run through the server: curl gets the key injected, sees only placeholders.
    let out = client(
        &w,
        &socket,
        &token,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "env; curl -sS --max-time 20 https://api.openai.com/v1/models",
        ],
    )
    .ok();
    assert!(out.stdout.contains("gpt-loopback"), "{}", out.stderr);
    assert_eq!(
        var(&out.stdout, "OPENAI_API_KEY"),
        Some("aivault-placeholder-OPENAI_API_KEY")
    );
    assert_eq!(var(&out.stdout, "AIVAULT_TOKEN"), None);
    w.assert_no_key(&out.stdout);
    assert_eq!(
        w.upstream.requests()[0].header("authorization"),
        Some(format!("Bearer {}", w.key).as_str())
    );
    // --print-env: a bundle at a stable path (quoted safely), the same variables.
    let dir = w.env.root.path().join("it's \"here\" $(x)");
    let bundle = dir.join("bundle.pem");
    let bundle_arg = bundle.display().to_string();
    let printed = client(
        &w,
        &socket,
        &token,
        &["run", "--print-env", "--ca-bundle", &bundle_arg],
    )
    .ok();
    assert!(
        printed.stdout.lines().all(|l| l.starts_with("export ")),
        "{}",
        printed.stdout
    );
    // A shell reads them back exactly.
    let script = format!("{}\nenv", printed.stdout);
    let shell = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .output()
        .expect("sh");
    let dump = String::from_utf8_lossy(&shell.stdout).into_owned();
    assert_eq!(var(&dump, "SSL_CERT_FILE"), Some(bundle_arg.as_str()));
    assert_eq!(
        var(&dump, "OPENAI_API_KEY"),
        Some("aivault-placeholder-OPENAI_API_KEY")
    );
    assert!(var(&dump, "HTTPS_PROXY").is_some_and(|p| p.contains(&token)));
    let text = std::fs::read_to_string(&bundle).expect("bundle");
    let ca = w.env.run(&["proxy", "ca"]).ok().stdout;
    assert!(text.contains(ca.trim()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&bundle)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // The printed variables work for a tool started later, without aivault run.
    let mut tool = Command::new("sh");
    tool.args([
        "-c",
        &format!(
            "{}\ncurl -sS --max-time 20 https://api.openai.com/v1/models",
            printed.stdout
        ),
    ]);
    let tool = to_run(tool.output().expect("curl"));
    assert!(tool.stdout.contains("gpt-loopback"), "{}", tool.stderr);
    // -v: one JSON object.
    let json = client(
        &w,
        &socket,
        &token,
        &["run", "--print-env", "-v", "--ca-bundle", &bundle_arg],
    )
    .ok()
    .json();
    assert_eq!(json["NODE_EXTRA_CA_CERTS"], bundle_arg.as_str());
    // Refusals: --capability, a command.
    client(
        &w,
        &socket,
        &token,
        &["run", "--print-env", "--capability", "openai/models"],
    )
    .fails(2, "invalid_input");
    client(&w, &socket, &token, &["run", "--print-env", "--", "true"]).fails(2, "invalid_input");
    let _ = server.kill();
    let _ = server.wait();
}
