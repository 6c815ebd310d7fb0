//! The provider registry: which secret names a provider claims, how its credential injects
//! them (auth strategy), towards which hosts, and which capabilities it enables.
//!
//! Built-in providers are the `registry/*.toml` files, embedded at build time (see `build.rs`).
//! The TOML schema is documented in `registry/README.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One provider (`openai`, `trello`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDef {
    /// Unique id, lower-case (`openai`).
    pub id: String,
    /// Display name (`OpenAI`).
    pub name: String,
    /// Link to the provider's API documentation.
    #[serde(default)]
    pub docs: Option<String>,
    /// Hosts of the provider's API (patterns `*.example.com` allowed).
    pub hosts: Vec<String>,
    /// Ways to authenticate, most preferred first.
    pub credentials: Vec<CredentialDef>,
    /// Capabilities the provider offers.
    pub capabilities: Vec<CapabilityDef>,
    /// The file this provider came from (`registry/openai.toml`).
    #[serde(default)]
    pub source: String,
}

/// One way to authenticate against a provider (a "credential alternative").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialDef {
    /// Alternative id, unique within the provider; `default` unless several exist.
    #[serde(default = "default_alternative")]
    pub id: String,
    /// Higher wins when several alternatives could serve a capability.
    #[serde(default)]
    pub priority: i32,
    /// Template role → claimed secret name (`{ secret = "OPENAI_API_KEY" }`). All must exist
    /// in one scope before the credential is provisioned.
    pub secrets: BTreeMap<String, String>,
    /// Roles that are used when present but not required (`session_token`).
    #[serde(default)]
    pub optional_secrets: BTreeMap<String, String>,
    /// Hosts this alternative may reach; defaults to the provider's hosts.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Capability ids it serves; defaults to every capability whose hosts it covers.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// How the secrets are injected.
    pub auth: AuthSpec,
}

fn default_alternative() -> String {
    DEFAULT_ALTERNATIVE.to_string()
}

/// The id of a provider's credential alternative when it has only one.
pub const DEFAULT_ALTERNATIVE: &str = "default";

/// A capability: a named, policy-bounded slice of a provider's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityDef {
    /// Unique id `<provider>/<name>`.
    pub id: String,
    /// One-line description.
    #[serde(default)]
    pub description: Option<String>,
    /// Allowed upper-case HTTP methods.
    pub methods: Vec<String>,
    /// Allowed path prefixes (segment-aware), each starting with `/`.
    pub paths: Vec<String>,
    /// Allowed hosts; defaults to the provider's hosts.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// A base path the upstream serves this capability under, put before the caller's path
    /// on the wire: callers invoke `/responses`, the request goes to
    /// `/backend-api/codex/responses`. Absent: the caller's path is the upstream path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_prefix: Option<String>,
}

/// An auth strategy. Templates use `{{role}}` placeholders naming the credential's secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthSpec {
    /// One header: `authorization: Bearer {{secret}}`.
    Header {
        /// Header name.
        header_name: String,
        /// Header value template.
        value_template: String,
    },
    /// One query parameter: `?key={{secret}}`.
    Query {
        /// Parameter name.
        param_name: String,
        /// Parameter value template.
        #[serde(default = "secret_template")]
        value_template: String,
    },
    /// A path prefix prepended to the caller's path: `/bot{{secret}}`.
    Path {
        /// Prefix template.
        prefix_template: String,
    },
    /// HTTP Basic (RFC 7617) from a username and a password template.
    Basic {
        /// Username template (`api`, `{{account_sid}}`).
        username_template: String,
        /// Password template (`{{secret}}`).
        password_template: String,
    },
    /// Several headers.
    MultiHeader {
        /// The headers, in order.
        headers: Vec<HeaderTemplate>,
    },
    /// Several query parameters.
    MultiQuery {
        /// The parameters, in order.
        params: Vec<QueryTemplate>,
    },
    /// OAuth 2.0 access token from a secret holding client credentials / refresh token (JSON).
    Oauth2 {
        /// Grant used to obtain access tokens.
        grant_type: OAuthGrant,
        /// Token endpoint (https, within the credential's hosts).
        token_endpoint: String,
        /// Requested scopes.
        #[serde(default)]
        scopes: Vec<String>,
        /// How a confidential client authenticates to the token endpoint (RFC 6749 §2.3.1);
        /// HTTP Basic unless the provider needs the form body.
        #[serde(default)]
        token_auth: TokenAuth,
        /// The client id of a public client whose secret holds only tokens (the Codex CLI's
        /// `auth.json`); a `client_id` in the secret takes precedence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_client_id: Option<String>,
        /// A header carrying a field of the secret next to the token
        /// (`chatgpt-account-id` from `account_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_header: Option<AccountHeader>,
    },
    /// AWS Signature Version 4 from `access_key_id`, `secret_access_key` (and optional
    /// `session_token`) secrets.
    AwsSigv4 {
        /// Service name in the credential scope (`s3`, `bedrock`).
        service: String,
        /// Region (`us-east-1`).
        region: String,
    },
    /// HMAC-SHA256 request signature; the key never leaves the vault.
    Hmac {
        /// Header carrying the signature.
        header_name: String,
        /// Header value template; `{{signature}}` is the lower-case hex HMAC.
        value_template: String,
        /// Header carrying the signed Unix timestamp, if the provider wants one.
        #[serde(default)]
        timestamp_header: Option<String>,
    },
    /// Mutual TLS: client certificate (`certificate`) and key (`private_key`) secrets, PEM.
    Mtls {},
}

