//! The append-only audit log (DESIGN §6).
//!
//! Each event's MAC is HMAC-SHA256 under the vault's audit key over the previous event's MAC
//! and every field of the event (sequence number included), so editing, removing or
//! reordering any event breaks the chain. The head (last sequence number and MAC) is kept in
//! the vault metadata and updated in the same transaction, with a tag (HMAC under the audit
//! key over the sequence number and the MAC): dropping the newest events and copying the last
//! remaining MAC into the head fails the tag. Events name ids and kinds, never values.

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::{Error, Result};
use crate::sensitive::Key32;
use crate::store::StoreTx;

/// Stable event kinds (the product brief's names).
pub mod kinds {
    /// A vault was initialized.
    pub const VAULT_INIT: &str = "vault.init";
    /// A passphrase vault was unlocked.
    pub const VAULT_UNLOCK: &str = "vault.unlock";
    /// A passphrase vault was locked.
    pub const VAULT_LOCK: &str = "vault.lock";
    /// The master key was rotated.
    pub const VAULT_ROTATE_MASTER_KEY: &str = "vault.rotate_master_key";
    /// An older vault got its key check value and authenticated audit head.
    pub const VAULT_INTEGRITY_UPGRADE: &str = "vault.integrity_upgrade";
    /// The operator trusted a provider file in `registry/` (`aivault provider trust`).
    pub const PROVIDER_TRUST: &str = "provider.trust";
    /// `aivault migrate` imported a vault of the original tool.
    pub const VAULT_MIGRATE: &str = "vault.migrate";
    /// A secret was created.
    pub const SECRET_CREATE: &str = "secret.create";
    /// A secret was pinned to a registry provider.
    pub const SECRET_PIN_PROVIDER: &str = "secret.pin_provider";
    /// A secret's name or aliases changed.
    pub const SECRET_UPDATE: &str = "secret.update";
    /// A secret's value was rotated.
    pub const SECRET_ROTATE: &str = "secret.rotate";
    /// A secret was deleted and its ciphertext destroyed.
    pub const SECRET_DELETE: &str = "secret.delete";
    /// A secret was attached to a group.
    pub const SECRET_ATTACH: &str = "secret.attach";
    /// A secret was detached from a group.
    pub const SECRET_DETACH: &str = "secret.detach";
    /// A credential was provisioned from the registry.
    pub const CREDENTIAL_PROVISION: &str = "credential.provision";
    /// A credential was removed.
    pub const CREDENTIAL_DELETE: &str = "credential.delete";
    /// An operator created a credential.
    pub const CREDENTIAL_CREATE: &str = "credential.create";
    /// An operator created a capability.
    pub const CAPABILITY_CREATE: &str = "capability.create";
    /// An operator deleted a capability (with its policy and bindings).
    pub const CAPABILITY_DELETE: &str = "capability.delete";
    /// A capability's policy was set.
    pub const CAPABILITY_POLICY: &str = "capability.policy";
    /// A secret was bound to a capability.
    pub const CAPABILITY_BIND: &str = "capability.bind";
    /// A binding was removed.
    pub const CAPABILITY_UNBIND: &str = "capability.unbind";
    /// A capability was invoked through the broker (outcome, method, host, path, status,
    /// byte counts and duration in the note; never a value).
    pub const CAPABILITY_INVOKE: &str = "capability.invoke";
    /// The broker refreshed an OAuth 2.0 access token and wrote it back to its secret.
    pub const SECRET_OAUTH_REFRESH: &str = "secret.oauth_refresh";
    /// A caller token was created (its name, id, capabilities and expiry; never its text).
    pub const TOKEN_CREATE: &str = "token.create";
    /// A caller token was revoked.
    pub const TOKEN_REVOKE: &str = "token.revoke";
    /// A call was refused for its token: missing, unknown, expired, revoked, or outside
    /// the token's capabilities or context.
    pub const TOKEN_REFUSED: &str = "token.refused";
    /// The proxy's local CA was generated at first use (its id and how many host patterns
    /// its name constraints permit; never key material).
    pub const PROXY_CA_CREATE: &str = "proxy.ca_create";
    /// The proxy's local CA was replaced (`aivault proxy ca --rotate`).
    pub const PROXY_CA_ROTATE: &str = "proxy.ca_rotate";
    /// The proxy tunnelled a `CONNECT` blind to a `--passthrough-host` (token, host, port;
    /// no credential is ever injected into a tunnel).
    pub const PROXY_PASSTHROUGH: &str = "proxy.passthrough";
}

