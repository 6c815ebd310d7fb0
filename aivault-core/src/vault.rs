//! The [`Vault`] facade: the one API every wrapper calls. This file holds the vault's
//! lifecycle (open, init, status, unlock, lock, master-key rotation, audit); secrets,
//! provisioning and listings live in sibling modules as further `impl Vault` blocks.

use crate::caller_files::ProtectedPaths;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::audit::{self, AuditEvent, AuditVerification, NewEvent, kinds};
use crate::audit_queue::AuditQueue;
use crate::broker::call_cache::{CallCache, PlanKey};
use crate::broker::redact::RedactorCache;
use crate::broker::transport::Transport;
use crate::config::{AuditMode, Config, ENV_KEY, ENV_PASSPHRASE};
use crate::crypto::{self, Argon2Params};
use crate::envelope::{self, Binding};
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::{self, MacTx};
use crate::keys::{self, KeyProviderKind};
use crate::operator_registry::{self, LazyRegistry};
use crate::registry::Registry;
use crate::sensitive::{Key32, SecretValue};
use crate::store::{self, AuditQuery, Durability, SqliteStore, Store, StoreTx};

/// Keys of the vault metadata.
pub(crate) mod meta {
    pub const VAULT_ID: &str = "vault_id";
    pub const CREATED_AT_MS: &str = "created_at_ms";
    pub const KEY_PROVIDER: &str = "key_provider";
    pub const KEY_ID: &str = "key_id";
    /// The key check value (see [`crate::keys::key_check`]); absent in vaults created before
    /// it existed, until their first keyed open upgrades them.
    pub const KEY_CHECK: &str = "key_check";
    /// Where the key file was when the vault was created or last rotated. Informational only
    /// (older versions read it): the location always comes from configuration.
    pub const KEY_FILE: &str = "key_file";
    pub const KEY_ENV_VAR: &str = "key_env_var";
    pub const ARGON2_PARAMS: &str = "argon2_params";
    pub const ARGON2_SALT: &str = "argon2_salt";
    pub const AUDIT_KEY_NONCE: &str = "audit_key_nonce";
    pub const AUDIT_KEY_WRAPPED: &str = "audit_key_wrapped";
}

/// How to create a vault (`aivault init`).
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The key provider.
    pub provider: KeyProviderKind,
    /// File provider: where the key lives (default: the config's default key file).
    pub key_file: Option<PathBuf>,
    /// Env provider: the variable holding the key (default `AIVAULT_KEY`).
    pub env_var: Option<String>,
    /// Passphrase provider: the passphrase (default: `AIVAULT_PASSPHRASE`).
    pub passphrase: Option<SecretValue>,
    /// Create the vault even though aivault's key file already exists without a vault (its
    /// `vault.db` was deleted or moved): the new vault uses that key.
    pub force: bool,
}

impl InitOptions {
    /// A file-provider vault with the default key file.
    pub fn file() -> Self {
        InitOptions {
            provider: KeyProviderKind::File,
            key_file: None,
            env_var: None,
            passphrase: None,
            force: false,
        }
    }
}

impl InitOptions {
    /// Fails when an option belongs to another provider (a key file for an env vault, ...).
    fn check(&self) -> Result<()> {
        let misplaced = [
            (
                self.key_file.is_some(),
                KeyProviderKind::File,
                "a key file path",
            ),
            (
                self.env_var.is_some(),
                KeyProviderKind::Env,
                "a key variable",
            ),
            (
                self.passphrase.is_some(),
                KeyProviderKind::Passphrase,
                "a passphrase",
            ),
        ];
        for (given, owner, what) in misplaced {
            if given && self.provider != owner {
                return Err(Error::invalid(format!(
                    "{what} applies to the {} key provider only, not {}",
                    owner.as_str(),
                    self.provider.as_str()
                )));
            }
        }
        Ok(())
    }
}

/// The new master key of `rotate-master`.
#[derive(Debug, Clone)]
pub enum NewMasterKey {
    /// A fresh random key (file provider only).
    Random,
    /// This key (file and env providers).
    Key(Key32),
    /// A key derived from this passphrase with a fresh salt (passphrase provider only).
    Passphrase(SecretValue),
}

/// The vault's state as shown by `aivault status` (JSON: `{"status":{..},"paths":{..},"counts":{..}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether the vault exists and can be used by this process.
    #[serde(rename = "status")]
    pub state: VaultState,
    /// Files and directories of the vault.
    pub paths: StatusPaths,
    /// How much the vault holds.
    pub counts: StatusCounts,
}

/// Whether a vault exists and whether this process can use its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultState {
    /// Whether a vault exists in the directory.
    pub initialized: bool,
    /// Whether this process cannot use the master key.
    pub locked: bool,
    /// Why the vault is locked, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_reason: Option<String>,
    /// The key provider.
    pub provider_type: Option<KeyProviderKind>,
    /// The master key's id (a fingerprint, never the key).
    pub kek_id: Option<String>,
    /// The vault's id.
    pub vault_id: Option<String>,
}

/// Counts of what a vault holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCounts {
    /// Number of secrets.
    pub secrets: u64,
    /// Number of credentials.
    pub credentials: u64,
    /// Number of audit events.
    pub audit_events: u64,
}

/// Where a vault's files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusPaths {
    /// The vault directory.
    pub root_dir: PathBuf,
    /// The database.
    pub database: PathBuf,
    /// The key file (file provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The variable holding the key (env provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_env_var: Option<String>,
    /// The unlock session (passphrase provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_file: Option<PathBuf>,
}

/// The keys of an open vault, derived from the master key.
#[derive(Clone)]
pub(crate) struct Keys {
    pub vault_id: String,
    pub key_id: String,
    pub wrapping: Key32,
    pub audit: Key32,
    /// The row MAC key (derived from the audit key, see `integrity.rs`).
    pub rows: Key32,
    /// The key check value of this master key and vault.
    pub check: String,
    /// The unlock session the key came from: once it is gone (`aivault lock` in any
    /// process), this handle is locked too.
    pub session: Option<PathBuf>,
}

/// The store and the keys loaded from it; shared with the audit writer thread.
pub(crate) struct State {
    store: Box<dyn Store>,
    keys: Option<Keys>,
    /// Plans and unsealed credentials of recent calls (see `broker/call_cache.rs`).
    cache: CallCache,
}