fn secret_template() -> String {
    "{{secret}}".to_string()
}

/// A header name and its value template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderTemplate {
    /// Header name.
    pub header_name: String,
    /// Value template.
    pub value_template: String,
}

/// A query parameter name and its value template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryTemplate {
    /// Parameter name.
    pub param_name: String,
    /// Value template.
    pub value_template: String,
}

/// A header an `oauth2` credential sets from a text field of its JSON secret (looked up
/// where the tokens are: at the top, or in the Codex CLI's nested `tokens` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountHeader {
    /// Header name (lower-case on the wire).
    pub name: String,
    /// The secret's field (`account_id`; its camelCase spelling is accepted too).
    pub field: String,
}

/// How an OAuth 2.0 client with a secret sends its id and secret to the token endpoint.
/// A public client (no secret) always sends `client_id` in the form body, no header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// `Authorization: Basic base64(urlenc(id):urlenc(secret))` (RFC 6749 §2.3.1, the default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// OAuth 2.0 grants the broker can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

impl AuthSpec {
    /// The short name used on the command line (`header`, `multi-query`, `aws-sigv4`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            AuthSpec::Header { .. } => "header",
            AuthSpec::Query { .. } => "query",
            AuthSpec::Path { .. } => "path",
            AuthSpec::Basic { .. } => "basic",
            AuthSpec::MultiHeader { .. } => "multi-header",
            AuthSpec::MultiQuery { .. } => "multi-query",
            AuthSpec::Oauth2 { .. } => "oauth2",
            AuthSpec::AwsSigv4 { .. } => "aws-sigv4",
            AuthSpec::Hmac { .. } => "hmac",
            AuthSpec::Mtls {} => "mtls",
        }
    }

    /// Every template string of this strategy.
    pub fn templates(&self) -> Vec<&str> {
        match self {
            AuthSpec::Header { value_template, .. } | AuthSpec::Query { value_template, .. } => {
                vec![value_template]
            }
            AuthSpec::Path { prefix_template } => vec![prefix_template],
            AuthSpec::Basic {
                username_template,
                password_template,
            } => vec![username_template, password_template],
            AuthSpec::MultiHeader { headers } => {
                headers.iter().map(|h| h.value_template.as_str()).collect()
            }
            AuthSpec::MultiQuery { params } => {
                params.iter().map(|p| p.value_template.as_str()).collect()
            }
            AuthSpec::Hmac { value_template, .. } => vec![value_template],
            AuthSpec::Oauth2 { .. } | AuthSpec::AwsSigv4 { .. } | AuthSpec::Mtls {} => vec![],
        }
    }

    /// The secret roles this strategy needs: its template placeholders and its fixed roles.
    pub fn required_roles(&self) -> BTreeSet<String> {
        let mut roles: BTreeSet<String> = self
            .templates()
            .into_iter()
            .flat_map(placeholders)
            .filter(|role| *role != "signature")
            .map(str::to_string)
            .collect();
        roles.extend(self.fixed_roles().iter().map(|r| r.to_string()));
        roles
    }

    /// Roles the strategy uses when present (`session_token` of AWS).
    pub fn optional_roles(&self) -> &'static [&'static str] {
        match self {
            AuthSpec::AwsSigv4 { .. } => &["session_token"],
            _ => &[],
        }
    }

    /// Header names the strategy sets (callers may not send them).
    pub fn header_names(&self) -> Vec<&str> {
        match self {
            AuthSpec::Header { header_name, .. } => vec![header_name],
            AuthSpec::Hmac {
                header_name,
                timestamp_header,
                ..
            } => std::iter::once(header_name)
                .chain(timestamp_header)
                .map(String::as_str)
                .collect(),
            AuthSpec::MultiHeader { headers } => {
                headers.iter().map(|h| h.header_name.as_str()).collect()
            }
            AuthSpec::Basic { .. } => vec!["authorization"],
            AuthSpec::Oauth2 { account_header, .. } => std::iter::once("authorization")
                .chain(account_header.as_ref().map(|h| h.name.as_str()))
                .collect(),
            AuthSpec::AwsSigv4 { .. } => vec![
                "authorization",
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-security-token",
            ],
            _ => vec![],
        }
    }

    /// Query parameter names the strategy sets (callers may not send them).
    pub fn param_names(&self) -> Vec<&str> {
        match self {
            AuthSpec::Query { param_name, .. } => vec![param_name],
            AuthSpec::MultiQuery { params } => {
                params.iter().map(|p| p.param_name.as_str()).collect()
            }
            _ => vec![],
        }
    }

    /// Secret roles the strategy itself needs beyond its templates.
    fn fixed_roles(&self) -> &'static [&'static str] {
        match self {
            AuthSpec::AwsSigv4 { .. } => &["access_key_id", "secret_access_key"],
            AuthSpec::Mtls {} => &["certificate", "private_key"],
            AuthSpec::Oauth2 { .. } | AuthSpec::Hmac { .. } => &["secret"],
            _ => &[],
        }
    }
}

/// The `{{name}}` placeholders of a template, in order.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

/// Whether `host` (a concrete lower-case host name) matches `pattern`: equal, or
/// `*.suffix` where `*` stands for exactly one DNS label.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == host,
    }
}

