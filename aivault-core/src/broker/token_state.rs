//! The JSON an `oauth2` credential's secret holds, read for a call and written back, after a
//! refresh, in the shape it came in.
//!
//! Two shapes: flat, `{"client_id", "client_secret", "refresh_token", "access_token",
//! "expires_at"}` (camelCase spellings accepted), and the Codex CLI's `~/.codex/auth.json`,
//! whose tokens sit in a nested object: `{"tokens": {"access_token", "refresh_token",
//! "id_token", "account_id"}, "last_refresh": .., ...}`. The client id comes from the secret
//! or, for a public client whose secret holds only tokens, from the strategy
//! (`public_client_id`). An access token's expiry is `expires_at` when given, else the `exp`
//! claim of the token when it is a JWT.
//!
//! Reading goes through [`Fields`] (zeroizing, messages name fields, never values). Writing
//! back must keep every other field of the secret, whatever its type, so it goes through a
//! `serde_json::Value` whose strings are wiped before it is dropped.

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

use super::fields::Fields;
use super::jwt;

/// What messages call the secret.
const WHAT: &str = "the OAuth 2.0 secret";
/// The nested object of the Codex CLI's `auth.json`.
const NESTED: &str = "tokens";

/// The tokens and client of an OAuth 2.0 secret.
pub(crate) struct TokenState {
    pub client_id: Zeroizing<String>,
    pub client_secret: Option<Zeroizing<String>>,
    pub refresh_token: Option<Zeroizing<String>>,
    pub access_token: Option<Zeroizing<String>>,
    /// The field an `account_header` sends, when the strategy has one.
    pub account: Option<Zeroizing<String>>,
    /// Unix seconds: `expires_at`, else the access token's JWT `exp`.
    pub expires_at: Option<i64>,
    /// Whether the tokens sit in the nested `tokens` object.
    pub nested: bool,
}

/// A field's spellings, inside the nested object when `nested`.
fn keys(nested: bool, field: &str) -> Vec<String> {
    let camel = camel_case(field);
    let mut out = vec![field.to_string()];
    if camel != field {
        out.push(camel);
    }
    if nested {
        out.iter_mut().for_each(|k| *k = format!("{NESTED}.{k}"));
    }
    out
}

fn as_strs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

/// `access_token` → `accessToken`.
fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl TokenState {
    /// Reads the secret. `public_client_id` stands in for a missing `client_id`;
    /// `account_field` names a field that must be present (beside the tokens).
    ///
    /// # Errors
    /// `invalid_input` naming the missing or ill-typed field, never a value.
    pub(crate) fn parse(
        bytes: &[u8],
        public_client_id: Option<&str>,
        account_field: Option<&str>,
    ) -> Result<TokenState> {
        TokenState::parse_as(bytes, WHAT, public_client_id, account_field)
    }

    /// [`TokenState::parse`], naming the JSON `what` in messages (`the Codex auth file`).
    pub(crate) fn parse_as(
        bytes: &[u8],
        what: &str,
        public_client_id: Option<&str>,
        account_field: Option<&str>,
    ) -> Result<TokenState> {
        let fields = Fields::parse(bytes, what)?;
        let nested = fields.is_object(NESTED);
        let text = |field: &str| -> Result<Option<Zeroizing<String>>> {
            Ok(fields
                .text(&as_strs(&keys(nested, field)))?
                .map(|t| Zeroizing::new(t.to_string())))
        };
        // The client is not a token: its fields are at the top in both shapes.
        let client_keys = ["client_id", "clientId"];
        let client_id = match (fields.text(&client_keys)?, public_client_id) {
            (Some(id), _) => Zeroizing::new(id.to_string()),
            (None, Some(id)) => Zeroizing::new(id.to_string()),
            // Absent: this names the field.
            (None, None) => Zeroizing::new(fields.required_text(&client_keys)?.to_string()),
        };
        let client_secret = fields
            .text(&["client_secret", "clientSecret"])?
            .map(|t| Zeroizing::new(t.to_string()));
        let access_token = text("access_token")?;
        let account = match account_field {
            Some(field) => Some(Zeroizing::new(
                fields
                    .required_text(&as_strs(&keys(nested, field)))?
                    .to_string(),
            )),
            None => None,
        };
        let explicit = fields.integer(&as_strs(&keys(nested, "expires_at")))?;
        let expires_at = explicit.or_else(|| access_token.as_deref().and_then(|t| jwt::expiry(t)));
        // Checked for their type only (written back as they are).
        fields.text(&as_strs(&keys(nested, "id_token")))?;
        Ok(TokenState {
            client_id,
            client_secret,
            refresh_token: text("refresh_token")?,
            access_token,
            account,
            expires_at,
            nested,
        })
    }

    /// The stored access token, unless absent, expired or within `early` seconds of expiry.
    pub(crate) fn fresh_token(&self, now: i64, early: i64) -> Option<&str> {
        let token = self.access_token.as_deref()?;
        match self.expires_at {
            Some(at) if at.saturating_sub(early) <= now => None,
            _ => Some(token),
        }
    }
}

