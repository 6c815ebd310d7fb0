//! A running `aivault serve` over a vault with a loopback credential, and its thin client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aivault_testkit::{Upstream, echo_handler};

use super::{Env, Run, bin, canary, to_run};

/// A vault with a secret, a loopback credential and capabilities `acme/api` (GET, POST /v1)
/// and `acme/other` (GET /v2), and a running server.
pub struct Served {
    pub env: Env,
    pub upstream: Upstream,
    pub value: String,
    pub socket: PathBuf,
    pub server: Child,
}

impl Served {
    /// Sets up the vault and starts the server.
    pub fn start() -> Served {
        Served::start_with(echo_handler())
    }

    /// As [`Served::start`], with an upstream answering through `handler`.
    pub fn start_with(
        handler: impl Fn(&aivault_testkit::Recorded) -> aivault_testkit::Reply + Send + Sync + 'static,
    ) -> Served {
        let env = Env::new();
        let upstream = Upstream::http(handler);
        let value = canary("serve");
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
        for (id, method, path) in [("acme/api", "GET", "/v1"), ("acme/other", "GET", "/v2")] {
            let mut args = vec!["capability", "create", id, "--credential", "acme"];
            args.extend(["--method", method, "--path", path]);
            if id == "acme/api" {
                args.extend(["--method", "POST"]);
            }
            env.run(&args).ok();
        }
        let socket = env.root.path().join("sock").join("broker.sock");
        let server = start_server(&env, &socket);
        Served {
            env,
            upstream,
            value,
            socket,
            server,
        }
    }

    /// Creates a token for `acme/api` (plus `extra` flags) and returns it.
    pub fn token(&self, name: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "token",
            "create",
            "--name",
            name,
            "--capability",
            "acme/api",
        ];
        args.extend_from_slice(extra);
        self.env.run(&args).ok().stdout.trim().to_string()
    }

    /// A thin-client run: only the socket and the token; no vault directory it could open.
    pub fn client(&self, token: Option<&str>, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.env.root.path().join("nohome"))
            .env("AIVAULT_DIR", "/nonexistent/aivault-client-has-no-vault")
            .env("AIVAULT_SOCKET", &self.socket)
            .env("NO_COLOR", "1");
        if let Some(token) = token {
            cmd.env("AIVAULT_TOKEN", token);
        }
        to_run(cmd.output().expect("run client"))
    }

    /// The notes of `kind` events once there are at least `count` (the server writes its
    /// audit events in the background, right after each call).
    pub fn audit_notes_at_least(&self, kind: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notes = self.audit_notes(kind);
            if notes.len() >= count || Instant::now() > deadline {
                return notes;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The notes of the audit events of `kind`.
    pub fn audit_notes(&self, kind: &str) -> Vec<String> {
        let events = self
            .env
            .run(&["audit", "-v", "--limit", "1000"])
            .ok()
            .json();
        events
            .as_array()
            .or_else(|| events["events"].as_array())
            .expect("events")
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["note"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts `aivault serve --socket` and waits until it answers.
pub fn start_server(env: &Env, socket: &Path) -> Child {
    let socket_arg = socket.display().to_string();
    let child = env.spawn(&["serve", "--socket", &socket_arg], &[]);
    wait_for_socket(socket);
    child
}

/// Waits until something answers on `socket`.
pub fn wait_for_socket(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}
