//! Header policy: which request headers a caller may send through the broker, and which
//! upstream response headers the caller may see.
//!
//! Error messages name headers but never echo a header value: a value could be a secret.

// Wired into the broker's invoke path; until then only the tests call these functions.

use crate::error::{Error, ErrorKind, Result};
use crate::model::printable;

/// Request headers that carry credentials: the broker injects credentials itself.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// Hop-by-hop and framing headers: the broker's HTTP client owns the connection and framing.
const FRAMING_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Headers that claim a client identity (address, forwarding chain) a caller could spoof.
/// Every `x-forwarded-*` name is refused as well.
const IDENTITY_HEADERS: &[&str] = &[
    "forwarded",
    "via",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
];

/// Headers some servers, frameworks and proxies honour to override the method, path or host
/// the broker's policy checked.
const OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-original-path",
    "x-override-url",
    "x-envoy-original-path",
    "x-http-destinationurl",
    "x-proxy-url",
    "x-host",
    "x-http-host-override",
    "x-original-host",
];

/// Checks the caller's headers; `owned` = lower-case header names the credential's auth
/// strategy sets (e.g. "x-api-key", "x-amz-date"). Returns the headers to send (names
/// lower-cased, order kept).
///
/// Names are compared case-insensitively and with `-`, `_` and `.` taken as one character
/// (nginx, CGI, PHP and WSGI map `x_api_key` onto `X-Api-Key`), so `x_api_key` and
/// `X.API.KEY` are refused like `x-api-key`; duplicates are allowed; cookies may be sent.
/// - A name must be an RFC 9110 token (invalid input otherwise).
/// - Refused by policy: `authorization`, `proxy-authorization` and any `owned` name (the
///   broker injects credentials itself); hop-by-hop and framing headers (`connection`,
///   `keep-alive`, `proxy-connection`, `te`, `trailer`, `transfer-encoding`, `upgrade`,
///   `host`, `content-length`, `expect`); client-identity headers a caller could spoof
///   (`forwarded`, `via`, every `x-forwarded-*`, `x-real-ip`, `x-client-ip`, `true-client-ip`,
///   `cf-connecting-ip`, `x-cluster-client-ip`, `x-originating-ip`); method and path
///   override headers that would sidestep the capability's policy (`x-http-method-override`,
///   `x-http-method`, `x-method-override`, `x-original-method`, `x-original-url`,
///   `x-original-uri`, `x-original-path`, `x-rewrite-url`, `x-override-url`,
///   `x-envoy-original-path`, `x-http-destinationurl`, `x-proxy-url`, `x-host`,
///   `x-http-host-override`, `x-original-host`); and `accept-encoding` (the broker always asks
///   for identity encoding so it sees the bytes it redacts).
/// - A value holding CR, LF or NUL is refused by policy (header injection); any other
///   control character except tab is invalid input.
pub(crate) fn check_caller_headers(
    headers: &[(String, String)],
    owned: &[String],
) -> Result<Vec<(String, String)>> {
    headers
        .iter()
        .map(|(name, value)| check_one(name, value, owned).map(|lower| (lower, value.clone())))
        .collect()
}

/// Drops auth-class and cookie headers from an upstream response: returns only the ones a
/// caller may see.
///
/// Refused (case-insensitively): `authorization`, `proxy-authorization`, `cookie`,
/// `set-cookie`, `set-cookie2`, `x-amz-security-token`; any name containing `token`,
/// `secret`, `api-key`, `apikey`, `password`, `session` or `auth`, except the challenges
/// `www-authenticate` and `proxy-authenticate` (they describe how to authenticate and hold
/// no secret) and except rate-limit counters whose only sensitive word is `token`
/// (`x-ratelimit-remaining-tokens`, `anthropic-ratelimit-input-tokens-limit`); hop-by-hop
/// headers (`connection`, `keep-alive`, `transfer-encoding`, `te`, `trailer`, `upgrade`,
/// `proxy-connection`); and `content-length` / `content-encoding`, because the broker
/// re-frames the body after redaction. Everything else is allowed.
pub(crate) fn response_header_allowed(name: &str) -> bool {
    const REFUSED: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "set-cookie2",
        "x-amz-security-token",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "content-length",
        "content-encoding",
    ];
    const CHALLENGES: &[&str] = &["www-authenticate", "proxy-authenticate"];
    const SENSITIVE: &[&str] = &["secret", "api-key", "apikey", "password", "session", "auth"];

    let name = name.to_ascii_lowercase();
    if CHALLENGES.contains(&name.as_str()) {
        return true;
    }
    if REFUSED.contains(&name.as_str()) || SENSITIVE.iter().any(|word| name.contains(word)) {
        return false;
    }
    let rate_limit = name.contains("ratelimit") || name.contains("rate-limit");
    rate_limit || !name.contains("token")
}