/// An open vault. `Send + Sync`: share one handle across threads; operations are serialized
/// inside the handle and across processes by the store.
pub struct Vault {
    config: Config,
    /// The registry, loaded at its first use (with the operator files listed at open).
    registry: LazyRegistry,
    /// Whether the row state and the trust rows of the operator provider files in use were
    /// checked (once, at the first keyed call).
    registry_checked: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    audit_queue: AuditQueue,
    transport: Transport,
    redactors: RedactorCache,
    /// The proxy's CA, unsealed at its first use by this handle (see `proxy_ca.rs`).
    proxy_ca: Mutex<Option<crate::proxy_ca::ProxyCa>>,
    /// How often failed token authentications are audited (see `refusal_throttle.rs`).
    pub(crate) refusals: crate::refusal_throttle::RefusalThrottle,
}

/// Names the vault's directory and the call cache's counts; never a value, key or row.
impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Vault");
        out.field("dir", &self.config.dir);
        match self.state.try_lock() {
            Ok(state) => out.field("cache", &state.cache),
            Err(_) => out.field("cache", &"<in use>"),
        };
        out.finish_non_exhaustive()
    }
}

/// Locks the shared state. A panic while holding the lock cannot leave the store
/// half-written (transactions roll back), so a poisoned lock is safe to reuse.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A second connection to the vault's database with its own keys: the audit writer thread
/// commits on it, so its fsyncs never hold up the handle's reads (WAL readers do not wait for
/// a writer).
pub(crate) fn open_state(config: &Config, keys: Option<Keys>) -> Result<Mutex<State>> {
    let store = SqliteStore::open(&config.db_path())?;
    Ok(Mutex::new(State {
        store: Box::new(store),
        keys,
        cache: CallCache::default(),
    }))
}

/// [`Vault::write`] on a state (also used by the audit writer thread).
pub(crate) fn write_state_durable<T>(
    state: &Mutex<State>,
    config: &Config,
    durability: Durability,
    f: impl FnOnce(&dyn StoreTx, &Keys) -> Result<T>,
) -> Result<T> {
    let mut state = lock(state);
    let State { store, keys, .. } = &mut *state;
    store::write_durable(store.as_mut(), durability, |tx| {
        let keys = ensure_keys(config, keys, tx)?;
        upgrade_integrity(config, tx, keys)?;
        f(
            &MacTx {
                inner: tx,
                key: &keys.rows,
            },
            keys,
        )
    })
}

