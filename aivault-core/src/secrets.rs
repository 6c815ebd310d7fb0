//! Secret operations of the [`Vault`]: create, list, update, rotate, delete, group
//! attachment, bulk import and decryption checks. Values go in, never out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::envelope::{self, Binding};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{self, GroupRef, Scope, SecretMeta, printable};
use crate::provision::{self, Provisioning};
use crate::sensitive::SecretValue;
use crate::store::{SecretFilter, SecretRecord, StoreTx};
use crate::vault::{Keys, Vault, new_id, now_ms};

/// Largest accepted secret value (certificates and OAuth JSON fit easily).
pub const MAX_VALUE_LEN: usize = 1024 * 1024;

/// A secret to create.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Unique name within the scope.
    pub name: String,
    /// The value.
    pub value: SecretValue,
    /// Where it lives.
    pub scope: Scope,
    /// Extra unique labels within the scope.
    pub aliases: Vec<String>,
}

/// Changes to a secret's metadata (`secrets update`).
#[derive(Debug, Clone, Default)]
pub struct SecretUpdate {
    /// A new name.
    pub name: Option<String>,
    /// Replaces every alias (`Some(vec![])` clears them).
    pub aliases: Option<Vec<String>>,
}

/// The result of creating or rotating a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOutcome {
    /// The secret's metadata afterwards.
    pub secret: SecretMeta,
    /// What happened to its provider's credential, for registry-claimed names.
    pub provisioning: Option<Provisioning>,
}

/// The result of deleting a secret (its JSON: `{"secret", "removedCredentials",
/// "removedBindings"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutcome {
    /// The deleted secret's metadata.
    pub secret: SecretMeta,
    /// Credentials removed because they injected it.
    pub removed_credentials: Vec<String>,
    /// Bindings removed because they selected it.
    pub removed_bindings: usize,
}

/// The result of `secrets import` (its JSON is the brief's `{"created","rotated","skipped"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Names created.
    pub created: Vec<String>,
    /// Names that existed in the scope and got a new value.
    pub rotated: Vec<String>,
    /// Names skipped because their value was empty.
    pub skipped: Vec<String>,
    /// Provisioning results, in name order.
    #[serde(skip)]
    pub provisioning: Vec<Provisioning>,
}

/// The result of decrypting every secret (`secrets verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretsCheck {
    /// Number of secrets checked.
    pub checked: usize,
    /// Secrets that failed to decrypt.
    pub failed: Vec<SecretFailure>,
}

/// One secret that failed its check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretFailure {
    /// Its id.
    pub secret_id: String,
    /// Its name.
    pub name: String,
    /// The error kind (`decrypt_failed`).
    pub kind: String,
    /// The error message.
    pub message: String,
}

fn check_value(value: &SecretValue) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid("the secret value cannot be empty"));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::invalid(format!(
            "the secret value is larger than {MAX_VALUE_LEN} bytes"
        )));
    }
    Ok(())
}

/// The shortest value a secret claimed by a registry provider may have: the broker redacts
/// what it injects from responses, and a shorter value occurs by chance in ordinary text
/// (and in the halves an echoing upstream could split it into), so it cannot be redacted
/// safely.
pub const MIN_PROVIDER_SECRET_LEN: usize = 8;

/// Refuses a value too short to redact for a secret `name` pinned to registry `provider`.
fn check_provider_value(name: &str, provider: &str, value: &SecretValue) -> Result<()> {
    if value.len() < MIN_PROVIDER_SECRET_LEN {
        return Err(Error::invalid(format!(
            "the value of {} is shorter than {MIN_PROVIDER_SECRET_LEN} bytes; a secret for \
             registry provider {provider} must be at least {MIN_PROVIDER_SECRET_LEN} bytes so \
             that responses can be redacted safely",
            printable(name)
        )));
    }
    Ok(())
}

