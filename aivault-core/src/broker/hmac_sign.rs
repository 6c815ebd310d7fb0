//! aivault's own HMAC request signature, used by the `hmac` auth strategy.
//!
//! The vault's secret is the HMAC key and never leaves the vault: aivault signs each request
//! and the upstream (a service the operator runs) recomputes the signature to verify it.
//! Also home to the small hex/SHA-256 helpers the AWS SigV4 signer shares.

use sha2::{Digest, Sha256};

/// Lower-case hex of `bytes`, two digits a byte; used for digests and signatures on the wire.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lower-case hex SHA-256 of `bytes`: how both signatures commit to a request body.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

/// The string aivault signs for the `hmac` strategy (public contract, quoted in the README).
///
/// Five fields joined by `\n` (LF), with no trailing newline:
///
/// ```text
/// <timestamp>\n<METHOD>\n<path>\n<query>\n<hex sha256(body)>
/// ```
///
/// - `timestamp`: Unix time in seconds, decimal (the value sent alongside the signature);
/// - `METHOD`: the HTTP method, ASCII upper-cased (`GET`, `POST`, ...);
/// - `path`: the request path exactly as sent on the wire (percent-encoding untouched);
/// - `query`: the raw query string exactly as sent, without the leading `?`, empty if none;
/// - the last field is the lower-case hex SHA-256 of the exact body bytes (for an empty body,
///   `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`).
///
/// Binding the timestamp lets the upstream reject replays outside its clock window.
pub(crate) fn canonical_string(
    timestamp: i64,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> String {
    format!(
        "{timestamp}\n{}\n{path}\n{query}\n{}",
        method.to_ascii_uppercase(),
        sha256_hex(body)
    )
}

/// Lower-case hex HMAC-SHA256 (RFC 2104) of `canonical` with `key`, the vault's secret.
///
/// The key is only read; nothing derived from it is kept beyond the returned signature.
pub(crate) fn signature(key: &[u8], canonical: &str) -> String {
    hex_lower(&crate::crypto::hmac_sha256(key, canonical.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hex_and_sha256_known_answers() {
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        // FIPS 180-2 example "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            signature(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn canonical_string_has_the_documented_layout() {
        let s = canonical_string(1_700_000_000, "post", "/v1/x%20y", "b=2&a=1", b"abc");
        assert_eq!(
            s,
            "1700000000\nPOST\n/v1/x%20y\nb=2&a=1\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let empty = canonical_string(0, "GET", "/", "", b"");
        assert_eq!(empty, format!("0\nGET\n/\n\n{EMPTY_SHA256}"));
    }

    #[test]
    fn every_field_changes_the_signature() {
        let key = b"k3y";
        let base = signature(key, &canonical_string(100, "GET", "/a", "x=1", b"body"));
        let variants = [
            canonical_string(101, "GET", "/a", "x=1", b"body"),
            canonical_string(100, "PUT", "/a", "x=1", b"body"),
            canonical_string(100, "GET", "/b", "x=1", b"body"),
            canonical_string(100, "GET", "/a", "x=2", b"body"),
            canonical_string(100, "GET", "/a", "x=1", b"bodY"),
        ];
        for canonical in &variants {
            assert_ne!(signature(key, canonical), base, "{canonical}");
        }
        let same = canonical_string(100, "GET", "/a", "x=1", b"body");
        assert_ne!(signature(b"other", &same), base);
        assert_eq!(signature(key, &same), base);
    }
}
