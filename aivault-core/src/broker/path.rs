//! The caller's request target (path and query): strict RFC 3986 normalization and the
//! segment-aware prefix match that decides whether a capability admits it.
//!
//! A caller names a capability, never a host: the target it gives must be an absolute path
//! (plus an optional query). Anything ambiguous is refused with a clear error instead of being
//! repaired, so the path the policy checked is byte for byte the path the server receives.

// Wired into the broker's invoke path; until then only the tests call these functions.

use crate::error::{Error, ErrorKind, Result};
use crate::model::printable;

/// A caller's request target after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestTarget {
    /// Absolute path, percent-encoded, normalized (see [`normalize`]).
    pub path: String,
    /// Query parameters in order, as (raw name, raw value) exactly as given (still
    /// percent-encoded); value `None` for `?flag`.
    pub query: Vec<(String, Option<String>)>,
}

impl RequestTarget {
    /// Renders `path?query` (query omitted when empty), appending `extra` parameters (already
    /// encoded pairs) after the caller's.
    pub fn render(&self, extra: &[(String, String)]) -> String {
        let query = self.query_string(extra);
        if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{query}", self.path)
        }
    }

    /// The raw query string (without '?') as [`RequestTarget::render`] would produce it with
    /// `extra`.
    pub fn query_string(&self, extra: &[(String, String)]) -> String {
        let caller = self.query.iter().map(|(name, value)| match value {
            Some(value) => format!("{name}={value}"),
            None => name.clone(),
        });
        let extra = extra.iter().map(|(name, value)| format!("{name}={value}"));
        caller.chain(extra).collect::<Vec<_>>().join("&")
    }
}

/// Normalizes a caller's path+query (RFC 3986).
///
/// Rules (a violation is an error, never a silent repair):
/// - The target must start with `/`. Something that looks like a URL or authority (`://`
///   before the query, or a leading `//`) is a policy violation: a caller cannot name a
///   scheme or host.
/// - No fragment (`#`), raw control characters, space, non-ASCII or backslash anywhere.
/// - Path: only RFC 3986 path characters (unreserved, sub-delims, `:`, `@`, `/`, `%`);
///   other printable characters (`" < > [ ] ^ { | }` and backtick) must be percent-encoded.
///   Query: any printable ASCII except `"`, `<`, `>` (plus the exclusions above); `[ ] { | } ^`
///   and backtick are accepted because clients commonly send them unencoded (`expand[]=x`).
/// - Percent escapes must be `%` + two hex digits. In the path, escapes of unreserved
///   characters are decoded (`%7E` becomes `~`) and the others upper-cased (`%c3` becomes
///   `%C3`); an encoded `/` (`%2F`), backslash (`%5C`) or control character (`%00`–`%1F`,
///   `%7F`) is a policy violation. Nothing is decoded twice (`%252e` stays `%252e`).
/// - A `.` or `..` segment (also when percent-encoded, and also once its `;params` are
///   removed: `..;`, `.;x=1`, `%2e%2e;`, `..%3B`) is a policy violation; an empty segment
///   (`//`) is invalid; a trailing `/` is kept.
/// - The query (after the first `?`) is split on `&` (empty pieces dropped), each piece at its
///   first `=`; names and values keep their encoding exactly (`+` included).
pub(crate) fn normalize(raw: &str) -> Result<RequestTarget> {
    if raw.is_empty() {
        return Err(Error::invalid(
            "request path is empty; give an absolute path such as '/v1/models'",
        ));
    }
    let (path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    if path.starts_with("//") || path.contains("://") {
        return Err(policy(format!(
            "request path '{}' names a scheme or host; give only the path and query (e.g. '/v1/models'): the capability decides the host",
            printable(raw)
        )));
    }
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "request path '{}' must start with '/'; give only the path and query (e.g. '/v1/models'), not a URL or host",
            printable(raw)
        )));
    }
    check_chars(raw, path, Part::Path)?;
    if let Some(query) = query {
        check_chars(raw, query, Part::Query)?;
    }

    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut normalized = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i != last {
            return Err(Error::invalid(format!(
                "request path '{}' has an empty segment ('//'); remove the doubled '/'",
                printable(raw)
            )));
        }
        let segment = normalize_segment(raw, segment)?;
        if is_dot_segment(&segment) {
            return Err(policy(format!(
                "request path '{}' has a '.' or '..' segment (possibly percent-encoded or followed by ';' parameters, as in '..;'), which could escape the capability's allowed paths; send the resolved path instead",
                printable(raw)
            )));
        }
        normalized.push(segment);
    }

    let query = query
        .unwrap_or("")
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (piece.to_owned(), None),
        })
        .collect();
    Ok(RequestTarget {
        path: format!("/{}", normalized.join("/")),
        query,
    })
}

