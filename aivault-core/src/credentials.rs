//! Operator credentials (`credential create | delete`): which secrets a provider's requests
//! carry, how, and towards which hosts.
//!
//! Registry providers default their auth and hosts from the registry, and explicit hosts must
//! fit the registry's host patterns; other providers need an explicit auth strategy and
//! concrete hosts. A secret pinned to one provider never backs another provider's credential.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::audit::{self, NewEvent, kinds};
use crate::error::{Error, ErrorKind, Result};
use crate::hosts;
use crate::model::{
    Credential, CredentialOrigin, CredentialSecret, NetworkOptions, Scope, SecretMeta,
    parse_secret_ref, printable,
};
use crate::registry::{
    AuthSpec, CredentialDef, HeaderTemplate, OAuthGrant, ProviderDef, QueryTemplate, TokenAuth,
    check_auth, check_path_template, duplicate, host_matches, is_valid_id,
};
use crate::store::StoreTx;
use crate::vault::{Keys, Vault, now_ms};

/// The auth strategy of `credential create`, as the command line spells it. Unset fields are
/// `None`/empty; [`AuthOptions::build`] checks that only the kind's own fields are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthOptions {
    /// `header`, `query`, `path`, `basic`, `multi-header`, `multi-query`, `oauth2`,
    /// `aws-sigv4`, `hmac` or `mtls`; `None` takes the registry's.
    pub kind: Option<String>,
    /// Header name (`header`, `hmac`).
    pub header_name: Option<String>,
    /// Value template (`header`, `query`, `hmac`).
    pub value_template: Option<String>,
    /// Query parameters: `NAME` (`query`) or `NAME=TEMPLATE` (`multi-query`).
    pub query_params: Vec<String>,
    /// Path prefix template (`path`).
    pub path_prefix_template: Option<String>,
    /// `NAME=TEMPLATE` headers (`multi-header`).
    pub auth_headers: Vec<String>,
    /// Username and password templates (`basic`; default `{{username}}` / `{{password}}`).
    pub username_template: Option<String>,
    /// See `username_template`.
    pub password_template: Option<String>,
    /// `refresh_token` or `client_credentials` (`oauth2`).
    pub grant_type: Option<String>,
    /// Token endpoint URL (`oauth2`).
    pub token_endpoint: Option<String>,
    /// Requested scopes (`oauth2`).
    pub scopes: Vec<String>,
    /// `basic` (default) or `body`: how the client authenticates to the token endpoint (`oauth2`).
    pub token_auth: Option<String>,
    /// AWS service and region (`aws-sigv4`).
    pub aws_service: Option<String>,
    /// See `aws_service`.
    pub aws_region: Option<String>,
    /// Signed-timestamp header (`hmac`).
    pub timestamp_header: Option<String>,
}

