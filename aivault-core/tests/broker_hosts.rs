//! Hosts of operator credentials and capabilities, end to end: IP-literal hosts of a
//! credential with `allow_private_network` are pinned (the resolver is never asked) and reach
//! a loopback upstream; an explicit port is kept on any operator credential and the request
//! goes to that port; upper-case input is lower-cased; a capability may name its credential's
//! `host:port`. Each upstream records what it received.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use aivault_core::broker::netguard::{DevRoutes, HostLookup, StaticLookup};
use aivault_core::{
    AuthOptions, Config, Error, ErrorKind, Invocation, NetworkOptions, NewCapability,
    NewCredential, Vault,
};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, assert_audit_clean, canary, create};

/// A lookup that records every name it is asked for and knows none.
#[derive(Debug, Default, Clone)]
struct RecordingLookup(Arc<Mutex<Vec<String>>>);

impl HostLookup for RecordingLookup {
    fn lookup(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.0.lock().unwrap().push(host.to_string());
        Err(io::Error::new(io::ErrorKind::NotFound, "not in this test"))
    }
}

fn header_auth() -> AuthOptions {
    AuthOptions {
        kind: Some("header".into()),
        header_name: Some("x-hosts-key".into()),
        value_template: Some("{{secret}}".into()),
        ..AuthOptions::default()
    }
}

fn credential(id: &str, secret_ref: &str, host: &str, network: NetworkOptions) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: "hostsco".into(),
        secret_refs: vec![secret_ref.into()],
        auth: header_auth(),
        hosts: vec![host.into()],
        network,
        ..NewCredential::default()
    }
}

fn capability(id: &str, credential: Option<&str>, host: &str) -> NewCapability {
    NewCapability {
        id: id.into(),
        provider: credential.is_none().then(|| "hostsco".into()),
        credential: credential.map(str::to_string),
        methods: vec!["GET".into()],
        paths: vec!["/v1".into()],
        hosts: vec![host.into()],
    }
}

fn call(capability: &str, credential: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        credential: Some(credential.into()),
        method: Some("GET".into()),
        path: Some("/v1/ping".into()),
        ..Default::default()
    }
}

fn private_http() -> NetworkOptions {
    NetworkOptions {
        allow_private_network: true,
        insecure_http: true,
        ..NetworkOptions::default()
    }
}