/// Checks one caller header; returns its lower-cased name.
fn check_one(name: &str, value: &str, owned: &[String]) -> Result<String> {
    if !is_token(name) {
        return Err(Error::invalid(format!(
            "header name '{}' is not a valid HTTP token; use only letters, digits and !#$%&'*+-.^_`|~",
            printable(name)
        )));
    }
    let lower = name.to_ascii_lowercase();
    let canonical = canonical_name(name);
    let refuse = |why: &str| {
        Error::new(
            ErrorKind::PolicyViolation,
            format!("header '{name}' is refused: {why}; remove it"),
        )
    };
    if CREDENTIAL_HEADERS.contains(&canonical.as_str()) {
        return Err(refuse(
            "the broker injects credentials itself, callers never send them",
        ));
    }
    if owned.iter().any(|o| canonical_name(o) == canonical) {
        return Err(refuse(
            "the credential's auth sets it and the broker injects credentials itself",
        ));
    }
    if FRAMING_HEADERS.contains(&canonical.as_str()) {
        return Err(refuse(
            "the broker manages the connection and message framing",
        ));
    }
    if canonical.starts_with("x-forwarded-") || IDENTITY_HEADERS.contains(&canonical.as_str()) {
        return Err(refuse(
            "it claims a client address or forwarding chain, which the broker does not let callers set",
        ));
    }
    if OVERRIDE_HEADERS.contains(&canonical.as_str()) {
        return Err(refuse(
            "it could override the method or path the capability's policy checked; send the real method and path instead",
        ));
    }
    if canonical == "accept-encoding" {
        return Err(refuse(
            "the broker always requests identity encoding because it must see the bytes it redacts",
        ));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "header '{name}' value contains CR, LF or NUL (header injection); send a single-line value"
            ),
        ));
    }
    if value.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return Err(Error::invalid(format!(
            "header '{name}' value contains a control character; remove it (only tab is allowed)"
        )));
    }
    Ok(lower)
}

/// A header name as the policy compares it: lower-case, with `_` and `.` read as `-`
/// (servers that expose headers as `HTTP_X_API_KEY` cannot tell them apart).
fn canonical_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' | b'.' => '-',
            b => char::from(b.to_ascii_lowercase()),
        })
        .collect()
}

