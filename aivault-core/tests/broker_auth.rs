//! End-to-end tests of every auth strategy of the broker: each call goes to a loopback
//! upstream (standing in for the provider through `Config.dev_routes`), which records the
//! exact bytes it received. Every test checks what went on the wire, and that the secret
//! never comes back to the caller (body, headers, planned request, errors) nor reaches the
//! audit log, where the call's `capability.invoke` event must be.
//!
//! The signing strategies (AWS SigV4, HMAC) are verified by recomputing the signature here,
//! with the `hmac`/`sha2` crates directly, independently of the broker's signer.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::registry::AuthSpec;
use aivault_core::{
    AuthOptions, Config, Credential, Error, ErrorKind, Invocation, InvokeResponse, NetworkOptions,
    NewCapability, NewCredential, RequestBody, SecretMeta, Vault,
};
use aivault_testkit::{Pki, Recorded, Reply, Upstream, echo_handler};
use base64::Engine as _;
use common::{TestDir, all_events, assert_audit_clean, assert_audit_ok, canary, create};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Routes every host of `hosts` to `upstream`.
fn routes(upstream: &Upstream, hosts: &[&str]) -> DevRoutes {
    let spec = hosts
        .iter()
        .map(|h| format!("{h}=127.0.0.1:{}", upstream.port()))
        .collect::<Vec<_>>()
        .join(",");
    DevRoutes::parse(&spec).unwrap()
}

/// A config whose broker sends `hosts` to `upstream` and trusts `pki`'s CA for everything
/// (the debug-only test CA), when given.
fn config(t: &TestDir, upstream: &Upstream, hosts: &[&str], pki: Option<&Pki>) -> Config {
    Config {
        dev_routes: routes(upstream, hosts),
        dev_ca_cert: pki.map(|p| p.ca_pem.clone()),
        ..t.config()
    }
}

/// An HTTPS echo upstream for `hosts` and a vault routed to it.
fn echo_setup(t: &TestDir, hosts: &[&str]) -> (Upstream, Vault) {
    let pki = Pki::new(hosts);
    let upstream = Upstream::https(&pki, echo_handler());
    let vault = Vault::open(config(t, &upstream, hosts, Some(&pki))).unwrap();
    (upstream, vault)
}

