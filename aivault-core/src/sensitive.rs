//! Types that hold key material or secret values: zeroized on drop, redacted in `Debug`,
//! no `Display`, compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A 32-byte symmetric key (master key, wrapping key, DEK, audit key).
#[derive(Clone)]
pub struct Key32(Zeroizing<[u8; 32]>);

impl Key32 {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key32(Zeroizing::new(bytes))
    }

    /// Copies a key from a slice, or `None` when it is not exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Key32::from_bytes(array))
    }

    /// The raw key bytes. Callers must not copy them into non-zeroizing storage.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for Key32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&*other.0).into()
    }
}

impl Eq for Key32 {}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

/// A secret value (an API key, a token, a passphrase) in memory.
#[derive(Clone, Default)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Takes ownership of the bytes; they are zeroized when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretValue(Zeroizing::new(bytes))
    }

    /// The value's bytes. Never log, print or persist them in plaintext.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes in the value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the value holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretValue {
    fn from(mut s: String) -> Self {
        let bytes = std::mem::take(&mut s).into_bytes();
        s.zeroize();
        SecretValue::new(bytes)
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        SecretValue::new(s.as_bytes().to_vec())
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_material() {
        let canary = "canary-7f3a9c-do-not-print";
        let value = SecretValue::from(canary);
        let key = Key32::from_bytes([0x41; 32]);
        let printed = format!("{value:?} {key:?} {:?}", Some(&value));
        assert!(!printed.contains(canary), "{printed}");
        assert!(!printed.contains("AAAA"), "{printed}");
        assert!(!printed.contains("65"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(SecretValue::from("abc"), SecretValue::from("abc"));
        assert_ne!(SecretValue::from("abc"), SecretValue::from("abd"));
        assert_ne!(SecretValue::from("abc"), SecretValue::from("ab"));
        assert!(Key32::from_slice(&[1; 31]).is_none());
        assert_eq!(
            Key32::from_slice(&[1; 32]),
            Some(Key32::from_bytes([1; 32]))
        );
    }
}
