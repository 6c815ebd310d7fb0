//! Envelope encryption of secret values (DESIGN §3).
//!
//! Each value version gets a fresh random 32-byte DEK. The value is sealed with
//! XChaCha20-Poly1305 under the DEK; the DEK is sealed under the vault's wrapping key. Both
//! use the same associated data, which binds the format version, vault id, secret id, scope,
//! pinned provider and value version, plus a role byte so the two ciphertexts cannot be
//! swapped. Moving, re-scoping, re-pinning or swapping a row therefore fails closed.

use zeroize::Zeroizing;

use crate::crypto;
use crate::error::{Error, ErrorKind, Result};
use crate::model::Scope;
use crate::sensitive::{Key32, SecretValue};
use crate::store::Envelope;

/// Version of the AAD layout; bump it for any change of the layout.
const FORMAT_VERSION: u8 = 1;
const ROLE_VALUE: u8 = b'V';
const ROLE_DEK: u8 = b'K';

/// What a secret value's ciphertexts are bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The vault's id.
    pub vault_id: &'a str,
    /// The secret's id.
    pub secret_id: &'a str,
    /// The secret's scope.
    pub scope: &'a Scope,
    /// The provider the secret is pinned to, if any.
    pub pinned_provider: Option<&'a str>,
    /// The value version.
    pub value_version: u64,
}

impl Binding<'_> {
    /// The associated data: `"aivault-secret" | version | role | lp(vault) | lp(secret) |
    /// lp(scope kind) | lp(workspace) | lp(group) | pinned flag | lp(provider) | u64 version`,
    /// where `lp` is a big-endian u32 length followed by the bytes.
    fn aad(&self, role: u8) -> Vec<u8> {
        let mut aad = Vec::with_capacity(128);
        aad.extend_from_slice(b"aivault-secret");
        aad.push(FORMAT_VERSION);
        aad.push(role);
        for field in [
            self.vault_id,
            self.secret_id,
            self.scope.kind().as_str(),
            self.scope.workspace_id().unwrap_or(""),
            self.scope.group_id().unwrap_or(""),
        ] {
            push_lp(&mut aad, field.as_bytes());
        }
        aad.push(u8::from(self.pinned_provider.is_some()));
        push_lp(&mut aad, self.pinned_provider.unwrap_or("").as_bytes());
        aad.extend_from_slice(&self.value_version.to_be_bytes());
        aad
    }
}

fn push_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// What sealed ciphertexts are bound to: the associated data of each role, and the error
/// that names the object when they do not open.
trait Bound {
    fn aad(&self, role: u8) -> Vec<u8>;
    fn tampered(&self) -> Error;
}

impl Bound for Binding<'_> {
    fn aad(&self, role: u8) -> Vec<u8> {
        Binding::aad(self, role)
    }

    fn tampered(&self) -> Error {
        Error::new(
            ErrorKind::DecryptFailed,
            format!(
                "secret {} cannot be decrypted: wrong master key, or its stored ciphertext or metadata was altered",
                self.secret_id
            ),
        )
    }
}

impl Bound for BlobBinding<'_> {
    fn aad(&self, role: u8) -> Vec<u8> {
        BlobBinding::aad(self, role)
    }

    fn tampered(&self) -> Error {
        Error::new(
            ErrorKind::DecryptFailed,
            format!(
                "the {} of {} cannot be decrypted: wrong master key, or its stored ciphertext was altered",
                self.purpose, self.id
            ),
        )
    }
}

/// Encrypts a value under a fresh DEK and wraps the DEK.
pub fn seal_value(wrapping_key: &Key32, binding: &Binding<'_>, value: &[u8]) -> Result<Envelope> {
    seal(wrapping_key, binding, value)
}

/// Unwraps the DEK and decrypts the value; `decrypt_failed` on any mismatch.
pub fn open_value(
    wrapping_key: &Key32,
    binding: &Binding<'_>,
    envelope: &Envelope,
) -> Result<SecretValue> {
    open(wrapping_key, binding, envelope)
}

/// Re-wraps the DEK under a new wrapping key (master-key rotation); the value ciphertext is
/// untouched but must still decrypt (`decrypt_failed` otherwise), so a rotation never re-keys
/// a tampered value. Returns the new DEK nonce and wrapped DEK.
pub fn rewrap_dek(
    old_key: &Key32,
    new_key: &Key32,
    binding: &Binding<'_>,
    envelope: &Envelope,
) -> Result<(Vec<u8>, Vec<u8>)> {
    rewrap(old_key, new_key, binding, envelope)
}

