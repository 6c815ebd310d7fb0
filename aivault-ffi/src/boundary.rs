//! What every entry point shares: the status numbers, this thread's last error, the panic
//! guard, and the checked reading of C arguments and writing of out parameters.
#![allow(unsafe_code)] // Raw C pointers are read and written here, and only here.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use aivault_core::{Error, ErrorKind, Vault};
use serde::Serialize;

use crate::vault::aivault_vault;

/// The outcome of a call. The numbers are fixed API (the CLI's exit codes for the same error
/// kinds); `AIVAULT_OK` is 0.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum aivault_status {
    /// Success.
    AIVAULT_OK = 0,
    /// A bug (including a caught panic); the message says what.
    AIVAULT_INTERNAL = 1,
    /// Malformed input: a NULL or non-UTF-8 argument, bad JSON, an invalid field.
    AIVAULT_INVALID_INPUT = 2,
    /// No such secret or vault.
    AIVAULT_NOT_FOUND = 3,
    /// A name, alias or id is taken.
    AIVAULT_ALREADY_EXISTS = 4,
    /// The key is not available (env variable unset, passphrase vault locked).
    AIVAULT_VAULT_LOCKED = 5,
    /// The key does not open the vault, or a record was tampered with.
    AIVAULT_DECRYPT_FAILED = 6,
    /// The call breaks a capability's rules (method, path, header, size, host).
    AIVAULT_POLICY_VIOLATION = 7,
    /// No such capability.
    AIVAULT_CAPABILITY_NOT_FOUND = 8,
    /// No credential serves the capability in the caller's context.
    AIVAULT_CREDENTIAL_NOT_FOUND = 9,
    /// Several credentials could serve it: name one.
    AIVAULT_CREDENTIAL_AMBIGUOUS = 10,
    /// The capability's rate limit is reached.
    AIVAULT_RATE_LIMITED = 11,
    /// The upstream could not be reached or failed the exchange.
    AIVAULT_UPSTREAM_ERROR = 12,
    /// A file or the database could not be used.
    AIVAULT_IO = 13,
    /// Stored state failed an integrity check.
    AIVAULT_INTEGRITY_FAILED = 14,
    /// A caller token is missing, unknown, expired or revoked, or the call lies outside it.
    AIVAULT_UNAUTHORIZED = 15,
}

impl aivault_status {
    fn of(kind: ErrorKind) -> aivault_status {
        match kind {
            ErrorKind::InvalidInput => aivault_status::AIVAULT_INVALID_INPUT,
            ErrorKind::NotFound => aivault_status::AIVAULT_NOT_FOUND,
            ErrorKind::AlreadyExists => aivault_status::AIVAULT_ALREADY_EXISTS,
            ErrorKind::VaultLocked => aivault_status::AIVAULT_VAULT_LOCKED,
            ErrorKind::DecryptFailed => aivault_status::AIVAULT_DECRYPT_FAILED,
            ErrorKind::PolicyViolation => aivault_status::AIVAULT_POLICY_VIOLATION,
            ErrorKind::CapabilityNotFound => aivault_status::AIVAULT_CAPABILITY_NOT_FOUND,
            ErrorKind::CredentialNotFound => aivault_status::AIVAULT_CREDENTIAL_NOT_FOUND,
            ErrorKind::CredentialAmbiguous => aivault_status::AIVAULT_CREDENTIAL_AMBIGUOUS,
            ErrorKind::RateLimited => aivault_status::AIVAULT_RATE_LIMITED,
            ErrorKind::UpstreamError => aivault_status::AIVAULT_UPSTREAM_ERROR,
            ErrorKind::Io => aivault_status::AIVAULT_IO,
            ErrorKind::IntegrityFailed => aivault_status::AIVAULT_INTEGRITY_FAILED,
            ErrorKind::Unauthorized => aivault_status::AIVAULT_UNAUTHORIZED,
            _ => aivault_status::AIVAULT_INTERNAL,
        }
    }
}

