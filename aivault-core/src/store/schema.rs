//! The SQLite schema and its forward migrations. `PRAGMA user_version` records the version;
//! migrations run at open, inside one write transaction, oldest first.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

/// Ordered migrations; the schema version is the number of entries applied.
const MIGRATIONS: &[&str] = &[
    // 1: vault metadata, secrets with their envelopes, aliases, group attachments,
    //    credentials with their secret links, and the HMAC-chained audit log.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    -- workspace_id / group_id are '' when the scope does not have them, so that UNIQUE works.
    CREATE TABLE secrets (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        scope_kind       TEXT NOT NULL CHECK (scope_kind IN ('global', 'workspace', 'group')),
        workspace_id     TEXT NOT NULL,
        group_id         TEXT NOT NULL,
        pinned_provider  TEXT,
        value_version    INTEGER NOT NULL CHECK (value_version >= 1),
        value_nonce      BLOB NOT NULL,
        value_ciphertext BLOB NOT NULL,
        dek_nonce        BLOB NOT NULL,
        wrapped_dek      BLOB NOT NULL,
        created_at_ms    INTEGER NOT NULL,
        updated_at_ms    INTEGER NOT NULL,
        UNIQUE (scope_kind, workspace_id, group_id, name)
    ) STRICT;
    -- Listing order; also finds a name across scopes.
    CREATE INDEX secrets_by_name ON secrets (name, scope_kind, workspace_id, group_id);

    CREATE TABLE secret_aliases (
        scope_kind   TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        group_id     TEXT NOT NULL,
        alias        TEXT NOT NULL,
        secret_id    TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        PRIMARY KEY (scope_kind, workspace_id, group_id, alias)
    ) STRICT;
    CREATE INDEX secret_aliases_by_secret ON secret_aliases (secret_id);

    CREATE TABLE secret_groups (
        secret_id    TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        workspace_id TEXT NOT NULL,
        group_id     TEXT NOT NULL,
        PRIMARY KEY (secret_id, workspace_id, group_id)
    ) STRICT;

    CREATE TABLE credentials (
        id            TEXT PRIMARY KEY,
        provider      TEXT NOT NULL,
        alternative   TEXT NOT NULL,
        origin        TEXT NOT NULL CHECK (origin IN ('registry', 'custom')),
        scope_kind    TEXT NOT NULL CHECK (scope_kind IN ('global', 'workspace', 'group')),
        workspace_id  TEXT NOT NULL,
        group_id      TEXT NOT NULL,
        auth          TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        capabilities  TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    ) STRICT;

    -- No cascade from secrets: deleting a secret must delete its credentials explicitly.
    CREATE TABLE credential_secrets (
        credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
        role          TEXT NOT NULL,
        secret_id     TEXT NOT NULL REFERENCES secrets (id),
        PRIMARY KEY (credential_id, role)
    ) STRICT;
    CREATE INDEX credential_secrets_by_secret ON credential_secrets (secret_id);

    CREATE TABLE audit_events (
        seq           INTEGER PRIMARY KEY,
        ts_ms         INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        secret_id     TEXT,
        credential_id TEXT,
        capability    TEXT,
        scope         TEXT,
        note          TEXT,
        mac           BLOB NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_ts ON audit_events (ts_ms);
    CREATE INDEX audit_by_secret ON audit_events (secret_id);
    "#,
    // 2: operator capabilities, capability policies and bindings.
    r#"
    CREATE INDEX credentials_by_provider ON credentials (provider);

    CREATE TABLE capabilities (
        id            TEXT PRIMARY KEY,
        provider      TEXT NOT NULL,
        credential_id TEXT,
        hosts         TEXT NOT NULL,
        methods       TEXT NOT NULL,
        paths         TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    ) STRICT;

    -- Policies also apply to registry capabilities, so no foreign key to capabilities.
    CREATE TABLE capability_policies (
        capability_id TEXT PRIMARY KEY,
        policy        TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
    ) STRICT;

    -- consumer is '' for a binding that applies to every caller of its scope.
    CREATE TABLE bindings (
        capability_id TEXT NOT NULL,
        scope_kind    TEXT NOT NULL CHECK (scope_kind IN ('global', 'workspace', 'group')),
        workspace_id  TEXT NOT NULL,
        group_id      TEXT NOT NULL,
        consumer      TEXT NOT NULL,
        secret_id     TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (capability_id, scope_kind, workspace_id, group_id, consumer)
    ) STRICT;
    CREATE INDEX bindings_by_secret ON bindings (secret_id);
    "#,
    // 3: network opt-ins of operator credentials; rate-limit hits, shared by every process.
    r#"
    ALTER TABLE credentials ADD COLUMN network TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE rate_limit_hits (
        capability_id TEXT NOT NULL,
        ts_ms         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX rate_limit_hits_by_capability ON rate_limit_hits (capability_id, ts_ms);
    "#,
    // 4: MACs of the authenticated rows (credentials, capabilities, policies, bindings).
    r#"
    CREATE TABLE row_macs (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        mac  BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 5: caller tokens (`aivault token`): only a SHA-256 of each token is stored; the record
    //    (grant, expiry, revocation) is JSON, authenticated by its row MAC.
    r#"
    CREATE TABLE tokens (
        id     TEXT PRIMARY KEY,
        name   TEXT NOT NULL UNIQUE,
        hash   TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
    ) STRICT;
    "#,
    // 6: the vault generation (issue 13): one counter that every write to a row a call's plan
    //    or unsealed credential is read from bumps, through triggers, whatever process or
    //    connection writes it; a handle's call cache is valid only at the generation it was
    //    filled at. Audit appends, rate-limit hits and caller tokens do not bump it, so calls
    //    do not invalidate each other's caches. `meta` has no trigger: a trigger on it made
    //    every audit append (three head updates) cost about ten times more; the store bumps
    //    the counter itself when it writes a `meta` key other than the audit head
    //    (`Tx::meta_set`, `Tx::meta_delete`).
    r#"
    CREATE TABLE vault_generation (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO vault_generation (id, value) VALUES (1, 1);
    CREATE TRIGGER vault_generation_secrets_insert AFTER INSERT ON secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secrets_update AFTER UPDATE ON secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secrets_delete AFTER DELETE ON secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_aliases_insert AFTER INSERT ON secret_aliases
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_aliases_update AFTER UPDATE ON secret_aliases
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_aliases_delete AFTER DELETE ON secret_aliases
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_groups_insert AFTER INSERT ON secret_groups
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_groups_update AFTER UPDATE ON secret_groups
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_secret_groups_delete AFTER DELETE ON secret_groups
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credentials_insert AFTER INSERT ON credentials
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credentials_update AFTER UPDATE ON credentials
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credentials_delete AFTER DELETE ON credentials
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credential_secrets_insert AFTER INSERT ON credential_secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credential_secrets_update AFTER UPDATE ON credential_secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_credential_secrets_delete AFTER DELETE ON credential_secrets
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capabilities_insert AFTER INSERT ON capabilities
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capabilities_update AFTER UPDATE ON capabilities
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capabilities_delete AFTER DELETE ON capabilities
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capability_policies_insert AFTER INSERT ON capability_policies
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capability_policies_update AFTER UPDATE ON capability_policies
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_capability_policies_delete AFTER DELETE ON capability_policies
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_bindings_insert AFTER INSERT ON bindings
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_bindings_update AFTER UPDATE ON bindings
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_bindings_delete AFTER DELETE ON bindings
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_row_macs_insert AFTER INSERT ON row_macs
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_row_macs_update AFTER UPDATE ON row_macs
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    CREATE TRIGGER vault_generation_row_macs_delete AFTER DELETE ON row_macs
    BEGIN UPDATE vault_generation SET value = value + 1; END;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`CURRENT_VERSION`]. Refuses a database from a newer aivault.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == CURRENT_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > CURRENT_VERSION {
        return Err(Error::new(
            ErrorKind::Internal,
            format!(
                "this vault uses schema version {version}, newer than this aivault supports ({CURRENT_VERSION}); upgrade aivault"
            ),
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
