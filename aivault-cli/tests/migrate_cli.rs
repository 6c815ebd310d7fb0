//! `aivault migrate` through the real binary, from vaults the test writes in the original
//! aivault tool's layout: the default location, a passphrase on stdin, the key variable, a
//! wrong key, a second run, the source never written, and the hint a new vault gives when
//! the original's vault is next to it.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../aivault-core/tests/common/original.rs"]
mod original;

use common::Env;
use original::{Original, Secret, header_credential, snapshot};
use serde_json::json;

fn canary() -> String {
    let bytes = aivault_core::crypto::random_bytes::<8>().unwrap();
    format!("sk-canary-{}", aivault_core::crypto::to_hex(&bytes))
}

fn assert_clean(run: &common::Run, canaries: &[&str]) {
    for canary in canaries {
        assert!(
            !run.stdout.contains(canary),
            "value in stdout:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(canary),
            "value in stderr:\n{}",
            run.stderr
        );
    }
}

/// The data directory `AIVAULT_DIR` points at, with the original's vault in `vault/` under
/// it (the original's default layout) and its key file outside.
fn env_with_original() -> (Env, Original, Vec<String>) {
    let mut env = Env::new();
    let data = env.root.path().join("data");
    env.set("AIVAULT_DIR", &data.display().to_string());
    let source = Original::with_key_file(
        &data.join("vault"),
        &env.root.path().join("keys").join("kek.key"),
    );
    let canaries = vec![canary(), canary()];
    let token = source.secret(Secret {
        name: "MY_TOKEN",
        value: &canaries[0],
        aliases: &["tok"],
        ..Default::default()
    });
    source.secret(Secret {
        name: "WS_ONE",
        value: &canaries[1],
        workspace: Some("ws1"),
        ..Default::default()
    });
    std::fs::write(
        source
            .dir
            .join("secrets")
            .join("0bad0000-0000-4000-8000-000000000000.json"),
        b"garbage",
    )
    .unwrap();
    source.broker(
        vec![header_credential(
            "my-api",
            "my-api",
            "api.example.com",
            &token,
        )],
        vec![json!({"id": "my-api/read", "provider": "my-api",
                    "allow": {"hosts": ["api.example.com"], "methods": ["GET"], "pathPrefixes": ["/v1"]}})],
        vec![],
    );
    source.audit(2);
    (env, source, canaries)
}

