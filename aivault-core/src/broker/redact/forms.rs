//! The forms a secret can take in a response (see the module docs of `redact`): every
//! encoding an upstream could plausibly echo it back in, each a needle.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::{Zeroize, Zeroizing};

use super::{MIN_DERIVED_LEN, MIN_SECRET_LEN};

/// Characters besides ASCII alphanumerics left unencoded, one set per URL-encoder family.
const URL_SAFE_SETS: [&[u8]; 4] = [
    // RFC 3986 unreserved (Go's QueryEscape, Python's quote_plus, curl).
    b"-._~",
    // JavaScript's encodeURIComponent.
    b"-._~!'()*",
    // WHATWG application/x-www-form-urlencoded.
    b"*-._",
    // Python's quote() default (keeps `/`).
    b"-._~/",
];

/// Pushes every form of `secret` (see the module docs) onto `needles`.
pub(super) fn secret_forms(secret: &[u8], needles: &mut Vec<Zeroizing<Vec<u8>>>) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    needles.push(Zeroizing::new(secret.to_vec()));
    for style in 0..16u8 {
        needles.push(json_escape(
            secret,
            JsonStyle {
                slash: style & 1 != 0,
                html: style & 2 != 0,
                ascii: style & 4 != 0,
                upper: style & 8 != 0,
            },
        ));
    }
    for safe in URL_SAFE_SETS {
        for upper in [true, false] {
            for plus in [false, true] {
                needles.push(url_encode(secret, safe, upper, plus));
            }
        }
    }
    needles.push(hex(secret, false));
    needles.push(hex(secret, true));
    // Every byte percent-encoded (an encoder that escapes everything).
    needles.push(percent_all(secret, false));
    needles.push(percent_all(secret, true));
    if let Ok(text) = std::str::from_utf8(secret) {
        for style in [Entity::Decimal, Entity::HexLower, Entity::HexUpper] {
            needles.push(html_entities(text, style));
        }
        if text.contains(['&', '<', '>', '"', '\'']) {
            needles.push(html_escape(text, false));
            needles.push(html_escape(text, true));
        }
        needles.push(utf16(text, false));
        needles.push(utf16(text, true));
    }
    for form in base64_forms(secret) {
        if form.len() < MIN_DERIVED_LEN {
            continue;
        }
        if form.contains(&b'/') {
            needles.push(json_escape(
                &form,
                JsonStyle {
                    slash: true,
                    html: false,
                    ascii: false,
                    upper: false,
                },
            ));
        }
        if form.iter().any(|b| matches!(b, b'+' | b'/' | b'=')) {
            needles.push(url_encode(&form, URL_SAFE_SETS[0], true, false));
            needles.push(url_encode(&form, URL_SAFE_SETS[0], false, false));
        }
        needles.push(form);
    }
}

/// The base64 needles of `secret`: per alphabet and alignment, the secret-only characters,
/// the unpadded tail and the padded tail.
fn base64_forms(secret: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut forms = Vec::with_capacity(18);
    for align in 0..3usize {
        let mut input = Zeroizing::new(vec![0u8; align]);
        input.extend_from_slice(secret);
        let bits = 8 * input.len();
        // The first character with no bit from the alignment bytes.
        let first = (8 * align).div_ceil(6);
        // The characters made only of secret bits (the last one may be partial).
        let full_end = bits / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = Zeroizing::new(engine.encode(input.as_slice()));
            let encoded = encoded.as_bytes();
            forms.push(Zeroizing::new(encoded[first..full_end].to_vec()));
            forms.push(Zeroizing::new(encoded[first..].to_vec()));
            let mut padded = Zeroizing::new(encoded[first..].to_vec());
            let pads = (4 - encoded.len() % 4) % 4;
            padded.extend(std::iter::repeat_n(b'=', pads));
            forms.push(padded);
        }
    }
    forms
}

/// How a JSON encoder escapes a string.
#[derive(Clone, Copy)]
struct JsonStyle {
    /// `/` as `\/` (PHP, some Java encoders).
    slash: bool,
    /// `<` `>` `&` U+2028 U+2029 as `\u…` (Go's default).
    html: bool,
    /// Non-ASCII as `\u…` UTF-16 units (Python's default).
    ascii: bool,
    /// Upper-case hex digits in `\u…` (Jackson).
    upper: bool,
}

fn json_escape(value: &[u8], style: JsonStyle) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() + 16));
    match std::str::from_utf8(value) {
        Ok(text) => {
            for c in text.chars() {
                json_escape_char(c, style, &mut out);
            }
        }
        // Not text: only the ASCII escapes apply, other bytes pass through as encoders do.
        Err(_) => {
            for &b in value {
                if b.is_ascii() {
                    json_escape_char(char::from(b), style, &mut out);
                } else {
                    out.push(b);
                }
            }
        }
    }
    out
}

fn json_escape_char(c: char, style: JsonStyle, out: &mut Vec<u8>) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '/' if style.slash => out.extend_from_slice(b"\\/"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        c if u32::from(c) < 0x20 => push_unicode_escape(c, style.upper, out),
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if style.html => {
            push_unicode_escape(c, style.upper, out)
        }
        c if style.ascii && !c.is_ascii() => push_unicode_escape(c, style.upper, out),
        c => {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

fn push_unicode_escape(c: char, upper: bool, out: &mut Vec<u8>) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.extend_from_slice(b"\\u");
        for shift in [12u16, 8, 4, 0] {
            out.push(hex_digit(((*unit >> shift) & 0xf) as u8, upper));
        }
    }
}

fn url_encode(value: &[u8], safe: &[u8], upper: bool, plus: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(b);
        } else if b == b' ' && plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
        }
    }
    out
}

/// Every byte as `%XX`, alphanumerics included.
fn percent_all(value: &[u8], upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        out.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
    }
    out
}

/// How an HTML numeric character reference is spelled.
#[derive(Clone, Copy)]
enum Entity {
    /// `&#115;`
    Decimal,
    /// `&#x6b;`
    HexLower,
    /// `&#x6B;`
    HexUpper,
}

/// Every character as an HTML numeric character reference.
fn html_entities(text: &str, style: Entity) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 7));
    for c in text.chars() {
        let code = u32::from(c);
        let mut digits = Zeroizing::new(match style {
            Entity::Decimal => format!("&#{code};"),
            Entity::HexLower => format!("&#x{code:x};"),
            Entity::HexUpper => format!("&#x{code:X};"),
        });
        out.extend_from_slice(digits.as_bytes());
        digits.zeroize();
    }
    out
}

/// HTML-escaped text: `& < > "` as named references, `'` as `&#39;` or `&#x27;`.
fn html_escape(text: &str, hex_quote: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() + 16));
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' if hex_quote => out.extend_from_slice(b"&#x27;"),
            '\'' => out.extend_from_slice(b"&#39;"),
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out
}

/// The text as UTF-16, little- or big-endian.
fn utf16(text: &str, big_endian: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 2));
    for unit in text.encode_utf16() {
        let bytes = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

pub(super) fn hex(value: &[u8], upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 2));
    for &b in value {
        out.extend_from_slice(&[hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
    }
    out
}

fn hex_digit(nibble: u8, upper: bool) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ if upper => b'A' + nibble - 10,
        _ => b'a' + nibble - 10,
    }
}
