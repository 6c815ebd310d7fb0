//! Integration tests of tamper detection on real vaults: rows of `vault.db` are altered with
//! rusqlite behind the vault's back, and every secret check, master-key rotation and audit
//! verification must notice, fail closed, and leave the vault usable. Also audit queries.

mod common;

use std::thread;
use std::time::Duration;

use aivault_core::{AuditQuery, ErrorKind, NewMasterKey, Scope, Vault};
use common::*;
use rusqlite::params;

/// Secret names of the tampering fixture.
const PINNED: &str = "OPENAI_API_KEY";
const CUSTOM_A: &str = "CUSTOM_A";
const CUSTOM_B: &str = "CUSTOM_B";
const IN_WORKSPACE: &str = "WS_KEY";

struct Fixture {
    t: TestDir,
    vault: Vault,
    values: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let t = TestDir::new();
        let vault = t.open();
        let values: Vec<String> = (0..4).map(|_| canary()).collect();
        create(&vault, PINNED, &values[0]);
        create(&vault, CUSTOM_A, &values[1]);
        create(&vault, CUSTOM_B, &values[2]);
        vault
            .create_secret(new_secret(IN_WORKSPACE, &values[3], ws("w1")))
            .expect("workspace secret");
        assert_eq!(assert_secrets_ok(&vault), 4);
        Fixture { t, vault, values }
    }

    fn id(&self, name: &str) -> String {
        all_secrets(&self.vault)
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no secret {name}"))
            .secret_id
    }

    fn kek_id(&self) -> String {
        Vault::status(self.t.config())
            .expect("status")
            .state
            .kek_id
            .expect("kek id")
    }
}

/// One row's columns that can be tampered with, as SQLite values.
type Row = Vec<(String, rusqlite::types::Value)>;

const TAMPERABLE: &[&str] = &[
    "scope_kind",
    "workspace_id",
    "group_id",
    "pinned_provider",
    "value_version",
    "value_nonce",
    "value_ciphertext",
    "dek_nonce",
    "wrapped_dek",
];

fn read_row(conn: &rusqlite::Connection, id: &str) -> Row {
    TAMPERABLE
        .iter()
        .map(|column| {
            let value = conn
                .query_row(
                    &format!("SELECT {column} FROM secrets WHERE id = ?"),
                    [id],
                    |row| row.get::<_, rusqlite::types::Value>(0),
                )
                .expect("read column");
            (column.to_string(), value)
        })
        .collect()
}

fn write_row(conn: &rusqlite::Connection, id: &str, row: &Row) {
    for (column, value) in row {
        set_column(conn, id, column, value.clone());
    }
}

fn set_column(conn: &rusqlite::Connection, id: &str, column: &str, value: rusqlite::types::Value) {
    let changed = conn
        .execute(
            &format!("UPDATE secrets SET {column} = ? WHERE id = ?"),
            params![value, id],
        )
        .expect("tamper");
    assert_eq!(changed, 1, "no row {id}");
}

fn flip_blob(conn: &rusqlite::Connection, id: &str, column: &str) {
    let mut blob: Vec<u8> = conn
        .query_row(
            &format!("SELECT {column} FROM secrets WHERE id = ?"),
            [id],
            |row| row.get(0),
        )
        .expect("read blob");
    let middle = blob.len() / 2;
    blob[middle] ^= 0x01;
    set_column(conn, id, column, rusqlite::types::Value::Blob(blob));
}

/// What a tampering case does, and which secrets it must break.
struct Case {
    name: &'static str,
    targets: &'static [&'static str],
    tamper: fn(&rusqlite::Connection, &Fixture),
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_string())
}

