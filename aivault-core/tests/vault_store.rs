//! Integration tests of the rest of the `Vault` facade on real SQLite vaults: group
//! attachment, bulk import (all or nothing), file modes, status, and one vault used at once
//! from many threads sharing a handle and from many handles opened together.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use aivault_core::{
    AuditQuery, ErrorKind, GroupRef, KeyProviderKind, NewSecret, Scope, StatusCounts, Vault,
};
use common::*;

#[test]
fn attach_and_detach_groups() {
    let t = TestDir::new();
    let vault = t.open();
    let global = create(&vault, "SHARED_KEY", "v");
    let id = global.secret.secret_id.clone();
    let g1 = GroupRef::new("w1", "g1").expect("group");
    let g0 = GroupRef::new("w0", "g9").expect("group");

    let attached = vault.attach_group(&id, &g1).expect("attach");
    assert_eq!(attached.attached_groups, std::slice::from_ref(&g1));
    let events = audit_count(&vault);
    let twice = vault.attach_group(&id, &g1).expect("attach twice");
    assert_eq!(twice.attached_groups, std::slice::from_ref(&g1));
    assert_eq!(audit_count(&vault), events, "a no-op attach is not audited");
    let both = vault.attach_group(&id, &g0).expect("attach another");
    assert_eq!(both.attached_groups, [g0.clone(), g1.clone()]);
    assert_eq!(
        all_secrets(&vault)[0].attached_groups,
        [g0.clone(), g1.clone()]
    );

    let detached = vault.detach_group(&id, &g1).expect("detach");
    assert_eq!(detached.attached_groups, std::slice::from_ref(&g0));
    let err = expect_err(vault.detach_group(&id, &g1), "detach again");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = expect_err(
        vault.detach_group(&id, &GroupRef::new("w0", "other").expect("group")),
        "detach never attached",
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);

    for scope in [ws("w1"), group("w1", "g1")] {
        let scoped = vault
            .create_secret(new_secret("SCOPED", "v", scope.clone()))
            .expect("scoped");
        let err = expect_err(
            vault.attach_group(&scoped.secret.secret_id, &g1),
            "attach scoped",
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{scope}: {err}");
        assert!(
            vault
                .get_secret(&scoped.secret.secret_id)
                .expect("get")
                .attached_groups
                .is_empty()
        );
    }
    let bad_group = GroupRef {
        workspace_id: "w 1".into(),
        group_id: "g1".into(),
    };
    let err = expect_err(vault.attach_group(&id, &bad_group), "bad group id");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let unknown = "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70";
    let err = expect_err(vault.attach_group(unknown, &g1), "unknown id");
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let kinds: Vec<String> = vault
        .audit(&AuditQuery {
            secret_id: Some(id.clone()),
            ..AuditQuery::default()
        })
        .expect("audit")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "secret.detach",
            "secret.attach",
            "secret.attach",
            "secret.create"
        ]
    );
    // Deleting an attached secret removes its attachments with it.
    vault.delete_secret(&id).expect("delete attached");
    assert_audit_ok(&vault);
}

