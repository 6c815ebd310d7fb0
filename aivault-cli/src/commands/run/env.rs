//! The child's environment under `aivault run`: the proxy, the CA bundle, placeholders for
//! the secret names the token's capabilities use, and nothing that holds a key.
//!
//! Pure functions over names and values, so the rules are tested without a process.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use aivault_core::registry::{CredentialDef, host_matches};
use aivault_core::{CapabilityListing, Registry};

/// The proxy variables (curl reads only the lower-case `http_proxy`; others read either).
const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"];

/// Where tools look for a CA bundle: OpenSSL and httpx, requests, curl, Node (extra CAs),
/// git, the Codex CLI and the AWS CLI and SDKs.
const CA_VARS: [&str; 7] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "CODEX_CA_CERTIFICATE",
    "AWS_CA_BUNDLE",
];

/// Other tools' CA bundle variables: pointed at the bundle when the parent sets them (a
/// bundle without aivault's CA would make those tools refuse the proxy's certificates).
const CA_VARS_WHEN_SET: [&str; 7] = [
    "PIP_CERT",
    "HTTPLIB2_CA_CERTS",
    "NIX_SSL_CERT_FILE",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
    "DENO_CERT",
    "NPM_CONFIG_CAFILE",
    "npm_config_cafile",
];

/// Loopback stays direct: local servers (a harness's own, `aivault serve --http`) are not the
/// proxy's business.
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// Always removed: the vault's key and passphrase, a caller token of the parent's (the
/// child's own is in the proxy URL), and proxies that would bypass aivault's.
const ALWAYS_REMOVED: [&str; 5] = [
    "AIVAULT_KEY",
    "AIVAULT_PASSPHRASE",
    "AIVAULT_TOKEN",
    "ALL_PROXY",
    "all_proxy",
];

/// What `aivault run` puts in (and takes out of) the child's environment.
#[derive(Debug, Clone)]
pub struct ChildEnv {
    /// `http://aivault:<token>@127.0.0.1:PORT`.
    pub proxy_url: String,
    /// The CA bundle (system roots plus aivault's CA).
    pub bundle: String,
    /// Secret names that get a placeholder value.
    pub placeholders: BTreeSet<String>,
    /// Names removed from the parent's environment (placeholders come back).
    pub removed: BTreeSet<String>,
}

impl ChildEnv {
    /// The variables `run` sets, in a stable order (what `--print-env` prints).
    pub fn variables(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = PROXY_VARS
            .iter()
            .map(|n| (n.to_string(), self.proxy_url.clone()))
            .collect();
        vars.push(("NO_PROXY".into(), NO_PROXY.into()));
        vars.push(("no_proxy".into(), NO_PROXY.into()));
        vars.extend(CA_VARS.iter().map(|n| (n.to_string(), self.bundle.clone())));
        vars.extend(
            self.placeholders
                .iter()
                .map(|n| (n.clone(), placeholder(n))),
        );
        vars
    }

    /// The child's whole environment: the parent's, without every removed name and every
    /// name `run` sets, then `run`'s variables.
    pub fn apply(
        &self,
        parent: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let mut vars = self.variables();
        let set: BTreeSet<String> = vars.iter().map(|(n, _)| n.clone()).collect();
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        for (name, value) in parent {
            let text = name.to_string_lossy();
            if CA_VARS_WHEN_SET.contains(&text.as_ref()) {
                vars.push((text.into_owned(), self.bundle.clone()));
            } else if !set.contains(text.as_ref())
                && !self.removed.contains(text.as_ref())
                && !ALWAYS_REMOVED.contains(&text.as_ref())
            {
                env.push((name, value));
            }
        }
        env.extend(vars.into_iter().map(|(n, v)| (n.into(), v.into())));
        env
    }
}

/// The proxy URL tools read: the token as the password of user `aivault`.
pub fn proxy_url(token: &str, address: &str) -> String {
    format!("http://aivault:{token}@{address}")
}

/// The value standing in for secret `name` (tools that insist on a key start; the proxy
/// replaces whatever credential they send).
pub fn placeholder(name: &str) -> String {
    format!("aivault-placeholder-{name}")
}

/// The secret names the registry credentials serving the listed capabilities claim (required
/// ones: an optional one such as a session token would be sent as if real).
pub fn placeholder_names(registry: &Registry, listing: &CapabilityListing) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for capability in listing.ready.iter().chain(&listing.available) {
        let alternatives: Vec<&CredentialDef> = match registry.capability(&capability.id) {
            Some((provider, _)) => provider.alternatives_for(&capability.id),
            // A capability of your own for a registry provider: the alternatives whose
            // hosts cover all of its hosts.
            None => match registry.provider(&capability.provider) {
                Some(provider) => provider
                    .credentials
                    .iter()
                    .filter(|c| {
                        let hosts = provider.credential_hosts(c);
                        !capability.allow.hosts.is_empty()
                            && capability
                                .allow
                                .hosts
                                .iter()
                                .all(|h| hosts.iter().any(|p| p == h || host_matches(p, h)))
                    })
                    .collect(),
                None => Vec::new(),
            },
        };
        for alternative in alternatives {
            names.extend(alternative.secrets.values().cloned());
        }
    }
    names
}

