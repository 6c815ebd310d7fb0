//! The import transaction of `migrate`: every secret (names, scopes, aliases, group
//! attachments; registry pins and credentials follow from the names as on `secrets create`),
//! then the custom credentials, capabilities, policies and bindings, in one write
//! transaction. Nothing that exists is overwritten: an existing name, id or binding is
//! reported `skipped` ("exists"), which makes a second run harmless. A record that cannot be
//! read, decrypted or validated is reported with why and the rest is imported.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::error::{Error, ErrorKind, Result};
use crate::migrate::layout::{self, Contents, OriginalSecret, OriginalVault, SourceKey};
use crate::migrate::mapping::{self, RawBinding, RawCapability, RawCredential, RawPolicy};
use crate::model::{self, CredentialOrigin, GroupRef, SECRET_REF_PREFIX, Scope};
use crate::secrets::MAX_VALUE_LEN;
use crate::store::StoreTx;
use crate::vault::{Keys, Vault, now_ms};

/// One record of the original vault in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigratedItem {
    /// `secret`, `credential`, `capability`, `policy`, `binding` or `file`.
    pub kind: String,
    /// Its name (secrets), id (credentials, capabilities), capability id (policies,
    /// bindings) or file.
    pub id: String,
    /// Its scope, for secrets and bindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The id of the imported secret in this vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
    /// Why it was skipped, or a remark on an imported record (a pin that changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `migrate` imported and what it did not (never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// The original vault's directory.
    pub source: String,
    /// Records imported.
    pub imported: Vec<MigratedItem>,
    /// Records not imported, each with its reason.
    pub skipped: Vec<MigratedItem>,
    /// Events of the original's audit log, left in the source: this vault's audit log is an
    /// HMAC chain of its own.
    pub audit_events_not_imported: u64,
}

impl MigrationReport {
    /// How many records of `kind` were imported.
    pub fn imported_count(&self, kind: &str) -> usize {
        self.imported.iter().filter(|i| i.kind == kind).count()
    }
}

fn item(kind: &str, id: impl Into<String>) -> MigratedItem {
    MigratedItem {
        kind: kind.to_string(),
        id: id.into(),
        scope: None,
        secret_id: None,
        reason: None,
    }
}

/// Errors a record can be skipped for; anything else (storage, internal) aborts the whole
/// migration so nothing is half imported.
fn is_record_error(e: &Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Internal | ErrorKind::Io | ErrorKind::VaultLocked
    )
}

struct Run<'a> {
    vault: &'a Vault,
    tx: &'a dyn StoreTx,
    keys: &'a Keys,
    now: i64,
    report: MigrationReport,
    /// Source secret id → secret id here (imported, or the existing one of the same name).
    ids: BTreeMap<String, String>,
}

