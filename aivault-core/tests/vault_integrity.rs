//! Integration tests of the local attacker (DESIGN §9): someone who can write the data
//! directory but holds no key. Each test performs one attack on a real vault (rows of
//! `vault.db` rewritten with rusqlite, files replaced) and checks that it is detected and
//! never followed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aivault_core::keys::{key_id, staged_key_path};
use aivault_core::{Config, ErrorKind, InitOptions, KeyProviderKind, NewMasterKey, Vault};
use common::*;
use rusqlite::params;

fn meta(conn: &rusqlite::Connection, key: &str) -> Option<String> {
    conn.query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
        .ok()
}

fn set_meta(conn: &rusqlite::Connection, key: &str, value: &str) {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .expect("set meta");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A vault with a few events.
fn vault_with_events() -> (TestDir, Vault, u64) {
    let t = TestDir::new();
    let vault = t.open();
    for i in 0..5 {
        create(&vault, &format!("KEY_{i}"), &canary());
    }
    let verification = vault.verify_audit().expect("verify");
    assert!(verification.ok, "{verification:?}");
    (t, vault, verification.events)
}

/// Dropping the newest events and copying the last remaining event's MAC and number into the
/// chain head: the head's tag (a MAC under the audit key) no longer matches.
#[test]
fn truncated_audit_log_with_rewritten_head_is_detected() {
    let (t, vault, events) = vault_with_events();
    let keep = events - 3;
    {
        let conn = t.db();
        conn.execute("DELETE FROM audit_events WHERE seq > ?", [keep as i64])
            .expect("truncate");
        let mac: Vec<u8> = conn
            .query_row(
                "SELECT mac FROM audit_events WHERE seq = ?",
                [keep as i64],
                |r| r.get(0),
            )
            .expect("mac");
        set_meta(&conn, "audit_head_seq", &keep.to_string());
        set_meta(&conn, "audit_head_mac", &aivault_core::crypto::to_hex(&mac));
    }
    for handle in [&vault, &t.open()] {
        let verification = handle.verify_audit().expect("verify");
        assert!(
            !verification.ok,
            "truncation not detected: {verification:?}"
        );
        assert_eq!(verification.first_bad_seq, Some(keep + 1));
        assert!(
            verification
                .problem
                .as_deref()
                .unwrap_or("")
                .contains("not authentic"),
            "{verification:?}"
        );
    }
    // Removing the head tag as well does not help: an upgraded vault always has one.
    t.db()
        .execute("DELETE FROM meta WHERE key = 'audit_head_tag'", [])
        .expect("delete tag");
    assert!(!t.open().verify_audit().expect("verify").ok);
}

/// The whole `vault.db` replaced by one the attacker made with a key of their own, pointing
/// at their key file: the vault reads its key from configuration, so the attacker's key is
/// never used and nothing is written under it.
#[test]
fn a_vault_db_pointing_at_the_attackers_key_is_refused() {
    let t = TestDir::new();
    let victim = t.open();
    create(&victim, "OPENAI_API_KEY", &canary());
    drop(victim);

    // The attacker builds a vault with their own key file, outside the victim's directories.
    let attacker_dir = t.tmp.path().join("attacker");
    let attacker_key = t.tmp.path().join("attacker.key");
    let attacker = Config {
        default_key_file: attacker_key.clone(),
        ..Config::in_dir(&attacker_dir)
    };
    drop(Vault::open(attacker.clone()).expect("attacker vault"));
    let attacker_key_id = kek_id(&attacker);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(t.dir.join(format!("vault.db{ext}")));
    }
    std::fs::copy(attacker_dir.join("vault.db"), t.db_path()).expect("swap vault.db");
    set_meta(&t.db(), "key_file", &attacker_key.display().to_string());

    let vault = Vault::open(t.config()).expect("open (keyless work still possible)");
    let err = expect_err(
        vault.create_secret(new_secret("NEXT", &canary(), aivault_core::Scope::Global)),
        "create under the attacker's key",
    );
    assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
    assert!(
        err.message()
            .contains(&t.dir.join("kek.key").display().to_string()),
        "{err}"
    );
    assert_eq!(kek_id(&t.config()), attacker_key_id);
    let status = Vault::status(t.config()).expect("status");
    assert!(status.state.locked);
    assert_eq!(status.paths.key_file, Some(t.dir.join("kek.key")));

    // Only the metadata rows swapped (key id, wrapped audit key, key file) in the victim's own
    // database: refused the same way.
    let t2 = TestDir::new();
    let victim = t2.open();
    create(&victim, "OPENAI_API_KEY", &canary());
    drop(victim);
    {
        let theirs = rusqlite::Connection::open(attacker_dir.join("vault.db")).expect("theirs");
        let conn = t2.db();
        for key in [
            "key_id",
            "key_check",
            "audit_key_nonce",
            "audit_key_wrapped",
            "vault_id",
        ] {
            set_meta(&conn, key, &meta(&theirs, key).expect(key));
        }
        set_meta(&conn, "key_file", &attacker_key.display().to_string());
    }
    let vault = Vault::open(t2.config()).expect("open");
    let err = expect_err(vault.check_secrets(), "check under the attacker's key");
    assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
}

