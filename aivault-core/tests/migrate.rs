//! `migrate`: a vault the test writes in the original aivault tool's layout is imported in one
//! transaction; the source is never written; wrong keys import nothing; a second run
//! duplicates nothing; unreadable records are reported and the rest is imported.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/original.rs"]
mod original;

use aivault_core::migrate::{
    MigrationReport, OriginalKeyProvider, OriginalVault, SourceKey, default_original_dir,
    find_original_layout, is_original_layout,
};
use aivault_core::{
    AuthOptions, BindingFilter, ErrorKind, GroupRef, Invocation, NetworkOptions, NewCapability,
    NewCredential, Scope, SecretValue, Vault,
};
use aivault_testkit::{Upstream, echo_handler};
use common::*;
use original::{Original, Secret, header_credential, snapshot};
use serde_json::json;

/// The skipped entry of `kind` and `id`, with its reason.
fn skipped<'a>(report: &'a MigrationReport, kind: &str, id: &str) -> &'a str {
    report
        .skipped
        .iter()
        .find(|i| i.kind == kind && i.id == id)
        .and_then(|i| i.reason.as_deref())
        .unwrap_or_else(|| panic!("{kind} {id} should be skipped: {report:#?}"))
}

fn imported_ids(report: &MigrationReport, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = report
        .imported
        .iter()
        .filter(|i| i.kind == kind)
        .map(|i| i.id.clone())
        .collect();
    ids.sort();
    ids
}

fn assert_report_clean(report: &MigrationReport, canaries: &[&str]) {
    let text = serde_json::to_string(report).unwrap();
    let debug = format!("{report:?}");
    for canary in canaries {
        assert_not_in(canary, "report JSON", &text);
        assert_not_in(canary, "report Debug", &debug);
    }
}