impl Run<'_> {
    fn skip(&mut self, mut entry: MigratedItem, reason: impl Into<String>) -> Result<()> {
        entry.reason = Some(reason.into());
        self.report.skipped.push(entry);
        Ok(())
    }

    /// Skips a record for a validation error, or aborts for any other.
    fn skip_or_abort(&mut self, entry: MigratedItem, e: Error) -> Result<()> {
        if is_record_error(&e) {
            self.skip(entry, e.message().to_string())
        } else {
            Err(e)
        }
    }

    /// The secret ref here of a source `vault:secret:<id>`.
    fn secret_ref(&self, source_ref: &str) -> std::result::Result<String, String> {
        let source_id = mapping::source_secret_id(source_ref)?;
        self.ids
            .get(&source_id)
            .map(|id| format!("{SECRET_REF_PREFIX}{id}"))
            .ok_or_else(|| format!("its secret (source id {source_id}) was not imported"))
    }

    fn secret(&mut self, secret: &OriginalSecret) -> Result<()> {
        let mut entry = item("secret", secret.name.clone());
        entry.scope = Some(secret.scope.to_string());
        // The original did not check workspace and group ids as this vault does.
        let scope = &secret.scope;
        if let Err(e) = Scope::from_parts(scope.kind(), scope.workspace_id(), scope.group_id()) {
            return self.skip_or_abort(entry, e);
        }
        let name = match model::validate_label("secret name", &secret.name) {
            Ok(name) => name,
            Err(e) => return self.skip_or_abort(entry, e),
        };
        if let Some(existing) = self.tx.secret_by_name(&secret.scope, &name)? {
            self.ids.insert(secret.source_id.clone(), existing.clone());
            entry.secret_id = Some(existing);
            return self.skip(
                entry,
                "exists: a secret of this name is already in this scope",
            );
        }
        let aliases = match model::normalize_aliases(&secret.aliases) {
            Ok(aliases) => aliases,
            Err(e) => return self.skip_or_abort(entry, e),
        };
        for label in std::iter::once(&name).chain(&aliases) {
            if let Some(holder) = self.tx.secret_by_label(&secret.scope, label)? {
                let reason = format!(
                    "'{label}' is already a name or alias of secret {holder} in this scope"
                );
                return self.skip(entry, reason);
            }
        }
        if aliases.contains(&name) {
            return self.skip(entry, "an alias repeats its name");
        }
        if secret.value.is_empty() || secret.value.len() > MAX_VALUE_LEN {
            return self.skip(
                entry,
                format!("its value is empty or larger than {MAX_VALUE_LEN} bytes"),
            );
        }
        let outcome = self.vault.create_in(
            self.tx,
            self.keys,
            &name,
            &secret.value,
            &secret.scope,
            aliases,
            self.now,
        )?;
        let id = outcome.secret.secret_id.clone();
        self.ids.insert(secret.source_id.clone(), id.clone());
        entry.secret_id = Some(id.clone());
        let mut remarks = Vec::new();
        let pinned_here = outcome.secret.pinned_provider.as_deref();
        let pinned_there = secret.pinned_provider.as_deref().filter(|p| !p.is_empty());
        if pinned_here != pinned_there {
            remarks.push(format!(
                "pinned to {} here (the original: {}): this registry decides pins by name",
                pinned_here.unwrap_or("no provider"),
                pinned_there.unwrap_or("no provider")
            ));
        }
        for group in &secret.attached_groups {
            if secret.scope != Scope::Global {
                remarks.push(format!(
                    "group {}/{} not attached: only global secrets are attached to groups",
                    group.workspace_id, group.group_id
                ));
                continue;
            }
            let group = match GroupRef::new(&group.workspace_id, &group.group_id) {
                Ok(group) => group,
                Err(e) => {
                    remarks.push(format!("a group was not attached: {}", e.message()));
                    continue;
                }
            };
            if self.tx.group_attach(&id, &group, self.now)? {
                audit::append(
                    self.tx,
                    &self.keys.audit,
                    NewEvent::new(kinds::SECRET_ATTACH)
                        .secret(&id)
                        .scope(format!("group:{}:{}", group.workspace_id, group.group_id)),
                    self.now,
                )?;
            }
        }
        if !remarks.is_empty() {
            entry.reason = Some(remarks.join("; "));
        }
        self.report.imported.push(entry);
        Ok(())
    }

    fn credential(&mut self, raw: &serde_json::Value) -> Result<()> {
        let entry = item("credential", mapping::record_label(raw, "id"));
        let raw: RawCredential = match mapping::parse(raw) {
            Ok(raw) => raw,
            Err(reason) => return self.skip(entry, reason),
        };
        if let Some(existing) = self.tx.credential_get(raw.id.trim())? {
            let reason = match existing.origin {
                CredentialOrigin::Registry => {
                    "exists: provisioned from the registry when its secret was imported"
                }
                CredentialOrigin::Custom => "exists: a credential of this id is already here",
            };
            return self.skip(entry, reason);
        }
        let new = match self
            .secret_ref(&raw.secret_ref)
            .and_then(|secret_ref| mapping::new_credential(&raw, secret_ref))
        {
            Ok(new) => new,
            Err(reason) => return self.skip(entry, reason),
        };
        match self.vault.create_credential_in(self.tx, self.keys, &new) {
            Ok(_) => self.report.imported.push(entry),
            Err(e) => self.skip_or_abort(entry, e)?,
        }
        Ok(())
    }

    fn capability(&mut self, raw: &serde_json::Value) -> Result<()> {
        let entry = item("capability", mapping::record_label(raw, "id"));
        let raw: RawCapability = match mapping::parse(raw) {
            Ok(raw) => raw,
            Err(reason) => return self.skip(entry, reason),
        };
        if self.tx.capability_get(raw.id.trim())?.is_some() {
            return self.skip(entry, "exists: a capability of this id is already here");
        }
        let new = mapping::new_capability(&raw);
        match self.vault.create_capability_in(self.tx, self.keys, &new) {
            Ok(_) => self.report.imported.push(entry),
            Err(e) => self.skip_or_abort(entry, e)?,
        }
        Ok(())
    }

    fn policy(&mut self, raw: &serde_json::Value) -> Result<()> {
        let entry = item("policy", mapping::record_label(raw, "capabilityId"));
        let raw: RawPolicy = match mapping::parse(raw) {
            Ok(raw) => raw,
            Err(reason) => return self.skip(entry, reason),
        };
        let Some(update) = mapping::policy_update(&raw.policy) else {
            return self.skip(entry, "it sets nothing");
        };
        if self.tx.policy_get(raw.capability_id.trim())?.is_some() {
            return self.skip(entry, "exists: this capability already has a policy here");
        }
        match self
            .vault
            .set_policy_in(self.tx, self.keys, raw.capability_id.trim(), &update)
        {
            Ok(_) => self.report.imported.push(entry),
            Err(e) => self.skip_or_abort(entry, e)?,
        }
        Ok(())
    }

    fn binding(&mut self, raw: &serde_json::Value) -> Result<()> {
        let mut entry = item("binding", mapping::record_label(raw, "capability"));
        let raw: RawBinding = match mapping::parse(raw) {
            Ok(raw) => raw,
            Err(reason) => return self.skip(entry, reason),
        };
        let new = match self
            .secret_ref(&raw.secret_ref)
            .and_then(|secret_ref| mapping::new_binding(&raw, secret_ref))
        {
            Ok(new) => new,
            Err(reason) => return self.skip(entry, reason),
        };
        entry.scope = Some(new.scope.to_string());
        let taken = self
            .tx
            .bindings_of_capability(new.capability.trim())?
            .iter()
            .any(|b| b.scope == new.scope && b.consumer == new.consumer);
        if taken {
            return self.skip(
                entry,
                "exists: this capability already has a binding for this scope and consumer",
            );
        }
        match self.vault.bind_in(self.tx, self.keys, &new) {
            Ok(_) => self.report.imported.push(entry),
            Err(e) => self.skip_or_abort(entry, e)?,
        }
        Ok(())
    }
}