impl AuthOptions {
    /// The strategy these options describe; `None` when no kind was given (and no field).
    ///
    /// # Errors
    /// `invalid_input` for an unknown kind, a missing field of the kind, or a field that
    /// belongs to another kind.
    pub fn build(&self) -> Result<Option<AuthSpec>> {
        let Some(kind) = self.kind.as_deref() else {
            return match self.given().first() {
                Some(flag) => Err(Error::invalid(format!(
                    "{flag} needs --auth (header, query, path, basic, multi-header, multi-query, oauth2, aws-sigv4, hmac or mtls)"
                ))),
                None => Ok(None),
            };
        };
        let need = |value: &Option<String>, flag: &str| {
            value
                .clone()
                .ok_or_else(|| Error::invalid(format!("--auth {kind} needs {flag}")))
        };
        let (spec, allowed): (AuthSpec, &[&str]) = match kind {
            "header" => {
                // As the original tool: `authorization: Bearer {{secret}}` by default; a
                // header of another name carries the bare secret unless a template is given.
                let header_name = self
                    .header_name
                    .as_deref()
                    .unwrap_or("authorization")
                    .to_ascii_lowercase();
                let value_template = self.value_template.clone().unwrap_or_else(|| {
                    if header_name == "authorization" {
                        "Bearer {{secret}}".into()
                    } else {
                        "{{secret}}".into()
                    }
                });
                (
                    AuthSpec::Header {
                        header_name,
                        value_template,
                    },
                    &["--header-name", "--value-template"],
                )
            }
            "query" => {
                let [param] = self.query_params.as_slice() else {
                    return Err(Error::invalid("--auth query needs one --query-param NAME"));
                };
                (
                    AuthSpec::Query {
                        param_name: param.clone(),
                        value_template: self
                            .value_template
                            .clone()
                            .unwrap_or_else(|| "{{secret}}".into()),
                    },
                    &["--query-param", "--value-template"],
                )
            }
            "path" => {
                let prefix_template = need(&self.path_prefix_template, "--path-prefix-template")?;
                check_path_template(&prefix_template)
                    .map_err(|e| Error::invalid(format!("--path-prefix-template {e}")))?;
                (
                    AuthSpec::Path { prefix_template },
                    &["--path-prefix-template"],
                )
            }
            "basic" => (
                AuthSpec::Basic {
                    username_template: self
                        .username_template
                        .clone()
                        .unwrap_or_else(|| "{{username}}".into()),
                    password_template: self
                        .password_template
                        .clone()
                        .unwrap_or_else(|| "{{password}}".into()),
                },
                &["--username-template", "--password-template"],
            ),
            "multi-header" => {
                let headers = pairs(&self.auth_headers, "--auth-header")?
                    .into_iter()
                    .map(|(name, template)| HeaderTemplate {
                        header_name: name.to_ascii_lowercase(),
                        value_template: template,
                    })
                    .collect::<Vec<_>>();
                if let Some(name) = duplicate(
                    headers.iter().map(|h| h.header_name.as_str()).collect(),
                    true,
                ) {
                    return Err(Error::invalid(format!(
                        "--auth-header '{}' is given twice (header names are case-insensitive)",
                        printable(&name)
                    )));
                }
                (AuthSpec::MultiHeader { headers }, &["--auth-header"])
            }
            "multi-query" => {
                let params = pairs(&self.query_params, "--query-param")?
                    .into_iter()
                    .map(|(name, template)| QueryTemplate {
                        param_name: name,
                        value_template: template,
                    })
                    .collect::<Vec<_>>();
                if let Some(name) = duplicate(
                    params.iter().map(|p| p.param_name.as_str()).collect(),
                    false,
                ) {
                    return Err(Error::invalid(format!(
                        "--query-param '{}' is given twice",
                        printable(&name)
                    )));
                }
                (AuthSpec::MultiQuery { params }, &["--query-param"])
            }
            "oauth2" => {
                let grant_type = match self.grant_type.as_deref() {
                    Some("refresh_token") | None => OAuthGrant::RefreshToken,
                    Some("client_credentials") => OAuthGrant::ClientCredentials,
                    Some(other) => {
                        return Err(Error::invalid(format!(
                            "unknown --grant-type '{}' (expected refresh_token or client_credentials)",
                            printable(other)
                        )));
                    }
                };
                let token_auth = match self.token_auth.as_deref() {
                    Some("basic") | None => TokenAuth::Basic,
                    Some("body") => TokenAuth::Body,
                    Some(other) => {
                        return Err(Error::invalid(format!(
                            "unknown --token-auth '{}' (expected basic or body)",
                            printable(other)
                        )));
                    }
                };
                (
                    AuthSpec::Oauth2 {
                        grant_type,
                        token_endpoint: need(&self.token_endpoint, "--token-endpoint")?,
                        scopes: self.scopes.clone(),
                        token_auth,
                        public_client_id: None,
                        account_header: None,
                    },
                    &[
                        "--grant-type",
                        "--token-endpoint",
                        "--scope",
                        "--token-auth",
                    ],
                )
            }
            "aws-sigv4" => (
                AuthSpec::AwsSigv4 {
                    service: need(&self.aws_service, "--aws-service")?,
                    region: need(&self.aws_region, "--aws-region")?,
                },
                &["--aws-service", "--aws-region"],
            ),
            "hmac" => (
                AuthSpec::Hmac {
                    header_name: self
                        .header_name
                        .as_deref()
                        .unwrap_or("x-signature")
                        .to_ascii_lowercase(),
                    value_template: self
                        .value_template
                        .clone()
                        .unwrap_or_else(|| "{{signature}}".into()),
                    timestamp_header: self.timestamp_header.clone(),
                },
                &["--header-name", "--value-template", "--timestamp-header"],
            ),
            "mtls" => (AuthSpec::Mtls {}, &[]),
            other => {
                return Err(Error::invalid(format!(
                    "unknown --auth '{}' (expected header, query, path, basic, multi-header, multi-query, oauth2, aws-sigv4, hmac or mtls)",
                    printable(other)
                )));
            }
        };
        if let Some(flag) = self.given().into_iter().find(|f| !allowed.contains(f)) {
            return Err(Error::invalid(format!(
                "--auth {kind} does not take {flag}"
            )));
        }
        Ok(Some(spec))
    }