/// A source vault with every kind of record, and the canaries it holds.
struct Fixture {
    tmp: tempfile::TempDir,
    source: Original,
    canaries: Vec<String>,
    my_token: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let source_dir = tmp.path().join("data").join("vault");
    let source = Original::with_key_file(&source_dir, &tmp.path().join("keys").join("kek.key"));
    let canaries: Vec<String> = (0..6).map(|_| canary()).collect();
    let openai = source.secret(Secret {
        name: "OPENAI_API_KEY",
        value: &canaries[0],
        pinned: Some("openai"),
        ..Default::default()
    });
    let my_token = source.secret(Secret {
        name: "MY_TOKEN",
        value: &canaries[1],
        aliases: &["my-token", "tok"],
        groups: &[("ws1", "g1")],
        ..Default::default()
    });
    let ws_secret = source.secret(Secret {
        name: "WS_SECRET",
        value: &canaries[2],
        workspace: Some("ws1"),
        ..Default::default()
    });
    source.secret(Secret {
        name: "GRP_SECRET",
        value: &canaries[3],
        workspace: Some("ws1"),
        group: Some("g1"),
        aliases: &["grp"],
        ..Default::default()
    });
    source.secret(Secret {
        name: "OLD_SECRET",
        value: "unused",
        revoked: true,
        ..Default::default()
    });
    // A record whose value ciphertext was altered: authentication fails.
    let tampered = source.secret(Secret {
        name: "TAMPERED",
        value: &canaries[4],
        ..Default::default()
    });
    let path = source.record_path(&tampered);
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let ct = record["ciphertext"]["value"]["ciphertextB64"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if ct.starts_with('A') { "B" } else { "A" };
    record["ciphertext"]["value"]["ciphertextB64"] = json!(format!("{flipped}{}", &ct[1..]));
    source.write_secret_record(&tampered, &record);
    // A record that is not JSON at all.
    std::fs::write(
        source
            .dir
            .join("secrets")
            .join("0bad0000-0000-4000-8000-000000000000.json"),
        b"{not json",
    )
    .unwrap();
    let mut ws_api = header_credential("ws-api", "ws-api", "ws.example.com", &ws_secret);
    ws_api["workspaceId"] = json!("ws1");
    source.broker(
        vec![
            header_credential("my-api", "my-api", "api.example.com", &my_token),
            json!({
                "id": "openai", "provider": "openai",
                "auth": {"header": {"header_name": "authorization", "value_template": "Bearer {{secret}}"}},
                "hosts": ["api.openai.com"], "secretRef": format!("vault:secret:{openai}"),
            }),
            json!({
                "id": "krb", "provider": "krb", "auth": {"kerberos": {"realm": "X"}},
                "hosts": ["krb.example.com"], "secretRef": format!("vault:secret:{my_token}"),
            }),
            ws_api,
            header_credential("orphan", "orphan", "orphan.example.com", &tampered),
        ],
        vec![
            json!({"id": "my-api/read", "provider": "my-api",
                   "allow": {"hosts": ["api.example.com"], "methods": ["GET"], "pathPrefixes": ["/v1"]}}),
            json!({"id": "openai/assistants", "provider": "openai",
                   "allow": {"hosts": ["api.openai.com"], "methods": ["GET"], "pathPrefixes": ["/v1/assistants"]}}),
        ],
        vec![
            json!({"capabilityId": "my-api/read",
                   "policy": {"rateLimitPerMinute": 10, "responseBodyBlocklist": ["internal-only"]}}),
            json!({"capabilityId": "nothing/here", "policy": {"rateLimitPerMinute": 5}}),
        ],
    );
    source.bindings(vec![json!({
        "capability": "my-api/read",
        "secretRef": format!("vault:secret:{ws_secret}"),
        "scope": {"type": "workspace", "workspace_id": "ws1"},
        "consumer": "agent-1",
        "updatedAtMs": 1_700_000_000_000_i64,
    })]);
    source.audit(3);
    Fixture {
        tmp,
        source,
        canaries,
        my_token,
    }
}

/// Everything is imported from a file-key vault; what cannot be is reported with why; the
/// source tree is byte-identical afterwards; the imported values are the original values.
#[test]
fn a_file_key_vault_is_imported_with_a_report_and_its_source_untouched() {
    let f = fixture();
    let before = snapshot(f.tmp.path());
    let t = TestDir::new();
    let vault = t.open();
    let source = OriginalVault::open(&f.source.dir).unwrap();
    assert!(matches!(
        source.key_provider(),
        OriginalKeyProvider::File { .. }
    ));
    let report = vault.migrate(&source, &SourceKey::Layout).unwrap();
    assert_eq!(snapshot(f.tmp.path()), before, "the source must not change");
    let canaries: Vec<&str> = f.canaries.iter().map(String::as_str).collect();
    assert_report_clean(&report, &canaries);

    assert_eq!(
        imported_ids(&report, "secret"),
        ["GRP_SECRET", "MY_TOKEN", "OPENAI_API_KEY", "WS_SECRET"]
    );
    assert_eq!(imported_ids(&report, "credential"), ["my-api", "ws-api"]);
    assert_eq!(imported_ids(&report, "capability"), ["my-api/read"]);
    assert_eq!(imported_ids(&report, "policy"), ["my-api/read"]);
    assert_eq!(imported_ids(&report, "binding"), ["my-api/read"]);
    assert!(skipped(&report, "secret", "OLD_SECRET").contains("revoked"));
    assert!(skipped(&report, "secret", "TAMPERED").contains("cannot be decrypted"));
    assert!(
        skipped(
            &report,
            "secret",
            "secrets/0bad0000-0000-4000-8000-000000000000.json"
        )
        .contains("not a valid record")
    );
    assert!(skipped(&report, "credential", "openai").contains("provisioned from the registry"));
    assert!(skipped(&report, "credential", "krb").contains("unsupported auth kind 'kerberos'"));
    assert!(skipped(&report, "credential", "orphan").contains("was not imported"));
    assert!(skipped(&report, "capability", "openai/assistants").contains("built in"));
    assert!(!skipped(&report, "policy", "nothing/here").is_empty());
    assert_eq!(report.skipped.len(), 8, "{report:#?}");
    assert_eq!(report.audit_events_not_imported, 3);

    // Names, scopes, aliases, groups and pins.
    let secrets = all_secrets(&vault);
    let find = |name: &str| secrets.iter().find(|s| s.name == name).unwrap().clone();
    let my_token = find("MY_TOKEN");
    assert_eq!(my_token.scope, Scope::Global);
    assert_eq!(my_token.aliases, ["my-token", "tok"]);
    assert_eq!(
        my_token.attached_groups,
        [GroupRef::new("ws1", "g1").unwrap()]
    );
    assert_eq!(my_token.pinned_provider, None);
    assert_eq!(
        find("OPENAI_API_KEY").pinned_provider.as_deref(),
        Some("openai")
    );
    assert_eq!(find("WS_SECRET").scope, ws("ws1"));
    let grp = find("GRP_SECRET");
    assert_eq!(grp.scope, group("ws1", "g1"));
    assert_eq!(grp.aliases, ["grp"]);
    assert_eq!(secrets.len(), 4);
    assert_secrets_ok(&vault);

    // Credentials (the registry one provisioned from the pinned secret), capability, policy,
    // binding.
    let credentials = vault.list_credentials().unwrap();
    let ids: Vec<&str> = credentials.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"my-api") && ids.contains(&"openai") && ids.contains(&"ws-api"));
    let ws_api = credentials.iter().find(|c| c.id == "ws-api").unwrap();
    assert_eq!(ws_api.scope, ws("ws1"));
    let capability = vault.capability("my-api/read").unwrap();
    assert_eq!(capability.methods, ["GET"]);
    assert_eq!(capability.paths, ["/v1"]);
    let listing = vault.list_capabilities().unwrap();
    let policy = &listing
        .policies
        .iter()
        .find(|p| p.capability_id == "my-api/read")
        .unwrap()
        .policy;
    assert_eq!(policy.rate_limit_per_minute, Some(10));
    assert_eq!(policy.response_body_blocklist, ["internal-only"]);
    let bindings = vault.bindings(&BindingFilter::default()).unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].scope, ws("ws1"));
    assert_eq!(bindings[0].consumer.as_deref(), Some("agent-1"));
    assert_eq!(bindings[0].secret_ref, find("WS_SECRET").secret_ref());

    // The imported value is the original value: inject it into a local upstream.
    let upstream = Upstream::http(echo_handler());
    let host = format!("localhost:{}", upstream.port());
    vault
        .create_credential(NewCredential {
            id: "local".into(),
            provider: "local".into(),
            secret_refs: vec![my_token.secret_ref()],
            auth: AuthOptions {
                kind: Some("header".into()),
                header_name: Some("x-token".into()),
                value_template: Some("{{secret}}".into()),
                ..Default::default()
            },
            hosts: vec![host],
            network: NetworkOptions {
                allow_private_network: true,
                insecure_http: true,
                ca_cert: None,
            },
            ..Default::default()
        })
        .unwrap();
    vault
        .create_capability(NewCapability {
            id: "local/get".into(),
            credential: Some("local".into()),
            methods: vec!["GET".into()],
            paths: vec!["/".into()],
            ..Default::default()
        })
        .unwrap();
    vault
        .invoke(&Invocation {
            capability: "local/get".into(),
            path: Some("/x".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        upstream.requests()[0].header("x-token"),
        Some(f.canaries[1].as_str())
    );

    // One audit event records the migration; no value is in the audit log.
    let events = all_events(&vault);
    let migrate = events.iter().find(|e| e.kind == "vault.migrate").unwrap();
    assert!(migrate.note.as_deref().unwrap().contains("secrets=4"));
    for canary in &canaries {
        assert_audit_clean(&vault, canary);
    }
    assert_audit_ok(&vault);
    let _ = &f.my_token;
}

/// A second run imports nothing new: every record that exists is reported "exists".
#[test]
fn a_second_run_duplicates_nothing() {
    let f = fixture();
    let t = TestDir::new();
    let vault = t.open();
    let source = OriginalVault::open(&f.source.dir).unwrap();
    let first = vault.migrate(&source, &SourceKey::Layout).unwrap();
    let secrets = all_secrets(&vault);
    let credentials = vault.list_credentials().unwrap();
    let before = snapshot(f.tmp.path());
    let second = vault.migrate(&source, &SourceKey::Layout).unwrap();
    assert_eq!(snapshot(f.tmp.path()), before);
    assert!(second.imported.is_empty(), "{second:#?}");
    for item in &first.imported {
        let again = skipped(&second, &item.kind, &item.id);
        assert!(again.starts_with("exists"), "{item:?}: {again}");
    }
    assert_eq!(all_secrets(&vault), secrets);
    assert_eq!(vault.list_credentials().unwrap(), credentials);
    assert_eq!(vault.bindings(&BindingFilter::default()).unwrap().len(), 1);
    assert_audit_ok(&vault);
}

/// An env-key vault reads its key from the variable its `vault.json` names.
#[test]
fn an_env_key_vault_uses_its_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, key) = Original::with_env(&tmp.path().join("vault"), "ORIGINAL_KEY");
    let value = canary();
    source.secret(Secret {
        name: "ENV_ONE",
        value: &value,
        ..Default::default()
    });
    // The original accepted workspace ids this vault refuses.
    source.secret(Secret {
        name: "ODD_SCOPE",
        value: &value,
        workspace: Some("my workspace"),
        ..Default::default()
    });
    let t = TestDir::new();
    let original = OriginalVault::open(&source.dir).unwrap();
    assert_eq!(
        original.key_provider(),
        &OriginalKeyProvider::Env {
            var: "ORIGINAL_KEY".into()
        }
    );

    let unset = Vault::open(t.config()).unwrap();
    let e = expect_err(
        unset.migrate(&original, &SourceKey::Layout),
        "unset variable",
    );
    assert_eq!(e.kind(), ErrorKind::VaultLocked, "{e}");
    assert!(e.message().contains("ORIGINAL_KEY"), "{e}");
    drop(unset);

    let vault = Vault::open(t.config().with_env(env_of(&[("ORIGINAL_KEY", &key)]))).unwrap();
    let report = vault.migrate(&original, &SourceKey::Layout).unwrap();
    assert_eq!(imported_ids(&report, "secret"), ["ENV_ONE"]);
    assert!(skipped(&report, "secret", "ODD_SCOPE").contains("workspace id"));
    assert_secrets_ok(&vault);
    assert_report_clean(&report, &[&value, &key]);
}