/// The key check value binds the vault id and key id to the key: rows changed around a
/// correct key are `integrity_failed`.
#[test]
fn the_key_check_value_is_verified() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "A", &canary());
    drop(vault);
    let good = meta(&t.db(), "key_check").expect("key check stored");
    set_meta(&t.db(), "key_check", &"00".repeat(32));
    let vault = t.open();
    let err = expect_err(vault.verify_audit(), "forged key check");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    let err = expect_err(vault.check_secrets(), "forged key check");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    set_meta(&t.db(), "key_check", &good);
    let vault = t.open();
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
    // The key provider and key variable rows are bound too: an env vault switched to
    // another variable that holds the same key is refused.
    let env_t = TestDir::new();
    let key = random_key();
    let env = env_of(&[("AIVAULT_KEY", &b64(&key)), ("OTHER_KEY", &b64(&key))]);
    let env_config = env_t.config().with_env(env);
    let vault = Vault::init(env_config.clone(), init_options(KeyProviderKind::Env)).expect("init");
    create(&vault, "A", &canary());
    drop(vault);
    set_meta(&env_t.db(), "key_env_var", "OTHER_KEY");
    let err = expect_err(
        Vault::open(env_config.clone())
            .expect("open")
            .check_secrets(),
        "switched key variable",
    );
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    set_meta(&env_t.db(), "key_env_var", "AIVAULT_KEY");
    assert_secrets_ok(&Vault::open(env_config).expect("open"));
    // A vault id that would steer a file name is refused outright.
    set_meta(&t.db(), "vault_id", "../../elsewhere");
    let err = expect_err(t.open().check_secrets(), "path in vault id");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
}

/// A vault made before key check values, row MACs and head tags is upgraded at its first
/// keyed open, in one transaction recorded in the log; removing the upgrade's rows later (to
/// slip a truncation or an edited row through a second upgrade) is refused: keyed calls fail
/// `integrity_failed` and `audit verify` reports the missing head tag.
#[test]
fn older_vaults_are_upgraded_once() {
    let (t, vault, events) = vault_with_events();
    drop(vault);
    let legacy = |t: &TestDir| {
        t.db()
            .execute(
                "DELETE FROM meta WHERE key IN ('key_check', 'audit_head_tag')",
                [],
            )
            .expect("make legacy");
    };
    legacy(&t);
    let vault = t.open();
    let conn = t.db();
    assert!(meta(&conn, "key_check").is_some());
    assert!(meta(&conn, "audit_head_tag").is_some());
    let kinds: Vec<String> = all_events(&vault).into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len() as u64, events + 1);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.as_str() == "vault.integrity_upgrade")
            .count(),
        1
    );
    assert_audit_ok(&vault);
    assert_secrets_ok(&vault);
    drop(vault);
    legacy(&t);
    let vault = t.open();
    let err = expect_err(
        vault.create_secret(new_secret("B", &canary(), aivault_core::Scope::Global)),
        "second upgrade",
    );
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    let verification = vault.verify_audit().expect("verify");
    assert!(!verification.ok, "{verification:?}");
    assert_eq!(verification.first_bad_seq, Some(events + 2));
    assert!(
        meta(&t.db(), "key_check").is_none(),
        "nothing was re-sealed"
    );
}

