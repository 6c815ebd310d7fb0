//! Integration tests of `Vault::plan` on real SQLite vaults: which credential, secret and host
//! serve a capability for a caller's context (DESIGN §4). No context sees global credentials
//! only; a workspace context prefers its workspace's; a group context prefers its group's, then
//! its workspace's, then global credentials whose secrets are attached to the group. Bindings
//! replace the secret; a plan never carries a secret value.

mod common;

use aivault_core::registry::AuthSpec;
use aivault_core::{
    AuthOptions, Error, ErrorKind, GroupRef, NewBinding, NewCapability, NewCredential, Plan,
    PlanContext, Scope, SecretMeta, Vault,
};
use common::*;

/// A context of optional workspace and group ids.
fn ctx(workspace: Option<&str>, group: Option<&str>) -> PlanContext {
    PlanContext {
        workspace_id: workspace.map(str::to_string),
        group_id: group.map(str::to_string),
        consumer: None,
        credential: None,
    }
}

/// No context at all.
fn global_ctx() -> PlanContext {
    ctx(None, None)
}

/// A workspace context.
fn ws_ctx(workspace: &str) -> PlanContext {
    ctx(Some(workspace), None)
}

/// A group context.
fn group_ctx(workspace: &str, group: &str) -> PlanContext {
    ctx(Some(workspace), Some(group))
}

/// `context` asking for a credential by id.
fn with_credential(mut context: PlanContext, id: &str) -> PlanContext {
    context.credential = Some(id.to_string());
    context
}

/// `context` for one consumer.
fn with_consumer(mut context: PlanContext, consumer: &str) -> PlanContext {
    context.consumer = Some(consumer.to_string());
    context
}

/// Creates a secret in `scope` and returns its metadata.
fn store(vault: &Vault, name: &str, value: &str, scope: Scope) -> SecretMeta {
    vault
        .create_secret(new_secret(name, value, scope))
        .unwrap_or_else(|e| panic!("create {name}: {} ({})", e.message(), e.kind()))
        .secret
}

/// A plan that must succeed.
fn plan(vault: &Vault, capability: &str, context: &PlanContext) -> Plan {
    vault
        .plan(capability, context)
        .unwrap_or_else(|e| panic!("plan {capability} in {context:?}: {e} ({})", e.kind()))
}

/// A plan that must fail with `kind`; returns the error.
fn plan_err(vault: &Vault, capability: &str, context: &PlanContext, kind: ErrorKind) -> Error {
    let err = expect_err(
        vault.plan(capability, context),
        &format!("plan {capability} in {context:?}"),
    );
    assert_eq!(err.kind(), kind, "plan {capability} in {context:?}: {err}");
    err
}

/// The credential id a plan used.
fn credential_of(plan: &Plan) -> &str {
    &plan.credential
}

/// The single secret ref of a plan.
fn secret_of(plan: &Plan) -> &str {
    assert_eq!(plan.secrets.len(), 1, "{plan:?}");
    &plan.secrets[0].secret_ref
}

/// Asserts none of `canaries` appears in the plan's JSON or Debug rendering.
fn assert_plan_clean(plan: &Plan, canaries: &[&str]) {
    let json = serde_json::to_string(plan).expect("serialize plan");
    let debug = format!("{plan:?}");
    for canary in canaries {
        assert_not_in(canary, "plan JSON", &json);
        assert_not_in(canary, "plan Debug", &debug);
    }
}

/// Asserts none of `canaries` appears in an error's message, Display or Debug.
fn assert_err_clean(err: &Error, canaries: &[&str]) {
    for canary in canaries {
        assert_not_in(canary, "error message", err.message());
        assert_not_in(canary, "error Display", &err.to_string());
        assert_not_in(canary, "error Debug", &format!("{err:?}"));
    }
}

/// `authorization: Bearer {{secret}}`, the OpenAI API-key strategy.
fn bearer() -> AuthSpec {
    AuthSpec::Header {
        header_name: "authorization".into(),
        value_template: "Bearer {{secret}}".into(),
    }
}

/// An operator credential of a registry provider, with the registry's auth and hosts.
fn registry_provider_credential(
    vault: &Vault,
    id: &str,
    provider: &str,
    secret: &SecretMeta,
    hosts: &[&str],
) -> aivault_core::Credential {
    vault
        .create_credential(NewCredential {
            id: id.into(),
            provider: provider.into(),
            secret_refs: vec![secret.secret_ref()],
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..NewCredential::default()
        })
        .unwrap_or_else(|e| panic!("create credential {id}: {e}"))
}

fn bind(
    vault: &Vault,
    capability: &str,
    secret: &SecretMeta,
    scope: Scope,
    consumer: Option<&str>,
) {
    vault
        .bind(NewBinding {
            capability: capability.into(),
            secret_ref: secret.secret_ref(),
            scope,
            consumer: consumer.map(str::to_string),
        })
        .unwrap_or_else(|e| panic!("bind {capability}: {e} ({})", e.kind()));
}

