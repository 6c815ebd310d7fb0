//! Properties of the SigV4 signer: any method, path, query, headers, body, region, service and
//! time are signed without a panic; signing is deterministic; the signature covers the body,
//! path and query (changing one changes it); the secret key never appears in the output.
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::fuzzing::{SigV4Input, sigv4_sign};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[a-zA-Z0-9%=&+ ;/._~-]{0,24}",
        Just(String::new()),
        Just("%".to_string()),
        Just("a=%zz&&=&b".to_string()),
    ]
}

fn input() -> impl Strategy<Value = SigV4Input> {
    (
        (
            prop::sample::select(&["GET", "POST", "", "get", "X Y"][..]),
            text(),
            text(),
            text(),
        ),
        prop::collection::vec((text(), text()), 0..5),
        prop::collection::vec(any::<u8>(), 0..64),
        (
            text(),
            prop::sample::select(&["s3", "bedrock", "", "execute-api"][..]),
            prop_oneof![any::<i64>(), 0i64..4_102_444_800],
        ),
    )
        .prop_map(
            |((method, host, path, query), headers, payload, (region, service, time))| SigV4Input {
                method: method.into(),
                host,
                path: format!("/{path}"),
                query,
                headers,
                payload,
                region,
                service: service.into(),
                time,
            },
        )
}

fn signature(headers: &[(String, String)]) -> String {
    let auth = &headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    auth.rsplit("Signature=").next().unwrap().to_string()
}

#[test]
fn signing_is_total_deterministic_and_covers_the_request() {
    prop_support::run(
        file!(),
        "signing_is_total_deterministic_and_covers_the_request",
        1000,
        (input(), prop::option::of("[A-Za-z0-9/+=]{1,32}")),
        |(input, token)| {
            let first = sigv4_sign(&input, token.as_deref());
            let again = sigv4_sign(&input, token.as_deref());
            prop_assert_eq!(&first, &again);
            let sig = signature(&first);
            prop_assert_eq!(sig.len(), 64);
            prop_assert!(
                sig.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            for (_, value) in &first {
                prop_assert!(!value.contains("wJalrXUtnFEMI"), "secret key in {value}");
            }
            let mut other = input.clone();
            other.payload.push(b'x');
            prop_assert_ne!(
                signature(&sigv4_sign(&other, token.as_deref())),
                sig.clone()
            );
            let mut other = input.clone();
            other.path.push_str("/x");
            prop_assert_ne!(
                signature(&sigv4_sign(&other, token.as_deref())),
                sig.clone()
            );
            let mut other = input.clone();
            other.query.push_str("&zz=1");
            prop_assert_ne!(signature(&sigv4_sign(&other, token.as_deref())), sig);
            Ok(())
        },
    );
}
