//! Overlapping capabilities (README, broker step 4): a call is governed by the policy of every
//! capability whose host, method and path admit it, so a policy on a narrow capability
//! (`airtable/meta`, `/v0/meta/bases`) also holds for the same request made through a broader
//! one (`airtable/records`, `/v0/`) or through an operator-defined capability.
#![allow(clippy::unwrap_used)]

mod common;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, ErrorKind, Invocation, NewCapability, PolicyUpdate, Scope, Vault};
use aivault_testkit::{Pki, Reply, Upstream};
use common::{TestDir, assert_audit_clean, assert_audit_ok, canary, expect_err, new_secret};

const HOST: &str = "api.airtable.com";
/// A string the upstream returns that a response blocklist names.
const CONFIDENTIAL: &str = "base-list-CONFIDENTIAL-7731";

/// A vault whose Airtable host is a loopback HTTPS upstream answering every request with
/// [`CONFIDENTIAL`].
struct Env {
    _t: TestDir,
    _pki: Pki,
    upstream: Upstream,
    vault: Vault,
    key: String,
}

impl Env {
    fn new() -> Env {
        let pki = Pki::new(&[HOST]);
        let upstream = Upstream::https(&pki, |_| {
            Reply::json(format!("{{\"x\":\"{CONFIDENTIAL}\"}}"))
        });
        let t = TestDir::new();
        let config = Config {
            dev_routes: DevRoutes::parse(&format!("{HOST}=127.0.0.1:{}", upstream.port())).unwrap(),
            dev_ca_cert: Some(pki.ca_pem.clone()),
            ..t.config()
        };
        let vault = Vault::open(config).unwrap();
        let key = canary();
        vault
            .create_secret(new_secret("AIRTABLE_API_KEY", &key, Scope::Global))
            .unwrap();
        Env {
            _t: t,
            _pki: pki,
            upstream,
            vault,
            key,
        }
    }

    fn policy(&self, capability: &str, update: PolicyUpdate) {
        self.vault.set_policy(capability, update).unwrap();
    }

    /// Expects `rate_limited` naming `governing`, with nothing sent upstream.
    fn refused(&self, invocation: &Invocation, governing: &str) {
        let before = self.upstream.requests().len();
        let err = expect_err(self.vault.invoke(invocation), "overlapping call");
        assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
        assert!(err.message().contains(governing), "{err}");
        assert!(!err.message().contains(&self.key), "{err}");
        assert_eq!(
            self.upstream.requests().len(),
            before,
            "a refused call reached the upstream"
        );
    }

    fn ok_body(&self, invocation: &Invocation) -> String {
        let response = self
            .vault
            .invoke(invocation)
            .unwrap_or_else(|e| panic!("{invocation:?}: {e}"));
        let body = String::from_utf8_lossy(&response.body).to_string();
        assert!(!body.contains(&self.key));
        body
    }

    fn finish(&self) {
        assert_audit_clean(&self.vault, &self.key);
        assert_audit_ok(&self.vault);
    }
}

fn call(capability: &str, method: &str, path: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        method: Some(method.into()),
        path: Some(path.into()),
        ..Default::default()
    }
}

fn rate(n: u32) -> PolicyUpdate {
    PolicyUpdate {
        rate_limit_per_minute: Some(n),
        ..Default::default()
    }
}

#[test]
fn a_narrow_capabilitys_rate_limit_holds_through_a_broader_one() {
    let env = Env::new();
    env.policy("airtable/meta", rate(0));
    // Directly and through airtable/records (`/v0/` admits `/v0/meta/bases`): refused,
    // nothing sent, in every spelling the normalizer turns into the same path.
    env.refused(
        &call("airtable/meta", "GET", "/v0/meta/bases"),
        "airtable/meta",
    );
    for path in [
        "/v0/meta/bases",
        "/v0/meta/bases/appX/tables",
        "/v0/meta/bases?offset=1",
        "/v0/%6deta/bases",
    ] {
        env.refused(&call("airtable/records", "GET", path), "airtable/meta");
    }
    // A method airtable/meta does not allow is not governed by it.
    env.ok_body(&call("airtable/records", "DELETE", "/v0/meta/bases/appX"));
    // Paths outside /v0/meta/bases are airtable/records' own business.
    env.ok_body(&call("airtable/records", "GET", "/v0/appX/tbl"));
    env.ok_body(&call("airtable/records", "GET", "/v0/metadata"));
    env.finish();
}

