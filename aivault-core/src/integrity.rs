//! Row authentication (issue 10, the local attacker): every credential, capability, policy and
//! binding row carries an HMAC under a key derived from the vault's audit key (itself wrapped
//! under the master key, so the row key is bound to it and survives master rotation without a
//! re-MAC). [`MacTx`] wraps a keyed transaction: writes store the MAC of what was stored,
//! reads verify the rows they return and fail `integrity_failed` on a missing or wrong MAC,
//! never falling back. Only the rows a call reads are checked (no table scans per call).

use serde::Serialize;

use crate::audit::AuditRecord;
use crate::crypto;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Binding, Credential, CustomCapability, GroupRef, Policy, Scope, SecretMeta};
use crate::sensitive::Key32;
use crate::store::{AuditQuery, SecretFilter, SecretRecord, StoreTx};
use crate::tokens::TokenRecord;

/// HKDF label of the row MAC key (derived from the audit key).
const LABEL_ROWS: &str = "aivault/v1/row-mac";

/// Kinds of authenticated rows (the `kind` column of `row_macs`).
pub(crate) mod kind {
    pub const CREDENTIAL: &str = "credential";
    pub const CAPABILITY: &str = "capability";
    pub const POLICY: &str = "policy";
    pub const BINDING: &str = "binding";
    /// A trusted operator provider file: the id is `<file name>:<sha256>`, the row the id.
    pub const PROVIDER_FILE: &str = "provider_file";
    pub const TOKEN: &str = "token";
    /// The proxy's local CA (`meta` key `proxy_ca`; one row, id `current`).
    pub const PROXY_CA: &str = "proxy_ca";
}

/// The row MAC key of a vault.
pub(crate) fn row_key(audit: &Key32) -> Key32 {
    crypto::derive_key(audit, LABEL_ROWS)
}

/// The id of a binding row: its (capability, scope, consumer) key.
pub(crate) fn binding_id(capability: &str, scope: &Scope, consumer: Option<&str>) -> String {
    serde_json::to_string(&(capability, scope, consumer)).unwrap_or_default()
}

/// The MAC of one row: kind, id and the row's canonical JSON (object keys sorted).
pub(crate) fn row_mac(key: &Key32, kind: &str, id: &str, row: &impl Serialize) -> Result<[u8; 32]> {
    let canonical = serde_json::to_value(row)
        .and_then(|v| serde_json::to_vec(&v))
        .map_err(|e| Error::internal(format!("serialize {kind}: {e}")))?;
    Ok(crypto::hmac_parts(
        key,
        &[
            b"aivault-row-v1",
            &(kind.len() as u64).to_be_bytes(),
            kind.as_bytes(),
            &(id.len() as u64).to_be_bytes(),
            id.as_bytes(),
            &canonical,
        ],
    ))
}

/// Checks a row against its stored MAC.
pub(crate) fn check_row(
    tx: &dyn StoreTx,
    key: &Key32,
    kind: &str,
    id: &str,
    row: &impl Serialize,
) -> Result<()> {
    let expected = row_mac(key, kind, id, row)?;
    let ok = tx.row_mac_get(kind, id)?.is_some_and(|stored| {
        bool::from(subtle::ConstantTimeEq::ct_eq(&stored[..], &expected[..]))
    });
    if ok { Ok(()) } else { Err(tampered(kind, id)) }
}

/// The error for a row that fails its MAC.
pub(crate) fn tampered(kind: &str, id: &str) -> Error {
    Error::new(
        ErrorKind::IntegrityFailed,
        format!(
            "{kind} '{}' in vault.db fails its integrity check: it was changed outside aivault; run `aivault verify`",
            crate::model::printable(id)
        ),
    )
}

/// Stores the MAC of a row.
pub(crate) fn seal_row(
    tx: &dyn StoreTx,
    key: &Key32,
    kind: &str,
    id: &str,
    row: &impl Serialize,
) -> Result<()> {
    tx.row_mac_set(kind, id, &row_mac(key, kind, id, row)?)
}

