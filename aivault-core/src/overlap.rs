//! Overlapping capabilities: which policies govern a call.
//!
//! Capability paths are prefixes, so two capabilities on one host can admit the same request
//! (`airtable/records` with `/v0/` admits `/v0/meta/bases` of `airtable/meta`). Were a call
//! governed only by the capability it names, an agent could step around a policy by naming the
//! broader capability. The rule: a call is governed by the policy of **every** capability —
//! registry or operator-defined — whose hosts, methods and paths admit it (the one it names and
//! each overlapping one). The strictest rate limit, the smallest size caps and the union of the
//! response blocklists apply, and the call is counted against each governing rate limit.

use crate::capabilities::{CapabilityView, find_capability};
use crate::error::{ErrorKind, Result};
use crate::model::Policy;
use crate::registry::{Registry, host_matches};
use crate::store::StoreTx;

/// The policies of other capabilities on `host`, to be matched against the call's method and
/// path once they are checked. Only capabilities with a policy can change a call, so this
/// reads the (few) policies rather than every capability. A policy left by a capability that
/// no longer exists (a registry capability removed by an upgrade) governs nothing.
pub(crate) fn host_policies(
    registry: &Registry,
    tx: &dyn StoreTx,
    invoked: &str,
    host: &str,
) -> Result<Vec<(CapabilityView, Policy)>> {
    let mut out = Vec::new();
    for (id, policy) in tx.policy_list()? {
        if id == invoked || policy.is_empty() {
            continue;
        }
        let view = match find_capability(registry, tx, &id) {
            Ok(view) => view,
            Err(e) if e.kind() == ErrorKind::CapabilityNotFound => continue,
            Err(e) => return Err(e),
        };
        if view
            .hosts
            .iter()
            .any(|pattern| pattern == host || host_matches(pattern, host))
        {
            out.push((view, policy));
        }
    }
    Ok(out)
}

/// Whether `view` admits a call of `method` to `wire_path` (the upstream path before any auth
/// prefix: the capability's `upstream_prefix`, then the caller's normalized path).
pub(crate) fn admits(view: &CapabilityView, method: &str, wire_path: &str) -> bool {
    let base = view.upstream_prefix.as_deref().unwrap_or("");
    view.methods.iter().any(|m| m == method)
        && view
            .paths
            .iter()
            .any(|p| crate::broker::path::prefix_admits(&format!("{base}{p}"), wire_path))
}

/// The policy in force for one call, and the rate limits it counts against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Governing {
    /// The strictest of every governing policy.
    pub policy: Policy,
    /// (capability, calls per minute) of each governing rate limit, the named capability first.
    pub rate_limits: Vec<(String, u32)>,
}

impl Governing {
    /// The named capability's policy, joined with each of `others` that admits the call.
    pub(crate) fn of(
        invoked: &str,
        own: &Policy,
        others: &[(CapabilityView, Policy)],
        method: &str,
        wire_path: &str,
    ) -> Governing {
        let mut governing = Governing::default();
        governing.join(invoked, own);
        for (view, policy) in others {
            if admits(view, method, wire_path) {
                governing.join(&view.id, policy);
            }
        }
        governing
    }

    fn join(&mut self, capability: &str, policy: &Policy) {
        fn min<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let p = &mut self.policy;
        p.rate_limit_per_minute = min(p.rate_limit_per_minute, policy.rate_limit_per_minute);
        p.max_request_body_bytes = min(p.max_request_body_bytes, policy.max_request_body_bytes);
        p.max_response_body_bytes = min(p.max_response_body_bytes, policy.max_response_body_bytes);
        for block in &policy.response_body_blocklist {
            if !p.response_body_blocklist.contains(block) {
                p.response_body_blocklist.push(block.clone());
            }
        }
        if let Some(limit) = policy.rate_limit_per_minute {
            self.rate_limits.push((capability.to_string(), limit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::CapabilityOrigin;

    fn view(id: &str, methods: &[&str], paths: &[&str]) -> CapabilityView {
        CapabilityView {
            id: id.into(),
            provider: "p".into(),
            description: None,
            origin: CapabilityOrigin::Custom,
            credential: None,
            hosts: vec!["api.example.com".into()],
            methods: methods.iter().map(|m| m.to_string()).collect(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            upstream_prefix: None,
        }
    }

    #[test]
    fn the_strictest_of_every_matching_policy_applies() {
        let own = Policy {
            rate_limit_per_minute: Some(10),
            max_request_body_bytes: Some(100),
            max_response_body_bytes: None,
            response_body_blocklist: vec!["a".into()],
        };
        let meta = Policy {
            rate_limit_per_minute: Some(3),
            max_request_body_bytes: None,
            max_response_body_bytes: Some(50),
            response_body_blocklist: vec!["a".into(), "b".into()],
        };
        let other = Policy {
            rate_limit_per_minute: Some(0),
            ..Policy::default()
        };
        let others = vec![
            (view("x/meta", &["GET"], &["/v0/meta"]), meta),
            // Another method, and another path: neither governs.
            (view("x/post", &["POST"], &["/v0/meta"]), other.clone()),
            (view("x/other", &["GET"], &["/v0/metadata"]), other),
        ];
        let g = Governing::of("x/records", &own, &others, "GET", "/v0/meta/bases");
        assert_eq!(g.policy.rate_limit_per_minute, Some(3));
        assert_eq!(g.policy.max_request_body_bytes, Some(100));
        assert_eq!(g.policy.max_response_body_bytes, Some(50));
        assert_eq!(g.policy.response_body_blocklist, vec!["a", "b"]);
        assert_eq!(
            g.rate_limits,
            vec![("x/records".to_string(), 10), ("x/meta".to_string(), 3)]
        );
        // Outside the other capability's paths only the named one governs.
        let g = Governing::of("x/records", &own, &others, "GET", "/v0/appX/tbl");
        assert_eq!(g.policy, own);
    }
}
