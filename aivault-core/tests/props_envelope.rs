//! Properties of the envelope decoder (secret values at rest, DESIGN §3): arbitrary bytes in
//! any field never panic and never decrypt; a sealed value opens only with its own key and
//! binding, and any change to any byte of any field, or to any field of the binding, fails
//! `decrypt_failed`.
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::envelope::{Binding, open_value, seal_value};
use aivault_core::store::Envelope;
use aivault_core::{ErrorKind, Key32, Scope};
use proptest::prelude::*;

fn key(seed: u8) -> Key32 {
    Key32::from_bytes([seed; 32])
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..max),
        // The right lengths (24-byte nonces, 16-byte tag or more) with random content.
        prop::collection::vec(any::<u8>(), 24..25),
        prop::collection::vec(any::<u8>(), 16..80),
    ]
}

#[test]
fn arbitrary_envelopes_never_open() {
    let scope = Scope::Global;
    let binding = Binding {
        vault_id: "v",
        secret_id: "s",
        scope: &scope,
        pinned_provider: None,
        value_version: 1,
    };
    prop_support::run(
        file!(),
        "arbitrary_envelopes_never_open",
        2000,
        (bytes(40), bytes(120), bytes(40), bytes(80)),
        |(value_nonce, value_ciphertext, dek_nonce, wrapped_dek)| {
            let envelope = Envelope {
                value_nonce,
                value_ciphertext,
                dek_nonce,
                wrapped_dek,
            };
            let err = open_value(&key(7), &binding, &envelope).err();
            prop_assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::DecryptFailed));
            Ok(())
        },
    );
}

/// Which part of a sealed envelope or its binding a case changes.
#[derive(Debug, Clone)]
enum Tamper {
    /// Flip bit `bit` of byte `at` of field `field` (0..4).
    Flip {
        field: usize,
        at: prop::sample::Index,
        bit: u8,
    },
    /// Cut field `field` to `len` bytes (or append a byte when `len` is past its end).
    Resize { field: usize, len: usize },
    /// Swap the two nonces, or the two ciphertexts.
    Swap { ciphertexts: bool },
    /// Open with another binding field.
    Binding(u8),
    /// Open with another wrapping key.
    Key,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0usize..4, any::<prop::sample::Index>(), 0u8..8)
            .prop_map(|(field, at, bit)| Tamper::Flip { field, at, bit }),
        (0usize..4, 0usize..100).prop_map(|(field, len)| Tamper::Resize { field, len }),
        any::<bool>().prop_map(|ciphertexts| Tamper::Swap { ciphertexts }),
        (0u8..6).prop_map(Tamper::Binding),
        Just(Tamper::Key),
    ]
}

fn field(envelope: &mut Envelope, index: usize) -> &mut Vec<u8> {
    match index {
        0 => &mut envelope.value_nonce,
        1 => &mut envelope.value_ciphertext,
        2 => &mut envelope.dek_nonce,
        _ => &mut envelope.wrapped_dek,
    }
}

#[test]
fn tampered_envelopes_never_open() {
    let global = Scope::Global;
    let workspace = Scope::from_context(Some("ws"), None).unwrap();
    prop_support::run(
        file!(),
        "tampered_envelopes_never_open",
        1000,
        (prop::collection::vec(any::<u8>(), 0..64), tamper()),
        |(value, tamper)| {
            let binding = Binding {
                vault_id: "vault-1",
                secret_id: "secret-1",
                scope: &global,
                pinned_provider: Some("openai"),
                value_version: 3,
            };
            let sealed = seal_value(&key(1), &binding, &value).unwrap();
            let opened = open_value(&key(1), &binding, &sealed).unwrap();
            prop_assert_eq!(opened.expose(), value.as_slice());
            let mut envelope = sealed.clone();
            let mut open_binding = binding;
            let mut open_key = key(1);
            match tamper {
                Tamper::Flip { field: f, at, bit } => {
                    let bytes = field(&mut envelope, f);
                    let i = at.index(bytes.len());
                    bytes[i] ^= 1 << bit;
                }
                Tamper::Resize { field: f, len } => {
                    let bytes = field(&mut envelope, f);
                    if len < bytes.len() {
                        bytes.truncate(len);
                    } else {
                        bytes.push(0);
                    }
                }
                Tamper::Swap { ciphertexts } => {
                    if ciphertexts {
                        std::mem::swap(&mut envelope.value_ciphertext, &mut envelope.wrapped_dek);
                    } else {
                        std::mem::swap(&mut envelope.value_nonce, &mut envelope.dek_nonce);
                    }
                }
                Tamper::Binding(which) => match which {
                    0 => open_binding.vault_id = "vault-2",
                    1 => open_binding.secret_id = "secret-2",
                    2 => open_binding.scope = &workspace,
                    3 => open_binding.pinned_provider = None,
                    4 => open_binding.pinned_provider = Some("openai2"),
                    _ => open_binding.value_version = 4,
                },
                Tamper::Key => open_key = key(2),
            }
            let err = open_value(&open_key, &open_binding, &envelope).err();
            prop_assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::DecryptFailed));
            Ok(())
        },
    );
}
