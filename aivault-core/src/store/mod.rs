//! Persistence behind a trait, so a shared PostgreSQL store can serve a team later while
//! SQLite stays the embedded default. Every method runs inside a transaction opened by
//! [`Store::read`] or [`Store::write`]; a write closure that fails rolls everything back.

mod schema;
mod sqlite;

pub use sqlite::SqliteStore;

use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::{
    Binding, Credential, CustomCapability, GroupRef, Policy, Scope, ScopeKind, SecretMeta,
};
use crate::tokens::TokenRecord;

/// The ciphertexts of one secret value version (see `envelope.rs`).
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Nonce of the value ciphertext.
    pub value_nonce: Vec<u8>,
    /// XChaCha20-Poly1305(DEK, value).
    pub value_ciphertext: Vec<u8>,
    /// Nonce of the wrapped DEK.
    pub dek_nonce: Vec<u8>,
    /// XChaCha20-Poly1305(wrapping key, DEK).
    pub wrapped_dek: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Envelope({} ciphertext bytes)",
            self.value_ciphertext.len()
        )
    }
}

/// A secret as stored: metadata plus its encrypted value.
#[derive(Debug, Clone)]
pub struct SecretRecord {
    /// Metadata (aliases and attached groups included).
    pub meta: SecretMeta,
    /// The encrypted value.
    pub envelope: Envelope,
}

/// Which secrets a listing returns; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFilter {
    /// Only secrets of this scope level.
    pub kind: Option<ScopeKind>,
    /// Only secrets of this workspace (workspace and group scopes).
    pub workspace_id: Option<String>,
    /// Only secrets of this group.
    pub group_id: Option<String>,
}

impl SecretFilter {
    /// Fails for a group filter without its workspace.
    pub fn check(&self) -> Result<()> {
        if self.group_id.is_some() && self.workspace_id.is_none() {
            return Err(Error::invalid("--group-id requires --workspace-id"));
        }
        Ok(())
    }
}

/// Which audit events a query returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At most this many events.
    pub limit: Option<u64>,
    /// Only events strictly before this time (ms since the epoch).
    pub before_ts_ms: Option<i64>,
    /// Only events of this kind (`secret.create`, ...).
    pub kind: Option<String>,
    /// Only events about this secret.
    pub secret_id: Option<String>,
}

/// Operations available inside one transaction.
pub trait StoreTx {
    /// A vault-level setting (`vault_id`, `key_provider`, ...).
    fn meta_get(&self, key: &str) -> Result<Option<String>>;
    /// Sets a vault-level setting.
    fn meta_set(&self, key: &str, value: &str) -> Result<()>;
    /// Removes a vault-level setting (absent is fine).
    fn meta_delete(&self, key: &str) -> Result<()>;
    /// The vault generation: a counter every write to a row a call reads bumps (triggers
    /// of schema migration 6, whatever process writes), or `None` when its row is missing
    /// (altered database: nothing cached may then be trusted).
    fn vault_generation(&self) -> Result<Option<i64>>;