#[test]
fn no_context_sees_global_credentials_only() {
    let t = TestDir::new();
    let vault = t.open();
    let ws_value = canary();
    let ws_key = store(&vault, "OPENAI_API_KEY", &ws_value, ws("ws1"));
    // Only a workspace credential exists: invisible without a context.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert_err_clean(&err, &[&ws_value]);
    let in_ws = plan(&vault, "openai/chat-completions", &ws_ctx("ws1"));
    assert_eq!(credential_of(&in_ws), "openai:ws:ws1");
    assert_eq!(secret_of(&in_ws), ws_key.secret_ref());

    let global_value = canary();
    let global_key = create(&vault, "OPENAI_API_KEY", &global_value).secret;
    let p = plan(&vault, "openai/chat-completions", &global_ctx());
    assert_eq!(credential_of(&p), "openai");
    assert_eq!(p.provider, "openai");
    assert_eq!(p.capability.id, "openai/chat-completions");
    assert_eq!(p.capability.methods, ["GET", "POST"]);
    assert_eq!(p.capability.paths, ["/v1/chat/completions"]);
    assert_eq!(p.host, "api.openai.com");
    assert_eq!(p.auth, bearer());
    assert_eq!(p.secrets.len(), 1);
    assert_eq!(p.secrets[0].role, "secret");
    assert_eq!(p.secrets[0].secret_ref, global_key.secret_ref());
    assert!(p.policy.is_empty());
    assert_eq!(p.binding, None);
    assert_plan_clean(&p, &[&global_value, &ws_value]);
    assert_plan_clean(&in_ws, &[&global_value, &ws_value]);
    // The JSON names the secret by reference only.
    let json = serde_json::to_value(&p).expect("plan json");
    assert_eq!(json["credential"], "openai");
    assert_eq!(json["host"], "api.openai.com");
    assert_eq!(
        json["secrets"][0]["secretRef"],
        global_key.secret_ref().as_str()
    );
    assert!(json.get("binding").is_none(), "{json}");
    // Resolving reads only: no audit event.
    let events = audit_count(&vault);
    plan(&vault, "openai/embeddings", &global_ctx());
    assert_eq!(audit_count(&vault), events);
}

#[test]
fn workspace_credential_beats_global_and_falls_back_to_it() {
    let t = TestDir::new();
    let vault = t.open();
    let (global_value, ws_value) = (canary(), canary());
    let global_key = create(&vault, "OPENAI_API_KEY", &global_value).secret;
    let ws_key = store(&vault, "OPENAI_API_KEY", &ws_value, ws("ws1"));

    let p = plan(&vault, "openai/chat-completions", &ws_ctx("ws1"));
    assert_eq!(credential_of(&p), "openai:ws:ws1");
    assert_eq!(secret_of(&p), ws_key.secret_ref());
    assert_eq!(p.host, "api.openai.com");
    assert_plan_clean(&p, &[&global_value, &ws_value]);
    // Another workspace falls back to global.
    let other = plan(&vault, "openai/chat-completions", &ws_ctx("ws2"));
    assert_eq!(credential_of(&other), "openai");
    assert_eq!(secret_of(&other), global_key.secret_ref());
    // No context: global, even though a workspace credential exists.
    let none = plan(&vault, "openai/chat-completions", &global_ctx());
    assert_eq!(credential_of(&none), "openai");
    // A group of ws1 sees the workspace credential (no group one exists).
    let in_group = plan(&vault, "openai/chat-completions", &group_ctx("ws1", "g1"));
    assert_eq!(credential_of(&in_group), "openai:ws:ws1");
    // A group of ws2 has no workspace credential and the global one is not attached.
    plan_err(
        &vault,
        "openai/chat-completions",
        &group_ctx("ws2", "g1"),
        ErrorKind::CredentialNotFound,
    );
    // Deleting the workspace secret removes its credential: ws1 falls back to global.
    let deleted = vault.delete_secret(&ws_key.secret_id).expect("delete");
    assert_eq!(deleted.removed_credentials, ["openai:ws:ws1"]);
    let back = plan(&vault, "openai/chat-completions", &ws_ctx("ws1"));
    assert_eq!(credential_of(&back), "openai");
    assert_eq!(secret_of(&back), global_key.secret_ref());
}

#[test]
fn group_beats_workspace_beats_global() {
    let t = TestDir::new();
    let vault = t.open();
    let values = [canary(), canary(), canary()];
    let global_key = create(&vault, "OPENAI_API_KEY", &values[0]).secret;
    let ws_key = store(&vault, "OPENAI_API_KEY", &values[1], ws("ws1"));
    let group_key = store(&vault, "OPENAI_API_KEY", &values[2], group("ws1", "g1"));
    // Attaching the global secret to the group does not let it beat the group's own.
    vault
        .attach_group(
            &global_key.secret_id,
            &GroupRef::new("ws1", "g1").expect("g"),
        )
        .expect("attach");
    let canaries: Vec<&str> = values.iter().map(String::as_str).collect();

    let cases = [
        (group_ctx("ws1", "g1"), "openai:group:ws1:g1", &group_key),
        (group_ctx("ws1", "g2"), "openai:ws:ws1", &ws_key),
        (ws_ctx("ws1"), "openai:ws:ws1", &ws_key),
        (ws_ctx("ws2"), "openai", &global_key),
        (global_ctx(), "openai", &global_key),
    ];
    for (context, credential, secret) in &cases {
        let p = plan(&vault, "openai/responses", context);
        assert_eq!(credential_of(&p), *credential, "{context:?}");
        assert_eq!(secret_of(&p), secret.secret_ref(), "{context:?}");
        assert_plan_clean(&p, &canaries);
    }
    // A group credential is invisible to its workspace and to other groups.
    let err = plan_err(
        &vault,
        "openai/responses",
        &with_credential(ws_ctx("ws1"), "openai:group:ws1:g1"),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("openai:group:ws1:g1"), "{err}");
    plan_err(
        &vault,
        "openai/responses",
        &with_credential(group_ctx("ws1", "g2"), "openai:group:ws1:g1"),
        ErrorKind::PolicyViolation,
    );
    // ... but a group context may ask for its workspace's or (attached) global credential.
    let p = plan(
        &vault,
        "openai/responses",
        &with_credential(group_ctx("ws1", "g1"), "openai:ws:ws1"),
    );
    assert_eq!(secret_of(&p), ws_key.secret_ref());
    let p = plan(
        &vault,
        "openai/responses",
        &with_credential(group_ctx("ws1", "g1"), "openai"),
    );
    assert_eq!(secret_of(&p), global_key.secret_ref());

    // Removing the group's secret falls back to the workspace, then (attached) global.
    vault.delete_secret(&group_key.secret_id).expect("delete");
    let p = plan(&vault, "openai/responses", &group_ctx("ws1", "g1"));
    assert_eq!(credential_of(&p), "openai:ws:ws1");
    vault.delete_secret(&ws_key.secret_id).expect("delete");
    let p = plan(&vault, "openai/responses", &group_ctx("ws1", "g1"));
    assert_eq!(credential_of(&p), "openai");
    assert_eq!(secret_of(&p), global_key.secret_ref());
    // The other group of ws1 has no attachment.
    plan_err(
        &vault,
        "openai/responses",
        &group_ctx("ws1", "g2"),
        ErrorKind::CredentialNotFound,
    );
}