/// A registry provider's claim on a secret name.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'r> {
    /// The provider claiming the name.
    pub provider: &'r ProviderDef,
    /// The credential alternative the name belongs to.
    pub credential: &'r CredentialDef,
    /// The template role the secret plays.
    pub role: &'r str,
    /// Whether the role is optional.
    pub optional: bool,
}

/// The loaded, indexed registry.
#[derive(Debug)]
pub struct Registry {
    providers: Providers,
    /// Every capability as a view, built at first use (routing scans them on each request).
    views: std::sync::OnceLock<Vec<crate::capabilities::CapabilityView>>,
}

/// Where a registry's providers live.
#[derive(Debug)]
enum Providers {
    /// Providers given at run time (operator files, tests), indexed in hash maps.
    Indexed {
        list: Vec<ProviderDef>,
        by_provider: HashMap<String, usize>,
        by_secret: HashMap<String, (usize, usize, String, bool)>,
        by_capability: HashMap<String, usize>,
    },
    /// The compiled-in providers: static lookup tables, each provider built at its first use.
    Builtin(crate::registry_static::Builtin),
}

impl Registry {
    /// The built-in registry, compiled in (`build.rs`): nothing is parsed, and each provider
    /// is built at its first lookup.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(Registry::compiled)
    }

    /// A new instance of the built-in registry (tests build one to see what a lookup builds).
    pub(crate) fn compiled() -> Registry {
        Registry {
            providers: Providers::Builtin(crate::registry_static::Builtin::new()),
            views: OnceLock::new(),
        }
    }

    /// Parses a JSON array of providers (each one a `registry/*.toml` document as JSON).
    pub fn from_json(json: &str) -> Result<Registry> {
        let providers: Vec<ProviderDef> =
            serde_json::from_str(json).map_err(|e| Error::invalid(format!("registry: {e}")))?;
        Registry::from_providers(providers)
    }

    /// Every capability of every provider as a view (built once; the registry never changes
    /// after it is loaded).
    pub(crate) fn capability_views(&self) -> &[crate::capabilities::CapabilityView] {
        self.views.get_or_init(|| {
            self.providers()
                .iter()
                .flat_map(|provider| {
                    provider.capabilities.iter().map(move |capability| {
                        crate::capabilities::registry_view(provider, capability)
                    })
                })
                .collect()
        })
    }

    /// Indexes providers. Fails on duplicate provider ids, capability ids or claimed names
    /// (the full rule set is [`Registry::problems`]).
    pub fn from_providers(providers: Vec<ProviderDef>) -> Result<Registry> {
        let mut by_provider = HashMap::new();
        let mut by_secret = HashMap::new();
        let mut by_capability = HashMap::new();
        for (p, provider) in providers.iter().enumerate() {
            if by_provider.insert(provider.id.clone(), p).is_some() {
                return Err(Error::invalid(format!(
                    "{}: provider '{}' is defined twice",
                    provider.source, provider.id
                )));
            }
            for capability in &provider.capabilities {
                if by_capability.insert(capability.id.clone(), p).is_some() {
                    return Err(Error::invalid(format!(
                        "{}: capability '{}' is defined twice",
                        provider.source, capability.id
                    )));
                }
            }
            for (c, credential) in provider.credentials.iter().enumerate() {
                let roles = credential
                    .secrets
                    .iter()
                    .map(|r| (r, false))
                    .chain(credential.optional_secrets.iter().map(|r| (r, true)));
                for ((role, name), optional) in roles {
                    let previous = by_secret.insert(name.clone(), (p, c, role.clone(), optional));
                    if previous.is_some() {
                        return Err(Error::invalid(format!(
                            "{}: secret name '{name}' is claimed twice",
                            provider.source
                        )));
                    }
                }
            }
        }
        Ok(Registry {
            providers: Providers::Indexed {
                list: providers,
                by_provider,
                by_secret,
                by_capability,
            },
            views: std::sync::OnceLock::new(),
        })
    }

    /// All providers, sorted by file name.
    pub fn providers(&self) -> &[ProviderDef] {
        match &self.providers {
            Providers::Indexed { list, .. } => list,
            Providers::Builtin(builtin) => builtin.all(),
        }
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderDef> {
        match &self.providers {
            Providers::Indexed {
                list, by_provider, ..
            } => by_provider.get(id).map(|&p| &list[p]),
            Providers::Builtin(builtin) => {
                crate::registry_static::Builtin::provider(id).map(|p| builtin.get(p))
            }
        }
    }

    /// The provider and capability with this capability id.
    pub fn capability(&self, id: &str) -> Option<(&ProviderDef, &CapabilityDef)> {
        let provider = match &self.providers {
            Providers::Indexed {
                list,
                by_capability,
                ..
            } => &list[*by_capability.get(id)?],
            Providers::Builtin(builtin) => {
                builtin.get(crate::registry_static::Builtin::capability(id)?)
            }
        };
        let capability = provider.capabilities.iter().find(|c| c.id == id)?;
        Some((provider, capability))
    }

    /// Which provider, if any, claims this secret name.
    pub fn claim(&self, secret_name: &str) -> Option<Claim<'_>> {
        let (provider, c, role, optional) = match &self.providers {
            Providers::Indexed {
                list, by_secret, ..
            } => {
                let (p, c, role, optional) = by_secret.get(secret_name)?;
                (&list[*p], *c, role.as_str(), *optional)
            }
            Providers::Builtin(builtin) => {
                let (p, c, role, optional) = crate::registry_static::Builtin::claim(secret_name)?;
                (builtin.get(p), c, role, optional)
            }
        };
        Some(Claim {
            provider,
            credential: &provider.credentials[c],
            role,
            optional,
        })
    }

    /// How many built-in providers were built one by one (tests).
    #[cfg(test)]
    fn built_one_by_one(&self) -> usize {
        match &self.providers {
            Providers::Indexed { .. } => 0,
            Providers::Builtin(builtin) => builtin.built(),
        }
    }

    /// Problems found by the full set of registry rules; empty when the registry is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for provider in self.providers() {
            check_provider(provider, &mut problems);
        }
        problems
    }
}

