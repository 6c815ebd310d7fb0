//! A test-side writer of vaults in the original aivault tool's layout, written from its
//! documented on-disk format (not its code): `vault.json` with the key provider and key id
//! (hex SHA-256 of the key), one JSON record per secret under `secrets/` (XChaCha20-Poly1305
//! envelope, base64 fields, AAD `vault:secret:v1:<id>:<scope>` or `v2:...:<pinned>`),
//! `broker.json`, `capabilities.json` and `audit/*.jsonl`. Also a snapshot of a directory
//! tree, to prove `migrate` never writes to its source.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aivault_core::Key32;
use aivault_core::crypto::{self, Argon2Params};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn blob(key: &Key32, aad: &[u8], plaintext: &[u8]) -> Value {
    let (nonce, ciphertext) = crypto::seal(key, aad, plaintext).expect("seal");
    json!({"alg": "xchacha20poly1305", "nonceB64": b64(&nonce), "ciphertextB64": b64(&ciphertext)})
}

fn key_id(key: &Key32) -> String {
    crypto::to_hex(&Sha256::digest(key.expose()))
}

fn random_key() -> Key32 {
    crypto::random_key().expect("random key")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// The original's scope JSON (`"global"`, `{"workspace":{"workspace_id":..}}`, ...) and its
/// AAD form (`global`, `workspace:<ws>`, `group:<ws>:<g>`).
pub fn scope_json(workspace: Option<&str>, group: Option<&str>) -> (Value, String) {
    match (workspace, group) {
        (None, _) => (json!("global"), "global".into()),
        (Some(ws), None) => (
            json!({"workspace": {"workspace_id": ws}}),
            format!("workspace:{ws}"),
        ),
        (Some(ws), Some(g)) => (
            json!({"group": {"workspace_id": ws, "group_id": g}}),
            format!("group:{ws}:{g}"),
        ),
    }
}

/// One secret to write.
#[derive(Default)]
pub struct Secret<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub workspace: Option<&'a str>,
    pub group: Option<&'a str>,
    pub aliases: &'a [&'a str],
    pub pinned: Option<&'a str>,
    pub groups: &'a [(&'a str, &'a str)],
    pub revoked: bool,
}

/// A vault of the original tool in `dir`, with its master key.
pub struct Original {
    pub dir: PathBuf,
    pub key: Key32,
}

impl Original {
    fn new(dir: &Path, key: Key32, provider: Value) -> Original {
        let config = json!({
            "version": 1,
            "createdAtMs": 1_700_000_000_000_i64,
            "updatedAtMs": 1_700_000_000_000_i64,
            "provider": provider,
            "kekId": key_id(&key),
        });
        write(
            &dir.join("vault.json"),
            serde_json::to_string_pretty(&config).unwrap().as_bytes(),
        );
        std::fs::create_dir_all(dir.join("secrets")).unwrap();
        std::fs::create_dir_all(dir.join("audit")).unwrap();
        Original {
            dir: dir.to_path_buf(),
            key,
        }
    }

    /// A file-provider vault; its key file (base64, no newline) at `key_file`.
    pub fn with_key_file(dir: &Path, key_file: &Path) -> Original {
        let key = random_key();
        write(key_file, b64(key.expose()).as_bytes());
        Original::new(
            dir,
            key,
            json!({"type": "file", "path": key_file.display().to_string()}),
        )
    }

    /// An env-provider vault reading `var`; returns the vault and the key's base64.
    pub fn with_env(dir: &Path, var: &str) -> (Original, String) {
        let key = random_key();
        let text = b64(key.expose());
        (
            Original::new(dir, key, json!({"type": "env", "env_var": var})),
            text,
        )
    }

