//! Key providers (`file`, `env`, `passphrase`), key ids, unlock sessions and the on-disk
//! protocol that makes master-key rotation crash-safe.
//!
//! The master key never leaves this module except as a [`Key32`]; the vault stores only its
//! key id, a fingerprint derived with HKDF.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Argon2Params};
use crate::error::{Error, ErrorKind, Result};
use crate::sensitive::{Key32, SecretValue};

/// HKDF label of the key-wrapping key.
const LABEL_WRAP: &str = "aivault/v1/key-wrapping";
/// HKDF label of the key id.
const LABEL_KEY_ID: &str = "aivault/v1/key-id";

/// Where the master key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyProviderKind {
    /// A random key in a 0600 file.
    File,
    /// A key in an environment variable (base64 or 64 hex digits).
    Env,
    /// A key derived from a passphrase with Argon2id.
    Passphrase,
}

impl KeyProviderKind {
    /// Stable name (`file`, `env`, `passphrase`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyProviderKind::File => "file",
            KeyProviderKind::Env => "env",
            KeyProviderKind::Passphrase => "passphrase",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Result<KeyProviderKind> {
        match s {
            "file" => Ok(KeyProviderKind::File),
            "env" => Ok(KeyProviderKind::Env),
            "passphrase" => Ok(KeyProviderKind::Passphrase),
            other => Err(Error::invalid(format!(
                "unknown key provider '{other}' (expected file, env or passphrase)"
            ))),
        }
    }
}

/// The key id of a master key: 32 hex digits of an HKDF-derived fingerprint.
pub fn key_id(master: &Key32) -> String {
    let fingerprint = crypto::derive_key(master, LABEL_KEY_ID);
    crypto::to_hex(&fingerprint.expose()[..16])
}

/// The key that wraps DEKs and the audit key.
pub fn wrapping_key(master: &Key32) -> Key32 {
    crypto::derive_key(master, LABEL_WRAP)
}

/// Parses a 32-byte key written as base64 (standard or URL-safe, padding optional) or as
/// 64 hexadecimal digits. `what` names the source in errors (never the value).
pub fn parse_key_text(what: &str, text: &[u8]) -> Result<Key32> {
    let text = std::str::from_utf8(text)
        .map_err(|_| Error::invalid(format!("{what} is not text")))?
        .trim();
    let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        crypto::from_hex(text)
    } else {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(text).ok())
    };
    let decoded = zeroize::Zeroizing::new(decoded.unwrap_or_default());
    Key32::from_slice(&decoded).ok_or_else(|| {
        Error::invalid(format!(
            "{what} must be a 32-byte key as base64 or 64 hex digits"
        ))
    })
}

/// Base64 text of a key, as written to key and session files.
fn key_text(key: &Key32) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.expose()) + "\n")
}

/// Derives the master key of a passphrase vault.
pub fn passphrase_key(
    passphrase: &SecretValue,
    salt: &[u8],
    params: Argon2Params,
) -> Result<Key32> {
    if passphrase.is_empty() {
        return Err(Error::invalid("the passphrase cannot be empty"));
    }
    crypto::argon2id(passphrase.expose(), salt, params)
}

/// Creates a directory (and missing parents) private to the owner (0700). A directory that
/// already exists is left exactly as it is: aivault never changes the mode of a directory it
/// did not create (`--file-path ~/k.key` must not chmod the home directory).
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

