//! Properties of the response redactor (README, broker step 8): a secret embedded any number
//! of times, in any of the forms the redactor claims to cover (raw, JSON escapes, URL
//! encodings including every byte percent-encoded, hex, base64 at every alignment, HTML
//! numeric entities, UTF-16), among arbitrary bytes, never survives — neither
//! in a buffered redaction nor through the streaming reader under any chunking of the upstream
//! body. Operator literals never survive either.
#![allow(clippy::unwrap_used)]

mod prop_support;

use std::io::Read;

use aivault_core::fuzzing::FuzzRedactor;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;

/// Secret characters: no `[`/`]` and no upper case, so no needle can be spelled across or
/// inside the `[REDACTED]` marker and a surviving needle is a real leak.
const SECRET_CHARS: &[char] = &[
    'a', 'b', 'c', 'k', 'q', 'z', '0', '7', '9', '-', '_', '.', '~', '/', '+', '=', ':', ' ', '"',
    '\\', '<', '>', '&', '\'', '%', 'é', '€', '\u{1}', '\t', '\u{2028}',
];

fn percent(bytes: &[u8], safe: &[u8], upper: bool, plus: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && plus {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn json_escaped(secret: &str, slash: bool, ascii: bool, html: bool, upper: bool) -> String {
    let mut out = String::new();
    let unit = |u: u16, out: &mut String| {
        if upper {
            out.push_str(&format!("\\u{u:04X}"));
        } else {
            out.push_str(&format!("\\u{u:04x}"));
        }
    };
    for c in secret.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' if html => unit(c as u16, &mut out),
            c if (c as u32) < 0x20 => unit(c as u16, &mut out),
            c if ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    unit(*u, &mut out);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every form of `secret` the redactor documents, as byte strings.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let raw = secret.as_bytes();
    let mut forms = vec![raw.to_vec()];
    for bits in 0..16u8 {
        forms.push(
            json_escaped(
                secret,
                bits & 1 != 0,
                bits & 2 != 0,
                bits & 4 != 0,
                bits & 8 != 0,
            )
            .into_bytes(),
        );
    }
    for safe in [&b"-._~"[..], b"-._~!'()*", b"*-._", b"-._~/"] {
        for upper in [false, true] {
            for plus in [false, true] {
                forms.push(percent(raw, safe, upper, plus).into_bytes());
            }
        }
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    forms.push(hex.to_uppercase().into_bytes());
    forms.push(hex.into_bytes());
    forms.push(STANDARD.encode(raw).into_bytes());
    forms.push(URL_SAFE_NO_PAD.encode(raw).into_bytes());
    forms.push(STANDARD.encode(raw).replace('/', "\\/").into_bytes());
    // Every byte percent-encoded, in either case.
    let all: String = raw.iter().map(|b| format!("%{b:02x}")).collect();
    forms.push(all.to_uppercase().into_bytes());
    forms.push(all.into_bytes());
    // HTML numeric entities (one per character), decimal and hex.
    let code = |c: char| c as u32;
    forms.push(
        secret
            .chars()
            .map(|c| format!("&#{};", code(c)))
            .collect::<String>()
            .into_bytes(),
    );
    forms.push(
        secret
            .chars()
            .map(|c| format!("&#x{:x};", code(c)))
            .collect::<String>()
            .into_bytes(),
    );
    // UTF-16, both byte orders.
    forms.push(secret.encode_utf16().flat_map(u16::to_le_bytes).collect());
    forms.push(secret.encode_utf16().flat_map(u16::to_be_bytes).collect());
    forms
}

/// A secret (or its base64 at an offset) embedded in base64 data: `prefix` bytes before it
/// shift its alignment; the characters that depend on the prefix are dropped.
fn base64_tail(prefix: &[u8], secret: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let data = [prefix, secret].concat();
    let encoded = STANDARD.encode(&data).into_bytes();
    let drop = (prefix.len() * 8).div_ceil(6);
    let tail = encoded[drop..]
        .iter()
        .copied()
        .filter(|&c| c != b'=')
        .collect();
    (encoded, tail)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads `data` in the given chunk sizes (cycling), as a slow upstream would send it.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[derive(Debug, Clone)]
struct Case {
    secret: String,
    /// (filler before, which form, base64 prefix length) per embedding.
    embeds: Vec<(Vec<u8>, prop::sample::Index, usize)>,
    tail: Vec<u8>,
    chunks: Vec<usize>,
    literal: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::sample::select(SECRET_CHARS), 8..20),
        prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 0..12),
                any::<prop::sample::Index>(),
                0usize..3,
            ),
            1..4,
        ),
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(1usize..9, 1..6),
        "[a-z]{1,12}",
    )
        .prop_map(|(chars, embeds, tail, chunks, literal)| Case {
            secret: chars.into_iter().collect(),
            embeds,
            tail,
            chunks,
            literal,
        })
}

#[test]
fn no_form_of_a_secret_survives_any_chunking() {
    prop_support::run(
        file!(),
        "no_form_of_a_secret_survives_any_chunking",
        400,
        case(),
        |case| {
            let forms = forms(&case.secret);
            let mut needles = forms.clone();
            let mut body = Vec::new();
            for (filler, which, prefix) in &case.embeds {
                body.extend_from_slice(filler);
                let pick = which.index(forms.len() + 1);
                if pick < forms.len() {
                    body.extend_from_slice(&forms[pick]);
                } else {
                    // The secret inside base64 data (`base64("user:" + secret)`).
                    let (encoded, tail) = base64_tail(&b"u:x"[..*prefix], case.secret.as_bytes());
                    body.extend_from_slice(&encoded);
                    if tail.len() >= 6 {
                        needles.push(tail);
                    }
                }
            }
            body.extend_from_slice(&case.tail);
            body.extend_from_slice(case.literal.as_bytes());
            needles.push(case.literal.clone().into_bytes());
            let redactor = FuzzRedactor::new(
                &[case.secret.as_bytes()],
                std::slice::from_ref(&case.literal),
            );
            let buffered = redactor.redact(&body);
            let mut streamed = Vec::new();
            redactor
                .reader(Chunked {
                    data: body.clone(),
                    at: 0,
                    sizes: case.chunks.clone(),
                    turn: 0,
                })
                .read_to_end(&mut streamed)
                .unwrap();
            prop_assert_eq!(&streamed, &buffered, "streaming and buffered differ");
            for needle in &needles {
                prop_assert!(
                    !contains(&buffered, needle),
                    "{:?} survived in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&buffered)
                );
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_bytes_without_a_secret_pass_unchanged() {
    prop_support::run(
        file!(),
        "arbitrary_bytes_without_a_secret_pass_unchanged",
        400,
        (
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(1usize..50, 1..4),
        ),
        |(body, chunks)| {
            let secret = b"k9-qz~SECRET-\x01";
            prop_assume!(!contains(&body, b"k9-qz"));
            let redactor = FuzzRedactor::new(&[&secret[..]], &[]);
            let mut streamed = Vec::new();
            redactor
                .reader(Chunked {
                    data: body.clone(),
                    at: 0,
                    sizes: chunks,
                    turn: 0,
                })
                .read_to_end(&mut streamed)
                .unwrap();
            // Bytes that hold no form of the secret may still hit a short base64 needle by
            // chance; that is rare enough that it is only ever a redaction, never a change.
            if streamed != body {
                prop_assert!(contains(&streamed, b"[REDACTED]"));
            }
            Ok(())
        },
    );
}
