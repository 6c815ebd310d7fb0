//! `vault.credentials`: records come back as dicts (the CLI's JSON, camelCase keys).

use std::sync::Arc;

use aivault_core::requests::CredentialRequest;
use aivault_core::{NewCredential, Vault as CoreVault};
use pyo3::prelude::*;
use serde_json::Value;

use crate::convert::{self, opt, opt_obj};
use crate::vault::blocking;

/// The credentials of a vault.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Credentials {
    vault: Arc<CoreVault>,
}

impl Credentials {
    pub(crate) fn new(vault: Arc<CoreVault>) -> Self {
        Credentials { vault }
    }
}

#[pymethods]
impl Credentials {
    /// Creates a credential: which secrets (`vault:secret:<id>`) it injects, how (`auth`, the
    /// options of `aivault credential create`: `kind`, `header_name`, `value_template`, ...),
    /// towards which `hosts`, in which scope, with which `network` options
    /// (`allow_private_network`, `insecure_http`, `ca_cert`). Option keys may be snake_case or
    /// camelCase; unknown ones raise `InvalidInputError`.
    ///
    /// Returns: the credential as a dict.
    #[pyo3(signature = (id, provider, secret_refs, auth=None, hosts=None, workspace_id=None,
        group_id=None, network=None))]
    #[allow(clippy::too_many_arguments)] // The fields of a credential, one keyword each.
    fn create<'py>(
        &self,
        py: Python<'py>,
        id: String,
        provider: String,
        secret_refs: Vec<String>,
        auth: Option<&Bound<'py, PyAny>>,
        hosts: Option<Vec<String>>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        network: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: CredentialRequest = convert::request(
            "credentials.create",
            vec![
                ("id", Value::String(id)),
                ("provider", Value::String(provider)),
                ("secretRefs", Value::from(secret_refs)),
                ("auth", opt_obj(auth, "auth")?),
                ("hosts", hosts.map_or(Value::Null, Value::from)),
                ("workspaceId", opt(workspace_id)),
                ("groupId", opt(group_id)),
                ("network", opt_obj(network, "network")?),
            ],
        )?;
        let new = NewCredential::from(request);
        let credential = blocking(py, &self.vault, |v| v.create_credential(new))?;
        convert::record(py, &credential)
    }

    /// Lists credentials (what is injected, how, towards which hosts; never a value).
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let credentials = blocking(py, &self.vault, |v| v.list_credentials())?;
        convert::record(py, &credentials)
    }

    /// Deletes a credential. Returns: `{"removed", "id", "origin"?}`.
    fn delete<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let deletion = blocking(py, &self.vault, |v| v.delete_credential(&id))?;
        convert::record(py, &deletion)
    }

    fn __repr__(&self) -> String {
        "<aivault credentials>".to_string()
    }
}