#[test]
fn a_global_credential_serves_a_group_only_when_attached() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let key = create(&vault, "OPENAI_API_KEY", &value).secret;
    let g1 = GroupRef::new("ws1", "g1").expect("group");

    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &group_ctx("ws1", "g1"),
        ErrorKind::CredentialNotFound,
    );
    assert_err_clean(&err, &[&value]);
    // Asking for it by id does not get around the attachment.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &with_credential(group_ctx("ws1", "g1"), "openai"),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("group:ws1:g1"), "{err}");
    // The workspace context sees global credentials without any attachment.
    assert_eq!(
        credential_of(&plan(&vault, "openai/chat-completions", &ws_ctx("ws1"))),
        "openai"
    );

    let attached = vault.attach_group(&key.secret_id, &g1).expect("attach");
    assert_eq!(attached.attached_groups, std::slice::from_ref(&g1));
    let p = plan(&vault, "openai/chat-completions", &group_ctx("ws1", "g1"));
    assert_eq!(credential_of(&p), "openai");
    assert_eq!(secret_of(&p), key.secret_ref());
    assert_plan_clean(&p, &[&value]);
    // Only that group: not a sibling, not the same group id in another workspace.
    for (w, g) in [("ws1", "g2"), ("ws2", "g1")] {
        plan_err(
            &vault,
            "openai/chat-completions",
            &group_ctx(w, g),
            ErrorKind::CredentialNotFound,
        );
    }
    // Detaching revokes it again.
    vault.detach_group(&key.secret_id, &g1).expect("detach");
    plan_err(
        &vault,
        "openai/chat-completions",
        &group_ctx("ws1", "g1"),
        ErrorKind::CredentialNotFound,
    );
    let err = expect_err(vault.detach_group(&key.secret_id, &g1), "detach twice");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn a_multi_secret_global_credential_needs_every_secret_attached() {
    let t = TestDir::new();
    let vault = t.open();
    let (key_value, token_value) = (canary(), canary());
    let key = create(&vault, "TRELLO_API_KEY", &key_value).secret;
    let token = create(&vault, "TRELLO_TOKEN", &token_value).secret;
    let g1 = GroupRef::new("ws1", "g1").expect("group");
    assert_eq!(
        credential_of(&plan(&vault, "trello/boards", &global_ctx())),
        "trello"
    );

    vault.attach_group(&key.secret_id, &g1).expect("attach key");
    plan_err(
        &vault,
        "trello/boards",
        &group_ctx("ws1", "g1"),
        ErrorKind::CredentialNotFound,
    );
    vault
        .attach_group(&token.secret_id, &g1)
        .expect("attach token");
    let p = plan(&vault, "trello/boards", &group_ctx("ws1", "g1"));
    assert_eq!(credential_of(&p), "trello");
    let mut roles: Vec<(&str, &str)> = p
        .secrets
        .iter()
        .map(|s| (s.role.as_str(), s.secret_ref.as_str()))
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            ("key", key.secret_ref().as_str()),
            ("token", token.secret_ref().as_str())
        ]
    );
    assert_eq!(p.host, "api.trello.com");
    assert_plan_clean(&p, &[&key_value, &token_value]);
}

#[test]
fn equal_priority_at_one_level_is_ambiguous_until_a_credential_is_named() {
    let t = TestDir::new();
    let vault = t.open();
    let (auto_value, backup_value) = (canary(), canary());
    let auto_key = create(&vault, "OPENAI_API_KEY", &auto_value).secret;
    let backup = create(&vault, "BACKUP_OPENAI_KEY", &backup_value).secret;
    assert_eq!(backup.pinned_provider, None);
    let credential = registry_provider_credential(&vault, "team-openai", "openai", &backup, &[]);
    assert_eq!(credential.hosts, ["api.openai.com"]);

    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialAmbiguous,
    );
    assert!(
        err.message().contains("(openai, team-openai)"),
        "both ids, sorted: {err}"
    );
    assert!(err.message().contains("--credential"), "{err}");
    assert_err_clean(&err, &[&auto_value, &backup_value]);
    // Naming either one settles it.
    let p = plan(
        &vault,
        "openai/chat-completions",
        &with_credential(global_ctx(), "team-openai"),
    );
    assert_eq!(credential_of(&p), "team-openai");
    assert_eq!(secret_of(&p), backup.secret_ref());
    assert_eq!(p.host, "api.openai.com");
    assert_eq!(p.auth, bearer());
    assert_plan_clean(&p, &[&auto_value, &backup_value]);
    let p = plan(
        &vault,
        "openai/chat-completions",
        &with_credential(global_ctx(), "openai"),
    );
    assert_eq!(secret_of(&p), auto_key.secret_ref());

    // Ambiguity is per level: a single workspace credential wins without a question.
    let ws_value = canary();
    let ws_key = store(&vault, "OPENAI_API_KEY", &ws_value, ws("ws1"));
    let p = plan(&vault, "openai/chat-completions", &ws_ctx("ws1"));
    assert_eq!(credential_of(&p), "openai:ws:ws1");
    assert_eq!(secret_of(&p), ws_key.secret_ref());
    // ... and two at the workspace level are ambiguous there, whatever global holds.
    let ws_backup = store(&vault, "BACKUP_OPENAI_KEY", &canary(), ws("ws1"));
    vault
        .create_credential(NewCredential {
            id: "team-openai-ws1".into(),
            provider: "openai".into(),
            secret_refs: vec![ws_backup.secret_ref()],
            workspace_id: Some("ws1".into()),
            ..NewCredential::default()
        })
        .expect("workspace operator credential");
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &ws_ctx("ws1"),
        ErrorKind::CredentialAmbiguous,
    );
    assert!(err.message().contains("openai:ws:ws1"), "{err}");
    assert!(err.message().contains("team-openai-ws1"), "{err}");
    assert!(!err.message().contains("team-openai,"), "{err}");

    // Deleting one of the global pair resolves the global level.
    vault.delete_credential("team-openai").expect("delete");
    assert_eq!(
        credential_of(&plan(&vault, "openai/chat-completions", &global_ctx())),
        "openai"
    );
}