#[test]
fn import_creates_rotates_skips_and_is_all_or_nothing() {
    let t = TestDir::new();
    let vault = t.open();
    let values: Vec<String> = (0..4).map(|_| canary()).collect();
    let existing = vault
        .create_secret(NewSecret {
            name: "EXISTING".into(),
            value: values[0].as_str().into(),
            scope: Scope::Global,
            aliases: vec!["TAKEN_ALIAS".into()],
        })
        .expect("existing");

    let report = vault
        .import_secrets(
            vec![
                ("NEW_B".into(), values[1].as_str().into()),
                ("EXISTING".into(), values[2].as_str().into()),
                ("EMPTY".into(), "".into()),
                ("OPENAI_API_KEY".into(), values[3].as_str().into()),
                ("NEW_A".into(), "a".into()),
            ],
            &Scope::Global,
        )
        .expect("import");
    assert_debug_clean(&values[1], "import report", &report);
    assert_eq!(report.created, ["NEW_A", "NEW_B", "OPENAI_API_KEY"]);
    assert_eq!(report.rotated, ["EXISTING"]);
    assert_eq!(report.skipped, ["EMPTY"]);
    assert_eq!(
        report.provisioning,
        [provisioned("openai", "openai", 17, true)]
    );
    assert_eq!(
        serde_json::to_value(&report).expect("json"),
        serde_json::json!({
            "created": ["NEW_A", "NEW_B", "OPENAI_API_KEY"],
            "rotated": ["EXISTING"],
            "skipped": ["EMPTY"],
        })
    );
    assert_eq!(
        vault
            .get_secret(&existing.secret.secret_id)
            .expect("get")
            .value_version,
        2
    );
    let names: Vec<String> = all_secrets(&vault).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["EXISTING", "NEW_A", "NEW_B", "OPENAI_API_KEY"]);
    assert_eq!(vault.list_credentials().expect("credentials").len(), 1);

    // Invalid imports write nothing, even when valid entries sort before the bad one.
    let snapshot = all_secrets(&vault);
    let events = audit_count(&vault);
    let credentials = vault.list_credentials().expect("credentials");
    let bad_imports: Vec<(Vec<(&str, &str)>, ErrorKind)> = vec![
        (
            vec![("AAA_FIRST", "x"), ("DUP", "1"), ("DUP", "2")],
            ErrorKind::InvalidInput,
        ),
        (
            vec![("AAA_FIRST", "x"), ("  ", "1")],
            ErrorKind::InvalidInput,
        ),
        (vec![("AAA_FIRST", "x"), ("", "1")], ErrorKind::InvalidInput),
        (vec![], ErrorKind::InvalidInput),
        (
            vec![
                ("AAA_FIRST", "x"),
                ("NEW_A", "rotated?"),
                ("TAKEN_ALIAS", "x"),
            ],
            ErrorKind::AlreadyExists,
        ),
        (
            vec![
                ("ANTHROPIC_API_KEY", "sk-ant-long-enough"),
                ("EXISTING", "y"),
                ("TAKEN_ALIAS", "x"),
            ],
            ErrorKind::AlreadyExists,
        ),
    ];
    for (entries, kind) in bad_imports {
        let err = expect_err(
            vault.import_secrets(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), (*v).into()))
                    .collect(),
                &Scope::Global,
            ),
            "bad import",
        );
        assert_eq!(err.kind(), kind, "{entries:?}: {err}");
        assert_eq!(
            all_secrets(&vault),
            snapshot,
            "{entries:?} persisted something"
        );
        assert_eq!(audit_count(&vault), events, "{entries:?} was audited");
        assert_eq!(vault.list_credentials().expect("credentials"), credentials);
    }

    // Importing into a workspace creates there, next to the global names.
    let report = vault
        .import_secrets(
            vec![
                ("EXISTING".into(), "ws".into()),
                ("TAKEN_ALIAS".into(), "ws".into()),
            ],
            &ws("w1"),
        )
        .expect("import into a workspace");
    assert_eq!(report.created, ["EXISTING", "TAKEN_ALIAS"]);
    assert!(report.rotated.is_empty());

    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
    for v in &values {
        assert_audit_clean(&vault, v);
    }
    let needles: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    assert_files_clean(&t.dir, &needles);
}

