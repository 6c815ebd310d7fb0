//! The audit log: query and verify.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::AuditQuery;

use crate::boundary::{aivault_status, check_out, guard, json_arg, optional_text, put_json, vault};
use crate::requests::AuditQueryRequest;
use crate::vault::aivault_vault;

/// Audit events, newest first, as a JSON array; `query_json` is NULL or `{"limit"?,
/// "beforeTsMs"?, "kind"?, "secretId"?}`. Events name ids and kinds, never values.
///
/// # Safety
/// `vault` is a live handle; `query_json` is NULL or NUL-terminated; `out` points to writable
/// storage for a pointer. Release `*out` with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_audit_query(
    vault: *const aivault_vault,
    query_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let query: AuditQueryRequest = match unsafe { optional_text(query_json, "query_json") }? {
            Some(_) => unsafe { json_arg(query_json, "query_json") }?,
            None => AuditQueryRequest::default(),
        };
        let events = vault.audit(&AuditQuery::from(query))?;
        unsafe { put_json(out, &events) }
    })
}

/// Verifies the audit log's HMAC chain (needs the key); `*out` receives the report as JSON:
/// whether the chain holds and, if not, where it breaks.
///
/// # Safety
/// As [`aivault_audit_query`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_audit_verify(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let report = vault.verify_audit()?;
        unsafe { put_json(out, &report) }
    })
}
