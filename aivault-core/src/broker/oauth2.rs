//! OAuth 2.0 access tokens for the `oauth2` strategy.
//!
//! The credential's `secret` holds JSON (the only place tokens live, encrypted), flat
//! `{"client_id": "...", "client_secret": "...", "refresh_token": "...",
//!   "access_token": "...", "expires_at": <unix seconds>}` (camelCase spellings accepted) or
//! the Codex CLI's `auth.json` with its tokens nested under `tokens` (see `token_state`).
//! `client_secret` is optional for public clients (whose id may come from the strategy's
//! `public_client_id`), `refresh_token` is required by the `refresh_token` grant. A token is
//! refreshed when missing, expired or within five minutes of expiry (`expires_at`, else the
//! JWT's `exp`), and once more when the upstream answers 401; the new tokens are written back
//! to the secret in one transaction, in the secret's own shape.
//!
//! A new token's `expires_in` is clamped to 6 minutes .. 1 year (see [`lifetime`]), so a
//! broken or hostile endpoint (0, negative, `i64::MAX`, a float, a string) costs at most one
//! token request a minute and never overflows; a stored `expires_at` is read saturating (far
//! future: used until a 401; far past: refreshed).

use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::audit::{self, NewEvent, kinds};
use crate::credentials::host_fits;
use crate::envelope;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::{AuthSpec, OAuthGrant, TokenAuth, token_endpoint_host};
use crate::resolve::Plan;
use crate::sensitive::SecretValue;
use crate::vault::{Vault, now_ms};

use super::path::encode_component;
use super::pipeline::Unsealed;
use super::token_state::{Issued, TokenState, updated_json};