#[test]
fn files_are_private() {
    let t = TestDir::new();
    // A pre-existing directory keeps its mode (aivault never chmods a directory it did not
    // create: it may be the user's home or a shared folder); every file in it is 0600.
    std::fs::create_dir_all(&t.dir).expect("mkdir");
    std::fs::set_permissions(&t.dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let vault = t.open();
    create(&vault, "MY_CUSTOM_KEY", &canary());
    assert_eq!(mode(&t.dir), 0o755);
    assert_eq!(mode(&t.db_path()), 0o600);
    assert_eq!(mode(&t.dir.join("kek.key")), 0o600);
    for suffix in ["-wal", "-shm"] {
        let path = t.dir.join(format!("vault.db{suffix}"));
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    let status = Vault::status(t.config()).expect("status");
    assert_eq!(
        status.paths.key_file.as_deref(),
        Some(t.dir.join("kek.key").as_path())
    );
}

#[test]
fn status_of_empty_and_open_vaults() {
    let t = TestDir::new();
    let status = Vault::status(t.config()).expect("status");
    assert!(!status.state.initialized);
    assert!(status.state.locked);
    assert_eq!(status.state.provider_type, None);
    assert_eq!(status.state.kek_id, None);
    assert_eq!(status.state.vault_id, None);
    assert_eq!(status.counts, StatusCounts::default());
    assert!(!t.dir.exists(), "status created the vault directory");
    std::fs::create_dir_all(&t.dir).expect("mkdir");
    let status = Vault::status(t.config()).expect("status of an empty dir");
    assert!(!status.state.initialized);
    assert!(files_under(&t.dir).is_empty(), "status created files");
    let err = expect_err(Vault::open_existing(t.config()), "open_existing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        files_under(&t.dir).is_empty(),
        "open_existing created files"
    );

    let vault = t.open();
    create(&vault, "OPENAI_API_KEY", &canary());
    create(&vault, "MY_CUSTOM_KEY", &canary());
    let status = Vault::status(t.config()).expect("status");
    let state = &status.state;
    assert!(state.initialized);
    assert!(!state.locked);
    assert_eq!(state.lock_reason, None);
    assert_eq!(state.provider_type, Some(KeyProviderKind::File));
    assert_eq!(
        vault.key_provider().expect("provider"),
        KeyProviderKind::File
    );
    let kek_id = state.kek_id.clone().expect("kek id");
    assert_eq!(kek_id.len(), 32);
    assert!(kek_id.bytes().all(|b| b.is_ascii_hexdigit()), "{kek_id}");
    let vault_id = state.vault_id.clone().expect("vault id");
    assert_eq!(vault_id.len(), 36);
    assert_eq!(
        status.counts,
        StatusCounts {
            secrets: 2,
            credentials: 1,
            audit_events: 5, // init, create + pin + provision, create
        }
    );
    assert_eq!(status.counts.audit_events, audit_count(&vault) as u64);
    assert_eq!(status.paths.root_dir, t.dir);
    assert_eq!(status.paths.database, t.db_path());
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["status"]["initialized"], true);
    assert_eq!(json["status"]["providerType"], "file");
    assert_eq!(json["status"]["kekId"], kek_id.as_str());
    assert_eq!(json["status"]["vaultId"], vault_id.as_str());
    assert_eq!(json["counts"]["secrets"], 2);
    // The key id is a fingerprint, not the key: the file's header names it, its key line is
    // something else.
    let key_text = std::fs::read_to_string(t.dir.join("kek.key")).expect("key file");
    let (header, key_line) = key_text.split_once('\n').expect("header line");
    assert_eq!(header, format!("aivault-key v1 {kek_id}"));
    assert!(!key_line.contains(&kek_id));

    let existing = Vault::open_existing(t.config()).expect("open existing");
    assert_eq!(all_secrets(&existing).len(), 2);
}

#[test]
fn vault_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    assert_send_sync::<std::sync::Arc<Vault>>();
}

#[test]
fn threads_share_one_handle() {
    let t = TestDir::new();
    let vault = Arc::new(t.open());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let vault = vault.clone();
            thread::spawn(move || {
                for j in 0..25 {
                    vault
                        .create_secret(new_secret(
                            &format!("T{i}_{j:02}"),
                            &format!("value-{i}-{j}"),
                            aivault_core::Scope::Global,
                        ))
                        .expect("create in a thread");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let secrets = all_secrets(&vault);
    assert_eq!(secrets.len(), 200);
    let mut names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 200);
    assert_eq!(assert_secrets_ok(&vault), 200);
    assert_audit_ok(&vault);
    assert_eq!(audit_count(&vault), 201);
}

#[test]
fn handles_opened_at_once_on_a_fresh_directory_share_one_vault() {
    let t = TestDir::new();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let barrier = barrier.clone();
            let config = t.config();
            thread::spawn(move || {
                barrier.wait();
                let vault = Vault::open(config.clone()).expect("open at once");
                vault
                    .create_secret(new_secret(
                        &format!("HANDLE_{i}"),
                        "v",
                        aivault_core::Scope::Global,
                    ))
                    .expect("create");
                Vault::status(config).expect("status").state.vault_id
            })
        })
        .collect();
    let mut vault_ids: Vec<String> = threads
        .into_iter()
        .map(|t| t.join().expect("thread").expect("vault id"))
        .collect();
    vault_ids.dedup();
    assert_eq!(
        vault_ids.len(),
        1,
        "several vaults were created: {vault_ids:?}"
    );
    let vault = t.open();
    assert_eq!(all_secrets(&vault).len(), 8);
    assert_eq!(assert_secrets_ok(&vault), 8);
    assert_audit_ok(&vault);
    let inits = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "vault.init")
        .count();
    assert_eq!(inits, 1);
    assert_eq!(
        Vault::status(t.config()).expect("status").state.vault_id,
        Some(vault_ids[0].clone())
    );
    assert_key_file(&t.dir, None);
}