impl ProviderDef {
    /// Hosts of a credential alternative (its own, or the provider's).
    pub fn credential_hosts<'a>(&'a self, credential: &'a CredentialDef) -> &'a [String] {
        credential.hosts.as_deref().unwrap_or(&self.hosts)
    }

    /// Hosts of a capability (its own, or the provider's).
    pub fn capability_hosts<'a>(&'a self, capability: &'a CapabilityDef) -> &'a [String] {
        capability.hosts.as_deref().unwrap_or(&self.hosts)
    }

    /// Whether a credential alternative enables the capability `id`.
    pub fn enables(&self, credential: &CredentialDef, id: &str) -> bool {
        self.capabilities_for(credential).iter().any(|c| c.id == id)
    }

    /// The alternatives that enable capability `id`, most preferred first (highest priority;
    /// file order on a tie).
    pub fn alternatives_for(&self, id: &str) -> Vec<&CredentialDef> {
        let mut out: Vec<&CredentialDef> = self
            .credentials
            .iter()
            .filter(|c| self.enables(c, id))
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.priority));
        out
    }

    /// The provider's most preferred alternative (highest priority; file order on a tie).
    pub fn preferred_alternative(&self) -> Option<&CredentialDef> {
        self.credentials
            .iter()
            .min_by_key(|c| std::cmp::Reverse(c.priority))
    }

    /// The most preferred alternative enabling capability `id`.
    pub fn preferred_alternative_for(&self, id: &str) -> Option<&CredentialDef> {
        self.alternatives_for(id).into_iter().next()
    }

    /// The capabilities a credential alternative enables: its explicit list, or every
    /// capability whose hosts all lie within the alternative's hosts.
    pub fn capabilities_for(&self, credential: &CredentialDef) -> Vec<&CapabilityDef> {
        match &credential.capabilities {
            Some(ids) => self
                .capabilities
                .iter()
                .filter(|c| ids.contains(&c.id))
                .collect(),
            None => {
                let hosts = self.credential_hosts(credential);
                self.capabilities
                    .iter()
                    .filter(|c| {
                        self.capability_hosts(c)
                            .iter()
                            .all(|h| hosts.iter().any(|allowed| allowed == h))
                    })
                    .collect()
            }
        }
    }
}

fn check_provider(provider: &ProviderDef, problems: &mut Vec<String>) {
    let at = |what: String| format!("{}: {what}", provider.source);
    if !is_valid_id(&provider.id) {
        problems.push(at(format!(
            "provider id '{}' must be lower-case a-z, 0-9, '-'",
            provider.id
        )));
    }
    if provider.name.trim().is_empty() {
        problems.push(at("provider name is empty".into()));
    }
    if provider.hosts.is_empty() {
        problems.push(at("provider has no hosts".into()));
    }
    for host in &provider.hosts {
        if let Err(e) = check_host_pattern(host) {
            problems.push(at(e));
        }
    }
    if provider.credentials.is_empty() {
        problems.push(at("provider has no [[credentials]]".into()));
    }
    let mut alternative_ids = BTreeSet::new();
    for credential in &provider.credentials {
        if !alternative_ids.insert(&credential.id) {
            problems.push(at(format!(
                "credential alternative '{}' is defined twice",
                credential.id
            )));
        }
        check_credential(provider, credential, &mut |e| problems.push(at(e)));
    }
    for capability in &provider.capabilities {
        check_capability(provider, capability, &mut |e| problems.push(at(e)));
    }
}

fn check_credential(
    provider: &ProviderDef,
    credential: &CredentialDef,
    report: &mut dyn FnMut(String),
) {
    let alt = &credential.id;
    if credential.secrets.is_empty() {
        report(format!("credential '{alt}' claims no secrets"));
    }
    for (role, name) in credential
        .secrets
        .iter()
        .chain(&credential.optional_secrets)
    {
        if !is_valid_role(role) {
            report(format!(
                "credential '{alt}': role '{role}' must be lower-case a-z, 0-9, '_'"
            ));
        }
        if !is_valid_secret_name(name) {
            report(format!(
                "credential '{alt}': secret name '{name}' must be UPPER_SNAKE_CASE"
            ));
        }
    }
    let declared = |role: &str| {
        credential.secrets.contains_key(role) || credential.optional_secrets.contains_key(role)
    };
    check_auth(
        &credential.auth,
        &declared,
        &|role| credential.secrets.contains_key(role),
        provider.credential_hosts(credential),
        &mut |e| report(format!("credential '{alt}': {e}")),
    );
    if let Some(hosts) = &credential.hosts {
        for host in hosts {
            if let Err(e) = check_host_pattern(host) {
                report(format!("credential '{alt}': {e}"));
            }
        }
    }
    if let Some(ids) = &credential.capabilities {
        for id in ids {
            if !provider.capabilities.iter().any(|c| &c.id == id) {
                report(format!("credential '{alt}': unknown capability '{id}'"));
            }
        }
    }
    if provider.capabilities_for(credential).is_empty() {
        report(format!("credential '{alt}' enables no capability"));
    }
}