/// Refresh this long before expiry.
const EARLY_REFRESH_SECS: i64 = 300;
/// A newly issued token is reused for at least this long, whatever lifetime the endpoint
/// announced: an `expires_in` of 0, negative or a few seconds must not mean a token request
/// per call (if the token really dies sooner, the upstream's 401 refreshes it).
const MIN_REUSE_SECS: i64 = 60;
/// Shortest lifetime recorded for a new token: reused for [`MIN_REUSE_SECS`] before the early
/// refresh window.
const MIN_LIFETIME_SECS: i64 = EARLY_REFRESH_SECS + MIN_REUSE_SECS;
/// Longest lifetime recorded for a new token (one year): an absurd `expires_in` (`i64::MAX`,
/// `1e300`, milliseconds taken for seconds) neither overflows nor pins a token for ever.
const MAX_LIFETIME_SECS: i64 = 365 * 24 * 3600;
/// Largest token response accepted.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// The token endpoint's answer (RFC 6749 §5.1; `id_token` of OpenID Connect).
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct TokenResponse {
    access_token: String,
    /// Seconds, as the endpoint gave them (number or numeric string); see [`lifetime`].
    #[serde(default, deserialize_with = "expires_in")]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// What a call sends: the access token, and the `account_header` value when the strategy
/// has one.
pub(crate) struct Access {
    pub token: Zeroizing<String>,
    pub account: Option<Zeroizing<String>>,
}

/// A valid access token for the call: the stored one when fresh (and not `force`d),
/// otherwise a new one from the token endpoint, written back first.
pub(crate) fn access_token(
    vault: &Vault,
    plan: &Plan,
    unsealed: &Unsealed,
    agent: &ureq::Agent,
    force: bool,
) -> Result<Access> {
    let AuthSpec::Oauth2 {
        grant_type,
        token_endpoint,
        scopes,
        token_auth,
        public_client_id,
        account_header,
    } = &plan.auth
    else {
        return Err(Error::internal(
            "OAuth 2.0 token asked for another strategy",
        ));
    };
    let (_, meta) = unsealed
        .metas
        .iter()
        .find(|(role, _)| role == "secret")
        .ok_or_else(|| Error::internal("OAuth 2.0 credential without its secret"))?;
    let value = unsealed
        .secrets
        .get("secret")
        .ok_or_else(|| Error::internal("OAuth 2.0 credential without its secret"))?;
    let (value, read_version) = if force {
        // A forced refresh (after a 401) may follow one this call already wrote back: start
        // from the stored state, so a rotated refresh token is the one sent and the write-back
        // below is not mistaken for a concurrent change.
        stored_value(vault, &meta.secret_id)?
    } else {
        (value.clone(), meta.value_version)
    };
    let state = TokenState::parse(
        value.expose(),
        public_client_id.as_deref(),
        account_header.as_ref().map(|h| h.field.as_str()),
    )?;
    let now = now_ms() / 1000;
    if !force && let Some(token) = state.fresh_token(now, EARLY_REFRESH_SECS) {
        return Ok(Access {
            token: Zeroizing::new(token.to_string()),
            account: state.account.clone(),
        });
    }
    check_endpoint(vault, plan, token_endpoint)?;
    let form = token_form(*grant_type, &state, scopes, *token_auth)?;
    let basic = client_basic(&state, *token_auth);
    let answer = request_token(
        agent,
        token_endpoint,
        &form,
        basic.as_ref().map(|b| b.as_str()),
    )?;
    let json = updated_json(
        value.expose(),
        &Issued {
            access_token: &answer.access_token,
            refresh_token: answer.refresh_token.as_deref(),
            id_token: answer.id_token.as_deref(),
            expires_at: answer.expires_in.map(|s| now.saturating_add(lifetime(s))),
        },
    )?;
    let secret_id = meta.secret_id.clone();
    vault.write(|tx, keys| {
        let record = tx.secret_get(&secret_id)?.ok_or_else(|| {
            Error::new(
                ErrorKind::CredentialNotFound,
                "the OAuth 2.0 secret was deleted during the call",
            )
        })?;
        if record.meta.value_version != read_version {
            // Another process (or an operator rotation) changed the secret meanwhile; our
            // token is still valid, but we do not overwrite their newer state.
            return Ok(());
        }
        let mut meta = record.meta;
        meta.value_version += 1;
        let now = now_ms();
        let sealed =
            envelope::seal_value(&keys.wrapping, &crate::secrets::binding(keys, &meta), &json)?;
        tx.secret_set_value(&meta.secret_id, meta.value_version, &sealed, now)?;
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::SECRET_OAUTH_REFRESH)
                .secret(&meta.secret_id)
                .credential(&plan.credential)
                .capability(&plan.capability.id)
                .scope(&meta.scope)
                .note(format!("version={}", meta.value_version)),
            now,
        )
    })?;
    Ok(Access {
        token: Zeroizing::new(answer.access_token.clone()),
        account: state.account.clone(),
    })
}

/// Reads `expires_in` leniently: an integer (beyond `i64` saturates), a float (truncated) or
/// a string holding a number (some endpoints send `"3599"`); anything else (`true`, `"soon"`,
/// an object) counts as no lifetime given, not as a broken token response.
fn expires_in<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .or_else(|| n.as_f64().and_then(super::fields::whole)),
        serde_json::Value::String(s) => super::fields::whole_text(&s),
        _ => None,
    })
}

/// The lifetime recorded for a new token whose endpoint announced `expires_in` seconds:
/// clamped to [`MIN_LIFETIME_SECS`] ..= [`MAX_LIFETIME_SECS`] (6 minutes to a year).
fn lifetime(expires_in: i64) -> i64 {
    expires_in.clamp(MIN_LIFETIME_SECS, MAX_LIFETIME_SECS)
}

/// The value currently stored in secret `secret_id`, and its value version.
fn stored_value(vault: &Vault, secret_id: &str) -> Result<(SecretValue, u64)> {
    vault.read_keyed(|tx, keys| {
        let record = tx.secret_get(secret_id)?.ok_or_else(|| {
            Error::new(
                ErrorKind::CredentialNotFound,
                "the OAuth 2.0 secret was deleted during the call",
            )
        })?;
        let value = envelope::open_value(
            &keys.wrapping,
            &crate::secrets::binding(keys, &record.meta),
            &record.envelope,
        )?;
        Ok((value, record.meta.value_version))
    })
}

