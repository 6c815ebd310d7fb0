//! Integration tests of the secret operations of the `Vault` facade on real SQLite vaults:
//! registry pinning and provisioning, aliases and scopes, update, rotate and delete, with
//! canary values that must never leak into errors, Debug output, the audit log or files.

mod common;

use aivault_core::{
    AuditQuery, ErrorKind, GroupRef, NewSecret, Provisioning, Scope, SecretFilter, SecretUpdate,
    Vault,
};
use common::*;

fn total_registry_capabilities(vault: &Vault) -> usize {
    vault
        .registry()
        .providers()
        .iter()
        .map(|p| p.capabilities.len())
        .sum()
}

#[test]
fn openai_key_is_pinned_and_provisions_its_credential() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let outcome = create(&vault, "OPENAI_API_KEY", &value);
    assert_debug_clean(&value, "SecretOutcome", &outcome);

    let secret = &outcome.secret;
    assert_eq!(secret.name, "OPENAI_API_KEY");
    assert_eq!(secret.scope, Scope::Global);
    assert_eq!(secret.pinned_provider.as_deref(), Some("openai"));
    assert_eq!(secret.value_version, 1);
    assert!(secret.aliases.is_empty());
    assert_eq!(
        outcome.provisioning,
        Some(provisioned("openai", "openai", 17, true))
    );
    assert_eq!(vault.get_secret(&secret.secret_id).expect("get"), *secret);

    let credentials = vault.list_credentials().expect("credentials");
    assert_debug_clean(&value, "credentials", &credentials);
    assert_eq!(credentials.len(), 1);
    let credential = &credentials[0];
    assert_eq!(credential.id, "openai");
    assert_eq!(credential.provider, "openai");
    assert_eq!(credential.scope, Scope::Global);
    assert_eq!(credential.hosts, ["api.openai.com"]);
    assert_eq!(credential.capabilities.len(), 17);
    assert_eq!(credential.secrets.len(), 1);
    assert_eq!(credential.secrets[0].role, "secret");
    assert_eq!(credential.secrets[0].secret_ref, secret.secret_ref());

    let listing = vault.list_capabilities().expect("capabilities");
    assert_eq!(listing.ready.len(), 17);
    for info in &listing.ready {
        assert!(info.id.starts_with("openai/"), "{}", info.id);
        assert_eq!(info.provider, "openai");
        assert_eq!(info.credentials, ["openai"]);
        assert_eq!(info.allow.hosts, ["api.openai.com"]);
        assert!(info.required_secrets.is_empty());
    }
    assert!(
        listing.ready.windows(2).all(|w| w[0].id < w[1].id),
        "ready sorted"
    );
    assert_eq!(
        listing.ready.len() + listing.available.len(),
        total_registry_capabilities(&vault)
    );
    assert!(!listing.available.is_empty());
    for info in &listing.available {
        // The codex capabilities need their own credential alternative (CODEX_OAUTH_JSON).
        if info.id.starts_with("openai/") {
            assert!(info.id.starts_with("openai/codex-"), "{}", info.id);
            assert_eq!(info.required_secrets, ["CODEX_OAUTH_JSON"]);
        }
        assert!(info.credentials.is_empty());
        assert!(!info.required_secrets.is_empty(), "{}", info.id);
    }
    let messages = listing
        .available
        .iter()
        .find(|c| c.id == "anthropic/messages")
        .expect("anthropic/messages is available");
    assert_eq!(messages.required_secrets, ["ANTHROPIC_API_KEY"]);
    let boards = listing
        .available
        .iter()
        .find(|c| c.id == "trello/boards")
        .expect("trello/boards is available");
    assert_eq!(boards.required_secrets, ["TRELLO_API_KEY", "TRELLO_TOKEN"]);

    let kinds: Vec<String> = all_events(&vault)
        .into_iter()
        .rev()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "vault.init",
            "secret.create",
            "secret.pin_provider",
            "credential.provision"
        ]
    );
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
    assert_files_clean(&t.dir, &[value.as_bytes()]);
}