/// What a secret's envelope is bound to (its AAD).
pub(crate) fn binding<'a>(keys: &'a Keys, meta: &'a SecretMeta) -> Binding<'a> {
    Binding {
        vault_id: &keys.vault_id,
        secret_id: &meta.secret_id,
        scope: &meta.scope,
        pinned_provider: meta.pinned_provider.as_deref(),
        value_version: meta.value_version,
    }
}

/// Fails unless every label is free in `scope` (as a name and as an alias), except for
/// labels already held by `owner`.
fn check_labels_free(
    tx: &dyn StoreTx,
    scope: &Scope,
    labels: &[&str],
    owner: Option<&str>,
) -> Result<()> {
    for (i, label) in labels.iter().enumerate() {
        if labels[..i].contains(label) {
            return Err(Error::invalid(format!(
                "'{}' is given twice (names and aliases must be distinct)",
                printable(label)
            )));
        }
        if let Some(holder) = tx.secret_by_label(scope, label)?
            && Some(holder.as_str()) != owner
        {
            return Err(Error::exists(format!(
                "a secret named or aliased '{}' already exists in scope {scope} (id {holder})",
                printable(label)
            )));
        }
    }
    Ok(())
}

fn get_record(tx: &dyn StoreTx, id: &str) -> Result<SecretRecord> {
    let id = model::validate_secret_id(id)?;
    tx.secret_get(&id)?
        .ok_or_else(|| Error::not_found(format!("no secret with id {id}")))
}

