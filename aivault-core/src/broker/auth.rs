//! Renders a credential's auth strategy into what goes on the wire. Values live in zeroizing
//! buffers and every injected value is handed to the redactor, so an upstream that echoes it
//! back cannot leak it.

use std::collections::BTreeMap;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::registry::{AuthSpec, check_path_template, placeholders};
use crate::sensitive::SecretValue;

use super::path::encode_component;

/// Decrypted secrets of one call, by role (`secret`, `key`, `token`, ...).
pub(crate) type Secrets = BTreeMap<String, SecretValue>;

/// What the strategy adds to the request before it is sent.
#[derive(Default)]
pub(crate) struct Injection {
    /// Headers to set (lower-case names).
    pub headers: Vec<(String, Zeroizing<String>)>,
    /// Query parameters to append, already percent-encoded.
    pub query: Vec<(String, Zeroizing<String>)>,
    /// A path prefix (`/bot<token>`), already percent-encoded.
    pub path_prefix: Option<Zeroizing<String>>,
    /// Every value injected, in clear, for response redaction.
    pub injected: Vec<Zeroizing<Vec<u8>>>,
}

impl Injection {
    /// Adds a header (checked for control characters) and hands its value to the redactor.
    pub(crate) fn header(&mut self, name: &str, value: Zeroizing<String>) -> Result<()> {
        check_header_value(name, &value)?;
        self.injected
            .push(Zeroizing::new(value.as_bytes().to_vec()));
        self.headers.push((name.to_ascii_lowercase(), value));
        Ok(())
    }

    fn query(&mut self, name: &str, value: Zeroizing<String>) {
        self.injected
            .push(Zeroizing::new(value.as_bytes().to_vec()));
        self.query.push((
            encode_component(name),
            Zeroizing::new(encode_component(&value)),
        ));
    }
}

/// Renders the strategies that need nothing but the secrets: header, query, path, basic,
/// multi-header and multi-query. The signing strategies (AWS SigV4, HMAC), OAuth 2.0 and
/// mTLS are handled by the pipeline; for them this returns an empty injection.
pub(crate) fn render(auth: &AuthSpec, secrets: &Secrets) -> Result<Injection> {
    let mut out = Injection::default();
    match auth {
        AuthSpec::Header {
            header_name,
            value_template,
        } => out.header(header_name, fill(value_template, secrets)?)?,
        AuthSpec::Query {
            param_name,
            value_template,
        } => out.query(param_name, fill(value_template, secrets)?),
        AuthSpec::Path { prefix_template } => {
            check_path_values(prefix_template, secrets)?;
            // A path segment may hold ':' and '@' literally (RFC 3986 pchar): Telegram's bot
            // tokens (`123:ABC`) go on the wire as documented, `/bot123:ABC/getMe`. Every
            // other character that could change the path's structure (`/`, `?`, `#`, `%`,
            // `\`, whitespace) is percent-encoded, so it stays inside its segment.
            let rendered = fill_with(prefix_template, secrets, |v| {
                Zeroizing::new(encode_component(v).replace("%3A", ":").replace("%40", "@"))
            })?;
            out.injected
                .push(Zeroizing::new(rendered.as_bytes().to_vec()));
            out.path_prefix = Some(rendered);
        }
        AuthSpec::Basic {
            username_template,
            password_template,
        } => {
            let user = fill(username_template, secrets)?;
            let password = fill(password_template, secrets)?;
            if user.contains(':') {
                return Err(Error::new(
                    ErrorKind::PolicyViolation,
                    "the basic-auth username contains ':', which RFC 7617 forbids",
                ));
            }
            let pair = Zeroizing::new(format!("{}:{}", user.as_str(), password.as_str()));
            let token = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*pair));
            out.injected.push(Zeroizing::new(pair.as_bytes().to_vec()));
            out.header(
                "authorization",
                Zeroizing::new(format!("Basic {}", token.as_str())),
            )?;
        }
        AuthSpec::MultiHeader { headers } => {
            for h in headers {
                out.header(&h.header_name, fill(&h.value_template, secrets)?)?;
            }
        }
        AuthSpec::MultiQuery { params } => {
            for p in params {
                out.query(&p.param_name, fill(&p.value_template, secrets)?);
            }
        }
        AuthSpec::Oauth2 { .. }
        | AuthSpec::AwsSigv4 { .. }
        | AuthSpec::Hmac { .. }
        | AuthSpec::Mtls {} => {}
    }
    for value in secrets.values() {
        out.injected.push(Zeroizing::new(value.expose().to_vec()));
    }
    Ok(out)
}

/// Replaces every `{{role}}` of `template` with that secret's value.
pub(crate) fn fill(template: &str, secrets: &Secrets) -> Result<Zeroizing<String>> {
    fill_with(template, secrets, |v| Zeroizing::new(v.to_string()))
}

