//! Helpers for running the real `aivault` binary against a vault in a temporary directory.
#![allow(dead_code)]

pub mod served;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A throwaway vault directory and the environment every command of a test runs with.
pub struct Env {
    pub root: tempfile::TempDir,
    pub dir: PathBuf,
    pub runtime: PathBuf,
    pub vars: Vec<(String, String)>,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts success and returns self.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts failure with `code` and an `error[kind]:` line; returns self.
    pub fn fails(self, code: i32, kind: &str) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let prefix = format!("error[{kind}]: ");
        assert!(
            self.stderr.starts_with(&prefix),
            "stderr should start with {prefix:?}:\n{}",
            self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "error must be one line:\n{}",
            self.stderr
        );
        self
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_aivault")
}

impl Env {
    pub fn new() -> Env {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("vault");
        let runtime = root.path().join("runtime");
        Env {
            vars: vec![
                ("AIVAULT_DIR".into(), dir.display().to_string()),
                ("AIVAULT_RUNTIME_DIR".into(), runtime.display().to_string()),
                ("NO_COLOR".into(), "1".into()),
            ],
            root,
            dir,
            runtime,
        }
    }

    /// Adds or replaces a variable for every later run.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.into(), value.into()));
    }

    /// Removes a variable.
    /// Sends the vault's calls to each of `hosts` to `upstream` on 127.0.0.1 and trusts
    /// `pki`'s CA, through the debug-build hooks `AIVAULT_DEV_RESOLVE` and
    /// `AIVAULT_DEV_CA_CERT` (release builds refuse them).
    pub fn route_to(
        &mut self,
        hosts: &[&str],
        upstream: &aivault_testkit::Upstream,
        pki: &aivault_testkit::Pki,
    ) {
        let ca = pki.write_ca(self.root.path());
        let routes: Vec<String> = hosts
            .iter()
            .map(|host| format!("{host}=127.0.0.1:{}", upstream.port()))
            .collect();
        self.set("AIVAULT_DEV_RESOLVE", &routes.join(","));
        self.set("AIVAULT_DEV_CA_CERT", ca.to_str().expect("utf8"));
    }

    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        for var in [
            "AIVAULT_DIR",
            "AIVAULT_KEY",
            "AIVAULT_PASSPHRASE",
            "AIVAULT_RUNTIME_DIR",
            "XDG_RUNTIME_DIR",
            "AIVAULT_DEV_STALL",
            "AIVAULT_DEV_RESOLVE",
            "AIVAULT_DEV_CA_CERT",
            "NO_COLOR",
            "CODEX_HOME",
        ] {
            cmd.env_remove(var);
        }
        for (name, value) in &self.vars {
            cmd.env(name, value);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, b"")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn aivault");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        let output = child.wait_with_output().expect("wait");
        to_run(output)
    }

    pub fn spawn(&self, args: &[&str], extra: &[(&str, &str)]) -> Child {
        let mut cmd = self.command(args);
        for (name, value) in extra {
            cmd.env(name, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn aivault")
    }

    /// Creates a secret and returns its id.
    pub fn create(&self, name: &str, value: &str, extra: &[&str]) -> String {
        let mut args = vec!["secrets", "create", "--name", name, "--value", value];
        args.extend_from_slice(extra);
        let run = self.run(&args).ok();
        run.json()["secretId"]
            .as_str()
            .expect("secretId")
            .to_string()
    }

    /// Creates a caller token named `name` for `capabilities` and returns it.
    pub fn create_token(&self, name: &str, capabilities: &[&str]) -> String {
        let mut args = vec!["token", "create", "--name", name];
        for capability in capabilities {
            args.extend(["--capability", capability]);
        }
        self.run(&args).ok().stdout.trim().to_string()
    }

    /// `secrets list -v` as JSON.
    pub fn secrets(&self) -> Vec<serde_json::Value> {
        self.run(&["secrets", "list", "-v"])
            .ok()
            .json()
            .as_array()
            .expect("array")
            .clone()
    }

    pub fn secret_names(&self) -> Vec<String> {
        self.secrets()
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    }

    /// The kinds of the audit events `aivault audit <filters>` prints, newest first.
    pub fn audit_kinds(&self, filters: &[&str]) -> Vec<String> {
        let mut args = vec!["audit"];
        args.extend_from_slice(filters);
        let events = self.run(&args).ok().json();
        events
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["kind"].as_str().expect("kind").to_string())
            .collect()
    }

    /// Number of audit events.
    pub fn audit_count(&self) -> u64 {
        self.run(&["status", "-v"]).ok().json()["counts"]["auditEvents"]
            .as_u64()
            .expect("count")
    }

    /// Everything observable about the vault's contents, to show that a failed command
    /// changed nothing.
    pub fn snapshot(&self) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
        (
            self.run(&["secrets", "list", "-v"]).ok().json(),
            self.run(&["credential", "list", "-v"]).ok().json(),
            self.run(&["status", "-v"]).ok().json()["counts"].clone(),
        )
    }

    /// Both integrity checks pass.
    pub fn assert_intact(&self) {
        self.run(&["secrets", "verify"]).ok();
        self.run(&["audit", "verify"]).ok();
    }

    /// Waits for the stall marker of a `AIVAULT_DEV_STALL` point, or panics.
    pub fn wait_for_stall(&self, point: &str, child: &mut Child) {
        let marker = self.dir.join(format!("dev-stall-{point}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().map(|mut s| s.read_to_string(&mut err));
                panic!("process exited ({status}) before reaching {point}: {err}");
            }
            assert!(Instant::now() < deadline, "never reached {point}");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_file(&marker).expect("remove marker");
    }
}

pub fn to_run(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every byte of every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(entry.expect("entry").path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// A value unique to one test run, to search for in outputs and files.
pub fn canary(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("sk-canary-{tag}-{nanos:09}-{}", std::process::id())
}

/// Forms of a value that must not appear anywhere: raw, hex and base64.
pub fn canary_forms(value: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        value.as_bytes().to_vec(),
        hex.into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(value)
            .into_bytes(),
    ]
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The interpreter of the repo's virtualenv with `module`, if it is there (CI sets
/// AIVAULT_REQUIRE_SDKS: then it must be).
pub fn python_with(module: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("AIVAULT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv").join("bin").join("python"));
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("AIVAULT_REQUIRE_SDKS").is_none(),
        "AIVAULT_REQUIRE_SDKS is set but {} cannot import {module}",
        python.display()
    );
    eprintln!("SKIPPED: no Python with {module} (scripts/python.sh makes .venv)");
    None
}
