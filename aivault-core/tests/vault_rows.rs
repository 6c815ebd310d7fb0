//! Integration tests of row authentication (issue 10, the local attacker): credential,
//! capability, policy and binding rows rewritten with rusqlite behind the vault's back are
//! refused with `integrity_failed` by the calls that read them (nothing reaches any host),
//! reported by `Vault::verify`, and older vaults get their MACs at the first keyed open.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::{
    AuthOptions, ErrorKind, Invocation, NetworkOptions, NewBinding, NewCapability, NewCredential,
    PolicyUpdate, RequestBody, Scope, Vault,
};
use aivault_testkit::{Upstream, echo_handler};
use common::*;

/// A vault with an operator credential towards a loopback upstream, a capability, a policy
/// and a binding, plus an attacker's upstream that must never receive anything.
struct Fixture {
    t: TestDir,
    vault: Vault,
    good: Upstream,
    evil: Upstream,
    token: String,
}

impl Fixture {
    fn new() -> Fixture {
        let good = Upstream::http(echo_handler());
        let evil = Upstream::http(echo_handler());
        let t = TestDir::new();
        let vault = t.open();
        let token = canary();
        let secret = vault
            .create_secret(new_secret("LOCAL_LLM_TOKEN", &token, Scope::Global))
            .unwrap()
            .secret;
        vault
            .create_credential(NewCredential {
                id: "local-llm".into(),
                provider: "local-llm".into(),
                secret_refs: vec![secret.secret_ref()],
                auth: AuthOptions {
                    kind: Some("header".into()),
                    header_name: Some("authorization".into()),
                    value_template: Some("Bearer {{secret}}".into()),
                    ..Default::default()
                },
                hosts: vec![format!("localhost:{}", good.port())],
                workspace_id: None,
                group_id: None,
                network: NetworkOptions {
                    allow_private_network: true,
                    insecure_http: true,
                    ca_cert: None,
                },
            })
            .unwrap();
        vault
            .create_capability(NewCapability {
                id: "local-llm/chat".into(),
                provider: None,
                credential: Some("local-llm".into()),
                methods: vec!["POST".into()],
                paths: vec!["/v1/chat/completions".into()],
                hosts: vec![],
            })
            .unwrap();
        vault
            .set_policy(
                "local-llm/chat",
                PolicyUpdate {
                    max_request_body_bytes: Some(64),
                    ..Default::default()
                },
            )
            .unwrap();
        vault
            .bind(NewBinding {
                capability: "local-llm/chat".into(),
                secret_ref: secret.secret_ref(),
                scope: Scope::Global,
                consumer: Some("agent-a".into()),
            })
            .unwrap();
        let f = Fixture {
            t,
            vault,
            good,
            evil,
            token,
        };
        call(&f.vault).expect("the untampered call works");
        assert_eq!(f.good.requests().len(), 1);
        f
    }
}

/// One call of the fixture's capability.
fn call(vault: &Vault) -> aivault_core::Result<u16> {
    vault
        .invoke(&Invocation {
            capability: "local-llm/chat".into(),
            body: RequestBody::Bytes(b"{}".to_vec()),
            ..Default::default()
        })
        .map(|r| r.status)
}

/// Each attack, performed with SQL on the real database.
const ATTACKS: &[(&str, &str)] = &[
    (
        "credential host pointed at the attacker",
        "UPDATE credentials SET hosts = json_array('localhost:' || :evil) WHERE id = 'local-llm'",
    ),
    (
        "credential network opt-ins changed",
        "UPDATE credentials SET network = '{\"allowPrivateNetwork\":true,\"insecureHttp\":true,\"caCert\":\"-----BEGIN CERTIFICATE-----\"}' WHERE id = 'local-llm'",
    ),
    (
        "credential auth template changed",
        "UPDATE credentials SET auth = replace(auth, 'authorization', 'x-leak') WHERE id = 'local-llm'",
    ),
    (
        "capability paths widened",
        "UPDATE capabilities SET paths = '[\"/\"]' WHERE id = 'local-llm/chat'",
    ),
    (
        "capability hosts widened",
        "UPDATE capabilities SET hosts = json_array('localhost:' || :evil) WHERE id = 'local-llm/chat'",
    ),
    (
        "policy loosened",
        "UPDATE capability_policies SET policy = '{}' WHERE capability_id = 'local-llm/chat'",
    ),
    (
        "binding inserted",
        "INSERT INTO bindings SELECT capability_id, scope_kind, workspace_id, group_id, 'agent-b', secret_id, updated_at_ms FROM bindings",
    ),
    (
        "binding re-pointed",
        "UPDATE bindings SET consumer = 'agent-c'",
    ),
    (
        "credential inserted",
        "INSERT INTO credentials SELECT 'local-llm-2', provider, alternative, origin, scope_kind, workspace_id, group_id, auth, json_array('localhost:' || :evil), capabilities, created_at_ms, updated_at_ms, network FROM credentials WHERE id = 'local-llm'",
    ),
];

