//! Integration tests of the operator's credential, capability, policy and binding operations
//! on real SQLite vaults: `create_credential` / `delete_credential`, `create_capability` /
//! `delete_capability`, `set_policy`, `bind` / `unbind` / `bindings`, `describe_capability`
//! and `list_capabilities`. Every refused call must leave the vault exactly as it was, every
//! change must be audited, and canary values must never show up anywhere.

mod common;

use aivault_core::registry::AuthSpec;
use aivault_core::{
    AuthOptions, BindingFilter, CapabilityListing, CapabilityOrigin, Credential, Error, ErrorKind,
    NewBinding, NewCapability, NewCredential, PlanContext, Policy, PolicyUpdate, Scope, ScopeKind,
    SecretMeta, SecretUpdate, Vault,
};
use common::*;

/// Everything a refused call must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    credentials: Vec<Credential>,
    bindings: Vec<aivault_core::Binding>,
    capabilities: CapabilityListing,
    secrets: Vec<SecretMeta>,
    events: usize,
}

fn snapshot(vault: &Vault) -> Snapshot {
    Snapshot {
        credentials: vault.list_credentials().expect("credentials"),
        bindings: vault.bindings(&BindingFilter::default()).expect("bindings"),
        capabilities: vault.list_capabilities().expect("capabilities"),
        secrets: all_secrets(vault),
        events: audit_count(vault),
    }
}

/// Creates a secret in `scope` and returns its metadata.
fn store(vault: &Vault, name: &str, value: &str, scope: Scope) -> SecretMeta {
    vault
        .create_secret(new_secret(name, value, scope))
        .unwrap_or_else(|e| panic!("create {name}: {} ({})", e.message(), e.kind()))
        .secret
}

/// A credential request for `provider` with the given refs and nothing else.
fn credential(id: &str, provider: &str, refs: &[String]) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: provider.into(),
        secret_refs: refs.to_vec(),
        ..NewCredential::default()
    }
}

/// `--auth header --header-name <name> --value-template <template>`.
fn header_auth(name: &str, template: &str) -> AuthOptions {
    AuthOptions {
        kind: Some("header".into()),
        header_name: Some(name.into()),
        value_template: Some(template.into()),
        ..AuthOptions::default()
    }
}

/// An operator-provider credential request (`--auth header`, one host).
fn acme(id: &str, secret: &SecretMeta, host: &str) -> NewCredential {
    NewCredential {
        auth: header_auth("x-acme-key", "{{secret}}"),
        hosts: vec![host.into()],
        ..credential(id, "acme", &[secret.secret_ref()])
    }
}