/// MACs every authenticated row (the upgrade of a vault created before row MACs).
pub(crate) fn seal_all(tx: &dyn StoreTx, key: &Key32) -> Result<()> {
    for c in tx.credential_list()? {
        seal_row(tx, key, kind::CREDENTIAL, &c.id, &c)?;
    }
    for c in tx.capability_list()? {
        seal_row(tx, key, kind::CAPABILITY, &c.id, &c)?;
    }
    for (id, p) in tx.policy_list()? {
        seal_row(tx, key, kind::POLICY, &id, &p)?;
    }
    for b in tx.binding_list()? {
        let id = binding_id(&b.capability, &b.scope, b.consumer.as_deref());
        seal_row(tx, key, kind::BINDING, &id, &b)?;
    }
    for t in tx.token_list()? {
        seal_row(tx, key, kind::TOKEN, &t.id, &t)?;
    }
    Ok(())
}

/// Checks every authenticated row and every stored MAC (a MAC whose row is gone means the row
/// was deleted outside aivault). Returns the number of rows checked and one line per problem
/// (ids and kinds, never values).
pub(crate) fn check_all(tx: &dyn StoreTx, key: &Key32) -> Result<(u64, Vec<String>)> {
    let mut problems = Vec::new();
    let mut present = std::collections::BTreeSet::new();
    let mut check = |kind: &str, id: String, row: &dyn erased::Row| -> Result<()> {
        let expected = row.mac(key, kind, &id)?;
        let ok = tx.row_mac_get(kind, &id)?.is_some_and(|stored| {
            bool::from(subtle::ConstantTimeEq::ct_eq(&stored[..], &expected[..]))
        });
        if !ok {
            problems.push(tampered(kind, &id).message().to_string());
        }
        present.insert((kind.to_string(), id));
        Ok(())
    };
    for c in tx.credential_list()? {
        check(kind::CREDENTIAL, c.id.clone(), &c)?;
    }
    for c in tx.capability_list()? {
        check(kind::CAPABILITY, c.id.clone(), &c)?;
    }
    for (id, p) in tx.policy_list()? {
        check(kind::POLICY, id, &p)?;
    }
    for b in tx.binding_list()? {
        let id = binding_id(&b.capability, &b.scope, b.consumer.as_deref());
        check(kind::BINDING, id, &b)?;
    }
    for t in tx.token_list()? {
        check(kind::TOKEN, t.id.clone(), &t)?;
    }
    if let Some(text) = tx.meta_get(crate::proxy_ca::META_KEY)? {
        let id = crate::proxy_ca::ROW_ID.to_string();
        match serde_json::from_str::<crate::proxy_ca::StoredCa>(&text) {
            Ok(ca) => check(kind::PROXY_CA, id, &ca)?,
            // Not even the shape of the row: its text cannot match the MAC either.
            Err(_) => check(kind::PROXY_CA, id, &text)?,
        }
    }
    for id in tx.row_mac_ids(kind::PROVIDER_FILE)? {
        check(kind::PROVIDER_FILE, id.clone(), &id)?;
    }
    for (kind, id) in tx.row_mac_keys()? {
        if !present.contains(&(kind.clone(), id.clone())) {
            problems.push(format!(
                "{kind} '{}' was deleted from vault.db outside aivault",
                crate::model::printable(&id)
            ));
        }
    }
    let checked = present.len() as u64;
    Ok((checked, problems))
}

mod erased {
    use super::*;
    /// A serializable row behind a trait object.
    pub trait Row {
        fn mac(&self, key: &Key32, kind: &str, id: &str) -> Result<[u8; 32]>;
    }
    impl<T: Serialize> Row for T {
        fn mac(&self, key: &Key32, kind: &str, id: &str) -> Result<[u8; 32]> {
            row_mac(key, kind, id, self)
        }
    }
}

/// The vault's row state (meta `rows_state`): a generation counter, incremented by every change
/// of a row MAC, and an accumulator, the XOR of HMAC(row key, kind, id, MAC) over every stored
/// row MAC, tagged with the row key. A row restored with its old MAC, a row deleted with its
/// MAC, or a MAC added by hand changes the set but not the accumulator: [`check_state`]
/// detects it.
const STATE: &str = "rows_state";