#[test]
fn the_higher_priority_alternative_wins_at_one_level() {
    let t = TestDir::new();
    let vault = t.open();
    let (preferred_value, other_value) = (canary(), canary());
    let other = create(&vault, "FAL_API_KEY", &other_value).secret;
    assert_eq!(
        credential_of(&plan(&vault, "fal/image-to-3d", &global_ctx())),
        "fal.fal-api-key"
    );
    let preferred = create(&vault, "FAL_KEY", &preferred_value).secret;
    let p = plan(&vault, "fal/image-to-3d", &global_ctx());
    assert_eq!(credential_of(&p), "fal");
    assert_eq!(secret_of(&p), preferred.secret_ref());
    assert_plan_clean(&p, &[&preferred_value, &other_value]);
    // The lower-priority one stays reachable by id.
    let p = plan(
        &vault,
        "fal/image-to-3d",
        &with_credential(global_ctx(), "fal.fal-api-key"),
    );
    assert_eq!(secret_of(&p), other.secret_ref());
    // A more specific level beats priority.
    let ws_other = store(&vault, "FAL_API_KEY", &canary(), ws("ws1"));
    let p = plan(&vault, "fal/image-to-3d", &ws_ctx("ws1"));
    assert_eq!(credential_of(&p), "fal.fal-api-key:ws:ws1");
    assert_eq!(secret_of(&p), ws_other.secret_ref());
}

#[test]
fn an_explicit_credential_must_exist_match_and_be_visible() {
    let t = TestDir::new();
    let vault = t.open();
    let (openai_value, anthropic_value, ws_value) = (canary(), canary(), canary());
    create(&vault, "OPENAI_API_KEY", &openai_value);
    create(&vault, "ANTHROPIC_API_KEY", &anthropic_value);
    store(&vault, "OPENAI_API_KEY", &ws_value, ws("ws1"));
    let canaries = [
        openai_value.as_str(),
        anthropic_value.as_str(),
        ws_value.as_str(),
    ];

    // Another provider's credential.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &with_credential(global_ctx(), "anthropic"),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("anthropic"), "{err}");
    assert_err_clean(&err, &canaries);
    // The provider's credential, but not one that enables this capability (the API key
    // never reaches chatgpt.com).
    let err = plan_err(
        &vault,
        "openai/codex-responses",
        &with_credential(global_ctx(), "openai"),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("openai/codex-responses"), "{err}");
    // Not visible in the context.
    for context in [global_ctx(), ws_ctx("ws2"), group_ctx("ws2", "g")] {
        let err = plan_err(
            &vault,
            "openai/chat-completions",
            &with_credential(context.clone(), "openai:ws:ws1"),
            ErrorKind::PolicyViolation,
        );
        assert!(err.message().contains("openai:ws:ws1"), "{err}");
        assert_err_clean(&err, &canaries);
    }
    // Unknown.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &with_credential(global_ctx(), "no-such-credential"),
        ErrorKind::CredentialNotFound,
    );
    assert!(err.message().contains("no-such-credential"), "{err}");
    // Deleted.
    let deletion = vault
        .delete_credential("openai")
        .expect("delete credential");
    assert!(deletion.removed);
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &with_credential(global_ctx(), "openai"),
        ErrorKind::CredentialNotFound,
    );
    assert_err_clean(&err, &canaries);
    plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    // The workspace one still serves its workspace.
    assert_eq!(
        credential_of(&plan(&vault, "openai/chat-completions", &ws_ctx("ws1"))),
        "openai:ws:ws1"
    );
}

#[test]
fn unknown_capabilities_and_malformed_contexts() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    for id in [
        "openai/no-such-thing",
        "openai",
        "",
        "OPENAI/CHAT-COMPLETIONS",
    ] {
        let err = plan_err(&vault, id, &global_ctx(), ErrorKind::CapabilityNotFound);
        assert_err_clean(&err, &[&value]);
    }
    plan_err(
        &vault,
        "nope/nope",
        &group_ctx("ws1", "g1"),
        ErrorKind::CapabilityNotFound,
    );
    // A group id needs its workspace.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &ctx(None, Some("g1")),
        ErrorKind::InvalidInput,
    );
    assert!(err.message().contains("--workspace-id"), "{err}");
    // Malformed ids and consumers.
    for context in [
        ws_ctx("bad id"),
        group_ctx("ws1", "g:1"),
        with_consumer(global_ctx(), "bad consumer"),
        with_consumer(global_ctx(), ""),
    ] {
        plan_err(
            &vault,
            "openai/chat-completions",
            &context,
            ErrorKind::InvalidInput,
        );
    }
}