/// A capability request.
fn capability(id: &str, provider: &str, methods: &[&str], paths: &[&str]) -> NewCapability {
    NewCapability {
        id: id.into(),
        provider: Some(provider.into()),
        credential: None,
        methods: methods.iter().map(|m| m.to_string()).collect(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        hosts: Vec::new(),
    }
}

/// Asserts a call failed with `kind`, that the vault is unchanged, and that no canary leaks.
fn refused<T: std::fmt::Debug>(
    vault: &Vault,
    before: &Snapshot,
    result: aivault_core::Result<T>,
    kind: ErrorKind,
    what: &str,
    canaries: &[&str],
) -> Error {
    let err = expect_err(result, what);
    assert_eq!(err.kind(), kind, "{what}: {err}");
    for canary in canaries {
        assert_not_in(canary, what, &format!("{err} {err:?}"));
    }
    assert_eq!(&snapshot(vault), before, "{what} changed the vault");
    err
}

/// The credential with this id.
fn credential_named(vault: &Vault, id: &str) -> Option<Credential> {
    vault
        .list_credentials()
        .expect("credentials")
        .into_iter()
        .find(|c| c.id == id)
}

/// Ready capability ids.
fn ready_ids(vault: &Vault) -> Vec<String> {
    vault
        .list_capabilities()
        .expect("capabilities")
        .ready
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn bearer() -> AuthSpec {
    AuthSpec::Header {
        header_name: "authorization".into(),
        value_template: "Bearer {{secret}}".into(),
    }
}

fn no_context() -> PlanContext {
    PlanContext::default()
}

#[test]
fn registry_providers_default_their_auth_and_hosts() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let personal = create(&vault, "PERSONAL_ANTHROPIC", &value).secret;
    let created = vault
        .create_credential(credential(
            "personal-anthropic",
            "anthropic",
            &[personal.secret_ref()],
        ))
        .expect("create");
    assert_debug_clean(&value, "credential", &created);
    assert_eq!(created.id, "personal-anthropic");
    assert_eq!(created.provider, "anthropic");
    assert_eq!(
        created.origin,
        aivault_core::model::CredentialOrigin::Custom
    );
    assert_eq!(created.alternative, "default");
    assert_eq!(created.scope, Scope::Global);
    assert_eq!(
        created.auth,
        AuthSpec::Header {
            header_name: "x-api-key".into(),
            value_template: "{{secret}}".into(),
        }
    );
    assert_eq!(created.hosts, ["api.anthropic.com"]);
    assert_eq!(created.secrets.len(), 1);
    assert_eq!(created.secrets[0].role, "secret");
    assert_eq!(created.secrets[0].secret_ref, personal.secret_ref());
    let anthropic_caps: Vec<String> = vault
        .registry()
        .provider("anthropic")
        .expect("anthropic")
        .capabilities
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(created.capabilities, anthropic_caps);
    // It is stored as returned, and enables the provider's capabilities.
    assert_eq!(
        credential_named(&vault, "personal-anthropic").as_ref(),
        Some(&created)
    );
    let ready = ready_ids(&vault);
    assert_eq!(ready, anthropic_caps);
    let plan = vault
        .plan("anthropic/messages", &no_context())
        .expect("plan");
    assert_eq!(plan.credential, "personal-anthropic");
    assert_eq!(plan.host, "api.anthropic.com");
    // Creating an operator credential does not pin the secret.
    assert_eq!(
        vault
            .get_secret(&personal.secret_id)
            .expect("get")
            .pinned_provider,
        None
    );

    // OpenAI lists its API-key alternative first: a plain secret gets it, never the Codex
    // OAuth alternative, and never chatgpt.com.
    let plain = create(&vault, "TEAM_OPENAI", &canary()).secret;
    let openai = vault
        .create_credential(credential("team-openai", "openai", &[plain.secret_ref()]))
        .expect("openai");
    assert_eq!(openai.alternative, "default");
    assert_eq!(openai.auth, bearer());
    assert_eq!(openai.hosts, ["api.openai.com"]);
    assert_eq!(openai.capabilities.len(), 17);
    assert!(
        openai
            .capabilities
            .iter()
            .all(|c| !c.starts_with("openai/codex-")),
        "{:?}",
        openai.capabilities
    );
    // A secret named as the registry's claims selects that alternative.
    let codex = create(&vault, "CODEX_OAUTH_JSON", &canary()).secret;
    let codex_credential = vault
        .create_credential(credential("my-codex", "openai", &[codex.secret_ref()]))
        .expect("codex");
    assert_eq!(codex_credential.alternative, "codex");
    assert_eq!(codex_credential.auth.kind_name(), "oauth2");
    assert_eq!(codex_credential.hosts, ["chatgpt.com", "auth.openai.com"]);
    let mut caps = codex_credential.capabilities.clone();
    caps.sort();
    assert_eq!(
        caps,
        [
            "openai/codex-realtime",
            "openai/codex-responses",
            "openai/codex-usage"
        ]
    );
    // Two named secrets of different alternatives do not mix.
    let key = create(&vault, "OPENAI_API_KEY", &canary()).secret;
    let before = snapshot(&vault);
    let err = refused(
        &vault,
        &before,
        vault.create_credential(credential(
            "mixed",
            "openai",
            &[key.secret_ref(), codex.secret_ref()],
        )),
        ErrorKind::InvalidInput,
        "mixed alternatives",
        &[&value],
    );
    assert!(err.message().contains("alternatives"), "{err}");

    // Multi-secret providers: roles come from the claimed names, or must be given.
    let trello_key = create(&vault, "TRELLO_API_KEY", &canary()).secret;
    let token = create(&vault, "TRELLO_TOKEN", &canary()).secret;
    let trello = vault
        .create_credential(credential(
            "my-trello",
            "trello",
            &[token.secret_ref(), trello_key.secret_ref()],
        ))
        .expect("trello by names");
    let roles: Vec<(&str, String)> = trello
        .secrets
        .iter()
        .map(|s| (s.role.as_str(), s.secret_ref.clone()))
        .collect();
    assert_eq!(
        roles,
        [
            ("key", trello_key.secret_ref()),
            ("token", token.secret_ref())
        ]
    );
    let a = create(&vault, "PLAIN_A", &canary()).secret;
    let b = create(&vault, "PLAIN_B", &canary()).secret;
    let before = snapshot(&vault);
    refused(
        &vault,
        &before,
        vault.create_credential(credential(
            "plain-trello",
            "trello",
            &[a.secret_ref(), b.secret_ref()],
        )),
        ErrorKind::InvalidInput,
        "roles not given",
        &[],
    );
    refused(
        &vault,
        &before,
        vault.create_credential(credential(
            "plain-trello",
            "trello",
            &[format!("key={}", a.secret_ref())],
        )),
        ErrorKind::InvalidInput,
        "token missing",
        &[],
    );
    refused(
        &vault,
        &before,
        vault.create_credential(credential(
            "plain-trello",
            "trello",
            &[
                format!("key={}", a.secret_ref()),
                format!("key={}", b.secret_ref()),
            ],
        )),
        ErrorKind::InvalidInput,
        "role twice",
        &[],
    );
    refused(
        &vault,
        &before,
        vault.create_credential(credential(
            "plain-trello",
            "trello",
            &[
                format!("key={}", a.secret_ref()),
                format!("bogus={}", b.secret_ref()),
            ],
        )),
        ErrorKind::InvalidInput,
        "unknown role",
        &[],
    );
    let plain_trello = vault
        .create_credential(credential(
            "plain-trello",
            "trello",
            &[
                format!("token={}", b.secret_ref()),
                format!("key={}", a.secret_ref()),
            ],
        ))
        .expect("explicit roles");
    assert_eq!(plain_trello.secrets[0].role, "key");
    assert_eq!(plain_trello.secrets[0].secret_ref, a.secret_ref());
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
}

#[test]
fn explicit_hosts_must_fit_the_registry_and_explicit_auth_is_kept() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "PLAIN_KEY", &value).secret;
    let before = snapshot(&vault);
    for host in [
        "api.openai.com",
        "evil.anthropic.com",
        "anthropic.com",
        "api.anthropic.com.evil.com",
    ] {
        let err = refused(
            &vault,
            &before,
            vault.create_credential(NewCredential {
                hosts: vec![host.into()],
                ..credential("c", "anthropic", &[secret.secret_ref()])
            }),
            ErrorKind::PolicyViolation,
            host,
            &[&value],
        );
        assert!(err.message().contains(host), "{err}");
    }
    // Upper-case input is lower-cased, not refused (below); a port, an IP literal or a URL
    // is no registry host.
    for host in [
        "api.anthropic.com:8443",
        "127.0.0.1",
        "https://api.anthropic.com",
        "",
    ] {
        refused(
            &vault,
            &before,
            vault.create_credential(NewCredential {
                hosts: vec![host.into()],
                ..credential("c", "anthropic", &[secret.secret_ref()])
            }),
            ErrorKind::InvalidInput,
            host,
            &[&value],
        );
    }
    // OpenAI's provider hosts include chatgpt.com, but a credential limited to chatgpt.com
    // with the API-key alternative enables none of that alternative's capabilities.
    refused(
        &vault,
        &before,
        vault.create_credential(NewCredential {
            hosts: vec!["chatgpt.com".into()],
            ..credential("c", "openai", &[secret.secret_ref()])
        }),
        ErrorKind::PolicyViolation,
        "openai on chatgpt.com",
        &[&value],
    );

    // A pinned secret keeps to the hosts of the alternative claiming it, even with the
    // operator's own auth: OpenAI's API key never goes to chatgpt.com.
    let api_value = canary();
    let api_key = create(&vault, "OPENAI_API_KEY", &api_value).secret;
    let before = snapshot(&vault);
    for auth in [AuthOptions::default(), header_auth("x-key", "{{secret}}")] {
        refused(
            &vault,
            &before,
            vault.create_credential(NewCredential {
                auth,
                hosts: vec!["chatgpt.com".into()],
                ..credential("c", "openai", &[api_key.secret_ref()])
            }),
            ErrorKind::PolicyViolation,
            "API key to chatgpt.com",
            &[&value, &api_value],
        );
    }
    let own_auth = vault
        .create_credential(NewCredential {
            auth: header_auth("x-key", "{{secret}}"),
            ..credential("openai-own-auth", "openai", &[api_key.secret_ref()])
        })
        .expect("own auth, default hosts");
    assert_eq!(own_auth.hosts, ["api.openai.com"]);
    assert!(
        own_auth
            .capabilities
            .iter()
            .all(|c| !c.starts_with("openai/codex-"))
    );

    // The operator's own auth replaces the registry's and makes the alternative `custom`.
    let custom = vault
        .create_credential(NewCredential {
            auth: header_auth("Authorization", "Bearer {{secret}}"),
            hosts: vec!["api.anthropic.com".into(), "API.Anthropic.COM".into()],
            ..credential("proxy-anthropic", "anthropic", &[secret.secret_ref()])
        })
        .expect("explicit auth");
    assert_eq!(custom.alternative, "custom");
    assert_eq!(custom.auth, bearer());
    assert_eq!(custom.hosts, ["api.anthropic.com"]);
    assert!(
        custom
            .capabilities
            .contains(&"anthropic/messages".to_string())
    );
    // Auth options are checked.
    let before = snapshot(&vault);
    for (what, auth) in [
        (
            "unknown kind",
            AuthOptions {
                kind: Some("magic".into()),
                ..AuthOptions::default()
            },
        ),
        (
            "field without kind",
            AuthOptions {
                header_name: Some("x".into()),
                ..AuthOptions::default()
            },
        ),
        (
            "missing field",
            AuthOptions {
                kind: Some("aws-sigv4".into()),
                aws_service: Some("s3".into()),
                ..AuthOptions::default()
            },
        ),
        (
            "foreign field",
            AuthOptions {
                aws_region: Some("us-east-1".into()),
                ..header_auth("x-key", "{{secret}}")
            },
        ),
        (
            "two placeholders, one secret",
            header_auth("x-key", "{{secret}}:{{other}}"),
        ),
        ("unbalanced braces", header_auth("x-key", "Bearer {{secret")),
        (
            "control character",
            header_auth("x-key", "Bearer\n{{secret}}"),
        ),
        ("bad header name", header_auth("x key", "{{secret}}")),
    ] {
        refused(
            &vault,
            &before,
            vault.create_credential(NewCredential {
                auth,
                ..credential("c", "anthropic", &[secret.secret_ref()])
            }),
            ErrorKind::InvalidInput,
            what,
            &[&value],
        );
    }
}