/// A passphrase vault needs its passphrase; a wrong one imports nothing.
#[test]
fn a_passphrase_vault_needs_its_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let source = Original::with_passphrase(&tmp.path().join("vault"), "correct horse");
    let value = canary();
    source.secret(Secret {
        name: "PASS_ONE",
        value: &value,
        workspace: Some("w"),
        ..Default::default()
    });
    let before = snapshot(tmp.path());
    let t = TestDir::new();
    let vault = t.open();
    let original = OriginalVault::open(&source.dir).unwrap();
    assert_eq!(original.key_provider(), &OriginalKeyProvider::Passphrase);

    let e = expect_err(
        vault.migrate(&original, &SourceKey::Layout),
        "no passphrase",
    );
    assert_eq!(e.kind(), ErrorKind::VaultLocked, "{e}");
    let wrong = SourceKey::Passphrase(SecretValue::from("wrong horse"));
    let e = expect_err(vault.migrate(&original, &wrong), "wrong passphrase");
    assert_eq!(e.kind(), ErrorKind::DecryptFailed, "{e}");
    assert!(e.message().contains("wrong passphrase"), "{e}");
    assert!(all_secrets(&vault).is_empty());
    assert!(all_events(&vault).iter().all(|e| e.kind != "vault.migrate"));

    let right = SourceKey::Passphrase(SecretValue::from("correct horse"));
    let report = vault.migrate(&original, &right).unwrap();
    assert_eq!(imported_ids(&report, "secret"), ["PASS_ONE"]);
    assert_eq!(all_secrets(&vault)[0].scope, ws("w"));
    assert_secrets_ok(&vault);
    assert_eq!(snapshot(tmp.path()), before);
}