#[test]
fn custom_names_aliases_and_scopes() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let custom = vault
        .create_secret(NewSecret {
            name: "  MY_CUSTOM_KEY ".into(),
            value: value.as_str().into(),
            scope: Scope::Global,
            aliases: vec!["zeta".into(), " alpha".into(), "zeta".into(), "mid".into()],
        })
        .expect("create custom");
    assert_eq!(custom.secret.name, "MY_CUSTOM_KEY");
    assert_eq!(custom.secret.pinned_provider, None);
    assert_eq!(custom.provisioning, None);
    assert_eq!(custom.secret.aliases, ["alpha", "mid", "zeta"]);
    assert!(vault.list_credentials().expect("credentials").is_empty());
    assert!(vault.list_capabilities().expect("caps").ready.is_empty());

    // Names and aliases share one namespace per scope.
    let taken = [
        ("MY_CUSTOM_KEY", vec![]),
        ("alpha", vec![]),
        ("OTHER", vec!["zeta".to_string()]),
        ("OTHER", vec!["MY_CUSTOM_KEY".to_string()]),
    ];
    let before = all_secrets(&vault);
    let events_before = audit_count(&vault);
    for (name, aliases) in taken {
        let err = expect_err(
            vault.create_secret(NewSecret {
                name: name.into(),
                value: value.as_str().into(),
                scope: Scope::Global,
                aliases: aliases.clone(),
            }),
            name,
        );
        assert_eq!(
            err.kind(),
            ErrorKind::AlreadyExists,
            "{name} {aliases:?}: {err}"
        );
        assert_not_in(&value, "error", err.message());
    }
    // An alias equal to the secret's own name, or an empty one, is invalid input.
    for (name, alias) in [("SELF", "SELF"), ("EMPTY_ALIAS", "  ")] {
        let err = expect_err(
            vault.create_secret(NewSecret {
                name: name.into(),
                value: "v".into(),
                scope: Scope::Global,
                aliases: vec![alias.into()],
            }),
            name,
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err}");
    }
    for (name, value) in [("", "v"), ("   ", "v"), ("A\nB", "v"), ("NO_VALUE", "")] {
        let err = expect_err(
            vault.create_secret(new_secret(name, value, Scope::Global)),
            name,
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}: {err}");
    }
    assert_eq!(all_secrets(&vault), before);
    assert_eq!(audit_count(&vault), events_before);

    // The same name (and alias) is free in another scope.
    let in_ws = vault
        .create_secret(NewSecret {
            name: "MY_CUSTOM_KEY".into(),
            value: "ws-value".into(),
            scope: ws("my-workspace"),
            aliases: vec!["alpha".into()],
        })
        .expect("same name in a workspace");
    let in_group = vault
        .create_secret(NewSecret {
            name: "alpha".into(),
            value: "group-value".into(),
            scope: group("my-workspace", "my-group"),
            aliases: vec!["MY_CUSTOM_KEY".into()],
        })
        .expect("same labels in a group");
    let err = expect_err(
        vault.create_secret(new_secret("alpha", "v", ws("my-workspace"))),
        "alias in workspace",
    );
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);

    // Registry names provision per scope, with scope-qualified credential ids.
    let openai_ws = vault
        .create_secret(new_secret("OPENAI_API_KEY", &canary(), ws("my-workspace")))
        .expect("workspace openai");
    assert_eq!(
        openai_ws.provisioning,
        Some(provisioned("openai", "openai:ws:my-workspace", 17, true))
    );
    let openai_group = vault
        .create_secret(new_secret(
            "OPENAI_API_KEY",
            &canary(),
            group("my-workspace", "my-group"),
        ))
        .expect("group openai");
    assert_eq!(
        openai_group.provisioning,
        Some(provisioned(
            "openai",
            "openai:group:my-workspace:my-group",
            17,
            true
        ))
    );
    let credentials = vault.list_credentials().expect("credentials");
    let ids: Vec<&str> = credentials.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "openai:group:my-workspace:my-group",
            "openai:ws:my-workspace"
        ]
    );
    assert_eq!(credentials[0].scope, group("my-workspace", "my-group"));
    assert_eq!(credentials[1].scope, ws("my-workspace"));
    assert_eq!(
        credentials[0].secrets[0].secret_ref,
        openai_group.secret.secret_ref()
    );
    let ready = vault.list_capabilities().expect("caps").ready;
    assert_eq!(ready.len(), 17);
    assert_eq!(
        ready[0].credentials,
        [
            "openai:group:my-workspace:my-group",
            "openai:ws:my-workspace"
        ]
    );

    // Filters.
    let by_kind = |kind| {
        vault
            .list_secrets(&SecretFilter {
                kind: Some(kind),
                ..SecretFilter::default()
            })
            .expect("list")
    };
    assert_eq!(
        by_kind(aivault_core::ScopeKind::Global),
        std::slice::from_ref(&custom.secret)
    );
    let ws_ids: Vec<String> = by_kind(aivault_core::ScopeKind::Workspace)
        .into_iter()
        .map(|s| s.secret_id)
        .collect();
    assert_eq!(
        ws_ids,
        [
            in_ws.secret.secret_id.clone(),
            openai_ws.secret.secret_id.clone()
        ]
    );
    let in_group_list = vault
        .list_secrets(&SecretFilter {
            workspace_id: Some("my-workspace".into()),
            group_id: Some("my-group".into()),
            ..SecretFilter::default()
        })
        .expect("list group");
    let names: Vec<&str> = in_group_list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["OPENAI_API_KEY", "alpha"]);
    assert_eq!(in_group_list[1].secret_id, in_group.secret.secret_id);
    let names: Vec<String> = all_secrets(&vault).into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "MY_CUSTOM_KEY",
            "MY_CUSTOM_KEY",
            "OPENAI_API_KEY",
            "OPENAI_API_KEY",
            "alpha"
        ]
    );
    assert_eq!(assert_secrets_ok(&vault), 5);
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
}