#[test]
fn operator_providers_need_auth_and_concrete_dns_hosts() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "ACME_KEY", &value).secret;
    let before = snapshot(&vault);
    let err = refused(
        &vault,
        &before,
        vault.create_credential(NewCredential {
            hosts: vec!["api.acme.dev".into()],
            ..credential("acme-key", "acme", &[secret.secret_ref()])
        }),
        ErrorKind::InvalidInput,
        "no auth",
        &[&value],
    );
    assert!(err.message().contains("--auth"), "{err}");
    let err = refused(
        &vault,
        &before,
        vault.create_credential(NewCredential {
            auth: header_auth("x-acme-key", "{{secret}}"),
            ..credential("acme-key", "acme", &[secret.secret_ref()])
        }),
        ErrorKind::InvalidInput,
        "no host",
        &[&value],
    );
    assert!(err.message().contains("--host"), "{err}");
    for host in [
        "*.x.com",
        "*.acme.dev",
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "::1",
        "[fd00::1]",
        "localhost",
        "api.acme.dev:0",
        "api.acme.dev:65536",
        "https://api.acme.dev",
        "api..acme.dev",
        "",
    ] {
        refused(
            &vault,
            &before,
            vault.create_credential(acme("acme-key", &secret, host)),
            ErrorKind::InvalidInput,
            host,
            &[&value],
        );
    }
    for provider in ["Acme", "acme corp", "", "-acme", "acme/x"] {
        refused(
            &vault,
            &before,
            vault.create_credential(NewCredential {
                provider: provider.into(),
                ..acme("acme-key", &secret, "api.acme.dev")
            }),
            ErrorKind::InvalidInput,
            provider,
            &[&value],
        );
    }
    // Upper-case input is lower-cased and an explicit port is kept, without any opt-in.
    let ported = vault
        .create_credential(acme("acme-ported", &secret, "API.Acme.DEV:8443"))
        .expect("operator credential with a port");
    assert_eq!(ported.hosts, ["api.acme.dev:8443"]);
    vault
        .delete_credential("acme-ported")
        .expect("delete the ported credential");
    let created = vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("operator credential");
    assert_eq!(created.provider, "acme");
    assert_eq!(created.alternative, "custom");
    assert_eq!(created.hosts, ["api.acme.dev"]);
    assert!(created.capabilities.is_empty());
    assert_eq!(
        created.auth,
        AuthSpec::Header {
            header_name: "x-acme-key".into(),
            value_template: "{{secret}}".into(),
        }
    );
    // Several auth kinds build as the command line spells them.
    let user = create(&vault, "ACME_USER", &canary()).secret;
    let basic = vault
        .create_credential(NewCredential {
            id: "acme-basic".into(),
            provider: "acme".into(),
            secret_refs: vec![
                format!("username={}", user.secret_ref()),
                format!("password={}", secret.secret_ref()),
            ],
            auth: AuthOptions {
                kind: Some("basic".into()),
                ..AuthOptions::default()
            },
            hosts: vec!["api.acme.dev".into()],
            ..NewCredential::default()
        })
        .expect("basic");
    assert_eq!(basic.auth.kind_name(), "basic");
    assert_eq!(basic.secrets.len(), 2);
    let query = vault
        .create_credential(NewCredential {
            auth: AuthOptions {
                kind: Some("query".into()),
                query_params: vec!["api_key".into()],
                ..AuthOptions::default()
            },
            ..acme("acme-query", &secret, "api.acme.dev")
        })
        .expect("query");
    assert_eq!(
        query.auth,
        AuthSpec::Query {
            param_name: "api_key".into(),
            value_template: "{{secret}}".into(),
        }
    );
    assert_audit_clean(&vault, &value);
}

#[test]
fn credential_ids_are_unique_valid_and_not_reserved() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let secret = create(&vault, "ACME_KEY", &canary()).secret;
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("first");
    let before = snapshot(&vault);
    let err = refused(
        &vault,
        &before,
        vault.create_credential(acme("acme-key", &secret, "other.acme.dev")),
        ErrorKind::AlreadyExists,
        "duplicate",
        &[&value],
    );
    assert!(err.message().contains("acme-key"), "{err}");
    // Ids of auto-provisioned credentials are reserved, taken or not.
    for id in [
        "openai",
        "openai:ws:x",
        "openai:group:w:g",
        "openai.codex",
        "anthropic",
        "trello:ws:x",
    ] {
        let err = refused(
            &vault,
            &before,
            vault.create_credential(acme(id, &secret, "api.acme.dev")),
            ErrorKind::InvalidInput,
            id,
            &[&value],
        );
        assert!(err.message().contains("reserved"), "{id}: {err}");
    }
    for id in ["", "has space", "semi;colon", "slash/id", &"x".repeat(129)] {
        refused(
            &vault,
            &before,
            vault.create_credential(acme(id, &secret, "api.acme.dev")),
            ErrorKind::InvalidInput,
            id,
            &[&value],
        );
    }
    // Names that merely start like a provider are free.
    vault
        .create_credential(acme("openai-mirror", &secret, "api.acme.dev"))
        .expect("openai-mirror is not reserved");
}