/// What a vault-held key that is not a secret (the proxy CA's private key) is bound to: its
/// purpose and the id of the object it belongs to, in this vault. Sealed like a secret value
/// (fresh DEK, wrapped under the wrapping key), with its own AAD layout, so a blob can never be
/// opened as a secret value or as a blob of another purpose or object.
#[derive(Debug, Clone, Copy)]
pub struct BlobBinding<'a> {
    /// The vault's id.
    pub vault_id: &'a str,
    /// What the blob is (`proxy-ca-key`).
    pub purpose: &'a str,
    /// The id of the object it belongs to (the CA's id).
    pub id: &'a str,
}

impl BlobBinding<'_> {
    /// `"aivault-blob" | version | role | lp(vault) | lp(purpose) | lp(id)`.
    fn aad(&self, role: u8) -> Vec<u8> {
        let mut aad = Vec::with_capacity(96);
        aad.extend_from_slice(b"aivault-blob");
        aad.push(FORMAT_VERSION);
        aad.push(role);
        for field in [self.vault_id, self.purpose, self.id] {
            push_lp(&mut aad, field.as_bytes());
        }
        aad
    }
}

/// Encrypts a blob under a fresh DEK and wraps the DEK (as [`seal_value`]).
pub fn seal_blob(
    wrapping_key: &Key32,
    binding: &BlobBinding<'_>,
    value: &[u8],
) -> Result<Envelope> {
    seal(wrapping_key, binding, value)
}

/// Unwraps the DEK and decrypts a blob; `decrypt_failed` on any mismatch.
pub fn open_blob(
    wrapping_key: &Key32,
    binding: &BlobBinding<'_>,
    envelope: &Envelope,
) -> Result<SecretValue> {
    open(wrapping_key, binding, envelope)
}

/// Re-wraps a blob's DEK under a new wrapping key (master-key rotation), after checking the
/// blob still decrypts. Returns the new DEK nonce and wrapped DEK.
pub fn rewrap_blob(
    old_key: &Key32,
    new_key: &Key32,
    binding: &BlobBinding<'_>,
    envelope: &Envelope,
) -> Result<(Vec<u8>, Vec<u8>)> {
    rewrap(old_key, new_key, binding, envelope)
}

fn seal(wrapping_key: &Key32, binding: &dyn Bound, value: &[u8]) -> Result<Envelope> {
    let dek = crypto::random_key()?;
    let (value_nonce, value_ciphertext) = crypto::seal(&dek, &binding.aad(ROLE_VALUE), value)?;
    let (dek_nonce, wrapped_dek) =
        crypto::seal(wrapping_key, &binding.aad(ROLE_DEK), dek.expose())?;
    Ok(Envelope {
        value_nonce: value_nonce.to_vec(),
        value_ciphertext,
        dek_nonce: dek_nonce.to_vec(),
        wrapped_dek,
    })
}

fn open(wrapping_key: &Key32, binding: &dyn Bound, envelope: &Envelope) -> Result<SecretValue> {
    let dek = unwrap_dek(wrapping_key, binding, envelope)?;
    crypto::open(
        &dek,
        &envelope.value_nonce,
        &binding.aad(ROLE_VALUE),
        &envelope.value_ciphertext,
    )
    .map_err(|_| binding.tampered())
}

/// The value must still decrypt under the old key before its DEK is re-wrapped.
fn rewrap(
    old_key: &Key32,
    new_key: &Key32,
    binding: &dyn Bound,
    envelope: &Envelope,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let dek = unwrap_dek(old_key, binding, envelope)?;
    crypto::open(
        &dek,
        &envelope.value_nonce,
        &binding.aad(ROLE_VALUE),
        &envelope.value_ciphertext,
    )
    .map_err(|_| binding.tampered())?;
    let (nonce, wrapped) = crypto::seal(new_key, &binding.aad(ROLE_DEK), dek.expose())?;
    Ok((nonce.to_vec(), wrapped))
}