/// An existing key file is used only if it is a regular file owned by this user with mode
/// 0600: a symbolic link, a readable file or a directory is refused, naming the file.
#[test]
fn key_files_must_be_private_regular_files() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "A", &canary());
    drop(vault);
    let key_path = t.dir.join("kek.key");
    let moved = t.tmp.path().join("elsewhere.key");

    chmod(&key_path, 0o644);
    let err = expect_err(t.open().check_secrets(), "0644 key file");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    assert!(
        err.message().contains(&key_path.display().to_string()),
        "{err}"
    );
    assert!(err.message().contains("0644"), "{err}");
    chmod(&key_path, 0o600);

    std::fs::rename(&key_path, &moved).expect("move");
    std::os::unix::fs::symlink(&moved, &key_path).expect("symlink");
    let err = expect_err(t.open().check_secrets(), "symlinked key file");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    assert!(err.message().contains("symbolic link"), "{err}");
    std::fs::remove_file(&key_path).expect("unlink");
    std::fs::rename(&moved, &key_path).expect("restore");
    assert_secrets_ok(&t.open());

    // A new vault never adopts a symlinked or readable key file at its default location.
    let other = TestDir::new();
    std::fs::create_dir_all(&other.dir).expect("dir");
    std::os::unix::fs::symlink(&key_path, other.dir.join("kek.key")).expect("symlink");
    let err = expect_err(Vault::open(other.config()), "adopt a symlink");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
}

/// Existing directories keep their mode (a key file named in the home directory must not make
/// aivault chmod it); directories aivault creates are 0700.
#[test]
fn existing_directories_are_never_chmodded() {
    let t = TestDir::new();
    let shared = t.tmp.path().join("shared");
    std::fs::create_dir_all(&shared).expect("dir");
    chmod(&shared, 0o755);
    chmod(t.tmp.path(), 0o755);
    // The key file directly in an existing directory: that directory keeps its mode.
    let config = Config {
        default_key_file: shared.join("kek.key"),
        ..t.config()
    };
    let vault = Vault::open(config).expect("open");
    create(&vault, "A", &canary());
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(t.tmp.path()), 0o755);
    assert_eq!(mode(&t.dir), 0o700);
    assert_eq!(mode(&shared.join("kek.key")), 0o600);
    // A missing key directory is created private, every level of it.
    let t2 = TestDir::new();
    let config = Config {
        default_key_file: shared.join("a").join("b").join("kek.key"),
        ..t2.config()
    };
    create(&Vault::open(config).expect("open"), "A", &canary());
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(&shared.join("a")), 0o700);
    assert_eq!(mode(&shared.join("a").join("b")), 0o700);
}

