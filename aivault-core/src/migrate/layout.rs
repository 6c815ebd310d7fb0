//! Reading a vault of the original aivault tool, strictly read-only: its `vault.json` (key
//! provider and key id), its per-secret records under `secrets/`, the broker records in
//! `broker.json`, the bindings in `capabilities.json` and the audit lines under `audit/`.
//!
//! The original's envelope: a 32-byte master key (KEK) wraps a per-secret DEK with
//! XChaCha20-Poly1305; the DEK encrypts the value with the same AAD; nonces and ciphertexts
//! are base64 in JSON. The AAD is `vault:secret:v1:<id>:<scope>` (or `v2`, which also binds
//! the pinned provider). The key id is the lower-case hex SHA-256 of the key. A passphrase
//! vault derives its key with Argon2id and keeps a check record encrypted under it.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::EnvLookup;
use crate::crypto::{self, Argon2Params};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::parse_key_text;
use crate::model::{GroupRef, Scope};
use crate::sensitive::{Key32, SecretValue};

/// The original's configuration file, the marker of its layout.
pub const CONFIG_FILE: &str = "vault.json";
/// AAD of the passphrase check record.
const CHECK_AAD: &[u8] = b"vault:check:v1";

/// Where the original vault keeps its master key (the `provider` of its `vault.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginalKeyProvider {
    /// A key file (base64 of 32 bytes).
    File {
        /// The key file's path.
        path: PathBuf,
    },
    /// An environment variable (base64 or 64 hex digits).
    Env {
        /// The variable's name (normally `AIVAULT_KEY`).
        var: String,
    },
    /// A passphrase (Argon2id).
    Passphrase,
    /// The macOS Keychain, which this tool does not read.
    Keychain {
        /// Keychain service.
        service: String,
        /// Keychain account.
        account: String,
    },
}