impl Vault {
    /// Creates a secret (`secrets create`). A name claimed by a registry provider pins the
    /// secret and provisions the provider's credential once all its secrets exist in the scope,
    /// all in one transaction.
    ///
    /// # Errors
    /// `invalid_input` (empty name or value, bad aliases), `already_exists` (name or alias
    /// taken in the scope), `vault_locked` / `decrypt_failed` (key unavailable or wrong).
    pub fn create_secret(&self, secret: NewSecret) -> Result<SecretOutcome> {
        let name = model::validate_label("secret name", &secret.name)?;
        let aliases = model::normalize_aliases(&secret.aliases)?;
        check_value(&secret.value)?;
        self.write(|tx, keys| {
            self.create_in(
                tx,
                keys,
                &name,
                &secret.value,
                &secret.scope,
                aliases,
                now_ms(),
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        name: &str,
        value: &SecretValue,
        scope: &Scope,
        aliases: Vec<String>,
        now: i64,
    ) -> Result<SecretOutcome> {
        let mut labels = vec![name];
        labels.extend(aliases.iter().map(String::as_str));
        check_labels_free(tx, scope, &labels, None)?;
        let claim = self.registry().claim(name);
        if let Some(claim) = &claim {
            check_provider_value(name, &claim.provider.id, value)?;
        }
        let meta = SecretMeta {
            secret_id: new_id()?,
            name: name.to_string(),
            aliases,
            scope: scope.clone(),
            pinned_provider: claim.map(|c| c.provider.id.clone()),
            created_at_ms: now,
            updated_at_ms: now,
            value_version: 1,
            attached_groups: Vec::new(),
        };
        let envelope = envelope::seal_value(&keys.wrapping, &binding(keys, &meta), value.expose())?;
        tx.secret_insert(&SecretRecord {
            meta: meta.clone(),
            envelope,
        })?;
        let event = |kind| NewEvent::new(kind).secret(&meta.secret_id).scope(scope);
        audit::append(
            tx,
            &keys.audit,
            event(kinds::SECRET_CREATE).note(format!("name={name}")),
            now,
        )?;
        let provisioning = match claim {
            Some(claim) => {
                audit::append(
                    tx,
                    &keys.audit,
                    event(kinds::SECRET_PIN_PROVIDER)
                        .note(format!("provider={}", claim.provider.id)),
                    now,
                )?;
                Some(provision::provision(tx, &keys.audit, &claim, scope, now)?)
            }
            None => None,
        };
        Ok(SecretOutcome {
            secret: meta,
            provisioning,
        })
    }

    /// Lists secret metadata (no values), sorted by name.
    pub fn list_secrets(&self, filter: &SecretFilter) -> Result<Vec<SecretMeta>> {
        filter.check()?;
        self.read(|tx| tx.secret_list(filter))
    }

    /// One secret's metadata.
    ///
    /// # Errors
    /// `invalid_input` for a malformed id, `not_found` for an unknown one.
    pub fn get_secret(&self, id: &str) -> Result<SecretMeta> {
        self.read(|tx| get_record(tx, id).map(|r| r.meta))
    }

    /// Renames a secret and/or replaces its aliases. A pinned secret's name is fixed, and no
    /// secret can take a name a registry provider claims.
    pub fn update_secret(&self, id: &str, update: SecretUpdate) -> Result<SecretMeta> {
        if update.name.is_none() && update.aliases.is_none() {
            return Err(Error::invalid(
                "nothing to update: give --name, --alias or --clear-aliases",
            ));
        }
        let name = update
            .name
            .as_deref()
            .map(|n| model::validate_label("secret name", n))
            .transpose()?;
        let aliases = update
            .aliases
            .as_deref()
            .map(model::normalize_aliases)
            .transpose()?;
        self.write(|tx, keys| {
            let record = get_record(tx, id)?;
            let meta = &record.meta;
            let now = now_ms();
            let new_name = name.clone().filter(|n| *n != meta.name);
            if let Some(new_name) = &new_name {
                if let Some(provider) = &meta.pinned_provider {
                    return Err(Error::new(
                        ErrorKind::PolicyViolation,
                        format!("secret {} is pinned to provider {provider}; its name cannot change", meta.secret_id),
                    ));
                }
                if let Some(claim) = self.registry().claim(new_name) {
                    return Err(Error::new(
                        ErrorKind::PolicyViolation,
                        format!(
                            "the name {new_name} is claimed by registry provider {}; store it with `secrets create --name {new_name}` instead",
                            claim.provider.id
                        ),
                    ));
                }
            }
            let final_name = new_name.as_deref().unwrap_or(&meta.name);
            let final_aliases = aliases.as_deref().unwrap_or(&meta.aliases);
            let mut labels = vec![final_name];
            labels.extend(final_aliases.iter().map(String::as_str));
            check_labels_free(tx, &meta.scope, &labels, Some(&meta.secret_id))?;
            let mut changed = Vec::new();
            if let Some(new_name) = &new_name {
                tx.secret_set_name(&meta.secret_id, new_name, now)?;
                changed.push(format!("name={new_name}"));
            }
            if let Some(aliases) = &aliases {
                tx.secret_set_aliases(&meta.secret_id, &meta.scope, aliases, now)?;
                changed.push(format!("aliases={}", aliases.join(",")));
            }
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::SECRET_UPDATE)
                    .secret(&meta.secret_id)
                    .scope(&meta.scope)
                    .note(changed.join(" ")),
                now,
            )?;
            get_record(tx, &meta.secret_id).map(|r| r.meta)
        })
    }

    /// Replaces a secret's value under a fresh DEK; the value version goes up by one. For a
    /// pinned secret the provider's credential is provisioned again if it was missing.
    pub fn rotate_secret(&self, id: &str, value: SecretValue) -> Result<SecretOutcome> {
        check_value(&value)?;
        self.write(|tx, keys| {
            let record = get_record(tx, id)?;
            self.rotate_in(tx, keys, record.meta, &value, now_ms())
        })
    }

    fn rotate_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        mut meta: SecretMeta,
        value: &SecretValue,
        now: i64,
    ) -> Result<SecretOutcome> {
        if let Some(provider) = &meta.pinned_provider {
            check_provider_value(&meta.name, provider, value)?;
        }
        meta.value_version += 1;
        meta.updated_at_ms = now;
        let envelope = envelope::seal_value(&keys.wrapping, &binding(keys, &meta), value.expose())?;
        tx.secret_set_value(&meta.secret_id, meta.value_version, &envelope, now)?;
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::SECRET_ROTATE)
                .secret(&meta.secret_id)
                .scope(&meta.scope)
                .note(format!("version={}", meta.value_version)),
            now,
        )?;
        let claim = meta
            .pinned_provider
            .as_ref()
            .and_then(|_| self.registry().claim(&meta.name));
        let provisioning = match claim {
            Some(claim) => Some(provision::provision(
                tx,
                &keys.audit,
                &claim,
                &meta.scope,
                now,
            )?),
            None => None,
        };
        Ok(SecretOutcome {
            secret: meta,
            provisioning,
        })
    }

    /// Deletes a secret: its ciphertext is destroyed, and the credentials that inject it are
    /// removed in the same transaction. Its name can be used again.
    pub fn delete_secret(&self, id: &str) -> Result<DeleteOutcome> {
        let outcome = self.write(|tx, keys| {
            let record = get_record(tx, id)?;
            let meta = record.meta;
            let now = now_ms();
            let removed = tx.credentials_using_secret(&meta.secret_id)?;
            for credential in &removed {
                tx.credential_delete(credential)?;
                audit::append(
                    tx,
                    &keys.audit,
                    NewEvent::new(kinds::CREDENTIAL_DELETE)
                        .credential(credential)
                        .secret(&meta.secret_id)
                        .note("its secret was deleted"),
                    now,
                )?;
            }
            let bindings = tx.bindings_using_secret(&meta.secret_id)?;
            for binding in &bindings {
                tx.binding_delete(
                    &binding.capability,
                    &binding.scope,
                    binding.consumer.as_deref(),
                )?;
                audit::append(
                    tx,
                    &keys.audit,
                    NewEvent::new(kinds::CAPABILITY_UNBIND)
                        .capability(&binding.capability)
                        .secret(&meta.secret_id)
                        .scope(&binding.scope)
                        .note("its secret was deleted"),
                    now,
                )?;
            }
            tx.secret_delete(&meta.secret_id)?;
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::SECRET_DELETE)
                    .secret(&meta.secret_id)
                    .scope(&meta.scope)
                    .note(format!("name={}", meta.name)),
                now,
            )?;
            Ok(DeleteOutcome {
                secret: meta,
                removed_credentials: removed,
                removed_bindings: bindings.len(),
            })
        })?;
        self.purge_deleted()?;
        Ok(outcome)
    }

    /// Attaches a global secret to a workspace group, making it a candidate in that group's
    /// context. Attaching twice is harmless.
    pub fn attach_group(&self, id: &str, group: &GroupRef) -> Result<SecretMeta> {
        self.change_group(id, group, true)
    }

    /// Detaches a secret from a group.
    ///
    /// # Errors
    /// `not_found` when it was not attached.
    pub fn detach_group(&self, id: &str, group: &GroupRef) -> Result<SecretMeta> {
        self.change_group(id, group, false)
    }

    fn change_group(&self, id: &str, group: &GroupRef, attach: bool) -> Result<SecretMeta> {
        let group = GroupRef::new(&group.workspace_id, &group.group_id)?;
        self.write(|tx, keys| {
            let meta = get_record(tx, id)?.meta;
            let now = now_ms();
            if attach && meta.scope != Scope::Global {
                return Err(Error::invalid(format!(
                    "secret {} has scope {}; only global secrets are attached to groups",
                    meta.secret_id, meta.scope
                )));
            }
            let changed = if attach {
                tx.group_attach(&meta.secret_id, &group, now)?
            } else {
                tx.group_detach(&meta.secret_id, &group, now)?
            };
            if !attach && !changed {
                return Err(Error::not_found(format!(
                    "secret {} is not attached to group {}/{}",
                    meta.secret_id, group.workspace_id, group.group_id
                )));
            }
            if changed {
                let kind = if attach {
                    kinds::SECRET_ATTACH
                } else {
                    kinds::SECRET_DETACH
                };
                audit::append(
                    tx,
                    &keys.audit,
                    NewEvent::new(kind)
                        .secret(&meta.secret_id)
                        .scope(format!("group:{}:{}", group.workspace_id, group.group_id)),
                    now,
                )?;
            }
            get_record(tx, &meta.secret_id).map(|r| r.meta)
        })
    }

    /// Imports many secrets into one scope in one transaction: each entry is created as
    /// `create` would, an existing name in the scope is rotated, an empty value is skipped.
    ///
    /// # Errors
    /// Any invalid entry (empty or duplicate name, name taken by an alias) fails the whole
    /// import and nothing is written.
    pub fn import_secrets(
        &self,
        entries: Vec<(String, SecretValue)>,
        scope: &Scope,
    ) -> Result<ImportReport> {
        let mut sorted = BTreeMap::new();
        for (name, value) in entries {
            let name = model::validate_label("entry name", &name)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(Error::invalid(format!(
                    "the value of {name} is larger than {MAX_VALUE_LEN} bytes"
                )));
            }
            if sorted.insert(name.clone(), value).is_some() {
                return Err(Error::invalid(format!(
                    "{} is given more than once",
                    printable(&name)
                )));
            }
        }
        if sorted.is_empty() {
            return Err(Error::invalid(
                "nothing to import: give --entry KEY=VALUE or --env-file PATH",
            ));
        }
        let half = sorted.len() / 2;
        self.write(|tx, keys| {
            let now = now_ms();
            let mut report = ImportReport::default();
            for (i, (name, value)) in sorted.iter().enumerate() {
                if i == half {
                    self.stall("import-mid");
                }
                if value.is_empty() {
                    report.skipped.push(name.clone());
                    continue;
                }
                let outcome = match tx.secret_by_name(scope, name)? {
                    Some(id) => {
                        report.rotated.push(name.clone());
                        let meta = get_record(tx, &id)?.meta;
                        self.rotate_in(tx, keys, meta, value, now)?
                    }
                    None => {
                        report.created.push(name.clone());
                        self.create_in(tx, keys, name, value, scope, Vec::new(), now)?
                    }
                };
                report.provisioning.extend(outcome.provisioning);
            }
            // A provider completed later in this import is no longer waiting.
            let completed: Vec<String> = report
                .provisioning
                .iter()
                .filter_map(|p| match p {
                    Provisioning::Provisioned { provider, .. } => Some(provider.clone()),
                    Provisioning::Waiting { .. } => None,
                })
                .collect();
            report.provisioning.retain(|p| match p {
                Provisioning::Waiting { provider, .. } => !completed.contains(provider),
                Provisioning::Provisioned { .. } => true,
            });
            Ok(report)
        })
    }

    /// Decrypts every secret and reports those that fail (values are discarded at once).
    pub fn check_secrets(&self) -> Result<SecretsCheck> {
        // Raw: a whole-vault check reports row problems (`verify`) instead of stopping at them.
        self.read_keyed_raw(|tx, keys| {
            let mut check = SecretsCheck::default();
            for id in tx.secret_ids()? {
                let Some(record) = tx.secret_get(&id)? else {
                    continue;
                };
                check.checked += 1;
                if let Err(e) = envelope::open_value(
                    &keys.wrapping,
                    &binding(keys, &record.meta),
                    &record.envelope,
                ) {
                    check.failed.push(SecretFailure {
                        secret_id: record.meta.secret_id.clone(),
                        name: record.meta.name.clone(),
                        kind: e.kind().as_str().to_string(),
                        message: e.message().to_string(),
                    });
                }
            }
            Ok(check)
        })
    }
}