/// A key file that is not the vault's key fails before anything is written, with a clear
/// error; `--key-file` with the right key works even when `vault.json` names another file.
#[test]
fn a_wrong_key_imports_nothing() {
    let f = fixture();
    let t = TestDir::new();
    let vault = t.open();
    let events = audit_count(&vault);
    let other = f.tmp.path().join("other.key");
    std::fs::write(&other, b64(&random_key())).unwrap();
    let source = OriginalVault::open(&f.source.dir).unwrap();
    let e = expect_err(
        vault.migrate(&source, &SourceKey::KeyFile(other.clone())),
        "wrong key",
    );
    assert_eq!(e.kind(), ErrorKind::DecryptFailed, "{e}");
    assert!(
        e.message().contains("is not the original vault's key"),
        "{e}"
    );
    assert!(all_secrets(&vault).is_empty());
    assert_eq!(audit_count(&vault), events);

    // The right key, moved elsewhere, given explicitly.
    let moved = f.tmp.path().join("moved.key");
    std::fs::copy(f.tmp.path().join("keys").join("kek.key"), &moved).unwrap();
    std::fs::remove_file(f.tmp.path().join("keys").join("kek.key")).unwrap();
    let e = expect_err(
        vault.migrate(&source, &SourceKey::Layout),
        "missing key file",
    );
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let report = vault.migrate(&source, &SourceKey::KeyFile(moved)).unwrap();
    assert_eq!(imported_ids(&report, "secret").len(), 4);
}