#[test]
fn without_any_credential_the_error_names_the_secret_to_store() {
    let t = TestDir::new();
    let vault = t.open();
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    let message = err.message();
    assert!(message.contains("openai/chat-completions"), "{message}");
    assert!(
        message.contains("aivault secrets create --name OPENAI_API_KEY"),
        "{message}"
    );
    assert!(message.contains("'openai'"), "{message}");
    // In a workspace, the credential it would provision is the workspace's.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &ws_ctx("ws1"),
        ErrorKind::CredentialNotFound,
    );
    assert!(err.message().contains("openai:ws:ws1"), "{err}");
    // The Codex capabilities name their own secret.
    let err = plan_err(
        &vault,
        "openai/codex-responses",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert!(err.message().contains("CODEX_OAUTH_JSON"), "{err}");
    assert!(!err.message().contains("OPENAI_API_KEY"), "{err}");
    // A two-secret provider names both, and stays unresolved while one is missing.
    let err = plan_err(
        &vault,
        "trello/boards",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert!(
        err.message().contains("TRELLO_API_KEY and TRELLO_TOKEN"),
        "{err}"
    );
    let key_value = canary();
    create(&vault, "TRELLO_API_KEY", &key_value);
    let err = plan_err(
        &vault,
        "trello/boards",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert_err_clean(&err, &[&key_value]);
    // An operator capability of an operator provider points at `credential create`.
    vault
        .create_capability(NewCapability {
            id: "acme/reports".into(),
            provider: Some("acme".into()),
            methods: vec!["GET".into()],
            paths: vec!["/v1/reports".into()],
            hosts: vec!["api.acme.dev".into()],
            ..NewCapability::default()
        })
        .expect("create capability");
    let err = plan_err(
        &vault,
        "acme/reports",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert!(err.message().contains("aivault credential create"), "{err}");
}

#[test]
fn a_wildcard_host_needs_a_credential_with_a_concrete_host() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let token = create(&vault, "SHOPIFY_ACCESS_TOKEN", &value).secret;
    let auto = vault.list_credentials().expect("credentials");
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0].hosts, ["*.myshopify.com"]);

    let err = plan_err(
        &vault,
        "shopify/admin",
        &global_ctx(),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("--host"), "{err}");
    assert!(err.message().contains("*.myshopify.com"), "{err}");
    assert_err_clean(&err, &[&value]);

    // Hosts that are not exactly one label under the pattern are refused at creation.
    for host in ["a.b.myshopify.com", "myshopify.com", "store.example.com"] {
        let err = expect_err(
            vault.create_credential(NewCredential {
                id: "bad-store".into(),
                provider: "shopify".into(),
                secret_refs: vec![token.secret_ref()],
                hosts: vec![host.into()],
                ..NewCredential::default()
            }),
            host,
        );
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{host}: {err}");
    }
    let store_credential = registry_provider_credential(
        &vault,
        "my-store",
        "shopify",
        &token,
        &["store.myshopify.com"],
    );
    assert_eq!(store_credential.hosts, ["store.myshopify.com"]);
    assert_eq!(store_credential.capabilities, ["shopify/admin"]);

    let p = plan(
        &vault,
        "shopify/admin",
        &with_credential(global_ctx(), "my-store"),
    );
    assert_eq!(p.host, "store.myshopify.com");
    assert_eq!(secret_of(&p), token.secret_ref());
    assert_plan_clean(&p, &[&value]);
    // The auto-provisioned wildcard credential cannot make the call, so it yields to the
    // concrete one instead of making the choice ambiguous.
    let p = plan(&vault, "shopify/admin", &global_ctx());
    assert_eq!(credential_of(&p), "my-store");
    assert_eq!(p.host, "store.myshopify.com");
    // Asked for by id, the wildcard one still explains itself.
    let err = plan_err(
        &vault,
        "shopify/admin",
        &with_credential(global_ctx(), "shopify"),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("--host"), "{err}");
    // Two concrete stores at one level are a real choice.
    registry_provider_credential(
        &vault,
        "other-store",
        "shopify",
        &token,
        &["other.myshopify.com"],
    );
    let err = plan_err(
        &vault,
        "shopify/admin",
        &global_ctx(),
        ErrorKind::CredentialAmbiguous,
    );
    assert!(err.message().contains("my-store"), "{err}");
    assert!(err.message().contains("other-store"), "{err}");
    assert!(!err.message().contains("(shopify"), "{err}");
    let p = plan(
        &vault,
        "shopify/admin",
        &with_credential(global_ctx(), "other-store"),
    );
    assert_eq!(p.host, "other.myshopify.com");
    // Deleting the concrete ones leaves only the wildcard, and its explanation.
    vault.delete_credential("my-store").expect("delete");
    vault.delete_credential("other-store").expect("delete");
    let err = plan_err(
        &vault,
        "shopify/admin",
        &global_ctx(),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("--host"), "{err}");
}

