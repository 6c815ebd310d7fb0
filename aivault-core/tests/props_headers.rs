//! Properties of the broker's caller header check (README, broker step 3): whatever names and
//! values a caller sends, an accepted header is a valid token without CR/LF/NUL, never one the
//! broker owns (credentials, framing, forwarding, overrides, `accept-encoding`) in any letter
//! case, and no error message repeats a header value.
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::fuzzing::check_caller_headers;
use proptest::prelude::*;

/// Names a caller must never send (lower case), besides `x-forwarded-*` and the owned ones.
const REFUSED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
    "forwarded",
    "via",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "accept-encoding",
];

/// The credential's own headers in these cases.
const OWNED: &[&str] = &["x-api-key", "x-amz-date"];

fn name() -> impl Strategy<Value = String> {
    let known = prop::sample::select(
        REFUSED
            .iter()
            .chain(OWNED)
            .chain(&[
                "x-forwarded-for",
                "x-forwarded-host",
                "content-type",
                "accept",
            ])
            .copied()
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        // A known name in random letter case, sometimes with junk around it.
        (
            known,
            any::<u64>(),
            prop::sample::select(&["", " ", ":", "\t", "x", "\r\n", "é"][..])
        )
            .prop_map(|(n, mask, junk)| {
                let cased: String = n
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask >> (i % 64) & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                if mask % 3 == 0 {
                    format!("{cased}{junk}")
                } else {
                    cased
                }
            }),
        // Anything at all.
        ".{0,12}",
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "VALUE-[a-z]{8}",
        "VALUE-[a-z]{4}[\r\n\0\t\u{1}\u{7f}]?[a-z]{4}",
        ".{0,16}",
    ]
}

#[test]
fn accepted_headers_are_never_owned_nor_injected() {
    let owned: Vec<String> = OWNED.iter().map(|s| s.to_string()).collect();
    prop_support::run(
        file!(),
        "accepted_headers_are_never_owned_nor_injected",
        3000,
        prop::collection::vec((name(), value()), 1..4),
        |headers| {
            match check_caller_headers(&headers, &owned) {
                Ok(accepted) => {
                    prop_assert_eq!(accepted.len(), headers.len());
                    for ((name, value), (given, _)) in accepted.iter().zip(&headers) {
                        prop_assert_eq!(name, &given.to_ascii_lowercase());
                        prop_assert!(!name.is_empty());
                        prop_assert!(name.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
                        prop_assert!(!REFUSED.contains(&name.as_str()), "{name} accepted");
                        prop_assert!(!OWNED.contains(&name.as_str()), "{name} accepted");
                        prop_assert!(!name.starts_with("x-forwarded-"), "{name} accepted");
                        prop_assert!(!value.contains(['\r', '\n', '\0']), "{value:?} accepted");
                    }
                }
                Err(e) => {
                    for (_, value) in &headers {
                        if value.starts_with("VALUE-") {
                            prop_assert!(!e.message().contains(value.as_str()), "{e}");
                        }
                    }
                }
            }
            Ok(())
        },
    );
}
