//! The embedded SQLite store: one `vault.db` in WAL mode, shared safely by many processes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, FileControl, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    AuditQuery, CommitMarker, Durability, Envelope, SecretFilter, SecretRecord, Store, StoreTx,
    schema,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::error::{Error, Result};
use crate::model::{
    Binding, Credential, CredentialOrigin, CredentialSecret, CustomCapability, GroupRef, Policy,
    SECRET_REF_PREFIX, Scope, ScopeKind, SecretMeta,
};
use crate::tokens::TokenRecord;

/// Upper bound (bytes) a persistent WAL file is truncated to when SQLite restarts it (the
/// checkpoints below truncate it to zero).
const JOURNAL_SIZE_LIMIT: i64 = 4 << 20;

/// WAL size (bytes) at which a commit checkpoints and truncates the WAL. Connections no
/// longer checkpoint at close, so this is what bounds the WAL that per-call records (audit
/// events, rate-limit hits: 4 pages per one-shot `invoke`) leave behind, and with it the WAL
/// recovery each new process runs at open (it reads and checksums every frame). 1 MiB (about
/// 60 one-shot invokes per checkpoint) measured best among 128 KiB to 4 MiB: smaller pays the
/// checkpoint's fsyncs more often, larger pays a longer recovery in every process.
const WAL_CHECKPOINT_BYTES: u64 = 1 << 20;

/// How long the checkpoint at drop waits for other processes' readers before leaving the
/// frames to the next checkpoint (the WAL stays part of the database either way).
const DROP_CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the vault generation (schema migration 6).
const VAULT_GENERATION_SQL: &str = "SELECT value FROM vault_generation WHERE id = 1";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The WAL-index header at the start of `vault.db-shm` (SQLite's WAL file format): two
/// copies of a 48-byte header, written by every commit (the second copy first).
const WAL_INDEX_HEADER: usize = 48;
/// The WAL-index format version SQLite writes in the header's first four bytes.
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// Offset of the header's `isInit` byte (1 once the header is valid).
const WAL_INDEX_IS_INIT: usize = 12;

/// A connection to one `vault.db`.
pub struct SqliteStore {
    conn: Connection,
    /// `vault.db`.
    path: PathBuf,
    /// `vault.db-wal`, whose size decides when a commit checkpoints.
    wal_path: PathBuf,
    /// `vault.db-shm` opened read-only for [`Store::commit_marker`] (at its first use; `None`
    /// until then, or when it cannot be opened).
    shm: Option<File>,
    /// The connection's current `synchronous` setting (switched only between transactions).
    durability: Durability,
    /// Whether this connection committed a [`Durability::Full`] write since its last complete
    /// checkpoint: it then checkpoints when dropped, so that `vault.db` alone holds every
    /// operator change once the command that made it is done.
    checkpoint_on_drop: bool,
}

impl SqliteStore {
    /// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching a fresh file to WAL can race with another process doing the same.
        let mut attempts = 0;
        loop {
            match conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            {
                Ok(_) => break,
                Err(e) if attempts < 100 && is_busy(&e) => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "secure_delete", true)?;
        // Query planner stability guarantee: plans never depend on bound values. Without it,
        // planning `WHERE col = ? ... ORDER BY` (credentials of a provider, links of a
        // credential, bindings of a capability, aliases and groups of a secret) marks the
        // parameter so that rebinding it expires the statement: such `prepare_cached`
        // statements were re-parsed on every execution, three quarters of the time of
        // `Vault::plan`. The vault has no statistics tables and binds text there, so the plans
        // themselves do not change.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        keep_wal_between_processes(&conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        schema::migrate(&mut conn)?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
            wal_path: PathBuf::from(wal_path),
            shm: None,
            durability: Durability::Full,
            // Creating or migrating the schema is an operator-level change too.
            checkpoint_on_drop: version != schema::CURRENT_VERSION,
        })
    }

    /// `vault.db-shm`, opened read-only (a symbolic link refused) at the first use.
    fn shm(&mut self) -> Option<&File> {
        if self.shm.is_none() {
            let mut path = self.path.as_os_str().to_owned();
            path.push("-shm");
            self.shm = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(PathBuf::from(path))
                .ok();
        }
        self.shm.as_ref()
    }

    /// Copies every WAL frame into `vault.db` and truncates the WAL to zero bytes (waiting up
    /// to the busy timeout for other processes' readers). Returns whether it completed.
    fn checkpoint_truncate(&self) -> Result<bool> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        Ok(busy == 0)
    }
}

/// A connection that committed an operator change leaves `vault.db` complete behind it; one
/// that only read or wrote per-call records leaves its frames in the WAL (no fsync at exit).
impl Drop for SqliteStore {
    fn drop(&mut self) {
        if !self.checkpoint_on_drop {
            return;
        }
        // Best effort: a reader in another process may hold the checkpoint back; the frames
        // then stay in the WAL (still part of the database) for the next checkpoint.
        let _ = self.conn.busy_timeout(DROP_CHECKPOINT_TIMEOUT);
        let _ = self.checkpoint_truncate();
    }
}