    /// The flags that were given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        let mut flag = |set: bool, name: &'static str| {
            if set {
                flags.push(name);
            }
        };
        flag(self.header_name.is_some(), "--header-name");
        flag(self.value_template.is_some(), "--value-template");
        flag(!self.query_params.is_empty(), "--query-param");
        flag(
            self.path_prefix_template.is_some(),
            "--path-prefix-template",
        );
        flag(!self.auth_headers.is_empty(), "--auth-header");
        flag(self.username_template.is_some(), "--username-template");
        flag(self.password_template.is_some(), "--password-template");
        flag(self.grant_type.is_some(), "--grant-type");
        flag(self.token_endpoint.is_some(), "--token-endpoint");
        flag(!self.scopes.is_empty(), "--scope");
        flag(self.token_auth.is_some(), "--token-auth");
        flag(self.aws_service.is_some(), "--aws-service");
        flag(self.aws_region.is_some(), "--aws-region");
        flag(self.timestamp_header.is_some(), "--timestamp-header");
        flags
    }
}

/// Splits `NAME=TEMPLATE` arguments.
fn pairs(raw: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    if raw.is_empty() {
        return Err(Error::invalid(format!("{flag} NAME=TEMPLATE is required")));
    }
    raw.iter()
        .map(|entry| match entry.split_once('=') {
            Some((name, template)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), template.to_string()))
            }
            _ => Err(Error::invalid(format!(
                "invalid {flag} '{}' (expected NAME=TEMPLATE)",
                printable(entry)
            ))),
        })
        .collect()
}

/// `credential create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCredential {
    /// The credential id (`A-Z a-z 0-9 . _ - :`, at most 128 characters).
    pub id: String,
    /// The provider: a registry provider id, or the operator's own.
    pub provider: String,
    /// `vault:secret:<id>` or `ROLE=vault:secret:<id>`; the role may be left out when the
    /// secret's registry claim or a single-secret strategy implies it. A single ref without a
    /// role for a strategy of several roles (basic, multi-header, aws-sigv4, mtls, ...) names
    /// one secret holding a JSON object of the roles (`{"username": .., "password": ..}`).
    pub secret_refs: Vec<String>,
    /// The auth strategy; required for providers the registry does not know.
    pub auth: AuthOptions,
    /// Allowed hosts; registry providers default to the registry's.
    pub hosts: Vec<String>,
    /// Scope: a workspace.
    pub workspace_id: Option<String>,
    /// Scope: a group of the workspace.
    pub group_id: Option<String>,
    /// Network opt-ins; only for providers the registry does not know.
    pub network: NetworkOptions,
}

impl NewCredential {
    /// The checks that need no vault: scope ids, auth and network options (so a wrapper can
    /// refuse a bad command before opening, and perhaps creating, a vault).
    pub fn check(&self) -> Result<(Scope, Option<AuthSpec>)> {
        let scope = Scope::from_context(self.workspace_id.as_deref(), self.group_id.as_deref())?;
        check_network(&self.network)?;
        Ok((scope, self.auth.build()?))
    }
}

/// Plain HTTP only makes sense towards a loopback host, which needs the private-network
/// opt-in; a CA must hold at least one certificate.
fn check_network(network: &NetworkOptions) -> Result<()> {
    if network.insecure_http && !network.allow_private_network {
        return Err(Error::invalid(
            "--insecure-http is only allowed towards a loopback host: add --allow-private-network",
        ));
    }
    if let Some(pem) = &network.ca_cert {
        crate::broker::tls::parse_certificates(pem)
            .map_err(|e| Error::invalid(format!("--ca-cert: {}", e.message())))?;
    }
    Ok(())
}

/// `credential delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialDeletion {
    /// False when there was no such credential (already deleted): deletion is idempotent,
    /// like `unbind`.
    pub removed: bool,
    /// The credential id.
    pub id: String,
    /// Registry (auto-provisioned) or custom; absent when nothing was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<CredentialOrigin>,
}

