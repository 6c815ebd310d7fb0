//! The remote form: `aivault.connect(socket, token)` gives a `RemoteVault` with the same
//! `invoke` / `ainvoke` / `capabilities.list | describe | route` as a `Vault`, sent to a
//! running `aivault serve`. The process never opens the vault: it holds a socket path and a
//! caller token. A thin translation of `aivault_core::remote::client::Remote`.

use std::path::PathBuf;
use std::sync::Arc;

use aivault_core::Result as CoreResult;
use aivault_core::remote::client::Remote;
use pyo3::prelude::*;

use crate::convert;
use crate::errors::IntoPy;
use crate::records::Response;
use crate::vault::{invocation, to_thread};

/// Runs `call` with the GIL released (every call is a round trip to the server).
fn blocking<T: Send>(
    py: Python<'_>,
    remote: &Remote,
    call: impl FnOnce(&Remote) -> CoreResult<T> + Send,
) -> PyResult<T> {
    py.detach(|| call(remote)).py_err()
}

/// Connects to a running `aivault serve`: `socket` (else `AIVAULT_SOCKET`) and caller `token`
/// (else `AIVAULT_TOKEN`, from `aivault token create`). Nothing is contacted until the first
/// call.
///
/// Returns: a `RemoteVault`. Raises: `InvalidInputError` without a socket,
/// `UnauthorizedError` without a token.
#[pyfunction]
#[pyo3(signature = (socket=None, token=None))]
pub fn connect(socket: Option<PathBuf>, token: Option<String>) -> PyResult<RemoteVault> {
    RemoteVault::new(socket, token)
}

/// A running `aivault serve` and a caller token: `invoke`, `ainvoke` and `capabilities`
/// (list, describe, route), limited to the token's capabilities and context. Thread-safe;
/// every call releases the GIL. Its `repr` shows the socket, never the token.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct RemoteVault {
    inner: Arc<Remote>,
}

#[pymethods]
impl RemoteVault {
    /// As `aivault.connect(socket, token)`.
    #[new]
    #[pyo3(signature = (socket=None, token=None))]
    fn new(socket: Option<PathBuf>, token: Option<String>) -> PyResult<Self> {
        Ok(RemoteVault {
            inner: Arc::new(Remote::connect(socket, token).py_err()?),
        })
    }

    /// The server's socket.
    #[getter]
    fn socket(&self) -> PathBuf {
        self.inner.socket().to_path_buf()
    }

    /// The token's capabilities: list, describe, route.
    #[getter]
    fn capabilities(&self) -> RemoteCapabilities {
        RemoteCapabilities {
            inner: self.inner.clone(),
        }
    }

    /// `Vault.invoke` through the server: the same arguments, `Response` and errors, plus
    /// `UnauthorizedError` for a refused token or a call outside its capabilities or context,
    /// and `IoError` when the server cannot be reached. Bodies are bytes, str or `json`, never
    /// a path. Blocks, with the GIL released.
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
        let response = blocking(py, &self.inner, |r| r.invoke(&invocation))?;
        Response::new(py, response)
    }

    /// `invoke` for asyncio (`asyncio.to_thread`); same arguments, result and errors.
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
            "RemoteVault(socket={:?})",
            self.inner.socket().display().to_string()
        )
    }
}

/// The token's capabilities, as the server shows them (records are dicts, camelCase keys).
#[pyclass(module = "aivault._aivault", frozen)]
pub struct RemoteCapabilities {
    inner: Arc<Remote>,
}

#[pymethods]
impl RemoteCapabilities {
    /// `{"capabilities": [...], ...}`: only the token's capabilities.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let listing = blocking(py, &self.inner, |r| r.list_capabilities())?;
        convert::record(py, &listing)
    }

    /// How to call capability `id`; `UnauthorizedError` for one the token does not name.
    fn describe<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let description = blocking(py, &self.inner, |r| r.describe_capability(&id))?;
        convert::record(py, &description)
    }

    /// Which of the token's capabilities a plain HTTP request goes through: `{"capability",
    /// "path"}`; `CapabilityNotFoundError` when none allows it.
    fn route<'py>(
        &self,
        py: Python<'py>,
        host: String,
        method: String,
        path: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let route = blocking(py, &self.inner, |r| r.route(&host, &method, &path))?;
        convert::record(py, &route)
    }

    fn __repr__(&self) -> String {
        "<aivault remote capabilities>".to_string()
    }
}
