//! Multi-field secrets, end to end: a credential backed by ONE secret holding a JSON object of
//! its roles (`{"username":..,"password":..}`, `{"accessKeyId":..,"secretAccessKey":..}`,
//! `{"certPem":..,"keyPem":..}`, ...) is created with a single `--secret-ref` and invoked
//! against a loopback upstream (plain HTTP, HTTPS, mTLS) that records the exact bytes it got.
//! A malformed JSON secret fails only its own credential's call, with `invalid_input` naming
//! the field and never its content; every other credential keeps working.
//!
//! AWS SigV4 signatures are recomputed here with `hmac`/`sha2`, independently of the broker.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{
    AuthOptions, Config, Credential, Error, ErrorKind, Invocation, InvokeResponse, NetworkOptions,
    NewCapability, NewCredential, PlanContext, SecretMeta, Vault,
};
use aivault_testkit::{Pki, Recorded, Upstream, echo_handler};
use base64::Engine as _;
use common::{TestDir, all_events, assert_audit_clean, assert_audit_ok, canary, create};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A vault whose broker sends `hosts` to `upstream`, trusting `pki`'s CA (debug-only routing).
fn routed_vault(t: &TestDir, upstream: &Upstream, hosts: &[&str], pki: &Pki) -> Vault {
    let spec = hosts
        .iter()
        .map(|h| format!("{h}=127.0.0.1:{}", upstream.port()))
        .collect::<Vec<_>>()
        .join(",");
    Vault::open(Config {
        dev_routes: DevRoutes::parse(&spec).unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    })
    .unwrap()
}

/// An HTTPS echo upstream for `hosts` and a vault routed to it.
fn https_setup(t: &TestDir, hosts: &[&str]) -> (Upstream, Vault) {
    let pki = Pki::new(hosts);
    let upstream = Upstream::https(&pki, echo_handler());
    let vault = routed_vault(t, &upstream, hosts, &pki);
    (upstream, vault)
}

/// The exact head the broker sends: request line, the client's fixed headers, the broker's
/// `accept-encoding: identity`, then `extra` in order.
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

fn auth(kind: &str) -> AuthOptions {
    AuthOptions {
        kind: Some(kind.into()),
        ..AuthOptions::default()
    }
}

/// `credential create` with a custom provider and the given refs.
fn new_credential(
    id: &str,
    provider: &str,
    auth: AuthOptions,
    hosts: &[&str],
    refs: &[String],
    network: NetworkOptions,
) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: provider.into(),
        secret_refs: refs.to_vec(),
        auth,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        network,
        ..NewCredential::default()
    }
}

fn create_credential(vault: &Vault, new: NewCredential) -> Credential {
    let id = new.id.clone();
    vault
        .create_credential(new)
        .unwrap_or_else(|e| panic!("create credential {id}: {} ({})", e.message(), e.kind()))
}

/// A capability of `provider` on `host` under `/v1`, served by any of its credentials.
fn capability(vault: &Vault, id: &str, provider: &str, host: &str) {
    vault
        .create_capability(NewCapability {
            id: id.into(),
            provider: Some(provider.into()),
            credential: None,
            methods: vec!["GET".into(), "POST".into()],
            paths: vec!["/v1".into()],
            hosts: vec![host.into()],
        })
        .unwrap_or_else(|e| panic!("create capability {id}: {} ({})", e.message(), e.kind()));
}

/// The credential's one link is the JSON role `*`, to this secret.
fn assert_json_link(credential: &Credential, secret: &SecretMeta) {
    assert_eq!(credential.secrets.len(), 1, "{:?}", credential.secrets);
    assert_eq!(credential.secrets[0].role, "*");
    assert_eq!(credential.secrets[0].secret_ref, secret.secret_ref());
}

fn call(capability: &str, credential: Option<&str>, path: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        credential: credential.map(str::to_string),
        method: Some("GET".into()),
        path: Some(path.into()),
        ..Default::default()
    }
}

fn invoke(vault: &Vault, invocation: Invocation) -> InvokeResponse {
    vault
        .invoke(&invocation)
        .unwrap_or_else(|e| panic!("{}: {} ({})", invocation.capability, e.message(), e.kind()))
}

