//! Resolution: which credential, secrets and host serve a capability for a caller's context
//! (DESIGN §4). The broker calls [`Vault::plan`] before every invocation.
//!
//! Context levels, most specific first: group(ws, g), workspace(ws), global. No context sees
//! global credentials only; a workspace context sees workspace(ws), else global; a group
//! context sees group(ws, g), else workspace(ws), else the global credentials whose secrets
//! are **attached** to (ws, g). The most specific level with a candidate wins; several
//! candidates at that level are settled by `--credential` or, failing that, the highest
//! registry priority — a tie is `credential_ambiguous`, never a guess.
//!
//! A binding of the capability (most specific scope covering the context, a binding for the
//! caller's consumer before one for every consumer) replaces the credential's secret; the
//! credential still decides how and where it is injected.

use serde::Serialize;

use crate::capabilities::{CapabilityOrigin, CapabilityView, find_capability};
use crate::credentials::check_secret_use;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Binding, Credential, CredentialSecret, GroupRef, NetworkOptions, Policy, Scope,
    parse_secret_ref, printable,
};
use crate::provision::registry_credential_id;
use crate::registry::{AuthSpec, Registry, host_matches};
use crate::store::StoreTx;
use crate::vault::Vault;

/// Who is calling, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PlanContext {
    /// The caller's workspace.
    pub workspace_id: Option<String>,
    /// The caller's group (needs the workspace).
    pub group_id: Option<String>,
    /// The calling agent or tool, for consumer bindings.
    pub consumer: Option<String>,
    /// A credential the caller asks for by id.
    pub credential: Option<String>,
}

/// Everything the broker needs to make one call, and nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The capability.
    pub capability: CapabilityView,
    /// The credential used.
    pub credential: String,
    /// The provider.
    pub provider: String,
    /// How the secrets are injected.
    pub auth: AuthSpec,
    /// The secrets to inject, by role.
    pub secrets: Vec<CredentialSecret>,
    /// The one host the request goes to.
    pub host: String,
    /// The credential's network opt-ins.
    #[serde(skip_serializing_if = "NetworkOptions::is_default")]
    pub network: NetworkOptions,
    /// The capability's policy (empty when none is set).
    pub policy: Policy,
    /// The binding that chose the secret, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    /// The policies of other capabilities on the same host: each one whose methods and paths
    /// also admit the call governs it too (`overlap.rs`).
    #[serde(skip)]
    pub(crate) host_policies: Vec<(CapabilityView, Policy)>,
}

impl Vault {
    /// Resolves `capability` for `context`.
    ///
    /// # Errors
    /// `capability_not_found`; `credential_not_found` (no credential, or an unknown
    /// `--credential`); `credential_ambiguous` (several at the most specific level, equal
    /// priority); `policy_violation` (a `--credential` of another provider, not enabling the
    /// capability or not visible in the context; hosts that do not meet; a bound secret pinned
    /// elsewhere); `invalid_input` for a malformed context.
    pub fn plan(&self, capability: &str, context: &PlanContext) -> Result<Plan> {
        let scope =
            Scope::from_context(context.workspace_id.as_deref(), context.group_id.as_deref())?;
        if let Some(consumer) = &context.consumer {
            crate::bindings::validate_consumer(consumer)?;
        }
        self.read(|tx| plan_in(self.registry(), tx, capability, context, &scope))
    }
}