/// Checks an auth strategy against the secret roles a credential has (`declared`: any role,
/// `required`: roles always present) and its hosts: balanced templates naming declared roles,
/// the roles the strategy itself needs, header and parameter names, and an https token
/// endpoint on one of the hosts.
pub(crate) fn check_auth(
    auth: &AuthSpec,
    declared: &dyn Fn(&str) -> bool,
    required: &dyn Fn(&str) -> bool,
    hosts: &[String],
    report: &mut dyn FnMut(String),
) {
    for template in auth.templates() {
        if template.matches("{{").count() != template.matches("}}").count() {
            report(format!("unbalanced braces in template '{template}'"));
        }
        if template.chars().any(char::is_control) {
            report("templates cannot contain control characters".into());
        }
        for role in placeholders(template) {
            if role != "signature" && !declared(role) {
                report(format!(
                    "template '{template}' refers to '{{{{{role}}}}}', which is not one of its secrets"
                ));
            }
        }
    }
    for role in auth.fixed_roles() {
        if !required(role) {
            report(format!(
                "{} auth needs a secret with role '{role}'",
                auth.kind_name()
            ));
        }
    }
    for name in auth.header_names() {
        if !is_valid_header_name(name) {
            report(format!("'{name}' is not a valid header name"));
        }
    }
    for name in auth.param_names() {
        if name.is_empty()
            || name.contains(['&', '=', '#', '?', ' '])
            || name.chars().any(char::is_control)
        {
            report(format!("'{name}' is not a valid query parameter name"));
        }
    }
    if let AuthSpec::Path { prefix_template } = auth
        && let Err(e) = check_path_template(prefix_template)
    {
        report(format!("path prefix template: {e}"));
    }
    if let Some(name) = duplicate(auth.header_names(), true) {
        report(format!(
            "header '{name}' is given twice (header names are case-insensitive)"
        ));
    }
    if let Some(name) = duplicate(auth.param_names(), false) {
        report(format!("query parameter '{name}' is given twice"));
    }
    if let AuthSpec::Oauth2 {
        token_endpoint,
        public_client_id,
        account_header,
        ..
    } = auth
    {
        match token_endpoint_host(token_endpoint) {
            Some(host) if hosts.iter().any(|p| host_matches(p, host)) => {}
            _ => report("token endpoint must be https on one of the credential's hosts".into()),
        }
        if let Some(id) = public_client_id
            && (id.trim().is_empty() || id.chars().any(char::is_control))
        {
            report("public_client_id must be non-empty text without control characters".into());
        }
        if let Some(header) = account_header
            && (header.field.is_empty()
                || !header
                    .field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            report(format!(
                "account_header field '{}' must be a JSON field name (a-z, A-Z, 0-9, '_')",
                crate::model::printable(&header.field)
            ));
        }
    }
}

/// The first name that appears twice in `names` (compared ignoring ASCII case when
/// `ignore_case`: header names), lower-cased when so compared.
pub(crate) fn duplicate(names: Vec<&str>, ignore_case: bool) -> Option<String> {
    let mut seen = BTreeSet::new();
    names.into_iter().find_map(|name| {
        let key = if ignore_case {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        (!seen.insert(key.clone())).then_some(key)
    })
}

/// Checks a path-auth prefix template (`/bot{{secret}}`): it starts with `/`, holds exactly
/// one placeholder, `{{secret}}`, and otherwise only path characters (RFC 3986 `pchar` and
/// `/`: no `?`, `#`, `\`, `%`, whitespace or control characters), and no `.` or `..`
/// segment, also once the secret is in place (`/bot{{secret}}/..`). So the prefix can
/// neither hide the capability's path in a query or fragment nor climb out of it. The
/// message never repeats the template (a token pasted in by mistake stays out of errors).
pub(crate) fn check_path_template(template: &str) -> std::result::Result<(), String> {
    const RULE: &str = "must start with '/' and hold exactly one {{secret}}";
    if !template.starts_with('/') {
        return Err(format!("{RULE} (it does not start with '/')"));
    }
    let found = placeholders(template);
    if found != ["secret"] || template.matches("{{").count() != 1 {
        return Err(format!(
            "{RULE} (it holds {} placeholder(s){})",
            template.matches("{{").count(),
            if found.iter().any(|p| *p != "secret") {
                ", not all {{secret}}"
            } else {
                ""
            }
        ));
    }
    // The secret stands in as one ordinary character, so `{{secret}}` alone in a segment is
    // no dot segment, while `/{{secret}}/..` still shows its `..`.
    let start = template.find("{{").unwrap_or(0);
    let end = template[start..]
        .find("}}")
        .map_or(template.len(), |e| start + e + 2);
    let filled = format!("{}x{}", &template[..start], &template[end..]);
    if let Some(c) = filled
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(*c)))
    {
        let what = match c {
            '?' => "'?' (it would start the query)".to_string(),
            '#' => "'#' (it would start a fragment)".to_string(),
            '%' => "'%' (no escapes)".to_string(),
            '\\' => "a backslash".to_string(),
            c if c.is_whitespace() => "whitespace".to_string(),
            c if c.is_control() => "a control character".to_string(),
            c => format!("'{}'", c.escape_default()),
        };
        return Err(format!(
            "may hold only path characters (letters, digits, -._~!$&'()*+,;=:@/), not {what}"
        ));
    }
    if filled
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("cannot hold a '.' or '..' segment".into());
    }
    Ok(())
}

