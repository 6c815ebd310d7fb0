//! `aivault provider trust FILE`: the operator accepts a provider file in
//! `<vault dir>/registry/`. The vault records the file's name and SHA-256 in an authenticated
//! row; from the next open the file is used, until its bytes change.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::error::{Error, Result};
use crate::integrity::{self, kind};
use crate::operator_registry::{self, operator_registry_dir};
use crate::vault::{Vault, now_ms};

/// The result of `provider trust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedProviderFile {
    /// The file.
    pub file: PathBuf,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The provider it defines.
    pub provider: String,
}

impl Vault {
    /// Trusts the provider file `path` (a file name, or a path inside `<vault dir>/registry/`):
    /// checks it as the loader would, records its name and SHA-256 (replacing an earlier
    /// trust of the same name) and audits it. Takes effect at the next open.
    ///
    /// # Errors
    /// `invalid_input` for a file outside the registry directory or one the loader would
    /// skip (with the reason); `io` when it cannot be read.
    pub fn trust_provider_file(&self, path: &Path) -> Result<TrustedProviderFile> {
        let dir = operator_registry_dir(&self.config().dir);
        let name = path
            .file_name()
            .ok_or_else(|| Error::invalid(format!("{} names no file", path.display())))?
            .to_string_lossy()
            .into_owned();
        let file = dir.join(&name);
        let inside = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            None => true,
            Some(parent) => {
                let canonical = |p: &Path| std::fs::canonicalize(p).ok();
                canonical(parent).is_some() && canonical(parent) == canonical(&dir)
            }
        };
        if !inside || !name.ends_with(".toml") {
            return Err(Error::invalid(format!(
                "{}: only a .toml file in {} can be trusted (that is where provider files are read)",
                path.display(),
                dir.display()
            )));
        }
        let meta = std::fs::symlink_metadata(&file)
            .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "{}: not a regular file",
                file.display()
            )));
        }
        let bytes = std::fs::read(&file)
            .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        let provider = operator_registry::check_file(&file)?;
        let id = operator_registry::trust_id(&name, &bytes);
        self.write(|tx, keys| {
            for old in tx.row_mac_ids(kind::PROVIDER_FILE)? {
                if operator_registry::trust_file_name(&old) == name {
                    tx.row_mac_delete(kind::PROVIDER_FILE, &old)?;
                }
            }
            integrity::seal_row(tx, &keys.rows, kind::PROVIDER_FILE, &id, &id)?;
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::PROVIDER_TRUST).note(format!(
                    "file={name} provider={} sha256={}",
                    provider.id,
                    operator_registry::trust_file_name_hash(&id)
                )),
                now_ms(),
            )
        })?;
        Ok(TrustedProviderFile {
            file,
            sha256: operator_registry::trust_file_name_hash(&id).to_string(),
            provider: provider.id,
        })
    }
}
