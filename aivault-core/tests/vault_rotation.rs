//! Crash and race tests of master-key rotation (file provider): a rotation killed before or
//! after its commit (a child process stopped by the debug-build stall hook, then killed),
//! rotations racing each other, and rotations interleaved with writers. At every instant the
//! vault must open with the key the database committed, and every secret must decrypt.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use aivault_core::keys::{key_id, read_key_file};
use aivault_core::{Config, Key32, NewMasterKey, Vault};
use common::*;

/// Name of the helper that a crash test runs in a child process.
const CHILD_TEST: &str = "child_rotates_master_and_stalls";

/// Not a test by itself: run in a child process by the crash tests, it opens the vault in
/// `AIVAULT_TEST_CHILD_DIR` and rotates its master key with the debug-build stall hook set to
/// `AIVAULT_TEST_CHILD_STALL`, so it stops forever at that point and the parent kills it.
/// Without those variables it does nothing.
#[test]
#[ignore = "helper: run in a child process by the rotation crash tests"]
fn child_rotates_master_and_stalls() {
    let Some(dir) = std::env::var_os("AIVAULT_TEST_CHILD_DIR") else {
        return; // run directly (`--include-ignored`): nothing to do outside a crash test
    };
    let point = std::env::var("AIVAULT_TEST_CHILD_STALL").expect("AIVAULT_TEST_CHILD_STALL");
    let config = Config {
        dev_stall: Some(point),
        ..Config::in_dir(dir)
    };
    let vault = Vault::open(config).expect("open in child");
    let result = vault.rotate_master(NewMasterKey::Random);
    panic!(
        "the stall point was not reached: {:?}",
        result.map_err(|e| e.to_string())
    );
}

/// Kills the child process on drop, so a failing test never leaves it running.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a rotation in a child process and waits until it stalls at `point`.
fn rotate_in_child_until(t: &TestDir, point: &str) -> ChildGuard {
    let exe = std::env::current_exe().expect("test binary");
    let child = std::process::Command::new(exe)
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AIVAULT_TEST_CHILD_DIR", &t.dir)
        .env("AIVAULT_TEST_CHILD_STALL", point)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut guard = ChildGuard(child);
    let marker = t.dir.join(format!("dev-stall-{point}"));
    let reached = wait_for(Duration::from_secs(30), || {
        marker.exists() || guard.0.try_wait().ok().flatten().is_some()
    });
    assert!(
        reached && marker.exists(),
        "the child never reached {point}"
    );
    std::fs::remove_file(&marker).expect("remove marker");
    guard
}

/// A process killed inside the rotation's transaction (new key staged, nothing committed):
/// readers meanwhile use the old key and leave the staged one alone; afterwards the vault
/// opens with the old key, and the next rotation cleans up.
#[test]
fn rotation_killed_before_commit_keeps_the_old_key() {
    if !cfg!(debug_assertions) {
        return; // the stall hook exists in debug builds only
    }
    let t = TestDir::new();
    let vault = t.open();
    for i in 0..5 {
        create(&vault, &format!("KEY_{i}"), &canary());
    }
    let old_id = kek_id(&t.config());
    let old_key = assert_key_file(&t.dir, None);
    drop(vault);

    let child = rotate_in_child_until(&t, "rotate-master-before-commit");
    assert!(
        !staged_keys(&t.dir).is_empty(),
        "no staged key while the rotation is in flight"
    );
    // A fresh process reads meanwhile: it sees the committed (old) key...
    let reader = t.open();
    assert_eq!(assert_secrets_ok(&reader), 5);
    assert_audit_ok(&reader);
    // ...and must not destroy the staged key the in-flight rotation may still commit.
    assert!(
        !staged_keys(&t.dir).is_empty(),
        "a reader deleted the staged key of an in-flight rotation"
    );
    drop(child); // killed before its commit

    assert_eq!(kek_id(&t.config()), old_id);
    for handle in [&reader, &t.open()] {
        assert_eq!(assert_secrets_ok(handle), 5);
        assert_audit_ok(handle);
    }
    assert!(read_key_file(&t.dir.join("kek.key")).expect("key") == old_key);
    create(&reader, "AFTER_CRASH", "v");
    let new_id = reader
        .rotate_master(NewMasterKey::Random)
        .expect("rotate again");
    assert_eq!(kek_id(&t.config()), new_id);
    let key = assert_key_file(&t.dir, None);
    assert_eq!(key_id(&key), new_id);
    assert!(
        staged_keys(&t.dir).is_empty(),
        "stale staged keys left behind"
    );
    assert_eq!(assert_secrets_ok(&t.open()), 6);
}

