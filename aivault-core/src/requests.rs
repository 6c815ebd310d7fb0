//! The structured arguments every language binding takes (C as JSON text, Node as objects,
//! Python as keyword arguments), in the CLI's JSON spelling (camelCase), translated into the
//! core's types here, once, so the bindings agree. Unknown fields are refused, so a misspelt
//! option is an error, never silently ignored.

use crate::{
    AuditQuery, AuthOptions, BindingFilter, Invocation, NetworkOptions, NewBinding, NewCapability,
    NewCredential, PolicyUpdate, RequestBody, Result, Scope, ScopeKind,
};
use serde::Deserialize;

/// A scope as three optional fields; without `scope`, the context of the ids given (none:
/// global; a workspace id: that workspace; both: that group), as the core reads a context.
pub fn scope(
    kind: Option<&str>,
    workspace_id: Option<&str>,
    group_id: Option<&str>,
) -> Result<Scope> {
    match kind {
        Some(kind) => Scope::from_parts(ScopeKind::parse(kind)?, workspace_id, group_id),
        None => Scope::from_context(workspace_id, group_id),
    }
}

/// `credentials.create`: a credential, with its auth options as `credential create` flags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialRequest {
    id: String,
    provider: String,
    secret_refs: Vec<String>,
    #[serde(default)]
    auth: AuthRequest,
    #[serde(default)]
    hosts: Vec<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    #[serde(default)]
    network: NetworkRequest,
}

/// The network opt-ins of a credential, as `credential create` flags (its own type, so a
/// misspelt option is refused here as everywhere else in the requests).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkRequest {
    #[serde(default)]
    allow_private_network: bool,
    #[serde(default)]
    insecure_http: bool,
    ca_cert: Option<String>,
}

impl From<NetworkRequest> for NetworkOptions {
    fn from(r: NetworkRequest) -> NetworkOptions {
        NetworkOptions {
            allow_private_network: r.allow_private_network,
            insecure_http: r.insecure_http,
            ca_cert: r.ca_cert,
        }
    }
}

/// The auth options of a credential, as `credential create` flags.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthRequest {
    kind: Option<String>,
    header_name: Option<String>,
    value_template: Option<String>,
    #[serde(default)]
    query_params: Vec<String>,
    path_prefix_template: Option<String>,
    #[serde(default)]
    auth_headers: Vec<String>,
    username_template: Option<String>,
    password_template: Option<String>,
    grant_type: Option<String>,
    token_endpoint: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    token_auth: Option<String>,
    aws_service: Option<String>,
    aws_region: Option<String>,
    timestamp_header: Option<String>,
}

impl From<CredentialRequest> for NewCredential {
    fn from(r: CredentialRequest) -> NewCredential {
        let a = r.auth;
        NewCredential {
            id: r.id,
            provider: r.provider,
            secret_refs: r.secret_refs,
            auth: AuthOptions {
                kind: a.kind,
                header_name: a.header_name,
                value_template: a.value_template,
                query_params: a.query_params,
                path_prefix_template: a.path_prefix_template,
                auth_headers: a.auth_headers,
                username_template: a.username_template,
                password_template: a.password_template,
                grant_type: a.grant_type,
                token_endpoint: a.token_endpoint,
                scopes: a.scopes,
                token_auth: a.token_auth,
                aws_service: a.aws_service,
                aws_region: a.aws_region,
                timestamp_header: a.timestamp_header,
            },
            hosts: r.hosts,
            workspace_id: r.workspace_id,
            group_id: r.group_id,
            network: r.network.into(),
        }
    }
}

/// `capabilities.create`: a custom capability.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapabilityRequest {
    id: String,
    provider: Option<String>,
    credential: Option<String>,
    methods: Vec<String>,
    paths: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

impl From<CapabilityRequest> for NewCapability {
    fn from(r: CapabilityRequest) -> NewCapability {
        NewCapability {
            id: r.id,
            provider: r.provider,
            credential: r.credential,
            methods: r.methods,
            paths: r.paths,
            hosts: r.hosts,
        }
    }
}

/// `capabilities.setPolicy`: the policy fields to change (absent ones are kept).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRequest {
    rate_limit_per_minute: Option<u32>,
    max_request_body_bytes: Option<u64>,
    max_response_body_bytes: Option<u64>,
    response_block: Option<Vec<String>>,
}