fn err_of<T: std::fmt::Debug>(result: aivault_core::Result<T>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// `127.0.0.1:PORT` and `[::1]:PORT` hosts of a credential with the private-network opt-in
/// reach loopback upstreams through invoke, with the secret injected and the literal as the
/// `Host`; the resolver is never consulted (no dev route either): the literal is pinned.
#[test]
fn ip_literal_hosts_with_the_opt_in_are_pinned_and_reach_loopback() {
    let t = TestDir::new();
    let lookup = RecordingLookup::default();
    let vault = Vault::open(Config {
        lookup: Arc::new(lookup.clone()),
        ..t.config()
    })
    .unwrap();
    let key = canary();
    let secret = create(&vault, "HOSTS_KEY", &key).secret;
    let v4 = Upstream::http(echo_handler());
    let v6 = Upstream::http_ipv6(echo_handler());
    for (id, upstream, host, written) in [
        (
            "c-v4",
            &v4,
            format!("127.0.0.1:{}", v4.port()),
            format!("127.0.0.1:{}", v4.port()),
        ),
        (
            "c-v6",
            &v6,
            format!("[::1]:{}", v6.port()),
            format!("[0:0::1]:{}", v6.port()),
        ),
    ] {
        let created = vault
            .create_credential(credential(
                id,
                &secret.secret_ref(),
                &written,
                private_http(),
            ))
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(created.hosts, [host.as_str()], "{written}");
        let cap = format!("hostsco/{id}");
        // The capability may name the credential's own host:port, in any spelling.
        let view = vault
            .create_capability(capability(&cap, Some(id), &written))
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(view.hosts, [host.as_str()]);

        let response = vault.invoke(&call(&cap, id)).unwrap();
        assert_eq!(response.status, 200, "{host}");
        assert_eq!(response.planned.url, format!("http://{host}/v1/ping"));
        let received = upstream.requests();
        assert_eq!(received.len(), 1, "{host}");
        assert_eq!(received[0].target, "/v1/ping");
        assert_eq!(received[0].header("host"), Some(host.as_str()));
        assert_eq!(received[0].header("x-hosts-key"), Some(key.as_str()));
        assert!(!String::from_utf8_lossy(&response.body).contains(&key));
    }
    assert!(
        lookup.0.lock().unwrap().is_empty(),
        "the resolver was consulted for a literal: {:?}",
        lookup.0.lock().unwrap()
    );
    assert_audit_clean(&vault, &key);
}

/// The network guard still judges a pinned literal: with plain HTTP (loopback only) a private
/// literal is refused at invoke, and nothing is sent.
#[test]
fn a_pinned_literal_is_still_checked_by_the_network_guard() {
    let t = TestDir::new();
    let lookup = RecordingLookup::default();
    let vault = Vault::open(Config {
        lookup: Arc::new(lookup.clone()),
        ..t.config()
    })
    .unwrap();
    let key = canary();
    let secret = create(&vault, "HOSTS_KEY", &key).secret;
    vault
        .create_credential(credential(
            "c-lan",
            &secret.secret_ref(),
            "192.168.1.20:8080",
            private_http(),
        ))
        .unwrap();
    vault
        .create_capability(capability(
            "hostsco/lan",
            Some("c-lan"),
            "192.168.1.20:8080",
        ))
        .unwrap();
    let err = err_of(vault.invoke(&call("hostsco/lan", "c-lan")), "lan");
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert!(err.message().contains("netguard"), "{err}");
    assert!(err.message().contains("loopback only"), "{err}");
    assert!(!err.message().contains(&key), "{err}");
    assert!(lookup.0.lock().unwrap().is_empty());
}

/// An explicit port on a credential without any opt-in is kept, and the request goes to that
/// port: the only dev route is for `git.hosts.test:8443`, so a request meant for another port
/// would find no route (and the lookup knows no name). `Host` and `planned.url` carry it.
#[test]
fn an_explicit_port_is_kept_and_the_request_goes_to_it() {
    let t = TestDir::new();
    let pki = Pki::new(&["git.hosts.test"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&format!(
            "git.hosts.test:8443=127.0.0.1:{}",
            upstream.port()
        ))
        .unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        lookup: Arc::new(StaticLookup::new()),
        ..t.config()
    })
    .unwrap();
    let key = canary();
    let secret = create(&vault, "HOSTS_KEY", &key).secret;
    let created = vault
        .create_credential(credential(
            "c-port",
            &secret.secret_ref(),
            "git.hosts.test:8443",
            NetworkOptions::default(),
        ))
        .unwrap();
    assert_eq!(created.hosts, ["git.hosts.test:8443"]);
    vault
        .create_capability(capability(
            "hostsco/git",
            Some("c-port"),
            "git.hosts.test:8443",
        ))
        .unwrap();
    let response = vault.invoke(&call("hostsco/git", "c-port")).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.planned.url, "https://git.hosts.test:8443/v1/ping");
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("host"), Some("git.hosts.test:8443"));
    assert_eq!(received[0].sni.as_deref(), Some("git.hosts.test"));
    assert_eq!(received[0].header("x-hosts-key"), Some(key.as_str()));

    // The same name on the default port has no route: the call fails, nothing arrives.
    vault
        .create_credential(credential(
            "c-default",
            &secret.secret_ref(),
            "git.hosts.test",
            NetworkOptions::default(),
        ))
        .unwrap();
    vault
        .create_capability(capability(
            "hostsco/git-default",
            Some("c-default"),
            "git.hosts.test",
        ))
        .unwrap();
    let err = err_of(
        vault.invoke(&call("hostsco/git-default", "c-default")),
        "default port",
    );
    assert!(!err.message().contains(&key), "{err}");
    assert_eq!(upstream.requests().len(), 1);
    assert_audit_clean(&vault, &key);
}

