//! Helpers shared by the integration tests: temporary vaults, canary values, error
//! extraction, direct database access for tampering, and leak scanning.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::fmt::Debug;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use aivault_core::config::EnvLookup;
use aivault_core::keys::read_key_file;
use aivault_core::{
    AuditEvent, AuditQuery, Config, Error, InitOptions, Key32, KeyProviderKind, NewSecret,
    Provisioning, Result, Scope, SecretFilter, SecretOutcome, SecretValue, Vault,
};
use base64::Engine;

/// A fresh canary value `sk-canary-<16 random hex digits>`.
pub fn canary() -> String {
    let bytes = aivault_core::crypto::random_bytes::<8>().expect("random");
    format!("sk-canary-{}", aivault_core::crypto::to_hex(&bytes))
}

/// A temporary directory holding a vault in its `vault` subdirectory (which does not exist
/// yet, so the vault creates it and sets its mode).
pub struct TestDir {
    /// Keeps the directory alive.
    pub tmp: tempfile::TempDir,
    /// The vault directory.
    pub dir: PathBuf,
}

impl TestDir {
    /// A new, empty test directory.
    pub fn new() -> TestDir {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("vault");
        TestDir { tmp, dir }
    }

    /// A config for the vault directory (no variables).
    pub fn config(&self) -> Config {
        Config::in_dir(&self.dir)
    }

    /// Opens (creating if needed) a file-provider vault.
    pub fn open(&self) -> Vault {
        Vault::open(self.config()).expect("open vault")
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("vault.db")
    }

    /// A direct connection to the vault database, for tampering.
    pub fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.db_path()).expect("open vault.db");
        conn.busy_timeout(Duration::from_secs(30))
            .expect("busy timeout");
        conn
    }
}

/// The error of a result that must fail.
pub fn expect_err<T>(result: Result<T>, what: &str) -> Error {
    match result {
        Ok(_) => panic!("{what}: expected an error, got success"),
        Err(e) => e,
    }
}

/// A variable lookup backed by a fixed map.
pub fn env_of(pairs: &[(&str, &str)]) -> EnvLookup {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |name| map.get(name).map(|v| SecretValue::from(v.as_str())))
}

/// A variable lookup whose values can be changed while vaults use it.
#[derive(Clone, Default)]
pub struct MutableEnv(Arc<Mutex<HashMap<String, String>>>);

impl MutableEnv {
    /// Sets (or with `None` removes) a variable.
    pub fn set(&self, name: &str, value: Option<&str>) {
        let mut map = self.0.lock().expect("env lock");
        match value {
            Some(v) => map.insert(name.to_string(), v.to_string()),
            None => map.remove(name),
        };
    }

    /// The lookup to put in a [`Config`].
    pub fn lookup(&self) -> EnvLookup {
        let inner = self.0.clone();
        Arc::new(move |name| {
            inner
                .lock()
                .expect("env lock")
                .get(name)
                .map(|v| SecretValue::from(v.as_str()))
        })
    }
}

/// A new secret.
pub fn new_secret(name: &str, value: &str, scope: Scope) -> NewSecret {
    NewSecret {
        name: name.to_string(),
        value: value.into(),
        scope,
        aliases: Vec::new(),
    }
}

/// Creates a global secret.
pub fn create(vault: &Vault, name: &str, value: &str) -> SecretOutcome {
    vault
        .create_secret(new_secret(name, value, Scope::Global))
        .unwrap_or_else(|e| panic!("create {name}: {} ({})", e.message(), e.kind()))
}

/// A workspace scope.
pub fn ws(workspace: &str) -> Scope {
    Scope::Workspace {
        workspace_id: workspace.to_string(),
    }
}

/// A group scope.
pub fn group(workspace: &str, group: &str) -> Scope {
    Scope::Group {
        workspace_id: workspace.to_string(),
        group_id: group.to_string(),
    }
}

/// Every secret, sorted by name.
pub fn all_secrets(vault: &Vault) -> Vec<aivault_core::SecretMeta> {
    vault
        .list_secrets(&SecretFilter::default())
        .expect("list secrets")
}