/// WAL housekeeping. The `-wal`/`-shm` files are kept when the last connection closes (a
/// one-shot CLI process otherwise created and unlinked the WAL every time), and closing does
/// not checkpoint (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`: that checkpoint cost a one-shot
/// `aivault invoke` four fsyncs). Instead a connection that committed a
/// [`Durability::Full`] write checkpoints and truncates the WAL when dropped (see
/// [`SqliteStore`]'s `Drop`), so `vault.db` alone is complete after every operator command;
/// per-call records stay in the WAL until a commit finds it over [`WAL_CHECKPOINT_BYTES`] or
/// the next operator command moves them.
/// SQLite creates the files with the mode of `vault.db` (0600).
fn keep_wal_between_processes(conn: &Connection) -> Result<()> {
    let mut persist: std::os::raw::c_int = 1;
    conn.file_control(
        Some(rusqlite::MAIN_DB),
        FileControl::PersistWal(&mut persist),
    )?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // SQLite's automatic checkpoint (PASSIVE, at 1,000 pages) cannot serve a WAL that outlives
    // its processes: each new process's WAL recovery forgets how much was already copied, so
    // the WAL was never restarted, every commit past the threshold copied all of it again,
    // and it grew without bound (measured: 7 MB and 11 ms per `invoke` after 400 calls).
    // Commits check the WAL's size instead (`WAL_CHECKPOINT_BYTES`) and truncate it.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Store for SqliteStore {
    fn read(&mut self, f: &mut dyn FnMut(&dyn StoreTx) -> Result<()>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&Tx(&tx))?;
        tx.commit()?;
        Ok(())
    }

    /// `synchronous` is per connection and cannot change inside a transaction: it is set
    /// before `BEGIN` when the durability differs from the previous write's. In WAL mode,
    /// `NORMAL` commits without an fsync (the WAL is synced at checkpoints).
    fn write_durable(
        &mut self,
        durability: Durability,
        f: &mut dyn FnMut(&dyn StoreTx) -> Result<()>,
    ) -> Result<()> {
        if durability != self.durability {
            let level = match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            };
            self.conn.pragma_update(None, "synchronous", level)?;
            self.durability = durability;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&Tx(&tx))?; // dropping `tx` on error rolls back
        tx.commit()?;
        if durability == Durability::Full {
            self.checkpoint_on_drop = true;
        }
        if std::fs::metadata(&self.wal_path).is_ok_and(|m| m.len() >= WAL_CHECKPOINT_BYTES) {
            // Best effort: the commit is done; frames a busy reader holds back stay in the WAL.
            if self.checkpoint_truncate().unwrap_or(false) {
                self.checkpoint_on_drop = false;
            }
        }
        Ok(())
    }

    /// One cached statement in autocommit mode: SQLite runs it in its own read snapshot, so
    /// the `BEGIN`/`COMMIT` pair (each parsed again by every transaction) is not needed. A
    /// fifth of the broker's own time per cached call went to that pair.
    fn vault_generation(&mut self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(VAULT_GENERATION_SQL)?
            .query_row([], |row| row.get(0))
            .optional()?)
    }

    /// The WAL-index header, which every commit rewrites (frame count, salts, checksums),
    /// read with one `pread` and no lock: SQLite itself decides from the same header whether
    /// its page cache is still current. The two copies must agree and be initialized;
    /// otherwise (a commit or a WAL recovery in progress) there is no marker and the caller
    /// reads the generation. Every commit goes through this header: the database cannot
    /// leave WAL mode while this connection has it open (SQLite refuses).
    fn commit_marker(&mut self) -> Option<CommitMarker> {
        let mut header = [0u8; 2 * WAL_INDEX_HEADER];
        self.shm()?.read_exact_at(&mut header, 0).ok()?;
        let (first, second) = header.split_at(WAL_INDEX_HEADER);
        let version = u32::from_ne_bytes([first[0], first[1], first[2], first[3]]);
        if first != second || version != WAL_INDEX_VERSION || first[WAL_INDEX_IS_INIT] != 1 {
            return None;
        }
        Some(CommitMarker(first.to_vec()))
    }

    /// `secure_delete` already zeroes freed pages; a truncating checkpoint also drops the old
    /// page images from the WAL file.
    fn purge_deleted(&mut self) -> Result<()> {
        if self.checkpoint_truncate()? {
            self.checkpoint_on_drop = false;
        }
        Ok(())
    }
}

struct Tx<'c>(&'c Connection);

impl Tx<'_> {
    /// Bumps the vault generation after a write of `meta` key `key`, unless it is the audit
    /// head (the other tables a call reads bump it by trigger, see schema migration 6).
    fn bump_generation(&self, key: &str) -> Result<()> {
        if crate::audit::HEAD_KEYS.contains(&key) {
            return Ok(());
        }
        self.0
            .prepare_cached("UPDATE vault_generation SET value = value + 1 WHERE id = 1")?
            .execute([])?;
        Ok(())
    }
}

fn scope_columns(scope: &Scope) -> (&'static str, &str, &str) {
    (
        scope.kind().as_str(),
        scope.workspace_id().unwrap_or(""),
        scope.group_id().unwrap_or(""),
    )
}