/// Checks a credential id: 1–128 characters of `A-Z a-z 0-9 . _ - :`.
pub fn validate_credential_id(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::invalid(format!(
            "invalid credential id '{}' (use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-', ':')",
            printable(id)
        )))
    }
}

/// The hosts of an operator provider's credential in their canonical spelling (lower-case,
/// de-duplicated): concrete DNS names with an optional port; with the private-network opt-in
/// also one-label names (`localhost:11434`) and IP literals (`192.168.1.20:8080`,
/// `[::1]:11434`), which the network guard pins and still checks.
fn operator_hosts(hosts: &[String], network: &NetworkOptions) -> Result<Vec<String>> {
    let rules = if network.allow_private_network {
        hosts::PRIVATE
    } else {
        hosts::OPERATOR
    };
    let mut out: Vec<String> = Vec::new();
    for host in hosts {
        let host = hosts::parse(host, rules).map_err(|e| Error::invalid(format!("--host: {e}")))?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// Explicit hosts of a registry provider's credential in their canonical spelling
/// (lower-case, de-duplicated): DNS names or `*.` patterns, no port, no IP literal; whether
/// they fit the registry's hosts is checked with the provider.
fn registry_hosts(hosts: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for host in hosts {
        let host = hosts::parse(host, hosts::REGISTRY)
            .map_err(|e| Error::invalid(format!("--host: {e}")))?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// Whether `host` (concrete or a pattern) fits one of `patterns`.
pub(crate) fn host_fits(patterns: &[String], host: &str) -> bool {
    patterns.iter().any(|p| p == host || host_matches(p, host))
}

impl Vault {
    /// Creates an operator credential (`credential create`).
    ///
    /// # Errors
    /// `invalid_input` for malformed ids, refs, hosts or auth options; `already_exists` for a
    /// taken id; `not_found` for a secret that does not exist; `policy_violation` for a
    /// secret pinned to another provider, a secret outside the credential's scope, or hosts
    /// outside the registry's.
    pub fn create_credential(&self, new: NewCredential) -> Result<Credential> {
        new.check()?;
        self.write(|tx, keys| self.create_credential_in(tx, keys, &new))
    }

    /// [`Vault::create_credential`] inside a caller's transaction (`migrate` imports many).
    pub(crate) fn create_credential_in(
        &self,
        tx: &dyn StoreTx,
        keys: &Keys,
        new: &NewCredential,
    ) -> Result<Credential> {
        let (scope, explicit_auth) = new.check()?;
        let id = validate_credential_id(new.id.trim())?;
        let provider_id = new.provider.trim().to_string();
        if !is_valid_id(&provider_id) {
            return Err(Error::invalid(format!(
                "invalid provider '{}' (use lower-case a-z, 0-9, '-')",
                printable(&provider_id)
            )));
        }
        if let Some(owner) = self.registry().providers().iter().find(|p| {
            id == p.id
                || id.starts_with(&format!("{}:", p.id))
                || id.starts_with(&format!("{}.", p.id))
        }) {
            return Err(Error::invalid(format!(
                "credential id '{id}' is reserved for the credentials aivault provisions for '{}'; choose another id",
                owner.id
            )));
        }
        let refs = parse_role_refs(&new.secret_refs)?;
        let registry = self.registry();
        let provider = registry.provider(&provider_id);
        if provider.is_some() && !new.network.is_default() {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "'{provider_id}' is a registry provider: its credentials always use public HTTPS hosts; \
                     --allow-private-network, --insecure-http and --ca-cert are for providers of your own"
                ),
            ));
        }
        if provider.is_none() {
            if explicit_auth.is_none() {
                return Err(Error::invalid(format!(
                    "provider '{provider_id}' is not in the registry: pass --auth and --host"
                )));
            }
            if new.hosts.is_empty() {
                return Err(Error::invalid(format!(
                    "provider '{provider_id}' is not in the registry: pass at least one --host"
                )));
            }
        }
        let hosts = match provider {
            Some(_) => registry_hosts(&new.hosts)?,
            None => operator_hosts(&new.hosts, &new.network)?,
        };
        if tx.credential_get(&id)?.is_some() {
            return Err(Error::exists(format!("credential '{id}' already exists")));
        }
        let secrets = load_secrets(tx, &refs, &provider_id, &scope)?;
        let now = now_ms();
        let credential = match provider {
            Some(def) => registry_credential(
                def,
                &id,
                explicit_auth.clone(),
                &hosts,
                &secrets,
                &scope,
                now,
            )?,
            None => {
                let auth = explicit_auth.clone().ok_or_else(|| {
                    Error::internal("operator provider without auth slipped through")
                })?;
                let hosts = hosts.clone();
                let links = assign_roles(&auth, &secrets)?;
                check_auth_strategy(&auth, &links, &hosts)?;
                Credential {
                    id: id.clone(),
                    provider: provider_id.clone(),
                    alternative: CUSTOM_ALTERNATIVE.into(),
                    origin: CredentialOrigin::Custom,
                    scope: scope.clone(),
                    auth,
                    hosts,
                    secrets: links,
                    capabilities: Vec::new(),
                    network: new.network.clone(),
                    created_at_ms: now,
                    updated_at_ms: now,
                }
            }
        };
        tx.credential_upsert(&credential)?;
        audit::append(
            tx,
            &keys.audit,
            NewEvent::new(kinds::CREDENTIAL_CREATE)
                .credential(&id)
                .scope(&scope)
                .note(format!(
                    "provider={} auth={} hosts={}",
                    credential.provider,
                    credential.auth.kind_name(),
                    credential.hosts.join(",")
                )),
            now,
        )?;
        Ok(credential)
    }

    /// Deletes a credential (`credential delete`). An auto-provisioned credential stays
    /// revoked until its secret is created, rotated or imported again. Deleting an id that
    /// does not exist (a second delete) changes nothing and reports `removed: false`.
    ///
    /// # Errors
    /// `invalid_input` for a malformed id.
    pub fn delete_credential(&self, id: &str) -> Result<CredentialDeletion> {
        let id = validate_credential_id(id)?;
        let id = id.as_str();
        self.write(|tx, keys| {
            let Some(credential) = tx.credential_get(id)? else {
                return Ok(CredentialDeletion {
                    removed: false,
                    id: id.to_string(),
                    origin: None,
                });
            };
            tx.credential_delete(id)?;
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::CREDENTIAL_DELETE)
                    .credential(id)
                    .scope(&credential.scope)
                    .note(format!("provider={}", credential.provider)),
                now_ms(),
            )?;
            Ok(CredentialDeletion {
                removed: true,
                id: credential.id,
                origin: Some(credential.origin),
            })
        })
    }
}

