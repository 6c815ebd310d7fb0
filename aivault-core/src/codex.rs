//! `secrets import-codex`: the Codex CLI's ChatGPT sign-in (`~/.codex/auth.json`) stored as
//! the `CODEX_OAUTH_JSON` secret, which provisions OpenAI's `codex` credential and with it the
//! three `openai/codex-*` capabilities. The file is read with a size cap, only when it is a
//! regular file, and checked to hold what a call needs before anything is stored; messages
//! name fields and the path, never the file's content.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::broker::token_state::TokenState;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Scope, SecretMeta};
use crate::provision::Provisioning;
use crate::registry::{AuthSpec, Registry};
use crate::secrets::MAX_VALUE_LEN;
use crate::sensitive::SecretValue;
use crate::vault::Vault;

/// The secret name the registry's OpenAI `codex` alternative claims.
pub const CODEX_SECRET: &str = "CODEX_OAUTH_JSON";

/// What messages call the file.
const WHAT: &str = "the Codex auth file";

/// The Codex CLI's sign-in file: `$CODEX_HOME/auth.json` when `CODEX_HOME` is set (the Codex
/// CLI's own override), else `$HOME/.codex/auth.json`. `var` looks a variable up.
///
/// # Errors
/// `invalid_input` when neither variable is set.
pub fn default_auth_file(var: impl Fn(&str) -> Option<String>) -> Result<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(codex_home) = set("CODEX_HOME") {
        return Ok(PathBuf::from(codex_home).join("auth.json"));
    }
    let home = set("HOME").ok_or_else(|| {
        Error::invalid(
            "neither CODEX_HOME nor HOME is set: pass --file PATH to the Codex auth.json",
        )
    })?;
    Ok(PathBuf::from(home).join(".codex").join("auth.json"))
}

/// Reads the sign-in file at `path`: a regular file (symbolic links to one are followed) of at
/// most the largest secret value.
///
/// # Errors
/// `not_found` when there is no such file (sign in with `codex login` first); `invalid_input`
/// for a directory, device, FIFO or socket, or a file too large; `io` for other read failures.
pub fn read_auth_file(path: &Path) -> Result<SecretValue> {
    let shown = path.display();
    let io = |e: std::io::Error| -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no Codex sign-in at {shown}: run `codex login` first, or pass --file PATH"
                ),
            )
        } else {
            Error::new(ErrorKind::Io, format!("cannot read {shown}: {e}"))
        }
    };
    let not_regular = || {
        Error::invalid(format!(
            "{shown} is not a regular file; pass the Codex auth.json with --file PATH"
        ))
    };
    // Checked before opening: opening a FIFO would block.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // And again on what was opened, in case the path changed in between.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_VALUE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let value = SecretValue::new(bytes);
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::invalid(format!(
            "{shown} is larger than {MAX_VALUE_LEN} bytes; it is not a Codex auth.json"
        )));
    }
    Ok(value)
}

/// Checks that `bytes` hold a Codex sign-in a call can use: a JSON object, tokens nested under
/// `tokens` (or flat), with a refresh token or an access token, and the field the registry's
/// `account_header` sends (`account_id`).
///
/// # Errors
/// `invalid_input` naming the missing or ill-typed field, never a value.
pub fn check_auth_json(registry: &Registry, bytes: &[u8]) -> Result<()> {
    let (public_client_id, account_field) = codex_auth(registry)?;
    let state = TokenState::parse_as(bytes, WHAT, public_client_id, None)?;
    if state.refresh_token.is_none() && state.access_token.is_none() {
        // A file without a `tokens` object is often the Codex CLI's API-key sign-in.
        let flat = if state.nested {
            ""
        } else {
            " (nor a flat \"refresh_token\" or \"access_token\")"
        };
        return Err(Error::invalid(format!(
            "{WHAT} has no \"tokens.refresh_token\" or \"tokens.access_token\" field{flat}: sign in to Codex with ChatGPT (`codex login`)"
        )));
    }
    if let Some(field) = account_field {
        TokenState::parse_as(bytes, WHAT, public_client_id, Some(field))?;
    }
    Ok(())
}

/// The public client id and account field of the registry's `CODEX_OAUTH_JSON` alternative.
fn codex_auth(registry: &Registry) -> Result<(Option<&str>, Option<&str>)> {
    let claim = registry
        .claim(CODEX_SECRET)
        .ok_or_else(|| Error::internal("the registry does not claim CODEX_OAUTH_JSON"))?;
    match &claim.credential.auth {
        AuthSpec::Oauth2 {
            public_client_id,
            account_header,
            ..
        } => Ok((
            public_client_id.as_deref(),
            account_header.as_ref().map(|h| h.field.as_str()),
        )),
        _ => Err(Error::internal(
            "the CODEX_OAUTH_JSON alternative is not oauth2",
        )),
    }
}