pub(crate) fn plan_in(
    registry: &Registry,
    tx: &dyn StoreTx,
    capability: &str,
    context: &PlanContext,
    scope: &Scope,
) -> Result<Plan> {
    let view = find_capability(registry, tx, capability)?;
    let policy = tx.policy_get(&view.id)?.unwrap_or_default();
    let binding = select_binding(
        tx.bindings_of_capability(&view.id)?,
        scope,
        context.consumer.as_deref(),
    );
    let credential = match &context.credential {
        Some(id) => Some(explicit_credential(tx, &view, id, scope)?),
        None => resolve_credential(registry, tx, &view, scope)?,
    };
    // A binding only selects the secret: without a credential there is nothing to carry it,
    // so deleting a provider's credentials always stops its calls.
    let Some(Credential {
        id: credential_id,
        auth,
        hosts,
        mut secrets,
        network,
        ..
    }) = credential
    else {
        return Err(no_credential(registry, &view, scope));
    };
    let mut bound_secret = None;
    if let Some(binding) = &binding {
        let [single] = secrets.as_mut_slice() else {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "capability '{}' is bound to a secret, but credential '{}' injects {} secrets; a binding replaces exactly one",
                    view.id,
                    credential_id,
                    secrets.len()
                ),
            ));
        };
        let secret_id = parse_secret_ref(&binding.secret_ref)?;
        let meta = tx
            .secret_get(&secret_id)?
            .ok_or_else(|| {
                Error::not_found(format!("bound secret {} not found", binding.secret_ref))
            })?
            .meta;
        check_secret_use(&meta, &view.provider, &binding.scope)?;
        single.secret_ref = binding.secret_ref.clone();
        bound_secret = Some(meta);
    }
    let host = effective_host(&view, &credential_id, &hosts)?;
    if let Some(meta) = &bound_secret {
        crate::bindings::check_bound_host(registry, meta, &view.id, &host)?;
    }
    let host_policies = crate::overlap::host_policies(registry, tx, &view.id, &host)?;
    Ok(Plan {
        provider: view.provider.clone(),
        capability: view,
        credential: credential_id,
        auth,
        secrets,
        host,
        network,
        policy,
        binding,
        host_policies,
    })
}

/// Whether a stored credential enables the capability.
pub(crate) fn serves(view: &CapabilityView, credential: &Credential) -> bool {
    if credential.provider != view.provider {
        return false;
    }
    match (view.origin, &view.credential) {
        (CapabilityOrigin::Registry, _) => credential.capabilities.contains(&view.id),
        (CapabilityOrigin::Custom, Some(id)) => credential.id == *id,
        (CapabilityOrigin::Custom, None) => view.hosts.iter().any(|p| {
            credential
                .hosts
                .iter()
                .any(|h| h == p || host_matches(p, h))
        }),
    }
}

/// How specific a credential is for a context (2 group, 1 workspace, 0 global), or `None` if
/// the context cannot see it.
fn level(tx: &dyn StoreTx, credential: &Credential, context: &Scope) -> Result<Option<u8>> {
    Ok(match (&credential.scope, context) {
        (
            Scope::Global,
            Scope::Group {
                workspace_id,
                group_id,
            },
        ) => {
            let group = GroupRef {
                workspace_id: workspace_id.clone(),
                group_id: group_id.clone(),
            };
            let mut attached = true;
            for link in &credential.secrets {
                let id = parse_secret_ref(&link.secret_ref)?;
                attached &= tx.secret_attached(&id, &group)?;
            }
            attached.then_some(0)
        }
        (Scope::Global, _) => Some(0),
        (Scope::Workspace { workspace_id }, _) => {
            (context.workspace_id() == Some(workspace_id.as_str())).then_some(1)
        }
        (Scope::Group { .. }, _) => (credential.scope == *context).then_some(2),
    })
}

fn explicit_credential(
    tx: &dyn StoreTx,
    view: &CapabilityView,
    id: &str,
    scope: &Scope,
) -> Result<Credential> {
    let credential = tx.credential_get(id)?.ok_or_else(|| {
        Error::new(
            ErrorKind::CredentialNotFound,
            format!("credential '{}' not found", printable(id)),
        )
    })?;
    let violation = |message: String| Error::new(ErrorKind::PolicyViolation, message);
    if credential.provider != view.provider {
        return Err(violation(format!(
            "credential '{id}' serves provider '{}', not '{}' (capability '{}')",
            credential.provider, view.provider, view.id
        )));
    }
    if !serves(view, &credential) {
        return Err(violation(format!(
            "credential '{id}' does not enable capability '{}'",
            view.id
        )));
    }
    if level(tx, &credential, scope)?.is_none() {
        return Err(violation(format!(
            "credential '{id}' (scope {}) is not available in context {scope}",
            credential.scope
        )));
    }
    Ok(credential)
}