#[test]
fn migrate_imports_the_default_location_once_and_never_writes_the_source() {
    let (env, source, canaries) = env_with_original();
    let canaries: Vec<&str> = canaries.iter().map(String::as_str).collect();
    let before = snapshot(&source.dir);

    let run = env.run(&["migrate", "-v"]).ok();
    assert_clean(&run, &canaries);
    let report = run.json();
    let ids = |list: &str| -> Vec<String> {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i["kind"].as_str().unwrap(),
                    i["id"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        ids("imported"),
        [
            "secret MY_TOKEN",
            "secret WS_ONE",
            "credential my-api",
            "capability my-api/read"
        ]
    );
    assert_eq!(
        ids("skipped"),
        ["secret secrets/0bad0000-0000-4000-8000-000000000000.json"]
    );
    assert_eq!(report["auditEventsNotImported"], 2);
    assert_eq!(snapshot(&source.dir), before, "the source must not change");

    let secrets = env.secrets();
    let token = secrets.iter().find(|s| s["name"] == "MY_TOKEN").unwrap();
    assert_eq!(token["aliases"], json!(["tok"]));
    let ws = secrets.iter().find(|s| s["name"] == "WS_ONE").unwrap();
    assert_eq!(ws["scope"], json!({"workspace": {"workspace_id": "ws1"}}));
    assert!(env.audit_kinds(&["--kind", "vault.migrate"]).len() == 1);

    // Second run, human output: nothing imported twice.
    let again = env.run(&["migrate"]).ok();
    assert_clean(&again, &canaries);
    assert!(
        again
            .stdout
            .contains("0 secrets, 0 credentials, 0 capabilities"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("skipped secret MY_TOKEN (global): exists"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("skipped credential my-api: exists"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("2 audit events of the original"),
        "{}",
        again.stdout
    );
    assert_eq!(env.secrets().len(), 2);
    assert_eq!(snapshot(&source.dir), before);
}

#[test]
fn a_new_vault_next_to_the_original_points_at_migrate() {
    let (env, source, _) = env_with_original();
    let status = env.run(&["status"]).ok();
    assert!(
        status.stderr.contains("aivault migrate --from"),
        "{}",
        status.stderr
    );
    let first = env.run(&["secrets", "list"]).ok();
    assert!(
        first.stderr.contains("aivault migrate --from")
            && first.stderr.contains(&source.dir.display().to_string()),
        "{}",
        first.stderr
    );
    // Only when the vault is created, not on every command.
    let second = env.run(&["secrets", "list"]).ok();
    assert!(
        !second.stderr.contains("aivault migrate"),
        "{}",
        second.stderr
    );
    let status = env.run(&["status"]).ok();
    assert!(
        !status.stderr.contains("aivault migrate"),
        "{}",
        status.stderr
    );
    // A directory without the original's vault gets no note.
    let plain = Env::new();
    let run = plain.run(&["secrets", "list"]).ok();
    assert!(!run.stderr.contains("aivault migrate"), "{}", run.stderr);
}

#[test]
fn init_next_to_the_original_points_at_migrate() {
    let (env, _source, _) = env_with_original();
    let run = env.run(&["init", "--provider", "file"]).ok();
    assert!(
        run.stderr.contains("aivault migrate --from"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_passphrase_comes_from_stdin_and_a_wrong_one_imports_nothing() {
    let env = Env::new();
    let source = Original::with_passphrase(&env.root.path().join("orig"), "correct horse");
    let value = canary();
    source.secret(Secret {
        name: "PASS_ONE",
        value: &value,
        ..Default::default()
    });
    let from = source.dir.display().to_string();
    let wrong = env
        .run_with_stdin(
            &["migrate", "--from", &from, "--passphrase-stdin"],
            b"wrong horse\n",
        )
        .fails(6, "decrypt_failed");
    assert!(
        wrong.stderr.contains("wrong passphrase"),
        "{}",
        wrong.stderr
    );
    assert!(env.secret_names().is_empty());
    let run = env
        .run_with_stdin(
            &["migrate", "--from", &from, "--passphrase-stdin"],
            b"correct horse\n",
        )
        .ok();
    assert_clean(&run, &[&value]);
    assert_eq!(env.secret_names(), ["PASS_ONE"]);
}

#[test]
fn the_key_comes_from_aivault_key_or_key_file_and_a_wrong_key_is_refused() {
    let mut env = Env::new();
    let (source, key) = Original::with_env(&env.root.path().join("orig"), "AIVAULT_KEY");
    let value = canary();
    source.secret(Secret {
        name: "ENV_ONE",
        value: &value,
        ..Default::default()
    });
    let from = source.dir.display().to_string();
    let unset = env
        .run(&["migrate", "--from", &from])
        .fails(5, "vault_locked");
    assert!(unset.stderr.contains("AIVAULT_KEY"), "{}", unset.stderr);
    let other = env.root.path().join("other.key");
    std::fs::write(&other, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let other = other.display().to_string();
    env.run(&["migrate", "--from", &from, "--key-file", &other])
        .fails(6, "decrypt_failed");
    assert!(env.secret_names().is_empty());
    let key_file = env.root.path().join("right.key");
    std::fs::write(&key_file, &key).unwrap();
    let key_file = key_file.display().to_string();
    let run = env
        .run(&["migrate", "--from", &from, "--key-file", &key_file])
        .ok();
    assert_clean(&run, &[&value, &key]);
    assert_eq!(env.secret_names(), ["ENV_ONE"]);
    // Through the variable the original's vault.json names: already imported.
    env.set("AIVAULT_KEY", &key);
    let again = env.run(&["migrate", "--from", &from]).ok();
    assert!(again.stdout.contains("exists"), "{}", again.stdout);
}

#[test]
fn migrate_refuses_to_create_its_vault_inside_the_source() {
    let mut env = Env::new();
    let source = Original::with_key_file(
        &env.root.path().join("orig"),
        &env.root.path().join("kek.key"),
    );
    source.secret(Secret {
        name: "A",
        value: "b",
        ..Default::default()
    });
    let before = snapshot(&source.dir);
    env.set("AIVAULT_DIR", &source.dir.display().to_string());
    env.run(&["migrate"]).fails(2, "invalid_input");
    assert_eq!(snapshot(&source.dir), before);
    env.run(&[
        "migrate",
        "--from",
        env.root.path().join("nothing").to_str().unwrap(),
    ])
    .fails(3, "not_found");
}
