//! The `Vault` handle: open, status, invoke (blocking and asyncio) and the namespaces.

use std::path::PathBuf;
use std::sync::Arc;

use aivault_core::requests::InvokeRequest;
use aivault_core::{Config, Invocation, Result as CoreResult, Vault as CoreVault};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use serde_json::Value;

use crate::audit::Audit;
use crate::capabilities::Capabilities;
use crate::convert::{self, opt};
use crate::credentials::Credentials;
use crate::errors::{IntoPy, invalid};
use crate::records::Response;
use crate::secrets::Secrets;

/// Runs `call` on the core vault with the GIL released (every core call touches disk, crypto
/// or the network), mapping its error.
pub fn blocking<T: Send>(
    py: Python<'_>,
    vault: &Arc<CoreVault>,
    call: impl FnOnce(&CoreVault) -> CoreResult<T> + Send,
) -> PyResult<T> {
    py.detach(|| call(vault)).py_err()
}

/// An open aivault vault. Thread-safe: share one handle between threads; every call releases
/// the GIL while the core works.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Vault {
    inner: Arc<CoreVault>,
}

#[pymethods]
impl Vault {
    /// Opens the vault in `path` (a file-provider vault is created there if none exists), or
    /// with `path=None` the default one (`AIVAULT_DIR`, else `~/.aivault/data`, its key found
    /// as the CLI finds it).
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Self> {
        let vault = py
            .detach(|| {
                let config = Config::for_binding(path.as_deref())?;
                CoreVault::open(config)
            })
            .py_err()?;
        Ok(Vault {
            inner: Arc::new(vault),
        })
    }

    /// The vault's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.config().dir.clone()
    }

    /// The vault's status (initialized, locked, provider, key id, paths, counts) as a dict.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let config = self.inner.config().clone();
        let status = py.detach(|| CoreVault::status(config)).py_err()?;
        convert::record(py, &status)
    }

    /// Secrets: create, list, update, rotate, delete, groups, import.
    #[getter]
    fn secrets(&self) -> Secrets {
        Secrets::new(self.inner.clone())
    }

    /// Credentials: create, list, delete.
    #[getter]
    fn credentials(&self) -> Credentials {
        Credentials::new(self.inner.clone())
    }

    /// Capabilities: list, describe, create, delete, policies, bindings, route.
    #[getter]
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(self.inner.clone())
    }

    /// The audit log: query, verify.
    #[getter]
    fn audit(&self) -> Audit {
        Audit::new(self.inner.clone())
    }

    /// Calls a capability through the broker (policy, credential injection, network guard,
    /// redaction, audit) and returns the whole response. Blocks, with the GIL released.
    ///
    /// Args: `capability` id; `method` and `path` (the capability's defaults when `None`);
    /// `headers` a dict or a list of `(name, value)` pairs (never auth headers: the broker
    /// injects credentials and refuses callers' ones); `body` bytes or str, or `json` any
    /// JSON-able value sent as the body (not both); `credential`, `workspace_id`, `group_id`,
    /// `consumer` choose the credential; `timeout` in seconds.
    ///
    /// Returns: a `Response`; an upstream 4xx/5xx is a response, not an error.
    ///
    /// Raises: an `AivaultError` subclass (`CapabilityNotFoundError`, `PolicyViolationError`,
    /// `UpstreamError`, ...); `TypeError` for arguments of the wrong type.
    #[pyo3(signature = (capability, method=None, path=None, headers=None, body=None, json=None,
        credential=None, workspace_id=None, group_id=None, consumer=None, timeout=None))]
    #[allow(clippy::too_many_arguments)] // The keyword arguments of the shared surface.
    fn invoke(
        &self,
        py: Python<'_>,
        capability: String,
        method: Option<String>,
        path: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        credential: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        consumer: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Response> {
        let invocation = invocation(
            capability,
            method,
            path,
            headers,
            body,
            json,
            [credential, workspace_id, group_id, consumer],
            timeout,
        )?;
        let response = blocking(py, &self.inner, |v| v.invoke(&invocation))?;
        Response::new(py, response)
    }

    /// `invoke` for asyncio: `await vault.ainvoke(...)` runs the blocking call in the default
    /// thread pool (`asyncio.to_thread`), so the event loop keeps running. Same arguments,
    /// result and errors as `invoke`.
    #[pyo3(signature = (capability, method=None, path=None, headers=None, body=None, json=None,
        credential=None, workspace_id=None, group_id=None, consumer=None, timeout=None))]
    #[allow(clippy::too_many_arguments)] // The keyword arguments of the shared surface.
    fn ainvoke<'py>(
        slf: &Bound<'py, Self>,
        capability: &Bound<'py, PyAny>,
        method: Option<&Bound<'py, PyAny>>,
        path: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        body: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        credential: Option<&Bound<'py, PyAny>>,
        workspace_id: Option<&Bound<'py, PyAny>>,
        group_id: Option<&Bound<'py, PyAny>>,
        consumer: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        to_thread(
            slf.as_any(),
            capability,
            [
                method,
                path,
                headers,
                body,
                json,
                credential,
                workspace_id,
                group_id,
                consumer,
                timeout,
            ],
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "Vault(path={:?})",
            self.inner.config().dir.display().to_string()
        )
    }
}