/// One audit event as printed by `aivault audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// Time, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Event kind (see [`kinds`]).
    pub kind: String,
    /// The secret concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_id: Option<String>,
    /// The credential concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential_id: Option<String>,
    /// The capability concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capability: Option<String>,
    /// The scope concerned (`global`, `workspace:<ws>`, `group:<ws>:<g>`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// Free-form detail (ids, names, counts; never values).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// An event with its chained MAC, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The event.
    pub event: AuditEvent,
    /// HMAC-SHA256 chained over the previous MAC and this event.
    pub mac: [u8; 32],
}

/// The fields of an event about to be appended.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewEvent {
    pub kind: &'static str,
    pub secret_id: Option<String>,
    pub credential_id: Option<String>,
    pub capability: Option<String>,
    pub scope: Option<String>,
    pub note: Option<String>,
}

impl NewEvent {
    pub fn new(kind: &'static str) -> Self {
        NewEvent {
            kind,
            ..NewEvent::default()
        }
    }
    pub fn secret(mut self, id: &str) -> Self {
        self.secret_id = Some(id.to_string());
        self
    }
    pub fn credential(mut self, id: &str) -> Self {
        self.credential_id = Some(id.to_string());
        self
    }
    pub fn capability(mut self, id: &str) -> Self {
        self.capability = Some(id.to_string());
        self
    }
    pub fn scope(mut self, scope: impl ToString) -> Self {
        self.scope = Some(scope.to_string());
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

const HEAD_SEQ: &str = "audit_head_seq";
const HEAD_MAC: &str = "audit_head_mac";
const HEAD_TAG: &str = "audit_head_tag";
/// The `meta` keys of the audit head: writing them does not bump the vault generation.
pub(crate) const HEAD_KEYS: [&str; 3] = [HEAD_SEQ, HEAD_MAC, HEAD_TAG];

/// The tag that authenticates the chain head: HMAC under the audit key over the sequence
/// number and MAC of the newest event.
fn head_tag(key: &Key32, seq: u64, mac: &[u8; 32]) -> [u8; 32] {
    crypto::hmac_parts(key, &[b"aivault-audit-head-v1", &seq.to_be_bytes(), mac])
}

/// Writes the tag of the current head (the upgrade of a vault whose head has none yet).
pub(crate) fn seal_head(tx: &dyn StoreTx, key: &Key32) -> Result<()> {
    let (seq, mac) = head(tx)?;
    tx.meta_set(HEAD_TAG, &crypto::to_hex(&head_tag(key, seq, &mac)))
}

fn event_mac(key: &Key32, previous: &[u8; 32], e: &AuditEvent) -> [u8; 32] {
    let opt = |v: &Option<String>| match v {
        Some(s) => [&[1u8][..], s.as_bytes()].concat(),
        None => vec![0u8],
    };
    let (secret, credential, capability, scope, note) = (
        opt(&e.secret_id),
        opt(&e.credential_id),
        opt(&e.capability),
        opt(&e.scope),
        opt(&e.note),
    );
    crypto::hmac_parts(
        key,
        &[
            b"aivault-audit-v1",
            previous,
            &e.seq.to_be_bytes(),
            &e.ts_ms.to_be_bytes(),
            e.kind.as_bytes(),
            &secret,
            &credential,
            &capability,
            &scope,
            &note,
        ],
    )
}

fn head(tx: &dyn StoreTx) -> Result<(u64, [u8; 32])> {
    let seq = match tx.meta_get(HEAD_SEQ)? {
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| Error::internal("audit head is corrupt"))?,
        None => 0,
    };
    let mac = match tx.meta_get(HEAD_MAC)? {
        Some(hex) => crypto::from_hex(&hex)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| Error::internal("audit head is corrupt"))?,
        None => [0u8; 32],
    };
    Ok((seq, mac))
}

/// Appends an event to the chain inside the caller's transaction.
pub(crate) fn append(tx: &dyn StoreTx, key: &Key32, event: NewEvent, now_ms: i64) -> Result<()> {
    append_all(tx, key, std::iter::once((event, now_ms)))
}

