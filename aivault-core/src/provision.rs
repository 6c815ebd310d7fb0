//! Registry matching and auto-provisioning: a secret whose name a registry provider claims is
//! pinned to that provider, and once every secret its credential needs exists in one scope,
//! the credential and its capabilities are provisioned in the same transaction.

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::error::Result;
use crate::model::{Credential, CredentialOrigin, CredentialSecret, SECRET_REF_PREFIX, Scope};
use crate::registry::{Claim, CredentialDef, DEFAULT_ALTERNATIVE, ProviderDef};
use crate::sensitive::Key32;
use crate::store::StoreTx;

/// What storing a claimed secret did to its provider's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Provisioning {
    /// The credential exists and is up to date.
    Provisioned {
        /// The provider.
        provider: String,
        /// The credential id (`openai`, `openai:ws:<ws>`, ...).
        credential_id: String,
        /// Number of capabilities it enables.
        capabilities: usize,
        /// True when this operation created it (false: it existed and was refreshed).
        created: bool,
    },
    /// Other secrets must be stored in the same scope first.
    Waiting {
        /// The provider.
        provider: String,
        /// The secret names still missing, sorted.
        missing: Vec<String>,
    },
}

/// The id of the auto-provisioned credential of a provider alternative in a scope:
/// `<provider>` (global), `<provider>:ws:<ws>`, `<provider>:group:<ws>:<g>`; alternatives
/// other than `default` insert `.<alternative>` after the provider id.
pub fn registry_credential_id(
    provider: &ProviderDef,
    credential: &CredentialDef,
    scope: &Scope,
) -> String {
    let mut base = provider.id.clone();
    if credential.id != DEFAULT_ALTERNATIVE {
        base = format!("{base}.{}", credential.id);
    }
    match scope {
        Scope::Global => base,
        Scope::Workspace { workspace_id } => format!("{base}:ws:{workspace_id}"),
        Scope::Group {
            workspace_id,
            group_id,
        } => format!("{base}:group:{workspace_id}:{group_id}"),
    }
}

/// Provisions (or refreshes) the credential of `claim` in `scope` if all its secrets exist
/// there; otherwise reports which are missing.
pub(crate) fn provision(
    tx: &dyn StoreTx,
    audit_key: &Key32,
    claim: &Claim<'_>,
    scope: &Scope,
    now_ms: i64,
) -> Result<Provisioning> {
    let provider = claim.provider;
    let def = claim.credential;
    let mut links = Vec::new();
    let mut missing = Vec::new();
    let roles = def
        .secrets
        .iter()
        .map(|r| (r, true))
        .chain(def.optional_secrets.iter().map(|r| (r, false)));
    for ((role, name), required) in roles {
        let found = match tx.secret_by_name(scope, name)? {
            Some(id) => tx
                .secret_get(&id)?
                .filter(|r| r.meta.pinned_provider.as_deref() == Some(provider.id.as_str())),
            None => None,
        };
        match found {
            Some(record) => links.push(CredentialSecret {
                role: role.clone(),
                secret_ref: format!("{SECRET_REF_PREFIX}{}", record.meta.secret_id),
            }),
            None if required => missing.push(name.clone()),
            None => {}
        }
    }
    if !missing.is_empty() {
        missing.sort();
        return Ok(Provisioning::Waiting {
            provider: provider.id.clone(),
            missing,
        });
    }
    let id = registry_credential_id(provider, def, scope);
    let existing = tx.credential_get(&id)?;
    if existing
        .as_ref()
        .is_some_and(|old| old.origin == CredentialOrigin::Custom)
    {
        return Err(crate::error::Error::exists(format!(
            "credential id '{id}' is taken by an operator credential; delete it to let aivault provision {}",
            provider.id
        )));
    }
    let capabilities: Vec<String> = provider
        .capabilities_for(def)
        .into_iter()
        .map(|c| c.id.clone())
        .collect();
    let mut credential = Credential {
        id: id.clone(),
        provider: provider.id.clone(),
        alternative: def.id.clone(),
        origin: CredentialOrigin::Registry,
        scope: scope.clone(),
        auth: def.auth.clone(),
        hosts: provider.credential_hosts(def).to_vec(),
        secrets: links,
        capabilities,
        network: Default::default(),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    let unchanged = existing.as_ref().is_some_and(|old| {
        credential.created_at_ms = old.created_at_ms;
        credential.updated_at_ms = old.updated_at_ms;
        *old == credential
    });
    if !unchanged {
        credential.updated_at_ms = now_ms;
        tx.credential_upsert(&credential)?;
        audit::append(
            tx,
            audit_key,
            NewEvent::new(kinds::CREDENTIAL_PROVISION)
                .credential(&id)
                .scope(scope)
                .note(format!(
                    "provider={} capabilities={}",
                    provider.id,
                    credential.capabilities.len()
                )),
            now_ms,
        )?;
    }
    Ok(Provisioning::Provisioned {
        provider: provider.id.clone(),
        credential_id: id,
        capabilities: credential.capabilities.len(),
        created: existing.is_none(),
    })
}