/// Checks an existing key file before its key is used: a regular file (not a symbolic link,
/// not a FIFO or device), owned by this user, with no group or other permissions (0600). A
/// key another user could have written, or a link pointing somewhere else, is never adopted.
///
/// # Errors
/// `vault_locked` when it does not exist; `integrity_failed` naming the file and what is wrong.
pub fn check_key_file(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::VaultLocked
        } else {
            ErrorKind::Io
        };
        Error::new(
            kind,
            format!("cannot read key file {}: {e}", path.display()),
        )
    })?;
    let refuse = |why: String| {
        Err(Error::new(
            ErrorKind::IntegrityFailed,
            format!(
                "refusing key file {}: {why}; aivault only uses a key file that is a regular file owned by you with mode 0600",
                path.display()
            ),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link".into());
    }
    if !meta.is_file() {
        return refuse("it is not a regular file".into());
    }
    let uid = own_uid()?;
    if meta.uid() != uid {
        return refuse(format!(
            "it is owned by uid {}, not by you (uid {uid})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "its mode is {:04o}: group or others can access it",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// [`read_key_file_checked`] after [`check_key_file`].
fn read_adoptable_key_file(path: &Path) -> Result<KeyFile> {
    check_key_file(path)?;
    read_key_file_checked(path)
}

/// HKDF label of the key check value.
const LABEL_KEY_CHECK: &str = "aivault/v1/key-check";

/// The key check value of a vault: a MAC, under a key derived from the master key, over the
/// key id and the metadata rows read before the key is known (`bound`: vault id, key
/// provider, key variable). Stored in the vault's metadata; any of those rows changed, or
/// metadata assembled for another key, fails it.
pub fn key_check(master: &Key32, bound: &[&str]) -> String {
    let mac_key = crypto::derive_key(master, LABEL_KEY_CHECK);
    let id = key_id(master);
    let mut parts: Vec<Vec<u8>> = vec![b"aivault-key-check-v1".to_vec()];
    for field in std::iter::once(id.as_str()).chain(bound.iter().copied()) {
        parts.push((field.len() as u64).to_be_bytes().to_vec());
        parts.push(field.as_bytes().to_vec());
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crypto::to_hex(&crypto::hmac_parts(&mac_key, &parts))
}

/// First line of every key file aivault writes: `aivault-key v1 <key id>`. A key file without
/// it was written by someone else (the original aivault tool keeps its key at the same default
/// path), so aivault may read it when told to, but never adopts it by default, rotates it or
/// overwrites it.
const KEY_FILE_HEADER: &str = "aivault-key v1 ";

/// A key file's key, and whether aivault wrote the file (it carries the aivault header).
pub struct KeyFile {
    /// The key.
    pub key: Key32,
    /// True when the file starts with the aivault header (checked against the key's id).
    pub written_by_aivault: bool,
}

/// Reads a key file.
pub fn read_key_file(path: &Path) -> Result<Key32> {
    read_key_file_checked(path).map(|file| file.key)
}

/// Reads a key file and tells whether aivault wrote it.
///
/// # Errors
/// `vault_locked` when it does not exist, `io` when it cannot be read, `invalid_input` when it
/// holds no key, `integrity_failed` when its header names another key id than the key's.
pub fn read_key_file_checked(path: &Path) -> Result<KeyFile> {
    let bytes = zeroize::Zeroizing::new(fs::read(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::VaultLocked
        } else {
            ErrorKind::Io
        };
        Error::new(
            kind,
            format!("cannot read key file {}: {e}", path.display()),
        )
    })?);
    let what = format!("key file {}", path.display());
    if let Some(rest) = bytes.strip_prefix(KEY_FILE_HEADER.as_bytes()) {
        let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let claimed = std::str::from_utf8(&rest[..line_end]).unwrap_or("").trim();
        let key = parse_key_text(&what, rest.get(line_end + 1..).unwrap_or(&[]))?;
        if claimed != key_id(&key) {
            return Err(Error::new(
                ErrorKind::IntegrityFailed,
                format!(
                    "{what}: its header names key id '{claimed}' but the key in it has another id; the file was altered"
                ),
            ));
        }
        return Ok(KeyFile {
            key,
            written_by_aivault: true,
        });
    }
    let key = match Key32::from_slice(&bytes) {
        Some(key) => key, // raw 32 bytes; text keys are longer
        None => parse_key_text(&what, &bytes)?,
    };
    Ok(KeyFile {
        key,
        written_by_aivault: false,
    })
}

/// The error for a key file aivault did not write, where it would adopt or replace it.
fn foreign_key_file(path: &Path) -> Error {
    Error::exists(format!(
        "key file {} was not written by aivault (it has no 'aivault-key' header; the original aivault tool keeps its key there): aivault never adopts or overwrites another tool's key unasked; give this vault its own key file by setting AIVAULT_KEY_FILE to a new path, or adopt this one with `aivault init --provider file --file-path {}`",
        path.display(),
        path.display()
    ))
}

/// Writes `key` to a new 0600 file next to `path` and fsyncs it; returns the temporary path.
fn write_temp_key(path: &Path, key: &Key32, suffix: &str) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let unique = crypto::to_hex(&crypto::random_bytes::<8>()?);
    let tmp = path.with_extension(format!("{suffix}.{unique}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(format!("cannot create {}", tmp.display()), e))?;
    let text = zeroize::Zeroizing::new(format!(
        "{KEY_FILE_HEADER}{}\n{}",
        key_id(key),
        key_text(key).as_str()
    ));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    Ok(tmp)
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync {}", dir.display()), e))
}

/// Returns the key in `path`, creating a fresh random one first if the file does not exist.
/// Creation never replaces a file another process created meanwhile (link, not rename).
/// An existing file without the aivault header is adopted only when `adopt_foreign` (the
/// operator named it with `--file-path`); at the default path it is refused, since it is most
/// likely another tool's key.
///
/// # Errors
/// `already_exists` for a file aivault did not write, unless `adopt_foreign`.
pub fn load_or_create_key_file(path: &Path, adopt_foreign: bool) -> Result<Key32> {
    let existing = |path: &Path| -> Result<Key32> {
        let file = read_adoptable_key_file(path)?;
        if file.written_by_aivault || adopt_foreign {
            Ok(file.key)
        } else {
            Err(foreign_key_file(path))
        }
    };
    if fs::symlink_metadata(path).is_ok() {
        return existing(path);
    }
    let key = crypto::random_key()?;
    let tmp = write_temp_key(path, &key, "create")?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => existing(path),
        Err(e) => Err(Error::io(
            format!("cannot create key file {}", path.display()),
            e,
        )),
    }
}

/// Where a rotation puts the new key when the current key file is not aivault's: a file of
/// its own beside it (`aivault-<vault id>.key`), so the other tool's key is left untouched.
pub fn own_key_path(current: &Path, vault_id: &str) -> PathBuf {
    current.with_file_name(format!("aivault-{vault_id}.key"))
}

/// Whether the key file at `path` was written by aivault (a missing file counts as aivault's:
/// a rotation that committed but was not promoted leaves only the staged key).
pub fn key_file_is_aivaults(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(true);
    }
    read_key_file_checked(path).map(|file| file.written_by_aivault)
}

/// Whether an aivault key file (with the header) exists at `path`: a vault was created with
/// it. Cheap (reads the first line only); a missing, foreign or unreadable file is false.
pub fn key_file_is_aivaults_existing(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; KEY_FILE_HEADER.len()];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == KEY_FILE_HEADER.as_bytes())
}

/// Path of the staged key of a rotation to `key_id`: `<key file>.new-<key id>`. Each
/// rotation stages under its own name, so concurrent rotations never overwrite each other.
pub fn staged_key_path(path: &Path, key_id: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{key_id}"));
    path.with_file_name(name)
}

/// Step 1 of a file-key rotation (inside the write transaction): durably stage the new key
/// beside the current one.
pub fn stage_key_file(path: &Path, key: &Key32) -> Result<()> {
    let staged = staged_key_path(path, &key_id(key));
    let tmp = write_temp_key(path, key, "stage")?;
    fs::rename(&tmp, &staged)
        .map_err(|e| Error::io(format!("cannot stage {}", staged.display()), e))?;
    sync_dir(path)
}

/// Step 3 (after the database commit): atomically replace the key file with the staged key.
/// A staged key already promoted by another process (or superseded) is not an error.
pub fn promote_staged_key(path: &Path, key_id: &str) -> Result<()> {
    let staged = staged_key_path(path, key_id);
    match fs::rename(&staged, path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("cannot replace {}", path.display()), e)),
    }
}