#[test]
fn a_binding_replaces_the_credentials_secret() {
    let t = TestDir::new();
    let vault = t.open();
    let (auto_value, team_value) = (canary(), canary());
    let auto_key = create(&vault, "OPENAI_API_KEY", &auto_value).secret;
    let team = create(&vault, "TEAM_OPENAI_KEY", &team_value).secret;
    bind(
        &vault,
        "openai/chat-completions",
        &team,
        Scope::Global,
        None,
    );

    let p = plan(&vault, "openai/chat-completions", &global_ctx());
    assert_eq!(credential_of(&p), "openai");
    assert_eq!(secret_of(&p), team.secret_ref());
    assert_eq!(p.secrets[0].role, "secret");
    assert_eq!(p.auth, bearer());
    assert_eq!(p.host, "api.openai.com");
    let binding = p.binding.as_ref().expect("binding in plan");
    assert_eq!(binding.capability, "openai/chat-completions");
    assert_eq!(binding.scope, Scope::Global);
    assert_eq!(binding.consumer, None);
    assert_eq!(binding.secret_ref, team.secret_ref());
    assert_plan_clean(&p, &[&auto_value, &team_value]);
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["binding"]["secretRef"], team.secret_ref().as_str());

    // Other capabilities of the same credential keep its own secret.
    let other = plan(&vault, "openai/embeddings", &global_ctx());
    assert_eq!(secret_of(&other), auto_key.secret_ref());
    assert_eq!(other.binding, None);
    // Unbinding restores it.
    let outcome = vault
        .unbind("openai/chat-completions", &Scope::Global, None)
        .expect("unbind");
    assert!(outcome.removed);
    let p = plan(&vault, "openai/chat-completions", &global_ctx());
    assert_eq!(secret_of(&p), auto_key.secret_ref());
    assert_eq!(p.binding, None);
}

#[test]
fn the_most_specific_binding_wins_and_a_consumers_beats_the_generic() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "OPENAI_API_KEY", &canary());
    store(&vault, "OPENAI_API_KEY", &canary(), ws("ws1"));
    let values: Vec<String> = (0..6).map(|_| canary()).collect();
    let secret = |i: usize, name: &str| create(&vault, name, &values[i]).secret;
    let for_global = secret(0, "BIND_GLOBAL");
    let for_ws = secret(1, "BIND_WS1");
    let for_group = secret(2, "BIND_G1");
    let for_ws_agent = secret(3, "BIND_WS1_AGENT");
    let for_group_agent = secret(4, "BIND_G1_AGENT");
    let for_global_agent = secret(5, "BIND_GLOBAL_AGENT");
    let cap = "openai/responses";
    bind(&vault, cap, &for_global, Scope::Global, None);
    bind(&vault, cap, &for_ws, ws("ws1"), None);
    bind(&vault, cap, &for_group, group("ws1", "g1"), None);
    bind(&vault, cap, &for_ws_agent, ws("ws1"), Some("agent-1"));
    bind(
        &vault,
        cap,
        &for_group_agent,
        group("ws1", "g1"),
        Some("agent-1"),
    );
    bind(
        &vault,
        cap,
        &for_global_agent,
        Scope::Global,
        Some("agent-2"),
    );
    let canaries: Vec<&str> = values.iter().map(String::as_str).collect();

    let cases: Vec<(PlanContext, &SecretMeta, &str)> = vec![
        (global_ctx(), &for_global, "openai"),
        (
            with_consumer(global_ctx(), "agent-1"),
            &for_global,
            "openai",
        ),
        (
            with_consumer(global_ctx(), "agent-2"),
            &for_global_agent,
            "openai",
        ),
        (ws_ctx("ws2"), &for_global, "openai"),
        (ws_ctx("ws1"), &for_ws, "openai:ws:ws1"),
        (
            with_consumer(ws_ctx("ws1"), "agent-1"),
            &for_ws_agent,
            "openai:ws:ws1",
        ),
        (
            with_consumer(ws_ctx("ws1"), "agent-3"),
            &for_ws,
            "openai:ws:ws1",
        ),
        // A generic binding of a deeper scope beats a consumer's of a shallower one.
        (
            with_consumer(ws_ctx("ws1"), "agent-2"),
            &for_ws,
            "openai:ws:ws1",
        ),
        (group_ctx("ws1", "g1"), &for_group, "openai:ws:ws1"),
        (
            with_consumer(group_ctx("ws1", "g1"), "agent-1"),
            &for_group_agent,
            "openai:ws:ws1",
        ),
        (group_ctx("ws1", "g2"), &for_ws, "openai:ws:ws1"),
        (
            with_consumer(group_ctx("ws1", "g2"), "agent-1"),
            &for_ws_agent,
            "openai:ws:ws1",
        ),
    ];
    for (context, expected, credential) in &cases {
        let p = plan(&vault, cap, context);
        assert_eq!(secret_of(&p), expected.secret_ref(), "{context:?}");
        assert_eq!(credential_of(&p), *credential, "{context:?}");
        let binding = p.binding.as_ref().expect("binding");
        assert_eq!(binding.secret_ref, expected.secret_ref(), "{context:?}");
        assert_plan_clean(&p, &canaries);
    }
    // Rebinding a key replaces it in place.
    let replaced = vault
        .bind(NewBinding {
            capability: cap.into(),
            secret_ref: for_global_agent.secret_ref(),
            scope: ws("ws1"),
            consumer: None,
        })
        .expect("rebind");
    assert!(replaced.replaced);
    let p = plan(&vault, cap, &ws_ctx("ws1"));
    assert_eq!(secret_of(&p), for_global_agent.secret_ref());
    assert_eq!(
        vault
            .bindings(&aivault_core::BindingFilter::default())
            .expect("bindings")
            .len(),
        6
    );
}

#[test]
fn a_binding_needs_a_credential_to_carry_its_secret() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let mine = create(&vault, "MY_OPENAI_KEY", &value).secret;
    bind(
        &vault,
        "openai/chat-completions",
        &mine,
        Scope::Global,
        None,
    );
    // A binding only selects the secret: with no credential of the provider there is
    // nothing to carry it, so deleting a provider's credentials always stops its calls.
    let err = plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    assert_err_clean(&err, &[&value]);
    let default_value = canary();
    create(&vault, "OPENAI_API_KEY", &default_value);
    let p = plan(&vault, "openai/chat-completions", &global_ctx());
    assert_eq!(credential_of(&p), "openai");
    assert_eq!(p.auth, bearer());
    assert_eq!(secret_of(&p), mine.secret_ref());
    assert_plan_clean(&p, &[&value, &default_value]);
    // Revoking the credential revokes the bound capability too.
    vault
        .delete_credential("openai")
        .expect("delete credential");
    plan_err(
        &vault,
        "openai/chat-completions",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
    // An unpinned secret bound to a Codex capability still needs the Codex credential.
    bind(&vault, "openai/codex-usage", &mine, Scope::Global, None);
    plan_err(
        &vault,
        "openai/codex-usage",
        &global_ctx(),
        ErrorKind::CredentialNotFound,
    );
}

