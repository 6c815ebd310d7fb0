//! Bindings (`capability bind | unbind | bindings`): for one capability, in one scope and
//! optionally for one consumer, inject a chosen secret instead of the credential's own. The
//! credential still decides how and where the secret is injected; a binding only selects
//! the secret, so it can never send a pinned secret to another provider.

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::capabilities::{CapabilityOrigin, find_capability};
use crate::credentials::{check_secret_use, host_fits};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Binding, Scope, ScopeKind, SecretMeta, parse_secret_ref, printable};
use crate::registry::Registry;
use crate::store::StoreTx;
use crate::vault::{Keys, Vault, now_ms};

/// `capability bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBinding {
    /// The capability id.
    pub capability: String,
    /// `vault:secret:<id>`.
    pub secret_ref: String,
    /// The callers' scope it applies to.
    pub scope: Scope,
    /// The caller it applies to; `None` for every caller of the scope.
    pub consumer: Option<String>,
}

/// The result of `capability bind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindOutcome {
    /// The binding now in force.
    pub binding: Binding,
    /// Whether it replaced an earlier binding of the same key.
    pub replaced: bool,
}

/// The result of `capability unbind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnbindOutcome {
    /// Whether a binding was removed.
    pub removed: bool,
    /// The capability id.
    pub capability: String,
    /// The scope.
    pub scope: Scope,
    /// The consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
}

/// Which bindings `capability bindings` lists; `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingFilter {
    /// Only this capability.
    pub capability: Option<String>,
    /// Only this scope level.
    pub kind: Option<ScopeKind>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// Only this group.
    pub group_id: Option<String>,
    /// Only this consumer.
    pub consumer: Option<String>,
}

/// Checks a consumer name: 1–128 characters of `A-Z a-z 0-9 . _ - : @`.
pub fn validate_consumer(consumer: &str) -> Result<String> {
    let ok = !consumer.is_empty()
        && consumer.len() <= 128
        && consumer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@'));
    if ok {
        Ok(consumer.to_string())
    } else {
        Err(Error::invalid(format!(
            "invalid consumer '{}' (use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-', ':', '@')",
            printable(consumer)
        )))
    }
}

/// A bound secret pinned to a registry provider may only go to the hosts of the credential
/// alternative that claims its name (OpenAI's API key never reaches chatgpt.com, although
/// chatgpt.com is an OpenAI host): the pin is per alternative, not only per provider.
pub(crate) fn check_bound_host(
    registry: &Registry,
    meta: &SecretMeta,
    capability: &str,
    host: &str,
) -> Result<()> {
    let Some(claim) = registry.claim(&meta.name) else {
        return Ok(());
    };
    if meta.pinned_provider.as_deref() != Some(claim.provider.id.as_str()) {
        return Ok(());
    }
    let allowed = claim.provider.credential_hosts(claim.credential);
    if host_fits(allowed, host) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::PolicyViolation,
        format!(
            "capability '{capability}' would send bound secret {} to {host}, but it may only go to {}",
            meta.name,
            allowed.join(", ")
        ),
    ))
}

impl BindingFilter {
    /// Fails for a group filter without its workspace.
    pub fn check(&self) -> Result<()> {
        if self.group_id.is_some() && self.workspace_id.is_none() {
            return Err(Error::invalid("--group-id requires --workspace-id"));
        }
        Ok(())
    }
}

impl Vault {
    /// Binds a secret to a capability for a scope and consumer; re-binding the same key
    /// replaces it (`capability bind`).
    ///
    /// # Errors
    /// `capability_not_found`; `not_found` / `invalid_input` for the secret ref;
    /// `policy_violation` when the secret is pinned to another provider (or to another of its
    /// provider's credential alternatives than the one enabling the capability) or lives
    /// outside the binding's scope; `invalid_input` when the capability's credential needs
    /// several secrets.
    pub fn bind(&self, new: NewBinding) -> Result<BindOutcome> {
        self.write(|tx, keys| self.bind_in(tx, keys, &new))
    }