/// Upgrades a vault created before key check values and authenticated audit heads existed
/// (inside a write transaction with its keys): stores the key check value, seals the current
/// audit head, trusts the operator provider files it used, and records the upgrade in the log. A vault upgraded once never upgrades again
/// (`audit verify` reports a second upgrade event: someone removed the integrity metadata).
fn upgrade_integrity(config: &Config, tx: &dyn StoreTx, keys: &Keys) -> Result<()> {
    if tx.meta_get(meta::KEY_CHECK)?.is_some() {
        return Ok(());
    }
    let already = tx.audit_query(&AuditQuery {
        limit: Some(1),
        kind: Some(kinds::VAULT_INTEGRITY_UPGRADE.to_string()),
        ..AuditQuery::default()
    })?;
    if !already.is_empty() {
        return Err(Error::new(
            ErrorKind::IntegrityFailed,
            "this vault was upgraded to authenticated rows before, but its key check value is gone: vault.db was altered; run `aivault verify`",
        ));
    }
    tx.meta_set(meta::KEY_CHECK, &keys.check)?;
    integrity::seal_all(tx, &keys.rows)?;
    // The operator provider files this vault already used stay in use (from the next open).
    for id in operator_registry::loadable_trust_ids(&config.dir) {
        integrity::seal_row(tx, &keys.rows, integrity::kind::PROVIDER_FILE, &id, &id)?;
    }
    let recorded =
        integrity::recorded_generation(&integrity::generation_file(config, &keys.vault_id));
    integrity::init_state(tx, &keys.rows, recorded.map_or(1, |g| g + 1))?;
    audit::seal_head(tx, &keys.audit)?;
    audit::append(
        tx,
        &keys.audit,
        NewEvent::new(kinds::VAULT_INTEGRITY_UPGRADE)
            .note("key check value, row MACs and authenticated audit head added"),
        now_ms(),
    )
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn required_meta(tx: &dyn StoreTx, key: &str) -> Result<String> {
    tx.meta_get(key)?
        .ok_or_else(|| Error::internal(format!("vault metadata '{key}' is missing")))
}

fn audit_key_aad(vault_id: &str) -> Vec<u8> {
    [b"aivault-audit-key\x01".as_slice(), vault_id.as_bytes()].concat()
}

impl Vault {
    /// Opens the vault in `config.dir`, creating a file-provider vault there if none exists.
    ///
    /// # Errors
    /// `io` when the directory or database cannot be used.
    pub fn open(config: Config) -> Result<Vault> {
        keys::ensure_private_dir(&config.dir)?;
        let mut store = SqliteStore::open(&config.db_path())?;
        initialize(&config, &mut store, &InitOptions::file(), false)?;
        let vault = Vault::from_store(config, Box::new(store))?;
        vault.maintain_on_open();
        Ok(vault)
    }

    /// Opens an existing vault without creating anything.
    ///
    /// # Errors
    /// `not_found` when the directory holds no vault.
    pub fn open_existing(config: Config) -> Result<Vault> {
        let mut store = open_existing_store(&config)?;
        if !store::read(&mut store, |tx| Ok(tx.meta_get(meta::VAULT_ID)?.is_some()))? {
            return Err(not_initialized(&config));
        }
        let vault = Vault::from_store(config, Box::new(store))?;
        vault.maintain_on_open();
        Ok(vault)
    }

    /// Creates a vault with the chosen key provider (`aivault init`).
    ///
    /// # Errors
    /// `already_exists` if the directory already holds a vault; `vault_locked` if the env
    /// provider's variable is unset; `invalid_input` for a malformed key or empty passphrase.
    pub fn init(config: Config, options: InitOptions) -> Result<Vault> {
        options.check()?;
        keys::ensure_private_dir(&config.dir)?;
        let mut store = SqliteStore::open(&config.db_path())?;
        initialize(&config, &mut store, &options, true)?;
        let vault = Vault::from_store(config, Box::new(store))?;
        vault.maintain_on_open();
        Ok(vault)
    }

    /// Reports the vault's state without creating anything.
    pub fn status(config: Config) -> Result<Status> {
        let paths = StatusPaths {
            root_dir: config.dir.clone(),
            database: config.db_path(),
            key_file: None,
            key_env_var: None,
            session_file: None,
        };
        let uninitialized = Status {
            state: VaultState {
                initialized: false,
                locked: true,
                lock_reason: Some("no vault in this directory".into()),
                provider_type: None,
                kek_id: None,
                vault_id: None,
            },
            paths,
            counts: StatusCounts::default(),
        };
        // One read transaction on the store alone: status needs no registry, no audit writer
        // and none of the maintenance a handle does at open (the next command does it).
        let mut store = match open_existing_store(&config) {
            Ok(store) => store,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(uninitialized),
            Err(e) => return Err(e),
        };
        let mut keys = None;
        let status = store::read(&mut store, |tx| {
            if tx.meta_get(meta::VAULT_ID)?.is_none() {
                return Ok(None);
            }
            let provider = KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?;
            let vault_id = required_meta(tx, meta::VAULT_ID)?;
            let (secrets, credentials, audit_events) = tx.counts()?;
            let lock_reason = match ensure_keys(&config, &mut keys, tx) {
                Ok(_) => None,
                Err(e) => Some(e.message().to_string()),
            };
            let mut paths = uninitialized.paths.clone();
            match provider {
                KeyProviderKind::File => paths.key_file = Some(key_file_path(&config, tx)?),
                KeyProviderKind::Env => paths.key_env_var = tx.meta_get(meta::KEY_ENV_VAR)?,
                KeyProviderKind::Passphrase => {
                    paths.session_file = Some(keys::session_path(&config.runtime_dir, &vault_id))
                }
            }
            Ok(Some(Status {
                state: VaultState {
                    initialized: true,
                    locked: lock_reason.is_some(),
                    lock_reason,
                    provider_type: Some(provider),
                    kek_id: tx.meta_get(meta::KEY_ID)?,
                    vault_id: Some(vault_id),
                },
                paths,
                counts: StatusCounts {
                    secrets,
                    credentials,
                    audit_events,
                },
            }))
        })?;
        Ok(status.unwrap_or(uninitialized))
    }

    /// Work left by an older version or an interrupted process, done once at open when the
    /// key is at hand: the integrity upgrade of an older vault, and the removal of keys staged
    /// by a rotation that was killed before its commit. Costs one metadata read otherwise.
    /// Failures (a locked vault, a missing key) are left for the call that needs the key.
    fn maintain_on_open(&self) {
        let needed = self.read(|tx| {
            if tx.meta_get(meta::KEY_CHECK)?.is_none() {
                return Ok(true);
            }
            if KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?
                != KeyProviderKind::File
            {
                return Ok(false);
            }
            let key_id = required_meta(tx, meta::KEY_ID)?;
            let path = key_file_path(&self.config, tx)?;
            Ok(keys::has_stale_staged_keys(&path, &key_id))
        });
        if !matches!(needed, Ok(true)) {
            return;
        }
        let _ = self.write(|tx, keys| {
            if KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?
                == KeyProviderKind::File
            {
                // Under the write lock no rotation is between staging and commit.
                keys::remove_stale_staged_keys(&key_file_path(&self.config, tx)?, &keys.key_id)?;
            }
            Ok(())
        });
    }

    fn from_store(config: Config, mut store: Box<dyn Store>) -> Result<Vault> {
        let registry = LazyRegistry::open(&config.dir, &mut || {
            store::read(store.as_mut(), |tx| {
                tx.row_mac_ids(integrity::kind::PROVIDER_FILE)
            })
            .unwrap_or_default()
        });
        let transport = Transport::new(&config)?;
        Ok(Vault {
            config,
            registry,
            registry_checked: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(State {
                store,
                keys: None,
                cache: CallCache::default(),
            }),
            audit_queue: AuditQueue::default(),
            transport,
            redactors: RedactorCache::default(),
            proxy_ca: Mutex::new(None),
            refusals: Default::default(),
        })
    }

    /// The broker's HTTP agents.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The broker's response redactors of recent calls.
    pub(crate) fn redactors(&self) -> &RedactorCache {
        &self.redactors
    }

    /// The configuration this vault was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The vault's key provider.
    pub fn key_provider(&self) -> Result<KeyProviderKind> {
        self.read(|tx| KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?))
    }

    /// The provider registry in use: built-in providers plus the operator's
    /// (`<vault dir>/registry/*.toml`).
    pub fn registry(&self) -> &Registry {
        self.registry.registry()
    }

    /// One line per operator provider file that was skipped (file, line and reason).
    pub fn registry_warnings(&self) -> &[String] {
        self.registry.warnings()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Records a broker call's audit event: queued for the background writer, or committed
    /// now on this handle's connection in [`AuditMode::Inline`] (one-shot processes).
    pub(crate) fn audit_later(&self, event: NewEvent) {
        if self.config.audit == AuditMode::Inline {
            crate::audit_queue::write_batch(
                &self.state,
                &self.config,
                vec![(event, now_ms())],
                &"inline",
            );
            return;
        }
        // The writer starts with this handle's keys: a passphrase vault opened with
        // AIVAULT_PASSPHRASE does not derive its key (Argon2id) a second time.
        self.audit_queue.push(
            &self.config,
            || self.lock_state().keys.clone(),
            event,
            now_ms(),
        );
    }

    /// This handle's unsealed proxy CA (see `proxy_ca.rs`).
    pub(crate) fn proxy_ca_cache(&self) -> &Mutex<Option<crate::proxy_ca::ProxyCa>> {
        &self.proxy_ca
    }

    /// Waits until every queued audit event is written.
    pub(crate) fn flush_audit(&self) {
        self.audit_queue.flush();
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&dyn StoreTx) -> Result<T>) -> Result<T> {
        let mut state = self.lock_state();
        store::read(state.store.as_mut(), f)
    }

    /// Runs `f` in a write transaction with the vault's keys, which are (re)loaded if another
    /// process rotated the master key meanwhile.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&dyn StoreTx, &Keys) -> Result<T>) -> Result<T> {
        self.write_durable(Durability::Full, f)
    }

    /// [`Vault::write`] with the given durability ([`Durability::Normal`] only for the
    /// broker's per-call records).
    pub(crate) fn write_durable<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&dyn StoreTx, &Keys) -> Result<T>,
    ) -> Result<T> {
        let (out, changed, generation) =
            write_state_durable(&self.state, &self.config, durability, |tx, keys| {
                self.check_registry_trust(tx, keys)?;
                let before = integrity::state_row(tx)?;
                let out = f(tx, keys)?;
                let generation = tx.vault_generation()?;
                let changed = if integrity::state_row(tx)? != before {
                    let generation = integrity::generation(tx, &keys.rows)?;
                    Some((
                        integrity::generation_file(&self.config, &keys.vault_id),
                        generation,
                    ))
                } else {
                    None
                };
                Ok((out, changed, generation))
            })?;
        // A write of this handle wipes what it cached at once (other processes' writes are
        // seen at the next call's generation check).
        self.lock_state().cache.observe(generation);
        if let Some((path, generation)) = changed {
            integrity::record_generation(&path, generation);
        }
        Ok(out)
    }

    /// Once per handle, at its first keyed call: checks the vault's row state against every
    /// stored row MAC (a row restored, deleted or added with its MAC outside aivault), and
    /// authenticates the trust rows of the operator provider files this handle uses. Either
    /// failing fails every keyed call, never falls back.
    fn check_registry_trust(&self, tx: &dyn StoreTx, keys: &Keys) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.registry_checked.load(Ordering::Relaxed) {
            return Ok(());
        }
        if tx.meta_get(meta::KEY_CHECK)?.is_some() {
            let generation = integrity::check_state(tx, &keys.rows)?;
            let file = integrity::generation_file(&self.config, &keys.vault_id);
            if let Some(recorded) = integrity::recorded_generation(&file)
                && recorded > generation
            {
                return Err(Error::new(
                    ErrorKind::IntegrityFailed,
                    format!(
                        "vault.db is older than its last recorded state (row generation {generation}, but {} records {recorded}): it was replaced by an older copy; restore the current vault.db",
                        file.display()
                    ),
                ));
            }
        }
        for id in self.registry.in_use() {
            integrity::check_row(tx, &keys.rows, integrity::kind::PROVIDER_FILE, id, id)?;
        }
        self.registry_checked.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `f` in a read transaction with the vault's keys.
    pub(crate) fn read_keyed<T>(
        &self,
        f: impl FnOnce(&dyn StoreTx, &Keys) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.lock_state();
        let State { store, keys, .. } = &mut *state;
        store::read(store.as_mut(), |tx| {
            let keys = ensure_keys(&self.config, keys, tx)?;
            self.check_registry_trust(tx, keys)?;
            f(
                &MacTx {
                    inner: tx,
                    key: &keys.rows,
                },
                keys,
            )
        })
    }

    /// [`Vault::read_keyed`] on the raw transaction: rows are not checked against their MACs
    /// as they are read (for whole-vault checks that report every problem).
    pub(crate) fn read_keyed_raw<T>(
        &self,
        f: impl FnOnce(&dyn StoreTx, &Keys) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.lock_state();
        let State { store, keys, .. } = &mut *state;
        store::read(store.as_mut(), |tx| {
            let keys = ensure_keys(&self.config, keys, tx)?;
            f(tx, keys)
        })
    }

    /// The call cache's plan of `key` (and its unsealed secrets, when cached), if the cache
    /// is still valid: the store's commit marker is unchanged since the last validation, or
    /// else one SELECT of the vault generation (its own read snapshot) finds it unchanged;
    /// under the state lock for those reads only. `None` sends the call down the MAC-checked
    /// path.
    pub(crate) fn cached_call(
        &self,
        key: &PlanKey,
    ) -> Option<(
        std::sync::Arc<crate::resolve::Plan>,
        Option<std::sync::Arc<crate::broker::Unsealed>>,
    )> {
        let mut state = self.lock_state();
        let State { store, keys, cache } = &mut *state;
        if cache.is_empty() {
            return None;
        }
        // Read before the generation: a commit between the two reads changes the marker
        // again, so the next call reads the generation rather than trust a stale one.
        let marker = store.commit_marker();
        if cache.unchanged(marker.as_ref(), keys.as_ref()) {
            return cache.get(key);
        }
        let generation = store.vault_generation().ok();
        if !cache.validate(generation.flatten(), keys.as_ref()) {
            return None;
        }
        cache.mark(marker);
        cache.get(key)
    }

    /// Updates the call cache (briefly under the state lock).
    pub(crate) fn call_cache_put(&self, f: impl FnOnce(&mut CallCache)) {
        f(&mut self.lock_state().cache);
    }

    /// A write transaction without keys or row checks (rate-limit hits: no authenticated
    /// row, nothing cached depends on them), committed as a per-call record
    /// ([`Durability::Normal`], as on the unsealing path).
    pub(crate) fn write_unkeyed<T>(&self, f: impl FnOnce(&dyn StoreTx) -> Result<T>) -> Result<T> {
        let mut state = self.lock_state();
        store::write_durable(state.store.as_mut(), Durability::Normal, f)
    }

    /// Makes deleted rows unrecoverable from the database files.
    pub(crate) fn purge_deleted(&self) -> Result<()> {
        self.lock_state().store.purge_deleted()
    }

    /// Debug-build test hook: when `AIVAULT_DEV_STALL` names `point`, leave a marker file in
    /// the vault directory and stop here forever, so a test can kill the process mid-operation.
    pub(crate) fn stall(&self, point: &str) {
        if cfg!(debug_assertions) && self.config.dev_stall.as_deref() == Some(point) {
            let _ = std::fs::write(self.config.dir.join(format!("dev-stall-{point}")), b"");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    /// Unlocks a passphrase vault for every process of this user: derives the key (Argon2id,
    /// once), checks it against the vault, and keeps it in the session file until `lock`.
    ///
    /// # Errors
    /// `decrypt_failed` for a wrong passphrase; `invalid_input` if the vault does not use the
    /// passphrase provider or the passphrase is empty.
    pub fn unlock(&self, passphrase: &SecretValue) -> Result<()> {
        let mut state = self.lock_state();
        let State { store, keys, .. } = &mut *state;
        store::write(store.as_mut(), |tx| {
            require_passphrase_vault(tx, "unlocked")?;
            let master = passphrase_master(tx, passphrase)?;
            let mut loaded = keys_from_master(tx, &master, "the passphrase")?;
            keys::write_session(&self.config.runtime_dir, &loaded.vault_id, &master)?;
            loaded.session = Some(keys::session_path(
                &self.config.runtime_dir,
                &loaded.vault_id,
            ));
            audit::append(
                tx,
                &loaded.audit,
                NewEvent::new(kinds::VAULT_UNLOCK),
                now_ms(),
            )?;
            *keys = Some(loaded);
            Ok(())
        })
    }

    /// Locks a passphrase vault: removes the unlock session. Returns false if it was not
    /// unlocked by a session (an `AIVAULT_PASSPHRASE` in a process's environment still works
    /// for that process).
    pub fn lock(&self) -> Result<bool> {
        self.flush_audit();
        let mut state = self.lock_state();
        let State { store, keys, .. } = &mut *state;
        let result = store::write(store.as_mut(), |tx| {
            require_passphrase_vault(tx, "locked")?;
            let vault_id = required_vault_id(tx)?;
            let loaded = ensure_keys(&self.config, keys, tx).ok();
            let removed = keys::remove_session(&self.config.runtime_dir, &vault_id)?;
            // A session an older aivault left in the data directory goes too.
            let removed = keys::remove_session(&self.config.dir, &vault_id)? || removed;
            if let (true, Some(loaded)) = (removed, loaded) {
                audit::append(
                    tx,
                    &loaded.audit,
                    NewEvent::new(kinds::VAULT_LOCK),
                    now_ms(),
                )?;
            }
            *keys = None;
            Ok(removed)
        });
        state.cache.clear();
        result
    }

    /// Rotates the master key: every DEK and the audit key are re-wrapped in one transaction
    /// and the new key is persisted where the provider reads it. Crash-safe: at every instant
    /// the vault opens with either the old or the new key and every secret decrypts.
    ///
    /// - file: the new key (random unless given) is staged beside the key file inside the
    ///   transaction and atomically renamed over it after the commit; a rotation interrupted
    ///   after its commit is completed at the next open, one interrupted before it leaves a
    ///   staged key that is never used and is removed by the next rotation.
    /// - env: the new key must be given; afterwards set the variable to it.
    /// - passphrase: a new passphrase and a fresh salt; the unlock session is renewed.
    /// - a file or env vault given a passphrase becomes a passphrase vault in the same single
    ///   transaction (provider, salt and re-wrapped keys commit together); its old key file or
    ///   variable is no longer used and is left in place (another vault may share it).
    ///
    /// Returns the new key id.
    pub fn rotate_master(&self, new: NewMasterKey) -> Result<String> {
        self.flush_audit();
        let mut state = self.lock_state();
        let State { store, keys, .. } = &mut *state;
        let info = store::read(store.as_mut(), |tx| {
            Ok((
                KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?,
                (KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?
                    == KeyProviderKind::File)
                    .then(|| key_file_path(&self.config, tx))
                    .transpose()?,
                required_vault_id(tx)?,
            ))
        })?;
        let (provider, key_file, vault_id) = info;
        let mut new_salt = None;
        let new_master = match (provider, new) {
            (KeyProviderKind::File, NewMasterKey::Random) => crypto::random_key()?,
            (KeyProviderKind::File | KeyProviderKind::Env, NewMasterKey::Key(key)) => key,
            (_, NewMasterKey::Passphrase(passphrase)) => {
                let salt = crypto::random_bytes::<16>()?;
                let key = keys::passphrase_key(&passphrase, &salt, Argon2Params::DEFAULT)?;
                new_salt = Some(salt);
                key
            }
            (KeyProviderKind::Env, _) => {
                return Err(Error::invalid(
                    "an env-provider vault needs --new-key: aivault cannot set your environment variable",
                ));
            }
            (KeyProviderKind::Passphrase, _) => {
                return Err(Error::invalid(
                    "a passphrase vault rotates with --new-passphrase",
                ));
            }
        };
        let new_provider = if new_salt.is_some() {
            KeyProviderKind::Passphrase
        } else {
            provider
        };
        let new_key_id = keys::key_id(&new_master);
        let staged_file = match (new_provider, key_file) {
            // A key file aivault did not write is never overwritten: the new key goes to a
            // file of its own beside it, and the vault points there from this commit on.
            (KeyProviderKind::File, Some(path)) if keys::key_file_is_aivaults(&path)? => Some(path),
            (KeyProviderKind::File, Some(path)) => Some(keys::own_key_path(&path, &vault_id)),
            (KeyProviderKind::File, None) => {
                return Err(Error::internal("the vault's key file is unknown"));
            }
            _ => None,
        };
        let result = store::write(store.as_mut(), |tx| {
            let old = ensure_keys(&self.config, keys, tx)?;
            if old.key_id == new_key_id {
                return Err(Error::invalid(
                    "the new master key is the vault's current key",
                ));
            }
            if let Some(path) = &staged_file {
                // Under the write lock: drop keys staged by rotations that never committed,
                // then stage ours; it becomes live only if this transaction commits.
                keys::remove_stale_staged_keys(path, &old.key_id)?;
                keys::stage_key_file(path, &new_master)?;
                let stored = path.strip_prefix(&self.config.dir).unwrap_or(path);
                tx.meta_set(meta::KEY_FILE, &stored.to_string_lossy())?;
            }
            let new_wrapping = keys::wrapping_key(&new_master);
            for id in tx.secret_ids()? {
                let record = tx
                    .secret_get(&id)?
                    .ok_or_else(|| Error::internal("secret vanished during rotation"))?;
                let meta = &record.meta;
                let binding = Binding {
                    vault_id: &old.vault_id,
                    secret_id: &meta.secret_id,
                    scope: &meta.scope,
                    pinned_provider: meta.pinned_provider.as_deref(),
                    value_version: meta.value_version,
                };
                let (nonce, wrapped) =
                    envelope::rewrap_dek(&old.wrapping, &new_wrapping, &binding, &record.envelope)?;
                tx.secret_set_wrapped_dek(&id, &nonce, &wrapped)?;
            }
            crate::proxy_ca::rewrap(tx, old, &new_wrapping)?;
            let (nonce, wrapped) = crypto::seal(
                &new_wrapping,
                &audit_key_aad(&old.vault_id),
                old.audit.expose(),
            )?;
            tx.meta_set(meta::AUDIT_KEY_NONCE, &crypto::to_hex(&nonce))?;
            tx.meta_set(meta::AUDIT_KEY_WRAPPED, &crypto::to_hex(&wrapped))?;
            if let Some(salt) = &new_salt {
                tx.meta_set(meta::ARGON2_SALT, &crypto::to_hex(salt))?;
                tx.meta_set(meta::ARGON2_PARAMS, &params_json(Argon2Params::DEFAULT)?)?;
            }
            let mut note = format!("key id {} -> {new_key_id}", old.key_id);
            if new_provider != provider {
                tx.meta_set(meta::KEY_PROVIDER, new_provider.as_str())?;
                tx.meta_delete(meta::KEY_FILE)?;
                tx.meta_delete(meta::KEY_ENV_VAR)?;
                note.push_str(&format!(
                    " provider {} -> {}",
                    provider.as_str(),
                    new_provider.as_str()
                ));
            }
            tx.meta_set(meta::KEY_ID, &new_key_id)?;
            tx.meta_set(meta::KEY_CHECK, &key_check_in(tx, &new_master)?)?;
            audit::append(
                tx,
                &old.audit,
                NewEvent::new(kinds::VAULT_ROTATE_MASTER_KEY).note(note),
                now_ms(),
            )?;
            self.stall("rotate-master-before-commit");
            Ok(())
        });
        if let Err(e) = result {
            if let Some(path) = &staged_file {
                let _ = std::fs::remove_file(keys::staged_key_path(path, &new_key_id));
            }
            return Err(e);
        }
        *keys = None; // reloaded from the new key on next use
        state.cache.clear();
        self.stall("rotate-master-after-commit");
        if let Some(path) = &staged_file {
            keys::promote_staged_key(path, &new_key_id)?;
        }
        if new_provider == KeyProviderKind::Passphrase {
            keys::write_session(&self.config.runtime_dir, &vault_id, &new_master)?;
        }
        Ok(new_key_id)
    }

    /// The places a caller-named file may not come from (the vault's data, key and session
    /// directories, its key file, `/proc`, `/sys`, `/dev`), to read caller files through.
    pub fn protected_paths(&self) -> Result<ProtectedPaths> {
        let key_file = self.read(|tx| {
            (KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?
                == KeyProviderKind::File)
                .then(|| key_file_path(&self.config, tx))
                .transpose()
        })?;
        Ok(ProtectedPaths::for_vault(&self.config, key_file.as_deref()))
    }

    /// Reads a file a caller named (`--request-file`): never one of the vault's own files nor
    /// a pseudo-file, only a regular file of at most `limit` bytes (default 1 GiB).
    ///
    /// # Errors
    /// See [`ProtectedPaths::read`].
    pub fn read_caller_file(&self, path: &Path, what: &str, limit: Option<u64>) -> Result<Vec<u8>> {
        self.protected_paths()?.read(path, what, limit)
    }

    /// Audit events, newest first (metadata only; no key needed).
    pub fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.flush_audit();
        let records = self.read(|tx| tx.audit_query(query))?;
        Ok(records.into_iter().map(|r| r.event).collect())
    }

    /// Verifies the audit chain (needs the key).
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        self.flush_audit();
        self.read_keyed(|tx, keys| {
            let upgraded = tx.meta_get(meta::KEY_CHECK)?.is_some();
            audit::verify(tx, &keys.audit, upgraded)
        })
    }
}