/// The core invocation of `invoke`'s keyword arguments (shared by `Vault` and `RemoteVault`).
/// `context` is `[credential, workspace_id, group_id, consumer]`.
#[allow(clippy::too_many_arguments)] // The keyword arguments of the shared surface.
pub(crate) fn invocation(
    capability: String,
    method: Option<String>,
    path: Option<String>,
    headers: Option<&Bound<'_, PyAny>>,
    body: Option<&Bound<'_, PyAny>>,
    json: Option<&Bound<'_, PyAny>>,
    context: [Option<String>; 4],
    timeout: Option<f64>,
) -> PyResult<Invocation> {
    let [credential, workspace_id, group_id, consumer] = context;
    let body = body_bytes(body, json)?;
    let timeout_ms = match timeout {
        None => Value::Null,
        Some(t) if t.is_finite() && t > 0.0 => Value::from((t * 1000.0).ceil() as u64),
        Some(_) => return Err(invalid("timeout must be a positive number of seconds")),
    };
    let request: InvokeRequest = convert::request(
        "invoke",
        vec![
            ("capability", Value::String(capability)),
            ("method", opt(method)),
            ("path", opt(path)),
            ("headers", header_json(headers)?),
            ("credential", opt(credential)),
            ("workspaceId", opt(workspace_id)),
            ("groupId", opt(group_id)),
            ("consumer", opt(consumer)),
            ("timeoutMs", timeout_ms),
        ],
    )?;
    Ok(request.into_invocation(body))
}

/// `ainvoke`: `asyncio.to_thread(slf.invoke, capability, **kwargs)` (the blocking call in the
/// default thread pool, so the event loop keeps running). `args` are the keyword arguments
/// after `capability`, in `invoke`'s order.
pub(crate) fn to_thread<'py>(
    slf: &Bound<'py, PyAny>,
    capability: &Bound<'py, PyAny>,
    args: [Option<&Bound<'py, PyAny>>; 10],
) -> PyResult<Bound<'py, PyAny>> {
    let [
        method,
        path,
        headers,
        body,
        json,
        credential,
        workspace_id,
        group_id,
        consumer,
        timeout,
    ] = args;
    let py = slf.py();
    let kwargs = PyDict::new(py);
    for (name, value) in [
        ("method", method),
        ("path", path),
        ("headers", headers),
        ("body", body),
        ("json", json),
        ("credential", credential),
        ("workspace_id", workspace_id),
        ("group_id", group_id),
        ("consumer", consumer),
        ("timeout", timeout),
    ] {
        if let Some(value) = value {
            kwargs.set_item(name, value)?;
        }
    }
    let invoke = slf.getattr("invoke")?;
    py.import("asyncio")?
        .getattr("to_thread")?
        .call((invoke, capability), Some(&kwargs))
}

/// The body: `bytes` or `str` (UTF-8), or `json` encoded; not both.
fn body_bytes(
    body: Option<&Bound<'_, PyAny>>,
    json: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<u8>> {
    let body = body.filter(|b| !b.is_none());
    let json = json.filter(|j| !j.is_none());
    match (body, json) {
        (Some(_), Some(_)) => Err(invalid("give body or json, not both")),
        (Some(b), None) => {
            if let Ok(bytes) = b.cast::<PyBytes>() {
                Ok(bytes.as_bytes().to_vec())
            } else if let Ok(text) = b.cast::<PyString>() {
                Ok(text.to_cow()?.as_bytes().to_vec())
            } else {
                Err(PyTypeError::new_err(format!(
                    "body: expected bytes or str, got {}",
                    b.get_type().name()?
                )))
            }
        }
        (None, Some(j)) => {
            let value = convert::to_json(j, false, "json")?;
            serde_json::to_vec(&value).map_err(|e| invalid(format!("json: {e}")))
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// Request headers: a dict of str, or a list of `(name, value)` pairs (repeats kept).
fn header_json(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    let Some(headers) = headers.filter(|h| !h.is_none()) else {
        return Ok(Value::Null);
    };
    let pairs: Vec<(String, String)> = if let Ok(dict) = headers.cast::<PyDict>() {
        dict.iter()
            .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
            .collect::<PyResult<_>>()
            .map_err(|_| PyTypeError::new_err("headers: names and values must be str"))?
    } else {
        headers
            .try_iter()
            .and_then(|it| {
                it.map(|item| item?.extract::<(String, String)>())
                    .collect::<PyResult<_>>()
            })
            .map_err(|_| {
                PyTypeError::new_err(
                    "headers: expected a dict or a list of (name, value) str pairs",
                )
            })?
    };
    Ok(Value::Array(
        pairs
            .into_iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
            .collect(),
    ))
}