/// Segment-aware prefix match of a normalized path against a capability's allowed prefix.
///
/// - A prefix ending in `/` or `.` (`/v0/`, `/api/chat.`, `/`) is a plain text prefix:
///   `/api/chat.` admits `/api/chat.postMessage`, and `/` admits every path.
/// - Any other prefix admits itself and what lies below it: `/v1/files` admits `/v1/files`,
///   `/v1/files/` and `/v1/files/abc`, but not `/v1/filesX` nor `/v1/files.json`.
/// - A prefix that does not start with `/` admits nothing.
///
/// Both sides must already be normalized: registry prefixes are, and the caller's path went
/// through [`normalize`] (so `/v1/fi%6Ces` is compared as `/v1/files`).
pub(crate) fn prefix_admits(prefix: &str, path: &str) -> bool {
    if !prefix.starts_with('/') {
        return false;
    }
    if prefix.ends_with('/') || prefix.ends_with('.') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Percent-encodes a string for use as a query name/value (everything but RFC 3986
/// unreserved; hex digits upper-case; non-ASCII as its UTF-8 bytes).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b);
        }
    }
    out
}

/// Which part of the target a character check is about (the advice differs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Query,
}

fn policy(message: String) -> Error {
    Error::new(ErrorKind::PolicyViolation, message)
}

/// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 sub-delims.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte encoded by the escape starting at `bytes[i]` (a `%`), if well formed.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    let hi = hex_value(*bytes.get(i + 1)?)?;
    let lo = hex_value(*bytes.get(i + 2)?)?;
    Some(hi << 4 | lo)
}

/// Checks the raw characters and the escape syntax of one part of the target.
fn check_chars(raw: &str, text: &str, part: Part) -> Result<()> {
    let bytes = text.as_bytes();
    let place = match part {
        Part::Path => "",
        Part::Query => " in its query",
    };
    let fail = |what: &str, advice: &str| {
        Error::invalid(format!(
            "request path '{}' contains {what}{place}; {advice}",
            printable(raw)
        ))
    };
    for (i, &b) in bytes.iter().enumerate() {
        let allowed = is_unreserved(b)
            || is_sub_delim(b)
            || matches!(b, b':' | b'@' | b'/')
            || (part == Part::Query
                && matches!(b, b'?' | b'[' | b']' | b'{' | b'|' | b'}' | b'^' | b'`'));
        if allowed || (b == b'%' && escape_at(bytes, i).is_some()) {
            continue;
        }
        return Err(match (b, part) {
            (b'%', _) => fail(
                "a malformed percent escape",
                "'%' must be followed by two hex digits (write a literal '%' as %25)",
            ),
            (b'#', _) => fail(
                "'#'",
                "fragments are never sent to servers, so remove it (or write a literal '#' as %23)",
            ),
            (0x00..=0x1f | 0x7f, Part::Path) => fail("a control character", "remove it"),
            (0x00..=0x1f | 0x7f, Part::Query) => {
                fail("a control character", "remove it or percent-encode it")
            }
            (b' ', _) => fail("a space", "percent-encode it as %20"),
            (b'\\', Part::Path) => fail(
                "a backslash",
                "remove it (a backslash is not a path separator and is refused in paths)",
            ),
            (0x80..=0xff, _) => fail(
                "a non-ASCII character",
                "percent-encode its UTF-8 bytes (e.g. 'é' as %C3%A9)",
            ),
            _ => {
                let mut escaped = String::new();
                push_escape(&mut escaped, b);
                fail(
                    &format!("'{}'", char::from(b)),
                    &format!("percent-encode it as {escaped}"),
                )
            }
        });
    }
    Ok(())
}