fn invoke_err(vault: &Vault, invocation: Invocation) -> Error {
    match vault.invoke(&invocation) {
        Ok(r) => panic!(
            "{}: expected an error, got {}",
            invocation.capability, r.status
        ),
        Err(e) => e,
    }
}

/// No needle in the response (body, headers, planned request) nor in the audit log, whose
/// chain verifies.
fn assert_clean(vault: &Vault, response: &InvokeResponse, needles: &[&str]) {
    let body = String::from_utf8_lossy(&response.body);
    let planned = format!("{:?}", response.planned);
    for needle in needles {
        assert!(!body.contains(needle), "the body leaks {needle}: {body}");
        assert!(!planned.contains(needle), "planned leaks {needle}");
        for (name, value) in &response.headers {
            assert!(!value.contains(needle), "header {name} leaks {needle}");
        }
        assert_audit_clean(vault, needle);
    }
    assert_audit_ok(vault);
}

/// An `invalid_input` whose message names `field` and holds none of `needles`.
fn assert_names_field(err: &Error, field: &str, needles: &[&str]) {
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.message());
    assert!(
        err.message().contains(field),
        "the message does not name {field}: {}",
        err.message()
    );
    let text = format!("{} {err:?}", err.message());
    for needle in needles {
        assert!(!text.contains(needle), "the error leaks {needle}: {text}");
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---------------------------------------------------------------------------------------------
// basic
// ---------------------------------------------------------------------------------------------

/// `--auth basic` with one secret `{"username","password"}` (the original tool's form), to a
/// local service over plain HTTP: `authorization: Basic b64(user:password)` goes on the wire,
/// exactly; the credential links the secret under the JSON role `*`; nothing of the password
/// comes back or reaches the audit log.
#[test]
fn basic_from_one_json_secret_over_http() {
    let upstream = Upstream::http(echo_handler());
    let t = TestDir::new();
    let vault = t.open();
    let password = canary();
    let json = format!(r#"{{"username":"alice","password":"{password}"}}"#);
    let secret = create(&vault, "LOCAL_BASIC", &json).secret;
    let host = format!("localhost:{}", upstream.port());
    let credential = create_credential(
        &vault,
        new_credential(
            "local-basic",
            "localbasic",
            auth("basic"),
            &[&host],
            &[secret.secret_ref()],
            NetworkOptions {
                allow_private_network: true,
                insecure_http: true,
                ca_cert: None,
            },
        ),
    );
    assert_json_link(&credential, &secret);
    // A capability of that one credential (its host, with a port, comes from the credential).
    vault
        .create_capability(NewCapability {
            id: "localbasic/api".into(),
            provider: None,
            credential: Some("local-basic".into()),
            methods: vec!["GET".into()],
            paths: vec!["/v1".into()],
            hosts: vec![],
        })
        .unwrap();

    let response = invoke(&vault, call("localbasic/api", None, "/v1/me"));
    assert_eq!(response.status, 200);
    let basic = b64(&format!("alice:{password}"));
    assert_eq!(
        upstream.requests()[0].raw_head,
        expected_head(
            "GET",
            "/v1/me",
            &host,
            0,
            &[("authorization", &format!("Basic {basic}"))]
        )
    );
    assert_eq!(response.planned.url, format!("http://{host}/v1/me"));
    assert_clean(&vault, &response, &[&password, &basic, &json]);
}

/// A registry provider whose auth has several roles (Jira: basic `{{email}}`/`{{api_token}}`)
/// takes one JSON secret through `credential create --provider jira --secret-ref <one ref>`:
/// keyed by its roles, or by the original's `username`/`password`. The registry's two-secret
/// form (JIRA_EMAIL + JIRA_API_TOKEN, auto-provisioned) keeps working next to it.
#[test]
fn registry_basic_jira_from_one_json_secret() {
    let host = "acme.atlassian.net";
    let t = TestDir::new();
    let (upstream, vault) = https_setup(&t, &[host]);
    let token = canary();
    let by_role = create(
        &vault,
        "JIRA_JSON",
        &format!(r#"{{"email":"me@acme.test","api_token":"{token}"}}"#),
    )
    .secret;
    let original_token = canary();
    let original = create(
        &vault,
        "JIRA_ORIGINAL",
        &format!(r#"{{"username":"ops@acme.test","password":"{original_token}"}}"#),
    )
    .secret;
    for (id, secret) in [("jira-json", &by_role), ("jira-original", &original)] {
        let credential = create_credential(
            &vault,
            NewCredential {
                id: id.into(),
                provider: "jira".into(),
                secret_refs: vec![secret.secret_ref()],
                hosts: vec![host.into()],
                ..NewCredential::default()
            },
        );
        assert_json_link(&credential, secret);
        assert_eq!(credential.alternative, "default");
    }
    let path = "/rest/api/3/issue/OPS-1";
    invoke(&vault, call("jira/issues", Some("jira-json"), path));
    invoke(&vault, call("jira/issues", Some("jira-original"), path));
    let requests = upstream.requests();
    for (request, user, password) in [
        (&requests[0], "me@acme.test", &token),
        (&requests[1], "ops@acme.test", &original_token),
    ] {
        assert_eq!(
            request.raw_head,
            expected_head(
                "GET",
                path,
                host,
                0,
                &[(
                    "authorization",
                    &format!("Basic {}", b64(&format!("{user}:{password}")))
                )]
            )
        );
    }

    // The two-secret registry form, explicitly named roles.
    let email = create(&vault, "JIRA_EMAIL", "two@acme.test").secret;
    let two_token = canary();
    let api_token = create(&vault, "JIRA_API_TOKEN", &two_token).secret;
    let two = create_credential(
        &vault,
        NewCredential {
            id: "jira-two".into(),
            provider: "jira".into(),
            secret_refs: vec![
                format!("email={}", email.secret_ref()),
                format!("api_token={}", api_token.secret_ref()),
            ],
            hosts: vec![host.into()],
            ..NewCredential::default()
        },
    );
    assert_eq!(
        two.secrets
            .iter()
            .map(|s| s.role.as_str())
            .collect::<Vec<_>>(),
        ["api_token", "email"]
    );
    let response = invoke(&vault, call("jira/issues", Some("jira-two"), path));
    assert_eq!(
        upstream.requests()[2].header("authorization"),
        Some(format!("Basic {}", b64(&format!("two@acme.test:{two_token}"))).as_str())
    );
    assert_clean(&vault, &response, &[&token, &original_token, &two_token]);
}

// ---------------------------------------------------------------------------------------------
// multi-header (and multi-query)
// ---------------------------------------------------------------------------------------------

/// `--auth multi-header` with templates naming `key` and `token`, backed by one secret
/// `{"key","token"}`: both headers go on the wire in order, filled from the JSON fields; the
/// registry's Datadog (multi-header) and Trello (multi-query) take one JSON secret of their
/// roles too.
#[test]
fn multi_header_and_multi_query_from_one_json_secret() {
    let hosts = ["api.multi.test", "api.datadoghq.eu", "api.trello.com"];
    let t = TestDir::new();
    let (upstream, vault) = https_setup(&t, &hosts);

    let key = canary();
    let token = canary();
    let secret = create(
        &vault,
        "MULTI_JSON",
        &format!(r#"{{"key":"{key}","token":"{token}","note":["ignored"]}}"#),
    )
    .secret;
    let credential = create_credential(
        &vault,
        new_credential(
            "multi",
            "multico",
            AuthOptions {
                auth_headers: vec!["X-Key={{key}}".into(), "x-token=T {{token}}".into()],
                ..auth("multi-header")
            },
            &["api.multi.test"],
            &[secret.secret_ref()],
            NetworkOptions::default(),
        ),
    );
    assert_json_link(&credential, &secret);
    capability(&vault, "multico/api", "multico", "api.multi.test");
    let response = invoke(&vault, call("multico/api", None, "/v1/items"));
    assert_eq!(
        upstream.requests()[0].raw_head,
        expected_head(
            "GET",
            "/v1/items",
            "api.multi.test",
            0,
            &[("x-key", &key), ("x-token", &format!("T {token}"))]
        )
    );
    assert_clean(&vault, &response, &[&key, &token]);

    // Datadog (registry multi-header): roles api_key / app_key.
    let api_key = canary();
    let app_key = canary();
    let dd = create(
        &vault,
        "DATADOG_JSON",
        &format!(r#"{{"api_key":"{api_key}","appKey":"{app_key}"}}"#),
    )
    .secret;
    let credential = create_credential(
        &vault,
        NewCredential {
            id: "dd-json".into(),
            provider: "datadog".into(),
            secret_refs: vec![dd.secret_ref()],
            hosts: vec!["api.datadoghq.eu".into()],
            ..NewCredential::default()
        },
    );
    assert_json_link(&credential, &dd);
    let response = invoke(&vault, call("datadog/validate", None, "/api/v1/validate"));
    assert_eq!(
        upstream.requests()[1].raw_head,
        expected_head(
            "GET",
            "/api/v1/validate",
            "api.datadoghq.eu",
            0,
            &[("dd-api-key", &api_key), ("dd-application-key", &app_key)]
        )
    );
    assert_clean(&vault, &response, &[&api_key, &app_key]);

    // Trello (registry multi-query): key and token follow the caller's query.
    let trello_key = canary();
    let trello_token = canary();
    let trello = create(
        &vault,
        "TRELLO_JSON",
        &format!(r#"{{"key":"{trello_key}","token":"{trello_token}"}}"#),
    )
    .secret;
    create_credential(
        &vault,
        NewCredential {
            id: "trello-json".into(),
            provider: "trello".into(),
            secret_refs: vec![trello.secret_ref()],
            ..NewCredential::default()
        },
    );
    let response = invoke(
        &vault,
        call("trello/boards", None, "/1/boards/b1?fields=name"),
    );
    assert_eq!(
        upstream.requests()[2].raw_head,
        expected_head(
            "GET",
            &format!("/1/boards/b1?fields=name&key={trello_key}&token={trello_token}"),
            "api.trello.com",
            0,
            &[]
        )
    );
    assert_eq!(
        response.planned.url,
        "https://api.trello.com/1/boards/b1?fields=name&key=REDACTED&token=REDACTED"
    );
    assert_clean(&vault, &response, &[&trello_key, &trello_token]);
}

// ---------------------------------------------------------------------------------------------
// aws-sigv4
// ---------------------------------------------------------------------------------------------

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS URI encoding: unreserved bytes kept, the rest `%XX`; `/` kept when `keep_slash`.
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

/// The access key id, region, service and signed headers of a received SigV4 request, after
/// checking its signature against `secret_access_key` from the AWS General Reference's
/// algorithm (canonical request, string to sign, derived key). Test queries hold only
/// unreserved characters, so they are canonical once sorted.
fn verify_sigv4(request: &Recorded, secret_access_key: &str) -> (String, String, String, String) {
    let authorization = request.header("authorization").unwrap();
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .unwrap_or_else(|| panic!("not SigV4: {authorization}"));
    let (credential, rest) = rest.split_once(", SignedHeaders=").unwrap();
    let (signed, signature) = rest.split_once(", Signature=").unwrap();
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5);
    let (date, region, service) = (scope[1], scope[2], scope[3]);
    let amz_date = request.header("x-amz-date").unwrap();
    assert!(amz_date.starts_with(date));
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort();
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let values = request.header_all(name);
        assert!(!values.is_empty(), "signed header {name} was not sent");
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        request.method,
        aws_encode(path.as_bytes(), true),
        pairs.join("&"),
        hex(&Sha256::digest(&request.body))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    assert_eq!(
        signature,
        hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes())),
        "signature mismatch; canonical request:\n{canonical_request}"
    );
    (
        scope[0].to_string(),
        region.to_string(),
        service.to_string(),
        signed.to_string(),
    )
}

/// `--auth aws-sigv4` backed by one secret in the original's camelCase
/// (`accessKeyId`, `secretAccessKey`, `sessionToken`), and the registry's Bedrock backed by
/// one snake_case secret (`access_key_id`, `secret_access_key`): each request carries a
/// signature that verifies with the JSON's secret key, the session token when given, and the
/// exact head; the secret key never goes on the wire or comes back.
#[test]
fn aws_sigv4_from_one_json_secret() {
    let host = "api.sigv4.test";
    let runtime = "bedrock-runtime.eu-west-1.amazonaws.com";
    let t = TestDir::new();
    let (upstream, vault) = https_setup(&t, &[host, runtime]);

    let secret_key = canary();
    let session = canary();
    let secret = create(
        &vault,
        "GW_AWS_JSON",
        &format!(
            r#"{{"accessKeyId":"AKIDJSON","secretAccessKey":"{secret_key}","sessionToken":"{session}"}}"#
        ),
    )
    .secret;
    let credential = create_credential(
        &vault,
        new_credential(
            "gateway",
            "gateway",
            AuthOptions {
                aws_service: Some("execute-api".into()),
                aws_region: Some("eu-west-3".into()),
                ..auth("aws-sigv4")
            },
            &[host],
            &[secret.secret_ref()],
            NetworkOptions::default(),
        ),
    );
    assert_json_link(&credential, &secret);
    capability(&vault, "gateway/api", "gateway", host);
    let response = invoke(&vault, call("gateway/api", None, "/v1/items?z=1&a=2"));
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    let (akid, region, service, signed) = verify_sigv4(received, &secret_key);
    assert_eq!(
        (akid.as_str(), region.as_str(), service.as_str()),
        ("AKIDJSON", "eu-west-3", "execute-api")
    );
    assert_eq!(
        signed,
        "accept-encoding;host;x-amz-date;x-amz-security-token"
    );
    let amz_date = received.header("x-amz-date").unwrap();
    let authorization = received.header("authorization").unwrap();
    assert_eq!(
        received.raw_head,
        expected_head(
            "GET",
            "/v1/items?z=1&a=2",
            host,
            0,
            &[
                ("x-amz-date", amz_date),
                ("x-amz-security-token", &session),
                ("authorization", authorization),
            ]
        )
    );
    assert!(!received.all_text().contains(&secret_key));
    assert_clean(&vault, &response, &[&secret_key, &session]);

    // Bedrock, one snake_case JSON secret without a session token.
    let bedrock_key = canary();
    let bedrock = create(
        &vault,
        "BEDROCK_JSON",
        &format!(r#"{{"access_key_id":"AKIDBEDROCK","secret_access_key":"{bedrock_key}"}}"#),
    )
    .secret;
    let credential = create_credential(
        &vault,
        NewCredential {
            id: "bedrock-json".into(),
            provider: "aws-bedrock".into(),
            secret_refs: vec![bedrock.secret_ref()],
            hosts: vec![runtime.into()],
            ..NewCredential::default()
        },
    );
    assert_json_link(&credential, &bedrock);
    let body = br#"{"messages":[]}"#.to_vec();
    let path = "/model/m1/converse";
    let response = invoke(
        &vault,
        Invocation {
            method: Some("POST".into()),
            headers: vec![("content-type".into(), "application/json".into())],
            body: aivault_core::RequestBody::Bytes(body.clone()),
            ..call("aws-bedrock/runtime", None, path)
        },
    );
    let received = &upstream.requests()[1];
    let (akid, region, service, signed) = verify_sigv4(received, &bedrock_key);
    assert_eq!(
        (akid.as_str(), region.as_str(), service.as_str()),
        ("AKIDBEDROCK", "eu-west-1", "bedrock")
    );
    assert_eq!(signed, "accept-encoding;content-type;host;x-amz-date");
    assert_eq!(received.header("x-amz-security-token"), None);
    assert_eq!(received.body, body);
    assert!(!received.all_text().contains(&bedrock_key));
    assert_clean(&vault, &response, &[&bedrock_key, &secret_key]);
}

// ---------------------------------------------------------------------------------------------
// mtls
// ---------------------------------------------------------------------------------------------

/// `--auth mtls` backed by one secret `{"certPem","keyPem"}` (and its snake_case twin
/// `{"cert_pem","key_pem"}`): the upstream records exactly the vault's client certificate,
/// and nothing of the key is on the wire or comes back.
#[test]
fn mtls_from_one_json_secret() {
    let host = "api.mtls.test";
    let t = TestDir::new();
    let pki = Pki::new(&[host]);
    let upstream = Upstream::https_mtls(&pki, echo_handler());
    let vault = routed_vault(&t, &upstream, &[host], &pki);
    let json = |cert: &str, key: &str| {
        serde_json::json!({ cert: pki.client_cert_pem, key: pki.client_key_pem }).to_string()
    };
    let key_body = pki
        .client_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    for (i, (id, cert, key)) in [
        ("mtls-camel", "certPem", "keyPem"),
        ("mtls-snake", "cert_pem", "key_pem"),
    ]
    .into_iter()
    .enumerate()
    {
        let secret = create(
            &vault,
            &id.to_ascii_uppercase().replace('-', "_"),
            &json(cert, key),
        )
        .secret;
        let credential = create_credential(
            &vault,
            new_credential(
                id,
                "mtlsco",
                auth("mtls"),
                &[host],
                &[secret.secret_ref()],
                NetworkOptions::default(),
            ),
        );
        assert_json_link(&credential, &secret);
        if i == 0 {
            capability(&vault, "mtlsco/api", "mtlsco", host);
        }
        let response = invoke(&vault, call("mtlsco/api", Some(id), "/v1/whoami"));
        assert_eq!(response.status, 200);
        let received = &upstream.requests()[i];
        assert_eq!(
            received.tls_client_cert.as_deref(),
            Some(pki.client_cert_der().as_ref())
        );
        assert_eq!(
            received.raw_head,
            expected_head("GET", "/v1/whoami", host, 0, &[])
        );
        assert!(!received.all_text().contains(&key_body));
        assert_clean(&vault, &response, &[&key_body, "PRIVATE KEY"]);
    }
}

// ---------------------------------------------------------------------------------------------
// oauth2
// ---------------------------------------------------------------------------------------------

/// `--auth oauth2` takes its one JSON secret in the original's camelCase (`clientId`,
/// `refreshToken`, `accessToken`, `expiresAt`): a fresh access token from it goes on the wire
/// as `Bearer` with no token request. A secret missing `clientId`, or with an ill-typed
/// `expiresAt`, is `invalid_input` naming the field, and nothing is sent.
#[test]
fn oauth2_from_one_camel_case_json_secret() {
    let hosts = ["api.acme.test", "auth.acme.test"];
    let t = TestDir::new();
    let (upstream, vault) = https_setup(&t, &hosts);
    let access = canary();
    let refresh = canary();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let oauth = |id: &str, json: &str| {
        let secret = create(&vault, &id.to_ascii_uppercase().replace('-', "_"), json).secret;
        create_credential(
            &vault,
            new_credential(
                id,
                "acme",
                AuthOptions {
                    token_endpoint: Some("https://auth.acme.test/token".into()),
                    ..auth("oauth2")
                },
                &hosts,
                &[secret.secret_ref()],
                NetworkOptions::default(),
            ),
        )
    };
    let good = oauth(
        "acme-good",
        &format!(
            r#"{{"clientId":"c1","refreshToken":"{refresh}","accessToken":"{access}","expiresAt":{expires}}}"#
        ),
    );
    assert_eq!(good.secrets[0].role, "secret");
    capability(&vault, "acme/api", "acme", "api.acme.test");
    let response = invoke(&vault, call("acme/api", Some("acme-good"), "/v1/me"));
    assert_eq!(response.status, 200);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1, "no token request for a fresh token");
    assert_eq!(
        requests[0].raw_head,
        expected_head(
            "GET",
            "/v1/me",
            "api.acme.test",
            0,
            &[("authorization", &format!("Bearer {access}"))]
        )
    );
    assert_clean(&vault, &response, &[&access, &refresh]);

    let missing = canary();
    oauth(
        "acme-missing",
        &format!(r#"{{"refreshToken":"{missing}","accessToken":"{missing}"}}"#),
    );
    let err = invoke_err(&vault, call("acme/api", Some("acme-missing"), "/v1/me"));
    assert_names_field(&err, "\"client_id\"", &[&missing]);
    let ill = canary();
    oauth(
        "acme-ill",
        &format!(r#"{{"clientId":"c1","accessToken":"{ill}","expiresAt":"{ill}"}}"#),
    );
    let err = invoke_err(&vault, call("acme/api", Some("acme-ill"), "/v1/me"));
    assert_names_field(&err, "\"expiresAt\" must be an integer", &[&ill]);
    assert_eq!(
        upstream.requests().len(),
        1,
        "nothing sent for a bad secret"
    );
    assert_audit_clean(&vault, &missing);
    assert_audit_clean(&vault, &ill);
}

// ---------------------------------------------------------------------------------------------
// Malformed JSON secrets
// ---------------------------------------------------------------------------------------------

/// Each malformed JSON secret of a basic credential (a field missing, a field of the wrong
/// type, not JSON, a JSON array, a JSON string, a field spelled twice, an aws secret with
/// both spellings) fails that credential's call with `invalid_input` naming the field (or
/// the JSON type), never its content (in the message, Debug form, or audit log); nothing is
/// sent. Between each failure another JSON credential and a plain header credential of the
/// same capability keep working, listing and planning every credential still work, and the
/// refusal is audited as `error:invalid_input`.
#[test]
fn malformed_json_secrets_fail_alone_and_name_the_field() {
    let host = "api.basic.test";
    let t = TestDir::new();
    let (upstream, vault) = https_setup(&t, &[host]);
    let good_password = canary();
    let good = create(
        &vault,
        "GOOD_JSON",
        &format!(r#"{{"username":"bob","password":"{good_password}"}}"#),
    )
    .secret;
    create_credential(
        &vault,
        new_credential(
            "good",
            "basicco",
            auth("basic"),
            &[host],
            &[good.secret_ref()],
            NetworkOptions::default(),
        ),
    );
    let plain_value = canary();
    let plain = create(&vault, "PLAIN_KEY", &plain_value).secret;
    create_credential(
        &vault,
        new_credential(
            "plain",
            "basicco",
            AuthOptions {
                header_name: Some("x-key".into()),
                value_template: Some("{{secret}}".into()),
                ..auth("header")
            },
            &[host],
            &[plain.secret_ref()],
            NetworkOptions::default(),
        ),
    );
    capability(&vault, "basicco/api", "basicco", host);

    let c = canary();
    let cases: Vec<(&str, AuthOptions, String, &str)> = vec![
        (
            "missing",
            auth("basic"),
            format!(r#"{{"username":"{c}"}}"#),
            "has no \"password\" field",
        ),
        (
            "number",
            auth("basic"),
            format!(r#"{{"username":"{c}","password":12345}}"#),
            "\"password\" must be a string, not a number",
        ),
        (
            "null",
            auth("basic"),
            format!(r#"{{"username":null,"password":"{c}"}}"#),
            "has no \"username\" field",
        ),
        (
            "object",
            auth("basic"),
            format!(r#"{{"username":{{"v":"{c}"}},"password":"{c}"}}"#),
            "\"username\" must be a string, not an object",
        ),
        ("not-json", auth("basic"), c.clone(), "is not valid JSON"),
        (
            "truncated",
            auth("basic"),
            format!(r#"{{"username":"{c}","password":"{c}"#),
            "is not valid JSON",
        ),
        (
            "array",
            auth("basic"),
            format!(r#"["{c}","{c}"]"#),
            "must be a JSON object, not an array",
        ),
        (
            "string",
            auth("basic"),
            format!(r#""{c}""#),
            "must be a JSON object, not a string",
        ),
        (
            "twice",
            auth("basic"),
            format!(r#"{{"username":"a","password":"{c}","password":"{c}x"}}"#),
            "gives \"password\" twice",
        ),
        (
            "aws-both",
            AuthOptions {
                aws_service: Some("execute-api".into()),
                aws_region: Some("eu-west-3".into()),
                ..auth("aws-sigv4")
            },
            format!(r#"{{"accessKeyId":"A","access_key_id":"{c}","secretAccessKey":"{c}"}}"#),
            "both \"accessKeyId\" and \"access_key_id\"",
        ),
    ];
    let mut sent = 0;
    for (id, options, json, expected) in cases {
        let secret = create(&vault, &format!("BAD_{}", id.replace('-', "_")), &json).secret;
        // Creating it works: the value is only read (decrypted) at invoke.
        create_credential(
            &vault,
            new_credential(
                id,
                "basicco",
                options,
                &[host],
                &[secret.secret_ref()],
                NetworkOptions::default(),
            ),
        );
        let err = invoke_err(&vault, call("basicco/api", Some(id), "/v1/me"));
        assert_names_field(&err, expected, &[&c]);
        assert!(
            err.message().contains(&format!("credential '{id}'")),
            "{}",
            err.message()
        );
        assert_eq!(upstream.requests().len(), sent, "{id}: something was sent");
        let event = all_events(&vault)
            .into_iter()
            .find(|e| e.kind == "capability.invoke")
            .unwrap();
        assert_eq!(event.credential_id.as_deref(), Some(id));
        assert!(
            event
                .note
                .unwrap_or_default()
                .starts_with("outcome=error:invalid_input "),
            "{id}"
        );

        // Every other credential still lists, plans and invokes.
        assert!(
            vault
                .list_credentials()
                .unwrap()
                .iter()
                .any(|c| c.id == "good")
        );
        for other in ["good", "plain"] {
            let plan = vault
                .plan(
                    "basicco/api",
                    &PlanContext {
                        credential: Some(other.into()),
                        ..PlanContext::default()
                    },
                )
                .unwrap();
            assert_eq!(plan.credential, other);
            invoke(&vault, call("basicco/api", Some(other), "/v1/me"));
        }
        let requests = upstream.requests();
        assert_eq!(
            requests[sent].header("authorization"),
            Some(format!("Basic {}", b64(&format!("bob:{good_password}"))).as_str())
        );
        assert_eq!(
            requests[sent + 1].header("x-key"),
            Some(plain_value.as_str())
        );
        sent += 2;
        assert_audit_clean(&vault, &c);
    }
    assert_audit_ok(&vault);
}

// ---------------------------------------------------------------------------------------------
// Creation rules
// ---------------------------------------------------------------------------------------------

/// A single ref means a JSON secret only where the original keeps several roles in one secret
/// (basic, multi-header, multi-query, aws-sigv4, mtls): a header template naming two roles
/// still needs `ROLE=` refs; a secret pinned to a registry provider (one value by its name)
/// is never taken for a JSON secret; the JSON role `{{*}}` cannot be used in a template.
#[test]
fn single_ref_json_creation_rules() {
    let t = TestDir::new();
    let vault = t.open();
    let value = canary();
    let secret = create(&vault, "SOME_JSON", &value).secret;
    let refused = |new: NewCredential, expected: &str| {
        let err = vault.create_credential(new).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.message());
        assert!(err.message().contains(expected), "{}", err.message());
        assert!(!err.message().contains(&value));
    };
    refused(
        new_credential(
            "two-in-header",
            "acme",
            AuthOptions {
                header_name: Some("x-key".into()),
                value_template: Some("{{a}}:{{b}}".into()),
                ..auth("header")
            },
            &["api.acme.test"],
            &[secret.secret_ref()],
            NetworkOptions::default(),
        ),
        "say which role",
    );
    refused(
        new_credential(
            "star",
            "acme",
            AuthOptions {
                auth_headers: vec!["x-a={{*}}".into(), "x-b={{b}}".into()],
                ..auth("multi-header")
            },
            &["api.acme.test"],
            &[secret.secret_ref()],
            NetworkOptions::default(),
        ),
        "reserved",
    );
    let pinned = create(&vault, "JIRA_API_TOKEN", &canary()).secret;
    assert_eq!(pinned.pinned_provider.as_deref(), Some("jira"));
    let err = vault
        .create_credential(NewCredential {
            id: "jira-pinned".into(),
            provider: "jira".into(),
            secret_refs: vec![pinned.secret_ref()],
            auth: auth("basic"),
            hosts: vec!["acme.atlassian.net".into()],
            ..NewCredential::default()
        })
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.message());
    assert!(
        err.message().contains("say which role"),
        "{}",
        err.message()
    );
    assert!(
        vault
            .list_credentials()
            .unwrap()
            .iter()
            .all(|c| c.id != "jira-pinned")
    );
}