const CASES: &[Case] = &[
    Case {
        name: "value ciphertext",
        targets: &[CUSTOM_A],
        tamper: |c, f| flip_blob(c, &f.id(CUSTOM_A), "value_ciphertext"),
    },
    Case {
        name: "value nonce",
        targets: &[CUSTOM_A],
        tamper: |c, f| flip_blob(c, &f.id(CUSTOM_A), "value_nonce"),
    },
    Case {
        name: "wrapped DEK",
        targets: &[CUSTOM_A],
        tamper: |c, f| flip_blob(c, &f.id(CUSTOM_A), "wrapped_dek"),
    },
    Case {
        name: "DEK nonce",
        targets: &[CUSTOM_A],
        tamper: |c, f| flip_blob(c, &f.id(CUSTOM_A), "dek_nonce"),
    },
    Case {
        name: "global secret moved to a workspace",
        targets: &[CUSTOM_A],
        tamper: |c, f| {
            let id = f.id(CUSTOM_A);
            set_column(c, &id, "scope_kind", text("workspace"));
            set_column(c, &id, "workspace_id", text("evil"));
        },
    },
    Case {
        name: "workspace secret moved to another workspace",
        targets: &[IN_WORKSPACE],
        tamper: |c, f| set_column(c, &f.id(IN_WORKSPACE), "workspace_id", text("w2")),
    },
    Case {
        name: "workspace secret moved to a group",
        targets: &[IN_WORKSPACE],
        tamper: |c, f| {
            let id = f.id(IN_WORKSPACE);
            set_column(c, &id, "scope_kind", text("group"));
            set_column(c, &id, "group_id", text("g1"));
        },
    },
    Case {
        name: "pin removed",
        targets: &[PINNED],
        tamper: |c, f| {
            set_column(
                c,
                &f.id(PINNED),
                "pinned_provider",
                rusqlite::types::Value::Null,
            )
        },
    },
    Case {
        name: "pin changed",
        targets: &[PINNED],
        tamper: |c, f| set_column(c, &f.id(PINNED), "pinned_provider", text("github")),
    },
    Case {
        name: "pin added",
        targets: &[CUSTOM_A],
        tamper: |c, f| set_column(c, &f.id(CUSTOM_A), "pinned_provider", text("openai")),
    },
    Case {
        name: "value version",
        targets: &[CUSTOM_A],
        tamper: |c, f| {
            set_column(
                c,
                &f.id(CUSTOM_A),
                "value_version",
                rusqlite::types::Value::Integer(2),
            )
        },
    },
    Case {
        name: "ciphertexts swapped between two secrets (secret id binding)",
        targets: &[CUSTOM_A, CUSTOM_B],
        tamper: |c, f| {
            let (a, b) = (f.id(CUSTOM_A), f.id(CUSTOM_B));
            let envelope = |row: Row| -> Row {
                row.into_iter()
                    .filter(|(col, _)| {
                        col.ends_with("nonce")
                            || col.ends_with("ciphertext")
                            || col.ends_with("dek")
                    })
                    .collect()
            };
            let (row_a, row_b) = (envelope(read_row(c, &a)), envelope(read_row(c, &b)));
            assert_eq!(row_a.len(), 4);
            write_row(c, &a, &row_b);
            write_row(c, &b, &row_a);
        },
    },
];

#[test]
fn tampered_secret_rows_fail_closed() {
    for case in CASES {
        let f = Fixture::new();
        let conn = f.t.db();
        let ids: Vec<String> = [PINNED, CUSTOM_A, CUSTOM_B, IN_WORKSPACE]
            .iter()
            .map(|n| f.id(n))
            .collect();
        let originals: Vec<Row> = ids.iter().map(|id| read_row(&conn, id)).collect();
        let mut expected: Vec<String> = case.targets.iter().map(|n| f.id(n)).collect();
        expected.sort();
        (case.tamper)(&conn, &f);

        let report = |vault: &Vault| {
            let check = vault.check_secrets().expect("check secrets");
            assert_eq!(check.checked, 4, "{}", case.name);
            let mut failed: Vec<String> =
                check.failed.iter().map(|x| x.secret_id.clone()).collect();
            failed.sort();
            assert_eq!(
                failed, expected,
                "{}: wrong secrets failed: {check:?}",
                case.name
            );
            for failure in &check.failed {
                assert_eq!(failure.kind, "decrypt_failed", "{}", case.name);
                assert!(
                    failure.message.contains(&failure.secret_id),
                    "{}",
                    failure.message
                );
                for v in &f.values {
                    assert_not_in(v, "failure message", &failure.message);
                }
            }
            assert_debug_clean(&f.values[1], "check", &check);
        };
        // The open handle and a fresh one both see it.
        report(&f.vault);
        report(&f.t.open());

        // Rotating the master key refuses, rolls back, and leaves the vault as it was.
        let kek_id = f.kek_id();
        let key_file = std::fs::read(f.t.dir.join("kek.key")).expect("key file");
        let events = audit_count(&f.vault);
        for new in [
            NewMasterKey::Random,
            NewMasterKey::Key(aivault_core::Key32::from_bytes([7; 32])),
        ] {
            let err = expect_err(f.vault.rotate_master(new), case.name);
            assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{}: {err}", case.name);
            for v in &f.values {
                assert_not_in(v, "error", err.message());
            }
        }
        assert_eq!(f.kek_id(), kek_id, "{}: the key id changed", case.name);
        assert_eq!(
            std::fs::read(f.t.dir.join("kek.key")).expect("key file"),
            key_file,
            "{}: the key file changed",
            case.name
        );
        let leftovers: Vec<_> = files_under(&f.t.dir)
            .into_iter()
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with("kek.key.") || name.ends_with(".tmp")
            })
            .collect();
        assert!(
            leftovers.is_empty(),
            "{}: left behind {leftovers:?}",
            case.name
        );
        assert_eq!(audit_count(&f.vault), events, "{}", case.name);

        // Still usable: new secrets work, the audit chain holds, the damage is unchanged.
        let fresh = f.t.open();
        create(&fresh, "AFTER_TAMPER", "v");
        assert_audit_ok(&fresh);
        let check = fresh.check_secrets().expect("check");
        assert_eq!(check.checked, 5);
        assert_eq!(check.failed.len(), expected.len(), "{}", case.name);

        // Undo the tampering: everything decrypts and rotation works again.
        for (id, row) in ids.iter().zip(&originals) {
            write_row(&conn, id, row);
        }
        assert_eq!(assert_secrets_ok(&f.vault), 5, "{}", case.name);
        let new_id = f
            .vault
            .rotate_master(NewMasterKey::Random)
            .expect("rotate after repair");
        assert_ne!(new_id, kek_id);
        assert_eq!(assert_secrets_ok(&fresh), 5, "{}", case.name);
        assert_audit_ok(&fresh);
    }
}