#[test]
fn trello_provisions_once_key_and_token_exist() {
    let t = TestDir::new();
    let vault = t.open();
    let key_value = canary();
    let token_value = canary();
    let key = create(&vault, "TRELLO_API_KEY", &key_value);
    assert_eq!(key.secret.pinned_provider.as_deref(), Some("trello"));
    assert_eq!(
        key.provisioning,
        Some(Provisioning::Waiting {
            provider: "trello".into(),
            missing: vec!["TRELLO_TOKEN".into()],
        })
    );
    assert!(vault.list_credentials().expect("credentials").is_empty());
    // A token in another scope does not complete the global credential.
    let ws_token = vault
        .create_secret(new_secret("TRELLO_TOKEN", &token_value, ws("w1")))
        .expect("workspace token");
    assert_eq!(
        ws_token.provisioning,
        Some(Provisioning::Waiting {
            provider: "trello".into(),
            missing: vec!["TRELLO_API_KEY".into()],
        })
    );
    assert!(vault.list_credentials().expect("credentials").is_empty());

    let token = create(&vault, "TRELLO_TOKEN", &token_value);
    assert_eq!(
        token.provisioning,
        Some(provisioned("trello", "trello", 17, true))
    );
    let credentials = vault.list_credentials().expect("credentials");
    assert_eq!(credentials.len(), 1);
    let credential = &credentials[0];
    assert_eq!(credential.id, "trello");
    assert_eq!(credential.hosts, ["api.trello.com"]);
    let links: Vec<(&str, &str)> = credential
        .secrets
        .iter()
        .map(|l| (l.role.as_str(), l.secret_ref.as_str()))
        .collect();
    let (key_ref, token_ref) = (key.secret.secret_ref(), token.secret.secret_ref());
    assert_eq!(
        links,
        [("key", key_ref.as_str()), ("token", token_ref.as_str())]
    );
    // Rotating a part refreshes, not recreates, the credential.
    let rotated = vault
        .rotate_secret(&key.secret.secret_id, canary().into())
        .expect("rotate key");
    assert_eq!(
        rotated.provisioning,
        Some(provisioned("trello", "trello", 17, false))
    );
    // Deleting one part removes the credential.
    let deleted = vault
        .delete_secret(&token.secret.secret_id)
        .expect("delete token");
    assert_eq!(deleted.removed_credentials, ["trello"]);
    assert!(vault.list_credentials().expect("credentials").is_empty());
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
    for v in [&key_value, &token_value] {
        assert_audit_clean(&vault, v);
    }
    assert_files_clean(&t.dir, &[key_value.as_bytes(), token_value.as_bytes()]);
}