thread_local! {
    /// The message of this thread's last call if it failed (`kind: message`), else empty.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // An interior NUL cannot come from our messages, but never let it truncate silently.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// The message of this thread's last aivault call if it failed, as `kind: message`
/// (`invalid_input: ...`); an empty string after a call that succeeded (or before any call).
/// Never a secret value. The pointer is valid until the next aivault call on this thread; do
/// not free it.
#[unsafe(no_mangle)]
pub extern "C" fn aivault_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// The stable name of a status number (`"invalid_input"`, ...; `"ok"` for `AIVAULT_OK`,
/// `"unknown"` for a number that is no status). Static storage: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn aivault_status_name(status: i32) -> *const c_char {
    // An int, not the enum: a C caller may pass any number, and an out-of-range enum value
    // would be undefined behaviour on this side.
    let name: &'static CStr = match status {
        0 => c"ok",
        1 => c"internal",
        2 => c"invalid_input",
        3 => c"not_found",
        4 => c"already_exists",
        5 => c"vault_locked",
        6 => c"decrypt_failed",
        7 => c"policy_violation",
        8 => c"capability_not_found",
        9 => c"credential_not_found",
        10 => c"credential_ambiguous",
        11 => c"rate_limited",
        12 => c"upstream_error",
        13 => c"io",
        14 => c"integrity_failed",
        15 => c"unauthorized",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// Releases a string an aivault function returned through a `char **` parameter. `NULL` is a
/// no-op.
///
/// # Safety
/// `text` is NULL or a pointer an aivault function returned and that was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: the caller hands back a pointer from CString::into_raw, once.
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Runs one entry point: catches panics, records the error of a failure for
/// [`aivault_last_error`], and returns its status.
pub(crate) fn guard(call: impl FnOnce() -> Result<(), Error>) -> aivault_status {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => {
            set_last_error("");
            aivault_status::AIVAULT_OK
        }
        Ok(Err(e)) => {
            set_last_error(&format!("{}: {}", e.kind().as_str(), e.message()));
            aivault_status::of(e.kind())
        }
        Err(_) => {
            set_last_error("internal: a panic was caught at the C boundary (a bug in aivault)");
            aivault_status::AIVAULT_INTERNAL
        }
    }
}

/// The shape of most entry points: check `out`, resolve the handle, run `call`, and return its
/// record as JSON through `out`.
///
/// # Safety
/// `vault` is NULL or a live handle; `out` is NULL or points to writable storage for a pointer.
pub(crate) unsafe fn json_call<T: Serialize>(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
    call: impl FnOnce(&Vault) -> Result<T, Error>,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both blocks): the caller's contract.
        let value = call(unsafe { self::vault(vault) }?)?;
        unsafe { put_json(out, &value) }
    })
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// A required UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(invalid(format!("argument '{name}' is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| invalid(format!("argument '{name}' is not valid UTF-8")))
}

/// An optional UTF-8 string argument (NULL = absent).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn optional_text<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { text(ptr, name) }.map(Some)
    }
}

/// A byte buffer argument (`NULL` with length 0 is empty).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that outlive the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Error> {
    match (ptr.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(invalid(format!(
            "argument '{name}' is NULL with a length of {len}"
        ))),
        // SAFETY: non-NULL with `len` readable bytes per the caller's contract.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(ptr, len) }),
    }
}

/// The vault behind a handle.
///
/// # Safety
/// `vault` is NULL or a live handle from `aivault_vault_open`.
pub(crate) unsafe fn vault<'a>(vault: *const aivault_vault) -> Result<&'a Vault, Error> {
    if vault.is_null() {
        return Err(invalid("argument 'vault' is NULL".into()));
    }
    // SAFETY: a live handle per the caller's contract; the handle is never mutated.
    Ok(unsafe { &(*vault).vault })
}

/// Stores `value` in the out parameter `out`.
///
/// # Safety
/// `out` is NULL or points to writable storage for a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, name: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(invalid(format!("out parameter '{name}' is NULL")));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks that an out parameter can be written before any work is done (so a NULL `out` never
/// leaves a change behind without a way to report it).
pub(crate) fn check_out<T>(out: *mut T, name: &str) -> Result<(), Error> {
    if out.is_null() {
        Err(invalid(format!("out parameter '{name}' is NULL")))
    } else {
        Ok(())
    }
}

/// Serializes `value` as JSON into the `char **` out parameter `out`.
///
/// # Safety
/// As [`put`].
pub(crate) unsafe fn put_json(out: *mut *mut c_char, value: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
    // JSON escapes U+0000, so the text never holds a NUL byte.
    let text =
        CString::new(json).map_err(|_| Error::new(ErrorKind::Internal, "JSON held a NUL byte"))?;
    // SAFETY: forwarded contract.
    unsafe { put(out, text.into_raw(), "out") }
}

/// Parses a JSON argument into `T` (unknown fields are refused by `T`).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn json_arg<T: serde::de::DeserializeOwned>(
    ptr: *const c_char,
    name: &str,
) -> Result<T, Error> {
    // SAFETY: forwarded contract.
    let text = unsafe { text(ptr, name) }?;
    serde_json::from_str(text).map_err(|e| invalid(format!("argument '{name}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error kind has its own status, whose name is the kind's stable name.
    #[test]
    fn every_kind_maps_to_its_own_named_status() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in ErrorKind::ALL {
            let status = aivault_status::of(kind) as i32;
            assert!(seen.insert(status), "{kind} shares status {status}");
            // SAFETY: static storage, NUL-terminated.
            let name = unsafe { std::ffi::CStr::from_ptr(aivault_status_name(status)) };
            assert_eq!(name.to_str().ok(), Some(kind.as_str()));
        }
    }
}