fn scope_from_columns(kind: &str, workspace_id: String, group_id: String) -> Result<Scope> {
    Ok(match ScopeKind::parse(kind)? {
        ScopeKind::Global => Scope::Global,
        ScopeKind::Workspace => Scope::Workspace { workspace_id },
        ScopeKind::Group => Scope::Group {
            workspace_id,
            group_id,
        },
    })
}

const SECRET_COLUMNS: &str = "id, name, scope_kind, workspace_id, group_id, pinned_provider, \
     value_version, created_at_ms, updated_at_ms";

/// Reads the metadata columns of [`SECRET_COLUMNS`] (aliases and groups filled in later).
fn secret_meta_from_row(row: &Row<'_>) -> rusqlite::Result<(SecretMeta, String)> {
    let kind: String = row.get(2)?;
    let scope = scope_from_columns(&kind, row.get(3)?, row.get(4)?).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let meta = SecretMeta {
        secret_id: row.get(0)?,
        name: row.get(1)?,
        aliases: Vec::new(),
        scope,
        pinned_provider: row.get(5)?,
        value_version: row.get::<_, i64>(6)? as u64,
        created_at_ms: row.get(7)?,
        updated_at_ms: row.get(8)?,
        attached_groups: Vec::new(),
    };
    Ok((meta, kind))
}

fn filter_clause(filter: &SecretFilter) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(kind) = filter.kind {
        clauses.push("scope_kind = ?");
        args.push(kind.as_str().to_string());
    }
    if let Some(ws) = &filter.workspace_id {
        clauses.push("workspace_id = ?");
        args.push(ws.clone());
    }
    if let Some(g) = &filter.group_id {
        clauses.push("group_id = ?");
        args.push(g.clone());
    }
    if clauses.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), args)
    }
}

fn json_column<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("vault database: corrupt {column} column: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("serialize: {e}")))
}

fn mac_from_blob(blob: Vec<u8>) -> [u8; 32] {
    // A truncated MAC simply fails verification.
    let mut mac = [0u8; 32];
    let n = blob.len().min(32);
    mac[..n].copy_from_slice(&blob[..n]);
    mac
}

impl Tx<'_> {
    fn aliases_of(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT alias FROM secret_aliases WHERE secret_id = ? ORDER BY alias",
        )?;
        let rows = stmt.query_map([id], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn groups_of(&self, id: &str) -> Result<Vec<GroupRef>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT workspace_id, group_id FROM secret_groups WHERE secret_id = ? \
             ORDER BY workspace_id, group_id",
        )?;
        let rows = stmt.query_map([id], |row| {
            Ok(GroupRef {
                workspace_id: row.get(0)?,
                group_id: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn touch(&self, id: &str, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE secrets SET updated_at_ms = ? WHERE id = ?")?
            .execute(params![now_ms, id])?;
        Ok(())
    }

    fn credential_from_row(&self, row: &Row<'_>) -> Result<Credential> {
        let id: String = row.get(0)?;
        let kind: String = row.get(4)?;
        let auth: String = row.get(7)?;
        let hosts: String = row.get(8)?;
        let capabilities: String = row.get(9)?;
        let origin: String = row.get(3)?;
        Ok(Credential {
            provider: row.get(1)?,
            alternative: row.get(2)?,
            origin: match origin.as_str() {
                "registry" => CredentialOrigin::Registry,
                _ => CredentialOrigin::Custom,
            },
            scope: scope_from_columns(&kind, row.get(5)?, row.get(6)?)?,
            auth: json_column("auth", &auth)?,
            hosts: json_column("hosts", &hosts)?,
            capabilities: json_column("capabilities", &capabilities)?,
            network: json_column("network", &row.get::<_, String>(12)?)?,
            created_at_ms: row.get(10)?,
            updated_at_ms: row.get(11)?,
            secrets: Vec::new(),
            id,
        })
    }

    /// Credentials matching `clause` (a `WHERE ...` or empty), sorted by id, with their links.
    fn credentials_where<P: rusqlite::Params>(
        &self,
        clause: &str,
        args: P,
    ) -> Result<Vec<Credential>> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials{clause} ORDER BY id");
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(self.credential_from_row(row)?);
        }
        for credential in &mut out {
            credential.secrets = self.credential_secrets(&credential.id)?;
        }
        Ok(out)
    }

    /// Bindings matching `clause`, sorted by capability, scope and consumer.
    fn bindings_where<P: rusqlite::Params>(&self, clause: &str, args: P) -> Result<Vec<Binding>> {
        let sql = format!(
            "SELECT capability_id, scope_kind, workspace_id, group_id, consumer, secret_id, \
             updated_at_ms FROM bindings{clause} \
             ORDER BY capability_id, scope_kind, workspace_id, group_id, consumer"
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let kind: String = row.get(1)?;
            let consumer: String = row.get(4)?;
            out.push(Binding {
                capability: row.get(0)?,
                scope: scope_from_columns(&kind, row.get(2)?, row.get(3)?)?,
                consumer: (!consumer.is_empty()).then_some(consumer),
                secret_ref: format!("{SECRET_REF_PREFIX}{}", row.get::<_, String>(5)?),
                updated_at_ms: row.get(6)?,
            });
        }
        Ok(out)
    }

    fn credential_secrets(&self, id: &str) -> Result<Vec<CredentialSecret>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT role, secret_id FROM credential_secrets WHERE credential_id = ? ORDER BY role",
        )?;
        let rows = stmt.query_map([id], |row| {
            Ok(CredentialSecret {
                role: row.get(0)?,
                secret_ref: format!(
                    "{}{}",
                    crate::model::SECRET_REF_PREFIX,
                    row.get::<_, String>(1)?
                ),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Tx<'_> {
    /// Operator capabilities matching `clause`, sorted by id.
    fn capabilities_where<P: rusqlite::Params>(
        &self,
        clause: &str,
        args: P,
    ) -> Result<Vec<CustomCapability>> {
        let sql = format!(
            "SELECT id, provider, credential_id, hosts, methods, paths, created_at_ms \
             FROM capabilities{clause} ORDER BY id"
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let hosts: String = row.get(3)?;
            let methods: String = row.get(4)?;
            let paths: String = row.get(5)?;
            out.push(CustomCapability {
                id: row.get(0)?,
                provider: row.get(1)?,
                credential: row.get(2)?,
                hosts: json_column("hosts", &hosts)?,
                methods: json_column("methods", &methods)?,
                paths: json_column("paths", &paths)?,
                created_at_ms: row.get(6)?,
            });
        }
        Ok(out)
    }
}

const CREDENTIAL_COLUMNS: &str = "id, provider, alternative, origin, scope_kind, workspace_id, \
     group_id, auth, hosts, capabilities, created_at_ms, updated_at_ms, network";

const AUDIT_COLUMNS: &str =
    "seq, ts_ms, kind, secret_id, credential_id, capability, scope, note, mac";

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        event: AuditEvent {
            seq: row.get::<_, i64>(0)? as u64,
            ts_ms: row.get(1)?,
            kind: row.get(2)?,
            secret_id: row.get(3)?,
            credential_id: row.get(4)?,
            capability: row.get(5)?,
            scope: row.get(6)?,
            note: row.get(7)?,
        },
        mac: mac_from_blob(row.get(8)?),
    })
}

impl Tx<'_> {
    /// Tokens matching a WHERE clause. The columns must agree with the record: a row whose
    /// id, name or hash differs from its JSON was edited outside aivault.
    fn tokens_where<P: rusqlite::Params>(&self, clause: &str, args: P) -> Result<Vec<TokenRecord>> {
        let sql = format!("SELECT id, name, hash, record FROM tokens{clause} ORDER BY name");
        let mut stmt = self.0.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, hash, record) = row?;
            let token: TokenRecord = json_column("tokens.record", &record)?;
            if token.id != id || token.name != name || token.hash != hash {
                return Err(crate::integrity::tampered("token", &id));
            }
            out.push(token);
        }
        Ok(out)
    }
}

