//! Integration tests of key providers and master-key rotation on real vaults: env keys in
//! base64 and hex, missing and wrong keys, passphrase sessions with lock and unlock, and
//! `rotate_master` for the file, env and passphrase providers.

mod common;

use aivault_core::keys::key_id;
use aivault_core::{
    Config, ErrorKind, InitOptions, KeyProviderKind, NewMasterKey, SecretValue, Vault,
};
use base64::Engine;
use common::*;

#[test]
fn env_provider_accepts_base64_and_hex_keys() {
    let key = random_key();
    for (label, text) in [
        ("base64", b64(&key)),
        (
            "base64 url-safe unpadded",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.expose()),
        ),
        ("hex", hex(&key)),
        ("upper hex", hex(&key).to_uppercase()),
    ] {
        let t = TestDir::new();
        let config = t.config().with_env(env_of(&[("AIVAULT_KEY", &text)]));
        let vault = Vault::init(config.clone(), init_options(KeyProviderKind::Env))
            .unwrap_or_else(|e| panic!("init with a {label} key: {e}"));
        let value = canary();
        create(&vault, "OPENAI_API_KEY", &value);
        assert_eq!(
            vault.key_provider().expect("provider"),
            KeyProviderKind::Env
        );
        assert_eq!(kek_id(&config), key_id(&key), "{label}");
        // The same key in the other encoding opens it too.
        let other = if label.contains("hex") {
            b64(&key)
        } else {
            hex(&key)
        };
        let reopened =
            Vault::open(t.config().with_env(env_of(&[("AIVAULT_KEY", &other)]))).expect("reopen");
        create(&reopened, "MY_CUSTOM_KEY", "v");
        assert_eq!(assert_secrets_ok(&reopened), 2);
        assert_audit_ok(&reopened);
        let status = Vault::status(config).expect("status");
        assert_eq!(status.state.provider_type, Some(KeyProviderKind::Env));
        assert_eq!(status.paths.key_env_var.as_deref(), Some("AIVAULT_KEY"));
        assert_eq!(status.paths.key_file, None);
        assert!(
            !t.dir.join("kek.key").exists(),
            "an env vault wrote a key file"
        );
        // Neither the key nor the value is on disk.
        assert_files_clean(
            &t.dir,
            &[value.as_bytes(), text.as_bytes(), other.as_bytes()],
        );
    }

    // A custom variable name.
    let t = TestDir::new();
    let config = t.config().with_env(env_of(&[("MY_VAULT_KEY", &hex(&key))]));
    let vault = Vault::init(
        config.clone(),
        InitOptions {
            env_var: Some("MY_VAULT_KEY".into()),
            ..init_options(KeyProviderKind::Env)
        },
    )
    .expect("init with MY_VAULT_KEY");
    create(&vault, "K", "v");
    let status = Vault::status(config).expect("status");
    assert_eq!(status.paths.key_env_var.as_deref(), Some("MY_VAULT_KEY"));
    let wrong_var =
        Vault::open(t.config().with_env(env_of(&[("AIVAULT_KEY", &hex(&key))]))).expect("open");
    let err = expect_err(
        wrong_var.create_secret(new_secret("K2", "v", aivault_core::Scope::Global)),
        "other var",
    );
    assert_eq!(err.kind(), ErrorKind::VaultLocked);
    assert!(err.message().contains("MY_VAULT_KEY"), "{err}");
}