    /// [`Vault::bind`] inside a caller's transaction (`migrate` imports many).
    pub(crate) fn bind_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        new: &NewBinding,
    ) -> Result<BindOutcome> {
        let secret_id = parse_secret_ref(&new.secret_ref)?;
        let consumer = new.consumer.as_deref().map(validate_consumer).transpose()?;
        let registry = self.registry();
        let view = find_capability(registry, tx, &new.capability)?;
        let meta = tx
            .secret_get(&secret_id)?
            .ok_or_else(|| Error::not_found(format!("secret vault:secret:{secret_id} not found")))?
            .meta;
        check_secret_use(&meta, &view.provider, &new.scope)?;
        if view.origin == CapabilityOrigin::Registry
            && let Some(claim) = registry.claim(&meta.name)
            && meta.pinned_provider.as_deref() == Some(claim.provider.id.as_str())
            && !claim.provider.enables(claim.credential, &view.id)
        {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "secret {} belongs to {}'s '{}' credential, which does not enable capability '{}'; it can only be bound to that credential's capabilities",
                    meta.name, claim.provider.id, claim.credential.id, view.id
                ),
            ));
        }
        if view.origin == CapabilityOrigin::Registry
            && let Some(provider) = registry.provider(&view.provider)
            && let Some(alternative) = provider.preferred_alternative_for(&view.id)
            && alternative.secrets.len() != 1
        {
            return Err(Error::invalid(format!(
                "capability '{}' needs {} secrets ({}); a binding selects one — create a credential with `aivault credential create` instead",
                view.id,
                alternative.secrets.len(),
                alternative
                    .secrets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let now = now_ms();
        let binding = Binding {
            capability: view.id.clone(),
            scope: new.scope.clone(),
            consumer: consumer.clone(),
            secret_ref: meta.secret_ref(),
            updated_at_ms: now,
        };
        let replaced = tx.binding_upsert(&binding)?;
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::CAPABILITY_BIND)
                .capability(&view.id)
                .secret(&meta.secret_id)
                .scope(&new.scope)
                .note(format!(
                    "consumer={} replaced={replaced}",
                    consumer.as_deref().unwrap_or("*")
                )),
            now,
        )?;
        Ok(BindOutcome { binding, replaced })
    }

    /// Removes the binding of (capability, scope, consumer) (`capability unbind`).
    /// Removing a binding that does not exist reports `removed: false`.
    pub fn unbind(
        &self,
        capability: &str,
        scope: &Scope,
        consumer: Option<&str>,
    ) -> Result<UnbindOutcome> {
        let consumer = consumer.map(validate_consumer).transpose()?;
        self.write(|tx, keys| {
            let removed = tx.binding_delete(capability, scope, consumer.as_deref())?;
            if removed {
                audit::append(
                    tx,
                    &keys.audit,
                    NewEvent::new(kinds::CAPABILITY_UNBIND)
                        .capability(capability)
                        .scope(scope)
                        .note(format!("consumer={}", consumer.as_deref().unwrap_or("*"))),
                    now_ms(),
                )?;
            }
            Ok(UnbindOutcome {
                removed,
                capability: capability.to_string(),
                scope: scope.clone(),
                consumer: consumer.clone(),
            })
        })
    }

    /// Bindings matching `filter`, sorted by capability, scope and consumer.
    pub fn bindings(&self, filter: &BindingFilter) -> Result<Vec<Binding>> {
        filter.check()?;
        let all = self.read(|tx| match &filter.capability {
            Some(id) => tx.bindings_of_capability(id),
            None => tx.binding_list(),
        })?;
        Ok(all
            .into_iter()
            .filter(|b| filter.kind.is_none_or(|k| b.scope.kind() == k))
            .filter(|b| {
                filter
                    .workspace_id
                    .as_deref()
                    .is_none_or(|ws| b.scope.workspace_id() == Some(ws))
            })
            .filter(|b| {
                filter
                    .group_id
                    .as_deref()
                    .is_none_or(|g| b.scope.group_id() == Some(g))
            })
            .filter(|b| {
                filter
                    .consumer
                    .as_deref()
                    .is_none_or(|c| b.consumer.as_deref() == Some(c))
            })
            .collect())
    }
}
