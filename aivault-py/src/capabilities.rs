//! `vault.capabilities`: records come back as dicts (the CLI's JSON, camelCase keys).

use std::sync::Arc;

use aivault_core::requests::{
    BindingFilterRequest, BindingRequest, CapabilityRequest, PolicyRequest,
};
use aivault_core::{NewCapability, PolicyUpdate, Vault as CoreVault};
use pyo3::prelude::*;
use serde_json::Value;

use crate::convert::{self, opt};
use crate::vault::blocking;

/// The capabilities of a vault (registry and operator-defined).
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Capabilities {
    vault: Arc<CoreVault>,
}

impl Capabilities {
    pub(crate) fn new(vault: Arc<CoreVault>) -> Self {
        Capabilities { vault }
    }
}

/// The fields of a binding request.
fn binding_fields(
    capability: String,
    secret_ref: Option<String>,
    scope: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    consumer: Option<String>,
) -> Vec<(&'static str, Value)> {
    vec![
        ("capability", Value::String(capability)),
        ("secretRef", opt(secret_ref)),
        ("scope", opt(scope)),
        ("workspaceId", opt(workspace_id)),
        ("groupId", opt(group_id)),
        ("consumer", opt(consumer)),
    ]
}

#[pymethods]
impl Capabilities {
    /// `{"capabilities": [ready...], "registryCapabilities": [available...], "policies": [...]}`.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let listing = blocking(py, &self.vault, |v| v.list_capabilities())?;
        convert::record(py, &listing)
    }

    /// How to call a capability: methods, paths, hosts, auth, policy, setup still needed.
    fn describe<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let description = blocking(py, &self.vault, |v| v.describe_capability(&id))?;
        convert::record(py, &description)
    }

    /// Creates an operator capability: `provider` (a registry provider) or `credential` (a
    /// custom one), the `methods` and path prefixes (`paths`) it allows, optional `hosts`.
    #[pyo3(signature = (id, methods, paths, provider=None, credential=None, hosts=None))]
    #[allow(clippy::too_many_arguments)] // The fields of a capability, one keyword each.
    fn create<'py>(
        &self,
        py: Python<'py>,
        id: String,
        methods: Vec<String>,
        paths: Vec<String>,
        provider: Option<String>,
        credential: Option<String>,
        hosts: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: CapabilityRequest = convert::request(
            "capabilities.create",
            vec![
                ("id", Value::String(id)),
                ("provider", opt(provider)),
                ("credential", opt(credential)),
                ("methods", Value::from(methods)),
                ("paths", Value::from(paths)),
                ("hosts", hosts.map_or(Value::Null, Value::from)),
            ],
        )?;
        let new = NewCapability::from(request);
        let view = blocking(py, &self.vault, |v| v.create_capability(new))?;
        convert::record(py, &view)
    }

    /// Deletes an operator capability with its policy and bindings.
    fn delete<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let deletion = blocking(py, &self.vault, |v| v.delete_capability(&id))?;
        convert::record(py, &deletion)
    }

    /// Sets fields of a capability's policy (`None` keeps a field): `rate_limit_per_minute`,
    /// `max_request_body_bytes`, `max_response_body_bytes`, `response_block` (JSON paths).
    #[pyo3(signature = (id, rate_limit_per_minute=None, max_request_body_bytes=None,
        max_response_body_bytes=None, response_block=None))]
    fn set_policy<'py>(
        &self,
        py: Python<'py>,
        id: String,
        rate_limit_per_minute: Option<u32>,
        max_request_body_bytes: Option<u64>,
        max_response_body_bytes: Option<u64>,
        response_block: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: PolicyRequest = convert::request(
            "capabilities.set_policy",
            vec![
                (
                    "rateLimitPerMinute",
                    rate_limit_per_minute.map_or(Value::Null, Value::from),
                ),
                (
                    "maxRequestBodyBytes",
                    max_request_body_bytes.map_or(Value::Null, Value::from),
                ),
                (
                    "maxResponseBodyBytes",
                    max_response_body_bytes.map_or(Value::Null, Value::from),
                ),
                (
                    "responseBlock",
                    response_block.map_or(Value::Null, Value::from),
                ),
            ],
        )?;
        let update = PolicyUpdate::from(request);
        let policy = blocking(py, &self.vault, |v| v.set_policy(&id, update))?;
        convert::record(py, &policy)
    }

    /// Binds a capability to a secret (`vault:secret:<id>`) for a scope and consumer.
    #[pyo3(signature = (capability, secret_ref, scope=None, workspace_id=None, group_id=None,
        consumer=None))]
    #[allow(clippy::too_many_arguments)] // The fields of a binding, one keyword each.
    fn bind<'py>(
        &self,
        py: Python<'py>,
        capability: String,
        secret_ref: String,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        consumer: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: BindingRequest = convert::request(
            "capabilities.bind",
            binding_fields(
                capability,
                Some(secret_ref),
                scope,
                workspace_id,
                group_id,
                consumer,
            ),
        )?;
        let outcome = blocking(py, &self.vault, |v| v.bind(request.into_new()?))?;
        convert::record(py, &outcome)
    }

    /// Removes a binding; the result says whether one was removed.
    #[pyo3(signature = (capability, scope=None, workspace_id=None, group_id=None, consumer=None))]
    fn unbind<'py>(
        &self,
        py: Python<'py>,
        capability: String,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        consumer: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: BindingRequest = convert::request(
            "capabilities.unbind",
            binding_fields(capability, None, scope, workspace_id, group_id, consumer),
        )?;
        let outcome = blocking(py, &self.vault, |v| {
            v.unbind(
                &request.capability,
                &request.scope()?,
                request.consumer.as_deref(),
            )
        })?;
        convert::record(py, &outcome)
    }

    /// Lists bindings, filtered.
    #[pyo3(signature = (capability=None, scope=None, workspace_id=None, group_id=None,
        consumer=None))]
    fn bindings<'py>(
        &self,
        py: Python<'py>,
        capability: Option<String>,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        consumer: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: BindingFilterRequest = convert::request(
            "capabilities.bindings",
            vec![
                ("capability", opt(capability)),
                ("scope", opt(scope)),
                ("workspaceId", opt(workspace_id)),
                ("groupId", opt(group_id)),
                ("consumer", opt(consumer)),
            ],
        )?;
        let bindings = blocking(py, &self.vault, |v| v.bindings(&request.into_filter()?))?;
        convert::record(py, &bindings)
    }

    /// Which capability a plain HTTP request goes through (what a drop-in transport asks):
    /// `host` with its port when not the default, `method`, `path` with its query.
    ///
    /// Returns: `{"capability": id, "path": path to invoke it with}`. Raises:
    /// `CapabilityNotFoundError` when none allows the request; `InvalidInputError` when two
    /// equally specific ones do.
    fn route<'py>(
        &self,
        py: Python<'py>,
        host: String,
        method: String,
        path: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let route = blocking(py, &self.vault, |v| v.route(&host, &method, &path))?;
        convert::record(py, &route)
    }

    fn __repr__(&self) -> String {
        "<aivault capabilities>".to_string()
    }
}