#[test]
fn secret_refs_must_exist_be_well_formed_unpinned_elsewhere_and_in_scope() {
    let t = TestDir::new();
    let vault = t.open();
    let (openai_value, ws_value, group_value) = (canary(), canary(), canary());
    let openai = create(&vault, "OPENAI_API_KEY", &openai_value).secret;
    let in_ws = store(&vault, "WS_KEY", &ws_value, ws("ws1"));
    let in_group = store(&vault, "GROUP_KEY", &group_value, group("ws1", "g1"));
    let canaries = [
        openai_value.as_str(),
        ws_value.as_str(),
        group_value.as_str(),
    ];
    let before = snapshot(&vault);
    let with_refs = |refs: Vec<String>| NewCredential {
        secret_refs: refs,
        ..acme("acme-key", &in_ws, "api.acme.dev")
    };
    let missing = "vault:secret:0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70";
    refused(
        &vault,
        &before,
        vault.create_credential(with_refs(vec![missing.into()])),
        ErrorKind::NotFound,
        "missing secret",
        &canaries,
    );
    for reference in [
        "",
        "vault:secret:",
        "vault:secret:nope",
        "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
        "vault:secret:0B8F6A52-2F5E-4B43-9A8E-2B3C4D5E6F70",
        "secret=OPENAI_API_KEY",
        "Role=vault:secret:0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
    ] {
        refused(
            &vault,
            &before,
            vault.create_credential(with_refs(vec![reference.into()])),
            ErrorKind::InvalidInput,
            reference,
            &canaries,
        );
    }
    refused(
        &vault,
        &before,
        vault.create_credential(with_refs(Vec::new())),
        ErrorKind::InvalidInput,
        "no refs",
        &canaries,
    );

    // A pinned secret never backs another provider's credential, registry or not.
    for request in [
        credential("steal-anthropic", "anthropic", &[openai.secret_ref()]),
        NewCredential {
            secret_refs: vec![openai.secret_ref()],
            ..acme("steal-acme", &openai, "api.acme.dev")
        },
        NewCredential {
            hosts: vec!["api.openai.com".into()],
            ..credential("steal-anthropic", "anthropic", &[openai.secret_ref()])
        },
    ] {
        let what = request.id.clone();
        let err = refused(
            &vault,
            &before,
            vault.create_credential(request),
            ErrorKind::PolicyViolation,
            &what,
            &canaries,
        );
        assert!(err.message().contains("pinned"), "{err}");
    }
    // ... but it may back another credential of its own provider.
    let same = vault
        .create_credential(credential("openai-again", "openai", &[openai.secret_ref()]))
        .expect("pinned secret, own provider");
    assert_eq!(same.secrets[0].secret_ref, openai.secret_ref());
    let before = snapshot(&vault);

    // A secret outside the credential's scope.
    let scoped = |id: &str, secret: &SecretMeta, w: Option<&str>, g: Option<&str>| NewCredential {
        workspace_id: w.map(str::to_string),
        group_id: g.map(str::to_string),
        ..acme(id, secret, "api.acme.dev")
    };
    for (secret, w, g) in [
        (&in_ws, None, None),
        (&in_ws, Some("ws2"), None),
        (&in_ws, Some("ws2"), Some("g1")),
        (&in_group, None, None),
        (&in_group, Some("ws1"), None),
        (&in_group, Some("ws1"), Some("g2")),
    ] {
        let err = refused(
            &vault,
            &before,
            vault.create_credential(scoped("scoped", secret, w, g)),
            ErrorKind::PolicyViolation,
            &format!("{} for {w:?}/{g:?}", secret.name),
            &canaries,
        );
        assert!(err.message().contains("scope"), "{err}");
    }
    refused(
        &vault,
        &before,
        vault.create_credential(scoped("scoped", &in_ws, None, Some("g1"))),
        ErrorKind::InvalidInput,
        "group without workspace",
        &canaries,
    );
    // Narrower scopes are fine.
    let in_group_from_ws = vault
        .create_credential(scoped("ws-in-group", &in_ws, Some("ws1"), Some("g1")))
        .expect("workspace secret in one of its groups");
    assert_eq!(in_group_from_ws.scope, group("ws1", "g1"));
    let plain = create(&vault, "PLAIN_GLOBAL", &canary()).secret;
    let in_ws_from_global = vault
        .create_credential(scoped("global-in-ws", &plain, Some("ws1"), None))
        .expect("global secret in a workspace");
    assert_eq!(in_ws_from_global.scope, ws("ws1"));
    let openai_in_ws = vault
        .create_credential(NewCredential {
            workspace_id: Some("ws1".into()),
            ..credential("openai-in-ws1", "openai", &[openai.secret_ref()])
        })
        .expect("pinned global secret for its own provider in a workspace");
    assert_eq!(openai_in_ws.scope, ws("ws1"));
}

#[test]
fn deleting_an_auto_provisioned_credential_really_revokes_it() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let key = create(&vault, "OPENAI_API_KEY", &value).secret;
    assert_eq!(ready_ids(&vault).len(), 17);

    let deletion = vault.delete_credential("openai").expect("delete");
    assert!(deletion.removed);
    assert_eq!(deletion.id, "openai");
    assert_eq!(
        deletion.origin,
        Some(aivault_core::model::CredentialOrigin::Registry)
    );
    let revoked = |vault: &Vault, when: &str| {
        assert!(
            vault.list_credentials().expect("credentials").is_empty(),
            "{when}"
        );
        assert!(ready_ids(vault).is_empty(), "{when}");
        let err = expect_err(vault.plan("openai/chat-completions", &no_context()), when);
        assert_eq!(err.kind(), ErrorKind::CredentialNotFound, "{when}: {err}");
        assert!(
            !vault
                .describe_capability("openai/models")
                .expect("describe")
                .ready
        );
    };
    revoked(&vault, "after delete");
    // The secret itself stays, pinned.
    let kept = vault.get_secret(&key.secret_id).expect("secret kept");
    assert_eq!(kept.pinned_provider.as_deref(), Some("openai"));
    // Changing its aliases does not bring it back, nor does reopening the vault.
    vault
        .update_secret(
            &key.secret_id,
            SecretUpdate {
                name: None,
                aliases: Some(vec!["main-key".into()]),
            },
        )
        .expect("update aliases");
    revoked(&vault, "after update");
    drop(vault);
    let vault = t.open();
    revoked(&vault, "after reopen");
    // Deleting twice changes nothing and says so (like unbind); no audit event.
    let events = audit_count(&vault);
    let again = vault.delete_credential("openai").expect("delete twice");
    assert!(!again.removed);
    assert_eq!(again.origin, None);
    assert_eq!(audit_count(&vault), events);
    revoked(&vault, "after a second delete");
    let err = expect_err(vault.delete_credential("../x"), "malformed id");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // Rotating the secret provisions it again.
    let rotated = vault
        .rotate_secret(&key.secret_id, canary().as_str().into())
        .expect("rotate");
    assert_eq!(
        rotated.provisioning,
        Some(provisioned("openai", "openai", 17, true))
    );
    assert_eq!(ready_ids(&vault).len(), 17);
    // So does importing it again.
    vault.delete_credential("openai").expect("delete again");
    revoked(&vault, "after second delete");
    let report = vault
        .import_secrets(
            vec![("OPENAI_API_KEY".into(), canary().as_str().into())],
            &Scope::Global,
        )
        .expect("import");
    assert_eq!(report.rotated, ["OPENAI_API_KEY"]);
    assert_eq!(
        report.provisioning,
        [provisioned("openai", "openai", 17, true)]
    );
    assert_eq!(
        vault
            .plan("openai/chat-completions", &no_context())
            .expect("plan")
            .credential,
        "openai"
    );
    // And creating it again after deleting the secret.
    vault
        .delete_credential("openai")
        .expect("delete a third time");
    vault.delete_secret(&key.secret_id).expect("delete secret");
    let again = create(&vault, "OPENAI_API_KEY", &canary());
    assert_eq!(
        again.provisioning,
        Some(provisioned("openai", "openai", 17, true))
    );
    let kinds: Vec<String> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "credential.delete")
        .map(|e| e.credential_id.unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["openai", "openai", "openai"]);
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
}

