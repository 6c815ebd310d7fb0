//! Security tests of the broker (DESIGN §5): what a caller must not be able to make the broker
//! send, where it must not connect, and what must never come back.
//!
//! Every refusal test checks three things: the error kind, that the loopback upstream standing
//! in for the provider received nothing (no request, usually no connection either), and that
//! the canary secret appears neither in the error, nor in the response, nor in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aivault_core::broker::netguard::{DevRoutes, StaticLookup};
use aivault_core::{
    AuditEvent, AuditQuery, AuthOptions, Config, Decoded, Error, ErrorKind, Invocation,
    InvokeResponse, MultipartPart, NetworkOptions, NewCapability, NewCredential, PolicyUpdate,
    RequestBody, Scope, Vault,
};
use aivault_testkit::{Pki, Recorded, Reply, Upstream, echo_handler};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{TestDir, assert_audit_clean, assert_audit_ok, canary, expect_err, new_secret};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A vault whose registry provider host is served by a loopback HTTPS upstream.
struct Env {
    t: TestDir,
    pki: Pki,
    upstream: Upstream,
    vault: Vault,
    /// The secret value (the canary).
    key: String,
}

impl Env {
    /// `host` (a registry provider's) routed to an upstream running `handler`, with
    /// `secret_name` holding `key`.
    fn new(
        host: &str,
        secret_name: &str,
        key: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Env {
        let pki = Pki::new(&[host, "evil-second.test"]);
        let upstream = Upstream::https(&pki, handler);
        let t = TestDir::new();
        let config = Config {
            dev_routes: DevRoutes::parse(&format!("{host}=127.0.0.1:{}", upstream.port())).unwrap(),
            dev_ca_cert: Some(pki.ca_pem.clone()),
            ..t.config()
        };
        let vault = Vault::open(config).unwrap();
        vault
            .create_secret(new_secret(secret_name, key, Scope::Global))
            .unwrap();
        Env {
            t,
            pki,
            upstream,
            vault,
            key: key.to_string(),
        }
    }

    /// OpenAI (`Authorization: Bearer`), upstream running `handler`.
    fn openai(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Env {
        Env::new("api.openai.com", "OPENAI_API_KEY", &canary(), handler)
    }

    /// A config for a second handle on the same vault, with the same routing.
    fn config(&self) -> Config {
        Config {
            dev_routes: DevRoutes::parse(&format!(
                "api.openai.com=127.0.0.1:{}",
                self.upstream.port()
            ))
            .unwrap(),
            dev_ca_cert: Some(self.pki.ca_pem.clone()),
            ..self.t.config()
        }
    }

    /// Invokes and expects a refusal of `kind`: the canary is not in the error, and the
    /// upstream received no request and no connection.
    fn refused(&self, invocation: &Invocation, kind: ErrorKind, what: &str) -> Error {
        let err = expect_err(self.vault.invoke(invocation), what);
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert_clean(&self.key, what, &err);
        assert!(
            self.upstream.requests().is_empty(),
            "{what}: the upstream received {:?}",
            self.upstream.requests()
        );
        assert_eq!(
            self.upstream.connections(),
            0,
            "{what}: a connection was made"
        );
        err
    }

    /// Invokes and expects success; the canary is not in the response.
    fn ok(&self, invocation: &Invocation) -> InvokeResponse {
        let response = self
            .vault
            .invoke(invocation)
            .unwrap_or_else(|e| panic!("{invocation:?}: {e} ({})", e.kind()));
        assert_response_clean(&self.key, &response);
        response
    }

    /// The end-of-test checks: the audit log holds no canary and verifies.
    fn finish(&self) {
        assert_audit_clean(&self.vault, &self.key);
        assert_audit_ok(&self.vault);
    }
}

/// An invocation of `capability` with `path`.
fn call(capability: &str, path: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        path: Some(path.into()),
        ..Default::default()
    }
}

/// The canary is neither in the error message nor in its Debug rendering.
fn assert_clean(key: &str, what: &str, err: &Error) {
    assert!(!err.message().contains(key), "{what}: {err}");
    assert!(!format!("{err:?}").contains(key), "{what}: {err:?}");
}

/// The canary is nowhere in a response: body, headers, planned request.
fn assert_response_clean(key: &str, response: &InvokeResponse) {
    let body = String::from_utf8_lossy(&response.body);
    assert!(!body.contains(key), "body leaks the secret: {body}");
    for (name, value) in &response.headers {
        assert!(
            !value.contains(key),
            "header {name} leaks the secret: {value}"
        );
    }
    assert!(!format!("{:?}", response.planned).contains(key));
}

/// The `capability.invoke` events, newest first.
fn invoke_events(vault: &Vault) -> Vec<AuditEvent> {
    vault
        .audit(&AuditQuery {
            kind: Some("capability.invoke".into()),
            ..AuditQuery::default()
        })
        .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Caller-supplied host, scheme, auth
// ---------------------------------------------------------------------------------------------

/// A caller cannot name a scheme or host through the path: URL-like targets are refused before
/// any connection, and the second host never hears of it.
#[test]
fn caller_supplied_urls_and_hosts_are_refused() {
    let env = Env::openai(echo_handler());
    for (path, kind) in [
        ("http://evil.test/x", ErrorKind::PolicyViolation),
        ("https://evil.test/v1/models", ErrorKind::PolicyViolation),
        ("//evil.test/x", ErrorKind::PolicyViolation),
        ("//evil.test", ErrorKind::PolicyViolation),
        ("/v1/models://evil.test/x", ErrorKind::PolicyViolation),
        ("https:", ErrorKind::InvalidInput),
        ("https:evil.test/x", ErrorKind::InvalidInput),
        ("http:/evil.test/x", ErrorKind::InvalidInput),
        ("evil.test/v1/models", ErrorKind::InvalidInput),
        ("@evil.test/v1/models", ErrorKind::InvalidInput),
        ("\\\\evil.test\\x", ErrorKind::InvalidInput),
        ("/\\evil.test/x", ErrorKind::InvalidInput),
        ("", ErrorKind::InvalidInput),
        // `@` is a path character: this stays a path on api.openai.com, outside the prefix.
        ("/v1/models@evil.test", ErrorKind::PolicyViolation),
    ] {
        env.refused(&call("openai/models", path), kind, path);
    }
    env.finish();
}

/// Caller auth headers are refused: `Authorization`, `Proxy-Authorization` anywhere, and the
/// credential's own header (`x-api-key` for Anthropic), in any case; so is `Host`.
#[test]
fn caller_auth_headers_are_refused() {
    let openai = Env::openai(echo_handler());
    for (name, value) in [
        ("Authorization", "Bearer sk-stolen"),
        ("authorization", "Basic dXNlcjpwYXNz"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("Host", "evil.test"),
        ("X-Forwarded-Host", "evil.test"),
        ("X-HTTP-Method-Override", "DELETE"),
    ] {
        let invocation = Invocation {
            headers: vec![(name.into(), value.into())],
            ..call("openai/models", "/v1/models")
        };
        openai.refused(&invocation, ErrorKind::PolicyViolation, name);
    }
    openai.finish();

    let anthropic = Env::new(
        "api.anthropic.com",
        "ANTHROPIC_API_KEY",
        &canary(),
        echo_handler(),
    );
    for name in ["x-api-key", "X-Api-Key", "X-API-KEY", "authorization"] {
        let invocation = Invocation {
            headers: vec![(name.into(), "sk-ant-attacker".into())],
            ..call("anthropic/models", "/v1/models")
        };
        let err = anthropic.refused(&invocation, ErrorKind::PolicyViolation, name);
        assert!(!err.message().contains("sk-ant-attacker"), "{err}");
    }
    // Without the header the same call goes through, with the broker's key.
    anthropic.ok(&call("anthropic/models", "/v1/models"));
    let received = anthropic.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header_all("x-api-key"),
        vec![anthropic.key.as_str()]
    );
    anthropic.finish();
}

/// A query-auth provider's parameter (`key` for Gemini) cannot be set by the caller, even
/// percent-encoded; the broker's own `key` is the only one on the wire.
#[test]
fn caller_owned_query_parameter_is_refused() {
    let env = Env::new(
        "generativelanguage.googleapis.com",
        "GEMINI_API_KEY",
        &canary(),
        echo_handler(),
    );
    for path in [
        "/v1beta/models?key=attacker",
        "/v1beta/models?key",
        "/v1beta/models?pageSize=1&key=attacker",
        "/v1beta/models?%6Bey=attacker",
        "/v1beta/models?%6b%65%79=attacker",
    ] {
        env.refused(
            &call("gemini/models", path),
            ErrorKind::PolicyViolation,
            path,
        );
    }
    let response = env.ok(&call("gemini/models", "/v1beta/models?pageSize=1"));
    assert_eq!(response.status, 200);
    assert_eq!(
        response.planned.url,
        "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1&key=REDACTED"
    );
    let received = env.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].target,
        format!("/v1beta/models?pageSize=1&key={}", env.key)
    );
    env.finish();
}