/// Normalizes the escapes of one path segment whose characters `check_chars` accepted.
fn normalize_segment(raw: &str, segment: &str) -> Result<String> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let Some(decoded) = escape_at(bytes, i) else {
            return Err(Error::invalid(format!(
                "request path '{}' contains a malformed percent escape; '%' must be followed by two hex digits (write a literal '%' as %25)",
                printable(raw)
            )));
        };
        let refused = match decoded {
            b'/' => Some(
                "an encoded '/' (%2F), which could escape the capability's allowed paths; use real '/' separators",
            ),
            b'\\' => Some("an encoded backslash (%5C), which some servers treat as '/'; remove it"),
            0x00..=0x1f | 0x7f => Some("an encoded control character (%00-%1F or %7F); remove it"),
            _ => None,
        };
        if let Some(refused) = refused {
            return Err(policy(format!(
                "request path '{}' contains {refused}",
                printable(raw)
            )));
        }
        if is_unreserved(decoded) {
            out.push(char::from(decoded));
        } else {
            push_escape(&mut out, decoded);
        }
        i += 3;
    }
    Ok(out)
}

/// Whether a normalized segment is `.` or `..` once its path parameters are removed.
///
/// Tomcat, Jetty and Spring strip `;params` from each segment before resolving dot segments,
/// so `..;`, `..;x=1` and `.;` climb like `..` and `.`. An encoded `;` (`%3B`, upper-case after
/// [`normalize_segment`]) counts as one too: a proxy that decodes it hands the server a `;`.
/// The segment's unreserved escapes are already decoded, so `.%2e;` is `..;` here.
fn is_dot_segment(segment: &str) -> bool {
    let end = [segment.find(';'), segment.find("%3B")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(segment.len());
    matches!(&segment[..end], "." | "..")
}

/// Decodes percent escapes (well-formed ones; others are kept as text), lossily as UTF-8.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(decoded) = escape_at(bytes, i)
        {
            out.push(decoded);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind_of(raw: &str) -> ErrorKind {
        match normalize(raw) {
            Ok(target) => panic!("{raw:?} was accepted as {target:?}"),
            Err(e) => {
                assert!(!e.message().contains('\n'), "multi-line message: {e}");
                e.kind()
            }
        }
    }

    #[test]
    fn accepted_paths_normalize_as_documented() {
        let cases = [
            ("/", "/"),
            ("/v1/models", "/v1/models"),
            ("/v1/models/", "/v1/models/"),
            ("/%7Euser", "/~user"),
            ("/v1/fi%6Ces", "/v1/files"),
            ("/v1/%41%7a%30%2D%2e%5F%7e", "/v1/Az0-._~"),
            ("/v1/caf%c3%a9", "/v1/caf%C3%A9"),
            ("/v1/a%20b", "/v1/a%20b"),
            ("/v1/%3a%40%3F%23%25", "/v1/%3A%40%3F%23%25"),
            ("/v1/%252e%252e/x", "/v1/%252e%252e/x"),
            ("/v1/%252F", "/v1/%252F"),
            ("/v1/...", "/v1/..."),
            ("/v1/.well-known/x", "/v1/.well-known/x"),
            ("/v1/..a/a..", "/v1/..a/a.."),
            ("/v1/places:searchText", "/v1/places:searchText"),
            ("/v1/x@y!$&'()*+,;=", "/v1/x@y!$&'()*+,;="),
            ("/api/chat.postMessage", "/api/chat.postMessage"),
            ("/v1/x:/y", "/v1/x:/y"),
        ];
        for (raw, want) in cases {
            let target = normalize(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(target.path, want, "{raw:?}");
            assert!(target.query.is_empty(), "{raw:?}");
        }
    }

    /// Regression (found by `tests/props_path.rs`, issue 10 item 3): servers that drop
    /// `;params` read `..;` as `..`.
    #[test]
    fn dot_segments_with_params_are_policy_violations() {
        for raw in [
            "/.;",
            "/v1/..;/admin",
            "/v1/.;x/a",
            "/v1/.%2e;/admin",
            "/v1/%2e%2e;x=1/admin",
            "/v1/..%3B/admin",
            "/v1/..%3bx/admin",
            "/v1/.%3B",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::PolicyViolation, "{raw}");
        }
        // Parameters on ordinary segments, and dots that are not a whole segment, pass.
        for raw in ["/v1/a;b", "/v1/...;x", "/v1/x.;", "/v1/;"] {
            assert!(normalize(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn urls_and_authorities_are_policy_violations() {
        for raw in [
            "http://evil/x",
            "https://api.openai.com/v1/models",
            "//evil/x",
            "//evil.com/x",
            "///x",
            "/v1/http://evil/x",
            "/redirect/https://evil",
            "//",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::PolicyViolation, "{raw:?}");
        }
    }

    #[test]
    fn relative_targets_are_invalid() {
        for raw in [
            "",
            "https:",
            "api.openai.com/v1",
            "v1/models",
            "?a=b",
            "*",
            "%2Fv1",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::InvalidInput, "{raw:?}");
        }
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for raw in [
            "/v1/../x",
            "/v1/./x",
            "/..",
            "/.",
            "/v1/..",
            "/v1/.",
            "/v1/../",
            "/v1/%2e%2e/x",
            "/v1/%2E%2E/x",
            "/v1/%2E%2e/x",
            "/v1/.%2E/x",
            "/v1/.%2e/x",
            "/v1/%2e./x",
            "/v1/%2e/x",
            "/v1/%2E",
            "/v1/x/..?a=b",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::PolicyViolation, "{raw:?}");
        }
    }

    #[test]
    fn dot_segments_with_path_parameters_are_refused() {
        for raw in [
            "/v1/..;/x",
            "/v1/..;",
            "/v1/.;/x",
            "/v1/.;",
            "/v1/.%2e;/x",
            "/v1/%2e.;/x",
            "/v1/%2e%2e;/x",
            "/v1/%2E%2E;x=1/x",
            "/v1/..;x=1/x",
            "/v1/..;a;b/x",
            "/v1/..;/",
            "/v1/..%3b/x",
            "/v1/..%3B/x",
            "/v1/.%2e%3Bx/x",
            "/v1/.%3B/x",
            "/v1/files/x/..;/..;/models",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::PolicyViolation, "{raw:?}");
        }
        // Parameters on ordinary segments stay as they are.
        for (raw, want) in [
            ("/v1/x;a=b", "/v1/x;a=b"),
            ("/v1/;x/y", "/v1/;x/y"),
            ("/v1/...;x", "/v1/...;x"),
            ("/v1/..a;/x", "/v1/..a;/x"),
            ("/v1/x;..", "/v1/x;.."),
            ("/v1/x%3b..", "/v1/x%3B.."),
        ] {
            let target = normalize(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(target.path, want, "{raw:?}");
        }
    }

    #[test]
    fn path_parameters_never_widen_a_prefix() {
        let admits = |prefix: &str, raw: &str| prefix_admits(prefix, &normalize(raw).unwrap().path);
        assert!(!admits("/v1/files", "/v1;x/files"));
        assert!(!admits("/v1/files", "/v1;/files/abc"));
        assert!(!admits("/v1/files", "/v1/files;x"));
        assert!(!admits("/v1/files", "/v1/files;/abc"));
        assert!(!admits("/v1/files", "/v1/files%3B/abc"));
        assert!(admits("/v1/files", "/v1/files/abc;v=1"));
    }

    #[test]
    fn encoded_separators_and_controls_are_policy_violations() {
        for raw in [
            "/v1/a%2fb",
            "/v1/a%2Fb",
            "/v1/%2F%2Fevil",
            "/v1/a%5cb",
            "/v1/a%5Cb",
            "/v1/a%00",
            "/v1/a%0d%0aHost:%20evil",
            "/v1/a%0A",
            "/v1/a%1f",
            "/v1/a%7F",
            "/v1/a%09",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::PolicyViolation, "{raw:?}");
        }
    }

    #[test]
    fn raw_forbidden_characters_are_invalid() {
        for raw in [
            "/v1/a b",
            "/v1/a\\b",
            "/v1\\..\\x",
            "/\\evil.com",
            "/v1/a\u{0}",
            "/v1/a\r\nHost: evil",
            "/v1/a\tb",
            "/v1/a\u{7f}",
            "/v1/caf\u{e9}",
            "/v1/\u{2215}x",
            "/v1/x#frag",
            "/v1/x?a=b#frag",
            "/v1/a\"b",
            "/v1/a<b>",
            "/v1/a[0]",
            "/v1/{id}",
            "/v1/a|b",
            "/v1/a^b",
            "/v1/a`b",
            "/v1/a//b",
            "/v1//",
            "/v1/%",
            "/v1/%2",
            "/v1/%zz",
            "/v1/%g0",
            "/v1/%%30",
            "/v1/x?a=%",
            "/v1/x?a=%2",
            "/v1/x?a=%zz",
            "/v1/x?a b=c",
            "/v1/x?a=b c",
            "/v1/x?a=\r\n",
            "/v1/x?a=\\",
            "/v1/x?a=\u{e9}",
            "/v1/x?a=\"b\"",
            "/v1/x?a=<b>",
        ] {
            assert_eq!(kind_of(raw), ErrorKind::InvalidInput, "{raw:?}");
        }
    }

    #[test]
    fn messages_echo_the_path_printably_and_say_what_to_do() {
        let e = normalize("/v1/a\r\nHost: evil").unwrap_err();
        assert_eq!(
            e.message(),
            "request path '/v1/a\\r\\nHost: evil' contains a control character; remove it"
        );
        let e = normalize("/v1/a b").unwrap_err();
        assert!(e.message().contains("%20"), "{e}");
        let e = normalize("/v1/{id}").unwrap_err();
        assert!(e.message().ends_with("percent-encode it as %7B"), "{e}");
        let e = normalize("http://evil/x").unwrap_err();
        assert!(e.message().contains("give only the path"), "{e}");
        let e = normalize("/v1/%2e%2e/x").unwrap_err();
        assert!(e.message().contains("'..'"), "{e}");
        let long = format!("/{}", "a".repeat(500)) + " ";
        assert!(normalize(&long).unwrap_err().message().len() < 300);
    }

    #[test]
    fn query_is_split_but_kept_verbatim() {
        let t = normalize("/v1/x?a=1&&b&c=&=d&e=f=g&h=%2fx+y&url=http://evil/?z&&").unwrap();
        assert_eq!(t.path, "/v1/x");
        let want: Vec<(String, Option<String>)> = [
            ("a", Some("1")),
            ("b", None),
            ("c", Some("")),
            ("", Some("d")),
            ("e", Some("f=g")),
            ("h", Some("%2fx+y")),
            ("url", Some("http://evil/?z")),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
        .collect();
        assert_eq!(t.query, want);
        assert_eq!(
            t.render(&[]),
            "/v1/x?a=1&b&c=&=d&e=f=g&h=%2fx+y&url=http://evil/?z"
        );
    }

    #[test]
    fn query_values_may_hold_urls_and_common_unencoded_characters() {
        for raw in [
            "/v1/x?url=http://evil",
            "/v1/x?url=//evil/x",
            "/v1/x?p=../../etc&q=%2e%2e%2f",
            "/v1/x?expand[]=customer&filter[a]={b}",
            "/v1/x?waypoints=a|b&x=^`",
            "/v1/x?q=%0d%0a%00",
            "/v1/x?q=%5C",
            "/v1/x?",
            "/v1/x?&",
        ] {
            let t = normalize(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(t.path, "/v1/x", "{raw:?}");
        }
        assert!(normalize("/v1/x?").unwrap().query.is_empty());
        assert_eq!(normalize("/v1/x?").unwrap().render(&[]), "/v1/x");
    }

    #[test]
    fn query_escapes_are_not_normalized() {
        let t = normalize("/x?%7e=%7E&a%5fb=%c3%a9").unwrap();
        assert_eq!(t.render(&[]), "/x?%7e=%7E&a%5fb=%c3%a9");
    }

    #[test]
    fn query_names_decode_for_ownership_checks() {
        let t = normalize("/x?key=1&api%5Fkey=2&a+b&a%2Bb=3&Key&caf%C3%A9&bad%FF&%zz").unwrap_err();
        assert_eq!(t.kind(), ErrorKind::InvalidInput);
        let t = normalize("/x?key=1&api%5Fkey=2&a+b&a%2Bb=3&Key&caf%C3%A9&bad%FF").unwrap();
        let names: Vec<String> = t.query.iter().map(|(n, _)| percent_decode(n)).collect();
        assert_eq!(
            names,
            ["key", "api_key", "a+b", "a+b", "Key", "café", "bad\u{fffd}"]
        );
    }

    #[test]
    fn render_appends_extra_parameters_after_the_callers() {
        let extra = vec![("key".to_owned(), encode_component("s3cr3t/+="))];
        let t = normalize("/v1/x/").unwrap();
        assert_eq!(t.query_string(&[]), "");
        assert_eq!(t.render(&[]), "/v1/x/");
        assert_eq!(t.query_string(&extra), "key=s3cr3t%2F%2B%3D");
        assert_eq!(t.render(&extra), "/v1/x/?key=s3cr3t%2F%2B%3D");
        let t = normalize("/%7Ea?flag&b=2").unwrap();
        let two = vec![
            ("k".to_owned(), "v".to_owned()),
            ("k2".to_owned(), "v2".to_owned()),
        ];
        assert_eq!(t.query_string(&two), "flag&b=2&k=v&k2=v2");
        assert_eq!(t.render(&two), "/~a?flag&b=2&k=v&k2=v2");
    }

    #[test]
    fn rendered_targets_are_fixed_points() {
        for raw in [
            "/",
            "/v1/%7euser/caf%c3%a9/",
            "/v1/x?a=1&b&c=%2F",
            "/v1/a:b@c",
        ] {
            let once = normalize(raw).unwrap().render(&[]);
            let twice = normalize(&once).unwrap().render(&[]);
            assert_eq!(once, twice, "{raw:?}");
        }
    }

    #[test]
    fn encode_component_keeps_only_unreserved() {
        let cases = [
            ("", ""),
            ("AZaz09-._~", "AZaz09-._~"),
            ("a b", "a%20b"),
            ("a+b=c&d", "a%2Bb%3Dc%26d"),
            ("/?#[]@%", "%2F%3F%23%5B%5D%40%25"),
            ("\r\n\0", "%0D%0A%00"),
            ("é", "%C3%A9"),
            ("\\", "%5C"),
        ];
        for (input, want) in cases {
            assert_eq!(encode_component(input), want, "{input:?}");
        }
    }

    #[test]
    fn prefix_match_is_segment_aware() {
        let cases = [
            ("/v1/files", "/v1/files", true),
            ("/v1/files", "/v1/files/", true),
            ("/v1/files", "/v1/files/abc", true),
            ("/v1/files", "/v1/files/abc/content", true),
            ("/v1/files", "/v1/filesX", false),
            ("/v1/files", "/v1/files.json", false),
            ("/v1/files", "/v1/file", false),
            ("/v1/files", "/v1", false),
            ("/v1/files", "/v2/files", false),
            ("/v1/files", "/V1/files", false),
            ("/v1/files", "/", false),
            ("/api/chat.", "/api/chat.postMessage", true),
            ("/api/chat.", "/api/chat.update", true),
            ("/api/chat.", "/api/chat", false),
            ("/api/chat.", "/api/chatX", false),
            ("/api/chat.", "/api/users.list", false),
            ("/v0/", "/v0/", true),
            ("/v0/", "/v0/x/y", true),
            ("/v0/", "/v0", false),
            ("/v0/", "/v01", false),
            ("/", "/", true),
            ("/", "/anything/at/all", true),
            ("/v1/places:searchText", "/v1/places:searchText", true),
            ("/v1/places:searchText", "/v1/places:searchTextX", false),
            ("", "/v1/x", false),
            ("v1", "v1/x", false),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(prefix_admits(prefix, path), want, "{prefix:?} vs {path:?}");
        }
    }

    #[test]
    fn prefix_match_sees_the_normalized_path() {
        let admits = |raw: &str| prefix_admits("/v1/files", &normalize(raw).unwrap().path);
        assert!(admits("/v1/fi%6Ces"));
        assert!(admits("/v1/files/%7Eabc?x=1"));
        assert!(admits("/v1/files/%252e%252e/x"));
        assert!(!admits("/v1/files%2Ejson"));
        assert!(!admits("/v1/filesX"));
        assert_eq!(
            normalize("/v1/files/%2e%2e/secrets").unwrap_err().kind(),
            ErrorKind::PolicyViolation
        );
        assert_eq!(
            normalize("/v1/files%2F..%2Fsecrets").unwrap_err().kind(),
            ErrorKind::PolicyViolation
        );
    }
}
