//! Read-only views of what the vault enables: credentials, capabilities grouped as ready (a
//! credential enables them) or available (a secret or credential is still needed), and the
//! description of one capability (`capability describe`). None of them reads a secret, so
//! their cost does not grow with the number of secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capabilities::{
    CapabilityOrigin, CapabilityView, custom_view, find_capability, registry_view,
};
use crate::error::Result;
use crate::model::{Binding, Credential, Policy};
use crate::provision::registry_credential_id;
use crate::registry::{CredentialDef, ProviderDef, Registry};
use crate::resolve::serves;
use crate::vault::Vault;

/// What a capability allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allow {
    /// Allowed hosts.
    pub hosts: Vec<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// Allowed path prefixes (segment-aware).
    pub path_prefixes: Vec<String>,
    /// The upstream base path the caller's path is sent under, when the capability has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_prefix: Option<String>,
}

/// A capability in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityInfo {
    /// The id (`provider/name` for registry capabilities).
    pub id: String,
    /// The provider.
    pub provider: String,
    /// Registry or custom.
    pub origin: CapabilityOrigin,
    /// What it allows.
    pub allow: Allow,
    /// Credentials that enable it (ready capabilities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// Secret names to store to enable it (available registry capabilities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_secrets: Vec<String>,
    /// The command(s) that enable it (available capabilities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
}

/// A capability's policy in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntry {
    /// The capability id.
    pub capability_id: String,
    /// Its policy.
    pub policy: Policy,
}

/// Capabilities grouped by readiness, each sorted by id. JSON keys follow the product brief:
/// `capabilities` are ready, `registryCapabilities` still need a secret or credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityListing {
    /// Enabled by at least one credential.
    #[serde(rename = "capabilities")]
    pub ready: Vec<CapabilityInfo>,
    /// Capabilities no credential enables yet.
    #[serde(rename = "registryCapabilities")]
    pub available: Vec<CapabilityInfo>,
    /// Every policy that is set.
    pub policies: Vec<PolicyEntry>,
}

/// How to set a capability up, when no credential enables it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// Secret names the preferred credential alternative claims.
    pub required_secrets: Vec<String>,
    /// Commands to run.
    pub commands: Vec<String>,
    /// What happens then, and other ways.
    pub note: String,
}

/// How to call a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallShape {
    /// The method `invoke` uses without `--method` (when only one is allowed).
    pub default_method: Option<String>,
    /// The path `invoke` uses without `--path` (when only one prefix is allowed).
    pub default_path: Option<String>,
    /// Example command lines.
    pub examples: Vec<String>,
}

/// `capability describe`: everything a caller needs to use one capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityDescription {
    /// The capability id.
    pub capability: String,
    /// The provider.
    pub provider: String,
    /// One line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Registry or custom.
    pub origin: CapabilityOrigin,
    /// Whether a credential enables it (in some scope).
    pub ready: bool,
    /// The credentials that enable it.
    pub credentials: Vec<String>,
    /// How to enable it; `null` when ready.
    pub setup: Option<Setup>,
    /// What it allows.
    pub allowed: Allow,
    /// Its policy; `null` when none is set.
    pub policy: Option<Policy>,
    /// Its bindings.
    pub bindings: Vec<Binding>,
    /// How to call it.
    pub call: CallShape,
}

fn allow(view: &CapabilityView) -> Allow {
    Allow {
        hosts: view.hosts.clone(),
        methods: view.methods.clone(),
        path_prefixes: view.paths.clone(),
        upstream_prefix: view.upstream_prefix.clone(),
    }
}

/// The preferred alternative serving a registry capability.
fn preferred_alternative<'r>(
    registry: &'r Registry,
    view: &CapabilityView,
) -> Option<(&'r ProviderDef, &'r CredentialDef)> {
    if view.origin != CapabilityOrigin::Registry {
        return None;
    }
    let provider = registry.provider(&view.provider)?;
    provider
        .preferred_alternative_for(&view.id)
        .map(|c| (provider, c))
}

