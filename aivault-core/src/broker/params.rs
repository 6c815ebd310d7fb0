//! Parameter policy: the caller may not set a query parameter the credential owns, under any
//! spelling a server could read as that name, nor a parameter that overrides the method.
//!
//! Servers disagree on what a parameter's name is: PHP lower-cases nothing but maps `.`, ` `
//! and `+` to `_`, drops leading spaces and reads `api_key[]` as `api_key`; ASP.NET compares
//! names case-insensitively; older Python, Rails and Tomcat split a query on `;` as well as
//! `&`. Names are therefore compared in a canonical form that folds all of these together (see
//! [`canonical_name`]); refusing a harmless look-alike is the price of never letting one reach
//! a server that reads it as the owned name.

use crate::error::{Error, ErrorKind, Result};
use crate::model::printable;

use super::path::{RequestTarget, percent_decode};
use super::request::{MultipartPart, RequestBody};

/// Parameters frameworks read as the request's method (`_method`: Rails, Laravel, Symfony,
/// Express `method-override`; `_HttpMethod`: Salesforce; the override header names some
/// middlewares also accept as parameters), in canonical form.
const METHOD_OVERRIDE_PARAMS: &[&str] = &[
    "_method",
    "_httpmethod",
    "x_http_method_override",
    "x_http_method",
    "x_method_override",
];

/// Checks the caller's query: no parameter whose canonical name is one the credential owns
/// (`owned`, the auth strategy's parameter names), and no method-override parameter.
///
/// # Errors
/// `policy_violation` naming the parameter as the caller wrote it (decoded), never a value.
pub(crate) fn check_caller_query(target: &RequestTarget, owned: &[&str]) -> Result<()> {
    let owned: Vec<String> = owned.iter().map(|o| canonical_name(o)).collect();
    for name in names(&target.query_string(&[])) {
        let canonical = canonical_name(name);
        if owned.contains(&canonical) {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "query parameter '{}' is set by the broker from the credential (servers may read this spelling as the credential's own parameter); remove it",
                    printable(&percent_decode(name))
                ),
            ));
        }
        if METHOD_OVERRIDE_PARAMS.contains(&canonical.as_str()) {
            return Err(override_refused("query parameter", name));
        }
    }
    Ok(())
}

/// Checks a body for method-override fields: the names of an
/// `application/x-www-form-urlencoded` body (by the caller's `content_type` header) and the
/// fields of a multipart body. Other bodies (JSON included) are not parsed by the broker.
///
/// # Errors
/// `policy_violation` naming the field.
pub(crate) fn check_body_fields(
    body: &RequestBody,
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<()> {
    if let RequestBody::Multipart(parts) = body {
        for part in parts {
            let (MultipartPart::Field { name, .. }
            | MultipartPart::File { name, .. }
            | MultipartPart::Data { name, .. }) = part;
            if METHOD_OVERRIDE_PARAMS.contains(&canonical_name(name).as_str()) {
                return Err(override_refused("multipart field", name));
            }
        }
        return Ok(());
    }
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Ok(());
    }
    let text = String::from_utf8_lossy(bytes);
    for name in names(&text) {
        if METHOD_OVERRIDE_PARAMS.contains(&canonical_name(name).as_str()) {
            return Err(override_refused("form field", name));
        }
    }
    Ok(())
}

fn override_refused(what: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::PolicyViolation,
        format!(
            "{what} '{}' is refused: servers read it as the request's method, which would override the method the capability's policy checked; send the real method instead",
            printable(&percent_decode(name))
        ),
    )
}

/// The raw (still encoded) names of a query or form body: pieces split on `&` and on `;`,
/// each name up to its first `=`.
fn names(query: &str) -> impl Iterator<Item = &str> {
    query
        .split(['&', ';'])
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').map_or(piece, |(name, _)| name))
}

