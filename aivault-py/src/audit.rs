//! `vault.audit`: events name ids and kinds, never values.

use std::sync::Arc;

use aivault_core::requests::AuditQueryRequest;
use aivault_core::{AuditQuery, Vault as CoreVault};
use pyo3::prelude::*;
use serde_json::Value;

use crate::convert::{self, opt};
use crate::vault::blocking;

/// The audit log of a vault.
#[pyclass(module = "aivault._aivault", frozen)]
pub struct Audit {
    vault: Arc<CoreVault>,
}

impl Audit {
    pub(crate) fn new(vault: Arc<CoreVault>) -> Self {
        Audit { vault }
    }
}

#[pymethods]
impl Audit {
    /// Audit events, newest first, as dicts: at most `limit`, older than `before_ts_ms`, of
    /// one `kind`, about one `secret_id`.
    #[pyo3(signature = (limit=None, before_ts_ms=None, kind=None, secret_id=None))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        limit: Option<u64>,
        before_ts_ms: Option<i64>,
        kind: Option<String>,
        secret_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: AuditQueryRequest = convert::request(
            "audit.query",
            vec![
                ("limit", limit.map_or(Value::Null, Value::from)),
                ("beforeTsMs", before_ts_ms.map_or(Value::Null, Value::from)),
                ("kind", opt(kind)),
                ("secretId", opt(secret_id)),
            ],
        )?;
        let query = AuditQuery::from(request);
        let events = blocking(py, &self.vault, |v| v.audit(&query))?;
        convert::record(py, &events)
    }

    /// Verifies the audit log's HMAC chain (needs the key): whether it holds and, if not,
    /// where it breaks.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = blocking(py, &self.vault, |v| v.verify_audit())?;
        convert::record(py, &report)
    }

    fn __repr__(&self) -> String {
        "<aivault audit>".to_string()
    }
}
