//! Capabilities as one view over the registry's and the operator's (`capability create |
//! delete`), and their policies (`capability policy set`).

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::credentials::host_fits;
use crate::error::{Error, ErrorKind, Result};
use crate::hosts;
use crate::model::{CustomCapability, Policy, printable};
use crate::registry::{CapabilityDef, ProviderDef, Registry, check_path_prefix, is_valid_method};
use crate::store::StoreTx;
use crate::vault::{Keys, Vault, now_ms};

/// Where a capability is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityOrigin {
    /// The registry (built-in or operator provider files).
    Registry,
    /// `capability create`.
    Custom,
}

/// A capability, wherever it is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityView {
    /// The id.
    pub id: String,
    /// The provider whose credentials serve it.
    pub provider: String,
    /// One line, when the registry has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Registry or custom.
    pub origin: CapabilityOrigin,
    /// The one credential that serves it (custom capabilities created with `--credential`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Allowed hosts (patterns allowed).
    pub hosts: Vec<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// Allowed path prefixes (segment-aware).
    pub paths: Vec<String>,
    /// The base path the upstream serves it under, before the caller's path on the wire
    /// (registry capabilities only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_prefix: Option<String>,
}

/// Looks a capability up in the registry, then among the operator's.
pub(crate) fn find_capability(
    registry: &Registry,
    tx: &dyn StoreTx,
    id: &str,
) -> Result<CapabilityView> {
    if let Some((provider, capability)) = registry.capability(id) {
        return Ok(registry_view(provider, capability));
    }
    match tx.capability_get(id)? {
        Some(custom) => Ok(custom_view(custom)),
        None => Err(Error::new(
            ErrorKind::CapabilityNotFound,
            format!(
                "capability '{}' not found (see `aivault capability list`)",
                printable(id)
            ),
        )),
    }
}

pub(crate) fn registry_view(provider: &ProviderDef, capability: &CapabilityDef) -> CapabilityView {
    CapabilityView {
        id: capability.id.clone(),
        provider: provider.id.clone(),
        description: capability.description.clone(),
        origin: CapabilityOrigin::Registry,
        credential: None,
        hosts: provider.capability_hosts(capability).to_vec(),
        methods: capability.methods.clone(),
        paths: capability.paths.clone(),
        upstream_prefix: capability.upstream_prefix.clone(),
    }
}

pub(crate) fn custom_view(custom: CustomCapability) -> CapabilityView {
    CapabilityView {
        id: custom.id,
        provider: custom.provider,
        description: None,
        origin: CapabilityOrigin::Custom,
        credential: custom.credential,
        hosts: custom.hosts,
        methods: custom.methods,
        paths: custom.paths,
        upstream_prefix: None,
    }
}

/// `capability create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCapability {
    /// The id (lower-case `a-z 0-9 / . _ -`, at most 128 characters).
    pub id: String,
    /// The provider whose credentials serve it.
    pub provider: Option<String>,
    /// Or the one credential that serves it.
    pub credential: Option<String>,
    /// Allowed methods (case-insensitive on input, stored upper-case).
    pub methods: Vec<String>,
    /// Allowed path prefixes.
    pub paths: Vec<String>,
    /// Allowed hosts; default: the credential's, or the provider's.
    pub hosts: Vec<String>,
}

/// `capability delete`: what was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityDeletion {
    /// Always true: deleting an unknown capability is an error.
    pub removed_capability: bool,
    /// Whether it had a policy.
    pub removed_policy: bool,
    /// How many bindings it had.
    pub removed_bindings: usize,
    /// The id.
    pub id: String,
}

/// `capability policy set`: the fields to change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyUpdate {
    /// Maximum invocations per minute (at least 1).
    pub rate_limit_per_minute: Option<u32>,
    /// Maximum request body size in bytes (at least 1).
    pub max_request_body_bytes: Option<u64>,
    /// Maximum response body size in bytes (at least 1).
    pub max_response_body_bytes: Option<u64>,
    /// Strings to redact from responses; replaces the list when given.
    pub response_block: Option<Vec<String>>,
}