#[test]
fn deleting_a_custom_credential_leaves_its_secret_and_capability() {
    let t = TestDir::new();
    let vault = t.open();
    let secret = create(&vault, "ACME_KEY", &canary()).secret;
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("credential");
    vault
        .create_capability(NewCapability {
            credential: Some("acme-key".into()),
            provider: None,
            ..capability("acme/reports", "acme", &["GET"], &["/v1/reports"])
        })
        .expect("capability");
    let deletion = vault.delete_credential("acme-key").expect("delete");
    assert_eq!(
        deletion.origin,
        Some(aivault_core::model::CredentialOrigin::Custom)
    );
    assert!(vault.get_secret(&secret.secret_id).is_ok());
    assert!(vault.capability("acme/reports").is_ok());
    let err = expect_err(
        vault.plan("acme/reports", &no_context()),
        "plan without its credential",
    );
    assert_eq!(err.kind(), ErrorKind::CredentialNotFound);
    // Its id is free again.
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("recreate");
    assert_eq!(
        vault
            .plan("acme/reports", &no_context())
            .expect("plan")
            .credential,
        "acme-key"
    );
}

#[test]
fn capability_create_validates_everything_and_persists_nothing_on_failure() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "ACME_KEY", &value).secret;
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("credential");
    let before = snapshot(&vault);
    let base = || NewCapability {
        credential: Some("acme-key".into()),
        provider: None,
        ..capability("acme/reports", "acme", &["GET"], &["/v1/reports"])
    };
    let invalid: Vec<(&str, NewCapability)> = vec![
        (
            "no methods",
            NewCapability {
                methods: vec![],
                ..base()
            },
        ),
        (
            "no paths",
            NewCapability {
                paths: vec![],
                ..base()
            },
        ),
        (
            "relative path",
            NewCapability {
                paths: vec!["v1".into()],
                ..base()
            },
        ),
        (
            "dot-dot path",
            NewCapability {
                paths: vec!["/a/../b".into()],
                ..base()
            },
        ),
        (
            "query in path",
            NewCapability {
                paths: vec!["/v1?x=1".into()],
                ..base()
            },
        ),
        (
            "backslash path",
            NewCapability {
                paths: vec!["/v1\\x".into()],
                ..base()
            },
        ),
        (
            "bad method",
            NewCapability {
                methods: vec!["FETCH".into()],
                ..base()
            },
        ),
        (
            "empty method",
            NewCapability {
                methods: vec!["GET".into(), "".into()],
                ..base()
            },
        ),
        (
            "upper-case id",
            NewCapability {
                id: "Acme/Reports".into(),
                ..base()
            },
        ),
        (
            "leading slash id",
            NewCapability {
                id: "/acme".into(),
                ..base()
            },
        ),
        (
            "empty id",
            NewCapability {
                id: "".into(),
                ..base()
            },
        ),
        (
            "neither provider nor credential",
            NewCapability {
                credential: None,
                provider: None,
                ..base()
            },
        ),
        (
            "provider disagrees with credential",
            NewCapability {
                provider: Some("other".into()),
                ..base()
            },
        ),
        (
            "invalid provider",
            NewCapability {
                credential: None,
                provider: Some("Bad Provider".into()),
                hosts: vec!["api.acme.dev".into()],
                ..base()
            },
        ),
        (
            "operator provider without credential or host",
            NewCapability {
                credential: None,
                provider: Some("nobody".into()),
                ..base()
            },
        ),
        (
            "wildcard host of an operator provider",
            NewCapability {
                credential: None,
                provider: Some("nobody".into()),
                hosts: vec!["*.nobody.dev".into()],
                ..base()
            },
        ),
        (
            "IP host of an operator provider",
            NewCapability {
                credential: None,
                provider: Some("nobody".into()),
                hosts: vec!["127.0.0.1".into()],
                ..base()
            },
        ),
    ];
    for (what, request) in invalid {
        refused(
            &vault,
            &before,
            vault.create_capability(request),
            ErrorKind::InvalidInput,
            what,
            &[&value],
        );
    }
    refused(
        &vault,
        &before,
        vault.create_capability(NewCapability {
            id: "openai/chat-completions".into(),
            ..base()
        }),
        ErrorKind::AlreadyExists,
        "registry id",
        &[&value],
    );
    refused(
        &vault,
        &before,
        vault.create_capability(NewCapability {
            credential: Some("no-such".into()),
            ..base()
        }),
        ErrorKind::CredentialNotFound,
        "unknown credential",
        &[&value],
    );
    for (provider, credential, host) in [
        (None, Some("acme-key"), "other.acme.dev"),
        (Some("openai"), None, "api.anthropic.com"),
        (Some("shopify"), None, "store.example.com"),
    ] {
        refused(
            &vault,
            &before,
            vault.create_capability(NewCapability {
                provider: provider.map(str::to_string),
                credential: credential.map(str::to_string),
                hosts: vec![host.into()],
                ..base()
            }),
            ErrorKind::PolicyViolation,
            host,
            &[&value],
        );
    }

    // A valid one: methods upper-cased and de-duplicated, hosts from the credential.
    let view = vault
        .create_capability(NewCapability {
            methods: vec!["get".into(), "GET".into(), " post ".into()],
            paths: vec!["/v1/reports".into(), "/v1/reports".into(), "/v2".into()],
            ..base()
        })
        .expect("create");
    assert_eq!(view.id, "acme/reports");
    assert_eq!(view.provider, "acme");
    assert_eq!(view.origin, CapabilityOrigin::Custom);
    assert_eq!(view.credential.as_deref(), Some("acme-key"));
    assert_eq!(view.methods, ["GET", "POST"]);
    assert_eq!(view.paths, ["/v1/reports", "/v2"]);
    assert_eq!(view.hosts, ["api.acme.dev"]);
    assert_eq!(vault.capability("acme/reports").expect("get"), view);
    let listing = vault.list_capabilities().expect("list");
    let info = listing
        .ready
        .iter()
        .find(|c| c.id == "acme/reports")
        .expect("ready");
    assert_eq!(info.credentials, ["acme-key"]);
    assert_eq!(info.origin, CapabilityOrigin::Custom);
    assert_eq!(info.allow.methods, ["GET", "POST"]);
    // The id is now taken.
    let before = snapshot(&vault);
    refused(
        &vault,
        &before,
        vault.create_capability(base()),
        ErrorKind::AlreadyExists,
        "duplicate custom id",
        &[&value],
    );
    // A registry provider's capability defaults to its preferred credential's hosts (never
    // chatgpt.com for openai), and may name any of the provider's hosts.
    let narrowed = vault
        .create_capability(NewCapability {
            hosts: vec!["store.myshopify.com".into()],
            ..capability("team/shop-orders", "shopify", &["GET"], &["/admin/api/"])
        })
        .expect("narrowed");
    assert_eq!(narrowed.hosts, ["store.myshopify.com"]);
    let wide = vault
        .create_capability(capability(
            "team/openai-files",
            "openai",
            &["GET"],
            &["/v1/files"],
        ))
        .expect("wide");
    assert_eq!(wide.hosts, ["api.openai.com"]);
    // Without a credential it is available, with a setup line.
    let listing = vault.list_capabilities().expect("list");
    let info = listing
        .available
        .iter()
        .find(|c| c.id == "team/openai-files")
        .expect("available");
    assert!(info.credentials.is_empty());
    assert!(
        info.setup
            .as_deref()
            .is_some_and(|s| s.contains("credential create"))
    );
    assert_audit_clean(&vault, &value);
}