/// Spellings of the credential's header that servers read as the same name (nginx, CGI, PHP
/// map `_` and `.` onto `-`; names are case-insensitive) are refused like the header itself,
/// and so are the identity and override headers in those spellings; an unrelated look-alike
/// goes through.
#[test]
fn owned_header_name_variants_are_refused() {
    let env = Env::new(
        "api.anthropic.com",
        "ANTHROPIC_API_KEY",
        &canary(),
        echo_handler(),
    );
    for name in [
        "x_api_key",
        "X_API_KEY",
        "x.api.key",
        "X-API_KEY",
        "x_api.key",
        "proxy_authorization",
        "x_forwarded_host",
        "X_Forwarded_For",
        "x_real_ip",
        "x_http_method_override",
    ] {
        let invocation = Invocation {
            headers: vec![(name.into(), "sk-ant-attacker".into())],
            ..call("anthropic/models", "/v1/models")
        };
        let err = env.refused(&invocation, ErrorKind::PolicyViolation, name);
        assert!(!err.message().contains("sk-ant-attacker"), "{err}");
    }
    let response = env.ok(&Invocation {
        headers: vec![("x-api-keys".into(), "v".into())],
        ..call("anthropic/models", "/v1/models")
    });
    assert_eq!(response.status, 200);
    let received = env.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header_all("x-api-key"), vec![env.key.as_str()]);
    env.finish();
}

/// Headers that proxies and frameworks honour to override the method, path or host the
/// policy checked are refused, in any case.
#[test]
fn override_headers_are_refused() {
    let env = Env::openai(echo_handler());
    for (name, value) in [
        ("X-Original-Method", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-Method-Override", "DELETE"),
        ("X-Override-URL", "/v1/files"),
        ("X-Original-URL", "/v1/files"),
        ("X-Rewrite-URL", "/v1/files"),
        ("X-Original-Path", "/v1/files"),
        ("X-Envoy-Original-Path", "/v1/files"),
        ("X-HTTP-DestinationURL", "https://evil.test/"),
        ("X-Proxy-URL", "https://evil.test/"),
        ("X-Host", "evil.test"),
        ("X-HTTP-Host-Override", "evil.test"),
        ("X-Original-Host", "evil.test"),
        ("X-Forwarded-Host", "evil.test"),
        ("x-original-method", "DELETE"),
        ("X_HOST", "evil.test"),
    ] {
        let invocation = Invocation {
            headers: vec![(name.into(), value.into())],
            ..call("openai/models", "/v1/models")
        };
        env.refused(&invocation, ErrorKind::PolicyViolation, name);
    }
    env.finish();
}

/// Spellings of the credential's query parameter that servers read as it (case, `.`, `+`,
/// `%5F`, PHP arrays, leading spaces, `;` as a separator) are refused before any connection;
/// look-alikes no server confuses go through unchanged.
#[test]
fn owned_query_parameter_variants_are_refused() {
    let env = Env::new("serpapi.com", "SERPAPI_API_KEY", &canary(), echo_handler());
    for path in [
        "/search?q=x&API_KEY=mine",
        "/search?q=x&Api_Key=mine",
        "/search?q=x&api.key=mine",
        "/search?q=x&api+key=mine",
        "/search?q=x&api-key=mine",
        "/search?q=x&api%5Fkey=mine",
        "/search?q=x&api_key[]=mine",
        "/search?q=x&api_key[0]=mine",
        "/search?q=x&api_key%5B%5D=mine",
        "/search?q=x&api[key=mine",
        "/search?q=x&%20api_key=mine",
        "/search?q=x&+api_key=mine",
        "/search?x=1;api_key=mine",
        "/search?q=x;API.KEY",
    ] {
        env.refused(
            &call("serpapi/search", path),
            ErrorKind::PolicyViolation,
            path,
        );
    }
    let response = env.ok(&call("serpapi/search", "/search?q=api_key&apikeys=1"));
    assert_eq!(response.status, 200);
    let received = env.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].target,
        format!("/search?q=api_key&apikeys=1&api_key={}", env.key)
    );
    env.finish();
}