/// What a token endpoint issued.
pub(crate) struct Issued<'a> {
    pub access_token: &'a str,
    /// A rotated refresh token, if the endpoint sent one (else the stored one stays).
    pub refresh_token: Option<&'a str>,
    pub id_token: Option<&'a str>,
    /// Unix seconds, from `expires_in`.
    pub expires_at: Option<i64>,
}

/// A JSON value whose strings are wiped when it is dropped.
struct Wiped(serde_json::Value);

impl Drop for Wiped {
    fn drop(&mut self) {
        fn wipe(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// The secret `original` with `issued` in place of its tokens: in the nested object when the
/// tokens were there, each field under the spelling it already had, every other field kept.
/// `expires_at` is written when the secret had one or the new token carries no JWT `exp`,
/// and removed when the endpoint gave no lifetime (a stale one would refresh every call).
///
/// # Errors
/// `invalid_input` when `original` is not a JSON object (it was parsed before, so never in
/// practice).
pub(crate) fn updated_json(original: &[u8], issued: &Issued<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let mut root = Wiped(
        serde_json::from_slice(original)
            .map_err(|_| Error::invalid(format!("{WHAT} is not valid JSON")))?,
    );
    let Some(top) = root.0.as_object_mut() else {
        return Err(Error::invalid(format!("{WHAT} must be a JSON object")));
    };
    let object = match top.get(NESTED) {
        Some(serde_json::Value::Object(_)) => top
            .get_mut(NESTED)
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| Error::internal("nested tokens vanished"))?,
        _ => top,
    };
    // The key a field is stored under: the spelling present, else snake_case.
    let key_of = |object: &serde_json::Map<String, serde_json::Value>, field: &str| {
        let camel = camel_case(field);
        if !object.contains_key(field) && object.contains_key(&camel) {
            camel
        } else {
            field.to_string()
        }
    };
    let set = |object: &mut serde_json::Map<String, serde_json::Value>, field, value: &str| {
        let key = key_of(object, field);
        if let Some(serde_json::Value::String(mut old)) =
            object.insert(key, serde_json::Value::String(value.to_string()))
        {
            old.zeroize();
        }
    };
    set(object, "access_token", issued.access_token);
    if let Some(refresh) = issued.refresh_token {
        set(object, "refresh_token", refresh);
    }
    if let Some(id_token) = issued.id_token {
        set(object, "id_token", id_token);
    }
    let had_expiry = object.contains_key("expires_at") || object.contains_key("expiresAt");
    match issued.expires_at {
        Some(at) if had_expiry || jwt::expiry(issued.access_token).is_none() => {
            let key = key_of(object, "expires_at");
            object.insert(key, serde_json::Value::from(at));
        }
        Some(_) => {}
        None => {
            object.remove("expires_at");
            object.remove("expiresAt");
        }
    }
    serde_json::to_vec(&root.0)
        .map(Zeroizing::new)
        .map_err(|e| Error::internal(format!("cannot encode the OAuth 2.0 secret: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const CANARY: &str = "canary-7c2a-never-shown";

    fn jwt(exp: i64) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64("{}"), b64(&format!(r#"{{"exp":{exp}}}"#)))
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn the_flat_secret_takes_both_spellings() {
        for secret in [
            r#"{"client_id":"c","client_secret":"s","refresh_token":"r","expires_at":5}"#,
            r#"{"clientId":"c","clientSecret":"s","refreshToken":"r","expiresAt":5}"#,
        ] {
            let state = TokenState::parse(secret.as_bytes(), None, None).unwrap();
            assert_eq!(state.client_id.as_str(), "c");
            assert_eq!(
                state.client_secret.as_deref().map(String::as_str),
                Some("s")
            );
            assert_eq!(
                state.refresh_token.as_deref().map(String::as_str),
                Some("r")
            );
            assert_eq!(state.expires_at, Some(5));
        }
    }

    #[test]
    fn the_codex_secret_is_nested_with_a_public_client_and_jwt_expiry() {
        let access = jwt(1_000);
        let secret = format!(
            r#"{{"OPENAI_API_KEY":null,"tokens":{{"access_token":"{access}","refresh_token":"r","id_token":"i","account_id":"acct"}},"last_refresh":"2025-01-01T00:00:00Z"}}"#
        );
        let state =
            TokenState::parse(secret.as_bytes(), Some("app_pub"), Some("account_id")).unwrap();
        assert_eq!(state.client_id.as_str(), "app_pub");
        assert!(state.client_secret.is_none());
        assert_eq!(
            state.refresh_token.as_deref().map(String::as_str),
            Some("r")
        );
        assert_eq!(state.account.as_deref().map(String::as_str), Some("acct"));
        assert_eq!(state.expires_at, Some(1_000));
        assert_eq!(state.fresh_token(1_000 - 301, 300), Some(access.as_str()));
        assert_eq!(state.fresh_token(1_000 - 300, 300), None);
        // An explicit expires_at wins over the JWT.
        let flat = format!(r#"{{"access_token":"{access}","account_id":"a","expires_at":9}}"#);
        let state = TokenState::parse(flat.as_bytes(), Some("p"), Some("account_id")).unwrap();
        assert_eq!(state.expires_at, Some(9));
    }

    #[test]
    fn a_token_without_expiry_is_fresh_until_a_401() {
        let state =
            TokenState::parse(br#"{"client_id":"c","access_token":"t"}"#, None, None).unwrap();
        assert_eq!(state.fresh_token(i64::MAX, 300), Some("t"));
        let state = TokenState::parse(br#"{"client_id":"c"}"#, None, None).unwrap();
        assert_eq!(state.fresh_token(0, 300), None);
    }

    #[test]
    fn problems_name_the_field_never_the_value() {
        let cases = [
            (
                format!(r#"{{"refreshToken":"{CANARY}"}}"#),
                None,
                "\"client_id\"",
            ),
            (
                format!(r#"{{"clientId":"c","expiresAt":"{CANARY}"}}"#),
                None,
                "\"expiresAt\" must be an integer",
            ),
            (
                format!(r#"{{"tokens":{{"refresh_token":"{CANARY}"}}}}"#),
                Some("account_id"),
                "\"tokens.account_id\"",
            ),
            (
                format!(r#"{{"tokens":{{"access_token":5,"id_token":"{CANARY}"}}}}"#),
                None,
                "\"tokens.access_token\" must be a string",
            ),
            (CANARY.to_string(), None, "not valid JSON"),
        ];
        for (secret, account, expected) in cases {
            let err = TokenState::parse(secret.as_bytes(), Some("p"), account)
                .err()
                .unwrap_or_else(|| {
                    TokenState::parse(secret.as_bytes(), None, account)
                        .err()
                        .unwrap()
                });
            assert!(err.message().contains(expected), "{}", err.message());
            assert!(!err.message().contains(CANARY));
            assert!(!format!("{err:?}").contains(CANARY));
        }
    }

    #[test]
    fn write_back_keeps_the_nested_shape_and_other_fields() {
        let old = jwt(10);
        let secret = format!(
            r#"{{"OPENAI_API_KEY":null,"last_refresh":"x","tokens":{{"access_token":"{old}","refresh_token":"r0","id_token":"i0","account_id":"acct"}},"extra":[1,true]}}"#
        );
        let new = jwt(99_999);
        let out = updated_json(
            secret.as_bytes(),
            &Issued {
                access_token: &new,
                refresh_token: Some("r1"),
                id_token: Some("i1"),
                expires_at: Some(50),
            },
        )
        .unwrap();
        let v = json(&out);
        assert_eq!(
            v,
            json(
                format!(
                    r#"{{"OPENAI_API_KEY":null,"last_refresh":"x","tokens":{{"access_token":"{new}","refresh_token":"r1","id_token":"i1","account_id":"acct"}},"extra":[1,true]}}"#
                )
                .as_bytes()
            )
        );
    }

    #[test]
    fn write_back_keeps_flat_spellings_and_handles_expiry() {
        let out = updated_json(
            br#"{"clientId":"c","refreshToken":"r0","accessToken":"a0","expiresAt":1,"x":2}"#,
            &Issued {
                access_token: "a1",
                refresh_token: None,
                id_token: None,
                expires_at: Some(77),
            },
        )
        .unwrap();
        assert_eq!(
            json(&out),
            json(
                br#"{"clientId":"c","refreshToken":"r0","accessToken":"a1","expiresAt":77,"x":2}"#
            )
        );
        // No lifetime given: a stale expires_at goes.
        let out = updated_json(
            br#"{"client_id":"c","access_token":"a0","expires_at":1}"#,
            &Issued {
                access_token: "a1",
                refresh_token: Some("r1"),
                id_token: None,
                expires_at: None,
            },
        )
        .unwrap();
        assert_eq!(
            json(&out),
            json(br#"{"client_id":"c","access_token":"a1","refresh_token":"r1"}"#)
        );
        // An opaque token gets its lifetime recorded; a JWT one does not need it.
        let out = updated_json(
            br#"{"client_id":"c"}"#,
            &Issued {
                access_token: "opaque",
                refresh_token: None,
                id_token: None,
                expires_at: Some(5),
            },
        )
        .unwrap();
        assert_eq!(json(&out)["expires_at"], 5);
        let token = jwt(5);
        let out = updated_json(
            br#"{"tokens":{}}"#,
            &Issued {
                access_token: &token,
                refresh_token: None,
                id_token: None,
                expires_at: Some(5),
            },
        )
        .unwrap();
        assert_eq!(
            json(&out),
            json(format!(r#"{{"tokens":{{"access_token":"{token}"}}}}"#).as_bytes())
        );
    }
}