#[test]
fn deleting_capabilities() {
    let t = TestDir::new();
    let vault = t.open();
    let secret = create(&vault, "ACME_KEY", &canary()).secret;
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("credential");
    vault
        .create_capability(capability("acme/reports", "acme", &["GET"], &["/v1"]))
        .expect("capability");
    vault
        .create_capability(capability("acme/other", "acme", &["GET"], &["/v2"]))
        .expect("capability");
    vault
        .set_policy(
            "acme/reports",
            PolicyUpdate {
                rate_limit_per_minute: Some(5),
                ..PolicyUpdate::default()
            },
        )
        .expect("policy");
    vault
        .set_policy(
            "acme/other",
            PolicyUpdate {
                rate_limit_per_minute: Some(7),
                ..PolicyUpdate::default()
            },
        )
        .expect("policy");
    let bind = |capability: &str, scope: Scope, consumer: Option<&str>| {
        vault
            .bind(NewBinding {
                capability: capability.into(),
                secret_ref: secret.secret_ref(),
                scope,
                consumer: consumer.map(str::to_string),
            })
            .expect("bind")
    };
    bind("acme/reports", Scope::Global, None);
    bind("acme/reports", ws("ws1"), Some("agent"));
    bind("acme/other", Scope::Global, None);

    // Built-in and unknown capabilities cannot be deleted.
    let before = snapshot(&vault);
    let err = refused(
        &vault,
        &before,
        vault.delete_capability("openai/chat-completions"),
        ErrorKind::InvalidInput,
        "built in",
        &[],
    );
    assert!(err.message().contains("built in"), "{err}");
    refused(
        &vault,
        &before,
        vault.delete_capability("acme/nope"),
        ErrorKind::CapabilityNotFound,
        "unknown",
        &[],
    );

    let deletion = vault.delete_capability("acme/reports").expect("delete");
    assert!(deletion.removed_capability);
    assert!(deletion.removed_policy);
    assert_eq!(deletion.removed_bindings, 2);
    assert_eq!(deletion.id, "acme/reports");
    let err = expect_err(vault.capability("acme/reports"), "deleted");
    assert_eq!(err.kind(), ErrorKind::CapabilityNotFound);
    let remaining = vault.bindings(&BindingFilter::default()).expect("bindings");
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].capability, "acme/other");
    let policies: Vec<String> = vault
        .list_capabilities()
        .expect("list")
        .policies
        .into_iter()
        .map(|p| p.capability_id)
        .collect();
    assert_eq!(policies, ["acme/other"]);
    // Re-creating the id starts clean.
    vault
        .create_capability(capability("acme/reports", "acme", &["GET"], &["/v1"]))
        .expect("recreate");
    let described = vault.describe_capability("acme/reports").expect("describe");
    assert_eq!(described.policy, None);
    assert!(described.bindings.is_empty());
    let plan = vault.plan("acme/reports", &no_context()).expect("plan");
    assert!(plan.policy.is_empty());
    assert_eq!(plan.binding, None);
    // A capability without policy or bindings.
    let deletion = vault.delete_capability("acme/reports").expect("delete");
    assert!(!deletion.removed_policy);
    assert_eq!(deletion.removed_bindings, 0);
    let kinds: Vec<String> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "capability.delete")
        .map(|e| e.capability.unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["acme/reports", "acme/reports"]);
    assert_audit_ok(&vault);
}

#[test]
fn set_policy_merges_fields_and_checks_them() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let cap = "openai/chat-completions";
    let set = |update: PolicyUpdate| vault.set_policy(cap, update).expect("set policy");

    let first = set(PolicyUpdate {
        rate_limit_per_minute: Some(10),
        ..PolicyUpdate::default()
    });
    assert_eq!(first.capability_id, cap);
    assert_eq!(
        first.policy,
        Policy {
            rate_limit_per_minute: Some(10),
            ..Policy::default()
        }
    );
    let second = set(PolicyUpdate {
        max_request_body_bytes: Some(1000),
        max_response_body_bytes: Some(2000),
        response_block: Some(vec![
            "internal".into(),
            "internal".into(),
            "secret-ish".into(),
        ]),
        ..PolicyUpdate::default()
    });
    let merged = Policy {
        rate_limit_per_minute: Some(10),
        max_request_body_bytes: Some(1000),
        max_response_body_bytes: Some(2000),
        response_body_blocklist: vec!["internal".into(), "secret-ish".into()],
    };
    assert_eq!(second.policy, merged);
    let third = set(PolicyUpdate {
        rate_limit_per_minute: Some(3),
        response_block: Some(vec!["other".into()]),
        ..PolicyUpdate::default()
    });
    assert_eq!(third.policy.rate_limit_per_minute, Some(3));
    assert_eq!(third.policy.max_request_body_bytes, Some(1000));
    assert_eq!(third.policy.response_body_blocklist, ["other"]);
    // The plan, the description and the listing carry it.
    let plan = vault.plan(cap, &no_context()).expect("plan");
    assert_eq!(plan.policy, third.policy);
    assert_eq!(
        vault.describe_capability(cap).expect("describe").policy,
        Some(third.policy.clone())
    );
    let listing = vault.list_capabilities().expect("list");
    assert_eq!(listing.policies.len(), 1);
    assert_eq!(listing.policies[0].capability_id, cap);
    assert_eq!(listing.policies[0].policy, third.policy);
    // Other capabilities are untouched.
    assert!(
        vault
            .plan("openai/embeddings", &no_context())
            .expect("plan")
            .policy
            .is_empty()
    );

    let before = snapshot(&vault);
    let bad: Vec<(&str, PolicyUpdate)> = vec![
        ("empty", PolicyUpdate::default()),
        (
            "zero request",
            PolicyUpdate {
                max_request_body_bytes: Some(0),
                rate_limit_per_minute: Some(5),
                ..PolicyUpdate::default()
            },
        ),
        (
            "zero response",
            PolicyUpdate {
                max_response_body_bytes: Some(0),
                ..PolicyUpdate::default()
            },
        ),
        (
            "empty block",
            PolicyUpdate {
                response_block: Some(vec!["ok".into(), String::new()]),
                ..PolicyUpdate::default()
            },
        ),
        (
            "huge block",
            PolicyUpdate {
                response_block: Some(vec!["x".repeat(4097)]),
                ..PolicyUpdate::default()
            },
        ),
    ];
    for (what, update) in bad {
        refused(
            &vault,
            &before,
            vault.set_policy(cap, update),
            ErrorKind::InvalidInput,
            what,
            &[&value],
        );
    }
    refused(
        &vault,
        &before,
        vault.set_policy(
            "openai/nope",
            PolicyUpdate {
                rate_limit_per_minute: Some(1),
                ..PolicyUpdate::default()
            },
        ),
        ErrorKind::CapabilityNotFound,
        "unknown capability",
        &[&value],
    );
    // A registry capability without any credential takes a policy too.
    let unset = vault
        .set_policy(
            "anthropic/messages",
            PolicyUpdate {
                max_response_body_bytes: Some(1),
                ..PolicyUpdate::default()
            },
        )
        .expect("policy without a credential");
    assert_eq!(unset.policy.max_response_body_bytes, Some(1));
    // Clearing the block list is an update.
    let cleared = set(PolicyUpdate {
        response_block: Some(Vec::new()),
        ..PolicyUpdate::default()
    });
    assert!(cleared.policy.response_body_blocklist.is_empty());
    assert_eq!(cleared.policy.rate_limit_per_minute, Some(3));
    let events: Vec<_> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "capability.policy")
        .collect();
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.capability.is_some()));
    assert_audit_ok(&vault);
}