/// The host of an `https://` token endpoint, or `None` for any other scheme.
pub(crate) fn token_endpoint_host(endpoint: &str) -> Option<&str> {
    endpoint
        .strip_prefix("https://")
        .and_then(|rest| rest.split(['/', '?', '#']).next())
}

fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_capability(
    provider: &ProviderDef,
    capability: &CapabilityDef,
    report: &mut dyn FnMut(String),
) {
    let id = &capability.id;
    match id.split_once('/') {
        Some((prefix, name)) if prefix == provider.id && is_valid_capability_name(name) => {}
        _ => report(format!(
            "capability id '{id}' must be '{}/<name>' with a lower-case name (a-z, 0-9, '-', '_')",
            provider.id
        )),
    }
    if capability.methods.is_empty() {
        report(format!("capability '{id}' has no methods"));
    }
    for method in &capability.methods {
        if !is_valid_method(method) {
            report(format!(
                "capability '{id}': method '{method}' must be an upper-case HTTP method"
            ));
        }
    }
    if capability.paths.is_empty() {
        report(format!("capability '{id}' has no path prefixes"));
    }
    for path in &capability.paths {
        if let Err(e) = check_path_prefix(path) {
            report(format!("capability '{id}': {e}"));
        }
    }
    if let Some(prefix) = &capability.upstream_prefix
        && let Err(e) = check_upstream_prefix(prefix)
    {
        report(format!("capability '{id}': {e}"));
    }
    for host in provider.capability_hosts(capability) {
        if let Err(e) = check_host_pattern(host) {
            report(format!("capability '{id}': {e}"));
        } else if !provider.hosts.contains(host) {
            report(format!(
                "capability '{id}': host '{host}' is not one of the provider's hosts"
            ));
        }
    }
    if !provider.credentials.iter().any(|c| provider.enables(c, id)) {
        report(format!(
            "capability '{id}' is served by no credential alternative"
        ));
    }
}

/// Checks a capability path prefix: starts with `/`, no `..` segment, `?`, `#`, backslash,
/// whitespace or control characters.
pub fn check_path_prefix(path: &str) -> std::result::Result<(), String> {
    if !path.starts_with('/')
        || path.split('/').any(|segment| segment == "..")
        || path.contains(['?', '#', '\\'])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "path prefix '{}' must start with '/' and hold no '..' segment, '?', '#', backslash, spaces or control characters",
            crate::model::printable(path)
        ));
    }
    Ok(())
}

/// Checks a capability's `upstream_prefix`: a path prefix (as [`check_path_prefix`]) with at
/// least one segment, no `.` segment and no trailing `/`, so that prefix + caller path is one
/// clean path.
pub fn check_upstream_prefix(prefix: &str) -> std::result::Result<(), String> {
    check_path_prefix(prefix)?;
    if prefix.len() < 2
        || prefix.ends_with('/')
        || prefix.split('/').skip(1).any(|s| s.is_empty() || s == ".")
    {
        return Err(format!(
            "upstream_prefix '{}' must be '/segment[/segment...]' without a trailing '/' or empty or '.' segments",
            crate::model::printable(prefix)
        ));
    }
    Ok(())
}

/// Checks a host or host pattern as a registry file writes it: lower-case DNS labels (a-z,
/// 0-9, '-'), at least two labels, an optional leading `*.` wildcard label, no IP literals,
/// ports or schemes (see [`crate::hosts`]).
pub fn check_host_pattern(pattern: &str) -> std::result::Result<(), String> {
    crate::hosts::check_pattern(pattern)
}

/// A capability name after `<provider>/`: lower-case a-z, 0-9, '-', '_' (`calendly/event_types`).
fn is_valid_capability_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.starts_with(['-', '_'])
}