/// Every audit event, newest first.
pub fn all_events(vault: &Vault) -> Vec<AuditEvent> {
    vault.audit(&AuditQuery::default()).expect("audit")
}

/// The number of audit events.
pub fn audit_count(vault: &Vault) -> usize {
    all_events(vault).len()
}

/// Asserts the chain verifies.
pub fn assert_audit_ok(vault: &Vault) {
    let verification = vault.verify_audit().expect("verify audit");
    assert!(verification.ok, "audit chain broken: {verification:?}");
    assert_eq!(verification.first_bad_seq, None);
}

/// Asserts every secret decrypts and returns how many there are.
pub fn assert_secrets_ok(vault: &Vault) -> usize {
    let check = vault.check_secrets().expect("check secrets");
    assert!(check.failed.is_empty(), "secrets failed: {check:?}");
    check.checked
}

/// Asserts `needle` appears in no error message, Debug rendering or JSON given.
pub fn assert_not_in(needle: &str, what: &str, haystack: &str) {
    assert!(
        !haystack.contains(needle),
        "{what} leaks the canary: {haystack}"
    );
}

/// Asserts the Debug rendering of `value` does not contain `needle`.
pub fn assert_debug_clean<T: Debug>(needle: &str, what: &str, value: &T) {
    assert_not_in(needle, what, &format!("{value:?}"));
}

/// Asserts that no audit event, serialized as JSON, contains `needle`.
pub fn assert_audit_clean(vault: &Vault, needle: &str) {
    let json = serde_json::to_string(&all_events(vault)).expect("serialize audit");
    assert_not_in(needle, "the audit log", &json);
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Asserts that none of the files under `dir` contains `needle` (in any of the byte forms
/// given). Returns the number of files scanned.
pub fn assert_files_clean(dir: &Path, needles: &[&[u8]]) -> usize {
    let files = files_under(dir);
    for file in &files {
        let bytes = std::fs::read(file).expect("read vault file");
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == *needle),
                "{} contains a secret value in plaintext",
                file.display()
            );
        }
    }
    files.len()
}

/// The permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The provisioning outcome of a provisioned credential.
pub fn provisioned(
    provider: &str,
    credential_id: &str,
    capabilities: usize,
    created: bool,
) -> Provisioning {
    Provisioning::Provisioned {
        provider: provider.into(),
        credential_id: credential_id.into(),
        capabilities,
        created,
    }
}

/// A fresh random 32-byte key.
pub fn random_key() -> Key32 {
    Key32::from_bytes(aivault_core::crypto::random_bytes::<32>().expect("random"))
}

/// A key as standard base64.
pub fn b64(key: &Key32) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.expose())
}

/// A key as lower-case hex.
pub fn hex(key: &Key32) -> String {
    aivault_core::crypto::to_hex(key.expose())
}

/// Init options for a provider, with every other option at its default.
pub fn init_options(provider: KeyProviderKind) -> InitOptions {
    InitOptions {
        provider,
        key_file: None,
        env_var: None,
        passphrase: None,
        force: false,
    }
}

/// The committed key id, from `status`.
pub fn kek_id(config: &Config) -> String {
    Vault::status(config.clone())
        .expect("status")
        .state
        .kek_id
        .expect("kek id")
}

/// Asserts the key file holds exactly `expected` (or, with `None`, any key), is 0600, and
/// that no staged or temporary key file is left beside it. Returns the key.
pub fn assert_key_file(dir: &std::path::Path, expected: Option<&Key32>) -> Key32 {
    let path = dir.join("kek.key");
    let key = read_key_file(&path).expect("read key file");
    if let Some(expected) = expected {
        assert!(
            key == *expected,
            "the key file does not hold the expected key"
        );
    }
    assert_eq!(mode(&path), 0o600);
    for file in files_under(dir) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            !name.ends_with(".tmp"),
            "temporary file left behind: {name}"
        );
        assert!(
            !name.starts_with("kek.key.new"),
            "staged key left behind: {name}"
        );
    }
    key
}

/// Polls `done` until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Staged key files (`kek.key.new*`) in a directory.
pub fn staged_keys(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kek.key.new"))
        })
        .collect()
}
