//! Cryptographic primitives as small pure functions.
//!
//! - AEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) with a fresh random 24-byte nonce
//!   per message; the 192-bit nonce makes random nonces safe for any realistic message count.
//! - KDF: HKDF-SHA256 (RFC 5869), no salt, distinct `info` labels per derived key.
//! - MAC: HMAC-SHA256 (RFC 2104 / RFC 4231) over length-prefixed parts.
//! - Passphrase KDF: Argon2id v1.3 (RFC 9106).
//!
//! Lengths are checked before any decryption is attempted.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::sensitive::{Key32, SecretValue};

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("OS random generator: {e}")))?;
    Ok(out)
}

/// A fresh random 32-byte key.
pub fn random_key() -> Result<Key32> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(bytes.as_mut())
        .map_err(|e| Error::new(ErrorKind::Internal, format!("OS random generator: {e}")))?;
    Ok(Key32::from_bytes(*bytes))
}

/// Encrypts `plaintext` under `key` with a fresh random nonce; `aad` is authenticated, not
/// encrypted. Returns the nonce and `ciphertext || tag`.
pub fn seal(key: &Key32, aad: &[u8], plaintext: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>)> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    let ciphertext = seal_with_nonce(key, &nonce, aad, plaintext)?;
    Ok((nonce, ciphertext))
}

/// Deterministic core of [`seal`]; only for known-answer tests and callers that manage nonces.
fn seal_with_nonce(
    key: &Key32,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    XChaCha20Poly1305::new(key.expose().into())
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::internal("encryption failed"))
}

/// Decrypts and authenticates `ciphertext || tag`. Any change to the key, nonce, AAD or
/// ciphertext yields `decrypt_failed`.
pub fn open(key: &Key32, nonce: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<SecretValue> {
    if nonce.len() != NONCE_LEN || ciphertext.len() < TAG_LEN {
        return Err(Error::new(
            ErrorKind::DecryptFailed,
            "ciphertext has an invalid length",
        ));
    }
    XChaCha20Poly1305::new(key.expose().into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(SecretValue::new)
        .map_err(|_| Error::new(ErrorKind::DecryptFailed, "authentication failed"))
}

/// HKDF-SHA256 (RFC 5869) with an optional salt; fills `out` (at most 255 * 32 bytes).
pub fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| Error::internal("HKDF output too long"))
}

/// Derives a 32-byte subkey of `master` for the purpose named by `label` (no salt).
pub fn derive_key(master: &Key32, label: &str) -> Key32 {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hkdf_sha256(None, master.expose(), label.as_bytes(), out.as_mut());
    Key32::from_bytes(*out)
}

/// HMAC-SHA256 over the concatenation of `parts`, each prefixed by its length as a
/// big-endian u64 so that part boundaries are unambiguous.
pub fn hmac_parts(key: &Key32, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_new(key.expose());
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hmac_new(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
    }
}

/// Plain HMAC-SHA256 (RFC 2104) of one message.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac_new(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Argon2id cost parameters (RFC 9106 §4): memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

impl Argon2Params {
    /// The defaults for new vaults: OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane),
    /// which keeps a passphrase unlock under 30 MB of memory.
    pub const DEFAULT: Argon2Params = Argon2Params {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };
}

/// Derives a 32-byte key from a passphrase with Argon2id v1.3.
pub fn argon2id(passphrase: &[u8], salt: &[u8], params: Argon2Params) -> Result<Key32> {
    let params = Params::new(params.memory_kib, params.iterations, params.lanes, Some(32))
        .map_err(|e| Error::invalid(format!("invalid Argon2id parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| Error::invalid(format!("Argon2id failed: {e}")))?;
    Ok(Key32::from_bytes(*out))
}

/// Lower-case hexadecimal encoding.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Decodes hexadecimal (either case); `None` on odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        from_hex(s).expect("valid hex in test vector")
    }

    /// draft-irtf-cfrg-xchacha-03, Appendix A.3.1 (AEAD_XChaCha20_Poly1305).
    #[test]
    fn xchacha20poly1305_known_answer() {
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let key = Key32::from_slice(&hex(
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        ))
        .expect("32-byte key");
        let nonce: [u8; 24] = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .expect("24-byte nonce");
        let expected = hex(concat!(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb",
            "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452",
            "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9",
            "21f9664c97637da9768812f615c68b13b52e",
            "c0875924c1c7987947deafd8780acf49"
        ));
        let sealed = seal_with_nonce(&key, &nonce, &aad, plaintext).expect("seal");
        assert_eq!(sealed, expected);
        let opened = open(&key, &nonce, &aad, &sealed).expect("open");
        assert_eq!(opened.expose(), plaintext);
    }

    #[test]
    fn open_fails_closed_on_any_change() {
        let key = random_key().expect("key");
        let (nonce, ct) = seal(&key, b"aad", b"value").expect("seal");
        assert_eq!(
            open(&key, &nonce, b"aad", &ct).expect("open").expose(),
            b"value"
        );
        let wrong_key = random_key().expect("key");
        let mut flipped = ct.clone();
        flipped[0] ^= 1;
        let mut bad_nonce = nonce;
        bad_nonce[3] ^= 1;
        for result in [
            open(&wrong_key, &nonce, b"aad", &ct),
            open(&key, &nonce, b"aae", &ct),
            open(&key, &nonce, b"aad", &flipped),
            open(&key, &bad_nonce, b"aad", &ct),
            open(&key, &nonce[..23], b"aad", &ct),
            open(&key, &nonce, b"aad", &ct[..15]),
        ] {
            assert_eq!(
                result.expect_err("must fail").kind(),
                ErrorKind::DecryptFailed
            );
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let key = random_key().expect("key");
        let (n1, c1) = seal(&key, b"", b"same").expect("seal");
        let (n2, c2) = seal(&key, b"", b"same").expect("seal");
        assert_ne!(n1, n2);
        assert_ne!(c1, c2);
    }

    /// RFC 5869, Appendix A.1 (Test Case 1) and A.3 (Test Case 3, no salt).
    #[test]
    fn hkdf_known_answers() {
        let ikm = [0x0bu8; 22];
        let mut okm = [0u8; 42];
        hkdf_sha256(
            Some(&hex("000102030405060708090a0b0c")),
            &ikm,
            &hex("f0f1f2f3f4f5f6f7f8f9"),
            &mut okm,
        )
        .expect("hkdf");
        assert_eq!(
            to_hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        hkdf_sha256(None, &ikm, b"", &mut okm).expect("hkdf");
        assert_eq!(
            to_hex(&okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
        let master = Key32::from_bytes([7; 32]);
        assert_ne!(derive_key(&master, "a"), derive_key(&master, "b"));
        assert_eq!(derive_key(&master, "a"), derive_key(&master, "a"));
    }

    /// RFC 4231, Test Case 2.
    #[test]
    fn hmac_known_answer() {
        assert_eq!(
            to_hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = Key32::from_bytes([1; 32]);
        assert_ne!(
            hmac_parts(&key, &[b"ab", b"c"]),
            hmac_parts(&key, &[b"a", b"bc"]),
            "part boundaries must be bound"
        );
    }

    /// Argon2id v1.3 reference vector (phc-winner-argon2 test suite: "password", "somesalt",
    /// t=2, m=2^16, p=1).
    #[test]
    fn argon2id_known_answer() {
        let params = Argon2Params {
            memory_kib: 1 << 16,
            iterations: 2,
            lanes: 1,
        };
        let key = argon2id(b"password", b"somesalt", params).expect("argon2id");
        assert_eq!(
            to_hex(key.expose()),
            "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