impl Vault {
    /// Imports a vault of the original aivault tool (`aivault migrate`) in one transaction.
    /// The source is only read. Its key is checked first: a wrong key or passphrase fails
    /// before anything is written.
    ///
    /// # Errors
    /// `decrypt_failed` for a wrong key; `vault_locked` when no key is at hand; `io` for an
    /// unreadable source. Individual records that cannot be imported are listed in the
    /// report's `skipped`, not errors.
    pub fn migrate(&self, source: &OriginalVault, key: &SourceKey) -> Result<MigrationReport> {
        layout::check_target(source.dir(), &self.config().dir)?;
        let kek = source.master_key(key, &self.config().env)?;
        let contents = source.read(&kek)?;
        drop(kek);
        self.write(|tx, keys| self.migrate_in(tx, keys, source, &contents))
    }

    fn migrate_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        source: &OriginalVault,
        contents: &Contents,
    ) -> Result<MigrationReport> {
        let mut run = Run {
            vault: self,
            tx,
            keys,
            now: now_ms(),
            report: MigrationReport {
                source: source.dir().display().to_string(),
                imported: Vec::new(),
                skipped: Vec::new(),
                audit_events_not_imported: contents.audit_events,
            },
            ids: BTreeMap::new(),
        };
        for unreadable in &contents.unreadable {
            let mut entry = item(unreadable.kind, unreadable.id.clone());
            entry.scope = unreadable.scope.clone();
            run.skip(entry, unreadable.reason.clone())?;
        }
        let mut secrets: Vec<&OriginalSecret> = contents.secrets.iter().collect();
        secrets.sort_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
        for secret in secrets {
            run.secret(secret)?;
        }
        for raw in &contents.credentials {
            run.credential(raw)?;
        }
        for raw in &contents.capabilities {
            run.capability(raw)?;
        }
        for raw in &contents.policies {
            run.policy(raw)?;
        }
        for raw in &contents.bindings {
            run.binding(raw)?;
        }
        let report = run.report;
        let count = |kind| report.imported_count(kind);
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::VAULT_MIGRATE).note(format!(
                "from={} secrets={} credentials={} capabilities={} policies={} bindings={} skipped={}",
                report.source,
                count("secret"),
                count("credential"),
                count("capability"),
                count("policy"),
                count("binding"),
                report.skipped.len()
            )),
            now_ms(),
        )?;
        Ok(report)
    }
}
