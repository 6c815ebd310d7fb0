//! Host names: the one parser for the hosts of credentials, capabilities and the registry.
//!
//! A host is a DNS name (lower-cased on input), optionally with `:PORT`; where allowed, a
//! leading `*.` wildcard label (registry patterns) or an IP literal (`192.168.1.20`,
//! `[::1]`, only for a credential that opted in to the private network). Each parse returns
//! the host's one canonical spelling, so every comparison (credential against capability,
//! capability against registry pattern) compares like with like.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::broker::netguard;
use crate::model::printable;

/// What a host may be, by where it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostRules {
    /// A leading `*.` label (registry patterns only).
    pub wildcard: bool,
    /// An explicit `:PORT`.
    pub port: bool,
    /// A one-label name (`localhost`, `ollama`).
    pub single_label: bool,
    /// An IP literal, pinned: the broker connects to it without a lookup.
    pub ip_literal: bool,
}

/// Registry host patterns and the hosts of registry providers' credentials: DNS names of at
/// least two labels, an optional leading `*.`, no port, no IP literal.
pub(crate) const REGISTRY: HostRules = HostRules {
    wildcard: true,
    port: false,
    single_label: false,
    ip_literal: false,
};

/// Hosts of a provider of the operator's own: a concrete DNS name, optionally with a port.
pub(crate) const OPERATOR: HostRules = HostRules {
    wildcard: false,
    port: true,
    single_label: false,
    ip_literal: false,
};

/// Hosts of an operator credential with `--allow-private-network`: also one-label names and
/// IP literals (the network guard still checks the literal's address).
pub(crate) const PRIVATE: HostRules = HostRules {
    wildcard: false,
    port: true,
    single_label: true,
    ip_literal: true,
};

/// Everything any rule admits: used to put a host in its canonical spelling before it is
/// compared with hosts that were already accepted.
const ANY: HostRules = HostRules {
    wildcard: true,
    port: true,
    single_label: true,
    ip_literal: true,
};

/// Parses `raw` under `rules` into its canonical spelling: trimmed, lower-case, IPv6 in
/// brackets in its compressed form (`[::1]:11434`), port without leading zeros.
///
/// # Errors
/// A message naming the host (printably) and the rule it breaks.
pub(crate) fn parse(raw: &str, rules: HostRules) -> Result<String, String> {
    let raw = raw.trim();
    let shown = printable(raw);
    let why = |why: &str| format!("host '{shown}' {why}");
    if raw.is_empty() {
        return Err("a host cannot be empty".into());
    }
    if !raw.is_ascii() {
        return Err(why(
            "must be ASCII (write an internationalized name in its xn-- form)",
        ));
    }
    if raw.contains("://") || raw.contains(['/', '?', '#', '@', '\\']) {
        return Err(why(
            "must be a host name, not a URL (no scheme, path, query or user)",
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(why("cannot contain spaces or control characters"));
    }
    let lower = raw.to_ascii_lowercase();
    let (name, port) = split_port(&lower).map_err(why)?;
    let port = match port {
        None => None,
        Some(_) if !rules.port => {
            return Err(why(
                "cannot carry a port here (ports are for hosts of providers of your own)",
            ));
        }
        Some(text) => match text.parse::<u16>() {
            Ok(p) if p != 0 && !text.starts_with('+') => Some(p),
            _ => return Err(why("has an invalid port (use 1-65535)")),
        },
    };
    let host = match literal(name) {
        Some(ip) => {
            if !rules.ip_literal {
                return Err(why(
                    "is an IP literal; give a DNS name (IP literals are only for credentials with --allow-private-network)",
                ));
            }
            let canonical = match ip {
                IpAddr::V4(v4) => canonical_v4(name, v4).map_err(why)?,
                IpAddr::V6(v6) => canonical_v6(name, v6).map_err(why)?,
            };
            if let Some(reason) = netguard::never_allowed(ip) {
                return Err(format!(
                    "host '{shown}' is a {reason} address, which aivault never connects to"
                ));
            }
            canonical
        }
        None => {
            check_name(name, rules).map_err(why)?;
            name.to_string()
        }
    };
    Ok(match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// A host in its canonical spelling when some rule admits it (a DNS name or pattern, an IP
/// literal, with or without a port): for comparing a host with hosts that were already
/// accepted under their own rules.
pub(crate) fn canonical(raw: &str) -> Result<String, String> {
    parse(raw, ANY)
}

/// Checks a registry host pattern as written in a registry file: it must already be in its
/// canonical (lower-case) spelling.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    match parse(pattern, REGISTRY) {
        Ok(canonical) if canonical == pattern => Ok(()),
        _ => Err(format!(
            "host '{}' must be a lower-case DNS name (wildcards only as a leading '*.' label)",
            printable(pattern)
        )),
    }
}

/// Splits `name[:port]`, `[v6][:port]` or a bare IPv6 literal (several colons, no port).
fn split_port(host: &str) -> Result<(&str, Option<&str>), &'static str> {
    if host.starts_with('[') {
        let end = host
            .find(']')
            .ok_or("opens '[' without closing it (write IPv6 as [addr] or [addr]:port)")?;
        let (name, rest) = host.split_at(end + 1);
        return match rest {
            "" => Ok((name, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((name, Some(port))),
                None => Err("has text after ']' (expected [addr]:port)"),
            },
        };
    }
    match host.matches(':').count() {
        0 => Ok((host, None)),
        1 => {
            let (name, port) = host.split_once(':').ok_or("has an invalid port")?;
            Ok((name, Some(port)))
        }
        _ => Ok((host, None)),
    }
}

/// The IP address `name` is read as, in any notation (brackets, `inet_aton` legacy forms).
fn literal(name: &str) -> Option<IpAddr> {
    netguard::parse_ip_literal(name)
}

/// An IPv4 literal must be a plain dotted quad: legacy notations (`127.1`, `0x7f.0.0.1`,
/// `2130706433`) read differently in different tools.
fn canonical_v4(name: &str, ip: Ipv4Addr) -> Result<String, &'static str> {
    if ip.to_string() == name {
        Ok(name.to_string())
    } else {
        Err("is an IPv4 address in a legacy notation; write it as a dotted quad (a.b.c.d)")
    }
}

/// An IPv6 literal without a zone (`%eth0`), written in brackets in its compressed form.
fn canonical_v6(name: &str, ip: Ipv6Addr) -> Result<String, &'static str> {
    let inner = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if inner.contains('%') {
        return Err("has an IPv6 zone, which aivault does not support");
    }
    Ok(format!("[{ip}]"))
}

