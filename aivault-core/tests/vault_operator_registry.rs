//! Integration tests of operator providers: TOML files in `<vault dir>/registry/` loaded when
//! a vault is opened. A valid file adds a provider whose claimed secrets are pinned and
//! provisioned like built-in ones; a file that does not parse, breaks a registry rule, or tries
//! to redefine a built-in provider, capability or claimed secret name is skipped with one
//! warning naming the file, and everything else keeps working.

mod common;

use aivault_core::{ErrorKind, NewBinding, NewCredential, PlanContext, Provisioning, Scope, Vault};
use common::*;

const ACME: &str = r#"# An operator provider.
id = "acme"
name = "Acme"
docs = "https://docs.acme-corp.com"
hosts = ["api.acme-corp.com"]

[[credentials]]
secrets = { secret = "ACME_API_KEY" }
auth = { kind = "header", header_name = "authorization", value_template = "Bearer {{secret}}" }

[[capabilities]]
id = "acme/items"
description = "Items"
methods = ["GET", "POST"]
paths = ["/v1/items"]

[[capabilities]]
id = "acme/reports"
methods = ["GET"]
paths = ["/v1/reports"]
"#;

/// A minimal provider file claiming `secret` with one capability `<id>/things`.
fn provider_toml(id: &str, secret: &str) -> String {
    format!(
        r#"id = "{id}"
name = "{id}"
hosts = ["api.{id}.dev"]

[[credentials]]
secrets = {{ secret = "{secret}" }}
auth = {{ kind = "header", header_name = "x-api-key", value_template = "{{{{secret}}}}" }}

[[capabilities]]
id = "{id}/things"
methods = ["GET"]
paths = ["/things"]
"#
    )
}

/// Writes operator provider files into the (not yet opened) vault directory.
fn write_files(t: &TestDir, files: &[(&str, &str)]) {
    let dir = t.dir.join("registry");
    std::fs::create_dir_all(&dir).expect("create registry dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write provider file");
    }
}

/// Opens a vault whose directory holds these operator files, each trusted by the operator
/// (`provider trust`; a file the loader would skip cannot be trusted and stays skipped).
fn open_with(files: &[(&str, &str)]) -> (TestDir, Vault) {
    let t = TestDir::new();
    write_files(&t, files);
    trust_all(&t, files);
    let vault = t.open();
    (t, vault)
}

/// Trusts every file that can be trusted.
fn trust_all(t: &TestDir, files: &[(&str, &str)]) {
    let vault = t.open();
    for (name, _) in files {
        let _ = vault.trust_provider_file(std::path::Path::new(name));
    }
}

/// Asserts exactly one warning, naming `file`; returns it.
fn one_warning(vault: &Vault, file: &str) -> String {
    let warnings = vault.registry_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].clone();
    assert!(warning.contains(file), "{warning}");
    assert!(warning.contains("skipped"), "{warning}");
    warning
}

/// The built-in providers still work: OPENAI_API_KEY provisions 17 capabilities.
fn assert_builtins_work(vault: &Vault) {
    let value = canary();
    let outcome = create(vault, "OPENAI_API_KEY", &value);
    assert_eq!(outcome.secret.pinned_provider.as_deref(), Some("openai"));
    assert_eq!(
        outcome.provisioning,
        Some(provisioned("openai", "openai", 17, true))
    );
    let plan = vault
        .plan("openai/chat-completions", &PlanContext::default())
        .expect("plan");
    assert_eq!(plan.host, "api.openai.com");
    assert_eq!(
        vault.registry().providers().len(),
        aivault_core::Registry::builtin().providers().len()
            + usize::from(vault.registry().provider("acme").is_some())
            + usize::from(vault.registry().provider("first-co").is_some())
    );
}

/// `path:line:col:` of a parse warning, with `line` and `col` parsed.
fn line_col(warning: &str, file: &str) -> (usize, usize) {
    let at = warning.find(file).expect("file in warning") + file.len();
    let mut parts = warning[at..].splitn(4, ':');
    assert_eq!(parts.next(), Some(""), "{warning}");
    let line = parts.next().and_then(|l| l.parse().ok());
    let col = parts.next().and_then(|c| c.parse().ok());
    match (line, col) {
        (Some(line), Some(col)) => (line, col),
        _ => panic!("no :line:col after the file name: {warning}"),
    }
}