impl StoreTx for Tx<'_> {
    fn vault_generation(&self) -> Result<Option<i64>> {
        Ok(self
            .0
            .prepare_cached(VAULT_GENERATION_SQL)?
            .query_row([], |row| row.get(0))
            .optional()?)
    }
    fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT value FROM meta WHERE key = ?")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2")?
            .execute([key, value])?;
        self.bump_generation(key)
    }

    fn row_mac_get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .prepare_cached("SELECT mac FROM row_macs WHERE kind = ? AND id = ?")?
            .query_row([kind, id], |row| row.get(0))
            .optional()?)
    }

    fn row_mac_set(&self, kind: &str, id: &str, mac: &[u8]) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO row_macs (kind, id, mac) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind, id) DO UPDATE SET mac = ?3",
            )?
            .execute(rusqlite::params![kind, id, mac])?;
        Ok(())
    }

    fn row_mac_delete(&self, kind: &str, id: &str) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM row_macs WHERE kind = ? AND id = ?")?
            .execute([kind, id])?;
        Ok(())
    }

    fn row_mac_keys(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT kind, id FROM row_macs ORDER BY kind, id")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn row_mac_ids(&self, kind: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id FROM row_macs WHERE kind = ? ORDER BY id")?;
        let rows = stmt.query_map([kind], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn row_mac_all(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT kind, id, mac FROM row_macs")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn token_put(&self, token: &TokenRecord) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO tokens (id, name, hash, record) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET name = ?2, hash = ?3, record = ?4",
            )?
            .execute(params![token.id, token.name, token.hash, to_json(token)?])?;
        Ok(())
    }

    fn token_get(&self, label: &str) -> Result<Option<TokenRecord>> {
        self.tokens_where(" WHERE id = ?1 OR name = ?1", [label])
            .map(|mut found| found.pop())
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.tokens_where(" WHERE hash = ?1", [hash])
            .map(|mut found| found.pop())
    }

    fn token_list(&self) -> Result<Vec<TokenRecord>> {
        self.tokens_where("", [])
    }

    fn meta_delete(&self, key: &str) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM meta WHERE key = ?")?
            .execute([key])?;
        self.bump_generation(key)
    }

    fn secret_insert(&self, record: &SecretRecord) -> Result<()> {
        let meta = &record.meta;
        let env = &record.envelope;
        let (kind, ws, g) = scope_columns(&meta.scope);
        self.0
            .prepare_cached(
                "INSERT INTO secrets (id, name, scope_kind, workspace_id, group_id, pinned_provider, \
                 value_version, value_nonce, value_ciphertext, dek_nonce, wrapped_dek, \
                 created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                meta.secret_id,
                meta.name,
                kind,
                ws,
                g,
                meta.pinned_provider,
                meta.value_version as i64,
                env.value_nonce,
                env.value_ciphertext,
                env.dek_nonce,
                env.wrapped_dek,
                meta.created_at_ms,
                meta.updated_at_ms,
            ])?;
        self.secret_set_aliases(
            &meta.secret_id,
            &meta.scope,
            &meta.aliases,
            meta.updated_at_ms,
        )?;
        for group in &meta.attached_groups {
            self.group_attach(&meta.secret_id, group, meta.updated_at_ms)?;
        }
        Ok(())
    }

    fn secret_get(&self, id: &str) -> Result<Option<SecretRecord>> {
        let sql = format!(
            "SELECT {SECRET_COLUMNS}, value_nonce, value_ciphertext, dek_nonce, wrapped_dek \
             FROM secrets WHERE id = ?"
        );
        let found = self
            .0
            .prepare_cached(&sql)?
            .query_row([id], |row| {
                let (meta, _) = secret_meta_from_row(row)?;
                let envelope = Envelope {
                    value_nonce: row.get(9)?,
                    value_ciphertext: row.get(10)?,
                    dek_nonce: row.get(11)?,
                    wrapped_dek: row.get(12)?,
                };
                Ok(SecretRecord { meta, envelope })
            })
            .optional()?;
        let Some(mut record) = found else {
            return Ok(None);
        };
        record.meta.aliases = self.aliases_of(id)?;
        record.meta.attached_groups = self.groups_of(id)?;
        Ok(Some(record))
    }

    fn secret_by_label(&self, scope: &Scope, label: &str) -> Result<Option<String>> {
        let (kind, ws, g) = scope_columns(scope);
        let by_name = self.secret_by_name(scope, label)?;
        if by_name.is_some() {
            return Ok(by_name);
        }
        Ok(self
            .0
            .prepare_cached(
                "SELECT secret_id FROM secret_aliases WHERE scope_kind = ? AND workspace_id = ? AND group_id = ? AND alias = ?",
            )?
            .query_row([kind, ws, g, label], |row| row.get(0))
            .optional()?)
    }

    fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<String>> {
        let (kind, ws, g) = scope_columns(scope);
        Ok(self
            .0
            .prepare_cached(
                "SELECT id FROM secrets WHERE scope_kind = ? AND workspace_id = ? AND group_id = ? AND name = ?",
            )?
            .query_row([kind, ws, g, name], |row| row.get(0))
            .optional()?)
    }

    fn secret_list(&self, filter: &SecretFilter) -> Result<Vec<SecretMeta>> {
        let (clause, args) = filter_clause(filter);
        let sql = format!(
            "SELECT {SECRET_COLUMNS} FROM secrets{clause} ORDER BY name, scope_kind, workspace_id, group_id"
        );
        let mut stmt = self.0.prepare(&sql)?;
        let mut secrets: Vec<SecretMeta> = stmt
            .query_map(rusqlite::params_from_iter(&args), |row| {
                secret_meta_from_row(row).map(|(meta, _)| meta)
            })?
            .collect::<rusqlite::Result<_>>()?;
        let index: HashMap<String, usize> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.secret_id.clone(), i))
            .collect();
        let only = if clause.is_empty() {
            String::new()
        } else {
            format!(" WHERE secret_id IN (SELECT id FROM secrets{clause})")
        };
        let mut stmt = self.0.prepare(&format!(
            "SELECT secret_id, alias FROM secret_aliases{only} ORDER BY alias"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&args))?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            if let Some(&i) = index.get(&id) {
                secrets[i].aliases.push(row.get(1)?);
            }
        }
        let mut stmt = self.0.prepare(&format!(
            "SELECT secret_id, workspace_id, group_id FROM secret_groups{only} \
             ORDER BY workspace_id, group_id"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&args))?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            if let Some(&i) = index.get(&id) {
                secrets[i].attached_groups.push(GroupRef {
                    workspace_id: row.get(1)?,
                    group_id: row.get(2)?,
                });
            }
        }
        Ok(secrets)
    }

    fn secret_set_name(&self, id: &str, name: &str, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE secrets SET name = ?, updated_at_ms = ? WHERE id = ?")?
            .execute(params![name, now_ms, id])?;
        Ok(())
    }

    fn secret_set_aliases(
        &self,
        id: &str,
        scope: &Scope,
        aliases: &[String],
        now_ms: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM secret_aliases WHERE secret_id = ?")?
            .execute([id])?;
        let (kind, ws, g) = scope_columns(scope);
        let mut insert = self.0.prepare_cached(
            "INSERT INTO secret_aliases (scope_kind, workspace_id, group_id, alias, secret_id) \
             VALUES (?, ?, ?, ?, ?)",
        )?;
        for alias in aliases {
            insert.execute([kind, ws, g, alias.as_str(), id])?;
        }
        self.touch(id, now_ms)
    }

    fn secret_set_value(
        &self,
        id: &str,
        version: u64,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "UPDATE secrets SET value_version = ?, value_nonce = ?, value_ciphertext = ?, \
                 dek_nonce = ?, wrapped_dek = ?, updated_at_ms = ? WHERE id = ?",
            )?
            .execute(params![
                version as i64,
                envelope.value_nonce,
                envelope.value_ciphertext,
                envelope.dek_nonce,
                envelope.wrapped_dek,
                now_ms,
                id
            ])?;
        Ok(())
    }

    fn secret_set_wrapped_dek(&self, id: &str, dek_nonce: &[u8], wrapped_dek: &[u8]) -> Result<()> {
        self.0
            .prepare_cached("UPDATE secrets SET dek_nonce = ?, wrapped_dek = ? WHERE id = ?")?
            .execute(params![dek_nonce, wrapped_dek, id])?;
        Ok(())
    }

    fn secret_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id FROM secrets ORDER BY id")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn secret_delete(&self, id: &str) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM secrets WHERE id = ?")?
            .execute([id])?;
        Ok(())
    }

    fn group_attach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool> {
        let inserted = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO secret_groups (secret_id, workspace_id, group_id) VALUES (?, ?, ?)",
            )?
            .execute([id, &group.workspace_id, &group.group_id])?;
        if inserted > 0 {
            self.touch(id, now_ms)?;
        }
        Ok(inserted > 0)
    }

    fn group_detach(&self, id: &str, group: &GroupRef, now_ms: i64) -> Result<bool> {
        let deleted = self
            .0
            .prepare_cached(
                "DELETE FROM secret_groups WHERE secret_id = ? AND workspace_id = ? AND group_id = ?",
            )?
            .execute([id, &group.workspace_id, &group.group_id])?;
        if deleted > 0 {
            self.touch(id, now_ms)?;
        }
        Ok(deleted > 0)
    }

    fn credential_upsert(&self, credential: &Credential) -> Result<()> {
        let (kind, ws, g) = scope_columns(&credential.scope);
        self.0
            .prepare_cached(
                "INSERT INTO credentials (id, provider, alternative, origin, scope_kind, workspace_id, \
                 group_id, auth, hosts, capabilities, created_at_ms, updated_at_ms, network) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (id) DO UPDATE SET provider = ?2, alternative = ?3, origin = ?4, \
                 scope_kind = ?5, workspace_id = ?6, group_id = ?7, auth = ?8, hosts = ?9, \
                 capabilities = ?10, updated_at_ms = ?12, network = ?13",
            )?
            .execute(params![
                credential.id,
                credential.provider,
                credential.alternative,
                credential.origin.as_str(),
                kind,
                ws,
                g,
                to_json(&credential.auth)?,
                to_json(&credential.hosts)?,
                to_json(&credential.capabilities)?,
                credential.created_at_ms,
                credential.updated_at_ms,
                to_json(&credential.network)?,
            ])?;
        self.0
            .prepare_cached("DELETE FROM credential_secrets WHERE credential_id = ?")?
            .execute([&credential.id])?;
        let mut insert = self.0.prepare_cached(
            "INSERT INTO credential_secrets (credential_id, role, secret_id) VALUES (?, ?, ?)",
        )?;
        for link in &credential.secrets {
            let secret_id = crate::model::parse_secret_ref(&link.secret_ref)?;
            insert.execute([
                credential.id.as_str(),
                link.role.as_str(),
                secret_id.as_str(),
            ])?;
        }
        Ok(())
    }

    fn credential_get(&self, id: &str) -> Result<Option<Credential>> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = ?");
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query([id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let mut credential = self.credential_from_row(row)?;
        credential.secrets = self.credential_secrets(id)?;
        Ok(Some(credential))
    }

    fn credential_list(&self) -> Result<Vec<Credential>> {
        self.credentials_where("", [])
    }

    fn credentials_using_secret(&self, secret_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT DISTINCT credential_id FROM credential_secrets WHERE secret_id = ? ORDER BY credential_id",
        )?;
        let rows = stmt.query_map([secret_id], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn credential_delete(&self, id: &str) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM credentials WHERE id = ?")?
            .execute([id])?;
        Ok(())
    }

    fn credentials_of_provider(&self, provider: &str) -> Result<Vec<Credential>> {
        self.credentials_where(" WHERE provider = ?", [provider])
    }

    fn secret_attached(&self, secret_id: &str, group: &GroupRef) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT 1 FROM secret_groups WHERE secret_id = ? AND workspace_id = ? AND group_id = ?",
            )?
            .query_row([secret_id, &group.workspace_id, &group.group_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn capability_insert(&self, capability: &CustomCapability) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO capabilities (id, provider, credential_id, hosts, methods, paths, \
                 created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                capability.id,
                capability.provider,
                capability.credential,
                to_json(&capability.hosts)?,
                to_json(&capability.methods)?,
                to_json(&capability.paths)?,
                capability.created_at_ms,
            ])?;
        Ok(())
    }

    fn capability_get(&self, id: &str) -> Result<Option<CustomCapability>> {
        Ok(self
            .capabilities_where(" WHERE id = ?", [id])?
            .into_iter()
            .next())
    }

    fn capability_list(&self) -> Result<Vec<CustomCapability>> {
        self.capabilities_where("", [])
    }

    fn capability_delete(&self, id: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("DELETE FROM capabilities WHERE id = ?")?
            .execute([id])?
            > 0)
    }

    fn policy_get(&self, capability: &str) -> Result<Option<Policy>> {
        let text: Option<String> = self
            .0
            .prepare_cached("SELECT policy FROM capability_policies WHERE capability_id = ?")?
            .query_row([capability], |row| row.get(0))
            .optional()?;
        text.map(|t| json_column("policy", &t)).transpose()
    }

    fn policy_set(&self, capability: &str, policy: &Policy, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO capability_policies (capability_id, policy, updated_at_ms) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (capability_id) DO UPDATE SET policy = ?2, \
                 updated_at_ms = ?3",
            )?
            .execute(params![capability, to_json(policy)?, now_ms])?;
        Ok(())
    }

    fn policy_delete(&self, capability: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("DELETE FROM capability_policies WHERE capability_id = ?")?
            .execute([capability])?
            > 0)
    }

    fn policy_list(&self) -> Result<Vec<(String, Policy)>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT capability_id, policy FROM capability_policies ORDER BY capability_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, text) = row?;
            out.push((id, json_column("policy", &text)?));
        }
        Ok(out)
    }

    fn rate_limit_take(
        &self,
        capability: &str,
        now_ms: i64,
        window_ms: i64,
        limit: u32,
    ) -> Result<bool> {
        let since = now_ms - window_ms;
        self.0
            .prepare_cached("DELETE FROM rate_limit_hits WHERE capability_id = ? AND ts_ms <= ?")?
            .execute(params![capability, since])?;
        let used: i64 = self
            .0
            .prepare_cached("SELECT count(*) FROM rate_limit_hits WHERE capability_id = ?")?
            .query_row([capability], |row| row.get(0))?;
        if used >= i64::from(limit) {
            return Ok(false);
        }
        self.0
            .prepare_cached("INSERT INTO rate_limit_hits (capability_id, ts_ms) VALUES (?, ?)")?
            .execute(params![capability, now_ms])?;
        Ok(true)
    }

    fn binding_upsert(&self, binding: &Binding) -> Result<bool> {
        let (kind, ws, g) = scope_columns(&binding.scope);
        let consumer = binding.consumer.as_deref().unwrap_or("");
        let replaced = self.binding_delete(
            &binding.capability,
            &binding.scope,
            binding.consumer.as_deref(),
        )?;
        let secret_id = crate::model::parse_secret_ref(&binding.secret_ref)?;
        self.0
            .prepare_cached(
                "INSERT INTO bindings (capability_id, scope_kind, workspace_id, group_id, consumer, \
                 secret_id, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                binding.capability,
                kind,
                ws,
                g,
                consumer,
                secret_id,
                binding.updated_at_ms
            ])?;
        Ok(replaced)
    }

    fn binding_delete(
        &self,
        capability: &str,
        scope: &Scope,
        consumer: Option<&str>,
    ) -> Result<bool> {
        let (kind, ws, g) = scope_columns(scope);
        Ok(self
            .0
            .prepare_cached(
                "DELETE FROM bindings WHERE capability_id = ? AND scope_kind = ? \
                 AND workspace_id = ? AND group_id = ? AND consumer = ?",
            )?
            .execute([capability, kind, ws, g, consumer.unwrap_or("")])?
            > 0)
    }

    fn bindings_of_capability(&self, capability: &str) -> Result<Vec<Binding>> {
        self.bindings_where(" WHERE capability_id = ?", [capability])
    }

    fn binding_list(&self) -> Result<Vec<Binding>> {
        self.bindings_where("", [])
    }

    fn bindings_using_secret(&self, secret_id: &str) -> Result<Vec<Binding>> {
        self.bindings_where(" WHERE secret_id = ?", [secret_id])
    }

    fn audit_append(&self, record: &AuditRecord) -> Result<()> {
        let e = &record.event;
        self.0
            .prepare_cached(&format!(
                "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                e.seq as i64,
                e.ts_ms,
                e.kind,
                e.secret_id,
                e.credential_id,
                e.capability,
                e.scope,
                e.note,
                record.mac.as_slice(),
            ])?;
        Ok(())
    }

    fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(before) = query.before_ts_ms {
            clauses.push("ts_ms < ?");
            args.push(before.into());
        }
        if let Some(kind) = &query.kind {
            clauses.push("kind = ?");
            args.push(kind.clone().into());
        }
        if let Some(secret_id) = &query.secret_id {
            clauses.push("secret_id = ?");
            args.push(secret_id.clone().into());
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let limit = query.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
        args.push(limit.into());
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_events{clause} ORDER BY seq DESC LIMIT ?");
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), audit_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn audit_all(&self) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events ORDER BY seq");
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map([], audit_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn counts(&self) -> Result<(u64, u64, u64)> {
        Ok(self.0.query_row(
            "SELECT (SELECT count(*) FROM secrets), (SELECT count(*) FROM credentials), \
             (SELECT count(*) FROM audit_events)",
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, i64>(2)? as u64,
                ))
            },
        )?)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A cached `WHERE col = ? ... ORDER BY` statement run again with other values is not
    /// re-parsed (the query planner stability guarantee set at open).
    #[test]
    fn cached_statements_are_not_reprepared_when_rebound() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = SqliteStore::open(&dir.path().join("vault.db")).expect("open store");
        for provider in ["openai", "anthropic", "openai", "github"] {
            store
                .read(&mut |tx| tx.credentials_of_provider(provider).map(|_| ()))
                .expect("read credentials");
        }
        let sql =
            format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE provider = ? ORDER BY id");
        let stmt = store.conn.prepare_cached(&sql).expect("cached statement");
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }

    /// The commit marker stays the same while nothing commits (reads included) and changes
    /// with every commit of another connection: another store's, and a raw SQLite
    /// connection's (a tool outside aivault), including one that tried to leave WAL mode.
    #[test]
    fn commit_marker_changes_with_every_commit() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("vault.db");
        let mut watcher = SqliteStore::open(&path).expect("open watcher");
        let mut writer = SqliteStore::open(&path).expect("open writer");
        let first = watcher.commit_marker().expect("a marker");
        assert_eq!(watcher.commit_marker(), Some(first.clone()));
        writer
            .read(&mut |tx| tx.meta_get("vault_id").map(|_| ()))
            .expect("read");
        assert_eq!(
            watcher.commit_marker(),
            Some(first.clone()),
            "a read commits nothing"
        );

        let mut seen = vec![first];
        let mut changed = |store: &mut SqliteStore, what: &str| {
            let marker = store.commit_marker().expect("a marker");
            assert!(!seen.contains(&marker), "{what} left the marker as it was");
            seen.push(marker);
        };
        for value in ["a", "b"] {
            writer
                .write(&mut |tx| tx.meta_set("marker_test", value))
                .expect("write");
            changed(&mut watcher, "a commit of another store");
        }
        let raw = Connection::open(&path).expect("raw connection");
        raw.execute("UPDATE meta SET value = 'c' WHERE key = 'marker_test'", [])
            .expect("raw update");
        changed(&mut watcher, "a raw connection's commit");
        assert!(writer.checkpoint_truncate().expect("checkpoint"));
        writer
            .write(&mut |tx| tx.meta_set("marker_test", "after checkpoint"))
            .expect("write");
        changed(&mut watcher, "a commit into the restarted WAL");

        // While a store has the database open, another connection cannot leave WAL mode
        // (the header would stop moving); its writes stay in the WAL.
        let left = raw.query_row("PRAGMA journal_mode = DELETE", [], |row| {
            row.get::<_, String>(0)
        });
        assert!(left.is_err(), "left WAL mode: {left:?}");
        raw.execute("UPDATE meta SET value = 'd' WHERE key = 'marker_test'", [])
            .expect("update");
        changed(&mut watcher, "a commit after trying to leave WAL mode");
    }

    /// A WAL-index header that is torn (its two copies differ), not initialized, of another
    /// format version, cut short, or a `-shm` that is a symbolic link gives no marker, so the
    /// call cache reads the generation instead of trusting it.
    #[test]
    fn a_header_it_cannot_trust_gives_no_marker() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("vault.db");
        let shm = dir.path().join("vault.db-shm");
        let store = SqliteStore::open(&path).expect("open store");
        drop(store);
        let mut header = std::fs::read(&shm).expect("read -shm")[..2 * WAL_INDEX_HEADER].to_vec();
        let valid = header.clone();
        let fresh = || {
            let mut store = SqliteStore::open(&path).expect("open store");
            // Written after the open, which re-initializes the header; read on first use.
            store.shm = None;
            store
        };
        let with = |header: &[u8]| {
            let mut store = fresh();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&shm)
                .and_then(|f| f.write_all_at(header, 0))
                .expect("write -shm");
            store.commit_marker()
        };
        assert!(with(&valid).is_some(), "the untouched header");
        header[WAL_INDEX_HEADER + 20] ^= 1;
        assert_eq!(with(&header), None, "torn copies");
        let mut uninit = valid.clone();
        uninit[WAL_INDEX_IS_INIT] = 0;
        uninit[WAL_INDEX_HEADER + WAL_INDEX_IS_INIT] = 0;
        assert_eq!(with(&uninit), None, "not initialized");
        let mut version = valid.clone();
        version[0] ^= 1;
        version[WAL_INDEX_HEADER] ^= 1;
        assert_eq!(with(&version), None, "another version");

        let mut store = fresh();
        std::fs::File::create(&shm)
            .and_then(|f| f.set_len(40))
            .expect("truncate -shm");
        assert_eq!(store.commit_marker(), None, "a header cut short");
        drop(store);

        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &valid).expect("decoy");
        let mut store = fresh();
        std::fs::remove_file(&shm).expect("remove -shm");
        std::os::unix::fs::symlink(&elsewhere, &shm).expect("symlink");
        assert_eq!(store.commit_marker(), None, "a symbolic link");
    }
}