/// Removes staged keys of rotations that never committed. Only call it while holding the
/// vault's write lock: then no other rotation is between staging and commit, and a staged
/// key for the committed id (a commit not yet promoted) is kept.
pub fn remove_stale_staged_keys(path: &Path, committed_key_id: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        "{}.new-",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix(&prefix)
            && id != committed_key_id
        {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Whether staged keys other than `committed_key_id`'s lie beside `path` (left by a rotation
/// that was killed before its commit): one directory listing, no key is read.
pub fn has_stale_staged_keys(path: &Path, committed_key_id: &str) -> bool {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        "{}.new-",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .strip_prefix(&prefix)
                .is_some_and(|id| id != committed_key_id)
        })
    })
}

/// Loads a file provider's key. If the key file does not match the vault's committed key id,
/// a rotation committed but did not finish: its staged key is promoted now.
pub fn load_file_key(path: &Path, expected_key_id: &str) -> Result<Key32> {
    let read = |path: &Path| read_adoptable_key_file(path).map(|file| file.key);
    let current = read(path);
    if let Ok(key) = &current
        && key_id(key) == expected_key_id
    {
        return current;
    }
    let staged = staged_key_path(path, expected_key_id);
    if fs::symlink_metadata(&staged).is_ok() {
        let key = read(&staged)?;
        if key_id(&key) == expected_key_id {
            promote_staged_key(path, expected_key_id)?;
            return Ok(key);
        }
    }
    match read(path) {
        Ok(key) if key_id(&key) == expected_key_id => Ok(key), // promoted by another process
        Ok(key) => Err(mismatch(
            &format!("key file {}", path.display()),
            expected_key_id,
            &key,
        )),
        Err(e) => Err(e),
    }
}

/// The error for a key that is not this vault's.
pub fn mismatch(source: &str, expected_key_id: &str, key: &Key32) -> Error {
    Error::new(
        ErrorKind::DecryptFailed,
        format!(
            "the key from {source} does not open this vault (key id {}, vault expects {expected_key_id})",
            key_id(key)
        ),
    )
}

/// Path of the unlock session of a vault.
pub fn session_path(runtime_dir: &Path, vault_id: &str) -> PathBuf {
    runtime_dir.join(format!("session-{vault_id}.key"))
}