/// RFC 9110 `token`: one or more tchar.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str) -> Result<Vec<(String, String)>> {
        check_caller_headers(&[(name.to_owned(), value.to_owned())], &[])
    }

    fn kind(name: &str, value: &str, owned: &[&str]) -> ErrorKind {
        let owned: Vec<String> = owned.iter().map(|s| (*s).to_owned()).collect();
        match check_caller_headers(&[(name.to_owned(), value.to_owned())], &owned) {
            Ok(h) => panic!("{name:?}: {value:?} accepted as {h:?}"),
            Err(e) => {
                assert!(!e.message().contains('\n'), "multi-line message: {e}");
                assert!(
                    value.len() < 4 || !e.message().contains(value),
                    "message echoes the value: {e}"
                );
                e.kind()
            }
        }
    }

    #[test]
    fn ordinary_headers_pass_lower_cased_in_order() {
        let headers: Vec<(String, String)> = [
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
            ("OpenAI-Beta", "assistants=v2"),
            ("anthropic-version", "2023-06-01"),
            ("Cookie", "a=b"),
            ("X-Custom", "one"),
            ("x-custom", "two"),
            ("User-Agent", "agent/1.0 (tab\there)"),
            ("X-Empty", ""),
            ("X-Unicode", "caf\u{e9}"),
            ("!#$%&'*+-.^_`|~09az", "v"),
            ("Idempotency-Key", "abc"),
            ("Content-Encoding", "gzip"),
            ("Accept-Language", "en"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let out = check_caller_headers(&headers, &["x-api-key".to_owned()]).unwrap();
        let want: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(out, want);
        assert!(check_caller_headers(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn invalid_names_are_invalid_input() {
        for name in [
            "",
            "X Custom",
            "X-Custom:",
            ":authority",
            "X-Caf\u{e9}",
            "X-A\r\nHost",
            "X\0",
            "(x)",
            "a/b",
            "a@b",
            "a=b",
            "\"x\"",
            "x\t",
        ] {
            assert_eq!(kind(name, "v", &[]), ErrorKind::InvalidInput, "{name:?}");
        }
        let e = one("X-A\r\nHost", "v").unwrap_err();
        assert!(e.message().contains("X-A\\r\\nHost"), "{e}");
    }

    #[test]
    fn credential_headers_are_refused_in_any_case() {
        for name in [
            "authorization",
            "Authorization",
            "AUTHORIZATION",
            "aUtHoRiZaTiOn",
            "Proxy-Authorization",
            "PROXY-AUTHORIZATION",
        ] {
            assert_eq!(
                kind(name, "Bearer sk-stolen-value", &[]),
                ErrorKind::PolicyViolation,
                "{name:?}"
            );
        }
        let e = one("Authorization", "Bearer sk-stolen-value").unwrap_err();
        assert!(e.message().contains("'Authorization'"), "{e}");
        assert!(e.message().contains("injects credentials"), "{e}");
        assert!(!e.message().contains("sk-stolen"), "{e}");
    }

    #[test]
    fn owned_headers_are_refused_in_any_case() {
        let owned = [
            "x-api-key",
            "x-amz-date",
            "x-amz-security-token",
            "x-goog-api-key",
        ];
        for name in [
            "x-api-key",
            "X-Api-Key",
            "X-API-KEY",
            "X-Amz-Date",
            "x-amz-security-token",
            "X-Goog-Api-Key",
        ] {
            assert_eq!(
                kind(name, "zz-val", &owned),
                ErrorKind::PolicyViolation,
                "{name:?}"
            );
        }
        // Owned names given in another case still match.
        assert_eq!(
            kind("x-key", "zz-val", &["X-Key"]),
            ErrorKind::PolicyViolation
        );
        // Not owned: allowed.
        assert!(one("x-api-key", "v").is_ok());
        let owned = vec!["x-api-key".to_owned()];
        let e =
            check_caller_headers(&[("X-Api-Key".to_owned(), "k".to_owned())], &owned).unwrap_err();
        assert!(e.message().contains("'X-Api-Key'"), "{e}");
        assert!(e.message().contains("injects credentials"), "{e}");
    }

    #[test]
    fn separator_and_case_variants_of_refused_names_are_refused() {
        let owned = ["x-api-key", "x-goog-api-key"];
        for name in [
            "x_api_key",
            "X_API_KEY",
            "x.api.key",
            "X-API_KEY",
            "x_api.Key",
            "x_goog_api_key",
            "proxy_authorization",
            "Content_Length",
            "transfer_encoding",
            "x_forwarded_for",
            "X_Forwarded_Host",
            "x.forwarded.proto",
            "x_real_ip",
            "x_http_method_override",
            "X.Original.URL",
            "accept_encoding",
        ] {
            assert_eq!(
                kind(name, "zz-val", &owned),
                ErrorKind::PolicyViolation,
                "{name:?}"
            );
        }
        let owned = vec!["x-api-key".to_owned()];
        for name in ["x-api-keys", "xapikey", "x-api", "x__api-key"] {
            assert!(
                check_caller_headers(&[(name.to_owned(), "v".to_owned())], &owned).is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn managed_headers_are_refused() {
        for name in [
            "Connection",
            "keep-alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Host",
            "host",
            "Content-Length",
            "Expect",
            "Forwarded",
            "Via",
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-Forwarded-Proto",
            "X-Forwarded-Port",
            "X-Real-IP",
            "X-Client-IP",
            "True-Client-IP",
            "CF-Connecting-IP",
            "X-Cluster-Client-IP",
            "X-Originating-IP",
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
            "X-Original-URL",
            "X-Original-URI",
            "X-Rewrite-URL",
            "X-Original-Method",
            "X-Original-Path",
            "X-Override-URL",
            "X-Envoy-Original-Path",
            "X-HTTP-DestinationURL",
            "X-Proxy-URL",
            "X-Host",
            "X-HTTP-Host-Override",
            "X-Original-Host",
            "Accept-Encoding",
            "accept-encoding",
        ] {
            assert_eq!(
                kind(name, "zz-val", &[]),
                ErrorKind::PolicyViolation,
                "{name:?}"
            );
        }
        let e = one("Accept-Encoding", "gzip").unwrap_err();
        assert!(e.message().contains("identity"), "{e}");
        assert!(e.message().contains("redact"), "{e}");
        // Near misses are ordinary headers.
        for name in [
            "X-Forwarded",
            "Hosts",
            "Content-Lengths",
            "Accept",
            "TEE",
            "X-Via",
        ] {
            assert!(one(name, "v").is_ok(), "{name:?}");
        }
    }

    #[test]
    fn injection_in_values_is_refused_without_echoing_the_value() {
        for value in [
            "x\r\nHost: evil",
            "x\nHost: evil",
            "x\rHost: evil",
            "secret-value\0",
            "\r\n",
        ] {
            assert_eq!(
                kind("X-Custom", value, &[]),
                ErrorKind::PolicyViolation,
                "{value:?}"
            );
            let e = one("X-Custom", value).unwrap_err();
            assert!(e.message().contains("header injection"), "{e}");
            assert!(!e.message().contains("evil"), "{e}");
            assert!(!e.message().contains("secret-value"), "{e}");
        }
        for value in ["a\u{1}b", "a\u{7f}b", "a\u{1b}[31mb", "\u{8}", "a\u{1f}"] {
            assert_eq!(
                kind("X-Custom", value, &[]),
                ErrorKind::InvalidInput,
                "{value:?}"
            );
        }
        assert!(one("X-Custom", "a\tb").is_ok());
    }

    #[test]
    fn one_bad_header_refuses_the_whole_set() {
        let headers = vec![
            ("Accept".to_owned(), "*/*".to_owned()),
            ("authorization".to_owned(), "Bearer x".to_owned()),
        ];
        assert_eq!(
            check_caller_headers(&headers, &[]).unwrap_err().kind(),
            ErrorKind::PolicyViolation
        );
    }

    #[test]
    fn response_headers_are_filtered() {
        let cases = [
            ("Content-Type", true),
            ("Date", true),
            ("X-Request-Id", true),
            ("Retry-After", true),
            ("Location", true),
            ("ETag", true),
            ("Cache-Control", true),
            ("WWW-Authenticate", true),
            ("www-authenticate", true),
            ("Proxy-Authenticate", true),
            ("x-ratelimit-remaining-requests", true),
            ("x-ratelimit-remaining-tokens", true),
            ("anthropic-ratelimit-input-tokens-remaining", true),
            ("X-RateLimit-Limit", true),
            ("X-Rate-Limit-Tokens", true),
            ("openai-processing-ms", true),
            ("Authorization", false),
            ("authorization", false),
            ("Proxy-Authorization", false),
            ("Set-Cookie", false),
            ("set-cookie", false),
            ("Set-Cookie2", false),
            ("Cookie", false),
            ("X-Amz-Security-Token", false),
            ("X-Auth-Token", false),
            ("X-OAuth-Scopes", false),
            ("Authentication-Info", false),
            ("X-Access-Token", false),
            ("X-Refresh-Token", false),
            ("x-csrf-token", false),
            ("X-Client-Secret", false),
            ("X-Api-Key", false),
            ("X-Goog-Api-Key", false),
            ("X-ApiKey", false),
            ("x-password", false),
            ("X-Session-Id", false),
            ("x-ratelimit-session", false),
            ("x-ratelimit-auth", false),
            ("Connection", false),
            ("Keep-Alive", false),
            ("Transfer-Encoding", false),
            ("TE", false),
            ("Trailer", false),
            ("Upgrade", false),
            ("Proxy-Connection", false),
            ("Content-Length", false),
            ("Content-Encoding", false),
            ("content-encoding", false),
        ];
        for (name, want) in cases {
            assert_eq!(response_header_allowed(name), want, "{name:?}");
        }
    }
}
