//! First end-to-end check of the broker: a registry capability reached on a loopback TLS
//! upstream through the debug-only routing and test CA.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, Invocation, Scope, Vault};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, canary, new_secret};

/// An echoing HTTPS upstream standing in for api.openai.com, and a config routing to it.
fn openai_upstream(t: &TestDir) -> (Upstream, Config) {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let config = Config {
        dev_routes: DevRoutes::parse(&format!("api.openai.com=127.0.0.1:{}", upstream.port()))
            .unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    };
    (upstream, config)
}

#[test]
fn openai_models_through_the_broker() {
    let t = TestDir::new();
    let (upstream, config) = openai_upstream(&t);
    let vault = Vault::open(config).unwrap();
    let key = canary();
    vault
        .create_secret(new_secret("OPENAI_API_KEY", &key, Scope::Global))
        .unwrap();
    let response = vault
        .invoke(&Invocation {
            capability: "openai/models".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.status, 200);
    let received = &upstream.requests()[0];
    assert_eq!(received.target, "/v1/models");
    assert_eq!(
        received.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    let body = String::from_utf8_lossy(&response.body);
    assert!(!body.contains(&key), "{body}");
    assert!(body.contains("[REDACTED]"), "{body}");
    for (name, value) in &response.headers {
        assert!(!value.contains(&key), "{name}: {value}");
    }
    assert_eq!(response.planned.url, "https://api.openai.com/v1/models");
}

/// A local service (a model server on `localhost:PORT`, plain HTTP): an operator credential
/// opts in with `allow_private_network` + `insecure_http`, and the system resolver's loopback
/// answer is accepted; no test routing is involved.
#[test]
fn an_operator_credential_reaches_a_local_http_service() {
    use aivault_core::{AuthOptions, NetworkOptions, NewCapability, NewCredential};
    let upstream = Upstream::http(echo_handler());
    let t = TestDir::new();
    let vault = t.open();
    let token = canary();
    let secret = vault
        .create_secret(new_secret("LOCAL_LLM_TOKEN", &token, Scope::Global))
        .unwrap()
        .secret;
    let host = format!("localhost:{}", upstream.port());
    let new = |network: NetworkOptions| NewCredential {
        id: "local-llm".into(),
        provider: "local-llm".into(),
        secret_refs: vec![format!("vault:secret:{}", secret.secret_id)],
        auth: AuthOptions {
            kind: Some("header".into()),
            header_name: Some("authorization".into()),
            value_template: Some("Bearer {{secret}}".into()),
            ..Default::default()
        },
        hosts: vec![host.clone()],
        workspace_id: None,
        group_id: None,
        network,
    };
    let refused = vault
        .create_credential(new(NetworkOptions::default()))
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        aivault_core::ErrorKind::InvalidInput,
        "{refused}"
    );
    vault
        .create_credential(new(NetworkOptions {
            allow_private_network: true,
            insecure_http: true,
            ca_cert: None,
        }))
        .unwrap();
    vault
        .create_capability(NewCapability {
            id: "local-llm/chat".into(),
            provider: None,
            credential: Some("local-llm".into()),
            methods: vec!["POST".into()],
            paths: vec!["/v1/chat/completions".into()],
            hosts: vec![],
        })
        .unwrap();
    let response = vault
        .invoke(&Invocation {
            capability: "local-llm/chat".into(),
            body: aivault_core::RequestBody::Bytes(b"{}".to_vec()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.planned.url,
        format!("http://{host}/v1/chat/completions")
    );
    let received = &upstream.requests()[0];
    assert_eq!(received.method, "POST");
    assert_eq!(
        received.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert!(!String::from_utf8_lossy(&response.body).contains(&token));
}

/// A call refused before any credential is found is still audited, and caller input in the
/// note cannot forge its fields.
#[test]
fn refused_calls_are_audited_without_forgeable_fields() {
    let t = TestDir::new();
    let vault = t.open();
    let err = vault
        .invoke(&Invocation {
            capability: "nope/x outcome=ok".into(),
            path: Some("/a b outcome=ok?key=data".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.kind(), aivault_core::ErrorKind::CapabilityNotFound);
    let events = common::all_events(&vault);
    let event = events
        .iter()
        .find(|e| e.kind == "capability.invoke")
        .expect("an invoke event");
    let note = event.note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with("outcome=error:capability_not_found "),
        "{note}"
    );
    let outcomes = note
        .split(' ')
        .filter(|field| field.starts_with("outcome="))
        .count();
    assert_eq!(outcomes, 1, "{note}");
    assert!(note.contains("path=/a%20b%20outcome"), "{note}");
    assert!(!note.contains("key=data"), "{note}");
    assert_eq!(event.capability.as_deref(), Some("nope/x%20outcome=ok"));
    common::assert_audit_ok(&vault);
}

/// Invoke events are written in the background, and all of them are on disk once the handle
/// is dropped: another handle (another process) sees every call, on an intact chain.
#[test]
fn invoke_events_are_written_by_the_time_the_handle_is_dropped() {
    let t = TestDir::new();
    let (upstream, config) = openai_upstream(&t);
    {
        let vault = Vault::open(config).unwrap();
        vault
            .create_secret(new_secret("OPENAI_API_KEY", &canary(), Scope::Global))
            .unwrap();
        for _ in 0..20 {
            vault
                .invoke(&Invocation {
                    capability: "openai/models".into(),
                    ..Default::default()
                })
                .unwrap();
        }
    }
    let other = t.open();
    let invokes = common::all_events(&other)
        .iter()
        .filter(|e| e.kind == "capability.invoke")
        .count();
    assert_eq!(invokes, 20);
    assert_eq!(upstream.requests().len(), 20);
    common::assert_audit_ok(&other);
}

/// Calls made in a burst are appended by the background writer in batches (one head read and
/// one head write per batch): every call has its own event, chained in order, and the chain
/// and its head verify in this handle and in a new one, and accept later events.
#[test]
fn a_burst_of_calls_is_audited_event_by_event_in_one_chain() {
    let t = TestDir::new();
    let (upstream, config) = openai_upstream(&t);
    let vault = Vault::open(config.clone()).unwrap();
    vault
        .create_secret(new_secret("OPENAI_API_KEY", &canary(), Scope::Global))
        .unwrap();
    let calls = 40;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..calls / 2 {
                    let response = vault
                        .invoke(&Invocation {
                            capability: "openai/models".into(),
                            ..Default::default()
                        })
                        .unwrap();
                    assert_eq!(response.status, 200);
                }
            });
        }
    });
    assert_eq!(upstream.requests().len(), calls);
    let events = vault
        .audit(&aivault_core::AuditQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    let invokes: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "capability.invoke")
        .collect();
    assert_eq!(invokes.len(), calls);
    let mut seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>());
    assert!(vault.verify_audit().unwrap().ok);
    drop(vault);
    let reopened = Vault::open(config).unwrap();
    assert!(reopened.verify_audit().unwrap().ok);
    reopened
        .create_secret(new_secret("MY_CUSTOM_KEY", &canary(), Scope::Global))
        .unwrap();
    let verification = reopened.verify_audit().unwrap();
    assert!(verification.ok, "{verification:?}");
    assert_eq!(verification.events, seqs.len() as u64 + 1);
}
