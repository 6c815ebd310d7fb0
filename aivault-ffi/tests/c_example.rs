//! `examples/c/example.c`, compiled with `cc -Wall -Wextra -Werror` against the static
//! library and run against a loopback HTTP server that records what it received: the server
//! got the vault's key, the program's output never holds it; then the same run under valgrind
//! (when installed) reports no leak and no memory error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aivault_testkit::{Upstream, echo_handler};

/// target/<profile>, where cargo put the static library next to this test's binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent() // deps/
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds the static library: `cargo test` links the tests against the rlib and leaves the C
/// artifacts unbuilt, so ask cargo for them (same profile and target directory; cargo holds no
/// lock while tests run).
fn build_static_lib() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--locked", "-p", "aivault-ffi", "--lib"]);
    if target_dir()
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p aivault-ffi failed");
    let lib = target_dir().join("libaivault_ffi.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

fn compile(out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = build_static_lib();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("include"))
        .arg(root.join("../examples/c/example.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out)
        .status()
        .expect("run cc");
    assert!(status.success(), "the C example does not compile cleanly");
}

fn run(program: &[&std::ffi::OsStr], value: &str) -> Output {
    let mut child = Command::new(program[0])
        .args(&program[1..])
        .env_remove("AIVAULT_KEY")
        .env_remove("AIVAULT_DIR")
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
        .expect("write value");
    child.wait_with_output().expect("wait")
}

fn check(output: &Output, upstream: &Upstream, value: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let received = upstream.requests();
    let last = received.last().expect("the upstream received the call");
    assert_eq!(last.target, "/v1/ping");
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {value}").as_str())
    );
    assert!(stdout.contains("status: 200"), "{stdout}");
    assert!(stdout.contains("\"name\":\"ACME_TOKEN\""), "{stdout}");
    assert!(
        stdout.contains("[REDACTED]"),
        "the echoed key is redacted: {stdout}"
    );
    assert!(
        stdout.contains("unknown capability: capability_not_found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("NULL out: invalid_input: invalid_input: out parameter 'out' is NULL"),
        "{stdout}"
    );
    assert!(stdout.contains("invalid UTF-8: invalid_input"), "{stdout}");
    assert!(
        !stdout.contains(value) && !stderr.contains(value),
        "the value leaked"
    );
}

#[test]
fn c_example_runs_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("example");
    compile(&program);
    let upstream = Upstream::http(echo_handler());
    let port = upstream.port().to_string();

    let value = format!("c-canary-{}", std::process::id());
    let dir = tmp.path().join("vault");
    let output = run(
        &[program.as_os_str(), dir.as_os_str(), port.as_ref()],
        &value,
    );
    check(&output, &upstream, &value);

    let valgrind = Command::new("valgrind").arg("--version").output();
    if valgrind.is_ok_and(|o| o.status.success()) {
        let dir = tmp.path().join("vault-valgrind");
        let value = format!("{value}-valgrind");
        let output = run(
            &[
                "valgrind".as_ref(),
                "--quiet".as_ref(),
                "--error-exitcode=99".as_ref(),
                "--leak-check=full".as_ref(),
                "--errors-for-leak-kinds=definite,indirect".as_ref(),
                program.as_os_str(),
                dir.as_os_str(),
                port.as_ref(),
            ],
            &value,
        );
        check(&output, &upstream, &value);
    } else {
        eprintln!("valgrind is not installed: the leak check was skipped");
    }
}
