//! `examples/rust/quickstart.rs` (the `quickstart` example of this crate) built and run
//! against a loopback HTTP server that records what it received: the server got the vault's
//! key, the example's output shows metadata, the redacted echo and the two error kinds, and
//! never the value.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aivault_testkit::{Upstream, echo_handler};

/// target/<profile>, where cargo put this test's binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds the example (`cargo test` of one test target leaves examples unbuilt).
fn build_example() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "--locked",
        "-p",
        "aivault-core",
        "--example",
        "quickstart",
    ]);
    if target_dir().file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    assert!(
        command.status().expect("run cargo").success(),
        "cargo build --example quickstart failed"
    );
    target_dir().join("examples/quickstart")
}

#[test]
fn the_rust_example_runs_and_never_prints_the_value() {
    let program = build_example();
    let upstream = Upstream::http(echo_handler());
    let value = format!("rust-example-canary-{}", std::process::id());
    let mut child = Command::new(&program)
        .arg(upstream.port().to_string())
        .env_remove("AIVAULT_KEY")
        .env_remove("AIVAULT_DIR")
        .env_remove("AIVAULT_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{value}\n").as_bytes())
        .expect("write the value");
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let received = upstream.requests();
    assert_eq!(received.len(), 1, "one call reached the server");
    assert_eq!(received[0].target, "/v1/ping");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {value}").as_str())
    );
    for expected in [
        "\"name\":\"ACME_TOKEN\"",
        "status: 200",
        "[REDACTED]",
        "unknown capability: capability_not_found",
        "method not allowed: policy_violation",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains(&value) && !stderr.contains(&value),
        "the value leaked:\n{stdout}\n{stderr}"
    );
}