/// The alternative name of a credential whose auth the operator chose.
pub const CUSTOM_ALTERNATIVE: &str = "custom";

/// Parses `[ROLE=]vault:secret:<id>` arguments.
fn parse_role_refs(raw: &[String]) -> Result<Vec<(Option<String>, String)>> {
    if raw.is_empty() {
        return Err(Error::invalid("--secret-ref vault:secret:<id> is required"));
    }
    let mut out = Vec::new();
    for entry in raw {
        let entry = entry.trim();
        let (role, reference) = match entry.split_once('=') {
            Some((role, reference)) => {
                let role = role.trim();
                if role.is_empty()
                    || !role
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(Error::invalid(format!(
                        "invalid role '{}' in --secret-ref (use lower-case a-z, 0-9, '_')",
                        printable(role)
                    )));
                }
                (Some(role.to_string()), reference)
            }
            None => (None, entry),
        };
        out.push((role, parse_secret_ref(reference)?));
    }
    Ok(out)
}

/// A referenced secret and the role it was given on the command line.
struct GivenSecret {
    role: Option<String>,
    meta: SecretMeta,
}

/// Loads the referenced secrets and checks they exist, lie within `scope`'s reach and are
/// not pinned to another provider.
fn load_secrets(
    tx: &dyn StoreTx,
    refs: &[(Option<String>, String)],
    provider: &str,
    scope: &Scope,
) -> Result<Vec<GivenSecret>> {
    let mut out = Vec::new();
    for (role, secret_id) in refs {
        let meta = tx
            .secret_get(secret_id)?
            .ok_or_else(|| Error::not_found(format!("secret vault:secret:{secret_id} not found")))?
            .meta;
        check_secret_use(&meta, provider, scope)?;
        out.push(GivenSecret {
            role: role.clone(),
            meta,
        });
    }
    Ok(out)
}