fn fill_with(
    template: &str,
    secrets: &Secrets,
    encode: impl Fn(&str) -> Zeroizing<String>,
) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(template.len() + 64));
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Error::internal("unterminated placeholder in an auth template"))?;
        let role = after[..end].trim();
        let value = secrets.get(role).ok_or_else(|| {
            Error::new(
                ErrorKind::CredentialNotFound,
                format!("the credential has no secret for '{{{{{role}}}}}'"),
            )
        })?;
        let text = std::str::from_utf8(value.expose()).map_err(|_| {
            Error::new(
                ErrorKind::PolicyViolation,
                format!("the secret for '{{{{{role}}}}}' is not UTF-8 text and cannot be injected"),
            )
        })?;
        out.push_str(&encode(text));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Before a path prefix is rendered: its template must be one `create` accepts (a credential
/// stored by an older version may predate the check), and no secret it takes may be `.` or
/// `..` (a dot segment once in place; percent-encoding leaves dots alone) or hold a control
/// character. Errors name the role, never the value.
fn check_path_values(template: &str, secrets: &Secrets) -> Result<()> {
    check_path_template(template).map_err(|e| {
        Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "the credential's path prefix template {e}; recreate the credential with a valid --path-prefix-template"
            ),
        )
    })?;
    for role in placeholders(template) {
        let Some(value) = secrets.get(role) else {
            continue;
        };
        let value = value.expose();
        let why = if value == b"." || value == b".." {
            "is '.' or '..', which would be a dot segment in the upstream path"
        } else if value.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            "contains a control character"
        } else if value.is_empty() {
            "is empty"
        } else {
            continue;
        };
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "the secret for '{{{{{role}}}}}' {why}, so it cannot go in the path; fix the secret's value"
            ),
        ));
    }
    Ok(())
}

/// A rendered header value must not smuggle a line break or control character.
fn check_header_value(name: &str, value: &str) -> Result<()> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "the value rendered for header '{name}' contains a control character; fix the secret's value"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::{HeaderTemplate, QueryTemplate};

    fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::from(*v)))
            .collect()
    }

    #[test]
    fn header_query_path_basic_and_multi() {
        let s = secrets(&[("secret", "sk/1 2"), ("key", "k1"), ("token", "t1")]);
        let header = render(
            &AuthSpec::Header {
                header_name: "Authorization".into(),
                value_template: "Bearer {{secret}}".into(),
            },
            &s,
        )
        .unwrap();
        assert_eq!(header.headers[0].0, "authorization");
        assert_eq!(header.headers[0].1.as_str(), "Bearer sk/1 2");
        let query = render(
            &AuthSpec::Query {
                param_name: "api key".into(),
                value_template: "{{secret}}".into(),
            },
            &s,
        )
        .unwrap();
        assert_eq!(query.query[0].0, "api%20key");
        assert_eq!(query.query[0].1.as_str(), "sk%2F1%202");
        let path = render(
            &AuthSpec::Path {
                prefix_template: "/bot{{secret}}".into(),
            },
            &s,
        )
        .unwrap();
        assert_eq!(path.path_prefix.unwrap().as_str(), "/botsk%2F1%202");
        let basic = render(
            &AuthSpec::Basic {
                username_template: "{{key}}".into(),
                password_template: "{{token}}".into(),
            },
            &s,
        )
        .unwrap();
        assert_eq!(basic.headers[0].1.as_str(), "Basic azE6dDE=");
        let multi = render(
            &AuthSpec::MultiHeader {
                headers: vec![
                    HeaderTemplate {
                        header_name: "x-key".into(),
                        value_template: "{{key}}".into(),
                    },
                    HeaderTemplate {
                        header_name: "x-token".into(),
                        value_template: "T {{token}}".into(),
                    },
                ],
            },
            &s,
        )
        .unwrap();
        assert_eq!(multi.headers.len(), 2);
        assert_eq!(multi.headers[1].1.as_str(), "T t1");
        let mq = render(
            &AuthSpec::MultiQuery {
                params: vec![
                    QueryTemplate {
                        param_name: "key".into(),
                        value_template: "{{key}}".into(),
                    },
                    QueryTemplate {
                        param_name: "token".into(),
                        value_template: "{{token}}".into(),
                    },
                ],
            },
            &s,
        )
        .unwrap();
        assert_eq!(mq.query[1].1.as_str(), "t1");
    }

    #[test]
    fn a_secret_with_a_line_break_is_never_rendered_into_a_header() {
        let s = secrets(&[("secret", "abc\r\nx-evil: 1")]);
        let err = render(
            &AuthSpec::Header {
                header_name: "authorization".into(),
                value_template: "Bearer {{secret}}".into(),
            },
            &s,
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::PolicyViolation);
        assert!(!err.message().contains("abc"));
    }
}