/// A DNS name: labels of a-z, 0-9, '-' (1-63, no leading or trailing '-'), at most 253
/// characters, at least two labels unless `single_label`, not ending in an all-digit label,
/// an optional leading `*.` when `wildcard`.
fn check_name(name: &str, rules: HostRules) -> Result<(), &'static str> {
    let (labels_text, wildcard) = match name.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    if wildcard && !rules.wildcard || labels_text.contains('*') {
        return Err(
            "has a wildcard: wildcards are only allowed in the registry (give a concrete host)",
        );
    }
    let labels: Vec<&str> = labels_text.split('.').collect();
    let numeric_tld = labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    let enough = labels.len() >= 2 || (rules.single_label && !wildcard);
    if name.len() > 253 || !labels.iter().all(|l| is_dns_label(l)) || numeric_tld {
        return Err("must be a DNS name (labels of a-z, 0-9 and '-'), optionally with :PORT");
    }
    if !enough {
        return Err(
            "must have at least two labels (one-label names such as localhost need --allow-private-network)",
        );
    }
    Ok(())
}

/// A lower-case DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'.
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spellings() {
        for (raw, rules, want) in [
            ("API.Example.COM", OPERATOR, "api.example.com"),
            (" git.example.com:8443 ", OPERATOR, "git.example.com:8443"),
            ("git.example.com:08443", OPERATOR, "git.example.com:8443"),
            ("192.168.1.20:8080", PRIVATE, "192.168.1.20:8080"),
            ("[::1]:11434", PRIVATE, "[::1]:11434"),
            ("::1", PRIVATE, "[::1]"),
            ("[0:0::1]", PRIVATE, "[::1]"),
            ("[FD00::1]", PRIVATE, "[fd00::1]"),
            ("LocalHost:11434", PRIVATE, "localhost:11434"),
            ("*.myshopify.com", REGISTRY, "*.myshopify.com"),
        ] {
            assert_eq!(parse(raw, rules).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refusals() {
        for (raw, rules) in [
            ("", OPERATOR),
            ("localhost", OPERATOR),
            ("127.0.0.1", OPERATOR),
            ("[::1]:80", OPERATOR),
            ("x.com:443", REGISTRY),
            ("x.com:0", OPERATOR),
            ("x.com:65536", OPERATOR),
            ("x.com:", OPERATOR),
            ("x.com:+1", OPERATOR),
            ("*.x.com", OPERATOR),
            ("a.*.com", REGISTRY),
            ("*x.com", REGISTRY),
            ("https://x.com", OPERATOR),
            ("x.com/path", OPERATOR),
            ("user@x.com", OPERATOR),
            ("x..com", OPERATOR),
            ("x.com.", OPERATOR),
            ("x_y.com", OPERATOR),
            ("1.2.3.999", PRIVATE),
            ("127.1", PRIVATE),
            ("0x7f000001", PRIVATE),
            ("2130706433:80", PRIVATE),
            ("0177.0.0.1", PRIVATE),
            ("[fe80::1%eth0]", PRIVATE),
            ("[::1", PRIVATE),
            ("[::1]x", PRIVATE),
            ("169.254.169.254", PRIVATE),
            ("0.0.0.0:80", PRIVATE),
            ("[::]", PRIVATE),
            ("bücher.de", OPERATOR),
            ("a b.com", OPERATOR),
        ] {
            assert!(parse(raw, rules).is_err(), "{raw} was accepted");
        }
    }

    #[test]
    fn registry_patterns_must_already_be_canonical() {
        assert!(check_pattern("api.openai.com").is_ok());
        assert!(check_pattern("*.myshopify.com").is_ok());
        for bad in [
            "API.openai.com",
            " api.openai.com",
            "localhost",
            "x.com:443",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }
}