fn entry(key: &Key32, kind: &str, id: &str, mac: &[u8]) -> [u8; 32] {
    crypto::hmac_parts(
        key,
        &[
            b"aivault-rows-entry-v1",
            &(kind.len() as u64).to_be_bytes(),
            kind.as_bytes(),
            &(id.len() as u64).to_be_bytes(),
            id.as_bytes(),
            mac,
        ],
    )
}

fn xor(acc: &mut [u8; 32], value: &[u8; 32]) {
    for (a, v) in acc.iter_mut().zip(value) {
        *a ^= v;
    }
}

fn state_tag(key: &Key32, generation: u64, acc: &[u8; 32]) -> [u8; 32] {
    crypto::hmac_parts(
        key,
        &[b"aivault-rows-state-v1", &generation.to_be_bytes(), acc],
    )
}

fn state_broken(why: &str) -> Error {
    Error::new(
        ErrorKind::IntegrityFailed,
        format!(
            "the vault's row state does not match its rows ({why}): rows of vault.db were restored, deleted or added outside aivault; run `aivault verify`"
        ),
    )
}

/// Reads and authenticates the stored state.
fn read_state(tx: &dyn StoreTx, key: &Key32) -> Result<(u64, [u8; 32])> {
    let text = tx
        .meta_get(STATE)?
        .ok_or_else(|| state_broken("the state is missing"))?;
    let mut parts = text.split(':');
    let generation = parts.next().and_then(|g| g.parse::<u64>().ok());
    let acc = parts
        .next()
        .and_then(crypto::from_hex)
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    let tag = parts.next().and_then(crypto::from_hex);
    let (Some(generation), Some(acc), Some(tag)) = (generation, acc, tag) else {
        return Err(state_broken("the state is malformed"));
    };
    let expected = state_tag(key, generation, &acc);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag[..], &expected[..])) {
        return Err(state_broken("its tag is wrong"));
    }
    Ok((generation, acc))
}

fn write_state(tx: &dyn StoreTx, key: &Key32, generation: u64, acc: &[u8; 32]) -> Result<()> {
    let tag = state_tag(key, generation, acc);
    tx.meta_set(
        STATE,
        &format!(
            "{generation}:{}:{}",
            crypto::to_hex(acc),
            crypto::to_hex(&tag)
        ),
    )
}

/// Applies one change to the authenticated state (checked first: a forged state is never
/// re-tagged).
fn update_state(tx: &dyn StoreTx, key: &Key32, change: impl FnOnce(&mut [u8; 32])) -> Result<()> {
    let (generation, mut acc) = read_state(tx, key)?;
    change(&mut acc);
    write_state(tx, key, generation + 1, &acc)
}

/// The accumulator of the row MACs actually stored.
fn accumulate(tx: &dyn StoreTx, key: &Key32) -> Result<[u8; 32]> {
    let mut acc = [0u8; 32];
    for (kind, id, mac) in tx.row_mac_all()? {
        xor(&mut acc, &entry(key, &kind, &id, &mac));
    }
    Ok(acc)
}

/// The raw state row (to tell whether a transaction changed it).
pub(crate) fn state_row(tx: &dyn StoreTx) -> Result<Option<String>> {
    tx.meta_get(STATE)
}

/// The authenticated generation of the row state.
pub(crate) fn generation(tx: &dyn StoreTx, key: &Key32) -> Result<u64> {
    read_state(tx, key).map(|(generation, _)| generation)
}

/// Where the last row-state generation is recorded outside vault.db: beside the configured
/// key file (outside the data directory in the default layout), so replacing vault.db with an
/// older copy of itself is detected.
pub(crate) fn generation_file(
    config: &crate::config::Config,
    vault_id: &str,
) -> std::path::PathBuf {
    config
        .default_key_file
        .with_file_name(format!("aivault-{vault_id}.generation"))
}