/// Fails unless the vault uses the passphrase provider (`verb`: what only such vaults are).
fn require_passphrase_vault(tx: &dyn StoreTx, verb: &str) -> Result<()> {
    let provider = KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?;
    if provider == KeyProviderKind::Passphrase {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "this vault uses the {} key provider; only passphrase vaults are {verb}",
        provider.as_str()
    )))
}

fn not_initialized(config: &Config) -> Error {
    Error::not_found(format!(
        "no vault in {} (run `aivault init` or any secrets command to create one)",
        config.dir.display()
    ))
}

fn open_existing_store(config: &Config) -> Result<SqliteStore> {
    if !config.db_path().exists() {
        return Err(not_initialized(config));
    }
    SqliteStore::open(&config.db_path())
}

fn params_json(params: Argon2Params) -> Result<String> {
    serde_json::to_string(&params).map_err(|e| Error::internal(format!("serialize: {e}")))
}

/// Creates the vault's metadata, key and first audit event in one transaction, unless another
/// process already did (then `fail_if_exists` decides between success and `already_exists`).
fn initialize(
    config: &Config,
    store: &mut dyn Store,
    options: &InitOptions,
    fail_if_exists: bool,
) -> Result<()> {
    if !fail_if_exists && store::read(store, |tx| Ok(tx.meta_get(meta::VAULT_ID)?.is_some()))? {
        return Ok(());
    }
    store::write(store, |tx| {
        if let Some(existing) = tx.meta_get(meta::KEY_PROVIDER)? {
            return if fail_if_exists {
                Err(Error::exists(format!(
                    "a vault already exists in {} (key provider: {existing})",
                    config.dir.display()
                )))
            } else {
                Ok(())
            };
        }
        let vault_id = new_id()?;
        tx.meta_set(meta::VAULT_ID, &vault_id)?;
        tx.meta_set(meta::CREATED_AT_MS, &now_ms().to_string())?;
        tx.meta_set(meta::KEY_PROVIDER, options.provider.as_str())?;
        let master = match options.provider {
            KeyProviderKind::File => {
                let path = config.default_key_file.clone();
                if !options.force && keys::key_file_is_aivaults_existing(&path) {
                    return Err(Error::new(
                        ErrorKind::IntegrityFailed,
                        format!(
                            "aivault's key file {} exists but {} holds no vault: its vault.db was deleted or moved (restore it), so no empty vault is created silently; to start a new vault with this key, run `aivault init --force`",
                            path.display(),
                            config.dir.display()
                        ),
                    ));
                }
                if let Some(p) = &options.key_file {
                    let given = std::path::absolute(p)
                        .map_err(|e| Error::io(format!("cannot resolve {}", p.display()), e))?;
                    if given != path {
                        return Err(Error::invalid(format!(
                            "--file-path {} is not the configured key file {}: the key file's location comes from configuration, never from vault.db (anyone who can write vault.db could point it at a key of their own); set AIVAULT_KEY_FILE={} for `init` and every later command",
                            given.display(),
                            path.display(),
                            given.display()
                        )));
                    }
                }
                let key = keys::load_or_create_key_file(&path, options.key_file.is_some())?;
                // Inside the vault directory the path is stored relative to it, so a moved or
                // restored vault directory still finds its key.
                let stored = path.strip_prefix(&config.dir).unwrap_or(&path);
                tx.meta_set(meta::KEY_FILE, &stored.to_string_lossy())?;
                key
            }
            KeyProviderKind::Env => {
                let var = options
                    .env_var
                    .clone()
                    .unwrap_or_else(|| ENV_KEY.to_string());
                crate::model::validate_context_id("variable name", &var)?;
                let text = (config.env)(&var).ok_or_else(|| {
                    Error::new(
                        ErrorKind::VaultLocked,
                        format!("{var} is not set: put a 32-byte key (base64 or 64 hex digits) in it before `aivault init --provider env`"),
                    )
                })?;
                let key = keys::parse_key_text(&var, text.expose())?;
                tx.meta_set(meta::KEY_ENV_VAR, &var)?;
                key
            }
            KeyProviderKind::Passphrase => {
                let passphrase = match &options.passphrase {
                    Some(p) => p.clone(),
                    None => (config.env)(ENV_PASSPHRASE).ok_or_else(|| {
                        Error::invalid(
                            "a passphrase vault needs --passphrase (or AIVAULT_PASSPHRASE)",
                        )
                    })?,
                };
                let salt = crypto::random_bytes::<16>()?;
                let key = keys::passphrase_key(&passphrase, &salt, Argon2Params::DEFAULT)?;
                tx.meta_set(meta::ARGON2_SALT, &crypto::to_hex(&salt))?;
                tx.meta_set(meta::ARGON2_PARAMS, &params_json(Argon2Params::DEFAULT)?)?;
                keys::write_session(&config.runtime_dir, &vault_id, &key)?;
                key
            }
        };
        tx.meta_set(meta::KEY_ID, &keys::key_id(&master))?;
        tx.meta_set(meta::KEY_CHECK, &key_check_in(tx, &master)?)?;
        let audit_key = crypto::random_key()?;
        let wrapping = keys::wrapping_key(&master);
        let (nonce, wrapped) =
            crypto::seal(&wrapping, &audit_key_aad(&vault_id), audit_key.expose())?;
        tx.meta_set(meta::AUDIT_KEY_NONCE, &crypto::to_hex(&nonce))?;
        tx.meta_set(meta::AUDIT_KEY_WRAPPED, &crypto::to_hex(&wrapped))?;
        integrity::init_state(tx, &integrity::row_key(&audit_key), 1)?;
        audit::append(
            tx,
            &audit_key,
            NewEvent::new(kinds::VAULT_INIT)
                .note(format!("provider={}", options.provider.as_str())),
            now_ms(),
        )
    })
}

