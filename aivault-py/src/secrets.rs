//! `vault.secrets`: values go in (bytes or str); only metadata comes out.

use std::collections::BTreeMap;
use std::sync::Arc;

use aivault_core::requests::scope;
use aivault_core::{
    GroupRef, NewSecret, ScopeKind, SecretFilter, SecretUpdate, SecretValue, Vault as CoreVault,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::convert;
use crate::errors::IntoPy;
use crate::records::SecretMeta;
use crate::vault::blocking;

/// A secret value from `bytes` or `str` (UTF-8), straight into the zeroizing buffer.
fn value(value: &Bound<'_, PyAny>, what: &str) -> PyResult<SecretValue> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(SecretValue::new(bytes.as_bytes().to_vec()))
    } else if let Ok(text) = value.cast::<PyString>() {
        Ok(SecretValue::new(text.to_cow()?.as_bytes().to_vec()))
    } else {
        // The message names the type only, never the object (it could be the value).
        Err(PyTypeError::new_err(format!(
            "{what}: expected bytes or str, got {}",
            value.get_type().name()?
        )))
    }
}

/// The secrets of a vault.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Secrets {
    vault: Arc<CoreVault>,
}

impl Secrets {
    pub(crate) fn new(vault: Arc<CoreVault>) -> Self {
        Secrets { vault }
    }
}

#[pymethods]
impl Secrets {
    /// Creates a secret. `scope` is `"global"`, `"workspace"` or `"group"` (`None`: the most
    /// specific of the ids given). A name a registry provider claims pins the secret and
    /// provisions its credential, as the CLI does.
    ///
    /// Returns: its `SecretMeta`. Raises: `AlreadyExistsError`, `InvalidInputError`, ...
    #[pyo3(signature = (name, value, scope=None, workspace_id=None, group_id=None, aliases=None))]
    #[allow(clippy::too_many_arguments)] // The fields of a secret, one keyword each.
    fn create(
        &self,
        py: Python<'_>,
        name: String,
        value: &Bound<'_, PyAny>,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
        aliases: Option<Vec<String>>,
    ) -> PyResult<SecretMeta> {
        let value = self::value(value, "value")?;
        let scope = self::scope(
            scope.as_deref(),
            workspace_id.as_deref(),
            group_id.as_deref(),
        )
        .py_err()?;
        let secret = NewSecret {
            name,
            value,
            scope,
            aliases: aliases.unwrap_or_default(),
        };
        let outcome = blocking(py, &self.vault, |v| v.create_secret(secret))?;
        Ok(SecretMeta::new(outcome.secret))
    }

    /// Lists secret metadata (never values), filtered by scope kind and ids.
    #[pyo3(signature = (scope=None, workspace_id=None, group_id=None))]
    fn list(
        &self,
        py: Python<'_>,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
    ) -> PyResult<Vec<Py<SecretMeta>>> {
        let filter = SecretFilter {
            kind: scope
                .as_deref()
                .map(ScopeKind::parse)
                .transpose()
                .py_err()?,
            workspace_id,
            group_id,
        };
        filter.check().py_err()?;
        let metas = blocking(py, &self.vault, |v| v.list_secrets(&filter))?;
        SecretMeta::list(py, metas)
    }

    /// Renames a secret and/or replaces its aliases (`[]` clears them).
    #[pyo3(signature = (id, name=None, aliases=None))]
    fn update(
        &self,
        py: Python<'_>,
        id: String,
        name: Option<String>,
        aliases: Option<Vec<String>>,
    ) -> PyResult<SecretMeta> {
        let update = SecretUpdate { name, aliases };
        blocking(py, &self.vault, |v| v.update_secret(&id, update)).map(SecretMeta::new)
    }

    /// Gives a secret a new value; its credentials use it from the next call.
    fn rotate(&self, py: Python<'_>, id: String, value: &Bound<'_, PyAny>) -> PyResult<SecretMeta> {
        let value = self::value(value, "value")?;
        let outcome = blocking(py, &self.vault, |v| v.rotate_secret(&id, value))?;
        Ok(SecretMeta::new(outcome.secret))
    }

    /// Deletes a secret with the credentials and bindings that use it.
    ///
    /// Returns: `{"secret": {...}, "removedCredentials": [...], "removedBindings": n}`.
    fn delete<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let outcome = blocking(py, &self.vault, |v| v.delete_secret(&id))?;
        convert::record(py, &outcome)
    }

    /// Makes a global secret visible to one group of a workspace.
    fn attach_group(
        &self,
        py: Python<'_>,
        id: String,
        workspace_id: String,
        group_id: String,
    ) -> PyResult<SecretMeta> {
        let group = GroupRef::new(&workspace_id, &group_id).py_err()?;
        blocking(py, &self.vault, |v| v.attach_group(&id, &group)).map(SecretMeta::new)
    }

    /// Undoes `attach_group`.
    fn detach_group(
        &self,
        py: Python<'_>,
        id: String,
        workspace_id: String,
        group_id: String,
    ) -> PyResult<SecretMeta> {
        let group = GroupRef::new(&workspace_id, &group_id).py_err()?;
        blocking(py, &self.vault, |v| v.detach_group(&id, &group)).map(SecretMeta::new)
    }

    /// Imports several secrets in one transaction from a dict of `"NAME": value` (existing
    /// names in the scope get a new value; empty values are skipped).
    ///
    /// Returns: `{"created": [...], "rotated": [...], "skipped": [...]}` (names only).
    #[pyo3(name = "import_", signature = (entries, scope=None, workspace_id=None, group_id=None))]
    fn import<'py>(
        &self,
        py: Python<'py>,
        entries: &Bound<'py, PyDict>,
        scope: Option<String>,
        workspace_id: Option<String>,
        group_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut values = BTreeMap::new();
        for (name, item) in entries.iter() {
            let name: String = name
                .extract()
                .map_err(|_| PyTypeError::new_err("entries: names must be str"))?;
            let value = self::value(&item, "entries")?;
            values.insert(name, value);
        }
        let scope = self::scope(
            scope.as_deref(),
            workspace_id.as_deref(),
            group_id.as_deref(),
        )
        .py_err()?;
        let values = values.into_iter().collect();
        let report = blocking(py, &self.vault, |v| v.import_secrets(values, &scope))?;
        convert::record(py, &report)
    }

    fn __repr__(&self) -> String {
        "<aivault secrets>".to_string()
    }
}