#[test]
fn bindings_are_listed_filtered_replaced_and_removed() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "TEAM_KEY", &value).secret;
    let other = create(&vault, "OTHER_KEY", &canary()).secret;
    let bind = |capability: &str, secret: &SecretMeta, scope: Scope, consumer: Option<&str>| {
        vault
            .bind(NewBinding {
                capability: capability.into(),
                secret_ref: secret.secret_ref(),
                scope,
                consumer: consumer.map(str::to_string),
            })
            .expect("bind")
    };
    let first = bind("openai/responses", &secret, Scope::Global, None);
    assert!(!first.replaced);
    assert_eq!(first.binding.secret_ref, secret.secret_ref());
    bind("openai/responses", &secret, ws("ws1"), None);
    bind(
        "openai/responses",
        &secret,
        group("ws1", "g1"),
        Some("agent"),
    );
    bind("anthropic/messages", &secret, ws("ws2"), Some("agent"));
    let again = bind("openai/responses", &other, Scope::Global, None);
    assert!(again.replaced);

    let all = vault.bindings(&BindingFilter::default()).expect("all");
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2).all(|w| w[0].capability <= w[1].capability),
        "sorted by capability: {all:?}"
    );
    let global = all
        .iter()
        .find(|b| b.scope == Scope::Global)
        .expect("global binding");
    assert_eq!(global.secret_ref, other.secret_ref());
    let count = |filter: BindingFilter| vault.bindings(&filter).expect("filter").len();
    assert_eq!(
        count(BindingFilter {
            capability: Some("openai/responses".into()),
            ..BindingFilter::default()
        }),
        3
    );
    assert_eq!(
        count(BindingFilter {
            kind: Some(ScopeKind::Workspace),
            ..BindingFilter::default()
        }),
        2
    );
    assert_eq!(
        count(BindingFilter {
            workspace_id: Some("ws1".into()),
            ..BindingFilter::default()
        }),
        2
    );
    assert_eq!(
        count(BindingFilter {
            workspace_id: Some("ws1".into()),
            group_id: Some("g1".into()),
            ..BindingFilter::default()
        }),
        1
    );
    assert_eq!(
        count(BindingFilter {
            consumer: Some("agent".into()),
            ..BindingFilter::default()
        }),
        2
    );
    let err = expect_err(
        vault.bindings(&BindingFilter {
            group_id: Some("g1".into()),
            ..BindingFilter::default()
        }),
        "group without workspace",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // Unbinding needs the exact key.
    let events = audit_count(&vault);
    let miss = vault
        .unbind("openai/responses", &group("ws1", "g1"), None)
        .expect("unbind miss");
    assert!(!miss.removed);
    assert_eq!(audit_count(&vault), events, "a miss is not audited");
    let hit = vault
        .unbind("openai/responses", &group("ws1", "g1"), Some("agent"))
        .expect("unbind");
    assert!(hit.removed);
    assert_eq!(hit.consumer.as_deref(), Some("agent"));
    assert_eq!(audit_count(&vault), events + 1);
    let err = expect_err(
        vault.unbind("openai/responses", &Scope::Global, Some("bad consumer")),
        "bad consumer",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        vault
            .bindings(&BindingFilter::default())
            .expect("all")
            .len(),
        3
    );
    // Bindings show up in the description.
    let described = vault
        .describe_capability("openai/responses")
        .expect("describe");
    assert_eq!(described.bindings.len(), 2);
    assert_audit_clean(&vault, &value);
}

#[test]
fn deleting_a_secret_removes_its_bindings_and_credentials() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "TEAM_KEY", &value).secret;
    let keep = create(&vault, "KEEP_KEY", &canary()).secret;
    for (capability, scope, consumer, secret) in [
        ("openai/responses", Scope::Global, None, &secret),
        ("openai/responses", ws("ws1"), Some("agent"), &secret),
        ("anthropic/messages", Scope::Global, None, &secret),
        ("anthropic/models", Scope::Global, None, &keep),
    ] {
        vault
            .bind(NewBinding {
                capability: capability.into(),
                secret_ref: secret.secret_ref(),
                scope,
                consumer: consumer.map(str::to_string),
            })
            .expect("bind");
    }
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("credential");
    let outcome = vault.delete_secret(&secret.secret_id).expect("delete");
    assert_eq!(outcome.removed_bindings, 3);
    assert_eq!(outcome.removed_credentials, ["acme-key"]);
    let left = vault.bindings(&BindingFilter::default()).expect("bindings");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].secret_ref, keep.secret_ref());
    assert!(vault.list_credentials().expect("credentials").is_empty());
    let unbinds: Vec<_> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "capability.unbind")
        .collect();
    assert_eq!(unbinds.len(), 3);
    assert!(
        unbinds
            .iter()
            .all(|e| e.secret_id.as_deref() == Some(secret.secret_id.as_str()))
    );
    let outcome = vault.delete_secret(&keep.secret_id).expect("delete");
    assert_eq!(outcome.removed_bindings, 1);
    assert!(
        vault
            .bindings(&BindingFilter::default())
            .expect("bindings")
            .is_empty()
    );
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
}

#[test]
fn every_change_is_audited_and_the_chain_verifies() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "ACME_KEY", &value).secret;
    let start = audit_count(&vault);
    vault
        .create_credential(acme("acme-key", &secret, "api.acme.dev"))
        .expect("credential");
    vault
        .create_capability(NewCapability {
            credential: Some("acme-key".into()),
            provider: None,
            ..capability("acme/reports", "acme", &["GET"], &["/v1/reports"])
        })
        .expect("capability");
    vault
        .set_policy(
            "acme/reports",
            PolicyUpdate {
                rate_limit_per_minute: Some(9),
                ..PolicyUpdate::default()
            },
        )
        .expect("policy");
    vault
        .bind(NewBinding {
            capability: "acme/reports".into(),
            secret_ref: secret.secret_ref(),
            scope: ws("ws1"),
            consumer: Some("agent".into()),
        })
        .expect("bind");
    vault
        .unbind("acme/reports", &ws("ws1"), Some("agent"))
        .expect("unbind");
    vault
        .delete_credential("acme-key")
        .expect("delete credential");
    vault
        .delete_capability("acme/reports")
        .expect("delete capability");

    let mut events = all_events(&vault);
    events.reverse();
    let new = &events[start..];
    let kinds: Vec<&str> = new.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "credential.create",
            "capability.create",
            "capability.policy",
            "capability.bind",
            "capability.unbind",
            "credential.delete",
            "capability.delete",
        ]
    );
    assert_eq!(new[0].credential_id.as_deref(), Some("acme-key"));
    assert!(
        new[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("provider=acme") && n.contains("api.acme.dev")),
        "{:?}",
        new[0].note
    );
    for event in &new[1..5] {
        assert_eq!(
            event.capability.as_deref(),
            Some("acme/reports"),
            "{event:?}"
        );
    }
    assert_eq!(new[3].secret_id.as_deref(), Some(secret.secret_id.as_str()));
    assert_eq!(new[3].scope.as_deref(), Some("workspace:ws1"));
    assert_eq!(new[5].credential_id.as_deref(), Some("acme-key"));
    assert_eq!(new[6].capability.as_deref(), Some("acme/reports"));
    // Sequence numbers are contiguous and the chain verifies.
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_audit_ok(&vault);
    assert_audit_clean(&vault, &value);
    // Filtering by kind finds them.
    let by_kind = vault
        .audit(&aivault_core::AuditQuery {
            kind: Some("capability.bind".into()),
            ..aivault_core::AuditQuery::default()
        })
        .expect("audit by kind");
    assert_eq!(by_kind.len(), 1);
    assert_files_clean(&t.dir, &[value.as_bytes()]);
}