/// A fresh id: a UUID v7 (RFC 9562), time-ordered so that new rows append to the end of the
/// store's indexes instead of touching pages all over them, with 74 random bits.
pub(crate) fn new_id() -> Result<String> {
    let random = crypto::random_bytes::<10>()?;
    Ok(
        uuid::Builder::from_unix_timestamp_millis(now_ms().max(0) as u64, &random)
            .into_uuid()
            .hyphenated()
            .to_string(),
    )
}

/// The vault id, checked to be a plain id (it names files: the unlock session, aivault's own
/// key file), so an edited row cannot steer a path elsewhere.
fn required_vault_id(tx: &dyn StoreTx) -> Result<String> {
    let id = required_meta(tx, meta::VAULT_ID)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::new(
            ErrorKind::IntegrityFailed,
            "the vault id in vault.db is not a valid id: the database was altered",
        ));
    }
    Ok(id)
}

/// The file provider's key file, from configuration only, never from vault.db (whoever can
/// write vault.db must not be able to point the vault at a key of their own): the configured
/// key file (`AIVAULT_KEY_FILE`, else the default), or aivault's own file for this vault
/// beside it (`aivault-<vault id>.key`), which a rotation writes when the configured file is
/// another tool's key.
fn key_file_path(config: &Config, tx: &dyn StoreTx) -> Result<PathBuf> {
    let configured = &config.default_key_file;
    let own = keys::own_key_path(configured, &required_vault_id(tx)?);
    let key_id = required_meta(tx, meta::KEY_ID)?;
    let present = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    if present(&own) || present(&keys::staged_key_path(&own, &key_id)) {
        Ok(own)
    } else {
        Ok(configured.clone())
    }
}