/// The token endpoint must be HTTPS on one of the credential's own hosts (checked again at
/// call time: the credential could have been edited in the database).
fn check_endpoint(vault: &Vault, plan: &Plan, endpoint: &str) -> Result<()> {
    let hosts = vault
        .read_keyed(|tx, _| tx.credential_get(&plan.credential))?
        .map(|c| c.hosts)
        .unwrap_or_default();
    match token_endpoint_host(endpoint) {
        Some(host) if host_fits(&hosts, host) => Ok(()),
        _ => Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "credential '{}': the token endpoint must be https on one of its hosts",
                plan.credential
            ),
        )),
    }
}

/// The `Authorization: Basic` value for a confidential client using `TokenAuth::Basic`:
/// id and secret each form-urlencoded, joined with `:`, base64 (RFC 6749 §2.3.1).
/// `None` for a public client (no secret) or `TokenAuth::Body`.
fn client_basic(state: &TokenState, token_auth: TokenAuth) -> Option<Zeroizing<String>> {
    use base64::Engine;
    let secret = state.client_secret.as_deref()?;
    if token_auth != TokenAuth::Basic {
        return None;
    }
    let pair = Zeroizing::new(format!(
        "{}:{}",
        encode_component(&state.client_id),
        encode_component(secret)
    ));
    let token = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
    Some(Zeroizing::new(format!("Basic {}", token.as_str())))
}

/// The form body of the token request. The client's id and secret go in it only for
/// `TokenAuth::Body`; a public client (no secret) always sends its `client_id` here.
fn token_form(
    grant: OAuthGrant,
    state: &TokenState,
    scopes: &[String],
    token_auth: TokenAuth,
) -> Result<Zeroizing<String>> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    match grant {
        OAuthGrant::RefreshToken => {
            let refresh = state.refresh_token.as_deref().ok_or_else(|| {
                Error::invalid(
                    "the OAuth 2.0 secret has no refresh_token for the refresh_token grant",
                )
            })?;
            pairs.push(("grant_type", "refresh_token"));
            pairs.push(("refresh_token", refresh));
        }
        OAuthGrant::ClientCredentials => {
            if state.client_secret.is_none() {
                return Err(Error::invalid(
                    "the OAuth 2.0 secret has no client_secret for the client_credentials grant",
                ));
            }
            pairs.push(("grant_type", "client_credentials"));
        }
    }
    match (&state.client_secret, token_auth) {
        (Some(_), TokenAuth::Basic) => {}
        (Some(secret), TokenAuth::Body) => {
            pairs.push(("client_id", state.client_id.as_str()));
            pairs.push(("client_secret", secret.as_str()));
        }
        (None, _) => pairs.push(("client_id", state.client_id.as_str())),
    }
    let scope = scopes.join(" ");
    if !scope.is_empty() {
        pairs.push(("scope", &scope));
    }
    Ok(Zeroizing::new(
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&"),
    ))
}

