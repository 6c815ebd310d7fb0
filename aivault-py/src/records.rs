//! The typed records: a secret's metadata and an invoke's response. Neither can hold a secret
//! value: the core never hands one out, and a response body has been redacted by the broker.
//! Their `repr` shows ids, names and the status only.

use aivault_core::{Scope, SecretMeta as CoreMeta};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::convert;

/// A secret's metadata (never its value).
#[pyclass(module = "aivault._aivault", frozen, eq)]
#[derive(PartialEq)]
pub struct SecretMeta {
    inner: CoreMeta,
}

impl SecretMeta {
    /// Wraps the core's record.
    pub fn new(inner: CoreMeta) -> Self {
        SecretMeta { inner }
    }

    /// The Python objects of several records.
    pub fn list(py: Python<'_>, metas: Vec<CoreMeta>) -> PyResult<Vec<Py<SecretMeta>>> {
        metas
            .into_iter()
            .map(|m| Py::new(py, SecretMeta::new(m)))
            .collect()
    }
}

#[pymethods]
impl SecretMeta {
    /// The secret's id (a UUID).
    #[getter]
    fn secret_id(&self) -> &str {
        &self.inner.secret_id
    }

    /// `vault:secret:<id>`, the reference credentials and bindings use.
    #[getter]
    fn secret_ref(&self) -> String {
        self.inner.secret_ref()
    }

    /// The name, unique in its scope.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// Extra unique labels in its scope, sorted.
    #[getter]
    fn aliases(&self) -> Vec<String> {
        self.inner.aliases.clone()
    }

    /// `"global"`, `"workspace"` or `"group"`.
    #[getter]
    fn scope(&self) -> &'static str {
        match self.inner.scope {
            Scope::Global => "global",
            Scope::Workspace { .. } => "workspace",
            Scope::Group { .. } => "group",
        }
    }

    /// The workspace of a workspace or group secret.
    #[getter]
    fn workspace_id(&self) -> Option<&str> {
        match &self.inner.scope {
            Scope::Global => None,
            Scope::Workspace { workspace_id } | Scope::Group { workspace_id, .. } => {
                Some(workspace_id)
            }
        }
    }

    /// The group of a group secret.
    #[getter]
    fn group_id(&self) -> Option<&str> {
        match &self.inner.scope {
            Scope::Group { group_id, .. } => Some(group_id),
            _ => None,
        }
    }

    /// The registry provider the secret is pinned to, if any.
    #[getter]
    fn pinned_provider(&self) -> Option<&str> {
        self.inner.pinned_provider.as_deref()
    }

    /// 1 at creation; each rotation adds 1.
    #[getter]
    fn value_version(&self) -> u64 {
        self.inner.value_version
    }

    /// Creation time, milliseconds since the Unix epoch.
    #[getter]
    fn created_at_ms(&self) -> i64 {
        self.inner.created_at_ms
    }

    /// Last change, milliseconds since the Unix epoch.
    #[getter]
    fn updated_at_ms(&self) -> i64 {
        self.inner.updated_at_ms
    }

    /// The `(workspace_id, group_id)` pairs a global secret is attached to, sorted.
    #[getter]
    fn attached_groups(&self) -> Vec<(String, String)> {
        self.inner
            .attached_groups
            .iter()
            .map(|g| (g.workspace_id.clone(), g.group_id.clone()))
            .collect()
    }

    /// The record as the CLI's JSON object (camelCase keys).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::record(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "SecretMeta(secret_id={:?}, name={:?}, scope={:?}, value_version={})",
            self.inner.secret_id,
            self.inner.name,
            self.scope(),
            self.inner.value_version
        )
    }
}

/// An upstream response relayed by the broker (redacted; auth-class, cookie and framing
/// headers dropped). An upstream 4xx or 5xx is a response, not an error.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    content: Py<PyBytes>,
    planned: serde_json::Value,
}

impl Response {
    /// Builds the Python response of a core response.
    pub fn new(py: Python<'_>, response: aivault_core::InvokeResponse) -> PyResult<Self> {
        let planned = serde_json::to_value(&response.planned).unwrap_or(serde_json::Value::Null);
        Ok(Response {
            status: response.status,
            headers: response.headers,
            content: PyBytes::new(py, &response.body).unbind(),
            planned,
        })
    }
}

#[pymethods]
impl Response {
    /// The upstream HTTP status.
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }

    /// The headers as a dict of lower-case names (repeated names joined with `, `).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.headers {
            let name = name.to_ascii_lowercase();
            let joined = match dict.get_item(&name)? {
                Some(prev) => format!("{}, {value}", prev.extract::<String>()?),
                None => value.clone(),
            };
            dict.set_item(name, joined)?;
        }
        Ok(dict)
    }

    /// The headers as `(name, value)` pairs in upstream order (repeats kept).
    #[getter]
    fn header_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .headers
            .iter()
            .map(|(n, v)| PyTuple::new(py, [n.as_str(), v.as_str()]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The body as bytes.
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyBytes> {
        self.content.clone_ref(py)
    }

    /// The body decoded as UTF-8 (invalid bytes replaced).
    #[getter]
    fn text(&self, py: Python<'_>) -> String {
        String::from_utf8_lossy(self.content.as_bytes(py)).into_owned()
    }

    /// The body parsed as JSON (`json.loads`); raises `ValueError` when it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.content.bind(py),))
    }

    /// The request the broker made: `{"capability", "credential", "method", "url"}` (the URL
    /// shows `REDACTED` where a secret goes).
    #[getter]
    fn planned<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.planned)
    }

    fn __repr__(&self) -> String {
        format!("<Response [{}]>", self.status)
    }
}
