//! Path-auth templates and values, and duplicate auth header or parameter names.
//!
//! A path-prefix template that could move the capability's path into a query or fragment,
//! or put dot segments in the upstream path, is refused at `credential create` (nothing
//! stored); a secret value of `.` or `..`, or with a control character, is refused at invoke
//! before anything is sent (a loopback upstream records every request). Characters that would
//! change the path's structure are percent-encoded into one segment.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{
    AuthOptions, Config, ErrorKind, Invocation, NewCapability, NewCredential, Vault,
};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, all_events, assert_audit_clean, canary, create};

const HOST: &str = "api.pathco.test";

/// A vault whose broker sends `api.pathco.test` to an HTTPS echo upstream.
fn setup(t: &TestDir) -> (Upstream, Vault) {
    let pki = Pki::new(&[HOST]);
    let upstream = Upstream::https(&pki, echo_handler());
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&format!("{HOST}=127.0.0.1:{}", upstream.port())).unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    })
    .unwrap();
    (upstream, vault)
}

fn path_credential(id: &str, secret_ref: &str, template: &str) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: "pathco".into(),
        secret_refs: vec![secret_ref.into()],
        auth: AuthOptions {
            kind: Some("path".into()),
            path_prefix_template: Some(template.into()),
            ..AuthOptions::default()
        },
        hosts: vec![HOST.into()],
        ..NewCredential::default()
    }
}

fn credential_events(vault: &Vault) -> usize {
    all_events(vault)
        .iter()
        .filter(|e| e.kind == "credential.create")
        .count()
}