/// A vault with a few dozen audit events, its connection, and the event count.
fn audited_vault() -> (TestDir, Vault, u64) {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let openai = create(&vault, "OPENAI_API_KEY", &value);
    for i in 0..4 {
        create(&vault, &format!("KEY_{i}"), &canary());
    }
    vault
        .rotate_secret(&openai.secret.secret_id, canary().into())
        .expect("rotate");
    let custom = create(&vault, "CUSTOM", "v");
    vault
        .attach_group(
            &custom.secret.secret_id,
            &aivault_core::GroupRef::new("w", "g").expect("group"),
        )
        .expect("attach");
    vault
        .delete_secret(&openai.secret.secret_id)
        .expect("delete");
    vault
        .rotate_master(NewMasterKey::Random)
        .expect("rotate master");
    create(&vault, "LAST", "v");
    let verification = vault.verify_audit().expect("verify");
    assert!(verification.ok, "{verification:?}");
    let events = verification.events;
    assert_eq!(events, audit_count(&vault) as u64);
    assert!(events >= 14, "{events}");
    assert_audit_clean(&vault, &value);
    (t, vault, events)
}

#[test]
fn audit_tampering_is_detected() {
    /// Alters the log of a vault with `n` events.
    type Tamper = fn(&rusqlite::Connection, u64);
    /// The first bad sequence number `verify` must report, given `n`.
    type FirstBad = fn(u64) -> u64;
    let cases: &[(&str, Tamper, FirstBad)] = &[
        (
            "edited note",
            |c, _| {
                c.execute(
                    "UPDATE audit_events SET note = 'name=innocent' WHERE seq = 5",
                    [],
                )
                .expect("edit");
            },
            |_| 5,
        ),
        (
            "edited kind",
            |c, _| {
                c.execute(
                    "UPDATE audit_events SET kind = 'secret.update' WHERE seq = 3",
                    [],
                )
                .expect("edit");
            },
            |_| 3,
        ),
        (
            "edited time",
            |c, _| {
                c.execute(
                    "UPDATE audit_events SET ts_ms = ts_ms + 1 WHERE seq = 6",
                    [],
                )
                .expect("edit");
            },
            |_| 6,
        ),
        (
            "secret id erased",
            |c, _| {
                c.execute("UPDATE audit_events SET secret_id = NULL WHERE seq = 2", [])
                    .expect("edit");
            },
            |_| 2,
        ),
        (
            "middle event deleted",
            |c, _| {
                c.execute("DELETE FROM audit_events WHERE seq = 7", [])
                    .expect("delete");
            },
            |_| 7,
        ),
        (
            "two events swapped",
            |c, _| {
                c.execute_batch(
                    "UPDATE audit_events SET seq = -1 WHERE seq = 4;
                     UPDATE audit_events SET seq = 4 WHERE seq = 9;
                     UPDATE audit_events SET seq = 9 WHERE seq = -1;",
                )
                .expect("swap");
            },
            |_| 4,
        ),
        (
            "newest event deleted",
            |c, n| {
                c.execute("DELETE FROM audit_events WHERE seq = ?", [n as i64])
                    .expect("delete");
            },
            |n| n,
        ),
        (
            "newest events deleted and renumbered",
            |c, n| {
                c.execute("DELETE FROM audit_events WHERE seq >= ?", [n as i64 - 2])
                    .expect("delete");
            },
            |n| n - 2,
        ),
        (
            "mac replaced",
            |c, _| {
                c.execute(
                    "UPDATE audit_events SET mac = zeroblob(32) WHERE seq = 1",
                    [],
                )
                .expect("edit");
            },
            |_| 1,
        ),
    ];
    for (name, tamper, first_bad) in cases {
        let (t, vault, events) = audited_vault();
        tamper(&t.db(), events);
        for handle in [&vault, &t.open()] {
            let verification = handle.verify_audit().expect("verify");
            assert!(!verification.ok, "{name}: not detected: {verification:?}");
            assert_eq!(
                verification.first_bad_seq,
                Some(first_bad(events)),
                "{name}: {verification:?}"
            );
            assert!(verification.problem.is_some(), "{name}");
        }
    }
}