/// `init --file-path` elsewhere than the configured key file is refused with the way out
/// (`AIVAULT_KEY_FILE`): the location is configuration, never a database row.
#[test]
fn init_file_path_must_be_the_configured_key_file() {
    let t = TestDir::new();
    let elsewhere = t.tmp.path().join("mine.key");
    let err = expect_err(
        Vault::init(
            t.config(),
            InitOptions {
                key_file: Some(elsewhere.clone()),
                ..init_options(KeyProviderKind::File)
            },
        ),
        "init elsewhere",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("AIVAULT_KEY_FILE"), "{err}");
    assert!(!elsewhere.exists());
    let config = Config {
        default_key_file: elsewhere.clone(),
        ..t.config()
    };
    let vault = Vault::init(
        config.clone(),
        InitOptions {
            key_file: Some(elsewhere.clone()),
            ..init_options(KeyProviderKind::File)
        },
    )
    .expect("init at the configured key file");
    create(&vault, "A", &canary());
    assert_eq!(
        Vault::status(config).expect("status").paths.key_file,
        Some(elsewhere)
    );
}

/// Keys staged by a rotation killed before its commit are removed at the next open; the key
/// of a committed rotation that was not yet promoted is promoted, never removed.
#[test]
fn stale_staged_keys_are_removed_at_open() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "A", &canary());
    let key_path = t.dir.join("kek.key");
    let stale_key = random_key();
    let stale = staged_key_path(&key_path, &key_id(&stale_key));
    std::fs::write(&stale, b64(&stale_key)).expect("stage");
    chmod(&stale, 0o600);
    drop(vault);
    let vault = t.open();
    assert!(!stale.exists(), "stale staged key left behind");
    assert_secrets_ok(&vault);
    let new_id = vault.rotate_master(NewMasterKey::Random).expect("rotate");
    assert_eq!(kek_id(&t.config()), new_id);
    assert!(staged_keys(&t.dir).is_empty());
    assert_secrets_ok(&t.open());
}

/// Deleting `vault.db` next to aivault's key file never yields a silently empty vault: the
/// first open fails naming the key file; `init --force` starts a new vault with that key.
#[test]
fn a_deleted_vault_db_is_not_replaced_by_an_empty_vault() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "OPENAI_API_KEY", &canary());
    drop(vault);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(t.dir.join(format!("vault.db{ext}")));
    }
    let key_path = t.dir.join("kek.key");
    for result in [
        Vault::open(t.config()).map(|_| ()),
        Vault::init(t.config(), InitOptions::file()).map(|_| ()),
    ] {
        let err = expect_err(result, "open after vault.db was deleted");
        assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
        assert!(
            err.message().contains(&key_path.display().to_string()),
            "{err}"
        );
        assert!(err.message().contains("--force"), "{err}");
    }
    assert!(!Vault::status(t.config()).expect("status").state.initialized);
    let key = read_key(&key_path);
    let vault = Vault::init(
        t.config(),
        InitOptions {
            force: true,
            ..InitOptions::file()
        },
    )
    .expect("init --force");
    assert_eq!(all_secrets(&vault).len(), 0);
    assert_eq!(kek_id(&t.config()), key_id(&key));
}

fn read_key(path: &Path) -> aivault_core::Key32 {
    aivault_core::keys::read_key_file(path).expect("key")
}

/// Replacing vault.db with an older copy of itself (consistent, every MAC authentic): the
/// row-state generation recorded beside the key file is ahead of the copy's, so the first
/// keyed call fails and verify reports it.
#[test]
fn an_older_copy_of_vault_db_is_detected() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "MY_CUSTOM_KEY", &canary());
    drop(vault);
    let backup = t.tmp.path().join("vault.db.backup");
    std::fs::copy(t.db_path(), &backup).expect("backup");
    let vault = t.open();
    create(&vault, "OPENAI_API_KEY", &canary()); // provisions a credential: a row change
    drop(vault);
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(t.dir.join(format!("vault.db{ext}")));
    }
    std::fs::copy(&backup, t.db_path()).expect("roll back");
    let vault = t.open();
    let err = expect_err(
        vault.create_secret(new_secret("X", &canary(), aivault_core::Scope::Global)),
        "older copy",
    );
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    assert!(err.message().contains("older copy"), "{err}");
    let v = vault.verify().expect("verify");
    assert!(!v.ok, "{v:?}");
}
