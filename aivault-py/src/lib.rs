//! The Python binding of aivault: the private native module `aivault._aivault`, re-exported by
//! the `aivault` package. A thin translation of [`aivault_core::Vault`]: Python arguments in,
//! core calls with the GIL released, records and errors out. Behaviour lives in the core.
//!
//! - [`vault`]: the `Vault` handle, `status`, `invoke` / `ainvoke` and the namespaces.
//! - [`secrets`], [`credentials`], [`capabilities`], [`audit`]: one namespace each.
//! - [`remote`]: `connect` and `RemoteVault`, the same calls through a running `aivault serve`.
//! - [`records`]: `SecretMeta` and `Response`, whose `repr` never shows a value.
//! - [`convert`]: Python values to the core's structured arguments (camelCase JSON) and
//!   JSON records back to Python.
//! - [`errors`]: `AivaultError` and one subclass per error kind, mapped in one table.

pub mod audit;
pub mod capabilities;
pub mod convert;
pub mod credentials;
pub mod errors;
pub mod records;
pub mod remote;
pub mod secrets;
pub mod vault;

use pyo3::prelude::*;

/// The module `aivault._aivault`.
#[pymodule]
fn _aivault(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<vault::Vault>()?;
    m.add_class::<secrets::Secrets>()?;
    m.add_class::<credentials::Credentials>()?;
    m.add_class::<capabilities::Capabilities>()?;
    m.add_class::<audit::Audit>()?;
    m.add_class::<records::SecretMeta>()?;
    m.add_class::<records::Response>()?;
    m.add_class::<remote::RemoteVault>()?;
    m.add_class::<remote::RemoteCapabilities>()?;
    m.add_function(wrap_pyfunction!(remote::connect, m)?)?;
    errors::register(m)?;
    Ok(())
}
