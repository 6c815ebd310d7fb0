//! The built-in providers as static data compiled from `registry/*.toml` by `build.rs`, with
//! sorted lookup tables (provider id, capability id, claimed secret name). A process parses
//! nothing at start-up, and a lookup builds the owned [`ProviderDef`] of the one provider it
//! returns, at its first use: `invoke` builds one provider, `capability list` all of them,
//! `status` none.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::registry::{
    AccountHeader, AuthSpec, CapabilityDef, CredentialDef, HeaderTemplate, OAuthGrant, ProviderDef,
    QueryTemplate, TokenAuth,
};

/// A provider as `build.rs` writes it (the fields of [`ProviderDef`], borrowed).
pub(crate) struct StaticProvider {
    id: &'static str,
    name: &'static str,
    docs: Option<&'static str>,
    hosts: &'static [&'static str],
    source: &'static str,
    credentials: &'static [StaticCredential],
    capabilities: &'static [StaticCapability],
}

/// A [`CredentialDef`], borrowed; serde's defaults are filled in by `build.rs`.
pub(crate) struct StaticCredential {
    id: &'static str,
    priority: i32,
    secrets: &'static [(&'static str, &'static str)],
    optional_secrets: &'static [(&'static str, &'static str)],
    hosts: Option<&'static [&'static str]>,
    capabilities: Option<&'static [&'static str]>,
    auth: StaticAuth,
}

/// A [`CapabilityDef`], borrowed.
pub(crate) struct StaticCapability {
    id: &'static str,
    description: Option<&'static str>,
    methods: &'static [&'static str],
    paths: &'static [&'static str],
    hosts: Option<&'static [&'static str]>,
    upstream_prefix: Option<&'static str>,
}

/// An [`AuthSpec`], borrowed (pairs are header/parameter name and value template, or the
/// account header's name and field).
pub(crate) enum StaticAuth {
    Header {
        header_name: &'static str,
        value_template: &'static str,
    },
    Query {
        param_name: &'static str,
        value_template: &'static str,
    },
    Path {
        prefix_template: &'static str,
    },
    Basic {
        username_template: &'static str,
        password_template: &'static str,
    },
    MultiHeader {
        headers: &'static [(&'static str, &'static str)],
    },
    MultiQuery {
        params: &'static [(&'static str, &'static str)],
    },
    Oauth2 {
        grant_type: OAuthGrant,
        token_endpoint: &'static str,
        scopes: &'static [&'static str],
        token_auth: TokenAuth,
        public_client_id: Option<&'static str>,
        account_header: Option<(&'static str, &'static str)>,
    },
    AwsSigv4 {
        service: &'static str,
        region: &'static str,
    },
    // Generated only for a registry file using the kind; none does today.
    #[allow(dead_code)]
    Hmac {
        header_name: &'static str,
        value_template: &'static str,
        timestamp_header: Option<&'static str>,
    },
    #[allow(dead_code)]
    Mtls,
}

include!(concat!(env!("OUT_DIR"), "/registry_static.rs"));

/// The number of built-in providers.
pub(crate) const COUNT: usize = PROVIDERS.len();

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl StaticProvider {
    fn to_def(&self) -> ProviderDef {
        ProviderDef {
            id: self.id.to_string(),
            name: self.name.to_string(),
            docs: self.docs.map(str::to_string),
            hosts: owned(self.hosts),
            credentials: self
                .credentials
                .iter()
                .map(StaticCredential::to_def)
                .collect(),
            capabilities: self
                .capabilities
                .iter()
                .map(StaticCapability::to_def)
                .collect(),
            source: self.source.to_string(),
        }
    }
}

impl StaticCredential {
    fn to_def(&self) -> CredentialDef {
        CredentialDef {
            id: self.id.to_string(),
            priority: self.priority,
            secrets: map(self.secrets),
            optional_secrets: map(self.optional_secrets),
            hosts: self.hosts.map(owned),
            capabilities: self.capabilities.map(owned),
            auth: self.auth.to_def(),
        }
    }
}

impl StaticCapability {
    fn to_def(&self) -> CapabilityDef {
        CapabilityDef {
            id: self.id.to_string(),
            description: self.description.map(str::to_string),
            methods: owned(self.methods),
            paths: owned(self.paths),
            hosts: self.hosts.map(owned),
            upstream_prefix: self.upstream_prefix.map(str::to_string),
        }
    }
}