/// What `import-codex` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodexImport {
    /// `created` (a new secret) or `updated` (the existing one got the file's value).
    pub action: &'static str,
    /// The secret's metadata.
    pub secret: SecretMeta,
    /// What happened to the `codex` credential.
    #[serde(skip)]
    pub provisioning: Vec<Provisioning>,
}

impl Vault {
    /// Stores a Codex sign-in (the content of `auth.json`) as `CODEX_OAUTH_JSON` in `scope`:
    /// created, or the existing secret of that name rotated, in one transaction; the `codex`
    /// credential is provisioned as for any claimed secret.
    ///
    /// # Errors
    /// `invalid_input` when the JSON is malformed or lacks a token or `account_id` (nothing
    /// is stored); those of [`Vault::import_secrets`].
    pub fn import_codex(&self, value: SecretValue, scope: &Scope) -> Result<CodexImport> {
        check_auth_json(self.registry(), value.expose())?;
        let report = self.import_secrets(vec![(CODEX_SECRET.to_string(), value)], scope)?;
        let action = if report.created.iter().any(|n| n == CODEX_SECRET) {
            "created"
        } else {
            "updated"
        };
        let id = self
            .read(|tx| tx.secret_by_name(scope, CODEX_SECRET))?
            .ok_or_else(|| Error::internal("the imported Codex secret is missing"))?;
        Ok(CodexImport {
            action,
            secret: self.get_secret(&id)?,
            provisioning: report.provisioning,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-91fe-never-shown";

    fn check(json: &str) -> Result<()> {
        check_auth_json(Registry::builtin(), json.as_bytes())
    }

    fn message(json: &str) -> String {
        let err = check(json).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(!err.message().contains(CANARY), "{}", err.message());
        assert!(!format!("{err:?}").contains(CANARY));
        err.message().to_string()
    }

    #[test]
    fn a_chatgpt_sign_in_passes_in_both_forms() {
        check(r#"{"tokens":{"refresh_token":"r","account_id":"a"},"OPENAI_API_KEY":null}"#)
            .unwrap();
        check(r#"{"tokens":{"access_token":"t","account_id":"a"}}"#).unwrap();
        check(r#"{"access_token":"t","account_id":"a","expires_at":5}"#).unwrap();
    }

    #[test]
    fn problems_name_the_field() {
        let m = message(&format!(r#"{{"OPENAI_API_KEY":"{CANARY}","tokens":null}}"#));
        assert!(
            m.contains("\"tokens.refresh_token\" or \"tokens.access_token\""),
            "{m}"
        );
        let m = message(&format!(
            r#"{{"tokens":{{"id_token":"{CANARY}","account_id":"a"}}}}"#
        ));
        assert!(m.contains("\"tokens.refresh_token\""), "{m}");
        let m = message(&format!(
            r#"{{"account_id":"a","expires_at":5,"x":"{CANARY}"}}"#
        ));
        assert!(
            m.contains("nor a flat \"refresh_token\" or \"access_token\""),
            "{m}"
        );
        let m = message(&format!(r#"{{"tokens":{{"refresh_token":"{CANARY}"}}}}"#));
        assert!(m.contains("\"tokens.account_id\""), "{m}");
        let m = message(&format!(r#"{{"tokens":{{"refresh_token":{CANARY}}}"#));
        assert!(m.contains("the Codex auth file is not valid JSON"), "{m}");
        let m = message(&format!(r#"["{CANARY}"]"#));
        assert!(m.contains("must be a JSON object"), "{m}");
    }

    #[test]
    fn the_default_file_follows_codex_home_then_home() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            default_auth_file(vars(&[("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.codex/auth.json")
        );
        assert_eq!(
            default_auth_file(vars(&[("HOME", "/h"), ("CODEX_HOME", "/c")])).unwrap(),
            PathBuf::from("/c/auth.json")
        );
        assert!(default_auth_file(vars(&[("HOME", "")])).is_err());
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_auth_file(dir.path()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = read_auth_file(&dir.path().join("missing.json"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_VALUE_LEN + 1]).unwrap();
        assert_eq!(
            read_auth_file(&big).err().unwrap().kind(),
            ErrorKind::InvalidInput
        );
        let ok = dir.path().join("auth.json");
        std::fs::write(&ok, b"{}").unwrap();
        assert_eq!(read_auth_file(&ok).unwrap().expose(), b"{}");
    }
}