#[test]
fn update_renames_and_replaces_aliases_within_the_rules() {
    let t = TestDir::new();
    let vault = t.open();
    let custom = vault
        .create_secret(NewSecret {
            name: "MY_CUSTOM_KEY".into(),
            value: canary().into(),
            scope: Scope::Global,
            aliases: vec!["old".into()],
        })
        .expect("create");
    let id = custom.secret.secret_id.clone();
    let other = create(&vault, "OTHER", "v");
    let openai = create(&vault, "OPENAI_API_KEY", &canary());

    let renamed = vault
        .update_secret(
            &id,
            SecretUpdate {
                name: Some("RENAMED_KEY".into()),
                aliases: None,
            },
        )
        .expect("rename");
    assert_eq!(renamed.name, "RENAMED_KEY");
    assert_eq!(renamed.aliases, ["old"]);
    assert_eq!(vault.get_secret(&id).expect("get").name, "RENAMED_KEY");
    // The old name is free again; the new one is taken.
    let reuse = create(&vault, "MY_CUSTOM_KEY", "v");
    vault
        .delete_secret(&reuse.secret.secret_id)
        .expect("delete");

    let refused = [
        (
            openai.secret.secret_id.as_str(),
            "OPENAI_RENAMED",
            ErrorKind::PolicyViolation,
        ),
        (id.as_str(), "GITHUB_TOKEN", ErrorKind::PolicyViolation),
        (id.as_str(), "OTHER", ErrorKind::AlreadyExists),
        (
            other.secret.secret_id.as_str(),
            "old",
            ErrorKind::AlreadyExists,
        ),
        (id.as_str(), "  ", ErrorKind::InvalidInput),
    ];
    let events = audit_count(&vault);
    for (target, name, kind) in refused {
        let err = expect_err(
            vault.update_secret(
                target,
                SecretUpdate {
                    name: Some(name.into()),
                    aliases: None,
                },
            ),
            name,
        );
        assert_eq!(err.kind(), kind, "rename to {name:?}: {err}");
    }
    let err = expect_err(
        vault.update_secret(&id, SecretUpdate::default()),
        "nothing to update",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.kind().as_str(), "invalid_input");
    assert_eq!(
        audit_count(&vault),
        events,
        "refused updates are not audited"
    );
    assert_eq!(
        vault
            .get_secret(&openai.secret.secret_id)
            .expect("get")
            .name,
        "OPENAI_API_KEY"
    );

    // A pinned secret keeps its name but its aliases can change; same-name is not a rename.
    let pinned = vault
        .update_secret(
            &openai.secret.secret_id,
            SecretUpdate {
                name: Some("OPENAI_API_KEY".into()),
                aliases: Some(vec!["oai".into()]),
            },
        )
        .expect("alias a pinned secret");
    assert_eq!(pinned.aliases, ["oai"]);

    let replaced = vault
        .update_secret(
            &id,
            SecretUpdate {
                name: None,
                aliases: Some(vec!["b".into(), "a".into(), "b".into()]),
            },
        )
        .expect("replace aliases");
    assert_eq!(replaced.aliases, ["a", "b"]);
    assert_eq!(replaced.name, "RENAMED_KEY");
    // "old" was released, "a" is taken.
    create(&vault, "old", "v");
    assert_eq!(
        expect_err(
            vault.create_secret(new_secret("a", "v", Scope::Global)),
            "a"
        )
        .kind(),
        ErrorKind::AlreadyExists
    );
    let cleared = vault
        .update_secret(
            &id,
            SecretUpdate {
                name: None,
                aliases: Some(vec![]),
            },
        )
        .expect("clear aliases");
    assert!(cleared.aliases.is_empty());
    assert!(vault.get_secret(&id).expect("get").aliases.is_empty());
    create(&vault, "a", "v");

    let updates = vault
        .audit(&AuditQuery {
            kind: Some("secret.update".into()),
            secret_id: Some(id.clone()),
            ..AuditQuery::default()
        })
        .expect("audit");
    assert_eq!(updates.len(), 3);
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
}