/// Templates that do not start with `/`, do not hold exactly one `{{secret}}`, or hold `?`,
/// `#`, `\`, `%`, whitespace, control characters or a `.`/`..` segment (also with the secret
/// in place) are `invalid_input` naming `--path-prefix-template`; nothing is stored or
/// audited. Sound templates are accepted.
#[test]
fn bad_path_prefix_templates_are_refused_at_create() {
    let t = TestDir::new();
    let vault = t.open();
    let key = canary();
    let secret = create(&vault, "PATHCO_TOKEN", &key).secret;
    let events = credential_events(&vault);
    for template in [
        "/bot{{secret}}#x",
        "/bot{{secret}}?x=1",
        "bot{{secret}}",
        "",
        "/bot",
        "/bot{{secret}}{{secret}}",
        "/a{{secret}}/b{{secret}}",
        "/bot{{token}}",
        "/bot{{secret}}/..",
        "/bot{{secret}}/.",
        "/../bot{{secret}}",
        "/./{{secret}}",
        "/bot{{secret}}/../x",
        "/bot{{secret}}\\x",
        "/bot{{secret}}%2e%2e",
        "/bot {{secret}}",
        "/bot{{secret}}\t",
        "/bot{{secret}}\n",
        "/bot{{secret}}\u{7f}",
        "/bot{{secret}}/é",
        "/bot{{secret}}}",
    ] {
        let err = vault
            .create_credential(path_credential("pathco", &secret.secret_ref(), template))
            .err()
            .unwrap_or_else(|| panic!("{template:?} was accepted"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{template:?}: {err}");
        assert!(
            err.message().contains("--path-prefix-template"),
            "{template:?}: {err}"
        );
        assert!(!err.message().contains(&key));
        assert!(
            vault.list_credentials().unwrap().is_empty(),
            "{template:?} stored a credential"
        );
    }
    assert_eq!(credential_events(&vault), events);
    for (id, template) in [
        ("p1", "/bot{{secret}}"),
        ("p2", "/{{secret}}"),
        ("p3", "/v1/{{ secret }}/x"),
        ("p4", "/bot{{secret}}/..x/.a"),
        ("p5", "/u:{{secret}}@x"),
    ] {
        vault
            .create_credential(path_credential(id, &secret.secret_ref(), template))
            .unwrap_or_else(|e| panic!("{template:?}: {e}"));
    }
    assert_audit_clean(&vault, &key);
}

/// A secret value of `.` or `..` (a dot segment once in `/{{secret}}`), or holding a control
/// character, is refused at invoke with `policy_violation` naming the role, never the value;
/// nothing reaches the upstream. A value with `/`, `?`, `#`, `%`, `\` or a space stays one
/// path segment, percent-encoded; a Telegram-style `123456:ABC-def_ghi` goes as it is.
#[test]
fn dot_and_control_secret_values_are_refused_at_invoke() {
    let t = TestDir::new();
    let (upstream, vault) = setup(&t);
    let key = canary();
    let secret = create(&vault, "PATHCO_TOKEN", &key).secret;
    vault
        .create_credential(path_credential(
            "pathco",
            &secret.secret_ref(),
            "/{{secret}}",
        ))
        .unwrap();
    vault
        .create_capability(NewCapability {
            id: "pathco/ping".into(),
            provider: None,
            credential: Some("pathco".into()),
            methods: vec!["GET".into()],
            paths: vec!["/v1".into()],
            hosts: vec![],
        })
        .unwrap();
    let call = Invocation {
        capability: "pathco/ping".into(),
        method: Some("GET".into()),
        path: Some("/v1/ping".into()),
        ..Default::default()
    };
    let set = |value: &str| {
        vault
            .rotate_secret(&secret.secret_id, value.into())
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
    };
    for value in [
        ".".to_string(),
        "..".to_string(),
        format!("{key}\t"),
        format!("{key}\u{1}x"),
        format!("{key}\u{7f}"),
    ] {
        set(&value);
        let err = vault
            .invoke(&call)
            .err()
            .unwrap_or_else(|| panic!("{value:?} was sent"));
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{value:?}: {err}");
        assert!(err.message().contains("{{secret}}"), "{value:?}: {err}");
        assert!(!err.message().contains(&key), "{value:?}: {err}");
        assert!(upstream.requests().is_empty(), "{value:?} reached upstream");
    }
    for (value, wire) in [
        (
            format!("{key}/..?x#y%2e\\ z"),
            format!("/{key}%2F..%3Fx%23y%252e%5C%20z/v1/ping"),
        ),
        (
            format!("123456:{key}-def_ghi"),
            format!("/123456:{key}-def_ghi/v1/ping"),
        ),
    ] {
        set(&value);
        let response = vault.invoke(&call).unwrap();
        assert_eq!(response.status, 200);
        let received = upstream.requests();
        assert_eq!(received.last().unwrap().target, wire);
        assert!(!String::from_utf8_lossy(&response.body).contains(&key));
    }
    assert_eq!(upstream.requests().len(), 2);
    assert_audit_clean(&vault, &key);
}

/// `--auth-header` names that differ only in case (`X-A`, `x-a`) are `invalid_input` naming
/// the flag, nothing stored; so are repeated `--query-param` names of `multi-query`
/// (parameter names are case-sensitive, so `Key` and `key` are two).
#[test]
fn duplicate_auth_header_and_query_param_names_are_refused() {
    let t = TestDir::new();
    let vault = t.open();
    let a = create(&vault, "PATHCO_A", &canary()).secret;
    let b = create(&vault, "PATHCO_B", &canary()).secret;
    let refs = vec![
        format!("a={}", a.secret_ref()),
        format!("b={}", b.secret_ref()),
    ];
    let events = credential_events(&vault);
    let multi = |kind: &str, headers: &[&str], params: &[&str]| NewCredential {
        id: "dup".into(),
        provider: "pathco".into(),
        secret_refs: refs.clone(),
        auth: AuthOptions {
            kind: Some(kind.into()),
            auth_headers: headers.iter().map(|s| s.to_string()).collect(),
            query_params: params.iter().map(|s| s.to_string()).collect(),
            ..AuthOptions::default()
        },
        hosts: vec![HOST.into()],
        ..NewCredential::default()
    };
    for (new, flag) in [
        (
            multi("multi-header", &["X-A={{a}}", "x-a={{b}}"], &[]),
            "--auth-header",
        ),
        (
            multi("multi-header", &["x-a={{a}}", " X-A ={{b}}"], &[]),
            "--auth-header",
        ),
        (
            multi("multi-query", &[], &["key={{a}}", "key={{b}}"]),
            "--query-param",
        ),
    ] {
        let err = vault.create_credential(new).expect_err("accepted");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.message().contains(flag), "{err}");
        assert!(err.message().contains("twice"), "{err}");
        assert!(vault.list_credentials().unwrap().is_empty());
    }
    assert_eq!(credential_events(&vault), events);
    let created = vault
        .create_credential(multi("multi-query", &[], &["Key={{a}}", "key={{b}}"]))
        .unwrap();
    assert_eq!(created.auth.param_names(), ["Key", "key"]);
    vault.delete_credential("dup").unwrap();
    vault
        .create_credential(multi("multi-header", &["X-A={{a}}", "x-b={{b}}"], &[]))
        .unwrap();
}