    /// Inserts a new secret with its aliases. Callers check label uniqueness first.
    fn secret_insert(&self, record: &SecretRecord) -> Result<()>;
    /// One secret with its envelope.
    fn secret_get(&self, id: &str) -> Result<Option<SecretRecord>>;
    /// The id of the secret whose name or alias is `label` in exactly `scope`.
    fn secret_by_label(&self, scope: &Scope, label: &str) -> Result<Option<String>>;
    /// The id of the secret named `name` (aliases ignored) in exactly `scope`.
    fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<String>>;
    /// Secret metadata, sorted by name then scope.
    fn secret_list(&self, filter: &SecretFilter) -> Result<Vec<SecretMeta>>;
    /// Renames a secret.
    fn secret_set_name(&self, id: &str, name: &str, now_ms: i64) -> Result<()>;
    /// Replaces a secret's aliases.
    fn secret_set_aliases(
        &self,
        id: &str,
        scope: &Scope,
        aliases: &[String],
        now_ms: i64,
    ) -> Result<()>;
    /// Stores a new value version.
    fn secret_set_value(
        &self,
        id: &str,
        version: u64,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<()>;
    /// Replaces only the wrapped DEK (master-key rotation).
    fn secret_set_wrapped_dek(&self, id: &str, dek_nonce: &[u8], wrapped_dek: &[u8]) -> Result<()>;
    /// Every secret id, for whole-vault passes (rotation, checks).
    fn secret_ids(&self) -> Result<Vec<String>>;
    /// Deletes a secret, its aliases and group attachments; its bytes are overwritten.
    fn secret_delete(&self, id: &str) -> Result<()>;
    /// Attaches a secret to a group; false if it already was.
    fn group_attach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool>;
    /// Detaches a secret from a group; false if it was not attached.
    fn group_detach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool>;

    /// Inserts or replaces a credential and its secret links.
    fn credential_upsert(&self, credential: &Credential) -> Result<()>;
    /// One credential.
    fn credential_get(&self, id: &str) -> Result<Option<Credential>>;
    /// All credentials, sorted by id.
    fn credential_list(&self) -> Result<Vec<Credential>>;
    /// Ids of the credentials that inject this secret.
    fn credentials_using_secret(&self, secret_id: &str) -> Result<Vec<String>>;
    /// Deletes a credential and its links.
    fn credential_delete(&self, id: &str) -> Result<()>;

    /// Credentials of one provider, sorted by id.
    fn credentials_of_provider(&self, provider: &str) -> Result<Vec<Credential>>;
    /// Whether a secret is attached to a group.
    fn secret_attached(&self, secret_id: &str, group: &GroupRef) -> Result<bool>;

    /// Inserts an operator capability. Callers check id uniqueness first.
    fn capability_insert(&self, capability: &CustomCapability) -> Result<()>;
    /// One operator capability.
    fn capability_get(&self, id: &str) -> Result<Option<CustomCapability>>;
    /// Every operator capability, sorted by id.
    fn capability_list(&self) -> Result<Vec<CustomCapability>>;
    /// Deletes an operator capability; false if there was none.
    fn capability_delete(&self, id: &str) -> Result<bool>;

    /// The policy of a capability (registry or operator).
    fn policy_get(&self, capability: &str) -> Result<Option<Policy>>;
    /// Sets the policy of a capability.
    fn policy_set(&self, capability: &str, policy: &Policy, now_ms: i64) -> Result<()>;
    /// Deletes the policy of a capability; false if there was none.
    fn policy_delete(&self, capability: &str) -> Result<bool>;
    /// Every policy, sorted by capability id.
    fn policy_list(&self) -> Result<Vec<(String, Policy)>>;

    /// Inserts or replaces the binding of (capability, scope, consumer); true if it replaced one.
    fn binding_upsert(&self, binding: &Binding) -> Result<bool>;
    /// Deletes the binding of (capability, scope, consumer); false if there was none.
    fn binding_delete(
        &self,
        capability: &str,
        scope: &Scope,
        consumer: Option<&str>,
    ) -> Result<bool>;
    /// The bindings of one capability.
    fn bindings_of_capability(&self, capability: &str) -> Result<Vec<Binding>>;
    /// Every binding, sorted by capability, scope and consumer.
    fn binding_list(&self) -> Result<Vec<Binding>>;
    /// The bindings that inject this secret.
    fn bindings_using_secret(&self, secret_id: &str) -> Result<Vec<Binding>>;

    /// Counts one call of `capability` against a limit of `limit` calls in the `window_ms`
    /// ending at `now_ms` (a sliding window shared by every process): records it and returns
    /// true when it fits, returns false (recording nothing) when the limit is reached.
    fn rate_limit_take(
        &self,
        capability: &str,
        now_ms: i64,
        window_ms: i64,
        limit: u32,
    ) -> Result<bool>;

    /// Appends an audit record (its `seq` must be the next one).
    fn audit_append(&self, record: &AuditRecord) -> Result<()>;
    /// Audit records, newest first.
    fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Every audit record in `seq` order, for verification.
    fn audit_all(&self) -> Result<Vec<AuditRecord>>;
    /// (secret count, credential count, audit event count).
    fn counts(&self) -> Result<(u64, u64, u64)>;

    /// The stored MAC of an authenticated row (see `integrity.rs`).
    fn row_mac_get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>>;
    /// Stores (replacing) the MAC of an authenticated row.
    fn row_mac_set(&self, kind: &str, id: &str, mac: &[u8]) -> Result<()>;
    /// Removes the MAC of a deleted row (absent is fine).
    fn row_mac_delete(&self, kind: &str, id: &str) -> Result<()>;
    /// Every (kind, id) that has a stored MAC, for whole-vault checks.
    fn row_mac_keys(&self) -> Result<Vec<(String, String)>>;
    /// The ids of one kind that have a stored MAC.
    fn row_mac_ids(&self, kind: &str) -> Result<Vec<String>>;
    /// Every stored (kind, id, MAC), for the row state check.
    fn row_mac_all(&self) -> Result<Vec<(String, String, Vec<u8>)>>;

    /// Inserts or replaces (by id) a caller token. Callers check name uniqueness first.
    fn token_put(&self, token: &TokenRecord) -> Result<()>;
    /// The token whose id or name is `label`.
    fn token_get(&self, label: &str) -> Result<Option<TokenRecord>>;
    /// The token whose hash (hex SHA-256 of the token text) is `hash`.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Every token, sorted by name.
    fn token_list(&self) -> Result<Vec<TokenRecord>>;
}

/// How durable a committed write transaction must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Survives a power loss once committed (the commit waits for the disk). Every write an
    /// operator makes: secrets, keys, credentials, policies, tokens.
    Full,
    /// Survives a process crash once committed; the last such commits (since the previous
    /// fsync of the WAL) may be lost on a power loss or OS crash. Only for the broker's
    /// per-call records: invoke audit events and rate-limit hits.
    Normal,
}