#[test]
fn audit_queries_filter_and_page_newest_first() {
    let t = TestDir::new();
    let vault = t.open();
    let first = create(&vault, "FIRST", "v");
    thread::sleep(Duration::from_millis(20));
    let second = create(&vault, "OPENAI_API_KEY", &canary());
    thread::sleep(Duration::from_millis(20));
    vault
        .rotate_secret(&first.secret.secret_id, "v2".into())
        .expect("rotate");
    vault
        .update_secret(
            &first.secret.secret_id,
            aivault_core::SecretUpdate {
                name: None,
                aliases: Some(vec!["f".into()]),
            },
        )
        .expect("update");

    let all = all_events(&vault);
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).rev().collect();
    assert_eq!(seqs, expected, "not newest first");
    assert!(all.windows(2).all(|w| w[0].ts_ms >= w[1].ts_ms));
    assert_eq!(all.last().expect("events").kind, "vault.init");

    let query = |q: AuditQuery| vault.audit(&q).expect("audit");
    let limited = query(AuditQuery {
        limit: Some(2),
        ..AuditQuery::default()
    });
    assert_eq!(limited, all[..2]);
    assert!(
        query(AuditQuery {
            limit: Some(0),
            ..AuditQuery::default()
        })
        .is_empty()
    );

    let creates = query(AuditQuery {
        kind: Some("secret.create".into()),
        ..AuditQuery::default()
    });
    let ids: Vec<Option<&str>> = creates.iter().map(|e| e.secret_id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some(second.secret.secret_id.as_str()),
            Some(first.secret.secret_id.as_str())
        ]
    );
    assert!(
        query(AuditQuery {
            kind: Some("no.such.kind".into()),
            ..AuditQuery::default()
        })
        .is_empty()
    );

    let about_first = query(AuditQuery {
        secret_id: Some(first.secret.secret_id.clone()),
        ..AuditQuery::default()
    });
    let kinds: Vec<&str> = about_first.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["secret.update", "secret.rotate", "secret.create"]);
    let combined = query(AuditQuery {
        secret_id: Some(first.secret.secret_id.clone()),
        kind: Some("secret.rotate".into()),
        limit: Some(5),
        ..AuditQuery::default()
    });
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].note.as_deref(), Some("version=2"));

    // Paging by time: strictly before the second secret's creation.
    let cutoff = creates[0].ts_ms;
    let before = query(AuditQuery {
        before_ts_ms: Some(cutoff),
        ..AuditQuery::default()
    });
    assert!(before.iter().all(|e| e.ts_ms < cutoff));
    let kinds: Vec<&str> = before.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["secret.create", "vault.init"]);
    assert_eq!(
        before[0].secret_id.as_deref(),
        Some(first.secret.secret_id.as_str())
    );
    let page = query(AuditQuery {
        before_ts_ms: Some(cutoff),
        limit: Some(1),
        ..AuditQuery::default()
    });
    assert_eq!(page, before[..1]);
    assert!(
        query(AuditQuery {
            before_ts_ms: Some(all.last().expect("events").ts_ms),
            ..AuditQuery::default()
        })
        .is_empty()
    );

    // JSON uses the brief's camelCase names and omits absent fields.
    let json = serde_json::to_value(&creates[0]).expect("json");
    assert_eq!(json["kind"], "secret.create");
    assert_eq!(json["secretId"], second.secret.secret_id.as_str());
    assert!(json.get("tsMs").is_some());
    assert!(json.get("credentialId").is_none());
    assert_eq!(json["scope"], Scope::Global.to_string());
    assert_audit_ok(&vault);
}