#[test]
fn describe_works_with_and_without_a_credential() {
    let t = TestDir::new();
    let vault = t.open();
    // No credential: how to set it up.
    let d = vault
        .describe_capability("openai/embeddings")
        .expect("describe");
    assert_eq!(d.capability, "openai/embeddings");
    assert_eq!(d.provider, "openai");
    assert_eq!(d.origin, CapabilityOrigin::Registry);
    assert!(!d.ready);
    assert!(d.credentials.is_empty());
    let setup = d.setup.as_ref().expect("setup");
    assert_eq!(setup.required_secrets, ["OPENAI_API_KEY"]);
    assert_eq!(setup.commands.len(), 1);
    assert!(
        setup.commands[0].contains("aivault secrets create --name OPENAI_API_KEY"),
        "{:?}",
        setup.commands
    );
    assert!(setup.note.contains("'openai'"), "{}", setup.note);
    assert_eq!(d.allowed.hosts, ["api.openai.com"]);
    assert_eq!(d.allowed.methods, ["POST"]);
    assert_eq!(d.allowed.path_prefixes, ["/v1/embeddings"]);
    assert_eq!(d.policy, None);
    assert!(d.bindings.is_empty());
    assert_eq!(d.call.default_method.as_deref(), Some("POST"));
    assert_eq!(d.call.default_path.as_deref(), Some("/v1/embeddings"));
    assert!(
        d.call
            .examples
            .iter()
            .any(|e| e.starts_with("aivault invoke openai/embeddings")),
        "{:?}",
        d.call.examples
    );
    assert!(d.call.examples.iter().all(|e| !e.contains("--method")));
    // Several methods: no default method, and examples name one.
    let chat = vault
        .describe_capability("openai/chat-completions")
        .expect("describe");
    assert_eq!(chat.call.default_method, None);
    assert_eq!(
        chat.call.default_path.as_deref(),
        Some("/v1/chat/completions")
    );
    assert!(chat.call.examples.iter().any(|e| e.contains("--method")));
    // Several paths: no default path.
    let assistants = vault
        .describe_capability("openai/assistants")
        .expect("describe");
    assert_eq!(assistants.call.default_path, None);
    // Two secrets.
    let trello = vault
        .describe_capability("trello/boards")
        .expect("describe");
    let setup = trello.setup.expect("setup");
    assert_eq!(setup.required_secrets, ["TRELLO_API_KEY", "TRELLO_TOKEN"]);
    assert_eq!(setup.commands.len(), 2);
    // A per-tenant host says so.
    let shop = vault
        .describe_capability("shopify/admin")
        .expect("describe");
    assert!(shop.setup.expect("setup").note.contains("--host"));
    // Unknown.
    let err = expect_err(vault.describe_capability("openai/nope"), "unknown");
    assert_eq!(err.kind(), ErrorKind::CapabilityNotFound);

    // With a credential: ready, no setup.
    let value = canary();
    create(&vault, "OPENAI_API_KEY", &value);
    let d = vault
        .describe_capability("openai/embeddings")
        .expect("describe");
    assert!(d.ready);
    assert_eq!(d.credentials, ["openai"]);
    assert_eq!(d.setup, None);
    assert_eq!(
        serde_json::to_value(&d).expect("json")["setup"],
        serde_json::Value::Null
    );
    // The Codex capabilities still need their own secret.
    let codex = vault
        .describe_capability("openai/codex-responses")
        .expect("describe");
    assert!(!codex.ready);
    let setup = codex.setup.expect("setup");
    assert_eq!(setup.required_secrets, ["CODEX_OAUTH_JSON"]);
    assert_eq!(setup.commands, ["aivault secrets import-codex"]);
    // A custom capability without a credential points at `credential create`.
    vault
        .create_capability(NewCapability {
            hosts: vec!["api.acme.dev".into()],
            ..capability("acme/reports", "acme", &["GET"], &["/v1/reports"])
        })
        .expect("capability");
    let custom = vault.describe_capability("acme/reports").expect("describe");
    assert!(!custom.ready);
    let setup = custom.setup.expect("setup");
    assert!(setup.required_secrets.is_empty());
    assert!(
        setup.commands[0].starts_with("aivault credential create"),
        "{:?}",
        setup.commands
    );
    let json = serde_json::to_string(&vault.describe_capability("openai/embeddings").expect("d"))
        .expect("json");
    assert_not_in(&value, "description", &json);
    let listing = serde_json::to_string(&vault.list_capabilities().expect("list")).expect("json");
    assert_not_in(&value, "listing", &listing);
}

#[test]
fn list_capabilities_groups_by_readiness() {
    let t = TestDir::new();
    let vault = t.open();
    let empty = vault.list_capabilities().expect("list");
    assert!(empty.ready.is_empty());
    assert!(empty.policies.is_empty());
    let total = empty.available.len();
    assert_eq!(
        total,
        vault
            .registry()
            .providers()
            .iter()
            .map(|p| p.capabilities.len())
            .sum::<usize>()
    );
    let value = canary();
    create(&vault, "ANTHROPIC_API_KEY", &value);
    let listing = vault.list_capabilities().expect("list");
    assert!(listing.ready.iter().all(|c| c.provider == "anthropic"));
    assert!(!listing.ready.is_empty());
    assert_eq!(listing.ready.len() + listing.available.len(), total);
    assert!(listing.ready.windows(2).all(|w| w[0].id < w[1].id));
    assert!(listing.available.windows(2).all(|w| w[0].id < w[1].id));
    for info in &listing.ready {
        assert_eq!(info.credentials, ["anthropic"]);
        assert!(info.setup.is_none());
        assert!(info.required_secrets.is_empty());
    }
    let json = serde_json::to_value(&listing).expect("json");
    assert!(json["capabilities"].is_array());
    assert!(json["registryCapabilities"].is_array());
    assert_not_in(&value, "listing", &json.to_string());
}