#[test]
fn every_governing_rate_limit_is_charged() {
    let env = Env::new();
    env.policy("airtable/meta", rate(1));
    // One call through airtable/records uses airtable/meta's single call of the minute.
    env.ok_body(&call("airtable/records", "GET", "/v0/meta/bases"));
    env.refused(
        &call("airtable/meta", "GET", "/v0/meta/bases"),
        "airtable/meta",
    );
    env.refused(
        &call("airtable/records", "GET", "/v0/meta/bases"),
        "airtable/meta",
    );
    // The strictest limit wins whichever capability is named: airtable/records allows many.
    env.policy("airtable/records", rate(100));
    env.refused(
        &call("airtable/records", "GET", "/v0/meta/bases"),
        "airtable/meta",
    );
    env.ok_body(&call("airtable/records", "GET", "/v0/appX/tbl"));
    env.finish();
}

#[test]
fn a_narrow_capabilitys_blocklist_and_size_caps_hold_through_a_broader_one() {
    let env = Env::new();
    env.policy(
        "airtable/meta",
        PolicyUpdate {
            response_block: Some(vec![CONFIDENTIAL.into()]),
            max_request_body_bytes: Some(8),
            ..Default::default()
        },
    );
    let body = env.ok_body(&call("airtable/records", "GET", "/v0/meta/bases"));
    assert!(!body.contains(CONFIDENTIAL), "blocklist bypassed: {body}");
    // Elsewhere under /v0/ the blocklist of airtable/meta does not apply.
    let body = env.ok_body(&call("airtable/records", "GET", "/v0/appX/tbl"));
    assert!(body.contains(CONFIDENTIAL), "{body}");
    // The request size cap of airtable/meta holds for a POST through airtable/records.
    let before = env.upstream.requests().len();
    let mut post = call("airtable/records", "POST", "/v0/meta/bases");
    post.body = aivault_core::RequestBody::Bytes(b"{\"name\":\"a large base\"}".to_vec());
    let err = expect_err(env.vault.invoke(&post), "oversized body");
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    assert_eq!(env.upstream.requests().len(), before);
    env.finish();
}

#[test]
fn operator_capabilities_overlapping_builtins_are_governed_both_ways() {
    let env = Env::new();
    // An operator capability as broad as airtable/records does not escape airtable/meta.
    env.vault
        .create_capability(NewCapability {
            id: "ops/airtable-all".into(),
            provider: Some("airtable".into()),
            credential: None,
            methods: vec!["GET".into()],
            paths: vec!["/v0".into()],
            hosts: vec![],
        })
        .unwrap();
    env.policy("airtable/meta", rate(0));
    env.refused(
        &call("ops/airtable-all", "GET", "/v0/meta/bases"),
        "airtable/meta",
    );
    env.ok_body(&call("ops/airtable-all", "GET", "/v0/appX/tbl"));
    // And an operator's policy on a narrow capability of its own governs built-in calls.
    env.vault
        .create_capability(NewCapability {
            id: "ops/airtable-tables".into(),
            provider: Some("airtable".into()),
            credential: None,
            methods: vec!["GET".into()],
            paths: vec!["/v0/appX".into()],
            hosts: vec![],
        })
        .unwrap();
    env.policy("ops/airtable-tables", rate(0));
    env.refused(
        &call("airtable/records", "GET", "/v0/appX/tbl"),
        "ops/airtable-tables",
    );
    env.refused(
        &call("ops/airtable-all", "GET", "/v0/appX/tbl"),
        "ops/airtable-tables",
    );
    env.ok_body(&call("airtable/records", "GET", "/v0/appY/tbl"));
    // Deleting the operator capability removes its policy, and with it the restriction.
    env.vault.delete_capability("ops/airtable-tables").unwrap();
    env.ok_body(&call("airtable/records", "GET", "/v0/appX/tbl"));
    env.finish();
}