/// The effective uid of this process (the owner of `/proc/self`).
fn own_uid() -> Result<u32> {
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| Error::io("cannot learn this process's uid from /proc/self", e))
}

/// The per-user session directory used when neither `AIVAULT_RUNTIME_DIR` nor
/// `XDG_RUNTIME_DIR` is set: `/dev/shm/aivault-<uid>` (memory-backed, never the data directory).
pub fn default_runtime_dir() -> Result<PathBuf> {
    Ok(PathBuf::from(format!("/dev/shm/aivault-{}", own_uid()?)))
}

/// Checks that a session directory is a real directory (not a symlink) owned by this user
/// with no group/other permissions; a session key never goes where anyone else can reach it.
fn check_session_dir(dir: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dir)
        .map_err(|e| Error::io(format!("cannot inspect {}", dir.display()), e))?;
    let refuse = |why: &str| {
        Err(Error::invalid(format!(
            "refusing the unlock session directory {}: {why}; fix it or set AIVAULT_RUNTIME_DIR \
             (or XDG_RUNTIME_DIR) to a private directory",
            dir.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    if meta.uid() != own_uid()? {
        return refuse("it is owned by another user");
    }
    if meta.mode() & 0o077 != 0 {
        return refuse("it is accessible to group or others (want mode 0700)");
    }
    Ok(())
}

/// Creates the session directory (0700, never through a symlink) if missing, then checks it.
fn ensure_session_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(format!("cannot create {}", dir.display()), e)),
    }
    check_session_dir(dir)
}

/// Reads an unlock session, if one exists. A session directory that fails the ownership,
/// mode or symlink checks is refused, never trusted.
pub fn read_session(runtime_dir: &Path, vault_id: &str) -> Result<Option<Key32>> {
    match fs::symlink_metadata(runtime_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => check_session_dir(runtime_dir)?,
    }
    let path = session_path(runtime_dir, vault_id);
    if !path.exists() {
        return Ok(None);
    }
    read_key_file(&path).map(Some)
}

/// Writes (atomically replacing) the unlock session of a vault, creating and checking its
/// private directory first.
pub fn write_session(runtime_dir: &Path, vault_id: &str, key: &Key32) -> Result<()> {
    ensure_session_dir(runtime_dir)?;
    let path = session_path(runtime_dir, vault_id);
    let tmp = write_temp_key(&path, key, "session")?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Removes the unlock session; true if there was one.
pub fn remove_session(runtime_dir: &Path, vault_id: &str) -> Result<bool> {
    let path = session_path(runtime_dir, vault_id);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("cannot remove {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parses_base64_and_hex_keys() {
        let key = Key32::from_bytes([0xab; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xab; 32]);
        assert_eq!(parse_key_text("k", b64.as_bytes()).expect("b64"), key);
        assert_eq!(
            parse_key_text("k", "ab".repeat(32).as_bytes()).expect("hex"),
            key
        );
        let err = parse_key_text("AIVAULT_KEY", b"c2hvcnQ=").expect_err("short");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("AIVAULT_KEY"));
        assert!(!err.message().contains("c2hvcnQ"));
    }

    #[test]
    fn key_file_creation_never_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys").join("kek.key");
        let first = load_or_create_key_file(&path, false).expect("create");
        let second = load_or_create_key_file(&path, false).expect("load");
        assert_eq!(first, second);
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().expect("parent"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn interrupted_rotation_recovers_either_way() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kek.key");
        let old = load_or_create_key_file(&path, false).expect("create");
        let new = crypto::random_key().expect("key");
        stage_key_file(&path, &new).expect("stage");
        let staged = staged_key_path(&path, &key_id(&new));
        // The database never committed: the old key is live, the staged one is never used.
        assert_eq!(load_file_key(&path, &key_id(&old)).expect("old"), old);
        assert_eq!(read_key_file(&path).expect("read"), old);
        // Cleanup under the write lock drops it.
        remove_stale_staged_keys(&path, &key_id(&old)).expect("cleanup");
        assert!(!staged.exists());
        // The database committed: the staged key is promoted, and a second promotion
        // (another process got there first) is harmless.
        stage_key_file(&path, &new).expect("stage");
        remove_stale_staged_keys(&path, &key_id(&new)).expect("keeps the committed one");
        assert!(staged.exists());
        assert_eq!(load_file_key(&path, &key_id(&new)).expect("new"), new);
        assert_eq!(read_key_file(&path).expect("read"), new);
        assert!(!staged.exists());
        promote_staged_key(&path, &key_id(&new)).expect("idempotent");
        // Neither matches: a clear decrypt_failed.
        let err = load_file_key(&path, "00").expect_err("mismatch");
        assert_eq!(err.kind(), ErrorKind::DecryptFailed);
    }
}