#[test]
fn tampered_rows_fail_the_calls_that_read_them_and_verify_reports_them() {
    for (name, sql) in ATTACKS {
        let f = Fixture::new();
        {
            let conn = f.t.db();
            let mut stmt = conn.prepare(sql).unwrap();
            let evil = f.evil.port().to_string();
            let n = if stmt.parameter_count() == 1 {
                stmt.execute(rusqlite::named_params! {":evil": evil})
            } else {
                stmt.execute([])
            }
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(n >= 1, "{name}: nothing changed");
        }
        let verification = f.vault.verify().expect("verify");
        assert!(
            !verification.ok,
            "{name}: verify missed it: {verification:?}"
        );
        assert!(!verification.row_problems.is_empty(), "{name}");
        let report = format!("{verification:?}");
        assert_not_in(&f.token, "verify report", &report);
        // Every attack that the call reads fails it; the inserted credential is not read by
        // this capability (it names its credential), verify reports it.
        if *name != "credential inserted" {
            for handle in [&f.vault, &f.t.open()] {
                let err = expect_err(call(handle), name);
                assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{name}: {err}");
                assert_not_in(&f.token, "error", err.message());
            }
        }
        assert!(
            f.evil.requests().is_empty(),
            "{name}: the attacker's host was reached"
        );
        assert_eq!(
            f.good.requests().len(),
            1,
            "{name}: a tampered call went out"
        );
    }
}

/// A row deleted outside aivault while its MAC stays is reported by `verify`.
#[test]
fn rows_deleted_outside_aivault_are_reported() {
    let f = Fixture::new();
    assert!(f.vault.verify().expect("verify").ok);
    f.t.db()
        .execute("DELETE FROM bindings", [])
        .expect("delete");
    let verification = f.vault.verify().expect("verify");
    assert!(!verification.ok);
    assert!(
        verification.row_problems[0].contains("deleted"),
        "{verification:?}"
    );
}

/// Ordinary changes through aivault keep the MACs current: deleting the secret (which takes
/// its credential and bindings along), re-creating, unbinding, deleting the capability.
#[test]
fn changes_through_aivault_keep_the_vault_verified() {
    let f = Fixture::new();
    f.vault
        .set_policy(
            "local-llm/chat",
            PolicyUpdate {
                rate_limit_per_minute: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
    call(&f.vault).expect("call under the new policy");
    let v = f.vault.verify().expect("verify");
    assert!(v.ok, "{v:?}");
    assert!(v.rows_checked >= 4, "{v:?}");
    f.vault.delete_capability("local-llm/chat").unwrap();
    let v = f.vault.verify().expect("verify");
    assert!(v.ok, "{v:?}");
    let id = f.vault.list_secrets(&Default::default()).unwrap()[0]
        .secret_id
        .clone();
    f.vault.delete_secret(&id).unwrap();
    let v = f.vault.verify().expect("verify");
    assert!(v.ok, "{v:?}");
}

/// A vault written before row MACs (simulated by removing them with the key check value and
/// head tag) gets them at its first keyed open and works; an edited row is then caught.
#[test]
fn older_vaults_get_row_macs_at_first_keyed_open() {
    let Fixture { t, vault, good, .. } = Fixture::new();
    drop(vault);
    t.db()
        .execute_batch(
            "DELETE FROM row_macs;
             DELETE FROM meta WHERE key IN ('key_check', 'audit_head_tag');",
        )
        .unwrap();
    let vault = t.open();
    call(&vault).expect("call after the upgrade");
    assert_eq!(good.requests().len(), 2);
    let v = vault.verify().expect("verify");
    assert!(v.ok, "{v:?}");
    t.db()
        .execute("UPDATE capabilities SET paths = '[\"/\"]'", [])
        .unwrap();
    let err = expect_err(call(&vault), "edited after the upgrade");
    assert_eq!(err.kind(), ErrorKind::IntegrityFailed);
}

/// Rolling a row back together with its old MAC (a revoked or loosened row restored from a
/// backup), or deleting a row together with its MAC, leaves every single row authentic, but
/// the vault's row state (generation + accumulator over every row MAC, tagged) no longer
/// matches: the next handle's first keyed call fails `integrity_failed`, and verify reports it.
#[test]
fn rows_restored_or_deleted_with_their_macs_are_detected() {
    type Attack = fn(&rusqlite::Connection, &(String, Vec<u8>));
    let attacks: &[(&str, Attack)] = &[
        ("old policy restored with its old MAC", |c, old| {
            let (policy, mac) = old;
            c.execute(
                "UPDATE capability_policies SET policy = ?1 WHERE capability_id = 'local-llm/chat'",
                [policy],
            )
            .unwrap();
            c.execute(
                "UPDATE row_macs SET mac = ?1 WHERE kind = 'policy' AND id = 'local-llm/chat'",
                [mac],
            )
            .unwrap();
        }),
        ("binding deleted with its MAC", |c, _| {
            c.execute_batch("DELETE FROM bindings; DELETE FROM row_macs WHERE kind = 'binding';")
                .unwrap();
        }),
        ("state row deleted", |c, _| {
            c.execute("DELETE FROM meta WHERE key = 'rows_state'", [])
                .unwrap();
        }),
    ];
    for (name, attack) in attacks {
        let f = Fixture::new();
        // The policy as it was (max request body 64), with its MAC, then a stricter one.
        let old: (String, Vec<u8>) = {
            let conn = f.t.db();
            let policy: String = conn
                .query_row(
                    "SELECT policy FROM capability_policies WHERE capability_id = 'local-llm/chat'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let mac: Vec<u8> = conn
                .query_row(
                    "SELECT mac FROM row_macs WHERE kind = 'policy' AND id = 'local-llm/chat'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            (policy, mac)
        };
        f.vault
            .set_policy(
                "local-llm/chat",
                PolicyUpdate {
                    max_request_body_bytes: Some(1),
                    ..Default::default()
                },
            )
            .unwrap();
        attack(&f.t.db(), &old);
        let fresh = f.t.open();
        let err = expect_err(call(&fresh), name);
        assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{name}: {err}");
        let v = fresh.verify().expect("verify");
        assert!(!v.ok, "{name}: {v:?}");
        assert_eq!(f.good.requests().len(), 1, "{name}");
    }
}