/// A process killed after the rotation committed but before the new key file replaced the old
/// one: the next open finishes the rotation.
#[test]
fn rotation_killed_after_commit_is_completed_at_next_open() {
    if !cfg!(debug_assertions) {
        return; // the stall hook exists in debug builds only
    }
    let t = TestDir::new();
    let vault = t.open();
    for i in 0..5 {
        create(&vault, &format!("KEY_{i}"), &canary());
    }
    let old_id = kek_id(&t.config());
    drop(vault);

    let child = rotate_in_child_until(&t, "rotate-master-after-commit");
    drop(child);
    assert!(
        !staged_keys(&t.dir).is_empty(),
        "the committed key was not staged"
    );
    // Any use of the key (even `status`) finishes the rotation.
    let new_id = kek_id(&t.config());
    assert_ne!(new_id, old_id, "the rotation did not commit");

    let vault = t.open();
    assert_eq!(assert_secrets_ok(&vault), 5);
    assert_audit_ok(&vault);
    let key = assert_key_file(&t.dir, None);
    assert_eq!(key_id(&key), new_id);
    create(&vault, "AFTER_CRASH", "v");
    assert_eq!(assert_secrets_ok(&t.open()), 6);
}

/// Two rotations started at once (two handles, file provider) must leave a vault that opens:
/// the key file must hold the key the database committed last.
#[test]
fn concurrent_rotations_keep_the_committed_key() {
    let t = TestDir::new();
    let first = Arc::new(t.open());
    let second = Arc::new(t.open());
    for i in 0..5 {
        create(&first, &format!("KEY_{i}"), &canary());
    }
    assert_secrets_ok(&second);
    let (k1, k2) = (random_key(), random_key());
    // Hold the database write lock so both rotations get as far as they can before either
    // commits, then let them race.
    let blocker = t.db();
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("lock the database");
    let spawn = |vault: &Arc<Vault>, key: &Key32| {
        let (vault, key) = (vault.clone(), key.clone());
        thread::spawn(move || vault.rotate_master(NewMasterKey::Key(key)))
    };
    let r1 = spawn(&first, &k1);
    let r2 = spawn(&second, &k2);
    thread::sleep(Duration::from_millis(300));
    blocker.execute_batch("ROLLBACK").expect("release");
    let results = [r1.join().expect("r1"), r2.join().expect("r2")];
    let summary: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map_err(|e| e.to_string()))
        .collect();
    let committed = kek_id(&t.config());
    let key = assert_key_file(&t.dir, None);
    assert_eq!(
        key_id(&key),
        committed,
        "the key file does not hold the committed key: {summary:?}"
    );
    assert!(committed == key_id(&k1) || committed == key_id(&k2));
    assert!(results.iter().all(|r| r.is_ok()), "{summary:?}");
    for handle in [&t.open(), &*first, &*second] {
        assert_eq!(assert_secrets_ok(handle), 5);
        assert_audit_ok(handle);
    }
    let rotations = all_events(&first)
        .into_iter()
        .filter(|e| e.kind == "vault.rotate_master_key")
        .count();
    assert_eq!(rotations, 2);
}

/// Rotations and writes from several handles at once never lose a key or a secret.
#[test]
fn rotations_interleaved_with_writers() {
    let t = TestDir::new();
    let setup = t.open();
    create(&setup, "SEED", "v");
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (config, barrier) = (t.config(), barrier.clone());
            thread::spawn(move || {
                let vault = Vault::open(config).expect("open");
                barrier.wait();
                for j in 0..6 {
                    if i < 2 && j % 2 == 0 {
                        vault.rotate_master(NewMasterKey::Random).expect("rotate");
                    } else {
                        let name = format!("W{i}_{j}");
                        vault
                            .create_secret(new_secret(&name, "v", aivault_core::Scope::Global))
                            .expect("create while rotating");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let vault = t.open();
    assert_eq!(assert_secrets_ok(&vault), 1 + 2 * 3 + 2 * 6);
    assert_audit_ok(&vault);
    let key = assert_key_file(&t.dir, None);
    assert_eq!(key_id(&key), kek_id(&t.config()));
    assert_eq!(assert_secrets_ok(&setup), 19);
}