#[test]
fn handles_create_and_delete_at_once() {
    let t = TestDir::new();
    let setup = t.open();
    create(&setup, "KEEP", "v");
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let config = t.config();
            thread::spawn(move || {
                let vault = Vault::open(config).expect("open");
                for j in 0..15 {
                    let name = format!("D{i}_{j}");
                    let created = vault
                        .create_secret(new_secret(&name, "v", Scope::Global))
                        .expect("create");
                    assert_secrets_ok(&vault);
                    vault
                        .delete_secret(&created.secret.secret_id)
                        .expect("delete while others write");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let names: Vec<String> = all_secrets(&setup).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["KEEP"]);
    assert_audit_ok(&setup);
    let deletes = setup
        .audit(&AuditQuery {
            kind: Some("secret.delete".into()),
            ..AuditQuery::default()
        })
        .expect("audit");
    assert_eq!(deletes.len(), 60);
}

/// Options of another provider and a group filter without its workspace are refused before
/// anything is created or read.
#[test]
fn misplaced_options_are_refused() {
    use aivault_core::{InitOptions, KeyProviderKind, SecretFilter};
    let t = TestDir::new();
    for options in [
        InitOptions {
            env_var: Some("K".into()),
            ..InitOptions::file()
        },
        InitOptions {
            passphrase: Some("p".into()),
            ..InitOptions::file()
        },
        InitOptions {
            provider: KeyProviderKind::Passphrase,
            key_file: Some("k.key".into()),
            passphrase: Some("p".into()),
            env_var: None,
            force: false,
        },
    ] {
        let err = Vault::init(t.config(), options).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert!(
        !t.dir.exists(),
        "a refused init created the vault directory"
    );
    let vault = t.open();
    let filter = SecretFilter {
        group_id: Some("g".into()),
        ..SecretFilter::default()
    };
    let err = vault
        .list_secrets(&filter)
        .expect_err("group without workspace");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A vault written by the previous release (schema 1: no capability, policy or binding
/// tables) opens with its secrets and credentials intact and gains the new tables.
#[test]
fn a_schema_1_vault_is_migrated_at_open_to_the_current_schema() {
    let t = TestDir::new();
    {
        let vault = t.open();
        create(&vault, "OPENAI_API_KEY", "sk-old-value");
    }
    // Turn the fresh vault back into what schema 1 wrote.
    let db = t.db();
    let triggers: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .expect("triggers")
        .query_map([], |row| row.get(0))
        .expect("triggers")
        .collect::<Result<_, _>>()
        .expect("triggers");
    for name in triggers {
        db.execute_batch(&format!("DROP TRIGGER {name}"))
            .expect("drop trigger");
    }
    db.execute_batch("DROP TABLE vault_generation")
        .expect("drop vault_generation");
    t.db()
        .execute_batch(
            "DROP TABLE tokens; DROP TABLE row_macs; DELETE FROM meta WHERE key IN ('key_check', 'audit_head_tag'); \
         DROP TABLE rate_limit_hits; ALTER TABLE credentials DROP COLUMN network; \
         DROP TABLE bindings; DROP TABLE capability_policies; DROP TABLE capabilities; \
         DROP INDEX credentials_by_provider; PRAGMA user_version = 1;",
        )
        .expect("downgrade");

    let vault = t.open();
    assert_eq!(all_secrets(&vault).len(), 1);
    assert_eq!(vault.list_credentials().expect("credentials").len(), 1);
    let plan = vault
        .plan(
            "openai/chat-completions",
            &aivault_core::PlanContext::default(),
        )
        .expect("plan");
    assert_eq!(plan.credential, "openai");
    vault
        .set_policy(
            "openai/chat-completions",
            aivault_core::PolicyUpdate {
                rate_limit_per_minute: Some(5),
                ..Default::default()
            },
        )
        .expect("the new tables exist");
    let version: i64 = t
        .db()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 6);
    assert_audit_ok(&vault);
    assert!(vault.verify().expect("verify").ok);
}

/// The WAL file is kept between processes (no create + unlink per CLI call), stays 0600, and
/// holds nothing once a handle that made an operator change closes: `vault.db` alone is then
/// a complete copy (`aivault-cli/tests/wal_cli.rs` covers invokes, which leave their frames).
#[test]
fn wal_persists_empty_and_private_after_close() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "MY_CUSTOM_KEY", &canary());
    drop(vault);
    let wal = t.dir.join("vault.db-wal");
    assert!(wal.exists(), "the WAL file is kept after the last close");
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(
        std::fs::metadata(&wal).expect("wal").len(),
        0,
        "checkpointed and truncated"
    );
    // A copy of vault.db alone holds the secret's row.
    let copy = t.tmp.path().join("copy.db");
    std::fs::copy(t.db_path(), &copy).expect("copy");
    let conn = rusqlite::Connection::open(&copy).expect("open copy");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1);
}
