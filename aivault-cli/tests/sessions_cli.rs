//! Where `aivault unlock` keeps its session: never in the vault directory (a copy of the
//! data taken while unlocked must stay locked), only in a private per-user directory.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;

const PASS: &[u8] = b"correct horse\n";

/// A passphrase vault, unlocked by its `init`.
fn passphrase_vault(env: &Env) {
    env.run_with_stdin(
        &["init", "--provider", "passphrase", "--passphrase-stdin"],
        PASS,
    )
    .ok();
    env.create("S", "v", &[]);
}

fn vault_id(env: &Env) -> String {
    let status = env.run(&["status", "-v"]).ok().json();
    status["status"]["vaultId"]
        .as_str()
        .unwrap_or_else(|| panic!("no vaultId in {status}"))
        .to_string()
}

fn session_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").path())
                .filter(|p| {
                    p.file_name()
                        .expect("name")
                        .to_string_lossy()
                        .starts_with("session-")
                })
                .collect()
        })
        .unwrap_or_default()
}

fn uid() -> u32 {
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

#[test]
fn without_runtime_variables_the_session_lives_in_dev_shm_and_a_copy_stays_locked() {
    let mut env = Env::new();
    env.unset("AIVAULT_RUNTIME_DIR");
    passphrase_vault(&env);
    let id = vault_id(&env);
    assert!(
        session_files(&env.dir).is_empty(),
        "a session file is in the data directory: {:?}",
        session_files(&env.dir)
    );
    let shm = PathBuf::from(format!("/dev/shm/aivault-{}", uid()));
    let session = shm.join(format!("session-{id}.key"));
    let meta = std::fs::symlink_metadata(&shm).expect("session directory");
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(&session).expect("session").mode() & 0o777,
        0o600
    );

    // Copy the data directory while unlocked, then lock: the copy opens as locked.
    let copy = env.root.path().join("copy");
    copy_dir(&env.dir, &copy);
    env.run(&["lock"]).ok();
    assert!(!session.exists(), "lock left {}", session.display());
    let mut thief = Env::new();
    thief.unset("AIVAULT_RUNTIME_DIR");
    thief.set("AIVAULT_DIR", &copy.display().to_string());
    thief
        .run(&["secrets", "create", "--name", "T", "--value", "v"])
        .fails(5, "vault_locked");
    thief.run(&["secrets", "verify"]).fails(5, "vault_locked");
}

#[test]
fn a_session_an_older_version_left_in_the_data_directory_is_removed_not_used() {
    let env = Env::new();
    passphrase_vault(&env);
    let id = vault_id(&env);
    let name = format!("session-{id}.key");
    // The layout of the previous version: the session next to vault.db.
    std::fs::rename(env.runtime.join(&name), env.dir.join(&name)).expect("move session");
    env.run(&["secrets", "create", "--name", "T", "--value", "v"])
        .fails(5, "vault_locked");
    assert!(!env.dir.join(&name).exists(), "legacy session kept");

    // `lock` removes it too.
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], PASS)
        .ok();
    std::fs::copy(env.runtime.join(&name), env.dir.join(&name)).expect("copy session");
    env.run(&["lock"]).ok();
    assert!(!env.dir.join(&name).exists());
    assert!(!env.runtime.join(&name).exists());
}

/// `unlock` into `runtime` is refused with a message naming it, and writes no session.
fn refused(env: &Env, runtime: &Path, why: &str) {
    let run = env
        .run_with_stdin(&["unlock", "--passphrase-stdin"], PASS)
        .fails(2, "invalid_input");
    assert!(
        run.stderr.contains(&runtime.display().to_string()) && run.stderr.contains(why),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AIVAULT_RUNTIME_DIR"), "{}", run.stderr);
}

#[test]
fn unsafe_session_directories_are_refused() {
    let mut env = Env::new();
    passphrase_vault(&env);
    env.run(&["lock"]).ok();

    // A symlink to an otherwise fine directory.
    let target = env.root.path().join("target");
    std::fs::create_dir(&target).expect("fs");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).expect("fs");
    let link = env.root.path().join("link");
    std::os::unix::fs::symlink(&target, &link).expect("fs");
    env.set("AIVAULT_RUNTIME_DIR", &link.display().to_string());
    refused(&env, &link, "symbolic link");
    assert!(session_files(&target).is_empty());

    // Group/other permissions.
    let open = env.root.path().join("open");
    std::fs::create_dir(&open).expect("fs");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("fs");
    env.set("AIVAULT_RUNTIME_DIR", &open.display().to_string());
    refused(&env, &open, "group or others");
    assert!(session_files(&open).is_empty());

    // Not a directory.
    let file = env.root.path().join("file");
    std::fs::write(&file, b"x").expect("fs");
    env.set("AIVAULT_RUNTIME_DIR", &file.display().to_string());
    refused(&env, &file, "not a directory");

    // Owned by someone else (only root can arrange that).
    if uid() == 0 {
        let other = env.root.path().join("other");
        std::fs::create_dir(&other).expect("fs");
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).expect("fs");
        std::os::unix::fs::chown(&other, Some(65534), Some(65534)).expect("fs");
        env.set("AIVAULT_RUNTIME_DIR", &other.display().to_string());
        refused(&env, &other, "another user");
        assert!(session_files(&other).is_empty());
    }

    // The aivault subdirectory of XDG_RUNTIME_DIR gets the same checks ...
    let xdg = env.root.path().join("xdg");
    std::fs::create_dir(&xdg).expect("fs");
    std::fs::create_dir(xdg.join("aivault")).expect("fs");
    std::fs::set_permissions(xdg.join("aivault"), std::fs::Permissions::from_mode(0o750))
        .expect("fs");
    env.unset("AIVAULT_RUNTIME_DIR");
    env.set("XDG_RUNTIME_DIR", &xdg.display().to_string());
    refused(&env, &xdg.join("aivault"), "group or others");

    // ... and is created 0700 when missing.
    std::fs::remove_dir(xdg.join("aivault")).expect("fs");
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], PASS)
        .ok();
    let meta = std::fs::symlink_metadata(xdg.join("aivault")).expect("fs");
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(session_files(&xdg.join("aivault")).len(), 1);
    env.create("T", "v", &[]);
    env.run(&["lock"]).ok();
    assert!(session_files(&xdg.join("aivault")).is_empty());
}
