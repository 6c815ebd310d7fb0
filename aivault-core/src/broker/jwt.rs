//! The expiry of an access token that is a JWT (the Codex CLI's tokens carry no `expires_at`
//! beside them): the `exp` claim of its payload. No signature is checked — the token is only
//! ever sent to the upstream that issued it, and a wrong `exp` at worst refreshes early or
//! late (a 401 refreshes anyway).

use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Largest payload decoded (a JWT is a header line, not a document).
const MAX_PAYLOAD: usize = 64 * 1024;

/// Only the claim we need: every other claim is skipped without being copied.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    exp: Option<serde_json::Number>,
}

/// The `exp` claim (Unix seconds) of `token` when it is a JWT (`header.payload.signature`,
/// base64url, padding optional) whose payload is a JSON object with a numeric `exp`;
/// `None` otherwise.
pub(crate) fn expiry(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return None;
    }
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?,
    );
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.exp?;
    exp.as_i64()
        .or_else(|| exp.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    #[test]
    fn reads_exp_of_a_jwt() {
        assert_eq!(
            expiry(&jwt(r#"{"exp":1700000000,"sub":"x"}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(expiry(&jwt(r#"{"exp":1700000000.5}"#)), Some(1_700_000_000));
        // Padding is tolerated.
        let padded = {
            let payload = base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":5}"#);
            format!("h.{payload}.s")
        };
        assert_eq!(expiry(&padded), Some(5));
    }

    #[test]
    fn anything_else_has_no_expiry() {
        for token in [
            "opaque-token".to_string(),
            "a.b".into(),
            "a.b.c.d".into(),
            "h.!!!.s".into(),
            jwt(r#"{"sub":"x"}"#),
            jwt(r#"{"exp":"soon"}"#),
            jwt(r#"["exp"]"#),
            jwt("not json"),
        ] {
            assert_eq!(expiry(&token), None, "{token}");
        }
    }
}