/// Appends events (each with its time) to the chain in order inside the caller's
/// transaction: the head is read once and written once for the whole batch (the background
/// writer's group commits), each event still chained to the one before it.
pub(crate) fn append_all(
    tx: &dyn StoreTx,
    key: &Key32,
    events: impl IntoIterator<Item = (NewEvent, i64)>,
) -> Result<()> {
    let (mut seq, mut previous) = head(tx)?;
    let start = seq;
    for (event, now_ms) in events {
        seq += 1;
        let event = AuditEvent {
            seq,
            ts_ms: now_ms,
            kind: event.kind.to_string(),
            secret_id: event.secret_id,
            credential_id: event.credential_id,
            capability: event.capability,
            scope: event.scope,
            note: event.note,
        };
        let mac = event_mac(key, &previous, &event);
        tx.audit_append(&AuditRecord { event, mac })?;
        previous = mac;
    }
    if seq == start {
        return Ok(());
    }
    tx.meta_set(HEAD_SEQ, &seq.to_string())?;
    tx.meta_set(HEAD_MAC, &crypto::to_hex(&previous))?;
    tx.meta_set(HEAD_TAG, &crypto::to_hex(&head_tag(key, seq, &previous)))?;
    Ok(())
}

/// The outcome of `aivault audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerification {
    /// True when the whole chain is intact.
    pub ok: bool,
    /// Number of events checked.
    pub events: u64,
    /// The sequence number of the first broken event, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
    /// What is wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Recomputes the chain over every stored event and compares it with the stored MACs and head.
/// `sealed`: the vault has authenticated heads (every vault since its integrity upgrade), so a
/// missing head tag is tampering, not age.
pub(crate) fn verify(tx: &dyn StoreTx, key: &Key32, sealed: bool) -> Result<AuditVerification> {
    let records = tx.audit_all()?;
    let (head_seq, head_mac) = head(tx)?;
    let broken = |seq: u64, problem: String| AuditVerification {
        ok: false,
        events: records.len() as u64,
        first_bad_seq: Some(seq),
        problem: Some(problem),
    };
    let mut previous = [0u8; 32];
    let mut upgrades = 0;
    for (index, record) in records.iter().enumerate() {
        let expected_seq = index as u64 + 1;
        if record.event.seq != expected_seq {
            return Ok(broken(
                expected_seq,
                format!(
                    "event {expected_seq} is missing or out of order (found {})",
                    record.event.seq
                ),
            ));
        }
        let mac = event_mac(key, &previous, &record.event);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&mac[..], &record.mac[..])) {
            return Ok(broken(
                expected_seq,
                format!(
                    "event {expected_seq} was altered, or an event before it was removed or reordered"
                ),
            ));
        }
        previous = mac;
        if record.event.kind == kinds::VAULT_INTEGRITY_UPGRADE {
            upgrades += 1;
            if upgrades > 1 {
                return Ok(broken(
                    expected_seq,
                    format!(
                        "event {expected_seq} is a second integrity upgrade: the vault's key check value and audit head tag were removed after it was upgraded"
                    ),
                ));
            }
        }
    }
    let count = records.len() as u64;
    if head_seq != count || previous != head_mac {
        return Ok(broken(
            count + 1,
            format!(
                "the log ends at event {count} but the chain head records event {head_seq}: newest events were removed"
            ),
        ));
    }
    let tag = match tx.meta_get(HEAD_TAG)? {
        Some(hex) => crypto::from_hex(&hex),
        // Only a vault never upgraded may lack the tag.
        None if !sealed && upgrades == 0 => Some(head_tag(key, head_seq, &head_mac).to_vec()),
        None => None,
    };
    let authentic = tag.is_some_and(|tag| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            &tag[..],
            &head_tag(key, head_seq, &head_mac)[..],
        ))
    });
    if !authentic {
        return Ok(broken(
            count + 1,
            format!(
                "the chain head (event {head_seq}) is not authentic: newest events were removed and the head rewritten"
            ),
        ));
    }
    Ok(AuditVerification {
        ok: true,
        events: count,
        first_bad_seq: None,
        problem: None,
    })
}