/// Returns the cached keys, (re)loading them when absent or when the committed key id
/// differs (another process rotated the master key).
fn ensure_keys<'k>(
    config: &Config,
    cache: &'k mut Option<Keys>,
    tx: &dyn StoreTx,
) -> Result<&'k Keys> {
    let key_id = required_meta(tx, meta::KEY_ID)?;
    let stale = |k: &Keys| k.key_id != key_id || k.session.as_ref().is_some_and(|p| !p.exists());
    if cache.as_ref().is_none_or(stale) {
        *cache = None;
        *cache = Some(load_keys(config, tx)?);
    }
    cache
        .as_ref()
        .ok_or_else(|| Error::internal("keys not loaded"))
}

/// Obtains the master key from the vault's provider and derives the working keys.
fn load_keys(config: &Config, tx: &dyn StoreTx) -> Result<Keys> {
    let provider = KeyProviderKind::parse(&required_meta(tx, meta::KEY_PROVIDER)?)?;
    let expected = required_meta(tx, meta::KEY_ID)?;
    let mut session_file = None;
    let (master, source) = match provider {
        KeyProviderKind::File => {
            let path = key_file_path(config, tx)?;
            let key = keys::load_file_key(&path, &expected)?;
            (key, format!("key file {}", path.display()))
        }
        KeyProviderKind::Env => {
            let var = required_meta(tx, meta::KEY_ENV_VAR)?;
            let text = (config.env)(&var).ok_or_else(|| {
                Error::new(
                    ErrorKind::VaultLocked,
                    format!("{var} is not set: this vault's master key is read from it"),
                )
            })?;
            (keys::parse_key_text(&var, text.expose())?, var)
        }
        KeyProviderKind::Passphrase => {
            let vault_id = required_vault_id(tx)?;
            // An older aivault kept the session next to vault.db; such a file is never
            // trusted (a copy of the directory would carry it) and is removed on sight.
            if config.runtime_dir != config.dir {
                keys::remove_session(&config.dir, &vault_id)?;
            }
            match keys::read_session(&config.runtime_dir, &vault_id)? {
                Some(key) if keys::key_id(&key) == expected => {
                    session_file = Some(keys::session_path(&config.runtime_dir, &vault_id));
                    (key, "the unlock session".to_string())
                }
                session => match (config.env)(ENV_PASSPHRASE) {
                    Some(passphrase) => (
                        passphrase_master(tx, &passphrase)?,
                        ENV_PASSPHRASE.to_string(),
                    ),
                    None => {
                        let why = if session.is_some() {
                            "its unlock session is stale (the master key was rotated)"
                        } else {
                            "it is locked"
                        };
                        return Err(Error::new(
                            ErrorKind::VaultLocked,
                            format!(
                                "this passphrase vault cannot be used: {why}; run `aivault unlock` or set AIVAULT_PASSPHRASE"
                            ),
                        ));
                    }
                },
            }
        }
    };
    let mut keys = keys_from_master(tx, &master, &source)?;
    keys.session = session_file;
    Ok(keys)
}

