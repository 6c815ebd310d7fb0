//! Properties of the operator registry loader (`<vault dir>/registry/*.toml`, a file anyone
//! who can write the data directory controls): whatever a provider file holds — arbitrary
//! text, or a valid provider file with bytes and tokens changed — loading never panics; a file
//! is either skipped with a warning naming it, or accepted as a provider that passes every
//! registry rule and redefines nothing built in.
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::Registry;
use aivault_core::operator_registry::{load, operator_registry_dir};
use proptest::prelude::*;

const VALID: &str = r#"id = "acme"
name = "Acme"
hosts = ["api.acme.test"]

[[credentials]]
secrets = { secret = "ACME_API_KEY" }
auth = { kind = "header", header_name = "x-api-key", value_template = "{{secret}}" }

[[capabilities]]
id = "acme/data"
methods = ["GET", "POST"]
paths = ["/v1/data"]
"#;

/// Tokens worth splicing into a provider file.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "#",
    "\\",
    "\\u0000",
    "..",
    "/",
    "*.",
    "{{",
    "}}",
    "{{secret}}",
    "openai",
    "OPENAI_API_KEY",
    "openai/chat-completions",
    "api.openai.com",
    "127.0.0.1",
    "[[capabilities]]",
    "[[credentials]]",
    "kind = \"oauth2\"",
    "kind = \"query\"",
    "kind = \"path\"",
    "kind = \"aws-sigv4\"",
    "upstream_prefix = \"/..\"",
    "99999999999999999999",
    "-1",
    "1e999",
    "true",
    "\u{0}",
    "é",
    "\u{feff}",
    "GET",
    "get",
    "/",
    "",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

#[derive(Debug, Clone)]
enum Edit {
    Byte(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
    Insert(prop::sample::Index, &'static str),
}

fn file_text() -> impl Strategy<Value = String> {
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        (any::<prop::sample::Index>(), 1usize..20).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<prop::sample::Index>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| Edit::Insert(i, t)),
    ];
    prop_oneof![
        1 => ".{0,200}",
        4 => prop::collection::vec(edit, 1..5).prop_map(|edits| {
            let mut bytes = VALID.as_bytes().to_vec();
            for edit in edits {
                match edit {
                    Edit::Byte(i, b) => {
                        let i = i.index(bytes.len());
                        bytes[i] = b;
                    }
                    Edit::Delete(i, n) => {
                        let i = i.index(bytes.len());
                        let end = (i + n).min(bytes.len());
                        bytes.drain(i..end);
                    }
                    Edit::Insert(i, t) => {
                        let i = i.index(bytes.len() + 1);
                        bytes.splice(i..i, t.bytes());
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }),
    ]
}

#[test]
fn the_valid_template_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(operator_registry_dir(dir.path())).unwrap();
    std::fs::write(operator_registry_dir(dir.path()).join("acme.toml"), VALID).unwrap();
    let (registry, warnings, _) = load(dir.path(), &mut || trust_every_file(dir.path()));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(registry.provider("acme").is_some());
}

#[test]
fn any_provider_file_is_skipped_or_valid() {
    let dir = tempfile::tempdir().unwrap();
    let registry_dir = operator_registry_dir(dir.path());
    std::fs::create_dir_all(&registry_dir).unwrap();
    let builtin = Registry::builtin();
    prop_support::run(
        file!(),
        "any_provider_file_is_skipped_or_valid",
        400,
        file_text(),
        |text| {
            std::fs::write(registry_dir.join("op.toml"), &text).unwrap();
            let (registry, warnings, _) = load(dir.path(), &mut || trust_every_file(dir.path()));
            let added: Vec<_> = registry
                .providers()
                .iter()
                .filter(|p| builtin.provider(&p.id).is_none())
                .collect();
            match added.as_slice() {
                [] => {
                    prop_assert_eq!(warnings.len(), 1, "{:?}", text);
                    prop_assert!(warnings[0].contains("op.toml"), "{}", warnings[0]);
                }
                [provider] => {
                    prop_assert!(warnings.is_empty(), "{warnings:?}");
                    prop_assert!(registry.problems().is_empty(), "{:?}", registry.problems());
                    for capability in &provider.capabilities {
                        prop_assert!(builtin.capability(&capability.id).is_none());
                    }
                    // Every built-in provider is still the built-in one.
                    for p in builtin.providers() {
                        prop_assert_eq!(registry.provider(&p.id), Some(p));
                    }
                }
                more => prop_assert!(false, "one file added {} providers", more.len()),
            }
            Ok(())
        },
    );
}

/// The trust ids (`<file name>:<sha256 hex>`) of every file in the operator registry
/// directory, as if the operator had run `aivault provider trust` on each: the property is
/// about the loader's parsing, not about trust.
fn trust_every_file(vault_dir: &std::path::Path) -> Vec<String> {
    use sha2::Digest;
    std::fs::read_dir(operator_registry_dir(vault_dir))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let digest: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{}:{digest}", path.file_name().unwrap().to_string_lossy())
        })
        .collect()
}