#[test]
fn rotate_delete_and_ids() {
    let t = TestDir::new();
    let vault = t.open();
    let first = canary();
    let second = canary();
    let openai = create(&vault, "OPENAI_API_KEY", &first);
    let id = openai.secret.secret_id.clone();

    let rotated = vault
        .rotate_secret(&id, second.as_str().into())
        .expect("rotate");
    assert_debug_clean(&second, "rotate outcome", &rotated);
    assert_eq!(rotated.secret.value_version, 2);
    assert_eq!(
        rotated.provisioning,
        Some(provisioned("openai", "openai", 17, false))
    );
    let again = vault
        .rotate_secret(&id, canary().into())
        .expect("rotate again");
    assert_eq!(again.secret.value_version, 3);
    assert_eq!(vault.get_secret(&id).expect("get").value_version, 3);
    let err = expect_err(vault.rotate_secret(&id, "".into()), "empty rotate");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(vault.get_secret(&id).expect("get").value_version, 3);
    assert_secrets_ok(&vault);

    let deleted = vault.delete_secret(&id).expect("delete");
    assert_debug_clean(&first, "delete outcome", &deleted);
    assert_eq!(deleted.secret.secret_id, id);
    assert_eq!(deleted.removed_credentials, ["openai"]);
    assert!(vault.list_credentials().expect("credentials").is_empty());
    assert!(vault.list_capabilities().expect("caps").ready.is_empty());
    assert!(all_secrets(&vault).is_empty());
    for result in [
        vault.get_secret(&id).map(|_| ()),
        vault.delete_secret(&id).map(|_| ()),
        vault.rotate_secret(&id, "x".into()).map(|_| ()),
        vault
            .update_secret(
                &id,
                SecretUpdate {
                    name: Some("X".into()),
                    aliases: None,
                },
            )
            .map(|_| ()),
    ] {
        let err = expect_err(result, "deleted id");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(err.kind().as_str(), "not_found");
    }
    let events = vault
        .audit(&AuditQuery {
            secret_id: Some(id.clone()),
            ..AuditQuery::default()
        })
        .expect("audit");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "secret.delete",
            "credential.delete",
            "secret.rotate",
            "secret.rotate",
            "secret.pin_provider",
            "secret.create",
        ]
    );
    assert_eq!(events[1].credential_id.as_deref(), Some("openai"));
    assert_eq!(events[2].note.as_deref(), Some("version=3"));

    // The name can be used again, and provisions afresh.
    let recreated = create(&vault, "OPENAI_API_KEY", &canary());
    assert_ne!(recreated.secret.secret_id, id);
    assert_eq!(recreated.secret.value_version, 1);
    assert_eq!(
        recreated.provisioning,
        Some(provisioned("openai", "openai", 17, true))
    );

    let upper = recreated.secret.secret_id.to_uppercase();
    let braced = format!("{{{}}}", recreated.secret.secret_id);
    let simple = recreated.secret.secret_id.replace('-', "");
    for bad in [
        "",
        "not-a-uuid",
        "../etc/passwd",
        upper.as_str(),
        braced.as_str(),
        simple.as_str(),
    ] {
        for result in [
            vault.get_secret(bad).map(|_| ()),
            vault.delete_secret(bad).map(|_| ()),
            vault.rotate_secret(bad, "x".into()).map(|_| ()),
            vault
                .attach_group(bad, &GroupRef::new("w", "g").expect("group"))
                .map(|_| ()),
        ] {
            let err = expect_err(result, bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}: {err}");
        }
    }
    assert_secrets_ok(&vault);
    assert_audit_ok(&vault);
    for v in [&first, &second] {
        assert_audit_clean(&vault, v);
    }
    assert_files_clean(&t.dir, &[first.as_bytes(), second.as_bytes()]);
}
