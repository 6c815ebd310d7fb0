//! The one mapping of the core's error kinds (DESIGN §7) to Python exceptions:
//! `AivaultError` with `.kind` (the stable `ErrorKind::as_str()` name) and one subclass per
//! kind. Messages are the core's, which name ids and providers, never values.
// `create_exception!` expands to an `unsafe impl PyTypeInfo`; the code here writes none.
#![allow(unsafe_code)]

use aivault_core::{Error, ErrorKind};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

pyo3::create_exception!(
    aivault._aivault,
    AivaultError,
    PyException,
    "Base class of every aivault error; `kind` is the stable error kind (DESIGN §7)."
);

macro_rules! kinds {
    ($($class:ident => $kind:ident, $doc:literal;)*) => {
        $(pyo3::create_exception!(aivault._aivault, $class, AivaultError, $doc);)*

        /// The class of an error kind (a kind added to the core later is `InternalError`
        /// until it gets its own class, with `.kind` still naming it).
        fn class_of(py: Python<'_>, kind: ErrorKind) -> Bound<'_, PyType> {
            match kind {
                $(ErrorKind::$kind => py.get_type::<$class>(),)*
                _ => py.get_type::<InternalError>(),
            }
        }

        /// Adds the classes to the module, each with its `kind` as a class attribute.
        pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            // Every kind of this build, so a test can tell that each has its own class.
            let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
            m.add("ERROR_KINDS", kinds)?;
            let base = py.get_type::<AivaultError>();
            base.setattr("kind", ErrorKind::Internal.as_str())?;
            m.add("AivaultError", base)?;
            $(
                let class = py.get_type::<$class>();
                class.setattr("kind", ErrorKind::$kind.as_str())?;
                m.add(stringify!($class), class)?;
            )*
            Ok(())
        }
    };
}

kinds! {
    InvalidInputError => InvalidInput, "Malformed input: a name, a scope, a field, a header.";
    NotFoundError => NotFound, "The named secret, credential or vault does not exist.";
    AlreadyExistsError => AlreadyExists, "A name, alias or id is taken.";
    VaultLockedError => VaultLocked, "The vault's key is not available.";
    DecryptFailedError => DecryptFailed, "The key does not open the vault, or a record was tampered with.";
    PolicyViolationError => PolicyViolation, "The call breaks a capability's rules (method, path, header, size, host).";
    CapabilityNotFoundError => CapabilityNotFound, "No such capability, or none admits the request.";
    CredentialNotFoundError => CredentialNotFound, "No credential serves the capability in the caller's context.";
    CredentialAmbiguousError => CredentialAmbiguous, "Several credentials could serve the capability: name one.";
    RateLimitedError => RateLimited, "The capability's rate limit is reached.";
    UpstreamError => UpstreamError, "The upstream could not be reached or failed the exchange.";
    IoError => Io, "A file or the vault database could not be used.";
    InternalError => Internal, "A bug in aivault or a corrupted vault.";
    IntegrityFailedError => IntegrityFailed, "A tamper-evident structure (the audit chain) failed verification.";
    UnauthorizedError => Unauthorized, "A caller token was refused, or the call lies outside it.";
}

/// The Python exception for a core error; the instance's `kind` names the kind even when its
/// class is a fallback.
pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| {
        let class = class_of(py, err.kind());
        let exc = match class.call1((err.message().to_string(),)) {
            Ok(exc) => exc,
            Err(e) => return e,
        };
        if let Err(e) = exc.setattr("kind", err.kind().as_str()) {
            return e;
        }
        PyErr::from_value(exc)
    })
}

/// A core result as a Python result.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// An `invalid_input` error raised from the binding itself (an argument the core never sees).
pub fn invalid(message: impl Into<String>) -> PyErr {
    to_py(Error::new(ErrorKind::InvalidInput, message))
}