/// The generation recorded outside vault.db, if any.
pub(crate) fn recorded_generation(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Records `generation` outside vault.db after a commit (never lowering it; best effort: the
/// commit already happened, and a missing record only weakens the rollback check).
pub(crate) fn record_generation(path: &std::path::Path, generation: u64) {
    if recorded_generation(path).is_some_and(|g| g >= generation) {
        return;
    }
    let Some(dir) = path.parent() else { return };
    if crate::keys::ensure_private_dir(dir).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("generation.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, format!("{generation}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// (Re)computes the state from the stored MACs (vault creation and the integrity upgrade).
/// `generation` is where it starts (past any generation recorded outside vault.db).
pub(crate) fn init_state(tx: &dyn StoreTx, key: &Key32, generation: u64) -> Result<()> {
    let acc = accumulate(tx, key)?;
    write_state(tx, key, generation, &acc)
}

/// Checks the stored state against every stored row MAC (one pass over `row_macs`; run once
/// per vault handle and by `verify`). Returns the generation.
///
/// # Errors
/// `integrity_failed` when the state is missing, forged, or does not match the rows.
pub(crate) fn check_state(tx: &dyn StoreTx, key: &Key32) -> Result<u64> {
    let (generation, acc) = read_state(tx, key)?;
    if accumulate(tx, key)? != acc {
        return Err(state_broken(
            "the set of row MACs differs from the recorded one",
        ));
    }
    Ok(generation)
}

/// A transaction whose authenticated rows are MACed on write and verified on read.
pub(crate) struct MacTx<'a> {
    pub inner: &'a dyn StoreTx,
    pub key: &'a Key32,
}

impl MacTx<'_> {
    fn check<T: Serialize>(&self, kind: &str, id: &str, row: &T) -> Result<()> {
        check_row(self.inner, self.key, kind, id, row)
    }
    fn check_binding(&self, b: &Binding) -> Result<()> {
        let id = binding_id(&b.capability, &b.scope, b.consumer.as_deref());
        self.check(kind::BINDING, &id, b)
    }
    fn check_bindings(&self, bindings: Vec<Binding>) -> Result<Vec<Binding>> {
        for b in &bindings {
            self.check_binding(b)?;
        }
        Ok(bindings)
    }
    fn check_tokens(&self, tokens: Vec<TokenRecord>) -> Result<Vec<TokenRecord>> {
        for t in &tokens {
            self.check(kind::TOKEN, &t.id, t)?;
        }
        Ok(tokens)
    }
    fn check_credentials(&self, credentials: Vec<Credential>) -> Result<Vec<Credential>> {
        for c in &credentials {
            self.check(kind::CREDENTIAL, &c.id, c)?;
        }
        Ok(credentials)
    }
}

impl StoreTx for MacTx<'_> {
    fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.inner.meta_get(key)
    }
    fn vault_generation(&self) -> Result<Option<i64>> {
        self.inner.vault_generation()
    }
    fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.inner.meta_set(key, value)
    }
    fn meta_delete(&self, key: &str) -> Result<()> {
        self.inner.meta_delete(key)
    }
    fn secret_insert(&self, record: &SecretRecord) -> Result<()> {
        self.inner.secret_insert(record)
    }
    fn secret_get(&self, id: &str) -> Result<Option<SecretRecord>> {
        self.inner.secret_get(id)
    }
    fn secret_by_label(&self, scope: &Scope, label: &str) -> Result<Option<String>> {
        self.inner.secret_by_label(scope, label)
    }
    fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<String>> {
        self.inner.secret_by_name(scope, name)
    }
    fn secret_list(&self, filter: &SecretFilter) -> Result<Vec<SecretMeta>> {
        self.inner.secret_list(filter)
    }
    fn secret_set_name(&self, id: &str, name: &str, now_ms: i64) -> Result<()> {
        self.inner.secret_set_name(id, name, now_ms)
    }
    fn secret_set_aliases(
        &self,
        id: &str,
        scope: &Scope,
        aliases: &[String],
        now_ms: i64,
    ) -> Result<()> {
        self.inner.secret_set_aliases(id, scope, aliases, now_ms)
    }
    fn secret_set_value(
        &self,
        id: &str,
        version: u64,
        envelope: &crate::store::Envelope,
        now_ms: i64,
    ) -> Result<()> {
        self.inner.secret_set_value(id, version, envelope, now_ms)
    }
    fn secret_set_wrapped_dek(&self, id: &str, dek_nonce: &[u8], wrapped_dek: &[u8]) -> Result<()> {
        self.inner
            .secret_set_wrapped_dek(id, dek_nonce, wrapped_dek)
    }
    fn secret_ids(&self) -> Result<Vec<String>> {
        self.inner.secret_ids()
    }
    fn secret_delete(&self, id: &str) -> Result<()> {
        // The store drops the secret's bindings with it: their MACs go too.
        let bindings = self.inner.bindings_using_secret(id)?;
        self.inner.secret_delete(id)?;
        for b in bindings {
            let id = binding_id(&b.capability, &b.scope, b.consumer.as_deref());
            self.row_mac_delete(kind::BINDING, &id)?;
        }
        Ok(())
    }
    fn group_attach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool> {
        self.inner.group_attach(id, group, now_ms)
    }
    fn group_detach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool> {
        self.inner.group_detach(id, group, now_ms)
    }

    fn credential_upsert(&self, credential: &Credential) -> Result<()> {
        self.inner.credential_upsert(credential)?;
        // MAC what the store holds now (its own normal form).
        let stored = self
            .inner
            .credential_get(&credential.id)?
            .ok_or_else(|| Error::internal("credential vanished after upsert"))?;
        seal_row(self, self.key, kind::CREDENTIAL, &stored.id, &stored)
    }
    fn credential_get(&self, id: &str) -> Result<Option<Credential>> {
        let found = self.inner.credential_get(id)?;
        if let Some(c) = &found {
            self.check(kind::CREDENTIAL, &c.id, c)?;
        }
        Ok(found)
    }
    fn credential_list(&self) -> Result<Vec<Credential>> {
        self.check_credentials(self.inner.credential_list()?)
    }
    fn credentials_using_secret(&self, secret_id: &str) -> Result<Vec<String>> {
        self.inner.credentials_using_secret(secret_id)
    }
    fn credential_delete(&self, id: &str) -> Result<()> {
        self.inner.credential_delete(id)?;
        self.row_mac_delete(kind::CREDENTIAL, id)
    }
    fn credentials_of_provider(&self, provider: &str) -> Result<Vec<Credential>> {
        self.check_credentials(self.inner.credentials_of_provider(provider)?)
    }
    fn secret_attached(&self, secret_id: &str, group: &GroupRef) -> Result<bool> {
        self.inner.secret_attached(secret_id, group)
    }

    fn capability_insert(&self, capability: &CustomCapability) -> Result<()> {
        self.inner.capability_insert(capability)?;
        let stored = self
            .inner
            .capability_get(&capability.id)?
            .ok_or_else(|| Error::internal("capability vanished after insert"))?;
        seal_row(self, self.key, kind::CAPABILITY, &stored.id, &stored)
    }
    fn capability_get(&self, id: &str) -> Result<Option<CustomCapability>> {
        let found = self.inner.capability_get(id)?;
        if let Some(c) = &found {
            self.check(kind::CAPABILITY, &c.id, c)?;
        }
        Ok(found)
    }
    fn capability_list(&self) -> Result<Vec<CustomCapability>> {
        let list = self.inner.capability_list()?;
        for c in &list {
            self.check(kind::CAPABILITY, &c.id, c)?;
        }
        Ok(list)
    }
    fn capability_delete(&self, id: &str) -> Result<bool> {
        let deleted = self.inner.capability_delete(id)?;
        self.row_mac_delete(kind::CAPABILITY, id)?;
        Ok(deleted)
    }

    fn policy_get(&self, capability: &str) -> Result<Option<Policy>> {
        let found = self.inner.policy_get(capability)?;
        if let Some(p) = &found {
            self.check(kind::POLICY, capability, p)?;
        }
        Ok(found)
    }
    fn policy_set(&self, capability: &str, policy: &Policy, now_ms: i64) -> Result<()> {
        self.inner.policy_set(capability, policy, now_ms)?;
        let stored = self
            .inner
            .policy_get(capability)?
            .ok_or_else(|| Error::internal("policy vanished after set"))?;
        seal_row(self, self.key, kind::POLICY, capability, &stored)
    }
    fn policy_delete(&self, capability: &str) -> Result<bool> {
        let deleted = self.inner.policy_delete(capability)?;
        self.row_mac_delete(kind::POLICY, capability)?;
        Ok(deleted)
    }
    fn policy_list(&self) -> Result<Vec<(String, Policy)>> {
        let list = self.inner.policy_list()?;
        for (id, p) in &list {
            self.check(kind::POLICY, id, p)?;
        }
        Ok(list)
    }

    fn binding_upsert(&self, binding: &Binding) -> Result<bool> {
        let replaced = self.inner.binding_upsert(binding)?;
        let id = binding_id(
            &binding.capability,
            &binding.scope,
            binding.consumer.as_deref(),
        );
        let stored = self
            .inner
            .bindings_of_capability(&binding.capability)?
            .into_iter()
            .find(|b| binding_id(&b.capability, &b.scope, b.consumer.as_deref()) == id)
            .ok_or_else(|| Error::internal("binding vanished after upsert"))?;
        seal_row(self, self.key, kind::BINDING, &id, &stored)?;
        Ok(replaced)
    }
    fn binding_delete(
        &self,
        capability: &str,
        scope: &Scope,
        consumer: Option<&str>,
    ) -> Result<bool> {
        let deleted = self.inner.binding_delete(capability, scope, consumer)?;
        self.row_mac_delete(kind::BINDING, &binding_id(capability, scope, consumer))?;
        Ok(deleted)
    }
    fn bindings_of_capability(&self, capability: &str) -> Result<Vec<Binding>> {
        self.check_bindings(self.inner.bindings_of_capability(capability)?)
    }
    fn binding_list(&self) -> Result<Vec<Binding>> {
        self.check_bindings(self.inner.binding_list()?)
    }
    fn bindings_using_secret(&self, secret_id: &str) -> Result<Vec<Binding>> {
        self.check_bindings(self.inner.bindings_using_secret(secret_id)?)
    }

    fn rate_limit_take(
        &self,
        capability: &str,
        now_ms: i64,
        window_ms: i64,
        limit: u32,
    ) -> Result<bool> {
        self.inner
            .rate_limit_take(capability, now_ms, window_ms, limit)
    }
    fn audit_append(&self, record: &AuditRecord) -> Result<()> {
        self.inner.audit_append(record)
    }
    fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.inner.audit_query(query)
    }
    fn audit_all(&self) -> Result<Vec<AuditRecord>> {
        self.inner.audit_all()
    }
    fn counts(&self) -> Result<(u64, u64, u64)> {
        self.inner.counts()
    }
    fn row_mac_get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>> {
        self.inner.row_mac_get(kind, id)
    }
    fn row_mac_set(&self, kind: &str, id: &str, mac: &[u8]) -> Result<()> {
        let old = self.inner.row_mac_get(kind, id)?;
        self.inner.row_mac_set(kind, id, mac)?;
        update_state(self.inner, self.key, |acc| {
            if let Some(old) = &old {
                xor(acc, &entry(self.key, kind, id, old));
            }
            xor(acc, &entry(self.key, kind, id, mac));
        })
    }
    fn row_mac_delete(&self, kind: &str, id: &str) -> Result<()> {
        let Some(old) = self.inner.row_mac_get(kind, id)? else {
            return Ok(());
        };
        self.inner.row_mac_delete(kind, id)?;
        update_state(self.inner, self.key, |acc| {
            xor(acc, &entry(self.key, kind, id, &old))
        })
    }
    fn row_mac_all(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        self.inner.row_mac_all()
    }
    fn token_put(&self, token: &TokenRecord) -> Result<()> {
        self.inner.token_put(token)?;
        seal_row(self, self.key, kind::TOKEN, &token.id, token)
    }
    fn token_get(&self, label: &str) -> Result<Option<TokenRecord>> {
        self.check_tokens(self.inner.token_get(label)?.into_iter().collect())
            .map(|mut found| found.pop())
    }
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.check_tokens(self.inner.token_by_hash(hash)?.into_iter().collect())
            .map(|mut found| found.pop())
    }
    fn token_list(&self) -> Result<Vec<TokenRecord>> {
        self.check_tokens(self.inner.token_list()?)
    }
    fn row_mac_keys(&self) -> Result<Vec<(String, String)>> {
        self.inner.row_mac_keys()
    }
    fn row_mac_ids(&self, kind: &str) -> Result<Vec<String>> {
        self.inner.row_mac_ids(kind)
    }
}