impl StaticAuth {
    fn to_def(&self) -> AuthSpec {
        let s = |s: &str| s.to_string();
        match *self {
            StaticAuth::Header {
                header_name,
                value_template,
            } => AuthSpec::Header {
                header_name: s(header_name),
                value_template: s(value_template),
            },
            StaticAuth::Query {
                param_name,
                value_template,
            } => AuthSpec::Query {
                param_name: s(param_name),
                value_template: s(value_template),
            },
            StaticAuth::Path { prefix_template } => AuthSpec::Path {
                prefix_template: s(prefix_template),
            },
            StaticAuth::Basic {
                username_template,
                password_template,
            } => AuthSpec::Basic {
                username_template: s(username_template),
                password_template: s(password_template),
            },
            StaticAuth::MultiHeader { headers } => AuthSpec::MultiHeader {
                headers: headers
                    .iter()
                    .map(|(name, template)| HeaderTemplate {
                        header_name: s(name),
                        value_template: s(template),
                    })
                    .collect(),
            },
            StaticAuth::MultiQuery { params } => AuthSpec::MultiQuery {
                params: params
                    .iter()
                    .map(|(name, template)| QueryTemplate {
                        param_name: s(name),
                        value_template: s(template),
                    })
                    .collect(),
            },
            StaticAuth::Oauth2 {
                grant_type,
                token_endpoint,
                scopes,
                token_auth,
                public_client_id,
                account_header,
            } => AuthSpec::Oauth2 {
                grant_type,
                token_endpoint: s(token_endpoint),
                scopes: owned(scopes),
                token_auth,
                public_client_id: public_client_id.map(s),
                account_header: account_header.map(|(name, field)| AccountHeader {
                    name: s(name),
                    field: s(field),
                }),
            },
            StaticAuth::AwsSigv4 { service, region } => AuthSpec::AwsSigv4 {
                service: s(service),
                region: s(region),
            },
            StaticAuth::Hmac {
                header_name,
                value_template,
                timestamp_header,
            } => AuthSpec::Hmac {
                header_name: s(header_name),
                value_template: s(value_template),
                timestamp_header: timestamp_header.map(s),
            },
            StaticAuth::Mtls => AuthSpec::Mtls {},
        }
    }
}

/// The built-in providers of one [`crate::registry::Registry`]: each built at its first
/// lookup, or all at once for [`Builtin::all`].
#[derive(Debug)]
pub(crate) struct Builtin {
    one: Box<[OnceLock<ProviderDef>]>,
    all: OnceLock<Vec<ProviderDef>>,
}

impl Builtin {
    pub(crate) fn new() -> Builtin {
        Builtin {
            one: (0..COUNT).map(|_| OnceLock::new()).collect(),
            all: OnceLock::new(),
        }
    }

    /// Provider `p` (an index from one of the tables).
    pub(crate) fn get(&self, p: usize) -> &ProviderDef {
        match self.all.get() {
            Some(all) => &all[p],
            None => self.one[p].get_or_init(|| PROVIDERS[p].to_def()),
        }
    }

    /// Every provider, in file-name order.
    pub(crate) fn all(&self) -> &[ProviderDef] {
        self.all
            .get_or_init(|| PROVIDERS.iter().map(StaticProvider::to_def).collect())
    }

    /// The index of the provider with this id.
    pub(crate) fn provider(id: &str) -> Option<usize> {
        lookup(&BY_PROVIDER, id)
    }

    /// The index of the provider defining the capability `id`.
    pub(crate) fn capability(id: &str) -> Option<usize> {
        lookup(&BY_CAPABILITY, id)
    }

    /// The claim on a secret name: provider and credential index, role, optional.
    pub(crate) fn claim(name: &str) -> Option<(usize, usize, &'static str, bool)> {
        let i = BY_SECRET.binary_search_by(|e| e.0.cmp(name)).ok()?;
        let (_, p, c, role, optional) = BY_SECRET[i];
        Some((usize::from(p), usize::from(c), role, optional))
    }

    /// How many providers were built one by one (tests: a lookup builds only its provider).
    #[cfg(test)]
    pub(crate) fn built(&self) -> usize {
        self.one.iter().filter(|slot| slot.get().is_some()).count()
    }
}

fn lookup(table: &[(&str, u16)], key: &str) -> Option<usize> {
    let i = table.binary_search_by(|e| e.0.cmp(key)).ok()?;
    Some(usize::from(table[i].1))
}