/// A capability's policy after `capability policy set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityPolicy {
    /// The capability id.
    pub capability_id: String,
    /// The policy now in force.
    pub policy: Policy,
}

const NEEDS_PROVIDER: &str =
    "pass --provider P or --credential C: whose credentials serve the capability";

/// Longest response redaction string.
const MAX_BLOCK_LEN: usize = 4096;

fn validate_capability_id(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'.' | b'_' | b'-')
        })
        && !id.starts_with('/')
        && !id.ends_with('/');
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::invalid(format!(
            "invalid capability id '{}' (use 1-128 characters of a-z, 0-9, '/', '.', '_', '-', such as 'acme/reports')",
            printable(id)
        )))
    }
}

fn normalize_methods(methods: &[String]) -> Result<Vec<String>> {
    if methods.is_empty() {
        return Err(Error::invalid("a capability needs at least one --method"));
    }
    let mut out: Vec<String> = Vec::new();
    for method in methods {
        let upper = method.trim().to_ascii_uppercase();
        if !is_valid_method(&upper) {
            return Err(Error::invalid(format!(
                "invalid method '{}' (GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
                printable(method)
            )));
        }
        if !out.contains(&upper) {
            out.push(upper);
        }
    }
    Ok(out)
}

fn normalize_paths(paths: &[String]) -> Result<Vec<String>> {
    if paths.is_empty() {
        return Err(Error::invalid(
            "a capability needs at least one --path prefix",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for path in paths {
        check_path_prefix(path).map_err(Error::invalid)?;
        if !out.contains(path) {
            out.push(path.clone());
        }
    }
    Ok(out)
}

impl Vault {
    /// The capability with this id, registry or custom.
    ///
    /// # Errors
    /// `capability_not_found`.
    pub fn capability(&self, id: &str) -> Result<CapabilityView> {
        self.read(|tx| find_capability(self.registry(), tx, id))
    }

    /// Creates an operator capability (`capability create`).
    ///
    /// # Errors
    /// `invalid_input` for a malformed id, method, path or host, or neither/both of provider
    /// and credential disagreeing; `already_exists` when the id is taken (registry included);
    /// `credential_not_found` for an unknown `--credential`; `policy_violation` for hosts
    /// outside the credential's or the registry provider's.
    pub fn create_capability(&self, new: NewCapability) -> Result<CapabilityView> {
        self.write(|tx, keys| self.create_capability_in(tx, keys, &new))
    }

    /// [`Vault::create_capability`] inside a caller's transaction (`migrate` imports many).
    pub(crate) fn create_capability_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        new: &NewCapability,
    ) -> Result<CapabilityView> {
        let id = validate_capability_id(new.id.trim())?;
        let methods = normalize_methods(&new.methods)?;
        let paths = normalize_paths(&new.paths)?;
        if new.provider.is_none() && new.credential.is_none() {
            return Err(Error::invalid(NEEDS_PROVIDER));
        }
        let registry = self.registry();
        if registry.capability(&id).is_some() {
            return Err(Error::exists(format!(
                "capability '{id}' is built in; choose another id"
            )));
        }
        if tx.capability_get(&id)?.is_some() {
            return Err(Error::exists(format!("capability '{id}' already exists")));
        }
        let credential = match &new.credential {
            Some(cid) => Some(tx.credential_get(cid)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::CredentialNotFound,
                    format!("credential '{}' not found", printable(cid)),
                )
            })?),
            None => None,
        };
        let provider = match (&new.provider, &credential) {
            (Some(p), Some(c)) if *p != c.provider => {
                return Err(Error::invalid(format!(
                    "credential '{}' serves provider '{}', not '{}'",
                    c.id,
                    c.provider,
                    printable(p)
                )));
            }
            (_, Some(c)) => c.provider.clone(),
            (Some(p), None) => {
                let p = p.trim().to_string();
                if !crate::registry::is_valid_id(&p) {
                    return Err(Error::invalid(format!(
                        "invalid provider '{}' (use lower-case a-z, 0-9, '-')",
                        printable(&p)
                    )));
                }
                p
            }
            (None, None) => return Err(Error::invalid(NEEDS_PROVIDER)),
        };
        // The hosts the capability may reach: within its credential's, or the registry
        // provider's, or (operator provider) any concrete DNS name. Without --host: the
        // credential's, the registry provider's preferred credential's, or those of the
        // operator provider's credentials.
        let registry_provider = registry.provider(&provider);
        let limit: Option<Vec<String>> = match (&credential, registry_provider) {
            (Some(c), _) => Some(c.hosts.clone()),
            (None, Some(def)) => Some(def.hosts.clone()),
            (None, None) => None,
        };
        let hosts = if new.hosts.is_empty() {
            match (&credential, registry_provider) {
                (Some(c), _) => c.hosts.clone(),
                (None, Some(def)) => def.preferred_alternative().map_or_else(
                    || def.hosts.clone(),
                    |alt| def.credential_hosts(alt).to_vec(),
                ),
                (None, None) => {
                    let mut hosts: Vec<String> = Vec::new();
                    for c in tx.credentials_of_provider(&provider)? {
                        for h in c.hosts {
                            if !hosts.contains(&h) {
                                hosts.push(h);
                            }
                        }
                    }
                    if hosts.is_empty() {
                        return Err(Error::invalid(format!(
                            "provider '{provider}' has no credential yet: pass --host"
                        )));
                    }
                    hosts
                }
            }
        } else {
            // Without a credential or registry provider to stay within, a host of one of
            // the provider's credentials is fine as it is (`localhost:11434`, `[::1]:80`).
            let known: Vec<String> = match &limit {
                Some(_) => Vec::new(),
                None => tx
                    .credentials_of_provider(&provider)?
                    .into_iter()
                    .flat_map(|c| c.hosts)
                    .collect(),
            };
            let mut hosts: Vec<String> = Vec::new();
            for host in &new.hosts {
                // Compared in its canonical spelling (`API.Example.com` is
                // `api.example.com`, `[0::1]` is `[::1]`).
                let host =
                    hosts::canonical(host).map_err(|e| Error::invalid(format!("--host: {e}")))?;
                match &limit {
                    // A credential's own host is always fine, port and all (a
                    // private-network credential's `localhost:11434` is no registry-style
                    // pattern).
                    Some(allowed) if allowed.contains(&host) => {}
                    Some(allowed) => {
                        if !host_fits(allowed, &host) {
                            return Err(Error::new(
                                ErrorKind::PolicyViolation,
                                format!(
                                    "host '{host}' is outside the allowed hosts ({})",
                                    allowed.join(", ")
                                ),
                            ));
                        }
                    }
                    None if known.contains(&host) => {}
                    None => {
                        hosts::parse(&host, hosts::OPERATOR)
                            .map_err(|e| Error::invalid(format!("--host: {e}")))?;
                    }
                }
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
            hosts
        };
        let now = now_ms();
        let custom = CustomCapability {
            id: id.clone(),
            provider,
            credential: credential.map(|c| c.id),
            hosts,
            methods,
            paths,
            created_at_ms: now,
        };
        tx.capability_insert(&custom)?;
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::CAPABILITY_CREATE)
                .capability(&id)
                .note(format!(
                    "provider={} methods={} paths={} hosts={}",
                    custom.provider,
                    custom.methods.join(","),
                    custom.paths.join(","),
                    custom.hosts.join(",")
                )),
            now,
        )?;
        Ok(custom_view(custom))
    }

    /// Deletes an operator capability with its policy and bindings (`capability delete`).
    ///
    /// # Errors
    /// `capability_not_found` for an unknown id; `invalid_input` for a built-in capability
    /// (restrict it with a policy, or delete its credential, instead).
    pub fn delete_capability(&self, id: &str) -> Result<CapabilityDeletion> {
        let registry = self.registry();
        self.write(|tx, keys| {
            let view = find_capability(registry, tx, id)?;
            if view.origin == CapabilityOrigin::Registry {
                return Err(Error::invalid(format!(
                    "capability '{id}' is built in and cannot be deleted; restrict it with `aivault capability policy set` or delete its credential"
                )));
            }
            tx.capability_delete(id)?;
            let removed_policy = tx.policy_delete(id)?;
            let bindings = tx.bindings_of_capability(id)?;
            for binding in &bindings {
                tx.binding_delete(id, &binding.scope, binding.consumer.as_deref())?;
            }
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::CAPABILITY_DELETE)
                    .capability(id)
                    .note(format!(
                        "policy_removed={removed_policy} bindings_removed={}",
                        bindings.len()
                    )),
                now_ms(),
            )?;
            Ok(CapabilityDeletion {
                removed_capability: true,
                removed_policy,
                removed_bindings: bindings.len(),
                id: id.to_string(),
            })
        })
    }

    /// Sets fields of a capability's policy, keeping the others (`capability policy set`).
    ///
    /// # Errors
    /// `capability_not_found`; `invalid_input` when nothing is set or a size cap is 0.
    /// A rate limit of 0 is allowed and means "deny every call" (as in the original tool).
    pub fn set_policy(&self, capability: &str, update: PolicyUpdate) -> Result<CapabilityPolicy> {
        self.write(|tx, keys| self.set_policy_in(tx, keys, capability, &update))
    }

    /// [`Vault::set_policy`] inside a caller's transaction (`migrate` imports many).
    pub(crate) fn set_policy_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        capability: &str,
        update: &PolicyUpdate,
    ) -> Result<CapabilityPolicy> {
        if *update == PolicyUpdate::default() {
            return Err(Error::invalid(
                "nothing to set: pass --rate-limit-per-minute, --max-request-body-bytes, --max-response-body-bytes or --response-block",
            ));
        }
        if update.max_request_body_bytes == Some(0) || update.max_response_body_bytes == Some(0) {
            return Err(Error::invalid(
                "size caps must be at least 1 byte (a rate limit of 0 denies every call)",
            ));
        }
        if let Some(blocks) = &update.response_block {
            for block in blocks {
                if block.is_empty() || block.len() > MAX_BLOCK_LEN {
                    return Err(Error::invalid(format!(
                        "--response-block strings must be 1-{MAX_BLOCK_LEN} bytes"
                    )));
                }
            }
        }
        let registry = self.registry();
        let view = find_capability(registry, tx, capability)?;
        let mut policy = tx.policy_get(&view.id)?.unwrap_or_default();
        if let Some(n) = update.rate_limit_per_minute {
            policy.rate_limit_per_minute = Some(n);
        }
        if let Some(n) = update.max_request_body_bytes {
            policy.max_request_body_bytes = Some(n);
        }
        if let Some(n) = update.max_response_body_bytes {
            policy.max_response_body_bytes = Some(n);
        }
        if let Some(blocks) = &update.response_block {
            let mut list: Vec<String> = Vec::new();
            for block in blocks {
                if !list.contains(block) {
                    list.push(block.clone());
                }
            }
            policy.response_body_blocklist = list;
        }
        let now = now_ms();
        tx.policy_set(&view.id, &policy, now)?;
        audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::CAPABILITY_POLICY)
                    .capability(&view.id)
                    .note(format!(
                        "rate_limit_per_minute={} max_request_body_bytes={} max_response_body_bytes={} response_blocks={}",
                        opt(policy.rate_limit_per_minute),
                        opt(policy.max_request_body_bytes),
                        opt(policy.max_response_body_bytes),
                        policy.response_body_blocklist.len()
                    )),
                now,
            )?;
        Ok(CapabilityPolicy {
            capability_id: view.id,
            policy,
        })
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}