/// A value that changes whenever a write commits, by any connection of any process
/// ([`Store::commit_marker`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CommitMarker(pub(crate) Vec<u8>);

impl std::fmt::Debug for CommitMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitMarker(..)")
    }
}

/// A transactional store.
pub trait Store: Send {
    /// Runs `f` in a read transaction (a consistent snapshot).
    fn read(&mut self, f: &mut dyn FnMut(&dyn StoreTx) -> Result<()>) -> Result<()>;
    /// Runs `f` in a write transaction, serialized with every other writer, committed only
    /// if `f` succeeds, with the given durability.
    fn write_durable(
        &mut self,
        durability: Durability,
        f: &mut dyn FnMut(&dyn StoreTx) -> Result<()>,
    ) -> Result<()>;
    /// [`Store::write_durable`] with [`Durability::Full`].
    fn write(&mut self, f: &mut dyn FnMut(&dyn StoreTx) -> Result<()>) -> Result<()> {
        self.write_durable(Durability::Full, f)
    }
    /// Makes the bytes of deleted rows unrecoverable from the store's files (best effort
    /// beyond what the engine guarantees).
    fn purge_deleted(&mut self) -> Result<()>;
    /// [`StoreTx::vault_generation`] read on its own (the call cache's check before every
    /// call); a store may read it without an explicit transaction when one statement is
    /// atomic by itself.
    fn vault_generation(&mut self) -> Result<Option<i64>> {
        let mut generation = None;
        self.read(&mut |tx| {
            generation = tx.vault_generation()?;
            Ok(())
        })?;
        Ok(generation)
    }
    /// Reads, without a transaction, a marker that changes whenever a write commits (by any
    /// connection, in any process), or `None` when the store cannot tell. Two equal markers
    /// mean nothing was committed between the two reads: the call cache then skips reading
    /// the vault generation. A store that cannot provide one returns `None` (the default),
    /// and the generation is read on every call.
    fn commit_marker(&mut self) -> Option<CommitMarker> {
        None
    }
}

/// [`Store::read`] for a closure returning a value.
pub fn read<T>(store: &mut dyn Store, f: impl FnOnce(&dyn StoreTx) -> Result<T>) -> Result<T> {
    run(store, None, f)
}

/// [`Store::write`] for a closure returning a value.
pub fn write<T>(store: &mut dyn Store, f: impl FnOnce(&dyn StoreTx) -> Result<T>) -> Result<T> {
    run(store, Some(Durability::Full), f)
}

/// [`Store::write_durable`] for a closure returning a value.
pub fn write_durable<T>(
    store: &mut dyn Store,
    durability: Durability,
    f: impl FnOnce(&dyn StoreTx) -> Result<T>,
) -> Result<T> {
    run(store, Some(durability), f)
}

/// Runs `f` in a write transaction of `write`'s durability, else in a read transaction.
fn run<T>(
    store: &mut dyn Store,
    write: Option<Durability>,
    f: impl FnOnce(&dyn StoreTx) -> Result<T>,
) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    let mut body = |tx: &dyn StoreTx| {
        let f = f
            .take()
            .ok_or_else(|| Error::internal("transaction body ran twice"))?;
        out = Some(f(tx)?);
        Ok(())
    };
    if let Some(durability) = write {
        store.write_durable(durability, &mut body)?;
    } else {
        store.read(&mut body)?;
    }
    out.ok_or_else(|| Error::internal("transaction body did not run"))
}
