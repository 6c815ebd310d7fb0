//! `aivault verify`: one check of the whole vault against the local attacker (DESIGN §9):
//! every secret decrypts, every authenticated row matches its MAC (and no MAC lost its row),
//! and the audit chain is intact. Reports ids and kinds, never values.

use serde::Serialize;

use crate::audit::{self, AuditVerification};
use crate::error::Result;
use crate::integrity;
use crate::secrets::SecretsCheck;
use crate::vault::{Vault, meta};

/// The outcome of `aivault verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultVerification {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Secrets decrypted, and those that failed.
    pub secrets: SecretsCheck,
    /// Authenticated rows checked (credentials, capabilities, policies, bindings).
    pub rows_checked: u64,
    /// One line per row that fails its MAC or was deleted outside aivault.
    pub row_problems: Vec<String>,
    /// The audit chain.
    pub audit: AuditVerification,
}

impl Vault {
    /// Checks the whole vault (needs the key): secrets, row MACs, audit chain.
    ///
    /// # Errors
    /// `vault_locked` / `decrypt_failed` without the right key; `integrity_failed` when the
    /// key metadata itself was altered.
    pub fn verify(&self) -> Result<VaultVerification> {
        self.flush_audit();
        let secrets = self.check_secrets()?;
        let (rows_checked, row_problems, audit) = self.read_keyed_raw(|tx, keys| {
            let (checked, mut problems) = integrity::check_all(tx, &keys.rows)?;
            match integrity::check_state(tx, &keys.rows) {
                Err(e) => problems.push(e.message().to_string()),
                Ok(generation) => {
                    let file = integrity::generation_file(self.config(), &keys.vault_id);
                    if let Some(recorded) = integrity::recorded_generation(&file)
                        && recorded > generation
                    {
                        problems.push(format!(
                            "vault.db is older than its last recorded state (row generation {generation}, {} records {recorded}): it was replaced by an older copy",
                            file.display()
                        ));
                    }
                }
            }
            let sealed = tx.meta_get(meta::KEY_CHECK)?.is_some();
            Ok((checked, problems, audit::verify(tx, &keys.audit, sealed)?))
        })?;
        Ok(VaultVerification {
            ok: secrets.failed.is_empty() && row_problems.is_empty() && audit.ok,
            secrets,
            rows_checked,
            row_problems,
            audit,
        })
    }
}