#[test]
fn env_provider_missing_or_wrong_key_fails_cleanly() {
    let key = random_key();
    let t = TestDir::new();

    // No variable at init: vault_locked, and no vault is created.
    let err = expect_err(
        Vault::init(t.config(), init_options(KeyProviderKind::Env)),
        "init without AIVAULT_KEY",
    );
    assert_eq!(err.kind(), ErrorKind::VaultLocked);
    assert_eq!(err.kind().as_str(), "vault_locked");
    assert!(!Vault::status(t.config()).expect("status").state.initialized);

    // A malformed key: invalid_input, the text is not echoed, and no vault is created.
    for bad in [
        "c2hvcnQ=",
        &"zz".repeat(32),
        "not a key at all!",
        &hex(&key)[..62],
    ] {
        let err = expect_err(
            Vault::init(
                t.config().with_env(env_of(&[("AIVAULT_KEY", bad)])),
                init_options(KeyProviderKind::Env),
            ),
            bad,
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
        assert_not_in(bad, "error", err.message());
        assert!(err.message().contains("AIVAULT_KEY"), "{err}");
        assert!(!Vault::status(t.config()).expect("status").state.initialized);
    }
    let err = expect_err(
        Vault::init(
            t.config().with_env(env_of(&[("bad name", &hex(&key))])),
            InitOptions {
                env_var: Some("bad name".into()),
                ..init_options(KeyProviderKind::Env)
            },
        ),
        "bad variable name",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    let good = t.config().with_env(env_of(&[("AIVAULT_KEY", &b64(&key))]));
    let vault = Vault::init(good.clone(), init_options(KeyProviderKind::Env)).expect("init");
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let counts = Vault::status(good.clone()).expect("status").counts;

    // Init again: already_exists, whatever the provider.
    for options in [init_options(KeyProviderKind::Env), InitOptions::file()] {
        let err = expect_err(Vault::init(good.clone(), options), "init twice");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    }
    assert!(!t.dir.join("kek.key").exists());

    // The variable unset: vault_locked, nothing written; status reports the lock.
    let unset = Vault::open(t.config()).expect("open without the key");
    let err = expect_err(
        unset.create_secret(new_secret(
            "MY_CUSTOM_KEY",
            &value,
            aivault_core::Scope::Global,
        )),
        "create without key",
    );
    assert_eq!(err.kind(), ErrorKind::VaultLocked);
    assert!(err.message().contains("AIVAULT_KEY"), "{err}");
    assert_not_in(&value, "error", err.message());
    assert_eq!(
        expect_err(unset.check_secrets(), "check without key").kind(),
        ErrorKind::VaultLocked
    );
    let status = Vault::status(t.config()).expect("status");
    assert!(status.state.initialized);
    assert!(status.state.locked);
    assert!(status.state.lock_reason.is_some());
    assert_eq!(status.counts, counts, "a locked create wrote something");
    // Listing needs no key.
    assert_eq!(all_secrets(&unset).len(), 1);

    // A wrong key: decrypt_failed, and neither key appears in the message.
    let wrong = random_key();
    let wrong_vault = Vault::open(
        t.config()
            .with_env(env_of(&[("AIVAULT_KEY", &hex(&wrong))])),
    )
    .expect("open with a wrong key");
    for err in [
        expect_err(
            wrong_vault.create_secret(new_secret(
                "MY_CUSTOM_KEY",
                &value,
                aivault_core::Scope::Global,
            )),
            "create with wrong key",
        ),
        expect_err(wrong_vault.check_secrets(), "check with wrong key"),
        expect_err(wrong_vault.verify_audit(), "verify with wrong key"),
        expect_err(
            wrong_vault.rotate_master(NewMasterKey::Key(random_key())),
            "rotate with wrong key",
        ),
    ] {
        assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
        for secret in [
            hex(&wrong),
            b64(&wrong),
            hex(&key),
            b64(&key),
            value.clone(),
        ] {
            assert_not_in(&secret, "error", err.message());
        }
    }
    assert_eq!(Vault::status(good.clone()).expect("status").counts, counts);
    let vault = Vault::open(good).expect("reopen");
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
}

#[test]
fn passphrase_sessions_lock_and_unlock() {
    let t = TestDir::new();
    let runtime = tempfile::tempdir().expect("runtime dir");
    // Session directories must be private (0700) or they are refused.
    std::fs::set_permissions(
        runtime.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod runtime dir");
    let passphrase = format!("correct horse {}", canary());
    let config = Config {
        runtime_dir: runtime.path().to_path_buf(),
        ..t.config()
    };
    let err = expect_err(
        Vault::init(
            config.clone(),
            InitOptions {
                passphrase: Some("".into()),
                ..init_options(KeyProviderKind::Passphrase)
            },
        ),
        "empty passphrase",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = expect_err(
        Vault::init(config.clone(), init_options(KeyProviderKind::Passphrase)),
        "no passphrase",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        !Vault::status(config.clone())
            .expect("status")
            .state
            .initialized
    );

    let vault = Vault::init(
        config.clone(),
        InitOptions {
            passphrase: Some(passphrase.as_str().into()),
            ..init_options(KeyProviderKind::Passphrase)
        },
    )
    .expect("init passphrase vault");
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let status = Vault::status(config.clone()).expect("status");
    let session = status.paths.session_file.clone().expect("session path");
    assert!(session.starts_with(runtime.path()), "{}", session.display());
    assert!(session.exists());
    assert_eq!(mode(&session), 0o600);
    assert!(!status.state.locked);

    // A fresh handle with the same runtime dir uses the session (no passphrase needed).
    let fresh = Vault::open(config.clone()).expect("open");
    create(&fresh, "MY_CUSTOM_KEY", "v");
    assert_secrets_ok(&fresh);
    // A handle with another runtime dir has no session.
    let elsewhere = tempfile::tempdir().expect("other runtime dir");
    std::fs::set_permissions(
        elsewhere.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod other runtime dir");
    let other = Vault::open(Config {
        runtime_dir: elsewhere.path().to_path_buf(),
        ..t.config()
    })
    .expect("open");
    let err = expect_err(
        other.create_secret(new_secret("X", "v", aivault_core::Scope::Global)),
        "no session",
    );
    assert_eq!(err.kind(), ErrorKind::VaultLocked);

    // Lock: the session is gone and new handles are locked.
    assert!(fresh.lock().expect("lock"));
    assert!(!session.exists());
    assert!(
        !fresh.lock().expect("lock again"),
        "second lock found a session"
    );
    let counts = Vault::status(config.clone()).expect("status").counts;
    let locked = Vault::open(config.clone()).expect("open");
    let err = expect_err(
        locked.create_secret(new_secret("AFTER_LOCK", "v", aivault_core::Scope::Global)),
        "create after lock",
    );
    assert_eq!(err.kind(), ErrorKind::VaultLocked, "{err}");
    assert_eq!(
        expect_err(fresh.check_secrets(), "the locking handle forgot its keys").kind(),
        ErrorKind::VaultLocked
    );
    // Handles that were already open (and had loaded the key from the session) lock too.
    assert_eq!(
        expect_err(vault.check_secrets(), "an older handle after lock").kind(),
        ErrorKind::VaultLocked
    );
    assert!(Vault::status(config.clone()).expect("status").state.locked);
    assert_eq!(
        Vault::status(config.clone()).expect("status").counts,
        counts
    );

    // Unlock with a wrong passphrase: decrypt_failed, not echoed, still locked.
    let wrong = format!("not-it-{}", canary());
    let err = expect_err(locked.unlock(&wrong.as_str().into()), "wrong passphrase");
    assert_eq!(err.kind(), ErrorKind::DecryptFailed);
    assert_not_in(&wrong, "error", err.message());
    assert!(!session.exists());

    // AIVAULT_PASSPHRASE works without a session, and creates none.
    let via_env = Vault::open(
        config
            .clone()
            .with_env(env_of(&[("AIVAULT_PASSPHRASE", &passphrase)])),
    )
    .expect("open");
    create(&via_env, "VIA_ENV", "v");
    assert_eq!(assert_secrets_ok(&via_env), 3);
    assert!(!session.exists());

    // Unlock with the right one: every handle works again.
    locked.unlock(&passphrase.as_str().into()).expect("unlock");
    assert!(session.exists());
    create(
        &Vault::open(config.clone()).expect("open"),
        "AFTER_UNLOCK",
        "v",
    );
    assert_eq!(assert_secrets_ok(&vault), 4);
    assert_audit_ok(&vault);
    let kinds: Vec<String> = all_events(&vault).into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"vault.lock".to_string()));
    assert!(kinds.contains(&"vault.unlock".to_string()));

    // Unlock and lock are for passphrase vaults only.
    let file_vault = TestDir::new();
    let file = file_vault.open();
    assert_eq!(
        expect_err(file.unlock(&"x".into()), "unlock file vault").kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        expect_err(file.lock(), "lock file vault").kind(),
        ErrorKind::InvalidInput
    );

    for needle in [&value, &passphrase] {
        assert_audit_clean(&vault, needle);
        assert_files_clean(&t.dir, &[needle.as_bytes()]);
        assert_files_clean(runtime.path(), &[needle.as_bytes()]);
    }
}

#[test]
fn rotate_master_file_provider() {
    let t = TestDir::new();
    let vault = t.open();
    let values: Vec<String> = (0..3).map(|_| canary()).collect();
    create(&vault, "OPENAI_API_KEY", &values[0]);
    create(&vault, "TRELLO_API_KEY", &values[1]);
    create(&vault, "TRELLO_TOKEN", &values[2]);
    let other = t.open(); // opened (and keyed) before the rotations
    assert_secrets_ok(&other);
    let first_key = assert_key_file(&t.dir, None);
    let first_id = kek_id(&t.config());
    assert_eq!(first_id, key_id(&first_key));

    // Random, from a fresh handle that has not loaded the key yet (as every CLI run does).
    let second_id = t
        .open()
        .rotate_master(NewMasterKey::Random)
        .expect("rotate random");
    assert_ne!(second_id, first_id);
    assert_eq!(kek_id(&t.config()), second_id);
    let second_key = assert_key_file(&t.dir, None);
    assert_eq!(key_id(&second_key), second_id);
    assert_eq!(assert_secrets_ok(&vault), 3);
    assert_audit_ok(&vault);

    // The handle opened before it reloads the key: what it writes decrypts for everyone.
    create(&other, "AFTER_FIRST_ROTATION", "v");
    assert_eq!(assert_secrets_ok(&vault), 4);

    // A given key.
    let third = random_key();
    let third_id = vault
        .rotate_master(NewMasterKey::Key(third.clone()))
        .expect("rotate to a given key");
    assert_eq!(third_id, key_id(&third));
    assert_key_file(&t.dir, Some(&third));
    create(&other, "AFTER_SECOND_ROTATION", "v");
    for handle in [&vault, &other, &t.open()] {
        assert_eq!(assert_secrets_ok(handle), 5);
        assert_audit_ok(handle);
    }
    let rotations: Vec<String> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "vault.rotate_master_key")
        .filter_map(|e| e.note)
        .collect();
    assert_eq!(
        rotations,
        [
            format!("key id {second_id} -> {third_id}"),
            format!("key id {first_id} -> {second_id}")
        ]
    );

    // The current key again: invalid_input, nothing changes.
    let err = expect_err(
        vault.rotate_master(NewMasterKey::Key(third.clone())),
        "bad rotation",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_key_file(&t.dir, Some(&third));
    assert_eq!(kek_id(&t.config()), third_id);
    assert_eq!(mode(&t.dir), 0o700);

    // An old key copied back over the key file no longer opens the vault.
    std::fs::write(t.dir.join("kek.key"), b64(&first_key)).expect("restore old key");
    let err = expect_err(t.open().check_secrets(), "old key");
    assert_eq!(err.kind(), ErrorKind::DecryptFailed);
    assert_not_in(&b64(&first_key), "error", err.message());

    for v in &values {
        assert_audit_clean(&vault, v);
    }
    let needles: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    assert_files_clean(&t.dir, &needles);
}

#[test]
fn rotate_master_env_provider() {
    let old = random_key();
    let new = random_key();
    let t = TestDir::new();
    let env = MutableEnv::default();
    env.set("AIVAULT_KEY", Some(&b64(&old)));
    let config = t.config().with_env(env.lookup());
    let vault = Vault::init(config.clone(), init_options(KeyProviderKind::Env)).expect("init");
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    create(&vault, "MY_CUSTOM_KEY", "v");
    let other = Vault::open(config.clone()).expect("open another handle");
    assert_secrets_ok(&other);

    let err = expect_err(vault.rotate_master(NewMasterKey::Random), "env needs a key");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let new_id = vault
        .rotate_master(NewMasterKey::Key(new.clone()))
        .expect("rotate");
    assert_eq!(new_id, key_id(&new));
    assert_eq!(kek_id(&config), new_id);
    assert!(!t.dir.join("kek.key").exists());

    // The old key no longer opens the vault, in this handle or a new one.
    for handle in [&vault, &Vault::open(config.clone()).expect("open")] {
        let err = expect_err(handle.check_secrets(), "old env key");
        assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
        assert_not_in(&b64(&old), "error", err.message());
        assert_not_in(&b64(&new), "error", err.message());
    }
    // The new one does, in every handle (including the one opened before the rotation).
    env.set("AIVAULT_KEY", Some(&hex(&new)));
    create(&other, "AFTER_ROTATION", "v");
    for handle in [&vault, &other, &Vault::open(config.clone()).expect("open")] {
        assert_eq!(assert_secrets_ok(handle), 3);
        assert_audit_ok(handle);
    }
    assert_audit_clean(&vault, &value);
    assert_files_clean(
        &t.dir,
        &[value.as_bytes(), b64(&new).as_bytes(), hex(&new).as_bytes()],
    );
}

#[test]
fn rotate_master_passphrase_provider() {
    let t = TestDir::new();
    let config = t.config();
    let old = "old passphrase".to_string();
    let new = "new passphrase".to_string();
    let vault = Vault::init(
        config.clone(),
        InitOptions {
            passphrase: Some(old.as_str().into()),
            ..init_options(KeyProviderKind::Passphrase)
        },
    )
    .expect("init");
    create(&vault, "OPENAI_API_KEY", &canary());
    let other = Vault::open(config.clone()).expect("another handle");
    assert_secrets_ok(&other);
    let old_id = kek_id(&config);
    assert_eq!(
        expect_err(vault.rotate_master(NewMasterKey::Random), "random").kind(),
        ErrorKind::InvalidInput
    );

    let new_id = vault
        .rotate_master(NewMasterKey::Passphrase(new.as_str().into()))
        .expect("rotate");
    assert_ne!(new_id, old_id);
    assert_eq!(kek_id(&config), new_id);
    // The session was renewed: every handle keeps working without a passphrase.
    create(&other, "AFTER_ROTATION", "v");
    for handle in [&vault, &other, &Vault::open(config.clone()).expect("open")] {
        assert_eq!(assert_secrets_ok(handle), 2);
        assert_audit_ok(handle);
    }

    // After a lock, only the new passphrase unlocks.
    assert!(vault.lock().expect("lock"));
    let locked = Vault::open(config.clone()).expect("open");
    let err = expect_err(
        locked.unlock(&SecretValue::from(old.as_str())),
        "old passphrase",
    );
    assert_eq!(err.kind(), ErrorKind::DecryptFailed);
    assert_eq!(
        expect_err(locked.check_secrets(), "still locked").kind(),
        ErrorKind::VaultLocked
    );
    locked
        .unlock(&SecretValue::from(new.as_str()))
        .expect("new passphrase");
    assert_eq!(assert_secrets_ok(&locked), 2);
    assert_audit_ok(&locked);
    assert_files_clean(&t.dir, &[old.as_bytes(), new.as_bytes()]);
}

/// A key file aivault did not write (the original tool keeps its key at the same default
/// path, base64 without a header) is never adopted by default, and never rotated or
/// overwritten even when the operator named it.
#[test]
fn another_tools_key_file_is_never_adopted_or_overwritten() {
    let t = TestDir::new();
    let keys_dir = t.tmp.path().join("keys");
    std::fs::create_dir_all(&keys_dir).expect("keys dir");
    let foreign_path = keys_dir.join("kek.key");
    let foreign_key = random_key();
    std::fs::write(&foreign_path, b64(&foreign_key)).expect("foreign key");
    // The other tool keeps its key private (0600): only such a file is ever adopted.
    std::fs::set_permissions(
        &foreign_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let foreign_bytes = std::fs::read(&foreign_path).expect("read");
    let config = Config {
        default_key_file: foreign_path.clone(),
        ..t.config()
    };

    // At the default path: refused (first open and explicit init), naming the file, never
    // its content; the file is untouched and no vault exists.
    for result in [
        Vault::open(config.clone()).map(|_| ()),
        Vault::init(config.clone(), init_options(KeyProviderKind::File)).map(|_| ()),
    ] {
        let err = expect_err(result, "foreign default key file");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert!(err.message().contains(&foreign_path.display().to_string()));
        assert!(err.message().contains("--file-path"), "{err}");
        assert_not_in(&b64(&foreign_key), "error", err.message());
    }
    assert_eq!(std::fs::read(&foreign_path).expect("read"), foreign_bytes);
    assert!(
        !Vault::status(config.clone())
            .expect("status")
            .state
            .initialized
    );

    // Named by the operator: adopted as is.
    let vault = Vault::init(
        config.clone(),
        InitOptions {
            key_file: Some(foreign_path.clone()),
            ..init_options(KeyProviderKind::File)
        },
    )
    .expect("init with the named file");
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    assert_eq!(kek_id(&config), key_id(&foreign_key));
    let vault_id = Vault::status(config.clone())
        .expect("status")
        .state
        .vault_id
        .expect("vault id");

    // Rotation leaves it byte-identical: the new key goes to a file of aivault's own beside
    // it, and the vault uses that file from then on (also from a fresh handle).
    let new_id = vault
        .rotate_master(NewMasterKey::Random)
        .expect("rotate away from a foreign key file");
    assert_eq!(std::fs::read(&foreign_path).expect("read"), foreign_bytes);
    let own_path = keys_dir.join(format!("aivault-{vault_id}.key"));
    let own = aivault_core::keys::read_key_file_checked(&own_path).expect("own key file");
    assert!(own.written_by_aivault);
    assert_eq!(key_id(&own.key), new_id);
    assert_eq!(mode(&own_path), 0o600);
    let status = Vault::status(config.clone()).expect("status");
    assert_eq!(status.paths.key_file.as_deref(), Some(own_path.as_path()));
    for handle in [&vault, &Vault::open(config.clone()).expect("reopen")] {
        assert_eq!(assert_secrets_ok(handle), 1);
        assert_audit_ok(handle);
    }
    // The next rotation replaces aivault's own file in place.
    let newer_id = vault
        .rotate_master(NewMasterKey::Random)
        .expect("rotate again");
    assert_eq!(
        key_id(&aivault_core::keys::read_key_file(&own_path).expect("own")),
        newer_id
    );
    assert_eq!(std::fs::read(&foreign_path).expect("read"), foreign_bytes);
    // Besides the row-state generation record (`aivault-<vault id>.generation`), only the
    // two key files.
    let names: Vec<String> = std::fs::read_dir(&keys_dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".generation"))
        .collect();
    assert_eq!(names.len(), 2, "only the two key files: {names:?}");
    assert_audit_clean(&vault, &value);
}

/// aivault's key files carry `aivault-key v1 <key id>`; a header that does not match the key
/// in the file is tampering, reported as such. A key file written before the header existed
/// (an older aivault vault) still opens.
#[test]
fn key_file_header_is_checked_and_legacy_files_open() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let path = t.dir.join("kek.key");
    let text = std::fs::read_to_string(&path).expect("key file");
    let (header, key_line) = text.split_once('\n').expect("header line");
    assert_eq!(header, format!("aivault-key v1 {}", kek_id(&t.config())));

    // Another key id in the header: integrity_failed, with the file named.
    let other = key_id(&random_key());
    std::fs::write(&path, format!("aivault-key v1 {other}\n{key_line}")).expect("tamper");
    let err = expect_err(t.open().check_secrets(), "tampered header");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{err}");
    assert!(err.message().contains("kek.key"), "{err}");
    assert_not_in(key_line.trim(), "error", err.message());

    // The same key without a header (how older aivault versions wrote it): opens.
    std::fs::write(&path, key_line.trim()).expect("legacy form");
    assert_eq!(assert_secrets_ok(&t.open()), 1);
    std::fs::write(&path, &text).expect("restore");
    assert_eq!(assert_secrets_ok(&t.open()), 1);
    assert_audit_clean(&vault, &value);
}

/// `rotate-master` with a new passphrase turns a file or env vault into a passphrase vault in
/// one transaction: afterwards only the passphrase (or its unlock session) opens it, the old
/// key file or variable opens nothing, and the audit records the switch.
#[test]
fn file_and_env_vaults_switch_to_a_passphrase() {
    for from in [KeyProviderKind::File, KeyProviderKind::Env] {
        let t = TestDir::new();
        let runtime = tempfile::tempdir().expect("runtime dir");
        std::fs::set_permissions(
            runtime.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod runtime dir");
        let old_key = random_key();
        let env = MutableEnv::default();
        env.set("AIVAULT_KEY", Some(&b64(&old_key)));
        let config = Config {
            runtime_dir: runtime.path().to_path_buf(),
            ..t.config().with_env(env.lookup())
        };
        let vault = Vault::init(config.clone(), init_options(from)).expect("init");
        let value = canary();
        create(&vault, "OPENAI_API_KEY", &value);
        let old_id = kek_id(&config);
        let key_file = t.dir.join("kek.key");
        let key_file_before = std::fs::read(&key_file).ok();

        let passphrase = format!("switch {}", canary());
        let new_id = vault
            .rotate_master(NewMasterKey::Passphrase(passphrase.as_str().into()))
            .expect("switch to a passphrase");
        assert_ne!(new_id, old_id);
        let status = Vault::status(config.clone()).expect("status");
        assert_eq!(
            status.state.provider_type,
            Some(KeyProviderKind::Passphrase)
        );
        assert_eq!(status.state.kek_id.as_deref(), Some(new_id.as_str()));
        assert!(!status.state.locked, "the switch writes an unlock session");
        assert_eq!(status.paths.key_file, None);
        assert_eq!(status.paths.key_env_var, None);
        // The old key file is left as it was (another vault may share it), opening nothing.
        assert_eq!(std::fs::read(&key_file).ok(), key_file_before);

        // The session opens it; once locked, only the passphrase does.
        assert_eq!(
            assert_secrets_ok(&Vault::open(config.clone()).expect("open")),
            1
        );
        assert!(vault.lock().expect("lock"));
        let err = expect_err(
            Vault::open(config.clone()).expect("open").check_secrets(),
            "locked",
        );
        assert_eq!(err.kind(), ErrorKind::VaultLocked, "{err}");
        Vault::open(config.clone())
            .expect("open")
            .unlock(&passphrase.as_str().into())
            .expect("unlock with the new passphrase");
        assert_eq!(
            assert_secrets_ok(&Vault::open(config.clone()).expect("open")),
            1
        );
        assert_audit_ok(&vault);
        let note = all_events(&vault)
            .into_iter()
            .find(|e| e.kind == "vault.rotate_master_key")
            .and_then(|e| e.note)
            .expect("rotation event");
        assert_eq!(
            note,
            format!(
                "key id {old_id} -> {new_id} provider {} -> passphrase",
                from.as_str()
            )
        );
        // A passphrase vault takes no key.
        let err = expect_err(
            vault.rotate_master(NewMasterKey::Key(random_key())),
            "passphrase vault given a key",
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_audit_clean(&vault, &value);
        assert_audit_clean(&vault, &passphrase);
        assert_files_clean(&t.dir, &[value.as_bytes(), passphrase.as_bytes()]);
    }
}