/// Derives a passphrase vault's master key with its stored salt and parameters.
fn passphrase_master(tx: &dyn StoreTx, passphrase: &SecretValue) -> Result<Key32> {
    let salt = crypto::from_hex(&required_meta(tx, meta::ARGON2_SALT)?)
        .ok_or_else(|| Error::internal("vault metadata 'argon2_salt' is corrupt"))?;
    let params: Argon2Params = serde_json::from_str(&required_meta(tx, meta::ARGON2_PARAMS)?)
        .map_err(|_| Error::internal("vault metadata 'argon2_params' is corrupt"))?;
    let key = keys::passphrase_key(passphrase, &salt, params)?;
    let expected = required_meta(tx, meta::KEY_ID)?;
    if keys::key_id(&key) != expected {
        return Err(Error::new(
            ErrorKind::DecryptFailed,
            "wrong passphrase for this vault",
        ));
    }
    Ok(key)
}

/// The key check value of `master` over this vault's id, key provider and key variable.
fn key_check_in(tx: &dyn StoreTx, master: &Key32) -> Result<String> {
    let vault_id = required_vault_id(tx)?;
    let provider = required_meta(tx, meta::KEY_PROVIDER)?;
    let env_var = tx.meta_get(meta::KEY_ENV_VAR)?.unwrap_or_default();
    Ok(keys::key_check(master, &[&vault_id, &provider, &env_var]))
}

