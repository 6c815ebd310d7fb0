//! First end-to-end check of the broker: a registry capability reached on a loopback TLS
//! upstream through the debug-only routing and test CA.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, Invocation, Scope, Vault};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, canary, new_secret};

#[test]
fn openai_models_through_the_broker() {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let t = TestDir::new();
    let config = Config {
        dev_routes: DevRoutes::parse(&format!("api.openai.com=127.0.0.1:{}", upstream.port()))
            .unwrap(),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    };
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
