//! `Vault::route`: which capability a plain HTTP request (host, method, path) goes through, as
//! a drop-in SDK transport asks before invoking — the most specific capability that admits it,
//! never one that does not, and the call then made through it reaches the upstream with the
//! vault's key.

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, ErrorKind, Invocation, NewCapability, Vault};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, canary, create, expect_err};

fn route(vault: &Vault, host: &str, method: &str, path: &str) -> (String, String) {
    let route = vault
        .route(host, method, path)
        .unwrap_or_else(|e| panic!("{method} {host}{path}: {e}"));
    (route.capability, route.path)
}

#[test]
fn requests_route_to_the_most_specific_capability_that_admits_them() {
    let t = TestDir::new();
    let vault = t.open();
    let cases = [
        (
            "api.openai.com",
            "POST",
            "/v1/chat/completions",
            "openai/chat-completions",
            "/v1/chat/completions",
        ),
        (
            "API.OpenAI.com",
            "get",
            "/v1/models?limit=2",
            "openai/models",
            "/v1/models?limit=2",
        ),
        // Overlapping prefixes: the longer one wins (`/v0/meta/bases` over `/v0/`).
        (
            "api.airtable.com",
            "GET",
            "/v0/meta/bases",
            "airtable/meta",
            "/v0/meta/bases",
        ),
        (
            "api.airtable.com",
            "GET",
            "/v0/app123/table",
            "airtable/records",
            "/v0/app123/table",
        ),
        // The upstream prefix is taken off: the capability's own path is what invoke takes.
        (
            "chatgpt.com",
            "POST",
            "/backend-api/codex/responses",
            "openai/codex-responses",
            "/responses",
        ),
        (
            "chatgpt.com",
            "GET",
            "/backend-api/wham/usage",
            "openai/codex-usage",
            "/wham/usage",
        ),
    ];
    for (host, method, path, capability, invoke_path) in cases {
        assert_eq!(
            route(&vault, host, method, path),
            (capability.to_string(), invoke_path.to_string()),
            "{method} {host}{path}"
        );
    }

    // Nothing allows these: another host, a method no capability takes, a path outside every
    // prefix (segment-aware: `/v1/modelsX` is not under `/v1/models`).
    for (host, method, path) in [
        ("evil.example", "GET", "/v1/models"),
        ("api.openai.com", "TRACE", "/v1/models"),
        ("api.openai.com", "GET", "/v2/unknown"),
        ("chatgpt.com", "POST", "/responses"),
    ] {
        let err = expect_err(vault.route(host, method, path), path);
        assert_eq!(
            err.kind(),
            ErrorKind::CapabilityNotFound,
            "{host}{path}: {err}"
        );
    }
    // A path the broker refuses is refused here too (never normalized into another route).
    for path in [
        "/v1/models/../files",
        "/v1/models/..;/files",
        "/v1/%2e%2e/files",
    ] {
        let err = expect_err(vault.route("api.openai.com", "GET", path), path);
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{path}: {err}");
    }

    // Operator capabilities route too; two equally specific ones are refused by name.
    for id in ["acme/reports", "acme/reports-copy"] {
        vault
            .create_capability(NewCapability {
                id: id.into(),
                provider: Some("acme".into()),
                methods: vec!["GET".into()],
                paths: vec!["/v1/reports".into()],
                hosts: vec!["api.acme.example".into()],
                ..NewCapability::default()
            })
            .expect("capability");
    }
    let err = expect_err(
        vault.route("api.acme.example", "GET", "/v1/reports/7"),
        "tie",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("acme/reports") && err.message().contains("acme/reports-copy"));
    vault
        .delete_capability("acme/reports-copy")
        .expect("delete");
    assert_eq!(
        route(&vault, "api.acme.example", "GET", "/v1/reports/7"),
        ("acme/reports".to_string(), "/v1/reports/7".to_string())
    );
}

/// Route, then invoke what it names: the upstream receives the request with the vault's key.
#[test]
fn a_routed_request_invokes_with_the_vaults_key() {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let t = TestDir::new();
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&format!("api.openai.com=127.0.0.1:{}", upstream.port()))
            .expect("routes"),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    })
    .expect("vault");
    let key = canary();
    create(&vault, "OPENAI_API_KEY", &key);
    let route = vault
        .route("api.openai.com", "POST", "/v1/embeddings?x=1")
        .expect("route");
    let response = vault
        .invoke(&Invocation {
            capability: route.capability,
            path: Some(route.path),
            method: Some("POST".into()),
            ..Invocation::default()
        })
        .expect("invoke");
    assert_eq!(response.status, 200);
    let received = upstream.requests();
    assert_eq!(received[0].target, "/v1/embeddings?x=1");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
}

/// The gateway's routing: among one provider's capabilities that a filter (a token) accepts.
#[test]
fn provider_routes_stay_among_the_allowed_capabilities_of_that_provider() {
    let t = TestDir::new();
    let vault = t.open();
    let all = |_: &str| true;
    let route = vault
        .route_provider("anthropic", "POST", "/v1/messages", &all)
        .expect("anthropic messages");
    assert_eq!(route.capability, "anthropic/messages");
    let route = vault
        .route_provider("openai", "POST", "/v1/chat/completions?x=1", &all)
        .expect("openai chat");
    assert_eq!(
        (route.capability.as_str(), route.path.as_str()),
        ("openai/chat-completions", "/v1/chat/completions?x=1")
    );
    // Outside the filter, or another provider's path: not found, never another capability.
    let only_models = |id: &str| id == "openai/models";
    for (provider, method, path) in [
        ("openai", "POST", "/v1/chat/completions"),
        ("anthropic", "GET", "/v1/models"),
        ("openai", "GET", "/v1/../v1/models"),
    ] {
        let err = vault
            .route_provider(provider, method, path, &only_models)
            .expect_err(path);
        assert_ne!(err.kind(), ErrorKind::Internal, "{err}");
    }
    assert_eq!(
        vault
            .route_provider("openai", "GET", "/v1/models", &only_models)
            .expect("models")
            .capability,
        "openai/models"
    );
}
