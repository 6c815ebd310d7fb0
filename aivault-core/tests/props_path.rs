//! Properties of the broker's request-target checks (README, broker steps 2 and 3): the path
//! normaliser, the segment-aware prefix match and the owned query parameter check, over paths
//! built from the pieces attacks are made of (dot segments in every spelling, `;` parameters,
//! encoded separators, doubled slashes).
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::fuzzing::{check_query, normalize_path, prefix_admits};
use proptest::prelude::*;

/// Segment pieces: ordinary names and every trick a server-side decoder might turn into a
/// traversal.
const PIECES: &[&str] = &[
    "v1", "files", "meta", "bases", "a", "x.json", "chat.", "~", "-", "_", ".", "..", "%2e", "%2E",
    "%2e%2e", ".%2e", "%2e.", ";", ";x", ";x=1", "%3b", "%3B", "%3d", "%25", "%252e", "%2f", "%2F",
    "%5c", "\\", "%00", "%0a", "%7e", "%41", "%c3%a9", "%zz", "%", "é", " ", "?", "#", "&", "=",
    "+", ":", "@", "!", "$", "'", "(", ")", "*", ",", "[", "]", "{", "}", "|", "^", "`", "\"", "<",
    ">", "//", "/",
];

/// Allowed prefixes of the shapes the registry uses.
const PREFIXES: &[&str] = &[
    "/v1/files",
    "/v0/",
    "/v0/meta/bases",
    "/api/chat.",
    "/",
    "/v1",
    "/a/x.json",
];

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(|p| p.concat())
}

fn raw_target() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 1..6),
        prop::option::of(prop::collection::vec(segment(), 0..4)),
        any::<bool>(),
    )
        .prop_map(|(segments, query, slash)| {
            let mut raw = format!("/{}", segments.join("/"));
            if slash {
                raw.push('/');
            }
            if let Some(q) = query {
                raw.push('?');
                raw.push_str(&q.join("&"));
            }
            raw
        })
}

/// Percent-decodes every well-formed escape (what a server does before routing).
fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A segment without its `;params`, as Tomcat, Jetty and Spring read it.
fn strip_params(s: &[u8]) -> &[u8] {
    s.split(|&b| b == b';').next().unwrap_or_default()
}

/// Every way a server could read a segment: decoded before or after dropping `;params`.
fn server_views(segment: &str) -> Vec<Vec<u8>> {
    let decoded = decode(segment);
    vec![
        decoded.clone(),
        strip_params(&decoded).to_vec(),
        decode(std::str::from_utf8(strip_params(segment.as_bytes())).unwrap()),
    ]
}

#[test]
fn accepted_paths_hold_no_traversal_in_any_server_view() {
    prop_support::run(
        file!(),
        "accepted_paths_hold_no_traversal_in_any_server_view",
        3000,
        raw_target(),
        |raw| {
            let Ok((path, _)) = normalize_path(&raw) else {
                return Ok(());
            };
            prop_assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
            prop_assert!(
                !path.contains('?') && !path.contains('#'),
                "{raw:?} -> {path:?}"
            );
            prop_assert!(!path[1..].contains("//"), "{raw:?} -> {path:?}");
            for segment in path[1..].split('/') {
                for view in server_views(segment) {
                    prop_assert!(
                        view != b"." && view != b"..",
                        "{raw:?} -> {path:?}: segment {segment:?} reads as {:?}",
                        String::from_utf8_lossy(&view)
                    );
                    prop_assert!(
                        !view.contains(&b'/') && !view.contains(&b'\\'),
                        "{raw:?} -> {path:?}: segment {segment:?} decodes to a separator"
                    );
                    prop_assert!(
                        !view.iter().any(|b| b.is_ascii_control()),
                        "{raw:?} -> {path:?}: control character"
                    );
                }
            }
            // Idempotent: the normalized path is its own normal form.
            let again = normalize_path(&path).map(|(p, _)| p).ok();
            prop_assert_eq!(again.as_deref(), Some(path.as_str()), "{:?}", raw);
            Ok(())
        },
    );
}

#[test]
fn an_admitted_path_is_under_its_prefix_segment_by_segment() {
    prop_support::run(
        file!(),
        "an_admitted_path_is_under_its_prefix_segment_by_segment",
        3000,
        (raw_target(), prop::sample::select(PREFIXES)),
        |(raw, prefix)| {
            // Also paths that start with the prefix, so admissions are common.
            for raw in [
                raw.clone(),
                format!("{}{}", prefix.trim_end_matches('/'), raw),
            ] {
                let Ok((path, _)) = normalize_path(&raw) else {
                    continue;
                };
                if !prefix_admits(prefix, &path) {
                    continue;
                }
                if prefix.ends_with('/') || prefix.ends_with('.') {
                    prop_assert!(path.starts_with(prefix), "{prefix} admitted {path}");
                } else {
                    let want: Vec<&str> = prefix[1..].split('/').collect();
                    let got: Vec<&str> = path[1..].split('/').collect();
                    prop_assert!(
                        got.len() >= want.len() && got[..want.len()] == want[..],
                        "{prefix} admitted {path}"
                    );
                }
                // What a server routes (params dropped, escapes decoded) is still under the
                // prefix: no segment of it climbs back out.
                let routed: Vec<Vec<u8>> = path[1..]
                    .split('/')
                    .map(|s| strip_params(&decode(s)).to_vec())
                    .collect();
                prop_assert!(
                    !routed.iter().any(|s| s == b".." || s == b"."),
                    "{prefix} admitted {path}, routed as {routed:?}"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn owned_query_parameters_never_pass() {
    let names = prop::sample::select(
        &[
            "api_key",
            "api%5Fkey",
            "api%5fkey",
            "%61pi_key",
            "key",
            "k%65y",
            "api_key[]",
            "x",
            "API_KEY",
            "apikey",
            "",
            "api_key%00",
        ][..],
    );
    let query = prop::collection::vec(
        (
            names,
            prop::option::of(prop::sample::select(&["1", "", "%3D", "a=b"][..])),
        ),
        0..5,
    );
    prop_support::run(
        file!(),
        "owned_query_parameters_never_pass",
        3000,
        query,
        |pairs| {
            let q: Vec<String> = pairs
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}={v}"),
                    None => n.to_string(),
                })
                .collect();
            let raw = format!("/v1/x?{}", q.join("&"));
            if let Ok(names) = check_query(&raw, &["api_key", "key"]) {
                for name in names {
                    prop_assert!(
                        name != "api_key" && name != "key",
                        "{raw:?} passed with owned parameter {name:?}"
                    );
                }
            }
            Ok(())
        },
    );
}
