//! Properties of the request JSON reader (`invoke --request`, the JSON envelope): it never
//! panics on any text, and a key repeated within one object — in any spelling JSON allows
//! (`"path"` and `"p\u0061th"`), at any depth — is always refused, since JSON readers disagree
//! on which copy counts.
#![allow(clippy::unwrap_used)]

mod prop_support;

use aivault_core::{ErrorKind, FileReferences, Invocation};
use proptest::prelude::*;

fn invocation() -> Invocation {
    Invocation {
        capability: "openai/chat-completions".into(),
        ..Default::default()
    }
}

/// Keys of the request form, plus others.
const KEYS: &[&str] = &[
    "method",
    "path",
    "headers",
    "body",
    "multipart",
    "capability",
    "credential",
    "request",
    "x-a",
    "name",
    "value",
    "file",
    "a\"b",
    "é",
];

/// A key in one of the spellings JSON allows for the same string.
fn spelled(key: &str, style: u8) -> String {
    let mut out = String::from("\"");
    for (i, c) in key.chars().enumerate() {
        let escape = match style % 3 {
            0 => c == '"',
            1 => c == '"' || i == 0,
            _ => true,
        };
        if escape {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A JSON value as text, with objects whose keys may repeat.
fn json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        "[a-z/ ]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("\"/v1/models\"".to_string()),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(KEYS), any::<u8>(), inner), 0..5).prop_map(
                |fields| {
                    let body: Vec<String> = fields
                        .iter()
                        .map(|(k, style, v)| format!("{}:{v}", spelled(k, *style)))
                        .collect();
                    format!("{{{}}}", body.join(","))
                }
            ),
        ]
    })
}

/// Whether the text is JSON holding an object with a repeated key (by decoded value),
/// checked independently of the reader under test.
fn has_repeated_key(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok() && count_repeats(text)
}

/// Scans the text (valid JSON) keeping, per open object, the decoded keys seen so far.
fn count_repeats(text: &str) -> bool {
    let mut stack: Vec<Option<Vec<String>>> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut expect_key = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => {
                stack.push(Some(Vec::new()));
                expect_key = true;
            }
            '[' => {
                stack.push(None);
                expect_key = false;
            }
            '}' | ']' => {
                stack.pop();
                expect_key = false;
            }
            ',' => expect_key = matches!(stack.last(), Some(Some(_))),
            '"' => {
                let start = i;
                let mut end = i;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = j;
                        break;
                    }
                }
                if expect_key {
                    let key: String = serde_json::from_str(&text[start..=end]).unwrap();
                    if let Some(Some(keys)) = stack.last_mut() {
                        if keys.contains(&key) {
                            return true;
                        }
                        keys.push(key);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
    }
    false
}

#[test]
fn repeated_keys_are_always_refused() {
    prop_support::run(
        file!(),
        "repeated_keys_are_always_refused",
        1500,
        json(),
        |text| {
            let result = invocation().merge_request_json(&text, FileReferences::Refuse);
            if has_repeated_key(&text) {
                let err = result.err();
                prop_assert!(err.is_some(), "{text} was accepted");
                prop_assert_eq!(err.unwrap().kind(), ErrorKind::InvalidInput);
            }
            Ok(())
        },
    );
}

#[test]
fn any_text_is_read_or_refused_without_panicking() {
    let texts = prop_oneof![
        ".{0,64}",
        "[\\[\\]{}\":,0-9a-z\\\\ ]{0,64}",
        // Valid JSON with one byte replaced or cut.
        (json(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(t, at, c)| {
            let mut chars: Vec<char> = t.chars().collect();
            if !chars.is_empty() {
                let i = at.index(chars.len());
                if c.is_ascii_digit() {
                    chars.truncate(i);
                } else {
                    chars[i] = c;
                }
            }
            chars.into_iter().collect()
        }),
    ];
    prop_support::run(
        file!(),
        "any_text_is_read_or_refused_without_panicking",
        1500,
        texts,
        |text| {
            for files in [FileReferences::Refuse, FileReferences::Allow] {
                if let Err(e) = invocation().merge_request_json(&text, files) {
                    prop_assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::InvalidInput | ErrorKind::PolicyViolation
                        ),
                        "{text:?}: {e} ({})",
                        e.kind()
                    );
                }
            }
            Ok(())
        },
    );
}

#[test]
fn the_independent_repeat_check_sees_spellings() {
    for text in [
        r#"{"path":"/a","p\u0061th":"/b"}"#,
        r#"{"headers":{"x-a":"1","\u0078-a":"2"}}"#,
        r#"{"body":[{"a\"b":1,"a\u0022b":2}]}"#,
    ] {
        assert!(has_repeated_key(text), "{text}");
        let err = invocation()
            .merge_request_json(text, FileReferences::Refuse)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text}");
    }
    assert!(!has_repeated_key(r#"{"path":"/a","x":{"path":1}}"#));
}