/// Upper-case host input is lower-cased, not refused: the credential and capability store
/// the lower-case name and the call reaches it.
#[test]
fn upper_case_hosts_are_lower_cased() {
    let t = TestDir::new();
    let pki = Pki::new(&["api.hosts.test"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&format!("api.hosts.test=127.0.0.1:{}", upstream.port()))
            .unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        lookup: Arc::new(StaticLookup::new()),
        ..t.config()
    })
    .unwrap();
    let key = canary();
    let secret = create(&vault, "HOSTS_KEY", &key).secret;
    let created = vault
        .create_credential(credential(
            "c-upper",
            &secret.secret_ref(),
            "API.Hosts.TEST",
            NetworkOptions::default(),
        ))
        .unwrap();
    assert_eq!(created.hosts, ["api.hosts.test"]);
    let view = vault
        .create_capability(capability(
            "hostsco/upper",
            Some("c-upper"),
            "API.HOSTS.test",
        ))
        .unwrap();
    assert_eq!(view.hosts, ["api.hosts.test"]);
    let response = vault.invoke(&call("hostsco/upper", "c-upper")).unwrap();
    assert_eq!(response.status, 200);
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("host"), Some("api.hosts.test"));
}

/// A capability's `host:port` must equal one of its credential's hosts (any spelling); other
/// ports of the same name, or the name without the port, are outside. Without a credential,
/// a provider of your own may name a credential's host as it is, or any DNS name with a port.
#[test]
fn capability_host_port_must_match_a_credential_host() {
    let t = TestDir::new();
    let vault = t.open();
    let key = canary();
    let secret = create(&vault, "HOSTS_KEY", &key).secret;
    vault
        .create_credential(credential(
            "c-port",
            &secret.secret_ref(),
            "git.hosts.test:8443",
            NetworkOptions::default(),
        ))
        .unwrap();
    vault
        .create_credential(credential(
            "c-local",
            &secret.secret_ref(),
            "localhost:11434",
            NetworkOptions {
                allow_private_network: true,
                ..NetworkOptions::default()
            },
        ))
        .unwrap();
    for (id, credential, host, stored) in [
        (
            "hostsco/a",
            Some("c-port"),
            "git.hosts.test:8443",
            "git.hosts.test:8443",
        ),
        (
            "hostsco/b",
            Some("c-port"),
            "GIT.Hosts.Test:8443",
            "git.hosts.test:8443",
        ),
        (
            "hostsco/c",
            None,
            "git.hosts.test:8443",
            "git.hosts.test:8443",
        ),
        ("hostsco/d", None, "LocalHost:11434", "localhost:11434"),
        (
            "hostsco/e",
            None,
            "other.hosts.test:9000",
            "other.hosts.test:9000",
        ),
    ] {
        let view = vault
            .create_capability(capability(id, credential, host))
            .unwrap_or_else(|e| panic!("{id} {host}: {e}"));
        assert_eq!(view.hosts, [stored], "{id}");
    }
    for (id, credential, host, kind) in [
        (
            "hostsco/f",
            Some("c-port"),
            "git.hosts.test:9443",
            ErrorKind::PolicyViolation,
        ),
        (
            "hostsco/g",
            Some("c-port"),
            "git.hosts.test",
            ErrorKind::PolicyViolation,
        ),
        (
            "hostsco/h",
            Some("c-port"),
            "git.hosts.test:0",
            ErrorKind::InvalidInput,
        ),
        ("hostsco/i", None, "localhost:1", ErrorKind::InvalidInput),
        (
            "hostsco/j",
            None,
            "127.0.0.1:11434",
            ErrorKind::InvalidInput,
        ),
    ] {
        let err = err_of(
            vault.create_capability(capability(id, credential, host)),
            host,
        );
        assert_eq!(err.kind(), kind, "{host}: {err}");
        assert!(vault.capability(id).is_err(), "{id} was stored");
    }
}