pub(crate) fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn is_valid_role(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_valid_secret_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

pub(crate) fn is_valid_method(s: &str) -> bool {
    matches!(
        s,
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_is_valid() {
        let registry = Registry::builtin();
        let problems = registry.problems();
        assert!(
            problems.is_empty(),
            "registry problems:\n{}",
            problems.join("\n")
        );
        assert!(registry.providers().len() >= 4);
    }

    /// Every `registry/*.toml` file as serde reads it (the schema's own rules: defaults,
    /// unknown keys refused), in file-name order.
    fn providers_from_toml_files() -> Vec<ProviderDef> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../registry");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("registry dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("readable");
                let mut provider: ProviderDef =
                    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let name = path.file_name().expect("name").to_string_lossy();
                provider.source = format!("registry/{name}");
                provider
            })
            .collect()
    }

    /// The compiled registry (build.rs) is exactly what serde reads from the TOML files, and
    /// its static lookup tables answer like the indexed registry of those providers.
    #[test]
    fn compiled_registry_equals_the_toml_files() {
        let parsed = providers_from_toml_files();
        let indexed = Registry::from_providers(parsed.clone()).expect("indexes");
        // Lookups on a fresh compiled registry first (providers built one by one), then on
        // one whose providers were all built at once.
        let one_by_one = Registry::compiled();
        let all_at_once = Registry::compiled();
        assert_eq!(all_at_once.providers(), parsed.as_slice());
        for compiled in [&one_by_one, &all_at_once] {
            for provider in &parsed {
                assert_eq!(compiled.provider(&provider.id), Some(provider));
                for capability in &provider.capabilities {
                    let (p, c) = compiled.capability(&capability.id).expect("capability");
                    assert_eq!((p, c), (provider, capability));
                }
                for credential in &provider.credentials {
                    for name in credential
                        .secrets
                        .values()
                        .chain(credential.optional_secrets.values())
                    {
                        let got = compiled.claim(name).expect("claimed");
                        let want = indexed.claim(name).expect("claimed");
                        assert_eq!(got.provider, want.provider);
                        assert_eq!(got.credential, want.credential);
                        assert_eq!((got.role, got.optional), (want.role, want.optional));
                    }
                }
            }
            for missing in [
                "",
                "OPENAI",
                "openai/",
                "zzz",
                "MY_CUSTOM_KEY",
                "openai/nope",
            ] {
                assert!(compiled.provider(missing).is_none(), "{missing}");
                assert!(compiled.capability(missing).is_none(), "{missing}");
                assert!(compiled.claim(missing).is_none(), "{missing}");
            }
        }
        assert_eq!(one_by_one.providers(), parsed.as_slice());
    }

    /// A lookup builds only the provider it returns; nothing is built before the first one.
    #[test]
    fn a_lookup_builds_only_its_provider() {
        let registry = Registry::compiled();
        assert_eq!(registry.built_one_by_one(), 0);
        let claim = registry.claim("OPENAI_API_KEY").expect("claimed");
        assert_eq!(claim.provider.id, "openai");
        assert!(registry.capability("openai/chat-completions").is_some());
        assert!(registry.provider("openai").is_some());
        assert_eq!(registry.built_one_by_one(), 1);
        assert!(registry.capability("anthropic/messages").is_some());
        assert_eq!(registry.built_one_by_one(), 2);
        assert!(registry.claim("MY_CUSTOM_KEY").is_none());
        assert_eq!(registry.built_one_by_one(), 2);
    }

    #[test]
    fn openai_claims_its_key_and_enables_17_capabilities() {
        let claim = Registry::builtin()
            .claim("OPENAI_API_KEY")
            .expect("claimed");
        assert_eq!(claim.provider.id, "openai");
        assert_eq!(claim.role, "secret");
        assert_eq!(claim.provider.capabilities_for(claim.credential).len(), 17);
        assert!(Registry::builtin().claim("MY_CUSTOM_KEY").is_none());
    }

    #[test]
    fn trello_needs_two_secrets() {
        let claim = Registry::builtin().claim("TRELLO_TOKEN").expect("claimed");
        assert_eq!(claim.provider.id, "trello");
        let names: Vec<&String> = claim.credential.secrets.values().collect();
        assert_eq!(names, ["TRELLO_API_KEY", "TRELLO_TOKEN"]);
        assert_eq!(claim.credential.auth.kind_name(), "multi-query");
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("api.openai.com", "api.openai.com"));
        assert!(!host_matches("api.openai.com", "xapi.openai.com"));
        assert!(host_matches("*.myshopify.com", "shop.myshopify.com"));
        assert!(!host_matches("*.myshopify.com", "myshopify.com"));
        assert!(!host_matches("*.myshopify.com", "a.b.myshopify.com"));
        assert!(!host_matches("*.myshopify.com", "evilmyshopify.com"));
        assert!(check_host_pattern("*.myshopify.com").is_ok());
        for bad in [
            "API.openai.com",
            "127.0.0.1",
            "a.*.com",
            "localhost",
            "https://x.com",
            "x.com:443",
            "*x.com",
        ] {
            assert!(check_host_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_reports_each_rule() {
        let toml = r#"
            id = "Bad"
            name = ""
            hosts = ["Upper.example.com"]
            [[credentials]]
            secrets = { secret = "lower_name" }
            auth = { kind = "header", header_name = "x", value_template = "{{missing}}" }
            [[capabilities]]
            id = "other/x"
            methods = ["get"]
            paths = ["v1"]
        "#;
        let mut provider: ProviderDef = toml::from_str(toml).expect("parses");
        provider.source = "test.toml".into();
        let registry = Registry::from_providers(vec![provider]).expect("indexes");
        let problems = registry.problems().join("\n");
        for expected in [
            "provider id 'Bad'",
            "provider name is empty",
            "host 'Upper.example.com'",
            "secret name 'lower_name'",
            "refers to '{{missing}}'",
            "capability id 'other/x'",
            "method 'get'",
            "path prefix 'v1'",
        ] {
            assert!(
                problems.contains(expected),
                "missing '{expected}' in:\n{problems}"
            );
        }
    }

    #[test]
    fn codex_fields_are_checked() {
        let toml = r#"
            id = "a"
            name = "A"
            hosts = ["api.a.com", "auth.a.com"]
            [[credentials]]
            secrets = { secret = "A_JSON" }
            [credentials.auth]
            kind = "oauth2"
            grant_type = "refresh_token"
            token_endpoint = "https://auth.a.com/token"
            public_client_id = " "
            account_header = { name = "bad header", field = "a.b" }
            [[capabilities]]
            id = "a/x"
            methods = ["GET"]
            paths = ["/x"]
            upstream_prefix = "/base/"
        "#;
        let mut provider: ProviderDef = toml::from_str(toml).expect("parses");
        provider.source = "test.toml".into();
        let registry = Registry::from_providers(vec![provider]).expect("indexes");
        let problems = registry.problems().join("\n");
        for expected in [
            "public_client_id",
            "'bad header' is not a valid header name",
            "account_header field 'a.b'",
            "upstream_prefix '/base/'",
        ] {
            assert!(
                problems.contains(expected),
                "missing '{expected}' in:\n{problems}"
            );
        }
        for bad in ["/", "/a//b", "/a/./b", "/a/../b", "a", "/a?b"] {
            assert!(check_upstream_prefix(bad).is_err(), "{bad}");
        }
        assert!(check_upstream_prefix("/backend-api/codex").is_ok());
    }

    #[test]
    fn codex_capabilities_map_to_the_backend_api() {
        let registry = Registry::builtin();
        for (id, prefix) in [
            ("openai/codex-responses", "/backend-api/codex"),
            ("openai/codex-realtime", "/backend-api/codex"),
            ("openai/codex-usage", "/backend-api"),
        ] {
            let (_, capability) = registry.capability(id).expect(id);
            assert_eq!(capability.upstream_prefix.as_deref(), Some(prefix), "{id}");
        }
        let claim = registry.claim("CODEX_OAUTH_JSON").expect("claimed");
        let AuthSpec::Oauth2 {
            public_client_id,
            account_header,
            ..
        } = &claim.credential.auth
        else {
            panic!("codex is oauth2");
        };
        assert_eq!(
            public_client_id.as_deref(),
            Some("app_EMoamEEZ73f0CkXaXp7hrann")
        );
        let header = account_header.as_ref().expect("account header");
        assert_eq!(
            (header.name.as_str(), header.field.as_str()),
            ("chatgpt-account-id", "account_id")
        );
        assert_eq!(
            claim.credential.auth.header_names(),
            ["authorization", "chatgpt-account-id"]
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let provider: ProviderDef = toml::from_str(
            r#"
            id = "a"
            name = "A"
            hosts = ["api.a.com"]
            [[credentials]]
            secrets = { secret = "A_KEY" }
            auth = { kind = "query", param_name = "key" }
            [[capabilities]]
            id = "a/x"
            methods = ["GET"]
            paths = ["/x"]
        "#,
        )
        .expect("parses");
        let mut other = provider.clone();
        other.id = "b".into();
        let err = Registry::from_providers(vec![provider.clone(), provider.clone()])
            .expect_err("duplicate provider");
        assert!(err.message().contains("defined twice"));
        let err =
            Registry::from_providers(vec![provider, other]).expect_err("duplicate capability");
        assert!(err.message().contains("defined twice"));
    }

    /// Registry path-auth templates and auth header/parameter names go through the same
    /// checks as an operator's `credential create`.
    #[test]
    fn path_templates_and_duplicate_names_are_checked() {
        let problems = |auth: &str| {
            let toml = format!(
                r#"
                id = "a"
                name = "A"
                hosts = ["api.a.com"]
                [[credentials]]
                secrets = {{ secret = "A_KEY", token = "A_TOKEN" }}
                auth = {auth}
                [[capabilities]]
                id = "a/x"
                methods = ["GET"]
                paths = ["/x"]
            "#
            );
            let provider: ProviderDef = toml::from_str(&toml).expect("parses");
            Registry::from_providers(vec![provider])
                .expect("indexes")
                .problems()
                .join("\n")
        };
        for (template, expected) in [
            ("/bot{{secret}}#x", "not '#'"),
            ("/bot{{secret}}?x=1", "not '?'"),
            ("bot{{secret}}", "start with '/'"),
            ("/bot{{secret}}/..", "'..' segment"),
            ("/bot{{secret}}{{token}}", "exactly one {{secret}}"),
            ("/bot{{secret}}%2F", "not '%'"),
        ] {
            let found = problems(&format!(
                r#"{{ kind = "path", prefix_template = "{template}" }}"#
            ));
            assert!(
                found.contains("path prefix template") && found.contains(expected),
                "{template}: {found}"
            );
        }
        assert!(
            !problems(r#"{ kind = "path", prefix_template = "/bot{{secret}}" }"#)
                .contains("path prefix template")
        );
        let found = problems(
            r#"{ kind = "multi-header", headers = [{ header_name = "X-A", value_template = "{{secret}}" }, { header_name = "x-a", value_template = "{{token}}" }] }"#,
        );
        assert!(found.contains("header 'x-a' is given twice"), "{found}");
        let found = problems(
            r#"{ kind = "multi-query", params = [{ param_name = "k", value_template = "{{secret}}" }, { param_name = "k", value_template = "{{token}}" }] }"#,
        );
        assert!(
            found.contains("query parameter 'k' is given twice"),
            "{found}"
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let bad_kind = toml::from_str::<AuthSpec>(r#"kind = "magic""#);
        assert!(bad_kind.is_err());
        let extra = toml::from_str::<AuthSpec>(
            r#"kind = "header"
            header_name = "a"
            value_template = "b"
            typo = 1"#,
        );
        assert!(extra.is_err());
    }
}
