//! The four runners and how the harness finds, builds and runs them.
//!
//! - Rust: this package's `aivault-conformance-rust` binary.
//! - C: `tests/runners/runner.c`, compiled with `cc -std=c11 -Wall -Wextra -Werror` against
//!   aivault-ffi's static library (`cargo build --locked -p aivault-ffi --lib`, the same
//!   profile as this test) and `-lpthread -ldl -lm`; it reads the flattened line format.
//! - Python: `$AIVAULT_PYTHON`, else `<repo>/.venv/bin/python`, running
//!   `tests/runners/runner.py`; needs `import aivault` to work.
//! - Node: `node` on `PATH` running `tests/runners/runner.mjs`; needs a built
//!   `aivault-node/*.node`.
//!
//! A missing Python or Node prerequisite is a failure when `AIVAULT_CONFORMANCE_ALL=1`, else a
//! notice (the other runners are still checked).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one runner may take for the whole list.
const RUNNER_TIMEOUT: Duration = Duration::from_secs(300);

/// What a runner reads: the scenario list as JSON, or as the C runner's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `scenarios.json`, substituted.
    Json,
    /// The flattened line format (`aivault_conformance::flat`).
    Lines,
}

/// A runnable runner.
#[derive(Debug, Clone)]
pub struct Runner {
    /// `rust`, `c`, `python`, `node` (and the marker header's first field).
    pub name: String,
    /// The program and the arguments before `SCENARIOS_FILE VAULT_ROOT`.
    pub command: Vec<OsString>,
    /// Which input it reads.
    pub input: Input,
}

/// What a runner printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// Its standard output (the transcript).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// `None` when it succeeded; else how it failed (exit status, timeout).
    pub failure: Option<String>,
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// target/<profile>, where cargo put this test's binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The Rust runner.
pub fn rust() -> Runner {
    Runner {
        name: "rust".into(),
        command: vec![env!("CARGO_BIN_EXE_aivault-conformance-rust").into()],
        input: Input::Json,
    }
}

/// The C runner, compiled into `dir`.
pub fn c(dir: &Path) -> Result<Runner, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--locked", "-p", "aivault-ffi", "--lib"]);
    if target_dir().file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().map_err(|e| format!("run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build -p aivault-ffi --lib failed".into());
    }
    let lib = target_dir().join("libaivault_ffi.a");
    let program = dir.join("runner-c");
    let repo = repo();
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo.join("aivault-ffi/include"))
        .arg(repo.join("tests/runners/runner.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&program)
        .output()
        .map_err(|e| format!("run cc: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "tests/runners/runner.c does not compile cleanly:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(Runner {
        name: "c".into(),
        command: vec![program.into()],
        input: Input::Lines,
    })
}

/// The Python runner, or why it cannot run.
pub fn python() -> Result<Runner, String> {
    let repo = repo();
    let interpreter: OsString = match std::env::var_os("AIVAULT_PYTHON") {
        Some(p) if !p.is_empty() => p,
        _ => repo.join(".venv/bin/python").into(),
    };
    let script = repo.join("tests/runners/runner.py");
    if !script.exists() {
        return Err(format!("{} does not exist", script.display()));
    }
    let probe = Command::new(&interpreter)
        .args(["-c", "import aivault"])
        .stdin(Stdio::null())
        .output();
    match probe {
        Err(e) => Err(format!(
            "cannot run {} ({e}); set AIVAULT_PYTHON or build the binding into <repo>/.venv",
            Path::new(&interpreter).display()
        )),
        Ok(o) if !o.status.success() => Err(format!(
            "{} cannot import aivault: {}",
            Path::new(&interpreter).display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => Ok(Runner {
            name: "python".into(),
            command: vec![interpreter, script.into()],
            input: Input::Json,
        }),
    }
}

/// The Node runner, or why it cannot run.
pub fn node() -> Result<Runner, String> {
    let repo = repo();
    let script = repo.join("tests/runners/runner.mjs");
    if !script.exists() {
        return Err(format!("{} does not exist", script.display()));
    }
    let addon = std::fs::read_dir(repo.join("aivault-node"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.path().extension().is_some_and(|e| e == "node"));
    if !addon {
        return Err("no built aivault-node/*.node (build the Node binding first)".into());
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(Runner {
            name: "node".into(),
            command: vec!["node".into(), script.into()],
            input: Input::Json,
        }),
        _ => Err("node is not on PATH".into()),
    }
}

/// Runs `runner` on `input` with vaults under `vault_root`, killing it after the timeout.
pub fn run(runner: &Runner, input: &Path, vault_root: &Path, dir: &Path) -> Run {
    let out_path = dir.join(format!("{}.stdout", runner.name));
    let err_path = dir.join(format!("{}.stderr", runner.name));
    let (Ok(out), Ok(err)) = (
        std::fs::File::create(&out_path),
        std::fs::File::create(&err_path),
    ) else {
        return failed("cannot create the output files");
    };
    let mut command = Command::new(&runner.command[0]);
    command
        .args(&runner.command[1..])
        .arg(input)
        .arg(vault_root)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AIVAULT_") {
            command.env_remove(name);
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return failed(&format!("cannot start {:?}: {e}", runner.command)),
    };
    let start = Instant::now();
    let failure = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break None,
            Ok(Some(status)) => break Some(format!("the runner exited with {status}")),
            Ok(None) if start.elapsed() > RUNNER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break Some(format!("the runner took longer than {RUNNER_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Some(format!("waiting for the runner: {e}")),
        }
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Run {
        stdout: read(&out_path),
        stderr: read(&err_path),
        failure,
    }
}

fn failed(why: &str) -> Run {
    Run {
        stdout: String::new(),
        stderr: String::new(),
        failure: Some(why.to_string()),
    }
}