/// Every secret name the registry claims, required or optional: none of them reaches the
/// child with a value from the parent.
pub fn claimed_names(registry: &Registry) -> BTreeSet<String> {
    registry
        .providers()
        .iter()
        .flat_map(|p| &p.credentials)
        .flat_map(|c| c.secrets.values().chain(c.optional_secrets.values()))
        .cloned()
        .collect()
}

/// `value` in single quotes for a POSIX shell (`'` becomes `'\''`).
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `--print-env`'s text: one `export NAME='value'` line per variable.
pub fn exports(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(n, v)| format!("export {n}={}\n", shell_quote(v)))
        .collect()
}

/// `--print-env -v`: the variables as one JSON object (for a harness's settings file).
pub fn json(vars: &[(String, String)]) -> BTreeMap<&str, &str> {
    vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// The path as text (the child's environment is text).
pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child() -> ChildEnv {
        ChildEnv {
            proxy_url: proxy_url("avt_x", "127.0.0.1:9"),
            bundle: "/tmp/b.pem".into(),
            placeholders: ["OPENAI_API_KEY".to_string()].into(),
            removed: ["OPENAI_API_KEY".to_string(), "GITHUB_TOKEN".to_string()].into(),
        }
    }

    fn get<'a>(env: &'a [(OsString, OsString)], name: &str) -> Vec<&'a OsString> {
        env.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn parent_values_are_replaced_or_removed() {
        let parent = [
            ("OPENAI_API_KEY", "sk-real"),
            ("GITHUB_TOKEN", "ghp-real"),
            ("AIVAULT_KEY", "k"),
            ("AIVAULT_PASSPHRASE", "p"),
            ("AIVAULT_TOKEN", "avt_parent"),
            ("HTTPS_PROXY", "http://corp:3128"),
            ("all_proxy", "socks5://x"),
            ("NO_PROXY", "api.openai.com"),
            ("PATH", "/bin"),
            ("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"),
        ]
        .map(|(n, v)| (OsString::from(n), OsString::from(v)));
        let env = child().apply(parent);
        assert_eq!(
            get(&env, "OPENAI_API_KEY"),
            ["aivault-placeholder-OPENAI_API_KEY"]
        );
        for gone in [
            "GITHUB_TOKEN",
            "AIVAULT_KEY",
            "AIVAULT_PASSPHRASE",
            "AIVAULT_TOKEN",
            "all_proxy",
        ] {
            assert!(get(&env, gone).is_empty(), "{gone}");
        }
        assert_eq!(
            get(&env, "HTTPS_PROXY"),
            ["http://aivault:avt_x@127.0.0.1:9"]
        );
        assert_eq!(get(&env, "NO_PROXY"), [NO_PROXY]);
        assert_eq!(get(&env, "PATH"), ["/bin"]);
        assert_eq!(get(&env, "GIT_SSL_CAINFO"), ["/tmp/b.pem"]);
        assert_eq!(get(&env, "PIP_CERT"), ["/tmp/b.pem"]);
        assert!(get(&env, "npm_config_cafile").is_empty());
        let text = format!("{env:?}");
        assert!(!text.contains("sk-real") && !text.contains("ghp-real"));
    }

    #[test]
    fn quoting_survives_a_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(x)`y`\n"), "'$(x)`y`\n'");
    }

    #[test]
    fn the_registry_names_openai_api_key_for_openai_models_only() {
        let registry = Registry::builtin();
        let claimed = claimed_names(registry);
        assert!(claimed.contains("OPENAI_API_KEY") && claimed.contains("GITHUB_TOKEN"));
        let listing = CapabilityListing {
            ready: vec![aivault_core::CapabilityInfo {
                id: "openai/models".into(),
                provider: "openai".into(),
                origin: aivault_core::CapabilityOrigin::Registry,
                allow: aivault_core::Allow {
                    hosts: vec!["api.openai.com".into()],
                    methods: vec!["GET".into()],
                    path_prefixes: vec!["/v1/models".into()],
                    upstream_prefix: None,
                },
                credentials: vec![],
                required_secrets: vec![],
                setup: None,
            }],
            available: vec![],
            policies: vec![],
        };
        let names = placeholder_names(registry, &listing);
        assert_eq!(names, ["OPENAI_API_KEY".to_string()].into());
    }
}