fn request_token(
    agent: &ureq::Agent,
    endpoint: &str,
    form: &str,
    authorization: Option<&str>,
) -> Result<TokenResponse> {
    let host = token_endpoint_host(endpoint)
        .unwrap_or("the token endpoint")
        .to_string();
    let timeout = std::time::Duration::from_secs(30);
    let mut builder = ureq::http::Request::builder()
        .method("POST")
        .uri(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    let request = builder
        .body(form.as_bytes().to_vec())
        .map_err(|_| Error::invalid("the OAuth 2.0 token endpoint is not a valid URL"))?;
    let request = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .build();
    let response = agent
        .run(request)
        .map_err(|e| super::transport::upstream_error(e, &host, timeout))?;
    let status = response.status().as_u16();
    let body = Zeroizing::new(
        response
            .into_body()
            .with_config()
            .limit(MAX_TOKEN_RESPONSE)
            .read_to_vec()
            .map_err(|e| super::transport::upstream_error(e, &host, timeout))?,
    );
    if !(200..300).contains(&status) {
        // RFC 6749 §5.2: `error` is a short code, safe to show; nothing else is quoted.
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        return Err(Error::new(
            ErrorKind::UpstreamError,
            format!(
                "token endpoint {host} refused to issue a token (status {status}{})",
                code.map(|c| format!(", {c}")).unwrap_or_default()
            ),
        ));
    }
    serde_json::from_slice(&body).map_err(|_| {
        Error::new(
            ErrorKind::UpstreamError,
            format!("token endpoint {host} answered without an access_token"),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_auth_is_read_from_the_auth_spec_basic_by_default() {
        let spec: AuthSpec = serde_json::from_str(
            r#"{"kind":"oauth2","grant_type":"refresh_token","token_endpoint":"https://a.test/t"}"#,
        )
        .unwrap();
        assert!(matches!(
            spec,
            AuthSpec::Oauth2 {
                token_auth: TokenAuth::Basic,
                ..
            }
        ));
        let spec: AuthSpec = serde_json::from_str(
            r#"{"kind":"oauth2","grant_type":"refresh_token","token_endpoint":"https://a.test/t","token_auth":"body"}"#,
        )
        .unwrap();
        assert!(matches!(
            spec,
            AuthSpec::Oauth2 {
                token_auth: TokenAuth::Body,
                ..
            }
        ));
        assert!(
            serde_json::from_str::<AuthSpec>(
                r#"{"kind":"oauth2","grant_type":"refresh_token","token_endpoint":"https://a.test/t","token_auth":"header"}"#,
            )
            .is_err()
        );
    }

    #[test]
    fn expires_in_is_read_leniently_and_clamped() {
        let read = |raw: &str| {
            let json = format!(r#"{{"access_token":"a","expires_in":{raw}}}"#);
            serde_json::from_str::<TokenResponse>(&json)
                .unwrap()
                .expires_in
                .map(lifetime)
        };
        let year = 365 * 24 * 3600;
        for (raw, want) in [
            ("3600", Some(3600)),
            ("3600.9", Some(3600)),
            (r#""3600""#, Some(3600)),
            (r#"" 7200 ""#, Some(7200)),
            ("0", Some(360)),
            ("-5", Some(360)),
            ("1", Some(360)),
            ("360", Some(360)),
            ("361", Some(361)),
            ("-9223372036854775808", Some(360)),
            ("9223372036854775807", Some(year)),
            ("18446744073709551615", Some(year)),
            ("1e300", Some(year)),
            ("-1e300", Some(360)),
            (r#""1e400""#, None),
            (r#""soon""#, None),
            (r#""NaN""#, None),
            ("true", None),
            ("null", None),
            ("{}", None),
            ("[]", None),
        ] {
            assert_eq!(read(raw), want, "{raw}");
        }
        let absent: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(absent.expires_in, None);
        // No overflow at the end of time.
        assert_eq!(i64::MAX.saturating_add(lifetime(i64::MAX)), i64::MAX);
    }

    #[test]
    fn basic_client_auth_form_urlencodes_then_base64s() {
        let state =
            TokenState::parse(br#"{"client_id":"a b","client_secret":"s:/"}"#, None, None).unwrap();
        let basic = client_basic(&state, TokenAuth::Basic).unwrap();
        // base64("a%20b:s%3A%2F")
        assert_eq!(basic.as_str(), "Basic YSUyMGI6cyUzQSUyRg==");
        assert!(client_basic(&state, TokenAuth::Body).is_none());
        let form =
            token_form(OAuthGrant::ClientCredentials, &state, &[], TokenAuth::Basic).unwrap();
        assert_eq!(form.as_str(), "grant_type=client_credentials");
    }
}