#[test]
fn bindings_refuse_foreign_pins_multi_secret_capabilities_and_wider_scopes() {
    let t = TestDir::new();
    let vault = t.open();
    let (anthropic_value, token_value, ws_value) = (canary(), canary(), canary());
    let anthropic = create(&vault, "ANTHROPIC_API_KEY", &anthropic_value).secret;
    let token = create(&vault, "TRELLO_TOKEN", &token_value).secret;
    let plain = create(&vault, "PLAIN_KEY", &canary()).secret;
    let in_ws = store(&vault, "WS_KEY", &ws_value, ws("ws1"));
    let canaries = [
        anthropic_value.as_str(),
        token_value.as_str(),
        ws_value.as_str(),
    ];
    let events = audit_count(&vault);
    let attempt = |capability: &str, secret: &SecretMeta, scope: Scope| {
        expect_err(
            vault.bind(NewBinding {
                capability: capability.into(),
                secret_ref: secret.secret_ref(),
                scope,
                consumer: None,
            }),
            capability,
        )
    };

    // A secret pinned to another provider, in any scope.
    for scope in [Scope::Global, ws("ws1"), group("ws1", "g1")] {
        let err = attempt("openai/chat-completions", &anthropic, scope);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
        assert!(err.message().contains("anthropic"), "{err}");
        assert_err_clean(&err, &canaries);
    }
    // A capability whose credential needs two secrets, with a pinned or a plain secret.
    for secret in [&token, &plain] {
        let err = attempt("trello/boards", secret, Scope::Global);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.message().contains("trello/boards"), "{err}");
        assert_err_clean(&err, &canaries);
    }
    // A workspace secret cannot serve callers outside its workspace.
    for scope in [Scope::Global, ws("ws2"), group("ws2", "g1")] {
        let err = attempt("openai/chat-completions", &in_ws, scope);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    }
    // Unknown capability, unknown or malformed secret, malformed consumer.
    let err = attempt("openai/nope", &plain, Scope::Global);
    assert_eq!(err.kind(), ErrorKind::CapabilityNotFound);
    for (secret_ref, kind) in [
        (
            "vault:secret:0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
            ErrorKind::NotFound,
        ),
        ("vault:secret:nope", ErrorKind::InvalidInput),
        ("PLAIN_KEY", ErrorKind::InvalidInput),
    ] {
        let err = expect_err(
            vault.bind(NewBinding {
                capability: "openai/chat-completions".into(),
                secret_ref: secret_ref.into(),
                scope: Scope::Global,
                consumer: None,
            }),
            secret_ref,
        );
        assert_eq!(err.kind(), kind, "{secret_ref}: {err}");
    }
    let err = expect_err(
        vault.bind(NewBinding {
            capability: "openai/chat-completions".into(),
            secret_ref: plain.secret_ref(),
            scope: Scope::Global,
            consumer: Some("has space".into()),
        }),
        "bad consumer",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // Nothing was written.
    assert!(
        vault
            .bindings(&aivault_core::BindingFilter::default())
            .expect("bindings")
            .is_empty()
    );
    assert_eq!(audit_count(&vault), events);
    // The workspace secret is fine for its own workspace and its groups.
    bind(&vault, "openai/chat-completions", &in_ws, ws("ws1"), None);
    bind(
        &vault,
        "openai/chat-completions",
        &in_ws,
        group("ws1", "g1"),
        None,
    );
}

#[test]
fn a_binding_on_a_credential_that_injects_two_secrets_is_refused_at_plan_time() {
    let t = TestDir::new();
    let vault = t.open();
    create(&vault, "TRELLO_API_KEY", &canary());
    create(&vault, "TRELLO_TOKEN", &canary());
    let plain = create(&vault, "PLAIN_TRELLO", &canary()).secret;
    // An operator capability of the trello provider is served by the two-secret credential.
    let view = vault
        .create_capability(NewCapability {
            id: "team/trello-boards".into(),
            provider: Some("trello".into()),
            methods: vec!["GET".into()],
            paths: vec!["/1/boards".into()],
            ..NewCapability::default()
        })
        .expect("capability");
    assert_eq!(view.hosts, ["api.trello.com"]);
    assert_eq!(
        credential_of(&plan(&vault, "team/trello-boards", &global_ctx())),
        "trello"
    );
    bind(&vault, "team/trello-boards", &plain, Scope::Global, None);
    let err = plan_err(
        &vault,
        "team/trello-boards",
        &global_ctx(),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("exactly one"), "{err}");
}

#[test]
fn a_bound_secret_deleted_later_no_longer_replaces_anything() {
    let t = TestDir::new();
    let vault = t.open();
    let auto_key = create(&vault, "OPENAI_API_KEY", &canary()).secret;
    let team = create(&vault, "TEAM_KEY", &canary()).secret;
    bind(&vault, "openai/chat-completions", &team, ws("ws1"), None);
    assert_eq!(
        secret_of(&plan(&vault, "openai/chat-completions", &ws_ctx("ws1"))),
        team.secret_ref()
    );
    let outcome = vault.delete_secret(&team.secret_id).expect("delete");
    assert_eq!(outcome.removed_bindings, 1);
    let p = plan(&vault, "openai/chat-completions", &ws_ctx("ws1"));
    assert_eq!(secret_of(&p), auto_key.secret_ref());
    assert_eq!(p.binding, None);
}

