//! Overlapping built-in capabilities: every pair of registry capabilities that can admit the
//! same request (a shared host, a shared method, and one's path prefix admitting a path of the
//! other). Such a call is governed by the policies of both (README, broker step 4), so a
//! policy on the narrower capability cannot be stepped around through the broader one; this
//! list makes each overlap a reviewed fact, and a new one fails the test until it is added.
#![allow(clippy::unwrap_used)]

use aivault_core::Registry;
use aivault_core::registry::host_matches;

/// Every overlapping pair of built-in capabilities, ids sorted within a pair and pairs sorted.
const EXPECTED: &[(&str, &str)] = &[
    ("airtable/meta", "airtable/records"),
    ("airtable/records", "airtable/webhooks"),
    ("google-gmail/messages-modify", "google-gmail/send"),
    ("mailgun/domains", "mailgun/sending"),
    ("mailgun/lists", "mailgun/sending"),
    ("mailgun/routes", "mailgun/sending"),
    ("netlify/deploys", "netlify/sites"),
    ("plaid/investments", "plaid/investments-sync"),
    ("plaid/item-public-token-exchange", "plaid/items"),
    ("plaid/item-remove", "plaid/items"),
    ("plaid/liabilities", "plaid/liabilities-sync"),
    ("plaid/link-token", "plaid/link-token-create"),
    ("plaid/link-token", "plaid/link-token-update"),
    ("plaid/link-token-create", "plaid/link-token-update"),
];

/// The segment-aware prefix rule of the broker (README, broker step 2), written again here.
fn admits(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') || prefix.ends_with('.') {
        return path.starts_with(prefix);
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// One capability as the broker matches it: hosts, methods and full upstream path prefixes.
struct Cap {
    id: String,
    hosts: Vec<String>,
    methods: Vec<String>,
    prefixes: Vec<String>,
}

fn builtin_capabilities() -> Vec<Cap> {
    let mut caps = Vec::new();
    for provider in Registry::builtin().providers() {
        for capability in &provider.capabilities {
            let base = capability.upstream_prefix.clone().unwrap_or_default();
            caps.push(Cap {
                id: capability.id.clone(),
                hosts: provider.capability_hosts(capability).to_vec(),
                methods: capability.methods.clone(),
                prefixes: capability
                    .paths
                    .iter()
                    .map(|p| format!("{base}{p}"))
                    .collect(),
            });
        }
    }
    caps
}

fn hosts_meet(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x == y || host_matches(x, y) || host_matches(y, x))
    })
}

fn overlap(a: &Cap, b: &Cap) -> bool {
    hosts_meet(&a.hosts, &b.hosts)
        && a.methods.iter().any(|m| b.methods.contains(m))
        && a.prefixes
            .iter()
            .any(|pa| b.prefixes.iter().any(|pb| admits(pa, pb) || admits(pb, pa)))
}

#[test]
fn overlapping_builtin_capabilities_are_the_listed_ones() {
    let caps = builtin_capabilities();
    let mut found = Vec::new();
    for (i, a) in caps.iter().enumerate() {
        for b in &caps[i + 1..] {
            if overlap(a, b) {
                let (x, y) = if a.id < b.id { (a, b) } else { (b, a) };
                found.push((x.id.clone(), y.id.clone()));
            }
        }
    }
    found.sort();
    let expected: Vec<(String, String)> = EXPECTED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let listing: String = found
        .iter()
        .map(|(a, b)| format!("    (\"{a}\", \"{b}\"),\n"))
        .collect();
    assert_eq!(
        found, expected,
        "overlapping built-in capabilities changed; the pairs now:\n{listing}"
    );
}

#[test]
fn the_overlap_rule_catches_the_known_shapes() {
    let cap = |id: &str, host: &str, methods: &[&str], prefixes: &[&str]| Cap {
        id: id.into(),
        hosts: vec![host.into()],
        methods: methods.iter().map(|m| m.to_string()).collect(),
        prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
    };
    let records = cap("a/records", "api.a.com", &["GET", "POST"], &["/v0/"]);
    let meta = cap("a/meta", "api.a.com", &["GET"], &["/v0/meta/bases"]);
    assert!(overlap(&records, &meta));
    // Another host, another method, or a sibling segment: no overlap.
    assert!(!overlap(
        &records,
        &cap("b/meta", "api.b.com", &["GET"], &["/v0/meta"])
    ));
    assert!(!overlap(
        &meta,
        &cap("a/del", "api.a.com", &["DELETE"], &["/v0/meta/bases"])
    ));
    assert!(!overlap(
        &cap("a/files", "api.a.com", &["GET"], &["/v1/files"]),
        &cap("a/filesx", "api.a.com", &["GET"], &["/v1/filesX"])
    ));
    // A host pattern meets a concrete host of its form.
    assert!(overlap(
        &cap("s/a", "*.myshopify.com", &["GET"], &["/admin"]),
        &cap("s/b", "x.myshopify.com", &["GET"], &["/admin/orders"])
    ));
    // A plain-text prefix (slack `/api/chat.`) admits the other's path.
    assert!(overlap(
        &cap("s/chat", "slack.com", &["POST"], &["/api/chat."]),
        &cap("s/post", "slack.com", &["POST"], &["/api/chat.postMessage"])
    ));
}