impl From<PolicyRequest> for PolicyUpdate {
    fn from(r: PolicyRequest) -> PolicyUpdate {
        PolicyUpdate {
            rate_limit_per_minute: r.rate_limit_per_minute,
            max_request_body_bytes: r.max_request_body_bytes,
            max_response_body_bytes: r.max_response_body_bytes,
            response_block: r.response_block,
        }
    }
}

/// `capabilities.bind` and `capabilities.unbind` (which ignores `secretRef`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingRequest {
    /// The capability id.
    pub capability: String,
    /// The secret the binding points at (`vault:secret:<id>`).
    pub secret_ref: Option<String>,
    scope: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    /// The consumer the binding is for, if any.
    pub consumer: Option<String>,
}

impl BindingRequest {
    /// The scope the binding applies to.
    pub fn scope(&self) -> Result<Scope> {
        scope(
            self.scope.as_deref(),
            self.workspace_id.as_deref(),
            self.group_id.as_deref(),
        )
    }

    /// As a new binding (`secretRef` required).
    pub fn into_new(self) -> Result<NewBinding> {
        let scope = self.scope()?;
        let secret_ref = self.secret_ref.ok_or_else(|| {
            crate::Error::new(
                crate::ErrorKind::InvalidInput,
                "a binding needs secretRef (vault:secret:<id>)",
            )
        })?;
        Ok(NewBinding {
            capability: self.capability,
            secret_ref,
            scope,
            consumer: self.consumer,
        })
    }
}

/// `capabilities.bindings`: the filter.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingFilterRequest {
    capability: Option<String>,
    scope: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    consumer: Option<String>,
}

impl BindingFilterRequest {
    /// As the core's filter (an unknown `scope` kind is `invalid_input`).
    pub fn into_filter(self) -> Result<BindingFilter> {
        Ok(BindingFilter {
            capability: self.capability,
            kind: self.scope.as_deref().map(ScopeKind::parse).transpose()?,
            workspace_id: self.workspace_id,
            group_id: self.group_id,
            consumer: self.consumer,
        })
    }
}

/// `audit.query`: which events, newest first.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQueryRequest {
    limit: Option<u64>,
    before_ts_ms: Option<i64>,
    kind: Option<String>,
    secret_id: Option<String>,
}

impl From<AuditQueryRequest> for AuditQuery {
    fn from(r: AuditQueryRequest) -> AuditQuery {
        AuditQuery {
            limit: r.limit,
            before_ts_ms: r.before_ts_ms,
            kind: r.kind,
            secret_id: r.secret_id,
        }
    }
}

/// `invoke`: everything of a call but its body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvokeRequest {
    capability: String,
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: Headers,
    credential: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    consumer: Option<String>,
    timeout_ms: Option<u64>,
}

/// Request headers: an object of strings, or a list of `{"name", "value"}` (for repeats).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    /// No headers.
    #[default]
    None,
    /// `{"name": "value"}`.
    Map(std::collections::BTreeMap<String, String>),
    /// `[{"name", "value"}]`, for repeated names.
    List(Vec<HeaderPair>),
}

/// One request header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPair {
    name: String,
    value: String,
}

impl InvokeRequest {
    /// The core's invocation, with `body` as its body.
    pub fn into_invocation(self, body: Vec<u8>) -> Invocation {
        let headers = match self.headers {
            Headers::None => Vec::new(),
            Headers::Map(map) => map.into_iter().collect(),
            Headers::List(list) => list.into_iter().map(|h| (h.name, h.value)).collect(),
        };
        Invocation {
            capability: self.capability,
            credential: self.credential,
            workspace_id: self.workspace_id,
            group_id: self.group_id,
            consumer: self.consumer,
            method: self.method,
            path: self.path,
            headers,
            body: if body.is_empty() {
                RequestBody::Empty
            } else {
                RequestBody::Bytes(body)
            },
            timeout: self.timeout_ms.map(std::time::Duration::from_millis),
            caller: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_network_option_is_refused() {
        let json =
            r#"{"id":"c","provider":"p","secretRefs":[],"network":{"allowEverything":true}}"#;
        let err = serde_json::from_str::<CredentialRequest>(json).expect_err("accepted");
        assert!(err.to_string().contains("unknown field"), "{err}");
        let json = r#"{"id":"c","provider":"p","secretRefs":[],"network":{"insecureHttp":true}}"#;
        let request: CredentialRequest = serde_json::from_str(json).expect("refused");
        assert!(NewCredential::from(request).network.insecure_http);
    }
}