/// The head the broker's HTTP client sends: request line, its fixed headers (and the
/// broker's `accept-encoding: identity`), then `extra` (caller headers first, then injected
/// ones) in order.
fn expected_head(
    method: &str,
    target: &str,
    host: &str,
    body_len: usize,
    extra: &[(&str, &str)],
) -> String {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\ncontent-length: {body_len}\r\nuser-agent: aivault/{}\r\naccept: */*\r\nhost: {host}\r\naccept-encoding: identity\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Invokes and panics with the error's kind and message on failure.
fn invoke(vault: &Vault, invocation: Invocation) -> InvokeResponse {
    vault
        .invoke(&invocation)
        .unwrap_or_else(|e| panic!("{}: {} ({})", invocation.capability, e.message(), e.kind()))
}

/// The error of an invocation that must fail.
fn invoke_err(vault: &Vault, invocation: Invocation) -> Error {
    match vault.invoke(&invocation) {
        Ok(r) => panic!(
            "{}: expected an error, got {}",
            invocation.capability, r.status
        ),
        Err(e) => e,
    }
}

/// A call with a method, a path and otherwise defaults.
fn call(capability: &str, method: &str, path: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        method: Some(method.into()),
        path: Some(path.into()),
        ..Default::default()
    }
}

/// Asserts none of `needles` reaches the caller: response body, headers and planned request.
fn assert_response_clean(response: &InvokeResponse, needles: &[&str]) {
    let body = String::from_utf8_lossy(&response.body);
    let planned = format!("{:?}", response.planned);
    for needle in needles {
        assert!(!body.contains(needle), "the body leaks {needle}: {body}");
        for (name, value) in &response.headers {
            assert!(
                !value.contains(needle),
                "header {name} leaks {needle}: {value}"
            );
        }
        assert!(
            !planned.contains(needle),
            "planned leaks {needle}: {planned}"
        );
    }
}

/// Asserts an error (message, Debug form) holds none of `needles`.
fn assert_error_clean(err: &Error, needles: &[&str]) {
    let text = format!("{} {err:?}", err.message());
    for needle in needles {
        assert!(!text.contains(needle), "the error leaks {needle}: {text}");
    }
}

/// Asserts the audit log holds none of `needles`, its chain verifies, and the newest
/// `capability.invoke` event of `capability` has a note starting with `note_prefix`.
fn assert_audit(vault: &Vault, needles: &[&str], capability: &str, note_prefix: &str) {
    for needle in needles {
        assert_audit_clean(vault, needle);
    }
    assert_audit_ok(vault);
    let event = all_events(vault)
        .into_iter()
        .find(|e| e.kind == "capability.invoke" && e.capability.as_deref() == Some(capability))
        .unwrap_or_else(|| panic!("no capability.invoke event for {capability}"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.starts_with(note_prefix),
        "note {note:?} does not start with {note_prefix:?}"
    );
}

/// The full leak check of a successful call.
fn assert_clean(
    vault: &Vault,
    response: &InvokeResponse,
    needles: &[&str],
    capability: &str,
    note_prefix: &str,
) {
    assert_response_clean(response, needles);
    assert_audit(vault, needles, capability, note_prefix);
}

/// `--auth <kind>` with every other option unset.
fn auth(kind: &str) -> AuthOptions {
    AuthOptions {
        kind: Some(kind.into()),
        ..AuthOptions::default()
    }
}

/// Creates an operator credential of provider `provider` for `hosts`.
fn custom_credential(
    vault: &Vault,
    id: &str,
    provider: &str,
    auth: AuthOptions,
    hosts: &[&str],
    secret_refs: Vec<String>,
    network: NetworkOptions,
) -> Credential {
    vault
        .create_credential(NewCredential {
            id: id.into(),
            provider: provider.into(),
            secret_refs,
            auth,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            network,
            ..NewCredential::default()
        })
        .unwrap_or_else(|e| panic!("create credential {id}: {} ({})", e.message(), e.kind()))
}

/// Creates an operator capability of `provider` on `host`.
fn custom_capability(vault: &Vault, id: &str, provider: &str, host: &str, paths: &[&str]) {
    vault
        .create_capability(NewCapability {
            id: id.into(),
            provider: Some(provider.into()),
            credential: None,
            methods: vec!["GET".into(), "POST".into()],
            paths: paths.iter().map(|p| p.to_string()).collect(),
            hosts: vec![host.into()],
        })
        .unwrap_or_else(|e| panic!("create capability {id}: {} ({})", e.message(), e.kind()));
}

/// `ROLE=vault:secret:<id>`.
fn role_ref(role: &str, meta: &SecretMeta) -> String {
    format!("{role}={}", meta.secret_ref())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The path and the raw query (without `?`) of a request target.
fn split_target(target: &str) -> (&str, &str) {
    target.split_once('?').unwrap_or((target, ""))
}

// ---------------------------------------------------------------------------------------------
// 1. header
// ---------------------------------------------------------------------------------------------

/// Registry header auth: OpenAI's `authorization: Bearer <key>` and Anthropic's `x-api-key`
/// go on the wire exactly (after the caller's headers, body untouched); the echoed key is
/// redacted, and a caller cannot send the owned header itself.
#[test]
fn header_auth_openai_and_anthropic() {
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &["api.openai.com", "api.anthropic.com"]);
    let openai_key = canary();
    let anthropic_key = canary();
    create(&vault, "OPENAI_API_KEY", &openai_key);
    create(&vault, "ANTHROPIC_API_KEY", &anthropic_key);

    let response = invoke(&vault, call("openai/models", "GET", "/v1/models?limit=2"));
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    assert_eq!(
        received.raw_head,
        expected_head(
            "GET",
            "/v1/models?limit=2",
            "api.openai.com",
            0,
            &[("authorization", &format!("Bearer {openai_key}"))]
        )
    );
    assert_eq!(
        response.planned.url,
        "https://api.openai.com/v1/models?limit=2"
    );
    let needles = [openai_key.as_str(), anthropic_key.as_str()];
    assert_clean(
        &vault,
        &response,
        &needles,
        "openai/models",
        "outcome=ok method=GET host=api.openai.com path=/v1/models status=200 ",
    );

    let body = br#"{"model":"claude","max_tokens":1}"#.to_vec();
    let response = invoke(
        &vault,
        Invocation {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("anthropic-version".into(), "2023-06-01".into()),
            ],
            body: RequestBody::Bytes(body.clone()),
            ..call("anthropic/messages", "POST", "/v1/messages")
        },
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[1];
    assert_eq!(
        received.raw_head,
        expected_head(
            "POST",
            "/v1/messages",
            "api.anthropic.com",
            body.len(),
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
                ("x-api-key", &anthropic_key),
            ]
        )
    );
    assert_eq!(received.body, body);
    assert_clean(
        &vault,
        &response,
        &needles,
        "anthropic/messages",
        "outcome=ok method=POST host=api.anthropic.com path=/v1/messages status=200 request_bytes=33 ",
    );

    // The broker owns x-api-key: a caller copy is refused before anything is sent.
    let err = invoke_err(
        &vault,
        Invocation {
            headers: vec![("X-Api-Key".into(), "mine".into())],
            ..call("anthropic/models", "GET", "/v1/models")
        },
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert_error_clean(&err, &needles);
    assert_eq!(upstream.requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 2. query
// ---------------------------------------------------------------------------------------------

/// Registry query auth (SerpApi `api_key`): the caller's query comes first, the injected
/// parameter last, percent-encoded (RFC 3986 unreserved kept); `planned.url` shows it as
/// `api_key=REDACTED`, the
/// echoed target is redacted, and a caller-supplied `api_key` is refused.
#[test]
fn query_auth_serpapi() {
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &["serpapi.com"]);
    let key = canary();
    let value = format!("{key}/+ &=~");
    create(&vault, "SERPAPI_API_KEY", &value);

    let response = invoke(
        &vault,
        call(
            "serpapi/search",
            "GET",
            "/search.json?q=coffee&engine=google",
        ),
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    let target = format!("/search.json?q=coffee&engine=google&api_key={key}%2F%2B%20%26%3D~");
    assert_eq!(received.target, target);
    assert_eq!(
        received.raw_head,
        expected_head("GET", &target, "serpapi.com", 0, &[])
    );
    assert_eq!(
        response.planned.url,
        "https://serpapi.com/search.json?q=coffee&engine=google&api_key=REDACTED"
    );
    assert_clean(
        &vault,
        &response,
        &[&key],
        "serpapi/search",
        "outcome=ok method=GET host=serpapi.com path=/search.json status=200 ",
    );

    let err = invoke_err(
        &vault,
        call("serpapi/search", "GET", "/search?q=x&api_key=mine"),
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert_error_clean(&err, &[&key]);
    assert_eq!(upstream.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. path
// ---------------------------------------------------------------------------------------------

/// Registry path auth (Telegram `/bot{{secret}}`): the token is the first path segment on the
/// wire (`:` kept literal, as Telegram documents it), `planned.url` shows `/botREDACTED` (never
/// the value nor the raw template), and the
/// echoed target is redacted.
#[test]
fn path_auth_telegram() {
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &["api.telegram.org"]);
    let key = canary();
    let token = format!("123456789:{key}");
    create(&vault, "TELEGRAM_BOT_TOKEN", &token);

    let response = invoke(&vault, call("telegram/get-me", "POST", "/getMe"));
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    let target = format!("/bot123456789:{key}/getMe");
    assert_eq!(received.target, target);
    assert_eq!(
        received.raw_head,
        expected_head("POST", &target, "api.telegram.org", 0, &[])
    );
    assert_eq!(
        response.planned.url,
        "https://api.telegram.org/botREDACTED/getMe"
    );
    assert_clean(
        &vault,
        &response,
        &[&key],
        "telegram/get-me",
        "outcome=ok method=POST host=api.telegram.org path=/getMe status=200 ",
    );
}

// ---------------------------------------------------------------------------------------------
// 4. basic
// ---------------------------------------------------------------------------------------------

/// Basic auth: Twilio from the registry (`account_sid:auth_token`) and an operator credential
/// with its own templates send exactly `Authorization: Basic base64(user:pass)`; neither the
/// password nor its base64 form comes back.
#[test]
fn basic_auth_twilio_and_custom() {
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &["api.twilio.com", "api.basic.test"]);
    let sid = "AC0123456789abcdef";
    let token = canary();
    create(&vault, "TWILIO_ACCOUNT_SID", sid);
    create(&vault, "TWILIO_AUTH_TOKEN", &token);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

    let path = format!("/2010-04-01/Accounts/{sid}/Messages.json");
    let response = invoke(&vault, call("twilio/api", "GET", &path));
    assert_eq!(response.status, 200);
    let basic = b64(&format!("{sid}:{token}"));
    assert_eq!(
        upstream.requests()[0].raw_head,
        expected_head(
            "GET",
            &path,
            "api.twilio.com",
            0,
            &[("authorization", &format!("Basic {basic}"))]
        )
    );
    assert_clean(
        &vault,
        &response,
        &[&token, &basic],
        "twilio/api",
        "outcome=ok method=GET host=api.twilio.com path=/2010-04-01/Accounts/",
    );

    // An operator credential: user `svc-{{user}}`, password `{{password}}` holding a ':'.
    let user = create(&vault, "BASIC_USER", "alice").secret;
    let password_canary = canary();
    let password_value = format!("{password_canary}:x");
    let password = create(&vault, "BASIC_PASSWORD", &password_value).secret;
    custom_credential(
        &vault,
        "basic-custom",
        "basicco",
        AuthOptions {
            username_template: Some("svc-{{user}}".into()),
            password_template: Some("{{password}}".into()),
            ..auth("basic")
        },
        &["api.basic.test"],
        vec![role_ref("user", &user), role_ref("password", &password)],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "basicco/api", "basicco", "api.basic.test", &["/v1"]);
    let response = invoke(&vault, call("basicco/api", "GET", "/v1/me"));
    assert_eq!(response.status, 200);
    let basic = b64(&format!("svc-alice:{password_value}"));
    assert_eq!(
        upstream.requests()[1].raw_head,
        expected_head(
            "GET",
            "/v1/me",
            "api.basic.test",
            0,
            &[("authorization", &format!("Basic {basic}"))]
        )
    );
    assert_clean(
        &vault,
        &response,
        &[&token, &password_canary, &basic],
        "basicco/api",
        "outcome=ok method=GET host=api.basic.test path=/v1/me status=200 ",
    );
}

// ---------------------------------------------------------------------------------------------
// 5. multi-header, 6. multi-query
// ---------------------------------------------------------------------------------------------

/// Multi-header (Datadog, the `DD_*` alternative): both keys are injected as `dd-api-key` and
/// `dd-application-key`, in that order, after the caller's headers; neither comes back.
#[test]
fn multi_header_auth_datadog() {
    let hosts = [
        "api.ap1.datadoghq.com",
        "api.datadoghq.com",
        "api.datadoghq.eu",
        "api.us3.datadoghq.com",
        "api.us5.datadoghq.com",
    ];
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &hosts);
    let api_key = canary();
    let app_key = canary();
    create(&vault, "DD_API_KEY", &api_key);
    create(&vault, "DD_APP_KEY", &app_key);

    let response = invoke(
        &vault,
        Invocation {
            headers: vec![("accept-language".into(), "en".into())],
            ..call("datadog/validate", "GET", "/api/v1/validate")
        },
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    let host = received.header("host").unwrap().to_string();
    assert!(hosts.contains(&host.as_str()), "{host}");
    assert_eq!(
        response.planned.url,
        format!("https://{host}/api/v1/validate")
    );
    assert_eq!(
        received.raw_head,
        expected_head(
            "GET",
            "/api/v1/validate",
            &host,
            0,
            &[
                ("accept-language", "en"),
                ("dd-api-key", &api_key),
                ("dd-application-key", &app_key),
            ]
        )
    );
    assert_clean(
        &vault,
        &response,
        &[&api_key, &app_key],
        "datadog/validate",
        &format!("outcome=ok method=GET host={host} path=/api/v1/validate status=200 "),
    );
}

/// Multi-query (Trello `key` + `token`): both parameters follow the caller's query, in the
/// registry's order; neither comes back, and `planned.url` shows both as `REDACTED`.
#[test]
fn multi_query_auth_trello() {
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &["api.trello.com"]);
    let key = canary();
    let token = canary();
    create(&vault, "TRELLO_API_KEY", &key);
    create(&vault, "TRELLO_TOKEN", &token);

    let response = invoke(
        &vault,
        call("trello/boards", "GET", "/1/boards/b0ard?fields=name,url"),
    );
    assert_eq!(response.status, 200);
    let target = format!("/1/boards/b0ard?fields=name,url&key={key}&token={token}");
    let received = &upstream.requests()[0];
    assert_eq!(received.target, target);
    assert_eq!(
        received.raw_head,
        expected_head("GET", &target, "api.trello.com", 0, &[])
    );
    assert_eq!(
        response.planned.url,
        "https://api.trello.com/1/boards/b0ard?fields=name,url&key=REDACTED&token=REDACTED"
    );
    assert_clean(
        &vault,
        &response,
        &[&key, &token],
        "trello/boards",
        "outcome=ok method=GET host=api.trello.com path=/1/boards/b0ard status=200 ",
    );
}

// ---------------------------------------------------------------------------------------------
// 7. oauth2
// ---------------------------------------------------------------------------------------------

const ACME_HOSTS: [&str; 2] = ["api.acme.test", "auth.acme.test"];
const ACME_TOKEN_ENDPOINT: &str = "https://auth.acme.test/token";

/// An OAuth 2.0 provider on one loopback upstream: `POST /token` issues `at-N`/`rt-N`
/// (N = 1, 2, ...) with a configurable `expires_in` (raw JSON); every other path answers 200 (echoing
/// the authorization header) to `Bearer at-N` with `N >= valid_from`, else 401.
struct Acme {
    t: TestDir,
    upstream: Upstream,
    pki: Pki,
    expires_in: Arc<Mutex<String>>,
    valid_from: Arc<AtomicUsize>,
}

impl Acme {
    fn new() -> Acme {
        let pki = Pki::new(&ACME_HOSTS);
        let issued = Arc::new(AtomicUsize::new(0));
        let expires_in = Arc::new(Mutex::new("3600".to_string()));
        let valid_from = Arc::new(AtomicUsize::new(0));
        let (i, e, v) = (issued.clone(), expires_in.clone(), valid_from.clone());
        let upstream = Upstream::https(&pki, move |req: &Recorded| {
            if req.method == "POST" && req.target == "/token" {
                let n = i.fetch_add(1, Ordering::SeqCst) + 1;
                return Reply::json(format!(
                    r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":{},"refresh_token":"rt-{n}"}}"#,
                    e.lock().unwrap()
                ));
            }
            let auth = req.header("authorization").unwrap_or("");
            let valid = auth
                .strip_prefix("Bearer at-")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= v.load(Ordering::SeqCst));
            if valid {
                Reply::json(format!(r#"{{"ok":true,"auth":"{auth}"}}"#))
            } else {
                Reply::status(401).header("www-authenticate", "Bearer error=\"invalid_token\"")
            }
        });
        Acme {
            t: TestDir::new(),
            upstream,
            pki,
            expires_in,
            valid_from,
        }
    }

    fn config(&self) -> Config {
        config(&self.t, &self.upstream, &ACME_HOSTS, Some(&self.pki))
    }

    /// Opens the vault, stores `secret_json` as `ACME_OAUTH` and creates the `acme-oauth`
    /// credential (grant `grant`, `scopes`) and the `acme/api` capability on api.acme.test.
    /// These tests pin the form-body client authentication (`--token-auth body`), whose
    /// bytes they check; the default HTTP Basic method is tested with `vault_with`.
    fn vault(&self, secret_json: &str, grant: &str, scopes: &[&str]) -> (Vault, SecretMeta) {
        self.vault_with(secret_json, grant, scopes, Some("body"))
    }

    /// `vault` with the credential's `--token-auth` (`None`: the default, HTTP Basic).
    fn vault_with(
        &self,
        secret_json: &str,
        grant: &str,
        scopes: &[&str],
        token_auth: Option<&str>,
    ) -> (Vault, SecretMeta) {
        let vault = Vault::open(self.config()).unwrap();
        let meta = create(&vault, "ACME_OAUTH", secret_json).secret;
        custom_credential(
            &vault,
            "acme-oauth",
            "acme",
            AuthOptions {
                grant_type: Some(grant.into()),
                token_endpoint: Some(ACME_TOKEN_ENDPOINT.into()),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                token_auth: token_auth.map(str::to_string),
                ..auth("oauth2")
            },
            &ACME_HOSTS,
            vec![format!("vault:secret:{}", meta.secret_id)],
            NetworkOptions::default(),
        );
        custom_capability(&vault, "acme/api", "acme", "api.acme.test", &["/v1"]);
        (vault, meta)
    }

    /// Requests received by the token endpoint.
    fn token_requests(&self) -> Vec<Recorded> {
        self.upstream
            .requests()
            .into_iter()
            .filter(|r| r.target == "/token")
            .collect()
    }

    /// API requests received (everything but the token endpoint).
    fn api_requests(&self) -> Vec<Recorded> {
        self.upstream
            .requests()
            .into_iter()
            .filter(|r| r.target != "/token")
            .collect()
    }

    /// Asserts the token request is exactly a form POST of `form` to auth.acme.test.
    fn assert_token_request(&self, request: &Recorded, form: &str) {
        self.assert_token_request_auth(request, form, None);
    }

    /// `assert_token_request` with an `authorization` header (`Basic ...`) or none.
    fn assert_token_request_auth(&self, request: &Recorded, form: &str, auth: Option<&str>) {
        let auth = auth
            .map(|a| format!("authorization: {a}\r\n"))
            .unwrap_or_default();
        assert_eq!(
            request.raw_head,
            format!(
                "POST /token HTTP/1.1\r\ncontent-length: {}\r\nuser-agent: aivault/{}\r\nhost: auth.acme.test\r\ncontent-type: application/x-www-form-urlencoded\r\naccept: application/json\r\n{auth}\r\n",
                form.len(),
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(request.body_text(), form);
    }
}

/// The OAuth secret JSON of a refresh_token client.
fn refresh_secret(client_secret: &str, refresh_token: &str) -> String {
    format!(
        r#"{{"client_id":"acme client/1","client_secret":"{client_secret}","refresh_token":"{refresh_token}"}}"#
    )
}

/// The API call every OAuth test makes.
fn acme_call() -> Invocation {
    call("acme/api", "GET", "/v1/me")
}

/// refresh_token grant: the first call fetches a token with the exact form
/// `grant_type=refresh_token&refresh_token=..&client_id=..&client_secret=..` and calls the API
/// with `Bearer at-1`; a second call reuses it (no second token request). No client secret,
/// refresh token or access token comes back or reaches the audit log.
#[test]
fn oauth2_refresh_token_grant_fetches_then_reuses() {
    let acme = Acme::new();
    let client_secret = canary();
    let refresh_token = canary();
    let (vault, _) = acme.vault(
        &refresh_secret(&client_secret, &refresh_token),
        "refresh_token",
        &[],
    );

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 1);
    acme.assert_token_request(
        &tokens[0],
        &format!(
            "grant_type=refresh_token&refresh_token={refresh_token}&client_id=acme%20client%2F1&client_secret={client_secret}"
        ),
    );
    let api = acme.api_requests();
    assert_eq!(
        api[0].raw_head,
        expected_head(
            "GET",
            "/v1/me",
            "api.acme.test",
            0,
            &[("authorization", "Bearer at-1")]
        )
    );
    let needles = [client_secret.as_str(), refresh_token.as_str()];
    assert_response_clean(&response, &[&client_secret, &refresh_token, "at-1"]);
    assert_audit(
        &vault,
        &needles,
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=200 ",
    );

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    assert_eq!(acme.token_requests().len(), 1, "the token was not reused");
    let api = acme.api_requests();
    assert_eq!(api.len(), 2);
    assert_eq!(api[1].header("authorization"), Some("Bearer at-1"));
    assert_response_clean(&response, &[&client_secret, &refresh_token, "at-1"]);
}

/// A stored token within five minutes of expiry (`expires_at` two minutes ahead) is
/// refreshed on the next call, with the stored refresh token; the new one is then reused.
#[test]
fn oauth2_token_near_expiry_is_refreshed() {
    let acme = Acme::new();
    let client_secret = canary();
    let refresh_token = canary();
    let soon = now_secs() + 120;
    let secret = format!(
        r#"{{"client_id":"acme client/1","client_secret":"{client_secret}","refresh_token":"{refresh_token}","access_token":"at-0","expires_at":{soon}}}"#
    );
    let (vault, _) = acme.vault(&secret, "refresh_token", &[]);
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    assert_eq!(invoke(&vault, acme_call()).status, 200);
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 1);
    acme.assert_token_request(
        &tokens[0],
        &format!(
            "grant_type=refresh_token&refresh_token={refresh_token}&client_id=acme%20client%2F1&client_secret={client_secret}"
        ),
    );
    let api = acme.api_requests();
    assert_eq!(api[0].header("authorization"), Some("Bearer at-1"));
    assert_eq!(api[1].header("authorization"), Some("Bearer at-1"));
    assert_response_clean(&response, &[&client_secret, &refresh_token, "at-1"]);
    assert_audit(
        &vault,
        &[&client_secret, &refresh_token],
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=200 ",
    );
}

/// Whatever `expires_in` the token endpoint announces (0, negative, a few seconds, `i64::MAX`,
/// beyond `u64`, a float, a numeric string, garbage), the broker neither fails nor asks for a
/// token on every call: three calls make one token request, and each API call carries the
/// issued token.
#[test]
fn oauth2_absurd_expires_in_neither_fails_nor_refreshes_every_call() {
    for expires_in in [
        "0",
        "-1",
        "1",
        "120",
        "-9223372036854775808",
        "9223372036854775807",
        "18446744073709551615",
        "100000000000000000000000000",
        "1e300",
        "-1e300",
        "3600.5",
        r#""3600""#,
        r#""soon""#,
        "true",
        "null",
        "{}",
        "[1]",
    ] {
        let acme = Acme::new();
        *acme.expires_in.lock().unwrap() = expires_in.to_string();
        let client_secret = canary();
        let refresh_token = canary();
        let (vault, _) = acme.vault(
            &refresh_secret(&client_secret, &refresh_token),
            "refresh_token",
            &[],
        );
        for _ in 0..3 {
            let response = vault
                .invoke(&acme_call())
                .unwrap_or_else(|e| panic!("expires_in {expires_in}: {e} ({})", e.kind()));
            assert_eq!(response.status, 200, "expires_in {expires_in}");
            assert_response_clean(&response, &[&client_secret, &refresh_token]);
        }
        assert_eq!(
            acme.token_requests().len(),
            1,
            "expires_in {expires_in}: a token request per call"
        );
        let api = acme.api_requests();
        assert_eq!(api.len(), 3, "expires_in {expires_in}");
        assert!(
            api.iter()
                .all(|r| r.header("authorization") == Some("Bearer at-1")),
            "expires_in {expires_in}"
        );
        assert_audit_clean(&vault, &client_secret);
        assert_audit_ok(&vault);
    }
}

/// An absurd `expires_at` stored in the secret (beyond `i64`, a float, a numeric string, the
/// ends of `i64`, milliseconds for seconds) is read without failing: far future uses the
/// stored token, far past refreshes once; never a request per call.
#[test]
fn oauth2_absurd_stored_expires_at_is_read_saturating() {
    let now = now_secs();
    let future_float = format!("{}.75", now + 3600);
    let future_string = format!(r#""{}""#, now + 3600);
    let millis = format!("{}", (now + 3600) * 1000);
    let cases: [(&str, usize); 10] = [
        ("9223372036854775807", 0),
        ("18446744073709551615", 0),
        ("1e300", 0),
        (&future_float, 0),
        (&future_string, 0),
        (&millis, 0),
        ("-9223372036854775808", 1),
        ("-1e300", 1),
        ("0", 1),
        ("-1.5", 1),
    ];
    for (expires_at, token_requests) in cases {
        let acme = Acme::new();
        let client_secret = canary();
        let refresh_token = canary();
        let secret = format!(
            r#"{{"client_id":"acme client/1","client_secret":"{client_secret}","refresh_token":"{refresh_token}","access_token":"at-0","expires_at":{expires_at}}}"#
        );
        let (vault, _) = acme.vault(&secret, "refresh_token", &[]);
        for _ in 0..3 {
            let response = vault
                .invoke(&acme_call())
                .unwrap_or_else(|e| panic!("expires_at {expires_at}: {e} ({})", e.kind()));
            assert_eq!(response.status, 200, "expires_at {expires_at}");
        }
        assert_eq!(
            acme.token_requests().len(),
            token_requests,
            "expires_at {expires_at}"
        );
        assert_audit_clean(&vault, &client_secret);
    }
}

/// New tokens are written back to the secret: a reopened vault calls with the stored token
/// without hitting the token endpoint; the secret's value version went up and a
/// `secret.oauth_refresh` event records it.
#[test]
fn oauth2_tokens_are_written_back() {
    let acme = Acme::new();
    let client_secret = canary();
    let refresh_token = canary();
    let (vault, meta) = acme.vault(
        &refresh_secret(&client_secret, &refresh_token),
        "refresh_token",
        &[],
    );
    assert_eq!(meta.value_version, 1);
    assert_eq!(invoke(&vault, acme_call()).status, 200);
    assert_eq!(acme.token_requests().len(), 1);
    drop(vault);

    let vault = Vault::open(acme.config()).unwrap();
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    assert_eq!(
        acme.token_requests().len(),
        1,
        "the stored token was not used"
    );
    assert_eq!(
        acme.api_requests()[1].header("authorization"),
        Some("Bearer at-1")
    );
    assert_eq!(vault.get_secret(&meta.secret_id).unwrap().value_version, 2);
    let refresh: Vec<_> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "secret.oauth_refresh")
        .collect();
    assert_eq!(refresh.len(), 1, "{refresh:?}");
    assert_eq!(
        refresh[0].secret_id.as_deref(),
        Some(meta.secret_id.as_str())
    );
    assert_eq!(refresh[0].credential_id.as_deref(), Some("acme-oauth"));
    assert_eq!(refresh[0].capability.as_deref(), Some("acme/api"));
    assert_eq!(refresh[0].note.as_deref(), Some("version=2"));
    assert_audit(
        &vault,
        &[&client_secret, &refresh_token],
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=200 ",
    );
}

/// An upstream 401 triggers exactly one refresh and one retry (two API requests, one extra
/// token request); when the retry gets 401 too, the caller gets that 401 (no loop).
#[test]
fn oauth2_401_refreshes_once_and_retries_once() {
    let acme = Acme::new();
    let client_secret = canary();
    let refresh_token = canary();
    // A stored token the API no longer accepts (revoked early).
    let far = now_secs() + 86_400;
    let secret = format!(
        r#"{{"client_id":"acme client/1","client_secret":"{client_secret}","refresh_token":"{refresh_token}","access_token":"at-0","expires_at":{far}}}"#
    );
    acme.valid_from.store(1, Ordering::SeqCst);
    let (vault, _) = acme.vault(&secret, "refresh_token", &[]);

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let api = acme.api_requests();
    assert_eq!(api.len(), 2);
    assert_eq!(api[0].header("authorization"), Some("Bearer at-0"));
    assert_eq!(api[1].header("authorization"), Some("Bearer at-1"));
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 1);
    acme.assert_token_request(
        &tokens[0],
        &format!(
            "grant_type=refresh_token&refresh_token={refresh_token}&client_id=acme%20client%2F1&client_secret={client_secret}"
        ),
    );

    // Now every token is refused: one refresh, one retry, then the 401 is the answer.
    acme.valid_from.store(1000, Ordering::SeqCst);
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 401);
    let api = acme.api_requests();
    assert_eq!(api.len(), 4);
    assert_eq!(api[2].header("authorization"), Some("Bearer at-1"));
    assert_eq!(api[3].header("authorization"), Some("Bearer at-2"));
    assert_eq!(acme.token_requests().len(), 2);
    assert_response_clean(&response, &[&client_secret, &refresh_token, "at-2"]);
    assert_audit(
        &vault,
        &[&client_secret, &refresh_token],
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=401 ",
    );
}

/// A 401 right after the call fetched its first token: the retry's refresh uses the refresh
/// token that fetch just stored (`rt-1`, not the spent original), and its new token is
/// written back, so the next call uses it without another refresh.
#[test]
fn oauth2_401_after_a_fresh_fetch_uses_and_keeps_the_newest_tokens() {
    let acme = Acme::new();
    let client_secret = canary();
    let refresh_token = canary();
    acme.valid_from.store(2, Ordering::SeqCst);
    let (vault, meta) = acme.vault(
        &refresh_secret(&client_secret, &refresh_token),
        "refresh_token",
        &[],
    );

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 2);
    acme.assert_token_request(
        &tokens[1],
        &format!(
            "grant_type=refresh_token&refresh_token=rt-1&client_id=acme%20client%2F1&client_secret={client_secret}"
        ),
    );
    assert_eq!(vault.get_secret(&meta.secret_id).unwrap().value_version, 3);

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    assert_eq!(acme.token_requests().len(), 2, "at-2 was not written back");
    let api = acme.api_requests();
    assert_eq!(api.len(), 3);
    assert_eq!(api[2].header("authorization"), Some("Bearer at-2"));
}

/// client_credentials grant: the form is `grant_type=client_credentials&client_id=..&
/// client_secret=..&scope=..` (scopes space-joined, percent-encoded).
#[test]
fn oauth2_client_credentials_grant() {
    let acme = Acme::new();
    let client_secret = canary();
    let secret = format!(r#"{{"client_id":"svc","client_secret":"{client_secret}"}}"#);
    let (vault, _) = acme.vault(&secret, "client_credentials", &["read", "write:all"]);

    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 1);
    acme.assert_token_request(
        &tokens[0],
        &format!(
            "grant_type=client_credentials&client_id=svc&client_secret={client_secret}&scope=read%20write%3Aall"
        ),
    );
    assert_eq!(
        acme.api_requests()[0].header("authorization"),
        Some("Bearer at-1")
    );
    assert_clean(
        &vault,
        &response,
        &[&client_secret],
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=200 ",
    );
}

/// A token endpoint outside the credential's hosts, or not HTTPS, is refused when the
/// credential is created (`invalid_input`), and nothing is stored.
#[test]
fn oauth2_token_endpoint_must_be_https_on_a_credential_host() {
    let t = TestDir::new();
    let vault = t.open();
    let client_secret = canary();
    let meta = create(
        &vault,
        "ACME_OAUTH",
        &refresh_secret(&client_secret, "rt-0"),
    )
    .secret;
    for endpoint in [
        "https://evil.test/token",
        "http://auth.acme.test/token",
        "https://auth.acme.test.evil.test/token",
    ] {
        let err = vault
            .create_credential(NewCredential {
                id: "acme-oauth".into(),
                provider: "acme".into(),
                secret_refs: vec![meta.secret_ref()],
                auth: AuthOptions {
                    token_endpoint: Some(endpoint.into()),
                    ..auth("oauth2")
                },
                hosts: ACME_HOSTS.iter().map(|h| h.to_string()).collect(),
                ..NewCredential::default()
            })
            .err()
            .unwrap_or_else(|| panic!("{endpoint} was accepted"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{endpoint}: {err}");
        assert!(err.message().contains("token endpoint"), "{err}");
        assert_error_clean(&err, &[&client_secret]);
    }
    assert!(
        all_events(&vault)
            .iter()
            .all(|e| e.kind != "credential.create")
    );
}

// ---------------------------------------------------------------------------------------------
// 8. aws-sigv4
// ---------------------------------------------------------------------------------------------

/// AWS URI encoding: unreserved bytes kept, everything else `%XX` upper-case; `/` kept when
/// `keep_slash`.
fn aws_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The parts of an `AWS4-HMAC-SHA256` authorization header.
struct SigV4Auth {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_sigv4(authorization: &str) -> SigV4Auth {
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .unwrap_or_else(|| panic!("not SigV4: {authorization}"));
    let (credential, rest) = rest.split_once(", SignedHeaders=").unwrap();
    let (signed, signature) = rest.split_once(", Signature=").unwrap();
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5, "{credential}");
    assert_eq!(scope[4], "aws4_request");
    assert_eq!(signature.len(), 64, "{signature}");
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    SigV4Auth {
        access_key_id: scope[0].into(),
        date: scope[1].into(),
        region: scope[2].into(),
        service: scope[3].into(),
        signed_headers: signed.split(';').map(str::to_string).collect(),
        signature: signature.into(),
    }
}

/// Recomputes the SigV4 signature of a received request from the AWS General Reference
/// (canonical request, string to sign, derived key), independently of the broker's signer,
/// and asserts it matches.
fn assert_sigv4_valid(request: &Recorded, secret_access_key: &str) -> SigV4Auth {
    let auth = parse_sigv4(request.header("authorization").unwrap());
    let amz_date = request.header("x-amz-date").unwrap();
    assert_eq!(amz_date.len(), 16, "{amz_date}");
    assert!(amz_date.starts_with(&auth.date) && amz_date.ends_with('Z'));
    let (path, query) = split_target(&request.target);
    // Non-S3 services: the path as sent, encoded once more.
    let canonical_uri = aws_encode(path.as_bytes(), true);
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (
                aws_encode(&percent_decode(n), false),
                aws_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values = request.header_all(name);
        assert!(!values.is_empty(), "signed header {name} was not sent");
        let values: Vec<String> = values
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{}",
        request.method,
        auth.signed_headers.join(";"),
        sha256_hex(&request.body)
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        auth.date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, auth.region.as_bytes());
    let k_service = hmac_sha256(&k_region, auth.service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let expected = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    assert_eq!(
        auth.signature, expected,
        "signature mismatch; canonical request:\n{canonical_request}"
    );
    auth
}

/// Registry AWS SigV4 (Bedrock): the request carries `x-amz-date`, `x-amz-security-token`
/// (a session token exists) and an `AWS4-HMAC-SHA256` authorization whose credential scope
/// names the region of the host called (not the registry's default `us-east-1`), whose signed
/// headers include host, x-amz-date and the caller's content-type, and whose signature
/// verifies; the secret access key never goes on the wire or comes back.
#[test]
fn aws_sigv4_bedrock() {
    let runtime = "bedrock-runtime.ap-northeast-1.amazonaws.com";
    let control = "bedrock.ap-northeast-1.amazonaws.com";
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &[runtime, control]);
    let akid = "AKIDEXAMPLE0123456789";
    let secret_key = canary();
    let session = canary();
    create(&vault, "AWS_ACCESS_KEY_ID", akid);
    create(&vault, "AWS_SECRET_ACCESS_KEY", &secret_key);
    create(&vault, "AWS_SESSION_TOKEN", &session);
    let before = now_secs();

    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#.to_vec();
    let path = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";
    let response = invoke(
        &vault,
        Invocation {
            headers: vec![("content-type".into(), "application/json".into())],
            body: RequestBody::Bytes(body.clone()),
            ..call("aws-bedrock/runtime", "POST", path)
        },
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    assert_eq!(received.target, path);
    assert_eq!(received.body, body);
    let auth = assert_sigv4_valid(received, &secret_key);
    assert_eq!(auth.access_key_id, akid);
    assert_eq!(auth.region, "ap-northeast-1");
    assert_eq!(auth.service, "bedrock");
    assert_eq!(
        auth.signed_headers,
        [
            "accept-encoding",
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token"
        ]
    );
    let amz_date = received.header("x-amz-date").unwrap().to_string();
    let authorization = received.header("authorization").unwrap().to_string();
    assert_eq!(
        received.raw_head,
        expected_head(
            "POST",
            path,
            runtime,
            body.len(),
            &[
                ("content-type", "application/json"),
                ("x-amz-date", &amz_date),
                ("x-amz-security-token", &session),
                ("authorization", &authorization),
            ]
        )
    );
    assert!(!received.all_text().contains(&secret_key));
    // The signing time is now.
    let date = &auth.date;
    let today: Vec<String> = [before, now_secs()]
        .iter()
        .map(|s| civil_date(*s))
        .collect();
    assert!(today.contains(date), "{date} vs {today:?}");
    assert_clean(
        &vault,
        &response,
        &[&secret_key, &session],
        "aws-bedrock/runtime",
        &format!("outcome=ok method=POST host={runtime} path={path} status=200 "),
    );

    // A GET with an unsorted, encoded query: the canonical query is sorted and re-encoded.
    let target = "/foundation-models?byProvider=anthropic&byOutputModality=TEXT&x=a%20b";
    let response = invoke(&vault, call("aws-bedrock/foundation-models", "GET", target));
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[1];
    assert_eq!(received.target, target);
    assert_eq!(received.header("host"), Some(control));
    let auth = assert_sigv4_valid(received, &secret_key);
    assert_eq!(auth.region, "ap-northeast-1");
    assert_eq!(
        auth.signed_headers,
        [
            "accept-encoding",
            "host",
            "x-amz-date",
            "x-amz-security-token"
        ]
    );
    assert!(!received.all_text().contains(&secret_key));
    assert_clean(
        &vault,
        &response,
        &[&secret_key, &session],
        "aws-bedrock/foundation-models",
        &format!("outcome=ok method=GET host={control} path=/foundation-models status=200 "),
    );
}

/// An operator aws-sigv4 credential (`--aws-service execute-api --aws-region eu-west-3`,
/// roles given with `ROLE=vault:secret:<id>`, no session token) on a non-AWS host signs for
/// its configured region and service, without `x-amz-security-token`.
#[test]
fn aws_sigv4_custom_credential() {
    let host = "api.sigv4.test";
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &[host]);
    let akid = create(&vault, "GW_AKID", "AKIDCUSTOM").secret;
    let secret_key = canary();
    let secret = create(&vault, "GW_SECRET", &secret_key).secret;
    custom_credential(
        &vault,
        "gateway",
        "gateway",
        AuthOptions {
            aws_service: Some("execute-api".into()),
            aws_region: Some("eu-west-3".into()),
            ..auth("aws-sigv4")
        },
        &[host],
        vec![
            role_ref("access_key_id", &akid),
            role_ref("secret_access_key", &secret),
        ],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "gateway/api", "gateway", host, &["/prod"]);
    let response = invoke(
        &vault,
        call("gateway/api", "GET", "/prod/items/a%20b?z=1&a=2"),
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    let auth = assert_sigv4_valid(received, &secret_key);
    assert_eq!(auth.access_key_id, "AKIDCUSTOM");
    assert_eq!(auth.region, "eu-west-3");
    assert_eq!(auth.service, "execute-api");
    assert_eq!(
        auth.signed_headers,
        ["accept-encoding", "host", "x-amz-date"]
    );
    assert_eq!(received.header("x-amz-security-token"), None);
    assert!(!received.all_text().contains(&secret_key));
    assert_clean(
        &vault,
        &response,
        &[&secret_key],
        "gateway/api",
        "outcome=ok method=GET host=api.sigv4.test path=/prod/items/a%20b status=200 ",
    );
}

/// `YYYYMMDD` (UTC) of a Unix time, for the SigV4 credential scope.
fn civil_date(unix: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

// ---------------------------------------------------------------------------------------------
// 9. hmac
// ---------------------------------------------------------------------------------------------

/// HMAC (`--header-name x-signature --value-template 'v1={{signature}}' --timestamp-header
/// x-timestamp`): the upstream recomputes HMAC-SHA256 over the documented canonical string
/// (`<ts>\n<METHOD>\n<path>\n<query>\n<hex sha256(body)>`) from the bytes it received and
/// accepts it; the key never goes on the wire or comes back.
#[test]
fn hmac_auth_custom_credential() {
    let host = "api.hmac.test";
    let t = TestDir::new();
    let pki = Pki::new(&[host]);
    let key = canary();
    let verify_key = key.clone();
    // The upstream answers 200 only to a valid signature.
    let upstream = Upstream::https(&pki, move |req: &Recorded| {
        let ts = req.header("x-timestamp").unwrap_or("");
        let (path, query) = split_target(&req.target);
        let canonical = format!(
            "{ts}\n{}\n{path}\n{query}\n{}",
            req.method,
            sha256_hex(&req.body)
        );
        let expected = format!(
            "v1={}",
            hex(&hmac_sha256(verify_key.as_bytes(), canonical.as_bytes()))
        );
        if req.header("x-signature") == Some(expected.as_str()) {
            Reply::json(r#"{"verified":true}"#)
        } else {
            Reply::status(401)
        }
    });
    let vault = Vault::open(config(&t, &upstream, &[host], Some(&pki))).unwrap();
    let secret = create(&vault, "HMAC_KEY", &key).secret;
    custom_credential(
        &vault,
        "signer",
        "signco",
        AuthOptions {
            header_name: Some("X-Signature".into()),
            value_template: Some("v1={{signature}}".into()),
            timestamp_header: Some("x-timestamp".into()),
            ..auth("hmac")
        },
        &[host],
        vec![secret.secret_ref()],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "signco/api", "signco", host, &["/v1"]);

    let before = now_secs();
    let body = b"{\"amount\":42}".to_vec();
    let target = "/v1/pay%20ments?b=2&a=1";
    let response = invoke(
        &vault,
        Invocation {
            headers: vec![("content-type".into(), "application/json".into())],
            body: RequestBody::Bytes(body.clone()),
            ..call("signco/api", "POST", target)
        },
    );
    assert_eq!(response.status, 200, "the upstream rejected the signature");
    assert_eq!(response.body, br#"{"verified":true}"#);
    let received = &upstream.requests()[0];
    assert_eq!(received.target, target);
    let ts: i64 = received.header("x-timestamp").unwrap().parse().unwrap();
    assert!((before..=now_secs()).contains(&ts), "{ts}");
    let canonical = format!(
        "{ts}\nPOST\n/v1/pay%20ments\nb=2&a=1\n{}",
        sha256_hex(&body)
    );
    let signature = format!(
        "v1={}",
        hex(&hmac_sha256(key.as_bytes(), canonical.as_bytes()))
    );
    assert_eq!(
        received.raw_head,
        expected_head(
            "POST",
            target,
            host,
            body.len(),
            &[
                ("content-type", "application/json"),
                ("x-signature", &signature),
                ("x-timestamp", &ts.to_string()),
            ]
        )
    );
    assert!(!received.all_text().contains(&key));
    assert_clean(
        &vault,
        &response,
        &[&key],
        "signco/api",
        "outcome=ok method=POST host=api.hmac.test path=/v1/pay%20ments status=200 ",
    );

    // The caller cannot supply the signature or timestamp headers.
    let err = invoke_err(
        &vault,
        Invocation {
            headers: vec![("x-timestamp".into(), "1".into())],
            ..call("signco/api", "GET", "/v1/x")
        },
    );
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
}

// ---------------------------------------------------------------------------------------------
// 10. mtls and a credential's private CA
// ---------------------------------------------------------------------------------------------

/// Stores `cert`/`key` PEMs and creates an mTLS credential `id` for api.mtls.test.
fn mtls_credential(vault: &Vault, id: &str, cert: &str, key: &str) {
    let upper = id.to_ascii_uppercase().replace('-', "_");
    let cert = create(vault, &format!("{upper}_CERT"), cert).secret;
    let key = create(vault, &format!("{upper}_KEY"), key).secret;
    custom_credential(
        vault,
        id,
        "mtlsco",
        auth("mtls"),
        &["api.mtls.test"],
        vec![
            role_ref("certificate", &cert),
            role_ref("private_key", &key),
        ],
        NetworkOptions::default(),
    );
}

/// mTLS: the vault's certificate and key are presented in the handshake (the upstream
/// records exactly `pki.client_cert_der()`), and nothing of the key is on the wire or comes
/// back. A certificate from another CA fails the handshake (`upstream_error`); a certificate
/// secret that is not PEM is `invalid_input` — neither error quotes the material.
#[test]
fn mtls_presents_the_vault_client_certificate() {
    let host = "api.mtls.test";
    let t = TestDir::new();
    let pki = Pki::new(&[host]);
    let upstream = Upstream::https_mtls(&pki, echo_handler());
    let vault = Vault::open(config(&t, &upstream, &[host], Some(&pki))).unwrap();
    mtls_credential(
        &vault,
        "mtls-good",
        &pki.client_cert_pem,
        &pki.client_key_pem,
    );
    custom_capability(&vault, "mtlsco/api", "mtlsco", host, &["/v1"]);
    let key_body = pki
        .client_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();

    let response = invoke(
        &vault,
        Invocation {
            credential: Some("mtls-good".into()),
            ..call("mtlsco/api", "GET", "/v1/whoami")
        },
    );
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    assert_eq!(
        received.tls_client_cert.as_deref(),
        Some(pki.client_cert_der().as_ref())
    );
    assert_eq!(
        received.raw_head,
        expected_head("GET", "/v1/whoami", host, 0, &[])
    );
    assert_clean(
        &vault,
        &response,
        &[&key_body, "PRIVATE KEY"],
        "mtlsco/api",
        "outcome=ok method=GET host=api.mtls.test path=/v1/whoami status=200 ",
    );

    // A client certificate the upstream's CA did not sign.
    let other = Pki::new(&[host]);
    mtls_credential(
        &vault,
        "mtls-other",
        &other.client_cert_pem,
        &other.client_key_pem,
    );
    let other_key = other
        .client_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let err = invoke_err(
        &vault,
        Invocation {
            credential: Some("mtls-other".into()),
            ..call("mtlsco/api", "GET", "/v1/whoami")
        },
    );
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    assert_error_clean(&err, &[&other_key, "PRIVATE KEY"]);
    assert_audit(
        &vault,
        &[&key_body, &other_key],
        "mtlsco/api",
        "outcome=error:upstream_error method=GET host=api.mtls.test path=/v1/whoami status=- ",
    );

    // A certificate secret that is not a certificate.
    let junk = canary();
    mtls_credential(&vault, "mtls-junk", &junk, &pki.client_key_pem);
    let err = invoke_err(
        &vault,
        Invocation {
            credential: Some("mtls-junk".into()),
            ..call("mtlsco/api", "GET", "/v1/whoami")
        },
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_error_clean(&err, &[&junk, &key_body]);
    assert_eq!(upstream.requests().len(), 1);
}

/// `NetworkOptions { ca_cert, allow_private_network }` on an operator credential trusts the
/// private CA for that credential only: with no test CA configured, the call through it
/// succeeds, and the same host through a credential without the CA fails TLS
/// (`upstream_error`) before any request is sent.
#[test]
fn private_ca_is_trusted_per_credential() {
    let host = "api.private.test";
    let t = TestDir::new();
    let pki = Pki::new(&[host]);
    let upstream = Upstream::https(&pki, echo_handler());
    // No dev_ca_cert: only the credential's CA can make the server certificate valid.
    let vault = Vault::open(config(&t, &upstream, &[host], None)).unwrap();
    let key = canary();
    let secret = create(&vault, "PRIVATE_API_KEY", &key).secret;
    let header = AuthOptions {
        header_name: Some("x-api-key".into()),
        value_template: Some("{{secret}}".into()),
        ..auth("header")
    };
    custom_credential(
        &vault,
        "with-ca",
        "privco",
        header.clone(),
        &[host],
        vec![secret.secret_ref()],
        NetworkOptions {
            allow_private_network: true,
            ca_cert: Some(pki.ca_pem.clone()),
            ..NetworkOptions::default()
        },
    );
    custom_credential(
        &vault,
        "without-ca",
        "privco",
        header,
        &[host],
        vec![secret.secret_ref()],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "privco/api", "privco", host, &["/v1"]);

    let response = invoke(
        &vault,
        Invocation {
            credential: Some("with-ca".into()),
            ..call("privco/api", "GET", "/v1/status")
        },
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.planned.credential, "with-ca");
    assert_eq!(
        upstream.requests()[0].raw_head,
        expected_head("GET", "/v1/status", host, 0, &[("x-api-key", &key)])
    );
    assert_clean(
        &vault,
        &response,
        &[&key],
        "privco/api",
        "outcome=ok method=GET host=api.private.test path=/v1/status status=200 ",
    );

    let err = invoke_err(
        &vault,
        Invocation {
            credential: Some("without-ca".into()),
            ..call("privco/api", "GET", "/v1/status")
        },
    );
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    assert!(err.message().contains(host), "{err}");
    assert_error_clean(&err, &[&key]);
    assert_eq!(
        upstream.requests().len(),
        1,
        "a request went over untrusted TLS"
    );
    assert_audit(
        &vault,
        &[&key],
        "privco/api",
        "outcome=error:upstream_error method=GET host=api.private.test path=/v1/status status=- ",
    );
}

// ---------------------------------------------------------------------------------------------
// Network opt-ins at credential creation
// ---------------------------------------------------------------------------------------------

/// A registry provider's credential cannot take network opt-ins (`policy_violation`), and
/// `insecure_http` without `allow_private_network` is `invalid_input`; nothing is created.
#[test]
fn network_opt_ins_are_checked_at_credential_creation() {
    let t = TestDir::new();
    let vault = t.open();
    let key = canary();
    let secret = create(&vault, "OPENAI_API_KEY", &key).secret;
    let pki = Pki::new(&["api.openai.com"]);
    let registry = |network: NetworkOptions| NewCredential {
        id: "my-openai".into(),
        provider: "openai".into(),
        secret_refs: vec![secret.secret_ref()],
        network,
        ..NewCredential::default()
    };
    for network in [
        NetworkOptions {
            allow_private_network: true,
            ..NetworkOptions::default()
        },
        NetworkOptions {
            ca_cert: Some(pki.ca_pem.clone()),
            ..NetworkOptions::default()
        },
        NetworkOptions {
            allow_private_network: true,
            insecure_http: true,
            ..NetworkOptions::default()
        },
    ] {
        let err = vault.create_credential(registry(network.clone())).err();
        let err = err.unwrap_or_else(|| panic!("{network:?} was accepted"));
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{network:?}: {err}");
        assert_error_clean(&err, &[&key]);
    }

    let other = create(&vault, "LOCAL_KEY", &canary()).secret;
    let err = vault
        .create_credential(NewCredential {
            id: "local".into(),
            provider: "localco".into(),
            secret_refs: vec![other.secret_ref()],
            auth: AuthOptions {
                header_name: Some("x-key".into()),
                value_template: Some("{{secret}}".into()),
                ..auth("header")
            },
            hosts: vec!["api.local.test".into()],
            network: NetworkOptions {
                insecure_http: true,
                ..NetworkOptions::default()
            },
            ..NewCredential::default()
        })
        .expect_err("insecure_http without allow_private_network was accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("--allow-private-network"), "{err}");
    let ids: Vec<String> = vault
        .list_credentials()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["openai"]);
}

/// RFC 6749 §2.3.1 by default: a confidential client's id and secret go in
/// `Authorization: Basic base64(urlenc(id):urlenc(secret))`, not in the form, for the
/// refresh_token grant.
#[test]
fn oauth2_default_client_auth_is_http_basic_refresh_token() {
    let acme = Acme::new();
    let refresh_token = canary();
    let client_secret = format!("{}:/ x", canary());
    let (vault, _) = acme.vault_with(
        &refresh_secret(&client_secret, &refresh_token),
        "refresh_token",
        &[],
        None,
    );
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let tokens = acme.token_requests();
    assert_eq!(tokens.len(), 1);
    let pair = format!(
        "acme%20client%2F1:{}",
        client_secret
            .replace(':', "%3A")
            .replace('/', "%2F")
            .replace(' ', "%20")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(pair);
    acme.assert_token_request_auth(
        &tokens[0],
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
        Some(&format!("Basic {basic}")),
    );
    assert_response_clean(&response, &[&client_secret, &refresh_token, "at-1", &basic]);
}

/// The default for the client_credentials grant is HTTP Basic too; the form keeps the scope.
#[test]
fn oauth2_default_client_auth_is_http_basic_client_credentials() {
    let acme = Acme::new();
    let client_secret = canary();
    let secret = format!(r#"{{"client_id":"svc","client_secret":"{client_secret}"}}"#);
    let (vault, _) = acme.vault_with(&secret, "client_credentials", &["read"], Some("basic"));
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    let tokens = acme.token_requests();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{client_secret}"));
    acme.assert_token_request_auth(
        &tokens[0],
        "grant_type=client_credentials&scope=read",
        Some(&format!("Basic {basic}")),
    );
    assert_clean(
        &vault,
        &response,
        &[&client_secret, &basic],
        "acme/api",
        "outcome=ok method=GET host=api.acme.test path=/v1/me status=200 ",
    );
}

/// A public client (no client_secret) sends `client_id` in the form and no Authorization
/// header, whatever the method.
#[test]
fn oauth2_public_client_sends_client_id_in_the_body() {
    let acme = Acme::new();
    let refresh_token = canary();
    let secret = format!(r#"{{"client_id":"pub","refresh_token":"{refresh_token}"}}"#);
    let (vault, _) = acme.vault_with(&secret, "refresh_token", &[], None);
    let response = invoke(&vault, acme_call());
    assert_eq!(response.status, 200);
    acme.assert_token_request_auth(
        &acme.token_requests()[0],
        &format!("grant_type=refresh_token&refresh_token={refresh_token}&client_id=pub"),
        None,
    );
}

/// The original tool's defaults: `--auth header` alone sends `authorization: Bearer <secret>`
/// (another `--header-name` alone carries the bare secret), and `--auth hmac` alone signs into
/// `x-signature`.
#[test]
fn header_and_hmac_defaults_match_the_original_tool() {
    let host = "api.defaults.test";
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &[host]);
    let key = canary();
    let secret = create(&vault, "DEFAULTS_KEY", &key).secret;
    let cases = [
        (
            "bearer",
            auth("header"),
            "authorization",
            "Bearer {{secret}}",
        ),
        (
            "named",
            AuthOptions {
                header_name: Some("X-Api-Key".into()),
                ..auth("header")
            },
            "x-api-key",
            "{{secret}}",
        ),
    ];
    for (id, options, header_name, value_template) in cases {
        let credential = custom_credential(
            &vault,
            id,
            "defco",
            options,
            &[host],
            vec![secret.secret_ref()],
            NetworkOptions::default(),
        );
        assert_eq!(
            credential.auth,
            AuthSpec::Header {
                header_name: header_name.into(),
                value_template: value_template.into(),
            }
        );
    }
    custom_credential(
        &vault,
        "signer",
        "defco",
        auth("hmac"),
        &[host],
        vec![secret.secret_ref()],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "defco/api", "defco", host, &["/v1"]);

    let sent = |credential: &str| {
        let response = invoke(
            &vault,
            Invocation {
                credential: Some(credential.into()),
                ..call("defco/api", "GET", "/v1/me")
            },
        );
        assert_eq!(response.status, 200);
        assert_response_clean(&response, &[&key]);
        upstream.requests().pop().expect("a request")
    };
    assert_eq!(
        sent("bearer").header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    let named = sent("named");
    assert_eq!(named.header("x-api-key"), Some(key.as_str()));
    assert_eq!(named.header("authorization"), None);
    let before = now_secs();
    let signed = sent("signer");
    let sent_signature = signed.header("x-signature").expect("x-signature");
    let signed_at = (before..=now_secs()).find(|ts| {
        let canonical = format!("{ts}\nGET\n/v1/me\n\n{}", sha256_hex(b""));
        hex(&hmac_sha256(key.as_bytes(), canonical.as_bytes())) == sent_signature
    });
    assert!(signed_at.is_some(), "x-signature is not the request's HMAC");
    assert_audit_clean(&vault, &key);
}

// ---------------------------------------------------------------------------------------------
// 10. Signatures the broker computed are redacted
// ---------------------------------------------------------------------------------------------

/// An upstream echoing the request hands the caller neither the HMAC `x-signature` value nor
/// the SigV4 `Authorization` value or its signature: each would be a replayable signed
/// request. Body and headers show `[REDACTED]` where they were.
#[test]
fn computed_signatures_are_redacted_from_echoes() {
    let hmac_host = "api.hmac.test";
    let aws_host = "api.sigv4.test";
    let t = TestDir::new();
    let (upstream, vault) = echo_setup(&t, &[hmac_host, aws_host]);
    let hmac_key = canary();
    let secret = create(&vault, "HMAC_KEY", &hmac_key).secret;
    custom_credential(
        &vault,
        "signer",
        "signco",
        AuthOptions {
            header_name: Some("X-Signature".into()),
            value_template: Some("v1={{signature}}".into()),
            timestamp_header: Some("x-timestamp".into()),
            ..auth("hmac")
        },
        &[hmac_host],
        vec![secret.secret_ref()],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "signco/api", "signco", hmac_host, &["/v1"]);
    let akid = create(&vault, "GW_AKID", "AKIDCUSTOM").secret;
    let secret_key = canary();
    let aws_secret = create(&vault, "GW_SECRET", &secret_key).secret;
    custom_credential(
        &vault,
        "gateway",
        "gateway",
        AuthOptions {
            aws_service: Some("execute-api".into()),
            aws_region: Some("eu-west-3".into()),
            ..auth("aws-sigv4")
        },
        &[aws_host],
        vec![
            role_ref("access_key_id", &akid),
            role_ref("secret_access_key", &aws_secret),
        ],
        NetworkOptions::default(),
    );
    custom_capability(&vault, "gateway/api", "gateway", aws_host, &["/prod"]);

    let response = invoke(&vault, call("signco/api", "GET", "/v1/echo"));
    let sent = upstream.requests().pop().unwrap();
    let value = sent.header("x-signature").unwrap().to_string();
    let signature = value.strip_prefix("v1=").unwrap().to_string();
    assert_response_clean(&response, &[&hmac_key, &value, &signature]);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["headers"]["x-signature"], "[REDACTED]");
    assert_eq!(
        body["headers"]["x-timestamp"],
        sent.header("x-timestamp").unwrap()
    );

    let response = invoke(&vault, call("gateway/api", "GET", "/prod/echo"));
    let sent = upstream.requests().pop().unwrap();
    let authorization = sent.header("authorization").unwrap().to_string();
    let signature = authorization
        .rsplit_once("Signature=")
        .unwrap()
        .1
        .to_string();
    assert_eq!(signature.len(), 64);
    assert_response_clean(&response, &[&secret_key, &authorization, &signature]);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["headers"]["authorization"], "[REDACTED]");
    for (name, value) in &response.headers {
        assert!(!value.contains(&signature), "{name}: {value}");
    }
    assert_audit_clean(&vault, &hmac_key);
    assert_audit_clean(&vault, &secret_key);
}