fn built_in_count(vault: &Vault) -> usize {
    vault.registry().providers().len()
}

#[test]
fn a_valid_file_adds_a_provider_whose_secrets_are_pinned_and_provisioned() {
    let (t, vault) = open_with(&[("acme.toml", ACME)]);
    assert!(
        vault.registry_warnings().is_empty(),
        "{:?}",
        vault.registry_warnings()
    );
    let provider = vault.registry().provider("acme").expect("acme loaded");
    assert_eq!(provider.name, "Acme");
    assert!(
        provider.source.ends_with("acme.toml"),
        "{}",
        provider.source
    );
    assert_eq!(
        built_in_count(&vault),
        aivault_core::Registry::builtin().providers().len() + 1
    );
    // The built-in registry itself is untouched.
    assert!(aivault_core::Registry::builtin().provider("acme").is_none());
    // Its capabilities are listed as available, naming the secret.
    let listing = vault.list_capabilities().expect("list");
    let items = listing
        .available
        .iter()
        .find(|c| c.id == "acme/items")
        .expect("acme/items available");
    assert_eq!(items.required_secrets, ["ACME_API_KEY"]);
    let described = vault.describe_capability("acme/items").expect("describe");
    assert_eq!(described.description.as_deref(), Some("Items"));
    assert_eq!(
        described.setup.expect("setup").required_secrets,
        ["ACME_API_KEY"]
    );

    let value = canary();
    let outcome = create(&vault, "ACME_API_KEY", &value);
    assert_eq!(outcome.secret.pinned_provider.as_deref(), Some("acme"));
    assert_eq!(
        outcome.provisioning,
        Some(provisioned("acme", "acme", 2, true))
    );
    let credential = &vault.list_credentials().expect("credentials")[0];
    assert_eq!(credential.id, "acme");
    assert_eq!(credential.hosts, ["api.acme-corp.com"]);
    assert_eq!(credential.capabilities, ["acme/items", "acme/reports"]);
    let plan = vault
        .plan("acme/items", &PlanContext::default())
        .expect("plan");
    assert_eq!(plan.credential, "acme");
    assert_eq!(plan.host, "api.acme-corp.com");
    assert_eq!(plan.secrets[0].secret_ref, outcome.secret.secret_ref());
    let json = serde_json::to_string(&plan).expect("json");
    assert_not_in(&value, "plan", &json);
    // Workspace provisioning uses the same id scheme.
    let in_ws = vault
        .create_secret(new_secret("ACME_API_KEY", &canary(), ws("ws1")))
        .expect("workspace");
    assert_eq!(
        in_ws.provisioning,
        Some(provisioned("acme", "acme:ws:ws1", 2, true))
    );

    // The pin holds: never another provider's credential or binding.
    let err = expect_err(
        vault.create_credential(NewCredential {
            id: "steal".into(),
            provider: "openai".into(),
            secret_refs: vec![outcome.secret.secret_ref()],
            ..NewCredential::default()
        }),
        "pinned to acme",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    let err = expect_err(
        vault.bind(NewBinding {
            capability: "openai/chat-completions".into(),
            secret_ref: outcome.secret.secret_ref(),
            scope: Scope::Global,
            consumer: None,
        }),
        "bind elsewhere",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    // Its credential ids are reserved like built-in ones.
    let plain = create(&vault, "PLAIN", &canary()).secret;
    let err = expect_err(
        vault.create_credential(NewCredential {
            id: "acme:ws:other".into(),
            provider: "acme".into(),
            secret_refs: vec![plain.secret_ref()],
            ..NewCredential::default()
        }),
        "reserved",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // An operator credential of the operator provider gets the registry's auth and hosts.
    let mine = vault
        .create_credential(NewCredential {
            id: "my-acme".into(),
            provider: "acme".into(),
            secret_refs: vec![plain.secret_ref()],
            ..NewCredential::default()
        })
        .expect("operator credential");
    assert_eq!(mine.hosts, ["api.acme-corp.com"]);
    assert_eq!(mine.auth.kind_name(), "header");
    assert_builtins_work(&vault);

    // Reopening loads it again.
    drop(vault);
    let vault = t.open();
    assert!(vault.registry_warnings().is_empty());
    assert_eq!(
        vault
            .plan(
                "acme/reports",
                &PlanContext {
                    credential: Some("acme".into()),
                    ..PlanContext::default()
                }
            )
            .expect("plan after reopen")
            .host,
        "api.acme-corp.com"
    );
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
}

#[test]
fn the_registry_is_per_vault_directory() {
    let (_t, with_acme) = open_with(&[("acme.toml", ACME)]);
    let plain = TestDir::new();
    let without = plain.open();
    assert!(with_acme.registry().provider("acme").is_some());
    assert!(without.registry().provider("acme").is_none());
    assert!(without.registry_warnings().is_empty());
    let outcome = create(&without, "ACME_API_KEY", &canary());
    assert_eq!(outcome.secret.pinned_provider, None);
    assert_eq!(outcome.provisioning, None);
    let err = expect_err(
        without.plan("acme/items", &PlanContext::default()),
        "unknown capability",
    );
    assert_eq!(err.kind(), ErrorKind::CapabilityNotFound);
}

#[test]
fn a_malformed_file_is_skipped_with_its_line_and_column() {
    let broken =
        "id = \"broken\"\nname = \"Broken\"\nhosts = [\"api.broken.dev\"\n[[credentials]]\n";
    let (_t, vault) = open_with(&[("acme.toml", ACME), ("broken.toml", broken)]);
    let warning = one_warning(&vault, "broken.toml");
    let (line, col) = line_col(&warning, "broken.toml");
    // The unclosed array is noticed where the next table header starts.
    assert_eq!((line, col), (4, 1), "{warning}");
    assert!(vault.registry().provider("broken").is_none());
    // The valid file next to it still loads, and built-ins work.
    assert!(vault.registry().provider("acme").is_some());
    assert_builtins_work(&vault);
    let outcome = create(&vault, "ACME_API_KEY", &canary());
    assert_eq!(outcome.secret.pinned_provider.as_deref(), Some("acme"));
}

#[test]
fn a_schema_error_names_the_line_of_the_offending_key() {
    let text = provider_toml("painted", "PAINTED_KEY").replacen(
        "name = \"painted\"\n",
        "name = \"painted\"\ncolour = \"red\"\n",
        1,
    );
    let (_t, vault) = open_with(&[("painted.toml", &text)]);
    let warning = one_warning(&vault, "painted.toml");
    let (line, col) = line_col(&warning, "painted.toml");
    assert_eq!((line, col), (3, 1), "{warning}");
    assert!(warning.contains("colour"), "{warning}");
    assert!(vault.registry().provider("painted").is_none());
    assert_builtins_work(&vault);
    // Only a malformed file warns: built-in vaults open without any.
    let plain = TestDir::new().open();
    assert!(plain.registry_warnings().is_empty());
}

#[test]
fn a_file_breaking_a_registry_rule_is_skipped() {
    let no_methods =
        provider_toml("lazy", "LAZY_KEY").replace("methods = [\"GET\"]", "methods = []");
    let bad_host = provider_toml("hosty", "HOSTY_KEY").replace("api.hosty.dev", "127.0.0.1");
    let bad_template = provider_toml("templ", "TEMPL_KEY").replace("{{secret}}", "{{token}}");
    let (_t, vault) = open_with(&[
        ("hosty.toml", &bad_host),
        ("lazy.toml", &no_methods),
        ("templ.toml", &bad_template),
    ]);
    let warnings = vault.registry_warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    // Sorted by file name.
    assert!(warnings[0].contains("hosty.toml"), "{warnings:?}");
    assert!(warnings[0].contains("127.0.0.1"), "{warnings:?}");
    assert!(warnings[1].contains("lazy.toml"), "{warnings:?}");
    assert!(warnings[1].contains("no methods"), "{warnings:?}");
    assert!(warnings[2].contains("templ.toml"), "{warnings:?}");
    for id in ["lazy", "hosty", "templ"] {
        assert!(vault.registry().provider(id).is_none(), "{id}");
    }
    // Their names stay unclaimed.
    let outcome = create(&vault, "LAZY_KEY", &canary());
    assert_eq!(outcome.secret.pinned_provider, None);
    assert_builtins_work(&vault);
}

#[test]
fn a_file_redefining_a_built_in_provider_is_skipped() {
    let text = provider_toml("openai", "OPENAI_SHADOW_KEY");
    let (_t, vault) = open_with(&[("openai.toml", &text)]);
    let warning = one_warning(&vault, "openai.toml");
    assert!(warning.contains("'openai'"), "{warning}");
    assert!(warning.contains("built in"), "{warning}");
    let openai = vault.registry().provider("openai").expect("openai");
    assert_eq!(openai.name, "OpenAI");
    assert_eq!(
        openai,
        aivault_core::Registry::builtin()
            .provider("openai")
            .expect("builtin openai")
    );
    assert!(vault.registry().capability("openai/things").is_none());
    assert!(vault.registry().claim("OPENAI_SHADOW_KEY").is_none());
    assert_builtins_work(&vault);
}

#[test]
fn a_file_claiming_a_built_in_secret_name_is_skipped() {
    let text = provider_toml("sneaky", "OPENAI_API_KEY");
    let (_t, vault) = open_with(&[("sneaky.toml", &text)]);
    let warning = one_warning(&vault, "sneaky.toml");
    assert!(warning.contains("OPENAI_API_KEY"), "{warning}");
    assert!(warning.contains("'openai'"), "{warning}");
    assert!(vault.registry().provider("sneaky").is_none());
    assert_eq!(
        vault
            .registry()
            .claim("OPENAI_API_KEY")
            .expect("claimed")
            .provider
            .id,
        "openai"
    );
    assert_builtins_work(&vault);
    // An optional secret claiming a built-in name is caught too.
    let optional = provider_toml("sneakier", "SNEAKIER_KEY").replace(
        "secrets = { secret = \"SNEAKIER_KEY\" }",
        "secrets = { secret = \"SNEAKIER_KEY\" }\noptional_secrets = { extra = \"ANTHROPIC_API_KEY\" }",
    );
    let (_t, vault) = open_with(&[("sneakier.toml", &optional)]);
    let warning = one_warning(&vault, "sneakier.toml");
    assert!(warning.contains("ANTHROPIC_API_KEY"), "{warning}");
    assert!(vault.registry().provider("sneakier").is_none());
}

#[test]
fn a_file_claiming_a_built_in_capability_id_is_skipped() {
    let text = provider_toml("copycat", "COPYCAT_KEY").replace(
        "id = \"copycat/things\"",
        "id = \"openai/chat-completions\"",
    );
    let (_t, vault) = open_with(&[("copycat.toml", &text)]);
    let warning = one_warning(&vault, "copycat.toml");
    assert!(warning.contains("openai/chat-completions"), "{warning}");
    assert!(warning.contains("built in"), "{warning}");
    assert!(vault.registry().provider("copycat").is_none());
    let (provider, _) = vault
        .registry()
        .capability("openai/chat-completions")
        .expect("still built in");
    assert_eq!(provider.id, "openai");
    // COPYCAT_KEY is not claimed.
    let outcome = create(&vault, "COPYCAT_KEY", &canary());
    assert_eq!(outcome.secret.pinned_provider, None);
    assert_builtins_work(&vault);
}

#[test]
fn of_two_files_claiming_one_name_the_second_is_skipped() {
    let first = provider_toml("first-co", "SHARED_TOKEN");
    let second = provider_toml("second-co", "SHARED_TOKEN");
    let (_t, vault) = open_with(&[("b-second.toml", &second), ("a-first.toml", &first)]);
    let warning = one_warning(&vault, "b-second.toml");
    assert!(warning.contains("SHARED_TOKEN"), "{warning}");
    assert!(!warning.contains("a-first.toml"), "{warning}");
    assert!(vault.registry().provider("first-co").is_some());
    assert!(vault.registry().provider("second-co").is_none());
    let outcome = create(&vault, "SHARED_TOKEN", &canary());
    assert_eq!(outcome.secret.pinned_provider.as_deref(), Some("first-co"));
    assert_eq!(
        outcome.provisioning,
        Some(Provisioning::Provisioned {
            provider: "first-co".into(),
            credential_id: "first-co".into(),
            capabilities: 1,
            created: true,
        })
    );
    assert_builtins_work(&vault);

    // The same provider id twice: the second file is skipped as well.
    let again = provider_toml("first-co", "OTHER_TOKEN");
    let (_t, vault) = open_with(&[("a-first.toml", &first), ("c-again.toml", &again)]);
    let warning = one_warning(&vault, "c-again.toml");
    assert!(warning.contains("first-co"), "{warning}");
    assert!(vault.registry().claim("OTHER_TOKEN").is_none());
    // A capability id of another operator provider is refused too (ids are
    // `<provider>/<name>`, so it cannot collide silently).
    let dup_cap = provider_toml("third-co", "THIRD_TOKEN")
        .replace("id = \"third-co/things\"", "id = \"first-co/things\"");
    let (_t, vault) = open_with(&[("a-first.toml", &first), ("d-dup.toml", &dup_cap)]);
    let warning = one_warning(&vault, "d-dup.toml");
    assert!(warning.contains("first-co/things"), "{warning}");
    assert!(vault.registry().provider("third-co").is_none());
}

#[test]
fn only_toml_files_are_read_and_an_empty_directory_is_fine() {
    let (_t, vault) = open_with(&[
        ("README.md", "not a provider"),
        ("acme.toml.bak", "garbage ["),
        ("notes.txt", "garbage ["),
    ]);
    assert!(
        vault.registry_warnings().is_empty(),
        "{:?}",
        vault.registry_warnings()
    );
    assert_eq!(
        built_in_count(&vault),
        aivault_core::Registry::builtin().providers().len()
    );
    assert_builtins_work(&vault);
    // An empty directory adds nothing and warns about nothing.
    let (_t, vault) = open_with(&[]);
    assert!(vault.registry_warnings().is_empty());
    assert_eq!(
        built_in_count(&vault),
        aivault_core::Registry::builtin().providers().len()
    );
    // A directory named like a provider file cannot be read: one warning, nothing else.
    let t = TestDir::new();
    write_files(&t, &[("acme.toml", ACME)]);
    trust_all(&t, &[("acme.toml", ACME)]);
    std::fs::create_dir_all(t.dir.join("registry").join("dir.toml")).expect("mkdir");
    let vault = t.open();
    one_warning(&vault, "dir.toml");
    assert!(vault.registry().provider("acme").is_some());
    assert_builtins_work(&vault);
}

#[test]
fn removing_the_file_later_keeps_the_secret_pinned() {
    let (t, vault) = open_with(&[("acme.toml", ACME)]);
    let value = canary();
    let secret = create(&vault, "ACME_API_KEY", &value).secret;
    drop(vault);
    std::fs::remove_file(t.dir.join("registry").join("acme.toml")).expect("remove file");
    let vault = t.open();
    assert!(vault.registry().provider("acme").is_none());
    // The pin is immutable: the secret still cannot back another provider.
    let kept = vault.get_secret(&secret.secret_id).expect("secret");
    assert_eq!(kept.pinned_provider.as_deref(), Some("acme"));
    let err = expect_err(
        vault.create_credential(NewCredential {
            id: "steal".into(),
            provider: "anthropic".into(),
            secret_refs: vec![secret.secret_ref()],
            ..NewCredential::default()
        }),
        "pinned to a provider that is gone",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    assert_not_in(&value, "error", &format!("{err} {err:?}"));
    // Its capabilities are gone with the file.
    let err = expect_err(
        vault.plan("acme/items", &PlanContext::default()),
        "capability of a removed provider",
    );
    assert_eq!(err.kind(), ErrorKind::CapabilityNotFound);
    assert_secrets_ok(&vault);
}

/// A file dropped into `registry/` (by anyone who can write the data directory) claims a
/// secret name; it is skipped with a warning until the operator trusts it, so the next secret
/// of that name is never provisioned towards its host. A trusted file that changes is skipped
/// again; a trust row forged in vault.db fails every keyed call.
#[test]
fn untrusted_or_changed_provider_files_are_skipped() {
    let t = TestDir::new();
    drop(t.open());
    write_files(&t, &[("evil.toml", &provider_toml("evil", "EVIL_TOKEN"))]);
    let vault = t.open();
    let warning = one_warning(&vault, "evil.toml");
    assert!(warning.contains("provider trust"), "{warning}");
    assert!(vault.registry().provider("evil").is_none());
    let outcome = create(&vault, "EVIL_TOKEN", &canary());
    assert_eq!(outcome.secret.pinned_provider, None);
    assert_eq!(outcome.provisioning, None);

    // Trusted: used from the next open.
    let trusted = vault
        .trust_provider_file(std::path::Path::new("evil.toml"))
        .expect("trust");
    assert_eq!(trusted.provider, "evil");
    assert_eq!(trusted.sha256.len(), 64);
    let vault = t.open();
    assert!(
        vault.registry_warnings().is_empty(),
        "{:?}",
        vault.registry_warnings()
    );
    assert!(vault.registry().provider("evil").is_some());
    assert!(vault.verify().expect("verify").ok);

    // Changed after it was trusted: skipped again.
    let path = t.dir.join("registry").join("evil.toml");
    let changed = provider_toml("evil", "EVIL_TOKEN").replace("api.evil.dev", "attacker.example");
    std::fs::write(&path, &changed).expect("change");
    let vault = t.open();
    one_warning(&vault, "evil.toml");
    assert!(vault.registry().provider("evil").is_none());

    // A trust row for the changed file forged in vault.db: the file loads (the row exists),
    // but its MAC fails at the first keyed call, and verify reports it.
    {
        use sha2::Digest;
        let id = format!(
            "evil.toml:{}",
            aivault_core::crypto::to_hex(&sha2::Sha256::digest(changed.as_bytes()))
        );
        t.db()
            .execute(
                "INSERT INTO row_macs (kind, id, mac) VALUES ('provider_file', ?1, zeroblob(32))",
                [id],
            )
            .expect("forge");
    }
    let vault = t.open();
    assert!(vault.registry().provider("evil").is_some());
    let err = expect_err(
        vault.create_secret(new_secret("X", &canary(), aivault_core::Scope::Global)),
        "forged trust",
    );
    assert_eq!(
        err.kind(),
        aivault_core::ErrorKind::IntegrityFailed,
        "{err}"
    );
    // A file outside the registry directory cannot be trusted.
    let outside = t.tmp.path().join("x.toml");
    std::fs::write(&outside, provider_toml("x", "X_TOKEN")).expect("write");
    let err = expect_err(vault.trust_provider_file(&outside), "outside");
    assert_eq!(err.kind(), aivault_core::ErrorKind::InvalidInput, "{err}");
}

/// A vault that used operator providers before they needed trust keeps them: its integrity
/// upgrade (first keyed open) trusts the files it finds valid.
#[test]
fn the_upgrade_of_an_older_vault_trusts_its_provider_files() {
    let (t, vault) = open_with(&[("acme.toml", ACME)]);
    drop(vault);
    t.db()
        .execute_batch(
            "DELETE FROM row_macs; DELETE FROM meta WHERE key IN ('key_check', 'audit_head_tag');",
        )
        .expect("make legacy");
    drop(t.open()); // the upgrade
    let vault = t.open();
    assert!(
        vault.registry_warnings().is_empty(),
        "{:?}",
        vault.registry_warnings()
    );
    assert!(vault.registry().provider("acme").is_some());
    assert!(vault.verify().expect("verify").ok);
}