    /// A passphrase vault (small Argon2id costs keep the test fast).
    pub fn with_passphrase(dir: &Path, passphrase: &str) -> Original {
        let salt = crypto::random_bytes::<16>().unwrap();
        let params = Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            lanes: 1,
        };
        let key = crypto::argon2id(passphrase.as_bytes(), &salt, params).unwrap();
        let check_plain = crypto::random_bytes::<32>().unwrap();
        let provider = json!({
            "type": "passphrase",
            "kdf": {"saltB64": b64(&salt), "mCostKib": 1024, "tCost": 1, "pCost": 1},
            "check": {
                "sha256Hex": crypto::to_hex(&Sha256::digest(check_plain)),
                "blob": blob(&key, b"vault:check:v1", &check_plain),
            },
        });
        Original::new(dir, key, provider)
    }

    /// Writes one secret record; returns its id.
    pub fn secret(&self, s: Secret<'_>) -> String {
        let id = uuid_like();
        let (scope, scope_aad) = scope_json(s.workspace, s.group);
        let (version, aad) = match s.pinned {
            Some(p) => (2, format!("vault:secret:v2:{id}:{scope_aad}:{p}")),
            None => (1, format!("vault:secret:v1:{id}:{scope_aad}")),
        };
        let dek = random_key();
        let mut dek_wrapped = blob(&self.key, aad.as_bytes(), dek.expose());
        dek_wrapped["kekId"] = json!(key_id(&self.key));
        let groups: Vec<Value> = s
            .groups
            .iter()
            .map(|(w, g)| json!({"workspaceId": w, "groupId": g}))
            .collect();
        let mut record = json!({
            "secretId": id,
            "name": s.name,
            "aliases": s.aliases,
            "scope": scope,
            "systemManaged": false,
            "aadVersion": version,
            "createdAtMs": 1_700_000_000_000_i64,
            "updatedAtMs": 1_700_000_000_000_i64,
            "valueVersion": 1,
            "attachedGroups": groups,
        });
        if let Some(p) = s.pinned {
            record["pinnedProvider"] = json!(p);
        }
        if s.revoked {
            record["revokedAtMs"] = json!(1_700_000_000_001_i64);
        } else {
            record["ciphertext"] = json!({
                "alg": "xchacha20poly1305+envelope",
                "dekWrapped": dek_wrapped,
                "value": blob(&dek, aad.as_bytes(), s.value.as_bytes()),
            });
        }
        self.write_secret_record(&id, &record);
        id
    }

    /// Writes raw bytes as the record of secret `id`.
    pub fn write_secret_record(&self, id: &str, record: &Value) {
        write(
            &self.dir.join("secrets").join(format!("{id}.json")),
            serde_json::to_string_pretty(record).unwrap().as_bytes(),
        );
    }

    /// The path of a secret's record.
    pub fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join("secrets").join(format!("{id}.json"))
    }

    /// Writes `broker.json` (`credentials`, `capabilities`, `policies`).
    pub fn broker(&self, credentials: Vec<Value>, capabilities: Vec<Value>, policies: Vec<Value>) {
        let doc = json!({"version": 1, "credentials": credentials, "capabilities": capabilities, "policies": policies});
        write(
            &self.dir.join("broker.json"),
            serde_json::to_string_pretty(&doc).unwrap().as_bytes(),
        );
    }

    /// Writes `capabilities.json` (bindings).
    pub fn bindings(&self, bindings: Vec<Value>) {
        let doc = json!({"version": 1, "bindings": bindings});
        write(
            &self.dir.join("capabilities.json"),
            serde_json::to_string_pretty(&doc).unwrap().as_bytes(),
        );
    }

    /// Writes `n` audit lines.
    pub fn audit(&self, n: usize) {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "{{\"tsMs\":{},\"kind\":\"secret.create\",\"actor\":\"operator\"}}\n",
                1_700_000_000_000_i64 + i as i64
            ));
        }
        write(
            &self.dir.join("audit").join("2025-01.jsonl"),
            text.as_bytes(),
        );
    }
}

/// A header credential of the original's `broker.json`.
pub fn header_credential(id: &str, provider: &str, host: &str, secret_id: &str) -> Value {
    json!({
        "id": id,
        "provider": provider,
        "auth": {"header": {"header_name": "x-api-key", "value_template": "{{secret}}"}},
        "hosts": [host],
        "secretRef": format!("vault:secret:{secret_id}"),
    })
}

fn uuid_like() -> String {
    let b = crypto::random_bytes::<16>().unwrap();
    let h = crypto::to_hex(&b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Every file and directory under `dir` with its bytes and mode, to compare before/after.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, (mode, Vec::new()));
                stack.push(path);
            } else {
                out.insert(rel, (mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}
