//! Mapping the original tool's broker records into this vault's requests: a stored credential
//! becomes a [`NewCredential`] (its auth strategy spelled as `credential create` flags), a
//! capability a [`NewCapability`], a policy a [`PolicyUpdate`], a binding a [`NewBinding`].
//! Each mapping fails with a reason for the report; the requests are then validated exactly
//! as the commands validate them.

use serde::Deserialize;
use serde_json::Value;

use crate::bindings::NewBinding;
use crate::capabilities::{NewCapability, PolicyUpdate};
use crate::credentials::{AuthOptions, NewCredential};
use crate::model::Scope;

type Mapped<T> = std::result::Result<T, String>;

/// A credential of the original's `broker.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCredential {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    pub auth: Value,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub upstream_path_prefix: Option<String>,
    pub secret_ref: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCapability {
    pub id: String,
    pub provider: String,
    pub allow: RawAllow,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAllow {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub path_prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPolicy {
    pub capability_id: String,
    pub policy: RawPolicyFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPolicyFields {
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    pub max_request_body_bytes: Option<u64>,
    #[serde(default)]
    pub max_response_body_bytes: Option<u64>,
    #[serde(default)]
    pub response_body_blocklist: Vec<String>,
}

/// A binding of the original's `capabilities.json`; its scope is tagged by `type`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawBinding {
    pub capability: String,
    pub secret_ref: String,
    pub scope: RawBindingScope,
    #[serde(default)]
    pub consumer: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum RawBindingScope {
    Global,
    Workspace {
        workspace_id: String,
    },
    Group {
        workspace_id: String,
        group_id: String,
    },
}

/// Parses one raw record, or says why it cannot be read.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(raw: &Value) -> Mapped<T> {
    T::deserialize(raw).map_err(|e| {
        // The field name helps; the rest of serde's message may quote a value, so drop it.
        let text = e.to_string();
        match text.split_once('`') {
            Some((_, rest)) if text.starts_with("missing field") => {
                format!("not a record of the original format: missing field `{rest}")
            }
            _ => "not a record of the original format".to_string(),
        }
    })
}

/// The id (or name) a raw record shows in the report, if it has one.
pub(crate) fn record_label(raw: &Value, field: &str) -> String {
    raw.get(field)
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
        .to_string()
}

/// The source secret id of `vault:secret:<id>`.
pub(crate) fn source_secret_id(secret_ref: &str) -> Mapped<String> {
    secret_ref
        .trim()
        .strip_prefix("vault:secret:")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "its secretRef is not vault:secret:<id>".to_string())
}

fn field<'a>(body: &'a Value, name: &str, kind: &str) -> Mapped<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("auth '{kind}' has no {name}"))
}

fn template_list(body: &Value, kind: &str, name_field: &str) -> Mapped<Vec<String>> {
    let items = body
        .as_array()
        .ok_or_else(|| format!("auth '{kind}' is not a list"))?;
    items
        .iter()
        .map(|item| {
            Ok(format!(
                "{}={}",
                field(item, name_field, kind)?,
                field(item, "value_template", kind)?
            ))
        })
        .collect()
}