fn unwrap_dek(wrapping_key: &Key32, binding: &dyn Bound, envelope: &Envelope) -> Result<Key32> {
    let raw = crypto::open(
        wrapping_key,
        &envelope.dek_nonce,
        &binding.aad(ROLE_DEK),
        &envelope.wrapped_dek,
    )
    .map_err(|_| binding.tampered())?;
    let raw = Zeroizing::new(raw.expose().to_vec());
    Key32::from_slice(&raw).ok_or_else(|| binding.tampered())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding<'a>(scope: &'a Scope, pinned: Option<&'a str>, version: u64) -> Binding<'a> {
        Binding {
            vault_id: "vault-1",
            secret_id: "secret-1",
            scope,
            pinned_provider: pinned,
            value_version: version,
        }
    }

    #[test]
    fn round_trip_and_every_binding_field_matters() {
        let key = Key32::from_bytes([9; 32]);
        let global = Scope::Global;
        let b = binding(&global, Some("openai"), 1);
        let env = seal_value(&key, &b, b"sk-canary").expect("seal");
        assert_eq!(
            open_value(&key, &b, &env).expect("open").expose(),
            b"sk-canary"
        );

        let ws = Scope::Workspace {
            workspace_id: "w".into(),
        };
        let variants = [
            Binding {
                vault_id: "vault-2",
                ..b
            },
            Binding {
                secret_id: "secret-2",
                ..b
            },
            Binding { scope: &ws, ..b },
            Binding {
                pinned_provider: None,
                ..b
            },
            Binding {
                pinned_provider: Some("github"),
                ..b
            },
            Binding {
                value_version: 2,
                ..b
            },
        ];
        for other in variants {
            let err = open_value(&key, &other, &env).expect_err("binding change must fail");
            assert_eq!(err.kind(), ErrorKind::DecryptFailed);
            assert!(!err.message().contains("canary"));
        }
        let wrong_key = Key32::from_bytes([8; 32]);
        assert!(open_value(&wrong_key, &b, &env).is_err());
    }

    #[test]
    fn value_and_dek_ciphertexts_cannot_be_swapped() {
        let key = Key32::from_bytes([9; 32]);
        let scope = Scope::Global;
        let b = binding(&scope, None, 1);
        let env = seal_value(&key, &b, &[7u8; 32]).expect("seal");
        let swapped = Envelope {
            value_nonce: env.dek_nonce.clone(),
            value_ciphertext: env.wrapped_dek.clone(),
            dek_nonce: env.value_nonce.clone(),
            wrapped_dek: env.value_ciphertext.clone(),
        };
        assert!(open_value(&key, &b, &swapped).is_err());
    }

    #[test]
    fn rewrap_keeps_the_value() {
        let old = Key32::from_bytes([1; 32]);
        let new = Key32::from_bytes([2; 32]);
        let scope = Scope::Global;
        let b = binding(&scope, None, 3);
        let mut env = seal_value(&old, &b, b"value").expect("seal");
        let (nonce, wrapped) = rewrap_dek(&old, &new, &b, &env).expect("rewrap");
        env.dek_nonce = nonce;
        env.wrapped_dek = wrapped;
        assert_eq!(open_value(&new, &b, &env).expect("open").expose(), b"value");
        assert!(open_value(&old, &b, &env).is_err());
        // A value that no longer decrypts is not re-wrapped.
        env.value_ciphertext[0] ^= 1;
        let err = rewrap_dek(&new, &old, &b, &env).expect_err("tampered value");
        assert_eq!(err.kind(), ErrorKind::DecryptFailed);
    }

    #[test]
    fn blobs_are_bound_to_purpose_and_id_and_never_open_as_values() {
        let key = Key32::from_bytes([5; 32]);
        let b = BlobBinding {
            vault_id: "vault-1",
            purpose: "proxy-ca-key",
            id: "pca_1",
        };
        let env = seal_blob(&key, &b, b"pkcs8").expect("seal");
        assert_eq!(open_blob(&key, &b, &env).expect("open").expose(), b"pkcs8");
        for other in [
            BlobBinding { id: "pca_2", ..b },
            BlobBinding {
                purpose: "other",
                ..b
            },
            BlobBinding {
                vault_id: "vault-2",
                ..b
            },
        ] {
            let err = open_blob(&key, &other, &env).expect_err("bound");
            assert_eq!(err.kind(), ErrorKind::DecryptFailed);
        }
        let scope = Scope::Global;
        assert!(open_value(&key, &binding(&scope, None, 1), &env).is_err());
        let new = Key32::from_bytes([6; 32]);
        let mut moved = env.clone();
        let (nonce, wrapped) = rewrap_blob(&key, &new, &b, &env).expect("rewrap");
        moved.dek_nonce = nonce;
        moved.wrapped_dek = wrapped;
        assert_eq!(
            open_blob(&new, &b, &moved).expect("open").expose(),
            b"pkcs8"
        );
    }
}