/// How `migrate` obtains the original vault's master key.
#[derive(Debug, Clone)]
pub enum SourceKey {
    /// As its `vault.json` says: its key file, or its variable (looked up like every other
    /// variable of this vault's [`crate::Config`]). A passphrase or Keychain vault needs one of
    /// the other forms.
    Layout,
    /// This key file instead (base64 or hex of 32 bytes).
    KeyFile(PathBuf),
    /// This passphrase.
    Passphrase(SecretValue),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    kek_id: String,
    provider: RawProvider,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawProvider {
    MacosKeychain { service: String, account: String },
    Passphrase { kdf: RawKdf, check: RawCheck },
    Env { env_var: String },
    File { path: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKdf {
    salt_b64: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCheck {
    sha256_hex: String,
    blob: RawBlob,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBlob {
    alg: String,
    nonce_b64: String,
    ciphertext_b64: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSecret {
    secret_id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    scope: Scope,
    #[serde(default)]
    pinned_provider: Option<String>,
    #[serde(default)]
    aad_version: u32,
    #[serde(default)]
    revoked_at_ms: Option<i64>,
    #[serde(default)]
    ciphertext: Option<RawCiphertext>,
    #[serde(default)]
    attached_groups: Vec<GroupRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCiphertext {
    dek_wrapped: RawBlob,
    value: RawBlob,
}

/// One decrypted secret of the original vault.
pub(crate) struct OriginalSecret {
    /// Its id in the original vault (credentials and bindings refer to it).
    pub source_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub scope: Scope,
    pub pinned_provider: Option<String>,
    pub attached_groups: Vec<GroupRef>,
    pub value: SecretValue,
}

/// A record that could not be read, with why (never a value).
pub(crate) struct Unreadable {
    /// `secret`, `credential`, `capability`, `policy`, `binding` or `file`.
    pub kind: &'static str,
    /// The record's id, name or file.
    pub id: String,
    /// A secret's scope.
    pub scope: Option<String>,
    pub reason: String,
}

/// Everything read from the original vault.
pub(crate) struct Contents {
    pub secrets: Vec<OriginalSecret>,
    /// Raw records of `broker.json`; mapped one by one so one bad record spoils nothing else.
    pub credentials: Vec<Value>,
    pub capabilities: Vec<Value>,
    pub policies: Vec<Value>,
    /// Raw records of `capabilities.json`.
    pub bindings: Vec<Value>,
    pub unreadable: Vec<Unreadable>,
    /// Lines in the audit files (not imported: this vault's audit log is its own MAC chain).
    pub audit_events: u64,
}

/// A vault directory in the original tool's layout, opened read-only.
#[derive(Debug, Clone)]
pub struct OriginalVault {
    dir: PathBuf,
    kek_id: String,
    provider: OriginalKeyProvider,
    passphrase: Option<PassphraseCheck>,
}

/// What a passphrase vault keeps to derive and check its key: the Argon2id salt and costs,
/// and the check record (SHA-256 of its plaintext, nonce, ciphertext).
#[derive(Debug, Clone)]
struct PassphraseCheck {
    salt: Vec<u8>,
    params: Argon2Params,
    sha256_hex: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Whether `dir` holds a vault of the original tool (a `vault.json` naming a key provider and
/// key id). Never writes.
pub fn is_original_layout(dir: &Path) -> bool {
    fs::read(dir.join(CONFIG_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RawConfig>(&bytes).ok())
        .is_some()
}

/// The original vault next to this tool's data directory: the directory itself (the original
/// honoured `AIVAULT_DIR` as its vault directory too) or its `vault/` subdirectory (the
/// original's default `~/.aivault/data/vault`). `None` when neither holds one.
pub fn find_original_layout(data_dir: &Path) -> Option<PathBuf> {
    [data_dir.to_path_buf(), data_dir.join("vault")]
        .into_iter()
        .find(|dir| is_original_layout(dir))
}

/// The default `--from` of `migrate`: the original vault found by [`find_original_layout`],
/// else `<data dir>/vault`.
pub fn default_original_dir(data_dir: &Path) -> PathBuf {
    find_original_layout(data_dir).unwrap_or_else(|| data_dir.join("vault"))
}

/// Refuses to import into a vault whose directory is the original vault's own: creating
/// `vault.db` there would write to the source.
///
/// # Errors
/// `invalid_input` naming both directories.
pub fn check_target(source_dir: &Path, data_dir: &Path) -> Result<()> {
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canonical(source_dir) == canonical(data_dir) {
        return Err(Error::invalid(format!(
            "the original vault is in this vault's directory {}; migrate never writes to its source: set AIVAULT_DIR to another directory",
            data_dir.display()
        )));
    }
    Ok(())
}

fn b64(what: &str, text: &str) -> std::result::Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{what} is not valid base64"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    crypto::to_hex(&Sha256::digest(bytes))
}

/// `nonce`, `ciphertext` of an AEAD blob of the original.
fn blob_parts(what: &str, blob: &RawBlob) -> std::result::Result<[Vec<u8>; 2], String> {
    if blob.alg != "xchacha20poly1305" {
        return Err(format!("{what} uses unsupported algorithm '{}'", blob.alg));
    }
    Ok([
        b64(&format!("{what} nonce"), &blob.nonce_b64)?,
        b64(&format!("{what} ciphertext"), &blob.ciphertext_b64)?,
    ])
}

fn read_json_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// A serde error without the offending text (records hold no values, but stay safe).
fn parse_error(e: &serde_json::Error) -> String {
    format!(
        "not a valid record of the original format (line {}, column {})",
        e.line(),
        e.column()
    )
}

impl OriginalVault {
    /// Opens the original vault in `dir` (reads its `vault.json`).
    ///
    /// # Errors
    /// `not_found` when `dir` has no `vault.json`; `invalid_input` when it is not the
    /// original's format; `io` when it cannot be read.
    pub fn open(dir: &Path) -> Result<OriginalVault> {
        let path = dir.join(CONFIG_FILE);
        let bytes = read_json_file(&path)?.ok_or_else(|| {
            Error::not_found(format!(
                "no vault of the original aivault in {} (no {CONFIG_FILE}); pass --from PATH",
                dir.display()
            ))
        })?;
        let raw: RawConfig = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{}: {}", path.display(), parse_error(&e))))?;
        let mut passphrase = None;
        let provider = match raw.provider {
            RawProvider::File { path } => OriginalKeyProvider::File { path: path.into() },
            RawProvider::Env { env_var } => OriginalKeyProvider::Env { var: env_var },
            RawProvider::MacosKeychain { service, account } => {
                OriginalKeyProvider::Keychain { service, account }
            }
            RawProvider::Passphrase { kdf, check } => {
                let bad = |reason: String| Error::invalid(format!("{}: {reason}", path.display()));
                let salt = b64("kdf salt", &kdf.salt_b64).map_err(bad)?;
                let params = Argon2Params {
                    memory_kib: kdf.m_cost_kib,
                    iterations: kdf.t_cost,
                    lanes: kdf.p_cost,
                };
                let [nonce, ciphertext] = blob_parts("check record", &check.blob).map_err(bad)?;
                passphrase = Some(PassphraseCheck {
                    salt,
                    params,
                    sha256_hex: check.sha256_hex,
                    nonce,
                    ciphertext,
                });
                OriginalKeyProvider::Passphrase
            }
        };
        Ok(OriginalVault {
            dir: dir.to_path_buf(),
            kek_id: raw.kek_id,
            provider,
            passphrase,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the original keeps its master key.
    pub fn key_provider(&self) -> &OriginalKeyProvider {
        &self.provider
    }

    /// The master key from `key`, checked against the vault's key id (and, for a passphrase,
    /// its check record), so a wrong key fails here, before anything is imported.
    ///
    /// # Errors
    /// `decrypt_failed` for a wrong key or passphrase; `vault_locked` when no key is at hand
    /// (variable unset, Keychain or passphrase vault without a passphrase or key file);
    /// `invalid_input` / `io` for an unreadable key file.
    pub(crate) fn master_key(&self, key: &SourceKey, env: &EnvLookup) -> Result<Key32> {
        let (kek, from) = match (key, &self.provider) {
            (SourceKey::KeyFile(path), _) => {
                (read_key(path)?, format!("key file {}", path.display()))
            }
            (SourceKey::Passphrase(passphrase), OriginalKeyProvider::Passphrase) => {
                let Some(check) = &self.passphrase else {
                    return Err(Error::internal("passphrase vault without its parameters"));
                };
                if passphrase.is_empty() {
                    return Err(Error::invalid("the passphrase cannot be empty"));
                }
                let kek = crypto::argon2id(passphrase.expose(), &check.salt, check.params)?;
                let plain = crypto::open(&kek, &check.nonce, CHECK_AAD, &check.ciphertext)
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::DecryptFailed,
                            "wrong passphrase for the original vault",
                        )
                    })?;
                if sha256_hex(plain.expose()) != check.sha256_hex {
                    return Err(Error::new(
                        ErrorKind::DecryptFailed,
                        "wrong passphrase for the original vault (check record mismatch)",
                    ));
                }
                (kek, "passphrase".to_string())
            }
            (SourceKey::Passphrase(_), _) => {
                return Err(Error::invalid(
                    "the original vault is not a passphrase vault: drop --passphrase/--passphrase-stdin",
                ));
            }
            (SourceKey::Layout, OriginalKeyProvider::File { path }) => {
                (read_key(path)?, format!("key file {}", path.display()))
            }
            (SourceKey::Layout, OriginalKeyProvider::Env { var }) => {
                let value = env(var).ok_or_else(|| {
                    Error::new(
                        ErrorKind::VaultLocked,
                        format!("the original vault's key comes from {var}, which is not set"),
                    )
                })?;
                (
                    parse_key_text(var, value.expose())?,
                    format!("variable {var}"),
                )
            }
            (SourceKey::Layout, OriginalKeyProvider::Passphrase) => {
                return Err(Error::new(
                    ErrorKind::VaultLocked,
                    "the original vault is a passphrase vault: give its passphrase (--passphrase-stdin)",
                ));
            }
            (SourceKey::Layout, OriginalKeyProvider::Keychain { service, account }) => {
                return Err(Error::new(
                    ErrorKind::VaultLocked,
                    format!(
                        "the original vault keeps its key in the macOS Keychain (service {service}, account {account}); export it to a file and pass --key-file"
                    ),
                ));
            }
        };
        if sha256_hex(kek.expose()) != self.kek_id.trim().to_ascii_lowercase() {
            return Err(Error::new(
                ErrorKind::DecryptFailed,
                format!("the key from {from} is not the original vault's key (its key id differs)"),
            ));
        }
        Ok(kek)
    }

    /// Reads and decrypts every record. Unreadable records are listed with why; the source is
    /// never written.
    pub(crate) fn read(&self, kek: &Key32) -> Result<Contents> {
        let mut contents = Contents {
            secrets: Vec::new(),
            credentials: Vec::new(),
            capabilities: Vec::new(),
            policies: Vec::new(),
            bindings: Vec::new(),
            unreadable: Vec::new(),
            audit_events: 0,
        };
        self.read_secrets(kek, &mut contents)?;
        if let Some(doc) = self.read_doc("broker.json", &mut contents)? {
            contents.credentials = list(&doc, "credentials");
            contents.capabilities = list(&doc, "capabilities");
            contents.policies = list(&doc, "policies");
        }
        if let Some(doc) = self.read_doc("capabilities.json", &mut contents)? {
            contents.bindings = list(&doc, "bindings");
        }
        contents.audit_events = self.count_audit_events();
        Ok(contents)
    }

    fn read_doc(&self, file: &str, contents: &mut Contents) -> Result<Option<Value>> {
        let Some(bytes) = read_json_file(&self.dir.join(file))? else {
            return Ok(None);
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(doc) if doc.is_object() => Ok(Some(doc)),
            Ok(_) => {
                contents.unreadable.push(Unreadable {
                    kind: "file",
                    id: file.to_string(),
                    scope: None,
                    reason: "not a JSON object".into(),
                });
                Ok(None)
            }
            Err(e) => {
                contents.unreadable.push(Unreadable {
                    kind: "file",
                    id: file.to_string(),
                    scope: None,
                    reason: parse_error(&e),
                });
                Ok(None)
            }
        }
    }

    fn read_secrets(&self, kek: &Key32, contents: &mut Contents) -> Result<()> {
        let dir = self.dir.join("secrets");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            // Only `<id>.json`: the original's interrupted writes leave `*.json.tmp.*` behind.
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = fs::read(&path)
                .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            let raw: RawSecret = match serde_json::from_slice(&bytes) {
                Ok(raw) => raw,
                Err(e) => {
                    contents.unreadable.push(Unreadable {
                        kind: "secret",
                        id: format!("secrets/{file}"),
                        scope: None,
                        reason: parse_error(&e),
                    });
                    continue;
                }
            };
            let (name, scope) = (raw.name.clone(), Some(raw.scope.to_string()));
            match decrypt(kek, &raw) {
                Ok(Some(value)) => contents.secrets.push(OriginalSecret {
                    source_id: raw.secret_id,
                    name: raw.name,
                    aliases: raw.aliases,
                    scope: raw.scope,
                    pinned_provider: raw.pinned_provider,
                    attached_groups: raw.attached_groups,
                    value,
                }),
                Ok(None) => contents.unreadable.push(Unreadable {
                    kind: "secret",
                    id: name,
                    scope,
                    reason: "revoked in the original vault (it has no value)".into(),
                }),
                Err(reason) => contents.unreadable.push(Unreadable {
                    kind: "secret",
                    id: name,
                    scope,
                    reason,
                }),
            }
        }
        Ok(())
    }

    fn count_audit_events(&self) -> u64 {
        let Ok(entries) = fs::read_dir(self.dir.join("audit")) else {
            return 0;
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.to_string_lossy().contains(".jsonl"))
            .filter_map(|p| fs::read(p).ok())
            .map(|bytes| {
                bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count() as u64
            })
            .sum()
    }
}

fn read_key(path: &Path) -> Result<Key32> {
    let bytes = zeroize::Zeroizing::new(fs::read(path).map_err(|e| {
        Error::io(
            format!("cannot read the original key file {}", path.display()),
            e,
        )
    })?);
    parse_key_text(&format!("key file {}", path.display()), &bytes)
}

fn list(doc: &Value, field: &str) -> Vec<Value> {
    doc.get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The AAD the original binds a record's ciphertexts to.
fn record_aad(raw: &RawSecret) -> std::result::Result<Vec<u8>, String> {
    let scope = raw.scope.to_string();
    match raw.aad_version {
        0 | 1 => Ok(format!("vault:secret:v1:{}:{scope}", raw.secret_id).into_bytes()),
        2 => {
            let pinned = raw
                .pinned_provider
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .ok_or("AAD version 2 without a pinned provider")?;
            Ok(format!("vault:secret:v2:{}:{scope}:{pinned}", raw.secret_id).into_bytes())
        }
        other => Err(format!("unsupported AAD version {other}")),
    }
}

/// The value of a record; `None` when revoked.
fn decrypt(kek: &Key32, raw: &RawSecret) -> std::result::Result<Option<SecretValue>, String> {
    let Some(ciphertext) = &raw.ciphertext else {
        return Ok(None);
    };
    if raw.revoked_at_ms.is_some() {
        return Ok(None);
    }
    let aad = record_aad(raw)?;
    let [dek_nonce, wrapped] = blob_parts("wrapped key", &ciphertext.dek_wrapped)?;
    let [value_nonce, sealed] = blob_parts("value", &ciphertext.value)?;
    let failed = |_| {
        "cannot be decrypted (authentication failed: the record was altered or sealed under another key)"
            .to_string()
    };
    let dek = crypto::open(kek, &dek_nonce, &aad, &wrapped).map_err(failed)?;
    let dek = Key32::from_slice(dek.expose()).ok_or("its wrapped key is not 32 bytes")?;
    crypto::open(&dek, &value_nonce, &aad, &sealed)
        .map(Some)
        .map_err(failed)
}