/// Checks `master` against the vault's key id and unwraps the audit key.
fn keys_from_master(tx: &dyn StoreTx, master: &Key32, source: &str) -> Result<Keys> {
    let expected = required_meta(tx, meta::KEY_ID)?;
    let key_id = keys::key_id(master);
    if key_id != expected {
        return Err(keys::mismatch(source, &expected, master));
    }
    let vault_id = required_vault_id(tx)?;
    let check = key_check_in(tx, master)?;
    if let Some(stored) = tx.meta_get(meta::KEY_CHECK)?
        && !bool::from(subtle::ConstantTimeEq::ct_eq(
            stored.as_bytes(),
            check.as_bytes(),
        ))
    {
        return Err(Error::new(
            ErrorKind::IntegrityFailed,
            "the vault's key check value does not match its master key: its vault id or key metadata in vault.db was altered",
        ));
    }
    let wrapping = keys::wrapping_key(master);
    let hex_meta = |key: &str| -> Result<Vec<u8>> {
        crypto::from_hex(&required_meta(tx, key)?)
            .ok_or_else(|| Error::internal(format!("vault metadata '{key}' is corrupt")))
    };
    let audit_raw = crypto::open(
        &wrapping,
        &hex_meta(meta::AUDIT_KEY_NONCE)?,
        &audit_key_aad(&vault_id),
        &hex_meta(meta::AUDIT_KEY_WRAPPED)?,
    )
    .map_err(|_| {
        Error::new(
            ErrorKind::DecryptFailed,
            "the vault's audit key cannot be decrypted: its metadata was altered",
        )
    })?;
    let audit = Key32::from_slice(audit_raw.expose())
        .ok_or_else(|| Error::new(ErrorKind::DecryptFailed, "the vault's audit key is corrupt"))?;
    Ok(Keys {
        vault_id,
        key_id,
        wrapping,
        rows: integrity::row_key(&audit),
        audit,
        check,
        session: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opening a vault builds no provider: the registry loads at the first call that needs it
    /// (status, `secrets list` and the like never do).
    #[test]
    fn opening_a_vault_does_not_load_the_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::in_dir(dir.path().join("vault"));
        let vault = Vault::open(config.clone()).expect("open");
        assert!(vault.registry_warnings().is_empty());
        assert!(
            vault
                .list_secrets(&Default::default())
                .expect("list")
                .is_empty()
        );
        assert!(
            !vault.registry.is_loaded(),
            "registry loaded by open or list"
        );
        assert!(vault.registry().claim("OPENAI_API_KEY").is_some());
        assert!(vault.registry.is_loaded());
        drop(vault);
        let status = Vault::status(config).expect("status");
        assert!(status.state.initialized && !status.state.locked);
    }
}
