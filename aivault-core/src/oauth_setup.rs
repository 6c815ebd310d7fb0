//! `aivault oauth setup`: the consent URL that starts an OAuth 2.0 authorization-code flow.
//! The code exchange happens outside the broker; the resulting tokens are stored as a secret
//! (see the `oauth2` strategy), and from then on the broker refreshes them.

use serde::Serialize;

use crate::broker::path::encode_component;
use crate::error::{Error, Result};
use crate::model::printable;

/// What the consent URL is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentRequest {
    /// The provider (informational; echoed back).
    pub provider: String,
    /// The provider's authorization endpoint (https; may already carry query parameters, such
    /// as Google's `access_type=offline&prompt=consent` to get a refresh token).
    pub auth_url: String,
    /// The application's client id.
    pub client_id: String,
    /// Where the provider sends the code (an absolute http or https URL).
    pub redirect_uri: String,
    /// Scopes, joined with spaces.
    pub scopes: Vec<String>,
    /// The CSRF state; a random one when absent.
    pub state: Option<String>,
}

/// The consent URL to open, and the state to check on the redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// The provider.
    pub provider: String,
    /// Open this in a browser.
    pub consent_url: String,
    /// The `state` the redirect must carry back.
    pub state: String,
    /// The redirect URI the code will be sent to.
    pub redirect_uri: String,
}

/// Builds the consent URL (RFC 6749 §4.1.1: `response_type=code`, `client_id`,
/// `redirect_uri`, `scope`, `state`).
///
/// # Errors
/// `invalid_input` for an authorization endpoint that is not https, a redirect URI that is not
/// an absolute http(s) URL, or an empty or malformed client id, scope or state.
pub fn consent_url(request: &ConsentRequest) -> Result<Consent> {
    let auth_url = request.auth_url.trim();
    if !auth_url.starts_with("https://") || auth_url.len() <= "https://".len() {
        return Err(Error::invalid(format!(
            "--auth-url '{}' must be an https URL",
            printable(auth_url)
        )));
    }
    if auth_url.contains('#') || auth_url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::invalid(
            "--auth-url must not contain a fragment, spaces or control characters",
        ));
    }
    let redirect = request.redirect_uri.trim();
    if !(redirect.starts_with("https://") || redirect.starts_with("http://"))
        || redirect.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Error::invalid(format!(
            "--redirect-uri '{}' must be an absolute http(s) URL",
            printable(redirect)
        )));
    }
    let field = |name: &str, value: &str| -> Result<()> {
        if value.trim().is_empty() || value.chars().any(char::is_control) {
            return Err(Error::invalid(format!("{name} must be non-empty text")));
        }
        Ok(())
    };
    field("--client-id", &request.client_id)?;
    for scope in &request.scopes {
        field("--scope", scope)?;
    }
    let state = match &request.state {
        Some(state) => {
            field("--state", state)?;
            state.clone()
        }
        None => crate::crypto::to_hex(&crate::crypto::random_bytes::<16>()?),
    };
    let mut pairs = vec![
        ("response_type", "code".to_string()),
        ("client_id", request.client_id.trim().to_string()),
        ("redirect_uri", redirect.to_string()),
    ];
    if !request.scopes.is_empty() {
        pairs.push(("scope", request.scopes.join(" ")));
    }
    pairs.push(("state", state.clone()));
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let separator = if auth_url.contains('?') { '&' } else { '?' };
    Ok(Consent {
        provider: request.provider.trim().to_string(),
        consent_url: format!("{auth_url}{separator}{query}"),
        state,
        redirect_uri: redirect.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn google() -> ConsentRequest {
        ConsentRequest {
            provider: "google".into(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            client_id: "my client".into(),
            redirect_uri: "http://127.0.0.1:8787/callback".into(),
            scopes: vec!["gmail.readonly".into(), "openid".into()],
            state: Some("s1".into()),
        }
    }

    #[test]
    fn builds_the_rfc_6749_request() {
        let consent = consent_url(&google()).unwrap();
        assert_eq!(
            consent.consent_url,
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=my%20client\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Fcallback&scope=gmail.readonly%20openid&state=s1"
        );
        let with_query = consent_url(&ConsentRequest {
            auth_url: "https://accounts.google.com/auth?access_type=offline".into(),
            state: None,
            ..google()
        })
        .unwrap();
        assert!(
            with_query
                .consent_url
                .contains("?access_type=offline&response_type=code")
        );
        assert_eq!(with_query.state.len(), 32, "a random state");
        assert_ne!(
            consent_url(&ConsentRequest {
                state: None,
                ..google()
            })
            .unwrap()
            .state,
            with_query.state
        );
    }

    #[test]
    fn refuses_unsafe_input() {
        for bad in [
            ConsentRequest {
                auth_url: "http://accounts.example/auth".into(),
                ..google()
            },
            ConsentRequest {
                auth_url: "https://a.example/auth#frag".into(),
                ..google()
            },
            ConsentRequest {
                redirect_uri: "/callback".into(),
                ..google()
            },
            ConsentRequest {
                client_id: " ".into(),
                ..google()
            },
            ConsentRequest {
                scopes: vec!["a\nb".into()],
                ..google()
            },
        ] {
            assert_eq!(
                consent_url(&bad).unwrap_err().kind(),
                crate::error::ErrorKind::InvalidInput
            );
        }
    }
}