/// A parameter name as the policy compares it: percent-decoded, lower-cased, cut at the
/// first `[` when a `]` follows (`api_key[]`, `api_key[0]`; PHP reads an unmatched `[` as `_`,
/// so `api[key` is `api_key`), trimmed of spaces, `+` and control characters, with ` `, `+`,
/// `.` and `-` read as `_`.
pub(crate) fn canonical_name(raw: &str) -> String {
    let decoded = percent_decode(raw).to_lowercase();
    let base = match decoded.find('[') {
        Some(at) if decoded[at..].contains(']') => &decoded[..at],
        _ => decoded.as_str(),
    };
    base.trim_matches(|c: char| c == ' ' || c == '+' || c.is_control())
        .chars()
        .map(|c| match c {
            ' ' | '+' | '.' | '-' | '[' => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::broker::path::normalize;

    fn query(raw: &str, owned: &[&str]) -> Result<()> {
        check_caller_query(&normalize(raw).unwrap(), owned)
    }

    #[test]
    fn canonical_names_fold_server_spellings() {
        for raw in [
            "api_key",
            "API_KEY",
            "Api_Key",
            "api.key",
            "api+key",
            "api%2Bkey",
            "api%20key",
            "api-key",
            "api%5Fkey",
            "api%5fkey",
            "api_key[]",
            "api_key[0]",
            "api_key%5B%5D",
            "api[key",
            "api%5Bkey",
            "%20api_key",
            "+api_key",
            "api_key%20",
            "%09api_key",
            "%00api_key",
        ] {
            assert_eq!(canonical_name(raw), "api_key", "{raw:?}");
        }
        for raw in ["apikey", "api__key", "xapi_key", "api_keys", "_api_key"] {
            assert_ne!(canonical_name(raw), "api_key", "{raw:?}");
        }
        assert_eq!(canonical_name("_method"), "_method");
        assert_eq!(canonical_name("method"), "method");
    }

    #[test]
    fn owned_parameter_variants_are_refused() {
        for raw in [
            "/x?api_key=1",
            "/x?API_KEY=1",
            "/x?api.key=1",
            "/x?api+key=1",
            "/x?api%5Fkey=1",
            "/x?api_key[]=1",
            "/x?api_key[0]=1",
            "/x?api[key=1",
            "/x?%20api_key=1",
            "/x?x=1;api_key=2",
            "/x?a=b&api_key",
        ] {
            let e = query(raw, &["api_key"]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PolicyViolation, "{raw:?}");
            assert!(!e.message().contains("=1"), "{e}");
        }
        // Look-alikes that no server reads as `api_key`; an encoded `;` stays in its value
        // (servers split before they decode).
        for raw in [
            "/x?x=1%3Bapi_key=2",
            "/x?apikey=1",
            "/x?api_keys=1",
            "/x?q=api_key",
            "/x?q=a;b=c",
            "/x?method=flickr.photos.search",
            "/x?expand[]=a&filter[x]=y",
        ] {
            query(raw, &["api_key"]).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        }
    }

    #[test]
    fn method_override_parameters_are_refused() {
        for raw in [
            "/x?_method=DELETE",
            "/x?_METHOD=DELETE",
            "/x?a=1;_method=DELETE",
            "/x?%5Fmethod=DELETE",
            "/x?_method",
            "/x?_HttpMethod=PATCH",
            "/x?x-http-method-override=DELETE",
        ] {
            let e = query(raw, &[]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PolicyViolation, "{raw:?}");
            assert!(e.message().contains("method"), "{e}");
        }
    }

    #[test]
    fn form_and_multipart_method_fields_are_refused() {
        let bytes = RequestBody::Bytes(Vec::new());
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        for body in ["a=1&_method=DELETE", "_method=PUT", "a=1;%5Fmethod=x"] {
            let e = check_body_fields(&bytes, body.as_bytes(), form).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PolicyViolation, "{body:?}");
        }
        check_body_fields(&bytes, b"a=1&method=x", form).unwrap();
        // Not a form: not parsed.
        check_body_fields(&bytes, b"_method=PUT", Some("text/plain")).unwrap();
        check_body_fields(&bytes, br#"{"_method":"PUT"}"#, None).unwrap();
        let multipart = RequestBody::Multipart(vec![MultipartPart::Field {
            name: "_method".into(),
            value: "DELETE".into(),
        }]);
        assert_eq!(
            check_body_fields(&multipart, b"", None).unwrap_err().kind(),
            ErrorKind::PolicyViolation
        );
    }
}