/// The credential of the most specific level; several there are settled by priority.
fn resolve_credential(
    registry: &Registry,
    tx: &dyn StoreTx,
    view: &CapabilityView,
    scope: &Scope,
) -> Result<Option<Credential>> {
    let mut visible = Vec::new();
    for credential in tx.credentials_of_provider(&view.provider)? {
        if !serves(view, &credential) {
            continue;
        }
        if let Some(level) = level(tx, &credential, scope)? {
            visible.push((level, credential));
        }
    }
    // A credential with only a host pattern (`*.myshopify.com`) cannot make the call; it
    // yields to one that names a concrete host, and only explains the error when alone.
    if visible
        .iter()
        .any(|(_, c)| concrete_host(view, &c.hosts).is_some())
    {
        visible.retain(|(_, c)| concrete_host(view, &c.hosts).is_some());
    }
    let mut best: Vec<Credential> = Vec::new();
    let mut best_level = 0;
    for (level, credential) in visible {
        if best.is_empty() || level > best_level {
            best = vec![credential];
            best_level = level;
        } else if level == best_level {
            best.push(credential);
        }
    }
    if best.len() <= 1 {
        return Ok(best.pop());
    }
    let priority = |c: &Credential| {
        registry
            .provider(&c.provider)
            .and_then(|p| p.credentials.iter().find(|d| d.id == c.alternative))
            .map_or(0, |d| d.priority)
    };
    let top = best.iter().map(priority).max().unwrap_or(0);
    best.retain(|c| priority(c) == top);
    if best.len() == 1 {
        return Ok(best.pop());
    }
    let ids: Vec<&str> = best.iter().map(|c| c.id.as_str()).collect();
    Err(Error::new(
        ErrorKind::CredentialAmbiguous,
        format!(
            "{} credentials enable '{}' in context {scope} ({}); pass --credential",
            ids.len(),
            view.id,
            ids.join(", ")
        ),
    ))
}

/// The most specific binding covering the context: deeper scope first, then a binding for
/// this consumer before one for every consumer.
fn select_binding(
    bindings: Vec<Binding>,
    scope: &Scope,
    consumer: Option<&str>,
) -> Option<Binding> {
    bindings
        .into_iter()
        .filter(|b| b.scope.covers(scope))
        .filter(|b| b.consumer.is_none() || b.consumer.as_deref() == consumer)
        .max_by_key(|b| (b.scope.kind() as u8, b.consumer.is_some()))
}

fn no_credential(registry: &Registry, view: &CapabilityView, scope: &Scope) -> Error {
    let hint = registry
        .provider(&view.provider)
        .and_then(|p| p.preferred_alternative_for(&view.id).map(|c| (p, c)))
        .map(|(p, c)| {
            let names: Vec<&str> = c.secrets.values().map(String::as_str).collect();
            format!(
                "; store {} (`aivault secrets create --name {} --value ...`) to provision '{}'",
                names.join(" and "),
                names.first().copied().unwrap_or_default(),
                registry_credential_id(p, c, scope)
            )
        })
        .unwrap_or_else(|| "; create one with `aivault credential create`".into());
    Error::new(
        ErrorKind::CredentialNotFound,
        format!(
            "no credential enables '{}' in context {scope}{hint}",
            view.id
        ),
    )
}

/// The first concrete credential host that one of the capability's hosts admits.
fn concrete_host<'h>(view: &CapabilityView, hosts: &'h [String]) -> Option<&'h str> {
    view.hosts.iter().find_map(|pattern| {
        hosts
            .iter()
            .find(|h| !h.starts_with("*.") && (*h == pattern || host_matches(pattern, h)))
            .map(String::as_str)
    })
}

/// The one concrete host both the capability and the credential allow (the capability's
/// order decides between several).
fn effective_host(view: &CapabilityView, credential: &str, hosts: &[String]) -> Result<String> {
    if let Some(host) = concrete_host(view, hosts) {
        return Ok(host.to_string());
    }
    let name = credential;
    let message = if hosts.iter().any(|h| h.starts_with("*.")) {
        format!(
            "credential '{name}' allows only host pattern(s) {}; '{}' needs a concrete host: create a credential with --host (for example {})",
            hosts.join(", "),
            view.id,
            hosts
                .iter()
                .find(|h| h.starts_with("*."))
                .map(|h| h.replacen('*', "<name>", 1))
                .unwrap_or_default()
        )
    } else {
        format!(
            "credential '{name}' hosts ({}) do not include any host of '{}' ({})",
            hosts.join(", "),
            view.id,
            view.hosts.join(", ")
        )
    };
    Err(Error::new(ErrorKind::PolicyViolation, message))
}
