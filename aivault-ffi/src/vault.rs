//! The vault handle: open, free, status.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::{Config, Vault};

use crate::boundary::{aivault_status, check_out, guard, json_call, optional_text, put};

/// An open vault. Opaque to C. Thread-safe: functions may be called on one handle from any
/// number of threads at once (the core serializes what must be serialized).
#[allow(non_camel_case_types)]
pub struct aivault_vault {
    pub(crate) vault: Vault,
}

/// Opens the vault in `dir`, creating a file-provider vault there if none exists; with `dir`
/// NULL, the default one (`AIVAULT_DIR`, else `~/.aivault/data`, with its key as the CLI finds
/// it). On success `*out` holds a handle to release with [`aivault_vault_free`].
///
/// # Safety
/// `dir` is NULL or a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_vault_open(
    dir: *const c_char,
    out: *mut *mut aivault_vault,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: forwarded contract.
        let dir = unsafe { optional_text(dir, "dir") }?;
        let config = Config::for_binding(dir.map(std::path::Path::new))?;
        let handle = Box::new(aivault_vault {
            vault: Vault::open(config)?,
        });
        // SAFETY: checked non-NULL above.
        unsafe { put(out, Box::into_raw(handle), "out") }
    })
}

/// Releases a handle. `NULL` is a no-op.
///
/// # Safety
/// `vault` is NULL or a handle from [`aivault_vault_open`] that no other thread is using and
/// that was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_vault_free(vault: *mut aivault_vault) {
    if !vault.is_null() {
        // Dropping flushes the audit writer; never let a panic cross the boundary.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: a live handle from Box::into_raw, released once.
            drop(unsafe { Box::from_raw(vault) });
        }));
    }
}

/// The vault's status as JSON (the CLI's `status -v`: initialized, locked, provider, key id,
/// paths, counts).
///
/// # Safety
/// `vault` is a live handle; `out` points to writable storage for a pointer; release the
/// string with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_vault_status(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: the caller's contract.
    unsafe { json_call(vault, out, |vault| Vault::status(vault.config().clone())) }
}