/// A secret may serve `provider` in `scope` if it is not pinned elsewhere and its own scope
/// covers `scope`.
pub(crate) fn check_secret_use(meta: &SecretMeta, provider: &str, scope: &Scope) -> Result<()> {
    if let Some(pinned) = meta.pinned_provider.as_deref()
        && pinned != provider
    {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "secret {} is pinned to provider '{pinned}' and can never be used for '{provider}'",
                meta.name
            ),
        ));
    }
    if !meta.scope.covers(scope) {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "secret {} lives in scope {} and cannot serve scope {scope}",
                meta.name, meta.scope
            ),
        ));
    }
    Ok(())
}

/// Builds a credential for a registry provider: the alternative the secrets' claims name (or
/// the preferred one), its auth unless the operator gave one, and hosts within the registry's.
fn registry_credential(
    provider: &ProviderDef,
    id: &str,
    explicit_auth: Option<AuthSpec>,
    hosts: &[String],
    secrets: &[GivenSecret],
    scope: &Scope,
    now: i64,
) -> Result<Credential> {
    let alternative = choose_alternative(provider, secrets)?;
    let allowed_hosts = provider.credential_hosts(alternative);
    let hosts = if hosts.is_empty() {
        allowed_hosts.to_vec()
    } else {
        for host in hosts {
            if !host_fits(allowed_hosts, host) {
                return Err(Error::new(
                    ErrorKind::PolicyViolation,
                    format!(
                        "host '{host}' is not one of {}'s hosts ({})",
                        provider.id,
                        allowed_hosts.join(", ")
                    ),
                ));
            }
        }
        hosts.to_vec()
    };
    let (auth, alternative_id, links) = match explicit_auth {
        Some(auth) => {
            let links = assign_roles(&auth, secrets)?;
            check_auth_strategy(&auth, &links, &hosts)?;
            (auth, CUSTOM_ALTERNATIVE.to_string(), links)
        }
        None => {
            let required: BTreeSet<String> = alternative.secrets.keys().cloned().collect();
            let optional: Vec<&str> = alternative
                .optional_secrets
                .keys()
                .map(String::as_str)
                .collect();
            let claimed = claimed_roles(alternative, secrets);
            let links =
                assign_roles_with(&alternative.auth, &required, &optional, secrets, &claimed)?;
            (alternative.auth.clone(), alternative.id.clone(), links)
        }
    };
    let serves_all = alternative_id == CUSTOM_ALTERNATIVE;
    let capabilities = provider
        .capabilities
        .iter()
        .filter(|c| serves_all || provider.capabilities_for(alternative).contains(c))
        .filter(|c| {
            provider.capability_hosts(c).iter().any(|pattern| {
                hosts
                    .iter()
                    .any(|h| h == pattern || host_matches(pattern, h))
            })
        })
        .map(|c| c.id.clone())
        .collect::<Vec<_>>();
    if capabilities.is_empty() {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "hosts {} enable none of {}'s capabilities",
                hosts.join(", "),
                provider.id
            ),
        ));
    }
    Ok(Credential {
        id: id.to_string(),
        provider: provider.id.clone(),
        alternative: alternative_id,
        origin: CredentialOrigin::Custom,
        scope: scope.clone(),
        auth,
        hosts,
        secrets: links,
        capabilities,
        network: NetworkOptions::default(),
        created_at_ms: now,
        updated_at_ms: now,
    })
}