fn secret_commands(def: &CredentialDef) -> Vec<String> {
    def.secrets
        .values()
        .map(|name| {
            if name == crate::codex::CODEX_SECRET {
                // The Codex CLI's sign-in file, read as it is.
                "aivault secrets import-codex".to_string()
            } else {
                format!("aivault secrets create --name {name} --value \"...\" --scope global")
            }
        })
        .collect()
}

fn credential_command(view: &CapabilityView) -> String {
    match &view.credential {
        Some(id) => format!(
            "aivault credential create {id} --provider {} --secret-ref vault:secret:<id> --auth header --header-name authorization --value-template \"Bearer {{{{secret}}}}\" --host {}",
            view.provider,
            view.hosts.first().map_or("<host>", String::as_str)
        ),
        None => format!(
            "aivault credential create {}-key --provider {} --secret-ref vault:secret:<id> --auth header --header-name authorization --value-template \"Bearer {{{{secret}}}}\" --host {}",
            view.provider,
            view.provider,
            view.hosts.first().map_or("<host>", String::as_str)
        ),
    }
}

fn info(registry: &Registry, view: CapabilityView, credentials: Vec<String>) -> CapabilityInfo {
    let (required_secrets, setup) = if !credentials.is_empty() {
        (Vec::new(), None)
    } else {
        match preferred_alternative(registry, &view) {
            Some((_, def)) => (
                def.secrets.values().cloned().collect(),
                Some(secret_commands(def).join(" && ")),
            ),
            None => (Vec::new(), Some(credential_command(&view))),
        }
    };
    CapabilityInfo {
        allow: allow(&view),
        id: view.id,
        provider: view.provider,
        origin: view.origin,
        credentials,
        required_secrets,
        setup,
    }
}

fn enabling(view: &CapabilityView, credentials: &[Credential]) -> Vec<String> {
    credentials
        .iter()
        .filter(|c| serves(view, c))
        .map(|c| c.id.clone())
        .collect()
}

impl Vault {
    /// Every credential, sorted by id; `capabilities` also names the custom capabilities it
    /// serves.
    pub fn list_credentials(&self) -> Result<Vec<Credential>> {
        let (mut credentials, custom) =
            self.read(|tx| Ok((tx.credential_list()?, tx.capability_list()?)))?;
        for view in custom.into_iter().map(custom_view) {
            for credential in credentials.iter_mut().filter(|c| serves(&view, c)) {
                credential.capabilities.push(view.id.clone());
            }
        }
        Ok(credentials)
    }

    /// Every capability (registry and custom), ready or available, with the policies set.
    pub fn list_capabilities(&self) -> Result<CapabilityListing> {
        let registry = self.registry();
        let (credentials, custom, policies) = self.read(|tx| {
            Ok((
                tx.credential_list()?,
                tx.capability_list()?,
                tx.policy_list()?,
            ))
        })?;
        let mut by_provider: BTreeMap<&str, Vec<&Credential>> = BTreeMap::new();
        for credential in &credentials {
            by_provider
                .entry(credential.provider.as_str())
                .or_default()
                .push(credential);
        }
        let mut listing = CapabilityListing {
            ready: Vec::new(),
            available: Vec::new(),
            policies: policies
                .into_iter()
                .map(|(capability_id, policy)| PolicyEntry {
                    capability_id,
                    policy,
                })
                .collect(),
        };
        let registry_views = registry.providers().iter().flat_map(|provider| {
            provider
                .capabilities
                .iter()
                .map(move |capability| registry_view(provider, capability))
        });
        for view in registry_views.chain(custom.into_iter().map(custom_view)) {
            let of_provider: Vec<Credential> = by_provider
                .get(view.provider.as_str())
                .map(|cs| cs.iter().map(|c| (*c).clone()).collect())
                .unwrap_or_default();
            let ids = enabling(&view, &of_provider);
            let entry = info(registry, view, ids);
            if entry.credentials.is_empty() {
                listing.available.push(entry);
            } else {
                listing.ready.push(entry);
            }
        }
        listing.ready.sort_by(|a, b| a.id.cmp(&b.id));
        listing.available.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }

    /// Describes one capability: what it allows, how to enable and call it. Works without a
    /// credential.
    ///
    /// # Errors
    /// `capability_not_found`.
    pub fn describe_capability(&self, id: &str) -> Result<CapabilityDescription> {
        self.describe_capability_inner(id)
    }

    /// The `maxRequestBodyBytes` of capability `id`'s policy, if it sets one: what a server
    /// caps a caller's body at while receiving it (the broker checks the authenticated policy
    /// again when it invokes).
    ///
    /// # Errors
    /// `capability_not_found`; `io`.
    pub fn request_body_limit(&self, id: &str) -> Result<Option<u64>> {
        let registry = self.registry();
        self.read(|tx| {
            let view = find_capability(registry, tx, id)?;
            Ok(tx
                .policy_get(&view.id)?
                .and_then(|p| p.max_request_body_bytes))
        })
    }

    fn describe_capability_inner(&self, id: &str) -> Result<CapabilityDescription> {
        let registry = self.registry();
        let (view, credentials, policy, bindings) = self.read(|tx| {
            let view = find_capability(registry, tx, id)?;
            let credentials = tx.credentials_of_provider(&view.provider)?;
            let policy = tx.policy_get(&view.id)?;
            let bindings = tx.bindings_of_capability(&view.id)?;
            Ok((view, credentials, policy, bindings))
        })?;
        let enabled = enabling(&view, &credentials);
        let setup = if !enabled.is_empty() {
            None
        } else {
            Some(match preferred_alternative(registry, &view) {
                Some((provider, def)) => {
                    let others: Vec<String> = provider
                        .alternatives_for(&view.id)
                        .into_iter()
                        .filter(|c| c.id != def.id)
                        .map(|c| c.secrets.values().cloned().collect::<Vec<_>>().join(" + "))
                        .collect();
                    let mut note = format!(
                        "Storing {} provisions credential '{}' ({} capabilities).",
                        def.secrets
                            .values()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" and "),
                        registry_credential_id(provider, def, &crate::model::Scope::Global),
                        provider.capabilities_for(def).len()
                    );
                    if !others.is_empty() {
                        note.push_str(&format!(" Alternatively store {}.", others.join(" or ")));
                    }
                    if view.hosts.iter().any(|h| h.starts_with("*.")) {
                        note.push_str(
                            " Its host is per tenant: also create a credential with your concrete --host.",
                        );
                    }
                    Setup {
                        required_secrets: def.secrets.values().cloned().collect(),
                        commands: secret_commands(def),
                        note,
                    }
                }
                None => Setup {
                    required_secrets: Vec::new(),
                    commands: vec![credential_command(&view)],
                    note: format!(
                        "Create a credential of provider '{}' that covers its hosts.",
                        view.provider
                    ),
                },
            })
        };
        let call = call_shape(&view);
        Ok(CapabilityDescription {
            capability: view.id.clone(),
            provider: view.provider.clone(),
            description: view.description.clone(),
            origin: view.origin,
            ready: !enabled.is_empty(),
            credentials: enabled,
            setup,
            allowed: allow(&view),
            policy,
            bindings,
            call,
        })
    }
}

fn call_shape(view: &CapabilityView) -> CallShape {
    let default_method = match view.methods.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    let default_path = match view.paths.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    let mut examples = Vec::new();
    let path = view.paths.first().cloned().unwrap_or_else(|| "/".into());
    for method in &view.methods {
        let mut line = format!("aivault invoke {}", view.id);
        if default_method.is_none() {
            line.push_str(&format!(" --method {method}"));
        }
        if default_path.is_none() {
            line.push_str(&format!(" --path {path}"));
        }
        if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            line.push_str(" --body '{...}'");
        }
        examples.push(line);
        if examples.len() == 2 {
            break;
        }
    }
    let mut json = format!("aivault json {}", view.id);
    if let Some(method) = view
        .methods
        .iter()
        .find(|m| *m == "GET")
        .or(view.methods.first())
    {
        if default_method.is_none() {
            json.push_str(&format!(" --method {method}"));
        }
        if default_path.is_none() {
            json.push_str(&format!(" --path {path}"));
        }
    }
    examples.push(json);
    CallShape {
        default_method,
        default_path,
        examples,
    }
}
