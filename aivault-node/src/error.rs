//! The one place where a failure becomes a JS value: an `Error` (a `TypeError` for an argument
//! of the wrong type) whose `code` is the stable kind of DESIGN §7 (`ErrorKind::as_str()`).

use aivault_core::{Error as CoreError, ErrorKind};
use napi::{Env, JsError, JsTypeError};

/// Why a call failed, before it is turned into a JS error.
#[derive(Debug)]
pub enum Failure {
    /// The core refused or failed (its kind becomes `code`).
    Core(CoreError),
    /// An argument had the wrong JS type: a `TypeError` with `code` `invalid_input`.
    Type(String),
    /// A panic was caught (a bug in aivault): `code` `internal`.
    Panic,
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Failure {
        Failure::Core(e)
    }
}

impl Failure {
    /// `invalid_input` from a message.
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::Core(CoreError::new(ErrorKind::InvalidInput, message))
    }

    /// The stable kind (`code` of the JS error).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Failure::Core(e) => e.kind(),
            Failure::Type(_) => ErrorKind::InvalidInput,
            Failure::Panic => ErrorKind::Internal,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Core(e) => e.message().to_string(),
            Failure::Type(message) => message.clone(),
            Failure::Panic => "a panic was caught at the Node boundary (a bug in aivault)".into(),
        }
    }

    /// The JS error, wrapped so napi throws (or rejects with) this very object.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        let error = napi::Error::new(self.kind().as_str().to_string(), self.message());
        let value = match self {
            Failure::Type(_) => JsTypeError::from(error).into_unknown(*env),
            _ => JsError::from(error).into_unknown(*env),
        };
        napi::Error::from(value)
    }
}

/// Every error `code` a call can reject with (the stable kinds of DESIGN §7, in order).
#[napi_derive::napi]
pub fn error_codes() -> Vec<String> {
    ErrorKind::ALL
        .iter()
        .map(|kind| kind.as_str().to_string())
        .collect()
}