/// The original's auth strategy (serde's external tagging: `"basic"`, `"mtls"` or
/// `{"header": {...}}`) as `credential create` options.
pub(crate) fn auth_options(auth: &Value) -> Mapped<AuthOptions> {
    let (kind, body) = match auth {
        Value::String(kind) => (kind.as_str(), &Value::Null),
        Value::Object(map) if map.len() == 1 => {
            let (kind, body) = map.iter().next().ok_or("empty auth")?;
            (kind.as_str(), body)
        }
        _ => return Err("its auth strategy is not in the original format".into()),
    };
    let mut options = AuthOptions::default();
    let set_kind = |options: &mut AuthOptions, name: &str| options.kind = Some(name.to_string());
    match kind {
        "header" => {
            set_kind(&mut options, "header");
            options.header_name = Some(field(body, "header_name", kind)?.to_string());
            options.value_template = Some(field(body, "value_template", kind)?.to_string());
        }
        "query" => {
            set_kind(&mut options, "query");
            options.query_params = vec![field(body, "param_name", kind)?.to_string()];
        }
        "path" => {
            set_kind(&mut options, "path");
            options.path_prefix_template = Some(field(body, "prefix_template", kind)?.to_string());
        }
        "multi_header" => {
            set_kind(&mut options, "multi-header");
            options.auth_headers = template_list(body, kind, "header_name")?;
        }
        "multi_query" => {
            set_kind(&mut options, "multi-query");
            options.query_params = template_list(body, kind, "param_name")?;
        }
        "basic" => set_kind(&mut options, "basic"),
        "mtls" => set_kind(&mut options, "mtls"),
        "o_auth2" => {
            set_kind(&mut options, "oauth2");
            options.grant_type = Some(field(body, "grant_type", kind)?.to_string());
            options.token_endpoint = Some(field(body, "token_endpoint", kind)?.to_string());
            options.scopes = body
                .get("scopes")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
        }
        "aws_sig_v4" => {
            set_kind(&mut options, "aws-sigv4");
            options.aws_service = Some(field(body, "service", kind)?.to_string());
            options.aws_region = Some(field(body, "region", kind)?.to_string());
        }
        "hmac" => {
            let algorithm = field(body, "algorithm", kind)?;
            if !algorithm.eq_ignore_ascii_case("sha256")
                && !algorithm.eq_ignore_ascii_case("hmac-sha256")
            {
                return Err(format!(
                    "unsupported HMAC algorithm '{algorithm}' (only sha256)"
                ));
            }
            set_kind(&mut options, "hmac");
            options.header_name = Some(field(body, "header_name", kind)?.to_string());
            options.value_template = Some(field(body, "value_template", kind)?.to_string());
        }
        other => return Err(format!("unsupported auth kind '{other}'")),
    }
    Ok(options)
}

/// A `credential create` request for a custom credential of the original.
pub(crate) fn new_credential(raw: &RawCredential, secret_ref: String) -> Mapped<NewCredential> {
    if raw
        .upstream_path_prefix
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err("upstreamPathPrefix is not supported by this aivault".into());
    }
    Ok(NewCredential {
        id: raw.id.clone(),
        provider: raw.provider.clone(),
        secret_refs: vec![secret_ref],
        auth: auth_options(&raw.auth)?,
        hosts: raw.hosts.clone(),
        workspace_id: raw.workspace_id.clone().filter(|w| !w.is_empty()),
        group_id: raw.group_id.clone().filter(|g| !g.is_empty()),
        network: Default::default(),
    })
}

/// A `capability create` request.
pub(crate) fn new_capability(raw: &RawCapability) -> NewCapability {
    NewCapability {
        id: raw.id.clone(),
        provider: Some(raw.provider.clone()),
        credential: None,
        methods: raw.allow.methods.clone(),
        paths: raw.allow.path_prefixes.clone(),
        hosts: raw.allow.hosts.clone(),
    }
}

/// A `capability policy set` request; `None` for a policy that sets nothing.
pub(crate) fn policy_update(raw: &RawPolicyFields) -> Option<PolicyUpdate> {
    let update = PolicyUpdate {
        rate_limit_per_minute: raw.rate_limit_per_minute,
        max_request_body_bytes: raw.max_request_body_bytes,
        max_response_body_bytes: raw.max_response_body_bytes,
        response_block: Some(raw.response_body_blocklist.clone()).filter(|b| !b.is_empty()),
    };
    (update != PolicyUpdate::default()).then_some(update)
}

/// The scope of a binding.
pub(crate) fn binding_scope(raw: &RawBindingScope) -> Mapped<Scope> {
    let scope = match raw {
        RawBindingScope::Global => Scope::from_context(None, None),
        RawBindingScope::Workspace { workspace_id } => {
            Scope::from_context(Some(workspace_id), None)
        }
        RawBindingScope::Group {
            workspace_id,
            group_id,
        } => Scope::from_context(Some(workspace_id), Some(group_id)),
    };
    scope.map_err(|e| e.message().to_string())
}

/// A `capability bind` request.
pub(crate) fn new_binding(raw: &RawBinding, secret_ref: String) -> Mapped<NewBinding> {
    Ok(NewBinding {
        capability: raw.capability.clone(),
        secret_ref,
        scope: binding_scope(&raw.scope)?,
        consumer: raw.consumer.clone().filter(|c| !c.is_empty()),
    })
}