#[test]
fn operator_credentials_of_operator_providers_resolve_like_any_other() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let token = create(&vault, "ACME_TOKEN", &value).secret;
    let credential = vault
        .create_credential(NewCredential {
            id: "acme-prod".into(),
            provider: "acme".into(),
            secret_refs: vec![token.secret_ref()],
            auth: AuthOptions {
                kind: Some("header".into()),
                header_name: Some("X-Acme-Key".into()),
                value_template: Some("{{secret}}".into()),
                ..AuthOptions::default()
            },
            hosts: vec!["api.acme.dev".into()],
            ..NewCredential::default()
        })
        .expect("credential");
    assert!(credential.capabilities.is_empty());
    vault
        .create_capability(NewCapability {
            id: "acme/reports".into(),
            credential: Some("acme-prod".into()),
            methods: vec!["get".into()],
            paths: vec!["/v1/reports".into()],
            ..NewCapability::default()
        })
        .expect("capability");
    let p = plan(&vault, "acme/reports", &global_ctx());
    assert_eq!(credential_of(&p), "acme-prod");
    assert_eq!(p.provider, "acme");
    assert_eq!(p.host, "api.acme.dev");
    assert_eq!(
        p.auth,
        AuthSpec::Header {
            header_name: "x-acme-key".into(),
            value_template: "{{secret}}".into(),
        }
    );
    assert_eq!(p.capability.methods, ["GET"]);
    assert_plan_clean(&p, &[&value]);
    // A capability tied to one credential is served by it alone.
    let other = create(&vault, "ACME_TOKEN_2", &canary()).secret;
    vault
        .create_credential(NewCredential {
            id: "acme-staging".into(),
            provider: "acme".into(),
            secret_refs: vec![other.secret_ref()],
            auth: AuthOptions {
                kind: Some("header".into()),
                header_name: Some("x-acme-key".into()),
                value_template: Some("{{secret}}".into()),
                ..AuthOptions::default()
            },
            hosts: vec!["api.acme.dev".into()],
            ..NewCredential::default()
        })
        .expect("second credential");
    assert_eq!(
        credential_of(&plan(&vault, "acme/reports", &global_ctx())),
        "acme-prod"
    );
    plan_err(
        &vault,
        "acme/reports",
        &with_credential(global_ctx(), "acme-staging"),
        ErrorKind::PolicyViolation,
    );
    // A provider-wide capability sees both: ambiguous.
    vault
        .create_capability(NewCapability {
            id: "acme/all".into(),
            provider: Some("acme".into()),
            methods: vec!["GET".into()],
            paths: vec!["/".into()],
            ..NewCapability::default()
        })
        .expect("capability");
    let err = plan_err(
        &vault,
        "acme/all",
        &global_ctx(),
        ErrorKind::CredentialAmbiguous,
    );
    assert!(err.message().contains("acme-prod"), "{err}");
    assert!(err.message().contains("acme-staging"), "{err}");
}

#[test]
fn a_bound_pinned_secret_never_leaves_its_own_alternatives_hosts() {
    // OpenAI's API key is claimed by an alternative limited to api.openai.com; the Codex
    // OAuth alternative reaches chatgpt.com. A binding must not carry the API key there.
    let t = TestDir::new();
    let vault = t.open();
    let (api_value, codex_value) = (canary(), canary());
    let api_key = create(&vault, "OPENAI_API_KEY", &api_value).secret;
    let events = audit_count(&vault);
    let err = expect_err(
        vault.bind(NewBinding {
            capability: "openai/codex-responses".into(),
            secret_ref: api_key.secret_ref(),
            scope: Scope::Global,
            consumer: None,
        }),
        "bind the API key to a Codex capability",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert_err_clean(&err, &[&api_value]);
    assert_eq!(audit_count(&vault), events);
    // Nor the other way round: the Codex sign-in is not an API key.
    let codex = create(&vault, "CODEX_OAUTH_JSON", &codex_value).secret;
    let err = expect_err(
        vault.bind(NewBinding {
            capability: "openai/chat-completions".into(),
            secret_ref: codex.secret_ref(),
            scope: Scope::Global,
            consumer: None,
        }),
        "bind the Codex sign-in to an API capability",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    // An operator capability spanning every OpenAI host, served by the Codex credential:
    // a binding of the API key is refused when the plan would reach chatgpt.com.
    vault
        .create_capability(NewCapability {
            id: "team/codex-anything".into(),
            credential: Some("openai.codex".into()),
            methods: vec!["POST".into()],
            paths: vec!["/".into()],
            ..NewCapability::default()
        })
        .expect("capability");
    bind(&vault, "team/codex-anything", &api_key, Scope::Global, None);
    let err = plan_err(
        &vault,
        "team/codex-anything",
        &global_ctx(),
        ErrorKind::PolicyViolation,
    );
    assert!(err.message().contains("OPENAI_API_KEY"), "{err}");
    assert_err_clean(&err, &[&api_value, &codex_value]);
    // A plain (unpinned) secret may be bound anywhere the provider's credentials go.
    let plain = create(&vault, "PLAIN_CODEX", &canary()).secret;
    bind(&vault, "team/codex-anything", &plain, Scope::Global, None);
    let p = plan(&vault, "team/codex-anything", &global_ctx());
    assert_eq!(p.host, "chatgpt.com");
    assert_eq!(secret_of(&p), plain.secret_ref());
    // And the API key still binds to its own alternative's capabilities.
    bind(&vault, "openai/embeddings", &api_key, ws("ws1"), None);
}