/// The original layout is recognised at the data directory or in its `vault/`, and a
/// directory without `vault.json` is refused with `not_found`.
#[test]
fn the_original_layout_is_detected() {
    let f = fixture();
    let data = f.tmp.path().join("data");
    assert!(is_original_layout(&f.source.dir));
    assert!(!is_original_layout(&data));
    assert_eq!(find_original_layout(&data), Some(f.source.dir.clone()));
    assert_eq!(default_original_dir(&data), f.source.dir);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(find_original_layout(empty.path()), None);
    assert_eq!(
        default_original_dir(empty.path()),
        empty.path().join("vault")
    );
    let e = expect_err(OriginalVault::open(empty.path()), "no vault.json");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Our own vault directory is not the original's layout.
    let t = TestDir::new();
    drop(t.open());
    assert!(!is_original_layout(&t.dir));
}

/// Every auth strategy of the original, in its serialized form, becomes the matching
/// `credential create` strategy and passes the same validation.
#[test]
fn every_auth_strategy_of_the_original_is_mapped() {
    let tmp = tempfile::tempdir().unwrap();
    let source = Original::with_key_file(&tmp.path().join("vault"), &tmp.path().join("kek.key"));
    let secret = |name: &str, value: &str| {
        source.secret(Secret {
            name,
            value,
            ..Default::default()
        })
    };
    let single = secret("SINGLE", &canary());
    let pair = secret(
        "PAIR",
        &json!({"key": canary(), "token": canary()}).to_string(),
    );
    let basic = secret(
        "BASIC",
        &json!({"username": "u", "password": canary()}).to_string(),
    );
    let oauth = secret(
        "OAUTH",
        &json!({"clientId": "c", "clientSecret": canary(), "refreshToken": canary()}).to_string(),
    );
    let aws = secret(
        "AWS",
        &json!({"accessKeyId": "AKIA", "secretAccessKey": canary()}).to_string(),
    );
    let mtls = secret(
        "MTLS",
        &json!({"certPem": "-----BEGIN CERTIFICATE-----", "keyPem": canary()}).to_string(),
    );
    let cred = |id: &str, auth: serde_json::Value, hosts: &[&str], secret_id: &str| {
        json!({"id": id, "provider": id, "auth": auth, "hosts": hosts,
               "secretRef": format!("vault:secret:{secret_id}")})
    };
    source.broker(
        vec![
            cred(
                "c-path",
                json!({"path": {"prefix_template": "/bot{{secret}}"}}),
                &["bot.example.com"],
                &single,
            ),
            cred(
                "c-query",
                json!({"query": {"param_name": "api_key"}}),
                &["q.example.com"],
                &single,
            ),
            cred(
                "c-multi-header",
                json!({"multi_header": [
                    {"header_name": "x-key", "value_template": "{{key}}"},
                    {"header_name": "x-token", "value_template": "{{token}}"}]}),
                &["mh.example.com"],
                &pair,
            ),
            cred(
                "c-multi-query",
                json!({"multi_query": [
                    {"param_name": "key", "value_template": "{{key}}"},
                    {"param_name": "token", "value_template": "{{token}}"}]}),
                &["mq.example.com"],
                &pair,
            ),
            cred("c-basic", json!("basic"), &["basic.example.com"], &basic),
            cred(
                "c-oauth",
                json!({"o_auth2": {"grant_type": "refresh_token",
                    "token_endpoint": "https://auth.example.com/token", "scopes": ["read"]}}),
                &["api.example.com", "auth.example.com"],
                &oauth,
            ),
            cred(
                "c-aws",
                json!({"aws_sig_v4": {"service": "s3", "region": "us-east-1"}}),
                &["s3.amazonaws.example.com"],
                &aws,
            ),
            cred(
                "c-hmac",
                json!({"hmac": {"algorithm": "sha256", "header_name": "x-signature",
                    "value_template": "{{signature}}"}}),
                &["hmac.example.com"],
                &single,
            ),
            cred(
                "c-hmac-md5",
                json!({"hmac": {"algorithm": "md5", "header_name": "x-signature",
                    "value_template": "{{signature}}"}}),
                &["hmac.example.com"],
                &single,
            ),
            cred("c-mtls", json!("mtls"), &["mtls.example.com"], &mtls),
        ],
        vec![],
        vec![],
    );
    let t = TestDir::new();
    let vault = t.open();
    let source = OriginalVault::open(&source.dir).unwrap();
    let report = vault.migrate(&source, &SourceKey::Layout).unwrap();
    assert_eq!(
        imported_ids(&report, "credential"),
        [
            "c-aws",
            "c-basic",
            "c-hmac",
            "c-mtls",
            "c-multi-header",
            "c-multi-query",
            "c-oauth",
            "c-path",
            "c-query"
        ],
        "{report:#?}"
    );
    assert!(skipped(&report, "credential", "c-hmac-md5").contains("unsupported HMAC algorithm"));
    let kinds: Vec<(String, String)> = vault
        .list_credentials()
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.auth.kind_name().to_string()))
        .collect();
    for (id, kind) in [
        ("c-path", "path"),
        ("c-query", "query"),
        ("c-multi-header", "multi-header"),
        ("c-multi-query", "multi-query"),
        ("c-basic", "basic"),
        ("c-oauth", "oauth2"),
        ("c-aws", "aws-sigv4"),
        ("c-hmac", "hmac"),
        ("c-mtls", "mtls"),
    ] {
        assert!(
            kinds.contains(&(id.to_string(), kind.to_string())),
            "{id} should be {kind}: {kinds:?}"
        );
    }
}