/// The alternative named by the secrets' registry claims, or the provider's preferred one.
fn choose_alternative<'p>(
    provider: &'p ProviderDef,
    secrets: &[GivenSecret],
) -> Result<&'p CredentialDef> {
    let claimed: BTreeSet<&str> = secrets
        .iter()
        .filter_map(|s| {
            provider.credentials.iter().find(|c| {
                c.secrets
                    .values()
                    .chain(c.optional_secrets.values())
                    .any(|name| *name == s.meta.name)
            })
        })
        .map(|c| c.id.as_str())
        .collect();
    match claimed.len() {
        0 => provider
            .preferred_alternative()
            .ok_or_else(|| Error::internal("registry provider without credentials")),
        1 => provider
            .credentials
            .iter()
            .find(|c| claimed.contains(c.id.as_str()))
            .ok_or_else(|| Error::internal("claimed alternative vanished")),
        _ => Err(Error::invalid(format!(
            "the secrets belong to different {} credential alternatives ({}); use one",
            provider.id,
            claimed.into_iter().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Roles implied by the registry names of the secrets (`TRELLO_TOKEN` → `token`).
fn claimed_roles(alternative: &CredentialDef, secrets: &[GivenSecret]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for secret in secrets {
        for (role, name) in alternative
            .secrets
            .iter()
            .chain(&alternative.optional_secrets)
        {
            if *name == secret.meta.name {
                out.insert(secret.meta.secret_id.clone(), role.clone());
            }
        }
    }
    out
}

fn assign_roles(auth: &AuthSpec, secrets: &[GivenSecret]) -> Result<Vec<CredentialSecret>> {
    assign_roles_with(
        auth,
        &auth.required_roles(),
        auth.optional_roles(),
        secrets,
        &BTreeMap::new(),
    )
}

/// Gives each secret its role (explicit, implied by its name, or the only required one) and
/// checks every required role is filled exactly once and no unknown role is given; a lone
/// secret without a role for several roles is a JSON secret of them all
/// ([`CredentialSecret::ALL_ROLES`]).
fn assign_roles_with(
    auth: &AuthSpec,
    required: &BTreeSet<String>,
    optional: &[&str],
    secrets: &[GivenSecret],
    implied: &BTreeMap<String, String>,
) -> Result<Vec<CredentialSecret>> {
    let roles_text = || {
        let mut all: Vec<&str> = required.iter().map(String::as_str).collect();
        all.extend(optional);
        all.join(", ")
    };
    if required.contains(CredentialSecret::ALL_ROLES) {
        return Err(Error::invalid(format!(
            "'{{{{{}}}}}' is reserved (one JSON secret of every role); name the role otherwise",
            CredentialSecret::ALL_ROLES
        )));
    }
    // One secret, named by no role, for a strategy of several roles that the original tool
    // keeps in one JSON secret: a JSON object holding them (`{"username": .., "password":
    // ..}`), read into the roles at invoke. A secret pinned to a registry provider holds one
    // value by its name, never such an object.
    if let [secret] = secrets
        && secret.role.is_none()
        && secret.meta.pinned_provider.is_none()
        && !implied.contains_key(&secret.meta.secret_id)
        && required.len() > 1
        && matches!(
            auth,
            AuthSpec::Basic { .. }
                | AuthSpec::MultiHeader { .. }
                | AuthSpec::MultiQuery { .. }
                | AuthSpec::AwsSigv4 { .. }
                | AuthSpec::Mtls {}
        )
    {
        return Ok(vec![CredentialSecret {
            role: CredentialSecret::ALL_ROLES.into(),
            secret_ref: secret.meta.secret_ref(),
        }]);
    }
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for secret in secrets {
        let role = match (&secret.role, implied.get(&secret.meta.secret_id)) {
            (Some(role), _) => role.clone(),
            (None, Some(role)) => role.clone(),
            (None, None) if required.len() == 1 && secrets.len() == 1 => {
                required.iter().next().cloned().unwrap_or_default()
            }
            (None, None) => {
                return Err(Error::invalid(format!(
                    "say which role secret {} plays: --secret-ref ROLE=vault:secret:<id> (roles: {})",
                    secret.meta.name,
                    roles_text()
                )));
            }
        };
        if !required.contains(&role) && !optional.contains(&role.as_str()) {
            return Err(Error::invalid(format!(
                "unknown role '{role}' (roles: {})",
                roles_text()
            )));
        }
        if links
            .insert(role.clone(), secret.meta.secret_ref())
            .is_some()
        {
            return Err(Error::invalid(format!("role '{role}' is given twice")));
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| !links.contains_key(*r))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "missing --secret-ref for role(s) {}",
            missing.join(", ")
        )));
    }
    Ok(links
        .into_iter()
        .map(|(role, secret_ref)| CredentialSecret { role, secret_ref })
        .collect())
}

/// Runs the registry's auth checks on an operator strategy.
fn check_auth_strategy(
    auth: &AuthSpec,
    links: &[CredentialSecret],
    hosts: &[String],
) -> Result<()> {
    let has = |role: &str| {
        links
            .iter()
            .any(|l| l.role == role || l.role == CredentialSecret::ALL_ROLES)
    };
    let mut problems = Vec::new();
    check_auth(auth, &has, &has, hosts, &mut |e| problems.push(e));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(problems.join("; ")))
    }
}