/// `_method` (and its kin) in the query, a form body or a multipart body would let a
/// framework run another method than the one the capability's policy checked
/// (`openai/embeddings` allows only POST): refused before any connection.
#[test]
fn method_override_parameters_are_refused() {
    let env = Env::openai(echo_handler());
    for path in [
        "/v1/embeddings?_method=DELETE",
        "/v1/embeddings?_METHOD=DELETE",
        "/v1/embeddings?a=1;_method=DELETE",
        "/v1/embeddings?%5Fmethod=DELETE",
        "/v1/embeddings?_HttpMethod=DELETE",
    ] {
        let invocation = Invocation {
            body: RequestBody::Bytes(b"{}".to_vec()),
            ..call("openai/embeddings", path)
        };
        env.refused(&invocation, ErrorKind::PolicyViolation, path);
    }
    let form = Invocation {
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: RequestBody::Bytes(b"input=x&_method=DELETE".to_vec()),
        ..call("openai/embeddings", "/v1/embeddings")
    };
    env.refused(&form, ErrorKind::PolicyViolation, "form _method");
    let multipart = Invocation {
        body: RequestBody::Multipart(vec![MultipartPart::Field {
            name: "_method".into(),
            value: "DELETE".into(),
        }]),
        ..call("openai/embeddings", "/v1/embeddings")
    };
    env.refused(&multipart, ErrorKind::PolicyViolation, "multipart _method");
    // `method` is an ordinary parameter (Flickr, Last.fm use it).
    let response = env.ok(&Invocation {
        body: RequestBody::Bytes(b"{}".to_vec()),
        ..call("openai/embeddings", "/v1/embeddings?method=x")
    });
    assert_eq!(response.status, 200);
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Paths, header injection, methods
// ---------------------------------------------------------------------------------------------

/// Dot segments (plain or encoded, any case, with or without `;params`: `..;`, `.%2e;`),
/// encoded separators, backslashes and prefix extensions (`/v1/files;x`, `/v1;x/files`)
/// cannot leave `openai/files` (prefix `/v1/files`); a real sub-path is sent as is.
#[test]
fn path_escapes_are_refused() {
    let env = Env::openai(echo_handler());
    for (path, kind) in [
        ("/v1/files/..", ErrorKind::PolicyViolation),
        ("/v1/files/../models", ErrorKind::PolicyViolation),
        ("/v1/files/./abc", ErrorKind::PolicyViolation),
        ("/v1/files/%2e%2e/models", ErrorKind::PolicyViolation),
        ("/v1/files/%2E%2e/models", ErrorKind::PolicyViolation),
        ("/v1/files/%2E%2E", ErrorKind::PolicyViolation),
        ("/v1/files/.%2e/models", ErrorKind::PolicyViolation),
        ("/v1/files/%2e/abc", ErrorKind::PolicyViolation),
        ("/v1/files%2fabc", ErrorKind::PolicyViolation),
        ("/v1/files/a%2Fb", ErrorKind::PolicyViolation),
        ("/v1/files%2f..%2fmodels", ErrorKind::PolicyViolation),
        ("/v1/files\\abc", ErrorKind::InvalidInput),
        ("/v1/files/..\\models", ErrorKind::InvalidInput),
        ("/v1/files/%5cabc", ErrorKind::PolicyViolation),
        ("/v1/files%5C..%5Cmodels", ErrorKind::PolicyViolation),
        ("/v1/files/%00", ErrorKind::PolicyViolation),
        ("/v1/filesX", ErrorKind::PolicyViolation),
        ("/v1/files.json", ErrorKind::PolicyViolation),
        ("/v1/files;/../models", ErrorKind::PolicyViolation),
        // `;params` are stripped by Tomcat, Jetty and Spring before dot segments resolve.
        ("/v1/files/..;/models", ErrorKind::PolicyViolation),
        ("/v1/files/..;x=1/models", ErrorKind::PolicyViolation),
        ("/v1/files/.%2e;/models", ErrorKind::PolicyViolation),
        ("/v1/files/%2e%2e;x=1/models", ErrorKind::PolicyViolation),
        ("/v1/files/%2E.;/models", ErrorKind::PolicyViolation),
        ("/v1/files/..%3B/models", ErrorKind::PolicyViolation),
        ("/v1/files/.;/abc", ErrorKind::PolicyViolation),
        ("/v1/files/abc/..;/..;/models", ErrorKind::PolicyViolation),
        ("/v1;x/files/abc", ErrorKind::PolicyViolation),
        ("/v1/files;x/abc", ErrorKind::PolicyViolation),
        ("/v1/files%3Bx/abc", ErrorKind::PolicyViolation),
        ("/v1/models", ErrorKind::PolicyViolation),
        ("/v1//files/abc", ErrorKind::InvalidInput),
        ("/v1/files/abc#frag", ErrorKind::InvalidInput),
        ("/v1/files/a b", ErrorKind::InvalidInput),
    ] {
        env.refused(&call("openai/files", path), kind, path);
    }
    let response = env.ok(&call("openai/files", "/v1/files/abc"));
    assert_eq!(response.status, 200);
    // Already-encoded text is not decoded twice: `%252e%252e` is a literal name.
    env.ok(&call("openai/files", "/v1/files/%252e%252e"));
    // Parameters on an ordinary segment are the caller's business.
    env.ok(&call("openai/files", "/v1/files/abc;v=1"));
    let targets: Vec<String> = env
        .upstream
        .requests()
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(
        targets,
        vec!["/v1/files/abc", "/v1/files/%252e%252e", "/v1/files/abc;v=1"]
    );
    env.finish();
}

/// CR/LF in a header value, a header name, the path or the query is refused: the upstream
/// never sees a smuggled header or request.
#[test]
fn crlf_injection_is_refused() {
    let env = Env::openai(echo_handler());
    let header = |name: &str, value: &str| Invocation {
        headers: vec![(name.into(), value.into())],
        ..call("openai/models", "/v1/models")
    };
    let cases = [
        (
            header("x-foo", "a\r\nhost: evil"),
            ErrorKind::PolicyViolation,
        ),
        (header("x-foo", "a\nhost: evil"), ErrorKind::PolicyViolation),
        (header("x-foo", "a\rhost: evil"), ErrorKind::PolicyViolation),
        (header("x-foo", "a\0b"), ErrorKind::PolicyViolation),
        (header("x-foo: a\r\nhost", "evil"), ErrorKind::InvalidInput),
        (
            call(
                "openai/models",
                "/v1/models HTTP/1.1\r\nHost: evil.test\r\n\r\nGET /x",
            ),
            ErrorKind::InvalidInput,
        ),
        (
            call("openai/models", "/v1/models?a=b\r\nHost: evil"),
            ErrorKind::InvalidInput,
        ),
        (
            call("openai/models", "/v1/models/%0d%0aHost:%20evil"),
            ErrorKind::PolicyViolation,
        ),
    ];
    for (invocation, kind) in &cases {
        env.refused(invocation, *kind, &format!("{invocation:?}"));
    }
    env.finish();
}

/// A method the capability does not allow is refused (`openai/models`: GET, DELETE), and a
/// hostile method string cannot forge fields of the audit note.
#[test]
fn disallowed_methods_are_refused() {
    let env = Env::openai(echo_handler());
    for method in [
        "POST",
        "PUT",
        "PATCH",
        "TRACE",
        "CONNECT",
        "OPTIONS",
        "HEAD",
        "FOO",
        "GET /x HTTP/1.1\r\nHost: evil",
        "GET outcome=ok",
    ] {
        let invocation = Invocation {
            method: Some(method.into()),
            ..call("openai/models", "/v1/models")
        };
        env.refused(&invocation, ErrorKind::PolicyViolation, method);
    }
    // Every refusal was audited once, with one outcome and a single-line note.
    let events = invoke_events(&env.vault);
    assert_eq!(events.len(), 10);
    for event in &events {
        let note = event.note.as_deref().unwrap();
        assert!(
            note.starts_with("outcome=error:policy_violation "),
            "{note}"
        );
        assert_eq!(note.matches("outcome=").count(), 1, "{note}");
        assert!(!note.contains(['\r', '\n']), "{note:?}");
        assert!(
            note.contains(" method=") && !note.contains("method=GET "),
            "{note}"
        );
    }
    // Case does not matter for an allowed method.
    let response = env.ok(&Invocation {
        method: Some("get".into()),
        ..call("openai/models", "/v1/models")
    });
    assert_eq!(response.status, 200);
    assert_eq!(env.upstream.requests()[0].method, "GET");
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Network guard
// ---------------------------------------------------------------------------------------------

/// An operator credential of its own provider (`evil`, host `host`), served by capability
/// `evil/data` (`GET /v1/data`), in a vault whose lookup resolves `api.evil.test` to `ips`.
struct EvilEnv {
    _t: TestDir,
    vault: Vault,
    key: String,
}

fn evil_env(ips: &[IpAddr], host: &str, network: NetworkOptions) -> EvilEnv {
    let t = TestDir::new();
    let config = Config {
        lookup: Arc::new(StaticLookup::new().with("api.evil.test", ips)),
        ..t.config()
    };
    let vault = Vault::open(config).unwrap();
    let key = canary();
    let secret = vault
        .create_secret(new_secret("EVIL_API_KEY", &key, Scope::Global))
        .unwrap()
        .secret;
    vault
        .create_credential(NewCredential {
            id: "evil-key".into(),
            provider: "evil".into(),
            secret_refs: vec![secret.secret_ref()],
            auth: AuthOptions {
                kind: Some("header".into()),
                header_name: Some("x-evil-key".into()),
                value_template: Some("{{secret}}".into()),
                ..AuthOptions::default()
            },
            hosts: vec![host.into()],
            network,
            ..NewCredential::default()
        })
        .unwrap();
    vault
        .create_capability(NewCapability {
            id: "evil/data".into(),
            provider: None,
            credential: Some("evil-key".into()),
            methods: vec!["GET".into()],
            paths: vec!["/v1/data".into()],
            hosts: vec![],
        })
        .unwrap();
    EvilEnv { _t: t, vault, key }
}

/// A name that resolves to loopback, private, link-local/metadata, IPv6 loopback, an
/// IPv4-mapped loopback or the unspecified address is refused by the network guard.
#[test]
fn netguard_refuses_names_resolving_to_special_addresses() {
    for address in [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "192.168.1.1",
        "100.64.0.1",
        "fd00::1",
    ] {
        let env = evil_env(&[ip(address)], "api.evil.test", NetworkOptions::default());
        let err = expect_err(env.vault.invoke(&call("evil/data", "/v1/data")), address);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{address}: {err}");
        assert!(err.message().contains("netguard"), "{address}: {err}");
        assert!(err.message().contains("api.evil.test"), "{address}: {err}");
        assert_clean(&env.key, address, &err);
        assert_audit_clean(&env.vault, &env.key);
        let events = invoke_events(&env.vault);
        assert_eq!(events.len(), 1, "{address}");
        let note = events[0].note.as_deref().unwrap();
        assert!(
            note.starts_with("outcome=error:policy_violation "),
            "{note}"
        );
    }
}

/// `allow_private_network` lets an operator credential reach a loopback service (a real
/// upstream on 127.0.0.1), but metadata and the unspecified address stay refused and that
/// upstream sees no connection for them (0.0.0.0:PORT would reach it on Linux).
#[test]
fn allow_private_network_still_refuses_metadata_and_unspecified() {
    let pki = Pki::new(&["api.evil.test"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let host = format!("api.evil.test:{}", upstream.port());
    let network = NetworkOptions {
        allow_private_network: true,
        insecure_http: false,
        ca_cert: Some(pki.ca_pem.clone()),
    };

    let env = evil_env(&[ip("127.0.0.1")], &host, network.clone());
    let response = env
        .vault
        .invoke(&call("evil/data", "/v1/data"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status, 200);
    assert_response_clean(&env.key, &response);
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-evil-key"), Some(env.key.as_str()));
    assert_eq!(upstream.connections(), 1);

    for address in ["169.254.169.254", "0.0.0.0", "::", "fd00:ec2::254"] {
        let env = evil_env(&[ip(address)], &host, network.clone());
        let err = expect_err(env.vault.invoke(&call("evil/data", "/v1/data")), address);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{address}: {err}");
        assert!(err.message().contains("netguard"), "{address}: {err}");
        assert_clean(&env.key, address, &err);
        assert_audit_clean(&env.vault, &env.key);
    }
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(upstream.connections(), 1);
}

/// A mixed answer keeps only the acceptable addresses: with a loopback and a metadata address,
/// an `allow_private_network` credential connects to loopback only.
#[test]
fn mixed_answers_connect_only_to_acceptable_addresses() {
    let pki = Pki::new(&["api.evil.test"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let host = format!("api.evil.test:{}", upstream.port());
    let env = evil_env(
        &[ip("169.254.169.254"), ip("127.0.0.1")],
        &host,
        NetworkOptions {
            allow_private_network: true,
            insecure_http: false,
            ca_cert: Some(pki.ca_pem.clone()),
        },
    );
    let response = env.vault.invoke(&call("evil/data", "/v1/data")).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream.requests().len(), 1);
}

/// IP-literal hosts are refused when the credential is created without the private-network
/// opt-in, in any notation. With it, a plainly written literal is accepted (and pinned, see
/// `broker_hosts.rs`), while legacy notations (`2130706433`, `0x7f000001`, `127.1`) and
/// addresses the guard never connects to (metadata, unspecified, IPv4-mapped) stay refused.
#[test]
fn ip_literal_hosts_are_refused_at_credential_creation() {
    let t = TestDir::new();
    let vault = t.open();
    let key = canary();
    let secret = vault
        .create_secret(new_secret("EVIL_API_KEY", &key, Scope::Global))
        .unwrap()
        .secret;
    let private = NetworkOptions {
        allow_private_network: true,
        ..NetworkOptions::default()
    };
    let legacy_or_never = [
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "0.0.0.0",
        "0x7f000001:8080",
    ];
    let plain = ["127.0.0.1", "[::1]", "::1", "127.0.0.1:8080", "[::1]:8080"];
    let attempt = |host: &str, network: &NetworkOptions| {
        vault.create_credential(NewCredential {
            id: "evil-key".into(),
            provider: "evil".into(),
            secret_refs: vec![secret.secret_ref()],
            auth: AuthOptions {
                kind: Some("header".into()),
                header_name: Some("x-evil-key".into()),
                value_template: Some("{{secret}}".into()),
                ..AuthOptions::default()
            },
            hosts: vec![host.into()],
            network: network.clone(),
            ..NewCredential::default()
        })
    };
    let cases = legacy_or_never
        .iter()
        .chain(&plain)
        .map(|h| (*h, NetworkOptions::default()))
        .chain(legacy_or_never.iter().map(|h| (*h, private.clone())));
    for (host, network) in cases {
        let err = expect_err(attempt(host, &network), host);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{host}: {err}");
        assert!(err.message().contains("--host"), "{host}: {err}");
        assert_clean(&key, host, &err);
    }
    assert!(
        vault
            .list_credentials()
            .unwrap()
            .iter()
            .all(|c| c.id != "evil-key")
    );
    for (host, canonical) in [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "[::1]"),
        ("::1", "[::1]"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[0:0::1]:8080", "[::1]:8080"),
    ] {
        let created = attempt(host, &private).unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(created.hosts, [canonical], "{host}");
        vault.delete_credential("evil-key").unwrap();
    }
    assert_audit_clean(&vault, &key);
}

// ---------------------------------------------------------------------------------------------
// Redirects and responses
// ---------------------------------------------------------------------------------------------

/// A redirect is returned to the caller as is, never followed: neither another host (served
/// by a second upstream the broker could reach) nor the same host gets a second request.
#[test]
fn redirects_are_returned_not_followed() {
    let pki = Pki::new(&["api.openai.com", "evil-second.test"]);
    let second = Upstream::https(&pki, echo_handler());
    let first = Upstream::https(&pki, |req: &Recorded| {
        let code: u16 = req
            .target
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap_or(302);
        let location = if code == 307 {
            "/v1/files".to_string()
        } else {
            "https://evil-second.test/steal".to_string()
        };
        Reply::redirect(code, &location).body("moved")
    });
    let t = TestDir::new();
    let config = Config {
        dev_routes: DevRoutes::parse(&format!(
            "api.openai.com=127.0.0.1:{},evil-second.test=127.0.0.1:{}",
            first.port(),
            second.port()
        ))
        .unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    };
    let vault = Vault::open(config).unwrap();
    let key = canary();
    vault
        .create_secret(new_secret("OPENAI_API_KEY", &key, Scope::Global))
        .unwrap();
    for code in [301u16, 302, 303, 307, 308] {
        let response = vault
            .invoke(&call("openai/models", &format!("/v1/models/{code}")))
            .unwrap();
        assert_eq!(response.status, code);
        assert_response_clean(&key, &response);
        assert_eq!(response.body, b"moved");
        if let Some((_, location)) = response.headers.iter().find(|(n, _)| n == "location") {
            assert!(
                location == "https://evil-second.test/steal" || location == "/v1/files",
                "{location}"
            );
        }
    }
    assert_eq!(first.requests().len(), 5);
    assert!(
        first
            .requests()
            .iter()
            .all(|r| r.target.starts_with("/v1/models/")),
        "{:?}",
        first.requests()
    );
    assert!(second.requests().is_empty());
    assert_eq!(second.connections(), 0);
    assert_audit_clean(&vault, &key);
}

/// The forms an upstream might echo a secret back in.
fn secret_forms(secret: &str) -> Vec<(&'static str, String)> {
    let bytes = secret.as_bytes();
    let user = format!("user:{secret}");
    vec![
        ("raw", secret.to_string()),
        ("bearer", format!("Bearer {secret}")),
        ("base64", STANDARD.encode(bytes)),
        ("base64-nopad", STANDARD_NO_PAD.encode(bytes)),
        ("base64url", URL_SAFE.encode(bytes)),
        ("base64url-nopad", URL_SAFE_NO_PAD.encode(bytes)),
        ("basic", STANDARD.encode(user.as_bytes())),
        ("basic-url", URL_SAFE_NO_PAD.encode(user.as_bytes())),
        (
            "base64-middle",
            STANDARD.encode(format!("u:{secret}:tail").as_bytes()),
        ),
        ("urlenc-upper", url_encode(bytes, b"-._~", true, false)),
        ("urlenc-lower", url_encode(bytes, b"-._~", false, false)),
        ("urlenc-plus", url_encode(bytes, b"-._~", true, true)),
        (
            "encodeURIComponent",
            url_encode(bytes, b"-._~!'()*", true, false),
        ),
        ("hex", to_hex(bytes, false)),
        ("HEX", to_hex(bytes, true)),
        ("json-slash", secret.replace('/', "\\/")),
    ]
}

fn url_encode(bytes: &[u8], safe: &[u8], upper: bool, plus: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && plus {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn to_hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// An upstream reflecting the secret — raw, base64 (standard, URL-safe, inside
/// `base64("user:"+secret)`), URL-encoded, hex, JSON-escaped — in its body and headers: every
/// form comes back as `[REDACTED]`.
#[test]
fn echoed_secrets_are_redacted_in_every_form() {
    // Characters that make the encodings differ from the raw value.
    let key = format!("{}/p+q=r~s t!u*v'w(x)", canary());
    let forms = secret_forms(&key);
    let reply_forms = forms.clone();
    let env = Env::new("api.openai.com", "OPENAI_API_KEY", &key, move |_req| {
        let mut reply = Reply::json(Vec::new());
        let mut body = String::from("{");
        for (i, (name, form)) in reply_forms.iter().enumerate() {
            reply = reply.header(format!("x-reflect-{i}"), format!("v={form};"));
            body.push_str(&format!("\"{name}\":\"<{form}>\","));
        }
        body.push_str("\"end\":1}");
        reply.body(body)
    });
    let response = env.ok(&call("openai/models", "/v1/models"));
    let body = String::from_utf8_lossy(&response.body).into_owned();
    let canary_part = key.split('/').next().unwrap();
    for (name, form) in &forms {
        assert!(
            !body.contains(form.as_str()),
            "body keeps the {name} form: {body}"
        );
        for (header, value) in &response.headers {
            assert!(
                !value.contains(form.as_str()),
                "header {header} keeps the {name} form: {value}"
            );
        }
    }
    assert!(!body.contains(canary_part), "{body}");
    assert!(body.contains("[REDACTED]"), "{body}");
    for i in 0..forms.len() {
        let (_, value) = response
            .headers
            .iter()
            .find(|(n, _)| *n == format!("x-reflect-{i}"))
            .unwrap_or_else(|| panic!("x-reflect-{i} missing: {:?}", response.headers));
        assert!(value.contains("[REDACTED]"), "x-reflect-{i}: {value}");
        assert!(!value.contains(canary_part), "x-reflect-{i}: {value}");
    }
    // The test's own check: the upstream really did send the secret.
    assert_eq!(
        env.upstream.requests()[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    env.finish();
}

/// The testkit's echo handler reflects the injected `Authorization` header: the body shows
/// `[REDACTED]` and the reflected header itself is dropped.
#[test]
fn echo_handler_reflection_is_redacted() {
    let env = Env::openai(echo_handler());
    let response = env.ok(&call("openai/models", "/v1/models"));
    let body = String::from_utf8_lossy(&response.body);
    assert!(body.contains("[REDACTED]"), "{body}");
    assert!(
        !response
            .headers
            .iter()
            .any(|(n, _)| n.contains("authorization")),
        "{:?}",
        response.headers
    );
    env.finish();
}

/// Auth-class headers from the upstream (`set-cookie`, `authorization`, `x-api-key`) are
/// dropped; ordinary ones are kept.
#[test]
fn sensitive_response_headers_are_dropped() {
    let env = Env::openai(|_req| {
        Reply::ok("x")
            .header("set-cookie", "session=abc123; HttpOnly")
            .header("Set-Cookie", "other=1")
            .header("authorization", "Bearer upstream-token")
            .header("x-api-key", "upstream-key")
            .header("X-Auth-Token", "t")
            .header("x-request-id", "req-1")
    });
    let response = env.ok(&call("openai/models", "/v1/models"));
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    for refused in ["set-cookie", "authorization", "x-api-key", "x-auth-token"] {
        assert!(
            !names.iter().any(|n| n.eq_ignore_ascii_case(refused)),
            "{refused} kept: {names:?}"
        );
    }
    assert!(names.contains(&"x-request-id"), "{names:?}");
    for (_, value) in &response.headers {
        assert!(
            !value.contains("abc123") && !value.contains("upstream-"),
            "{value}"
        );
    }
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Policy limits
// ---------------------------------------------------------------------------------------------

/// A rate limit of 2/min admits two calls; the third is `rate_limited` and never reaches the
/// upstream, and a second handle on the same directory (another process) is limited too.
#[test]
fn rate_limit_is_enforced_across_handles() {
    let env = Env::openai(echo_handler());
    env.vault
        .set_policy(
            "openai/models",
            PolicyUpdate {
                rate_limit_per_minute: Some(2),
                ..PolicyUpdate::default()
            },
        )
        .unwrap();
    let models = call("openai/models", "/v1/models");
    env.ok(&models);
    env.ok(&models);
    let err = expect_err(env.vault.invoke(&models), "third call");
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_clean(&env.key, "third call", &err);
    assert_eq!(env.upstream.requests().len(), 2);

    let other = Vault::open(env.config()).unwrap();
    let err = expect_err(other.invoke(&models), "second handle");
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_clean(&env.key, "second handle", &err);
    assert_eq!(env.upstream.requests().len(), 2);
    // Its audit events are written by the time the handle is gone.
    drop(other);

    // Other capabilities are not limited.
    env.ok(&call("openai/files", "/v1/files"));
    assert_eq!(env.upstream.requests().len(), 3);
    let events = invoke_events(&env.vault);
    let limited = events
        .iter()
        .filter(|e| {
            e.note
                .as_deref()
                .is_some_and(|n| n.starts_with("outcome=error:rate_limited "))
        })
        .count();
    assert_eq!(limited, 2);
    env.finish();
}

/// `maxRequestBodyBytes`: one byte over is refused before anything is sent (bytes and file
/// bodies); exactly at the cap passes and arrives intact.
#[test]
fn oversized_request_body_is_refused() {
    let env = Env::openai(echo_handler());
    env.vault
        .set_policy(
            "openai/files",
            PolicyUpdate {
                max_request_body_bytes: Some(16),
                ..PolicyUpdate::default()
            },
        )
        .unwrap();
    let post = |body: RequestBody| Invocation {
        method: Some("POST".into()),
        body,
        ..call("openai/files", "/v1/files")
    };
    env.refused(
        &post(RequestBody::Bytes(vec![b'a'; 17])),
        ErrorKind::PolicyViolation,
        "17 bytes",
    );
    let file = env.t.tmp.path().join("big.jsonl");
    std::fs::write(&file, vec![b'b'; 17]).unwrap();
    env.refused(
        &post(RequestBody::File(file)),
        ErrorKind::PolicyViolation,
        "17-byte file",
    );
    env.ok(&post(RequestBody::Bytes(vec![b'c'; 16])));
    let received = env.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, vec![b'c'; 16]);
    env.finish();
}

/// `maxResponseBodyBytes`: a response one byte over the cap (framed or chunked) fails with
/// `policy_violation`; exactly at the cap passes.
#[test]
fn oversized_response_body_is_refused() {
    let env = Env::openai(|req: &Recorded| match req.target.as_str() {
        "/v1/models/exact" => Reply::ok(vec![b'e'; 64]),
        "/v1/models/over" => Reply::ok(vec![b'o'; 65]),
        _ => Reply::ok(Vec::new()).chunks(vec![vec![b'c'; 40], vec![b'c'; 40]], Duration::ZERO),
    });
    env.vault
        .set_policy(
            "openai/models",
            PolicyUpdate {
                max_response_body_bytes: Some(64),
                ..PolicyUpdate::default()
            },
        )
        .unwrap();
    let response = env.ok(&call("openai/models", "/v1/models/exact"));
    assert_eq!(response.body, vec![b'e'; 64]);
    for path in ["/v1/models/over", "/v1/models/chunked"] {
        let err = expect_err(env.vault.invoke(&call("openai/models", path)), path);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{path}: {err}");
        assert!(err.message().contains("maxResponseBodyBytes"), "{err}");
        assert_clean(&env.key, path, &err);
    }
    let notes: Vec<String> = invoke_events(&env.vault)
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.starts_with("outcome=error:policy_violation "))
            .count(),
        2,
        "{notes:?}"
    );
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Transport failures
// ---------------------------------------------------------------------------------------------

/// An upstream slower than the call's timeout yields `upstream_error` naming the timeout,
/// promptly.
#[test]
fn upstream_timeout_is_an_upstream_error() {
    let env = Env::openai(|_req| Reply::ok("late").delayed(Duration::from_secs(3)));
    let started = Instant::now();
    let err = expect_err(
        env.vault.invoke(&Invocation {
            timeout: Some(Duration::from_millis(300)),
            ..call("openai/models", "/v1/models")
        }),
        "timeout",
    );
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    assert!(
        err.message().contains("300 ms") || err.message().contains("timed out"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_clean(&env.key, "timeout", &err);
    env.finish();
}

/// A route to a port nothing listens on yields `upstream_error`.
#[test]
fn connection_refused_is_an_upstream_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let t = TestDir::new();
    let config = Config {
        dev_routes: DevRoutes::parse(&format!("api.openai.com=127.0.0.1:{port}")).unwrap(),
        ..t.config()
    };
    let vault = Vault::open(config).unwrap();
    let key = canary();
    vault
        .create_secret(new_secret("OPENAI_API_KEY", &key, Scope::Global))
        .unwrap();
    let err = expect_err(
        vault.invoke(&call("openai/models", "/v1/models")),
        "refused",
    );
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    assert!(err.message().contains("api.openai.com"), "{err}");
    assert_clean(&key, "refused", &err);
    let events = invoke_events(&vault);
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .note
            .as_deref()
            .unwrap()
            .starts_with("outcome=error:upstream_error "),
        "{events:?}"
    );
    assert_audit_clean(&vault, &key);
    assert_audit_ok(&vault);
}

// ---------------------------------------------------------------------------------------------
// Audit and streaming
// ---------------------------------------------------------------------------------------------

/// A successful call writes one `capability.invoke` event with method, host, path, status and
/// byte counts; a refused one writes one with `outcome=error:<kind>`; the chain verifies.
#[test]
fn calls_are_audited() {
    let env = Env::openai(|_req| Reply::ok("hello"));
    let before = invoke_events(&env.vault).len();
    assert_eq!(before, 0);
    env.ok(&Invocation {
        method: Some("POST".into()),
        body: RequestBody::Bytes(b"abc".to_vec()),
        ..call("openai/files", "/v1/files?purpose=x")
    });
    let events = invoke_events(&env.vault);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.capability.as_deref(), Some("openai/files"));
    assert_eq!(event.credential_id.as_deref(), Some("openai"));
    let note = event.note.as_deref().unwrap();
    for part in [
        "outcome=ok ",
        "method=POST ",
        "host=api.openai.com ",
        "path=/v1/files ",
        "status=200 ",
        "request_bytes=3 ",
        "response_bytes=5 ",
    ] {
        assert!(note.contains(part), "{part:?} not in {note}");
    }
    assert!(
        !note.contains("purpose"),
        "the query is not audited: {note}"
    );

    let err = expect_err(
        env.vault
            .invoke(&call("openai/files", "/v1/files/../models")),
        "dot-dot",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert_eq!(env.upstream.requests().len(), 1);
    let events = invoke_events(&env.vault);
    assert_eq!(events.len(), 2);
    let note = events[0].note.as_deref().unwrap();
    assert!(
        note.starts_with("outcome=error:policy_violation "),
        "{note}"
    );
    assert!(note.contains("host=api.openai.com"), "{note}");
    env.finish();
}

/// `invoke_stream` reads a 20 MiB body in small reads, every byte accounted for, and audits
/// the byte count when the body ends.
#[test]
fn streaming_reads_a_large_body_in_small_reads() {
    const LEN: u64 = 20 * 1024 * 1024;
    let env = Env::openai(|_req| Reply::stream_zeros(LEN));
    let mut stream = env
        .vault
        .invoke_stream(&call("openai/models", "/v1/models"))
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut buf = [0u8; 4096];
    let mut total = 0u64;
    let mut reads = 0u64;
    loop {
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n].iter().all(|&b| b == 0),
            "non-zero byte near {total}"
        );
        total += n as u64;
        reads += 1;
    }
    assert_eq!(total, LEN);
    assert!(reads >= LEN / 4096, "{reads} reads");
    drop(stream);
    let events = invoke_events(&env.vault);
    assert_eq!(events.len(), 1);
    let note = events[0].note.as_deref().unwrap();
    assert!(note.starts_with("outcome=ok "), "{note}");
    assert!(note.contains(&format!("response_bytes={LEN} ")), "{note}");
    env.finish();
}

/// An upstream that reflects the secret in a header *name* (`x-<secret>: 1`) or in a
/// `Location` it redirects to: neither comes back.
#[test]
fn secrets_in_header_names_and_locations_are_not_returned() {
    // Upper-case letters: header names arrive lower-cased.
    let key = format!("{}-MixedCase", canary());
    let reflected = key.clone();
    let env = Env::new("api.openai.com", "OPENAI_API_KEY", &key, move |_req| {
        Reply::redirect(
            302,
            &format!("https://evil-second.test/cb?token={reflected}"),
        )
        .header(format!("x-{reflected}"), "1")
        .header(format!("{reflected}-suffix"), "2")
        .header("x-request-id", "req-1")
    });
    let response = env.ok(&call("openai/models", "/v1/models"));
    assert_eq!(response.status, 302);
    for (name, value) in &response.headers {
        assert!(
            !name.contains(&key.to_ascii_lowercase()),
            "header name leaks the secret: {name}"
        );
        assert!(!value.contains(&key), "{name}: {value}");
    }
    assert!(response.headers.iter().any(|(n, _)| n == "x-request-id"));
    env.finish();
}

/// The call's timeout also bounds a body that stalls after the headers arrived.
#[test]
fn stalled_body_times_out() {
    let env = Env::openai(|_req| {
        Reply::ok(Vec::new()).chunks(vec!["first", "second"], Duration::from_secs(3))
    });
    let started = Instant::now();
    let err = expect_err(
        env.vault.invoke(&Invocation {
            timeout: Some(Duration::from_millis(300)),
            ..call("openai/models", "/v1/models")
        }),
        "stalled body",
    );
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_clean(&env.key, "stalled body", &err);
    let events = invoke_events(&env.vault);
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .note
            .as_deref()
            .unwrap()
            .starts_with("outcome=error:upstream_error "),
        "{events:?}"
    );
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Caller-named files
// ---------------------------------------------------------------------------------------------

/// The attack: `--body-file-path <vault dir>/kek.key` (or a multipart file part) towards an
/// upstream that echoes bodies, which would hand the master key back to the caller. Every
/// path into the vault's own files (directly, through a symlink, a hard link or `..`), the
/// unlock-session directory, `/proc/self/environ`, `/dev/zero` and a FIFO is refused before
/// anything is sent, without hanging; an ordinary file still goes out.
#[test]
fn caller_named_files_never_reach_the_vaults_own_files() {
    let env = Env::openai(echo_handler());
    let key_file = env.t.dir.join("kek.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    let outside = env.t.tmp.path();
    let symlink = outside.join("notes.txt");
    std::os::unix::fs::symlink(&key_file, &symlink).unwrap();
    let hardlink = outside.join("upload.jsonl");
    std::fs::hard_link(&key_file, &hardlink).unwrap();
    let fifo = outside.join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let post = |body: RequestBody| Invocation {
        method: Some("POST".into()),
        body,
        ..call("openai/files", "/v1/files")
    };
    let refused_paths = [
        (key_file.clone(), ErrorKind::PolicyViolation),
        (env.t.db_path(), ErrorKind::PolicyViolation),
        (symlink.clone(), ErrorKind::PolicyViolation),
        (hardlink.clone(), ErrorKind::PolicyViolation),
        (
            outside
                .join("vault")
                .join("..")
                .join("vault")
                .join("kek.key"),
            ErrorKind::PolicyViolation,
        ),
        ("/proc/self/environ".into(), ErrorKind::PolicyViolation),
        ("/proc/self/cmdline".into(), ErrorKind::PolicyViolation),
        ("/dev/zero".into(), ErrorKind::PolicyViolation),
        ("/dev/stdin".into(), ErrorKind::PolicyViolation),
        (fifo.clone(), ErrorKind::InvalidInput),
        (outside.to_path_buf(), ErrorKind::InvalidInput),
        (outside.join("missing.txt"), ErrorKind::Io),
    ];
    for (path, kind) in &refused_paths {
        let what = path.display().to_string();
        let started = std::time::Instant::now();
        let err = env.refused(&post(RequestBody::File(path.clone())), *kind, &what);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what} hung"
        );
        assert!(!err.message().contains(key_text.trim()), "{what}: {err}");
        let err = env.refused(
            &post(RequestBody::Multipart(vec![MultipartPart::File {
                name: "file".into(),
                path: path.clone(),
            }])),
            *kind,
            &what,
        );
        assert!(!err.message().contains(key_text.trim()), "{what}: {err}");
    }
    // The missing file's error names only the path given (not where a link points).
    let err = env.refused(
        &post(RequestBody::File(outside.join("missing.txt"))),
        ErrorKind::Io,
        "missing",
    );
    assert!(
        !err.message().contains(&env.t.dir.display().to_string()),
        "{err}"
    );

    // An ordinary file of the caller's goes out intact.
    let document = outside.join("data.jsonl");
    std::fs::write(&document, b"{\"ok\":true}\n").unwrap();
    env.ok(&post(RequestBody::File(document)));
    let received = env.upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, b"{\"ok\":true}\n");
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Response decoding and redaction gaps (issue 10, items 2, 6 and 7)
// ---------------------------------------------------------------------------------------------

/// The fixed key of [`GZIP_ECHO`].
const GZIP_KEY: &str = "sk-gzip-canary-7f3a9c2e5b1d4a";

/// `gzip({"auth":"Bearer sk-gzip-canary-7f3a9c2e5b1d4a"})`: the key does not occur in these
/// bytes, so only a decoder could redact it.
const GZIP_ECHO: [u8; 67] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0x2c, 0x2d, 0xc9,
    0x50, 0xb2, 0x52, 0x72, 0x4a, 0x4d, 0x2c, 0x4a, 0x2d, 0x52, 0x28, 0xce, 0xd6, 0x4d, 0xaf, 0xca,
    0x2c, 0xd0, 0x4d, 0x4e, 0xcc, 0x4b, 0x2c, 0xaa, 0xd4, 0x35, 0x4f, 0x33, 0x4e, 0xb4, 0x4c, 0x36,
    0x4a, 0x35, 0x4d, 0x32, 0x4c, 0x31, 0x49, 0x54, 0xaa, 0x05, 0x00, 0x7c, 0x40, 0x56, 0x4d, 0x2f,
    0x00, 0x00, 0x00,
];

/// An upstream that compresses its echo of the key although the broker asked for an
/// unencoded body (`accept-encoding: identity`): the compressed bytes hold no needle, so the
/// body is refused (`upstream_error`, buffered and streamed alike), never passed through;
/// `identity` is accepted.
#[test]
fn encoded_response_bodies_are_refused() {
    assert!(
        !GZIP_ECHO
            .windows(GZIP_KEY.len())
            .any(|w| w == GZIP_KEY.as_bytes())
    );
    let env = Env::new(
        "api.openai.com",
        "OPENAI_API_KEY",
        GZIP_KEY,
        |req: &Recorded| {
            assert_eq!(req.header("accept-encoding"), Some("identity"));
            assert_eq!(
                req.header("authorization"),
                Some(format!("Bearer {GZIP_KEY}").as_str())
            );
            let coding = req
                .target
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            Reply::json(GZIP_ECHO.to_vec()).header("content-encoding", coding.replace('_', ", "))
        },
    );
    for coding in [
        "gzip",
        "GZIP",
        "x-gzip",
        "deflate",
        "br",
        "zstd",
        "identity_gzip",
    ] {
        let path = format!("/v1/models/{coding}");
        let err = expect_err(env.vault.invoke(&call("openai/models", &path)), &path);
        assert_eq!(err.kind(), ErrorKind::UpstreamError, "{coding}: {err}");
        assert!(err.message().contains("content-encoding"), "{err}");
        assert!(err.message().contains("cannot be redacted"), "{err}");
        assert_clean(&env.key, &path, &err);
        let err = expect_err(
            env.vault.invoke_stream(&call("openai/models", &path)),
            &path,
        );
        assert_eq!(err.kind(), ErrorKind::UpstreamError, "{coding}: {err}");
    }
    // An unknown coding is not echoed into the message (it is the upstream's text).
    let err = expect_err(
        env.vault
            .invoke(&call("openai/models", "/v1/models/sk-gzip-canary")),
        "unknown",
    );
    assert!(err.message().contains("'(other)'"), "{err}");
    let response = env.ok(&call("openai/models", "/v1/models/identity"));
    assert_eq!(response.body, GZIP_ECHO);
    env.finish();
}

/// Every character of `text` as a `\u00XX` JSON escape: a form the byte-level redactor does
/// not list, which decodes to `text`.
fn unicode_escaped(text: &str) -> String {
    text.chars()
        .map(|c| format!("\\u{:04x}", u32::from(c)))
        .collect()
}

/// An upstream writing the echoed key with JSON escapes the byte-level redactor does not
/// list (`\u0073\u006b…`, in a value and in a key): a body read whole and decoded holds no
/// key in any decoded string.
#[test]
fn json_is_redacted_again_after_decoding() {
    let env = Env::openai(|req: &Recorded| {
        let auth = req.header("authorization").unwrap_or_default();
        let key = auth.strip_prefix("Bearer ").unwrap_or_default();
        let (k, a) = (unicode_escaped(key), unicode_escaped(auth));
        Reply::json(format!(
            r#"{{"auth":"{a}","nested":[{{"key":"x {k} y"}}],"{k}":1,"n":2}}"#
        ))
    });
    let key = env.key.clone();
    // The bytes carry no needle: the byte-level redactor passes them.
    let raw = env.ok(&call("openai/models", "/v1/models"));
    assert!(!String::from_utf8_lossy(&raw.body).contains("[REDACTED]"));
    // Decoded, each string is redacted.
    let whole = env
        .vault
        .invoke_stream(&call("openai/models", "/v1/models"))
        .unwrap()
        .read_whole()
        .unwrap();
    assert_eq!(whole.status, 200);
    let value = whole.decode_with(|decoded| match decoded {
        Decoded::Json(json) => serde_json::to_value(&json).unwrap(),
        other => panic!("not JSON: {other:?}"),
    });
    let printed = value.to_string();
    assert!(!printed.contains(&key), "{printed}");
    assert_eq!(value["auth"], "[REDACTED]");
    assert_eq!(value["nested"][0]["key"], "x [REDACTED] y");
    assert_eq!(value["[REDACTED]"], 1);
    assert_eq!(value["n"], 2);
    // Markdown renders the redacted strings.
    let mut markdown = Vec::new();
    env.vault
        .invoke_stream(&call("openai/models", "/v1/models"))
        .unwrap()
        .read_whole()
        .unwrap()
        .write_markdown(&mut markdown)
        .unwrap();
    let markdown = String::from_utf8(markdown).unwrap();
    assert!(!markdown.contains(&key), "{markdown}");
    assert!(markdown.contains("- **auth**: [REDACTED]"), "{markdown}");
    env.finish();
}

/// `\u`-escaped UTF-16 of a secret in `form`: fully percent-encoded (either hex case), HTML
/// numeric references, HTML-escaped, UTF-16 (LE/BE), upper-case hex.
fn encoder_forms(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let percent = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    let entities =
        |f: fn(u32) -> String| -> String { secret.chars().map(|c| f(u32::from(c))).collect() };
    let utf16 = |big: bool| -> Vec<u8> {
        secret
            .encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    vec![
        ("percent-upper", percent(true).into_bytes()),
        ("percent-lower", percent(false).into_bytes()),
        ("entity-dec", entities(|c| format!("&#{c};")).into_bytes()),
        (
            "entity-hex",
            entities(|c| format!("&#x{c:x};")).into_bytes(),
        ),
        (
            "entity-HEX",
            entities(|c| format!("&#x{c:X};")).into_bytes(),
        ),
        ("html-escaped", secret.replace('\'', "&#39;").into_bytes()),
        ("utf16le", utf16(false)),
        ("utf16be", utf16(true)),
        ("HEX", to_hex(secret.as_bytes(), true).into_bytes()),
    ]
}

/// An upstream echoing the key in encoders' forms the redactor did not list, and split into
/// two halves around a copy that is redacted (`half1 key half2`, the copy raw or in another
/// form): no form survives and no half of two bytes or more does, buffered and streamed.
#[test]
fn encoder_forms_and_halves_around_a_copy_are_redacted() {
    let key = format!("{}'q", canary());
    let reply_key = key.clone();
    let env = Env::new("api.openai.com", "OPENAI_API_KEY", &key, move |_req| {
        let mut body = Vec::new();
        for (name, form) in encoder_forms(&reply_key) {
            body.extend_from_slice(format!("{name}=<").as_bytes());
            body.extend_from_slice(&form);
            body.extend_from_slice(b">\n");
        }
        let bytes = reply_key.as_bytes();
        for copy in [
            reply_key.clone(),
            format!("Bearer {reply_key}"),
            STANDARD.encode(bytes),
            to_hex(bytes, false),
        ] {
            for split in [2, 5, bytes.len() / 2, bytes.len() - 2] {
                body.extend_from_slice(b"halves=<");
                body.extend_from_slice(&bytes[..split]);
                body.extend_from_slice(copy.as_bytes());
                body.extend_from_slice(&bytes[split..]);
                body.extend_from_slice(b">\n");
            }
        }
        Reply::ok(body)
    });
    let response = env.ok(&call("openai/models", "/v1/models"));
    let mut streamed = Vec::new();
    std::io::Read::read_to_end(
        &mut env
            .vault
            .invoke_stream(&call("openai/models", "/v1/models"))
            .unwrap(),
        &mut streamed,
    )
    .unwrap();
    assert_eq!(streamed, response.body);
    let body = &response.body;
    let text = String::from_utf8_lossy(body);
    for (name, form) in encoder_forms(&key) {
        assert!(
            !body.windows(form.len()).any(|w| w == form),
            "{name}: {text}"
        );
        assert!(
            text.contains(&format!("{name}=<[REDACTED]>")),
            "{name}: {text}"
        );
    }
    let bytes = key.as_bytes();
    for split in [2, 5, bytes.len() / 2, bytes.len() - 2] {
        for half in [&bytes[..split], &bytes[split..]] {
            assert!(
                !body.windows(half.len()).any(|w| w == half),
                "{}: {text}",
                String::from_utf8_lossy(half)
            );
        }
    }
    assert_eq!(text.matches("halves=<[REDACTED]>").count(), 16, "{text}");
    env.finish();
}

/// Buffered output (`invoke`, `json`, `markdown` without `--stream`) is capped at 64 MiB when
/// the policy sets no `maxResponseBodyBytes`; a stream is not; a policy cap above the default
/// lets a bigger body through.
#[test]
fn buffered_responses_have_a_default_cap() {
    const OVER: u64 = aivault_core::broker::DEFAULT_BUFFERED_CAP + 1;
    let env = Env::openai(|req: &Recorded| match req.target.as_str() {
        "/v1/models/small" => Reply::ok("small"),
        _ => Reply::stream_zeros(OVER),
    });
    assert_eq!(aivault_core::broker::DEFAULT_BUFFERED_CAP, 64 << 20);
    let err = expect_err(
        env.vault.invoke(&call("openai/models", "/v1/models")),
        "over",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert!(err.message().contains("default cap"), "{err}");
    assert!(err.message().contains("--stream"), "{err}");
    let err = expect_err(
        env.vault
            .invoke_stream(&call("openai/models", "/v1/models"))
            .unwrap()
            .read_whole(),
        "over",
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    // A stream has no default cap.
    let mut stream = env
        .vault
        .invoke_stream(&call("openai/models", "/v1/models"))
        .unwrap();
    let copied = std::io::copy(&mut stream, &mut std::io::sink()).unwrap();
    assert_eq!(copied, OVER);
    drop(stream);
    assert_eq!(
        env.ok(&call("openai/models", "/v1/models/small")).body,
        b"small"
    );
    // The policy's cap wins over the default.
    env.vault
        .set_policy(
            "openai/models",
            PolicyUpdate {
                max_response_body_bytes: Some(OVER),
                ..PolicyUpdate::default()
            },
        )
        .unwrap();
    let whole = env
        .vault
        .invoke_stream(&call("openai/models", "/v1/models"))
        .unwrap()
        .read_whole()
        .unwrap();
    assert_eq!(whole.len() as u64, OVER);
    env.finish();
}

/// A registry provider's secret shorter than 8 bytes cannot be redacted safely: refused at
/// create and at rotate (`invalid_input`, naming the provider, not the value).
#[test]
fn short_registry_secrets_are_refused() {
    let t = TestDir::new();
    let vault = Vault::open(t.config()).unwrap();
    let err = expect_err(
        vault.create_secret(new_secret("OPENAI_API_KEY", "sk-1234", Scope::Global)),
        "short",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("openai"), "{err}");
    assert!(err.message().contains("at least 8 bytes"), "{err}");
    assert!(!err.message().contains("sk-1234"), "{err}");
    let created = vault
        .create_secret(new_secret("OPENAI_API_KEY", "sk-12345", Scope::Global))
        .unwrap();
    let err = expect_err(
        vault.rotate_secret(&created.secret.secret_id, "short".into()),
        "rotate",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    // A name no provider claims may be short.
    vault
        .create_secret(new_secret("MY_PIN", "1234", Scope::Global))
        .unwrap();
}
